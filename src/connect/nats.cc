// NATS JetStream sources and sinks on nats.c (docs/CONNECTORS.md).
//
// A source copies a subject of a JetStream stream, in stream-sequence order, into partition 0
// of its (single-partition) stream through a durable pull consumer, validated like HTTP ingest;
// every copied batch ends with a source position record (the next stream sequence) in the same
// append, so the log says how far it holds the subject. At start the consumer is recreated to
// deliver from that position; a message below it (a redelivery) is dropped, and a hole in the
// consumer's delivery sequence (deliveries lost, e.g. in a leader election) recreates it again
// from the log's position, so nothing is copied twice or skipped. Messages are acknowledged once
// the pipelines have processed them (monitoring and retention; the log is the truth).
//
// A sink publishes each row up to the newest checkpoint's end, synchronously, with
// Nats-Msg-Id <subject>/<stream>/<partition>/<offset> (the server's dedup window absorbs retries) and the
// expected last sequence of the subject (a stale view is detected, not duplicated); every
// message carries the sink's positions, so the last message of the subject is its position.
#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connect/connector_util.h"
#include "connect/nats.h"
#include "event/json_writer.h"
#include "event/ndjson.h"
#include "event/row_codec.h"

namespace impulse::connect {
namespace {

constexpr const char* kPositionsHeader = "Impulse-Positions";
constexpr int64_t kFetchWaitMs = 500;           // a pull request's expiry when the subject is idle
constexpr int64_t kAckWaitNs = 60'000'000'000;  // unacked deliveries are redelivered after it
constexpr int64_t kMaxBackoffMs = 2000;         // retries (leader elections, no responders) back off up to it
constexpr int64_t kMaxAckPending = 10'000'000;  // unacked messages a consumer may hold (acks trail processing)

int64_t NowMs() { return WallMs(); }
void Sleep(int64_t ms) { SleepMs(ms); }

// nats.c's status text and, when it has one, its last error's detail.
std::string Why(natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  std::string out = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0' && out != last) out += std::string(" (") + last + ")";
  if (jerr != 0) out += " [JetStream error " + std::to_string(static_cast<int>(jerr)) + "]";
  return out;
}

// Failures a leader election or a reconnect produce: retried with backoff, counted.
bool Transient(natsStatus s, jsErrCode jerr) {
  if (s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT || s == NATS_CONNECTION_DISCONNECTED ||
      s == NATS_NOT_YET_CONNECTED || s == NATS_IO_ERROR || s == NATS_STALE_CONNECTION || jerr == JSClusterNotAvailErr) {
    return true;
  }
  // A pull answered by a consumer whose leader stepped down (status 409 "Leadership Change").
  const char* last = nats_GetLastError(nullptr);
  return s == NATS_ERR && last != nullptr && std::strstr(last, "Leadership Change") != nullptr;
}

// Unset while validating: a placeholder nats.c accepts, so the other options are still checked.
Result<std::string> Resolve(const std::string& key, const std::string& value, std::string* unset) {
  ASSIGN_OR_RETURN(std::string v, ResolveEnv("nats option " + key, value, unset));
  if (unset != nullptr && v.empty() && value.rfind("${env:", 0) == 0) return std::string("unset");
  return v;
}

struct OptionsDeleter {
  void operator()(natsOptions* o) const { natsOptions_Destroy(o); }
};
using OptionsPtr = std::unique_ptr<natsOptions, OptionsDeleter>;
struct ConnectionDeleter {
  void operator()(natsConnection* c) const { natsConnection_Destroy(c); }
};
using ConnectionPtr = std::unique_ptr<natsConnection, ConnectionDeleter>;
struct JsDeleter {
  void operator()(jsCtx* j) const { jsCtx_Destroy(j); }
};
using JsPtr = std::unique_ptr<jsCtx, JsDeleter>;
struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

Status OptionStatus(natsStatus s, const std::string& key) {
  if (s == NATS_OK) return Status::OK();
  return InvalidArgument("nats option " + key + ": " + Why(s));
}

// The spec's options applied to nats.c's options object (which loads certificate files here).
Result<OptionsPtr> MakeOptions(const plan::NatsDef& def, std::string* unset) {
  natsOptions* raw = nullptr;
  if (natsOptions_Create(&raw) != NATS_OK) return Internal("nats: cannot create options");
  OptionsPtr o(raw);
  std::vector<const char*> urls;
  urls.reserve(def.servers.size());
  for (const std::string& s : def.servers) urls.push_back(s.c_str());
  RETURN_IF_ERROR(OptionStatus(natsOptions_SetServers(o.get(), urls.data(), static_cast<int>(urls.size())), "servers"));
  RETURN_IF_ERROR(OptionStatus(natsOptions_SetTimeout(o.get(), def.connect_timeout_ms), "connect_timeout"));
  // Reconnect for ever (a restarted server or a lost route): the loops retry meanwhile.
  RETURN_IF_ERROR(OptionStatus(natsOptions_SetMaxReconnect(o.get(), -1), "max_reconnect"));
  RETURN_IF_ERROR(OptionStatus(natsOptions_SetReconnectWait(o.get(), 100), "reconnect_wait"));
  std::string user;
  std::string password;
  std::string cert;
  std::string key;
  for (const auto& [k, v] : def.options) {
    ASSIGN_OR_RETURN(std::string value, Resolve(k, v, unset));
    natsStatus s = NATS_OK;
    if (k == "name") {
      s = natsOptions_SetName(o.get(), value.c_str());
    } else if (k == "user") {
      user = value;
    } else if (k == "password") {
      password = value;
    } else if (k == "token") {
      s = natsOptions_SetToken(o.get(), value.c_str());
    } else if (k == "user_credentials") {
      s = natsOptions_SetUserCredentialsFromFiles(o.get(), value.c_str(), nullptr);
    } else if (k == "secure") {
      s = natsOptions_SetSecure(o.get(), value == "true");
    } else if (k == "ca_file") {
      s = natsOptions_LoadCATrustedCertificates(o.get(), value.c_str());
    } else if (k == "cert_file") {
      cert = value;
    } else if (k == "key_file") {
      key = value;
    } else if (k == "expected_hostname") {
      s = natsOptions_SetExpectedHostname(o.get(), value.c_str());
    } else if (k == "skip_server_verification") {
      s = natsOptions_SkipServerVerification(o.get(), value == "true");
    } else if (k == "ciphers") {
      s = natsOptions_SetCiphers(o.get(), value.c_str());
    } else {
      return InvalidArgument("unknown nats option " + k);
    }
    RETURN_IF_ERROR(OptionStatus(s, k));
  }
  if (!user.empty() || !password.empty()) {
    RETURN_IF_ERROR(OptionStatus(natsOptions_SetUserInfo(o.get(), user.c_str(), password.c_str()), "user"));
  }
  if (cert.empty() != key.empty()) return InvalidArgument("nats options cert_file and key_file go together");
  if (!cert.empty()) {
    RETURN_IF_ERROR(OptionStatus(natsOptions_LoadCertificatesChain(o.get(), cert.c_str(), key.c_str()), "cert_file"));
  }
  return o;
}

std::string ServerList(const plan::NatsDef& def) {
  std::string out;
  for (const std::string& s : def.servers) out += (out.empty() ? "" : ",") + s;
  return out;
}

Result<JsPtr> NewJs(natsConnection* nc, const plan::NatsDef& def) {
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = std::max<int64_t>(def.connect_timeout_ms, 1000);  // API calls and publish acks
  jsCtx* js = nullptr;
  const natsStatus s = natsConnection_JetStream(&js, nc, &o);
  if (s != NATS_OK) return Unavailable("nats: JetStream context: " + Why(s));
  return JsPtr(js);
}

// The JetStream stream holding `subject` (`given` if set), retried while the cluster elects.
Result<std::string> FindJetStream(jsCtx* js, const plan::NatsDef& def, const std::string& given,
                                  const std::string& subject) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(def.connect_timeout_ms);
  while (true) {
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = NATS_OK;
    std::string found;
    if (!given.empty()) {
      jsStreamInfo* si = nullptr;
      s = js_GetStreamInfo(&si, js, given.c_str(), nullptr, &jerr);
      if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return given;
      }
      if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        return NotFound("nats JetStream stream " + given + " not found (create it, e.g. nats stream add)");
      }
    } else {
      jsOptions o;
      jsOptions_Init(&o);
      o.Stream.Info.SubjectsFilter = subject.c_str();
      jsStreamNamesList* list = nullptr;
      s = js_StreamNames(&list, js, &o, &jerr);
      if (s == NATS_OK || s == NATS_NOT_FOUND) {
        const int n = list == nullptr ? 0 : list->Count;
        if (n == 1) found = list->List[0];
        if (list != nullptr) jsStreamNamesList_Destroy(list);
        if (n == 1) return found;
        if (n == 0) return NotFound("nats: no JetStream stream holds subject " + subject + " (create one)");
        return InvalidArgument("nats: " + std::to_string(n) + " JetStream streams hold subject " + subject +
                               "; name one with jetstream_stream");
      }
    }
    if (!Transient(s, jerr) || std::chrono::steady_clock::now() >= deadline) {
      return Unavailable("nats: looking up the JetStream stream of " + subject + ": " + Why(s, jerr));
    }
    Sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// Source

class Source {
 public:
  Source(Host* host, natsConnection* nc, const plan::NatsDef& ndef, plan::NatsSourceDef def, uint32_t stream,
         const StreamDef& sdef)
      : host_(host), nc_(nc), ndef_(ndef), def_(std::move(def)), stream_(stream), sdef_(sdef) {
    StreamDef parse_def = sdef;
    if (def_.time_from_record) {
      // The message's timestamp replaces the field: a message without it is not invalid.
      std::vector<Field> fields = parse_def.schema.fields();
      fields[static_cast<size_t>(parse_def.time_field)].nullable = true;
      parse_def.schema = Schema(std::move(fields));
      parse_def.time_field = -1;  // the parser requires a time field: here it is set after parsing
    }
    limits_ = host_->SourceLimits();
    parser_ = std::make_unique<NdjsonParser>(parse_def, limits_);
    // A batch is one request: within the engine's per-shard bound.
    batch_max_ = static_cast<int>(std::min<uint64_t>(ndef_.batch_records_max, host_->SourceBatchMax()));
    next_ = host_->SourceResumePosition(stream_, 0);
  }
  ~Source() { Stop(); }

  Status Start() {
    if (sdef_.options.partitions != 1) {
      return InvalidArgument("nats source " + def_.stream + ": the stream needs partitions: 1");
    }
    ASSIGN_OR_RETURN(js_, NewJs(nc_, ndef_));
    ASSIGN_OR_RETURN(js_stream_, FindJetStream(js_.get(), ndef_, def_.jetstream_stream, def_.subject));
    {
      // The consumer is deleted and recreated at the log's position at each start: on a stream
      // that removes messages once its consumers acknowledged them (interest, work queue), the
      // deletion would remove every message not yet acknowledged.
      jsStreamInfo* si = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      if (js_GetStreamInfo(&si, js_.get(), js_stream_.c_str(), nullptr, &jerr) == NATS_OK && si != nullptr) {
        const jsRetentionPolicy r = si->Config != nullptr ? si->Config->Retention : js_LimitsPolicy;
        jsStreamInfo_Destroy(si);
        if (r != js_LimitsPolicy) {
          return InvalidArgument("nats source " + def_.stream + ": JetStream stream " + js_stream_ + " has " +
                                 (r == js_InterestPolicy ? "interest" : "work-queue") +
                                 " retention; a source needs limits retention (its consumer is recreated at "
                                 "each start, which would remove unacknowledged messages)");
        }
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ndef_.connect_timeout_ms);
    while (true) {
      Status st = Subscribe();
      if (st.ok()) break;
      if (st.code() != StatusCode::kUnavailable || std::chrono::steady_clock::now() >= deadline) return st;
      Sleep(100);
    }
    thread_ = std::thread([this] { Run(); });
    return Status::OK();
  }

  void Stop() {
    stop_.store(true, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
    Unsubscribe();
    js_.reset();
  }

  void Metrics(std::vector<MetricSample>* out) const {
    const std::vector<std::pair<std::string, std::string>> base = {{"stream", def_.stream}, {"subject", def_.subject}};
    auto add = [&](const char* family, const char* help, bool counter, uint64_t v) {
      out->push_back({family, help, counter, base, static_cast<double>(v)});
    };
    add("impulse_nats_source_records_total", "NATS messages copied into a stream (valid and rejected).", true,
        records_.load(std::memory_order_relaxed));
    add("impulse_nats_source_rejected_total",
        "NATS messages that failed validation (sent to _dead_letter with subject and stream sequence).", true,
        rejected_.load(std::memory_order_relaxed));
    add("impulse_nats_source_redelivered_total",
        "NATS messages delivered again that the log already holds (dropped by stream sequence).", true,
        redelivered_.load(std::memory_order_relaxed));
    add("impulse_nats_consumer_resets_total",
        "Times a source recreated its consumer at the log's position (start, lost deliveries, errors).", true,
        resets_.load(std::memory_order_relaxed));
    add("impulse_nats_retries_total",
        "JetStream calls retried with backoff (no responders, timeouts, leader elections, reconnects).", true,
        retries_.load(std::memory_order_relaxed));
    add("impulse_nats_errors_total", "Other JetStream errors and failed appends of a source (retried).", true,
        errors_.load(std::memory_order_relaxed));
    const int64_t pending = pending_.load(std::memory_order_relaxed);
    if (pending >= 0) {
      add("impulse_nats_consumer_pending", "Messages of the subject not yet delivered to the source's consumer.", false,
          static_cast<uint64_t>(pending));
    }
  }

 private:
  // (Re)creates the durable consumer to deliver from the log's position, and binds to it.
  // Recreating rather than reusing: an existing consumer may hold deliveries this engine never
  // appended (they would come back only after the ack wait, out of order).
  Status Subscribe() {
    Unsubscribe();
    resets_.fetch_add(1, std::memory_order_relaxed);
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_DeleteConsumer(js_.get(), js_stream_.c_str(), def_.durable.c_str(), nullptr, &jerr);
    if (s != NATS_OK && s != NATS_NOT_FOUND && jerr != JSConsumerNotFoundErr) {
      return Unavailable("nats source " + def_.stream + ": deleting consumer " + def_.durable + ": " + Why(s, jerr));
    }
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = def_.durable.c_str();
    cc.FilterSubject = def_.subject.c_str();
    cc.AckPolicy = js_AckAll;  // one ack per processed batch
    cc.AckWait = kAckWaitNs;
    // Acks trail the pipelines: a bound far above what they hold back (nats.c sends only values
    // above 0; the server's default would cap a lagging source at 1000 unacked messages).
    cc.MaxAckPending = kMaxAckPending;
    if (next_ > 0) {
      cc.DeliverPolicy = js_DeliverByStartSequence;
      cc.OptStartSeq = static_cast<uint64_t>(next_);
    } else {
      cc.DeliverPolicy = js_DeliverAll;
    }
    jsConsumerInfo* ci = nullptr;
    jerr = static_cast<jsErrCode>(0);
    s = js_AddConsumer(&ci, js_.get(), js_stream_.c_str(), &cc, nullptr, &jerr);
    if (ci != nullptr) jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK) {
      return Unavailable("nats source " + def_.stream + ": creating consumer " + def_.durable + " on " + js_stream_ +
                         ": " + Why(s, jerr));
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = js_stream_.c_str();
    so.Consumer = def_.durable.c_str();
    jerr = static_cast<jsErrCode>(0);
    natsSubscription* sub = nullptr;
    s = js_PullSubscribe(&sub, js_.get(), def_.subject.c_str(), def_.durable.c_str(), nullptr, &so, &jerr);
    if (s != NATS_OK) {
      return Unavailable("nats source " + def_.stream + ": binding to consumer " + def_.durable + ": " + Why(s, jerr));
    }
    sub_ = sub;
    expected_delivery_ = 1;  // a new consumer numbers its deliveries from 1
    return Status::OK();
  }

  void Unsubscribe() {
    acked_.clear();  // acks to a deleted consumer go nowhere
    if (sub_ != nullptr) {
      natsSubscription_Destroy(sub_);
      sub_ = nullptr;
    }
  }

  void Note(const std::string& what, std::atomic<uint64_t>* counter) { notes_.Say(what, counter); }

  void Run() {
    int64_t backoff = 10;
    while (!stop_.load(std::memory_order_acquire)) {
      AckProcessed();
      if (sub_ == nullptr) {
        Status st = Subscribe();
        if (!st.ok()) {
          Note(st.ToString(), &retries_);
          Sleep(backoff);
          backoff = std::min(backoff * 2, kMaxBackoffMs);
          continue;
        }
      }
      natsMsgList list{};
      jsErrCode jerr = static_cast<jsErrCode>(0);
      const natsStatus s = natsSubscription_Fetch(&list, sub_, batch_max_, kFetchWaitMs, &jerr);
      if (list.Count == 0) {
        natsMsgList_Destroy(&list);
        if (s == NATS_TIMEOUT && jerr == 0) continue;  // idle: nothing to fetch
        if (s == NATS_OK) continue;
        // A lost consumer (deleted, or its leader gone) is recreated; other failures retried.
        if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr || ++failures_ >= 5) {
          failures_ = 0;
          Unsubscribe();
        }
        Note("fetch: " + Why(s, jerr), Transient(s, jerr) ? &retries_ : &errors_);
        Sleep(backoff);
        backoff = std::min(backoff * 2, kMaxBackoffMs);
        continue;
      }
      failures_ = 0;
      backoff = 10;
      const bool contiguous = Take(list);
      natsMsgList_Destroy(&list);
      if (!contiguous) {
        // Deliveries were lost (a pull answered during a leader election): they would come back
        // only after the ack wait, behind newer ones. Start again from the log's position.
        ClearBuffer();
        Note("deliveries lost; consumer recreated at stream sequence " + std::to_string(std::max<int64_t>(next_, 1)),
             &retries_);
        Unsubscribe();
        continue;
      }
      if (!Flush()) {
        // Not copied (stopping, or the batch could not be parsed): fetched again from the log's
        // position, by a recreated consumer, so no later batch lands before it.
        ClearBuffer();
        Unsubscribe();
      }
    }
  }

  // Buffers the new messages of a fetched batch as NDJSON lines; false if a delivery is missing.
  bool Take(natsMsgList& list) {
    for (int i = 0; i < list.Count; ++i) {
      natsMsg* m = list.Msgs[i];
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
        Note("a message without JetStream metadata: not copied", &errors_);
        continue;
      }
      const uint64_t delivery = meta->Sequence.Consumer;
      const uint64_t seq = meta->Sequence.Stream;
      const int64_t ts_ms = meta->Timestamp / 1'000'000;
      pending_.store(static_cast<int64_t>(meta->NumPending), std::memory_order_relaxed);
      jsMsgMetaData_Destroy(meta);
      if (delivery != expected_delivery_) return false;
      ++expected_delivery_;
      if (next_ > 0 && seq < static_cast<uint64_t>(next_)) {
        redelivered_.fetch_add(1, std::memory_order_relaxed);  // already in the log
        continue;
      }
      AppendValueLine(natsMsg_GetData(m), static_cast<size_t>(std::max(0, natsMsg_GetDataLength(m))),
                      limits_.max_line_bytes, &ndjson_);
      seqs_.push_back(seq);
      times_.push_back(ts_ms);
      // Acknowledging the newest message acknowledges the ones before it (AckAll).
      last_.reset(m);
      list.Msgs[i] = nullptr;  // owned by last_ now; natsMsgList_Destroy skips it
    }
    return true;
  }

  void ClearBuffer() {
    ndjson_.clear();
    seqs_.clear();
    times_.clear();
    last_.reset();
  }

  // Appends the buffered batch with its source position; false if stopping.
  bool Flush() {
    if (seqs_.empty()) return true;
    rows_.Reset(sdef_.schema.size());
    bad_.clear();
    Status ps = parser_->Parse(ndjson_, NowMs(), &rows_, &bad_);
    if (!ps.ok()) {
      Note("parse: " + ps.ToString(), &errors_);
      return false;
    }
    for (BadLine& b : bad_) {
      const size_t i = b.line - 1;
      b.reason = "nats subject " + def_.subject + " stream " + js_stream_ + " sequence " + std::to_string(seqs_[i]) +
                 ": " + b.reason;
    }
    if (def_.time_from_record) {
      const auto tf = static_cast<size_t>(sdef_.time_field);
      for (size_t r = 0; r < rows_.size(); ++r) {
        const size_t i = rows_.meta(r).line - 1;
        rows_.row(r)[tf] = Value::Int(times_[i]);
        rows_.meta(r).event_time_ms = times_[i];
      }
    }
    const auto next = static_cast<int64_t>(seqs_.back() + 1);
    const size_t rejected = bad_.size();
    uint64_t end = 0;
    if (next_ < 0) {
      // The first copy: a position record before it, so that a crash tearing the batch leaves a
      // position to cut back to (the stream's messages before the first one).
      trailer_.clear();
      EncodeSourcePosition(seqs_.front(), &trailer_);
      RowBatch none(sdef_.schema.size());
      std::vector<BadLine> no_bad;
      if (!Append(none, &no_bad, &end)) return false;
      next_ = static_cast<int64_t>(seqs_.front());
    }
    trailer_.clear();
    EncodeSourcePosition(static_cast<uint64_t>(next), &trailer_);
    if (!Append(rows_, &bad_, &end)) return false;
    records_.fetch_add(seqs_.size(), std::memory_order_relaxed);
    rejected_.fetch_add(rejected, std::memory_order_relaxed);
    next_ = next;
    acked_.emplace_back(end, std::move(last_));
    ndjson_.clear();
    seqs_.clear();
    times_.clear();
    return true;
  }

  bool Append(const RowBatch& rows, std::vector<BadLine>* bad, uint64_t* end) {
    return AppendWithRetry(host_, stream_, 0, rows, bad, trailer_, end, stop_,
                           [this](const Status& st) { Note("append: " + st.ToString(), &errors_); });
  }

  // Acknowledges the newest batch the pipelines have processed (and with it every earlier one).
  void AckProcessed() {
    if (acked_.empty()) return;
    const uint64_t processed = host_->ProcessedOffset(stream_, 0);
    MsgPtr newest;
    while (!acked_.empty() && acked_.front().first <= processed) {
      newest = std::move(acked_.front().second);
      acked_.pop_front();
    }
    if (newest == nullptr) return;
    // Fire and forget: a lost ack means a redelivery, which the stream sequence drops.
    const natsStatus s = natsMsg_Ack(newest.get(), nullptr);
    if (s != NATS_OK) Note("ack: " + Why(s), Transient(s, static_cast<jsErrCode>(0)) ? &retries_ : &errors_);
  }

  Host* host_;
  natsConnection* nc_;
  const plan::NatsDef& ndef_;
  plan::NatsSourceDef def_;
  uint32_t stream_;
  StreamDef sdef_;
  NdjsonLimits limits_;
  int batch_max_ = 1;
  std::unique_ptr<NdjsonParser> parser_;
  JsPtr js_;
  std::string js_stream_;
  natsSubscription* sub_ = nullptr;
  uint64_t expected_delivery_ = 1;
  int failures_ = 0;
  int64_t next_ = -1;  // the next stream sequence to copy; -1: none copied yet
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::string ndjson_;
  std::vector<uint64_t> seqs_;
  std::vector<int64_t> times_;
  MsgPtr last_;
  std::deque<std::pair<uint64_t, MsgPtr>> acked_;  // (log end after a batch, its newest message)
  RowBatch rows_;
  std::vector<BadLine> bad_;
  std::string trailer_;
  Notes notes_{"nats source " + def_.stream + " (subject " + def_.subject + ")"};
  std::atomic<int64_t> pending_{-1};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> redelivered_{0};
  std::atomic<uint64_t> resets_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> errors_{0};
};

// ---------------------------------------------------------------------------------------------
// Sink

class Sink {
 public:
  Sink(Host* host, natsConnection* nc, const plan::NatsDef& ndef, plan::NatsSinkDef def, uint32_t stream,
       const StreamDef& sdef)
      : host_(host), nc_(nc), ndef_(ndef), def_(std::move(def)), stream_(stream), sdef_(sdef) {
    pos_.assign(sdef.options.partitions, 0);
    // Allocated once: Metrics reads them from other threads while positions are reloaded.
    for (size_t p = 0; p < pos_.size(); ++p) positions_seen_.push_back(std::make_unique<std::atomic<uint64_t>>(0));
  }
  ~Sink() { Stop(); }

  Status Start() {
    ASSIGN_OR_RETURN(js_, NewJs(nc_, ndef_));
    ASSIGN_OR_RETURN(js_stream_, FindJetStream(js_.get(), ndef_, def_.jetstream_stream, def_.subject));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ndef_.connect_timeout_ms);
    while (true) {
      Status st = LoadPositions();
      if (st.ok()) break;
      if (st.code() != StatusCode::kUnavailable || std::chrono::steady_clock::now() >= deadline) return st;
      Sleep(100);
    }
    thread_ = std::thread([this] { Run(); });
    return Status::OK();
  }

  void Stop() {
    stop_.store(true, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
    js_.reset();
  }

  void Metrics(std::vector<MetricSample>* out) const {
    const std::vector<std::pair<std::string, std::string>> base = {{"stream", def_.stream}, {"subject", def_.subject}};
    auto add = [&](const char* family, const char* help, bool counter, uint64_t v) {
      out->push_back({family, help, counter, base, static_cast<double>(v)});
    };
    add("impulse_nats_sink_records_total", "Rows published to NATS JetStream (acknowledged by the stream).", true,
        published_.load(std::memory_order_relaxed));
    add("impulse_nats_sink_duplicates_total",
        "Publishes the stream acknowledged as duplicates (Nats-Msg-Id seen: a retried publish had been stored).", true,
        duplicates_.load(std::memory_order_relaxed));
    add("impulse_nats_sink_retries_total",
        "Publishes retried with backoff (no responders, timeouts, leader elections, reconnects).", true,
        retries_.load(std::memory_order_relaxed));
    add("impulse_nats_sink_errors_total", "Other failed publishes and position reloads of a sink (retried).", true,
        errors_.load(std::memory_order_relaxed));
    add("impulse_nats_sink_skipped_total", "Rows not exported: larger than the server or the stream accepts.", true,
        oversized_.load(std::memory_order_relaxed));
    uint64_t behind = 0;
    // positions_seen_, not pos_: the sink's thread writes pos_.
    for (uint32_t p = 0; p < positions_seen_.size(); ++p) {
      const uint64_t end = host_->ReadableEnd(stream_, p);
      const uint64_t at = positions_seen_[p]->load(std::memory_order_relaxed);
      behind += end > at ? end - at : 0;
    }
    add("impulse_nats_sink_lag", "Records of the stream not yet published (log end - sink position).", false, behind);
  }

 private:
  // The positions in the last message of the subject (every message carries them), and its
  // sequence, which the next publish expects as the subject's last.
  Status LoadPositions() {
    natsMsg* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetLastMsg(&raw, js_.get(), js_stream_.c_str(), def_.subject.c_str(), nullptr, &jerr);
    MsgPtr m(raw);
    if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
      std::fill(pos_.begin(), pos_.end(), 0);
      last_seq_ = 0;
    } else if (s != NATS_OK) {
      const std::string why =
          "nats sink " + def_.stream + ": reading the last message of " + def_.subject + ": " + Why(s, jerr);
      return Transient(s, jerr) ? Unavailable(why) : Internal(why);
    } else {
      const char* header = nullptr;
      if (natsMsgHeader_Get(m.get(), kPositionsHeader, &header) != NATS_OK || header == nullptr) {
        return FailedPrecondition("nats sink " + def_.stream + ": the last message of subject " + def_.subject +
                                  " (stream " + js_stream_ + ") has no " + kPositionsHeader +
                                  " header: the subject must be written by this sink only");
      }
      std::vector<uint64_t> pos;
      const char* c = header;
      while (*c != '\0') {
        char* end = nullptr;
        pos.push_back(std::strtoull(c, &end, 10));
        if (end == c) break;
        c = *end == ',' ? end + 1 : end;
      }
      if (pos.size() != pos_.size()) {
        return FailedPrecondition("nats sink " + def_.stream + ": the last message of " + def_.subject + " holds " +
                                  std::to_string(pos.size()) + " partition positions and the stream has " +
                                  std::to_string(pos_.size()) + " partitions");
      }
      std::copy(pos.begin(), pos.end(), pos_.begin());  // in place: pos_ keeps its size for Metrics
      last_seq_ = natsMsg_GetSequence(m.get());
    }
    for (uint32_t p = 0; p < pos_.size(); ++p) positions_seen_[p]->store(pos_[p], std::memory_order_relaxed);
    return Status::OK();
  }

  void Note(const std::string& what, std::atomic<uint64_t>* counter) { notes_.Say(what, counter); }

  void Run() {
    int stop_attempts = 0;
    int64_t backoff = 10;
    while (true) {
      const bool stopping = stop_.load(std::memory_order_acquire);
      // A stop exports what it can in kStopExportMs (one round trip a row); the rest goes at the
      // next start, from the subject's last message.
      if (stopping && stop_deadline_ms_ < 0) stop_deadline_ms_ = NowMs() + kStopExportMs;
      if (stopping && NowMs() > stop_deadline_ms_) return;
      bool any = false;
      for (uint32_t p = 0; p < pos_.size(); ++p) any |= host_->CommittedEnd(stream_, p) > pos_[p];
      if (!any) {
        if (stopping) return;
        Sleep(20);
        continue;
      }
      Status st = Round();
      if (st.ok()) {
        backoff = 10;
        continue;
      }
      if (stopping && ++stop_attempts > 3) return;  // the next start resumes from the subject
      Sleep(backoff);
      backoff = std::min(backoff * 2, kMaxBackoffMs);
    }
  }

  // Publishes, partition by partition, the rows from each position up to the committed end.
  Status Round() {
    for (uint32_t p = 0; p < pos_.size(); ++p) {
      const uint64_t bound = host_->CommittedEnd(stream_, p);
      while (pos_[p] < bound) {
        rows_.Reset(sdef_.schema.size());
        uint64_t next = pos_[p];
        Status rs = host_->ReadRows(stream_, p, pos_[p], bound, 1024, &rows_, &next);
        if (!rs.ok()) {
          Note("read: " + rs.ToString(), &errors_);
          return rs;
        }
        for (size_t i = 0; i < rows_.size(); ++i) {
          if (rows_.meta(i).offset < pos_[p]) continue;
          if (stop_deadline_ms_ >= 0 && NowMs() > stop_deadline_ms_) {
            return Unavailable("nats sink " + def_.stream + ": stopped with rows left to export");
          }
          RETURN_IF_ERROR(Publish(p, rows_.row(i), rows_.meta(i).offset));
          if (resynced_) {
            resynced_ = false;
            return Status::OK();  // positions reloaded from the subject: read again from them
          }
        }
        if (next <= pos_[p]) break;
        pos_[p] = next;  // past trailing control records too
        positions_seen_[p]->store(next, std::memory_order_relaxed);
      }
    }
    return Status::OK();
  }

  // One row, published until the stream stores (or has stored) it. Retries keep the same
  // Nats-Msg-Id, so a publish whose ack was lost is not stored twice within the dedup window;
  // the expected last subject sequence catches it beyond the window.
  Status Publish(uint32_t p, const Value* row, uint64_t offset) {
    json_.clear();
    AppendRowJson(sdef_.schema, row, &json_);
    // The subject too: two deployments' sinks of equally named streams into one JetStream stream
    // must not take each other's messages for duplicates.
    msg_id_ = def_.subject + "/" + def_.stream + "/" + std::to_string(p) + "/" + std::to_string(offset);
    positions_.clear();
    for (uint32_t q = 0; q < pos_.size(); ++q) {
      positions_ += (q == 0 ? "" : ",") + std::to_string(q == p ? offset + 1 : pos_[q]);
    }
    int64_t backoff = 10;
    int stop_attempts = 0;
    while (true) {
      natsMsg* raw = nullptr;
      natsStatus s = natsMsg_Create(&raw, def_.subject.c_str(), nullptr, json_.data(), static_cast<int>(json_.size()));
      if (s != NATS_OK) return Internal("nats sink: message: " + Why(s));
      MsgPtr m(raw);
      s = natsMsgHeader_Set(m.get(), kPositionsHeader, positions_.c_str());
      if (s != NATS_OK) return Internal("nats sink: header: " + Why(s));
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = msg_id_.c_str();
      po.ExpectLastSubjectSeq = last_seq_;  // 0 (an empty subject): not checked
      jsPubAck* pa = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      s = js_PublishMsg(&pa, js_.get(), m.get(), &po, &jerr);
      if (s == NATS_OK) {
        const bool duplicate = pa->Duplicate;
        const uint64_t seq = pa->Sequence;
        jsPubAck_Destroy(pa);
        if (duplicate) {
          // Stored by an earlier attempt whose ack was lost: the subject says where we are.
          duplicates_.fetch_add(1, std::memory_order_relaxed);
          return Resync();
        }
        last_seq_ = seq;
        pos_[p] = offset + 1;
        positions_seen_[p]->store(offset + 1, std::memory_order_relaxed);
        published_.fetch_add(1, std::memory_order_relaxed);
        return Status::OK();
      }
      if (jerr == JSStreamWrongLastSequenceErr) {
        // The subject moved past our view (a stored publish whose ack was lost beyond the dedup
        // window): reload the positions from its last message.
        Note("publish: the subject's last sequence is not " + std::to_string(last_seq_) + "; positions reloaded",
             &retries_);
        return Resync();
      }
      if (s == NATS_MAX_PAYLOAD || jerr == JSStreamMessageExceedsMaximumErr) {
        // Never storable: skipped, counted and said, so that it does not block what follows (a
        // restart before the next stored row tries it again, and skips it again).
        oversized_.fetch_add(1, std::memory_order_relaxed);
        Note("publish " + msg_id_ + ": " + Why(s, jerr) + "; not exported", &errors_);
        pos_[p] = offset + 1;
        positions_seen_[p]->store(offset + 1, std::memory_order_relaxed);
        return Status::OK();
      }
      const bool transient = Transient(s, jerr);
      Note("publish " + msg_id_ + ": " + Why(s, jerr), transient ? &retries_ : &errors_);
      if (stop_.load(std::memory_order_acquire) && ++stop_attempts > 3) {
        return Unavailable("nats sink " + def_.stream + ": stopping with publishes failing");
      }
      Sleep(backoff);
      backoff = std::min(backoff * 2, kMaxBackoffMs);
    }
  }

  Status Resync() {
    Status st = LoadPositions();
    if (!st.ok()) {
      Note("reloading positions: " + st.ToString(), &errors_);
      return st;
    }
    resynced_ = true;
    return Status::OK();
  }

  Host* host_;
  natsConnection* nc_;
  const plan::NatsDef& ndef_;
  plan::NatsSinkDef def_;
  uint32_t stream_;
  StreamDef sdef_;
  JsPtr js_;
  std::string js_stream_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::vector<uint64_t> pos_;
  std::vector<std::unique_ptr<std::atomic<uint64_t>>> positions_seen_;
  uint64_t last_seq_ = 0;
  bool resynced_ = false;
  static constexpr int64_t kStopExportMs = 5000;
  int64_t stop_deadline_ms_ = -1;  // the sink's thread
  std::atomic<uint64_t> oversized_{0};
  RowBatch rows_;
  std::string json_;
  std::string msg_id_;
  std::string positions_;
  Notes notes_{"nats sink " + def_.stream + " (subject " + def_.subject + ")"};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> duplicates_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> errors_{0};
};

class NatsConnectors final : public ConnectorGroup<Source, Sink> {
 public:
  explicit NatsConnectors(plan::NatsDef def) : def_(std::move(def)) {}
  ~NatsConnectors() override {
    StopSources();
    StopSinks();
    sources_.clear();
    sinks_.clear();
    nc_.reset();
  }

  Status Start(Host* host) {
    ASSIGN_OR_RETURN(OptionsPtr opts, MakeOptions(def_, nullptr));
    natsConnection* nc = nullptr;
    const natsStatus s = natsConnection_Connect(&nc, opts.get());
    if (s != NATS_OK) {
      return Unavailable("nats servers " + ServerList(def_) + " unreachable within " +
                         std::to_string(def_.connect_timeout_ms) + " ms (" + Why(s) + ")");
    }
    nc_.reset(nc);
    RETURN_IF_ERROR(StartEach(
        host, def_.sources, "nats source",
        [&](uint32_t index, const StreamDef& sdef, const plan::NatsSourceDef& d) {
          return std::make_unique<Source>(host, nc_.get(), def_, d, index, sdef);
        },
        &sources_));
    return StartEach(
        host, def_.sinks, "nats sink",
        [&](uint32_t index, const StreamDef& sdef, const plan::NatsSinkDef& d) {
          return std::make_unique<Sink>(host, nc_.get(), def_, d, index, sdef);
        },
        &sinks_);
  }

 protected:
  void AddMetrics(std::vector<MetricSample>* out) const override {
    // From the connection's statistics rather than a callback: nats.c runs callbacks on its own
    // thread, which may still be delivering one while the connection is destroyed.
    uint64_t reconnects = 0;
    natsStatistics* stats = nullptr;
    if (nc_ != nullptr && natsStatistics_Create(&stats) == NATS_OK) {
      if (natsConnection_GetStats(nc_.get(), stats) == NATS_OK) {
        (void)natsStatistics_GetCounts(stats, nullptr, nullptr, nullptr, nullptr, &reconnects);
      }
      natsStatistics_Destroy(stats);
    }
    out->push_back({"impulse_nats_reconnects_total",
                    "Times the NATS connection was re-established by nats.c.",
                    true,
                    {{"servers", ServerList(def_)}},
                    static_cast<double>(reconnects)});
  }

 private:
  plan::NatsDef def_;  // the sources and sinks keep references into it
  ConnectionPtr nc_;
};

}  // namespace

bool NatsAvailable() { return true; }

Status CheckNatsConfig(const plan::NatsDef& def, bool require_env, std::string* unset) {
  if (!def.enabled) return Status::OK();
  std::string missing;
  ASSIGN_OR_RETURN(OptionsPtr opts, MakeOptions(def, require_env ? nullptr : &missing));
  if (unset != nullptr) *unset = missing;
  return Status::OK();
}

Result<std::unique_ptr<Connectors>> StartNats(Host* host, const plan::NatsDef& def) {
  auto c = std::make_unique<NatsConnectors>(def);
  RETURN_IF_ERROR(c->Start(host));
  return std::unique_ptr<Connectors>(std::move(c));
}

}  // namespace impulse::connect
