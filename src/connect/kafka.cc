// Kafka sources and sinks on librdkafka (docs/CONNECTORS.md).
//
// A source copies each topic partition k, in order, into partition k of its stream, validated
// like HTTP ingest; every copied batch ends with a source position record (the next Kafka
// offset) in the same append, so the log itself says how far it holds the topic and a restart
// resumes there with no duplicate and no gap. Offsets are committed to the group only for
// monitoring (lag), once the pipelines have processed them.
//
// A sink reads a stream and produces it to a topic. Exactly-once: one transaction per round
// holding the rows up to the newest checkpoint's end (which a restart never rolls back) and,
// in the same transaction, the sink's positions as the offsets of a group of its own. At least
// once: an idempotent producer, rows sent as soon as they are durable here, positions
// committed after delivery.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/logger.h"
#include "connect/connector_util.h"
#include "connect/kafka.h"
#include "connect/kafka_client.h"
#include "event/json_writer.h"
#include "event/key_hash.h"
#include "event/ndjson.h"
#include "event/row_codec.h"

namespace impulse::connect {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowMs() { return WallMs(); }

void Sleep(int64_t ms) { SleepMs(ms); }

// A header holding a decimal integer (impulse.offset, impulse.from, impulse.wm).
bool HeaderInt(rd_kafka_headers_t* hdrs, const char* name, int64_t* out) {
  const void* v = nullptr;
  size_t n = 0;
  if (hdrs == nullptr || rd_kafka_header_get_last(hdrs, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || n == 0 ||
      n > 20) {
    return false;
  }
  const std::string text(static_cast<const char*>(v), n);
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return false;
  *out = x;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Source

class Source {
 public:
  Source(Host* host, const plan::KafkaDef& kdef, plan::KafkaSourceDef def, uint32_t stream, const StreamDef& sdef)
      : host_(host), kdef_(kdef), def_(std::move(def)), stream_(stream), sdef_(sdef) {
    StreamDef parse_def = sdef;
    if (def_.time_from_record) {
      // The record's timestamp replaces the field: a record without it is not invalid.
      std::vector<Field> fields = parse_def.schema.fields();
      fields[static_cast<size_t>(parse_def.time_field)].nullable = true;
      parse_def.schema = Schema(std::move(fields));
      parse_def.time_field = -1;  // the parser requires a time field: here it is set after parsing
    }
    limits_ = host_->SourceLimits();
    parser_ = std::make_unique<NdjsonParser>(parse_def, limits_);
    // A batch is one request: within the engine's per-shard bound, and within a byte budget.
    batch_max_ = static_cast<uint32_t>(std::min<uint64_t>(kdef_.batch_records_max, host_->SourceBatchMax()));
    if (def_.repartition) {
      // Room for one watermark marker per writer after the rows, in the same append.
      writers_ = static_cast<uint32_t>(std::max(kdef_.group_partitions, 1));
      batch_max_ = batch_max_ > writers_ + 1 ? batch_max_ - writers_ : 1;
    }
    parts_.resize(sdef.options.partitions);
    for (uint32_t p = 0; p < parts_.size(); ++p) {
      parts_[p].next = host_->SourceResumePosition(stream_, p);
      parts_[p].lag = std::make_unique<std::atomic<int64_t>>(-1);
    }
  }
  ~Source() { Stop(); }

  // Topic partition of stream partition p: the same one, or a member's one partition.
  int32_t TopicPartition(uint32_t p) const {
    return kdef_.member_partition >= 0 ? kdef_.member_partition : static_cast<int32_t>(p);
  }

  Status Start() {
    const bool member = kdef_.member_partition >= 0;
    std::vector<std::pair<std::string, std::string>> own = {
        // A member is assigned its partition by the group runner, which alone joins the group.
        {"group.id", member ? kdef_.group + ".members" : kdef_.group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"isolation.level", "read_committed"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"auto.offset.reset", def_.from_earliest ? "earliest" : "latest"},
        {"enable.partition.eof", "false"},
    };
    ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(kdef_, own));
    rd_kafka_conf_set_rebalance_cb(conf.get(), &Source::OnRebalance);
    ASSIGN_OR_RETURN(rk_, NewHandle(RD_KAFKA_CONSUMER, std::move(conf), &errors_, "kafka source " + def_.stream));
    // The rebalance callback finds this source through the registry (the handle's opaque is its error log).
    ASSIGN_OR_RETURN(int n, TopicPartitions(rk_.get(), kdef_, def_.topic, &errors_));
    if (member) {
      if (kdef_.member_partition >= n) {
        return InvalidArgument("kafka source " + def_.stream + ": topic " + def_.topic + " has " + std::to_string(n) +
                               " partitions, no partition " + std::to_string(kdef_.member_partition));
      }
      rd_kafka_poll_set_consumer(rk_.get());
      rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
      rd_kafka_topic_partition_list_add(list, def_.topic.c_str(), kdef_.member_partition)->offset =
          parts_[0].next >= 0  ? parts_[0].next
          : def_.from_earliest ? RD_KAFKA_OFFSET_BEGINNING
                               : RD_KAFKA_OFFSET_END;
      const rd_kafka_resp_err_t err = rd_kafka_assign(rk_.get(), list);
      rd_kafka_topic_partition_list_destroy(list);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Unavailable("kafka source " + def_.stream + ": assign: " + rd_kafka_err2str(err));
      }
      parts_[0].assigned = true;
      thread_ = std::thread([this] { Run(); });
      return Status::OK();
    }
    if (static_cast<uint32_t>(n) != parts_.size()) {
      return InvalidArgument("kafka source " + def_.stream + ": topic " + def_.topic + " has " + std::to_string(n) +
                             " partitions and the stream " + std::to_string(parts_.size()) +
                             "; declare the stream with partitions: " + std::to_string(n) +
                             " (topic partition k is copied to stream partition k)");
    }
    rd_kafka_poll_set_consumer(rk_.get());
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, def_.topic.c_str(), RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_.get(), topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Unavailable("kafka source " + def_.stream + ": subscribe: " + rd_kafka_err2str(err));
    }
    subscribed_ = true;
    {
      std::lock_guard<std::mutex> l(registry_mu());
      registry()[rk_.get()] = this;
    }
    thread_ = std::thread([this] { Run(); });
    return Status::OK();
  }

  void Stop() {
    stop_.store(true, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
    if (rk_) {
      // librdkafka before 2.2.1 aborts when a cooperative-sticky consumer is closed before its
      // first assignment (its assignor state is still null; librdkafka issue 4312): wait for it,
      // bounded. Records fetched meanwhile are not copied (the next start fetches them again).
      const bool affected = rd_kafka_version() < 0x020201ff;
      const auto deadline = Clock::now() + std::chrono::milliseconds(kFirstAssignmentWaitMs);
      while (affected && subscribed_ && !assigned_once_ && Clock::now() < deadline) {
        if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 100)) rd_kafka_message_destroy(m);
      }
      if (affected && subscribed_ && !assigned_once_) {
        // Closing would abort the process: the handle is left as it is, said.
        LogWarn("connector",
                "kafka source " + def_.stream + ": no partition assignment after " +
                    std::to_string(kFirstAssignmentWaitMs) + " ms; its consumer is left open (librdkafka " +
                    rd_kafka_version_str() + " aborts closing it before one)",
                {{"connector", "kafka source " + def_.stream}, {"topic", def_.topic}});
        std::lock_guard<std::mutex> l(registry_mu());
        registry().erase(rk_.get());
        (void)rk_.release();
        return;
      }
      rd_kafka_consumer_close(rk_.get());
      {
        std::lock_guard<std::mutex> l(registry_mu());
        registry().erase(rk_.get());
      }
      rk_.reset();
    }
  }

  void Metrics(std::vector<MetricSample>* out) const {
    const std::vector<std::pair<std::string, std::string>> base = {{"stream", def_.stream}, {"topic", def_.topic}};
    out->push_back({"impulse_kafka_source_records_total", "Kafka records copied into a stream (valid and rejected).",
                    true, base, static_cast<double>(records_.load(std::memory_order_relaxed))});
    out->push_back({"impulse_kafka_source_rejected_total",
                    "Kafka records that failed validation (sent to _dead_letter with topic, partition, offset).", true,
                    base, static_cast<double>(rejected_.load(std::memory_order_relaxed))});
    out->push_back({"impulse_kafka_source_skipped_total",
                    "Records fetched below the copied position (topic recreated or offsets reset): not copied again.",
                    true, base, static_cast<double>(skipped_.load(std::memory_order_relaxed))});
    out->push_back({"impulse_kafka_rebalances_total", "Partition assignments and revocations seen by a source.", true,
                    base, static_cast<double>(rebalances_.load(std::memory_order_relaxed))});
    out->push_back({"impulse_kafka_errors_total", "Errors reported by librdkafka or by the copy (retried).", true, base,
                    static_cast<double>(errors_.count.load(std::memory_order_relaxed) +
                                        copy_errors_.load(std::memory_order_relaxed))});
    for (uint32_t p = 0; p < parts_.size(); ++p) {
      const int64_t lag = parts_[p].lag->load(std::memory_order_relaxed);
      if (lag < 0) continue;
      auto labels = base;
      labels.emplace_back("partition", std::to_string(TopicPartition(p)));
      out->push_back({"impulse_kafka_consumer_lag",
                      "Records in the topic partition not yet copied (high watermark - "
                      "next offset; assigned partitions).",
                      false, labels, static_cast<double>(lag)});
    }
  }

 private:
  struct Part {
    int64_t next = -1;  // the next offset to copy; -1: unknown (group offset or `start`)
    bool assigned = false;
    std::string ndjson;
    std::vector<int64_t> offsets;  // per buffered line
    int64_t first = -1;            // the first and last offsets taken since the last copy (lines and markers)
    int64_t last = -1;
    std::map<uint32_t, int64_t> marks;  // repartition topics: the newest watermark per writer, not yet copied
    std::vector<int64_t> times;
    std::deque<std::pair<uint64_t, int64_t>> acked;  // (log end after the batch, next offset)
    int64_t committed = -1;
    std::unique_ptr<std::atomic<int64_t>> lag;
  };

  static std::mutex& registry_mu() {
    static std::mutex mu;
    return mu;
  }
  static std::map<rd_kafka_t*, Source*>& registry() {
    static std::map<rd_kafka_t*, Source*> r;
    return r;
  }

  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list, void*) {
    Source* self = nullptr;
    {
      std::lock_guard<std::mutex> l(registry_mu());
      auto it = registry().find(rk);
      if (it != registry().end()) self = it->second;
    }
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (self == nullptr) {
      // Before Start registered the source (cannot happen: the first poll is after it).
      if (cooperative) {
        rd_kafka_error_t* e = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? rd_kafka_incremental_assign(rk, list)
                                                                          : rd_kafka_incremental_unassign(rk, list);
        if (e != nullptr) rd_kafka_error_destroy(e);
      }
      return;
    }
    self->Rebalance(err, list, cooperative);
  }

  void Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list, bool cooperative) {
    rebalances_.fetch_add(1, std::memory_order_relaxed);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      assigned_once_ = true;
      for (int i = 0; i < list->cnt; ++i) {
        rd_kafka_topic_partition_t& tp = list->elems[i];
        if (tp.partition < 0 || static_cast<uint32_t>(tp.partition) >= parts_.size()) continue;
        Part& part = parts_[static_cast<size_t>(tp.partition)];
        part.assigned = true;
        // The log's position wins over the group's committed offset (which trails it).
        if (part.next >= 0) tp.offset = part.next;
      }
      if (cooperative) {
        rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_.get(), list);
        if (e != nullptr) {
          Note("assign: " + std::string(rd_kafka_error_string(e)));
          rd_kafka_error_destroy(e);
          for (int i = 0; i < list->cnt; ++i) {
            const int32_t p = list->elems[i].partition;
            if (p >= 0 && static_cast<uint32_t>(p) < parts_.size()) parts_[static_cast<size_t>(p)].assigned = false;
          }
        }
      } else {
        (void)rd_kafka_assign(rk_.get(), list);
      }
      return;
    }
    // Revoked: what is buffered for those partitions is copied first (the new owner starts after it).
    for (int i = 0; i < list->cnt; ++i) {
      const int32_t p = list->elems[i].partition;
      if (p < 0 || static_cast<uint32_t>(p) >= parts_.size()) continue;
      (void)Flush(static_cast<uint32_t>(p));
      parts_[static_cast<size_t>(p)].assigned = false;
      parts_[static_cast<size_t>(p)].lag->store(-1, std::memory_order_relaxed);
    }
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_.get(), list);
      if (e != nullptr) rd_kafka_error_destroy(e);
    } else {
      (void)rd_kafka_assign(rk_.get(), nullptr);
    }
  }

  void Note(const std::string& what) { notes_.Say(what, &copy_errors_); }

  void Run() {
    uint32_t buffered = 0;
    int64_t last_commit_ms = NowMs();
    while (!stop_.load(std::memory_order_acquire)) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), buffered > 0 ? 0 : 100);
      if (m != nullptr) {
        buffered += Take(*m);
        rd_kafka_message_destroy(m);
        size_t bytes = 0;
        for (const Part& part : parts_) bytes += part.ndjson.size();
        if (buffered < batch_max_ && bytes < kBatchBytesMax) continue;
      }
      for (uint32_t p = 0; p < parts_.size(); ++p) {
        if (!Flush(p)) break;  // stopping, or an error retried at the next round
      }
      buffered = 0;
      for (const Part& part : parts_) buffered += static_cast<uint32_t>(part.offsets.size() + part.marks.size());
      const int64_t now = NowMs();
      if (now - last_commit_ms >= 1000) {
        last_commit_ms = now;
        CommitAndMeasure();
      }
    }
  }

  // Buffers one record as an NDJSON line of its partition; returns 1 when buffered.
  uint32_t Take(const rd_kafka_message_t& m) {
    if (m.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m.err != RD_KAFKA_RESP_ERR__PARTITION_EOF) Note(rd_kafka_message_errstr(&m));
      return 0;
    }
    const int32_t sp = kdef_.member_partition >= 0 ? (m.partition == kdef_.member_partition ? 0 : -1) : m.partition;
    if (sp < 0 || static_cast<uint32_t>(sp) >= parts_.size()) {
      Note("record of partition " + std::to_string(m.partition) + " beyond the stream's " +
           std::to_string(parts_.size()) + " partitions (the topic grew?): not copied");
      return 0;
    }
    Part& part = parts_[static_cast<size_t>(sp)];
    const int64_t expected = part.last >= 0 ? part.last + 1 : part.next;
    if (expected >= 0 && m.offset < expected) {
      // Already in the log. Only a topic recreated or offsets reset under us gets here: said.
      skipped_.fetch_add(1, std::memory_order_relaxed);
      Note("record at offset " + std::to_string(m.offset) + " of partition " + std::to_string(m.partition) +
           " is before the copied position " + std::to_string(expected) +
           " (topic recreated or offsets reset?): skipped as already copied");
      return 0;
    }
    if (part.first < 0) part.first = m.offset;
    part.last = m.offset;
    if (def_.repartition) {
      uint32_t writer = 0;
      int64_t wm = 0;
      if (ReadMarker(m, &writer, &wm)) {
        if (writer < writers_) {
          auto [it, fresh] = part.marks.emplace(writer, wm);
          if (!fresh) it->second = std::max(it->second, wm);
        } else {
          Note("watermark of writer " + std::to_string(writer) + " beyond the group's " + std::to_string(writers_) +
               " partitions at offset " + std::to_string(m.offset) + ": ignored");
        }
        return 1;
      }
    }
    AppendValueLine(static_cast<const char*>(m.payload), m.len, limits_.max_line_bytes, &part.ndjson);
    part.offsets.push_back(m.offset);
    rd_kafka_timestamp_type_t tt;
    part.times.push_back(rd_kafka_message_timestamp(&m, &tt));
    return 1;
  }

  // A repartition topic's marker record: no value, headers impulse.from (the writing member)
  // and impulse.wm (its watermark, ms). A record with a value is a row whatever its headers.
  static bool ReadMarker(const rd_kafka_message_t& m, uint32_t* writer, int64_t* wm) {
    if (m.payload != nullptr) return false;
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(&m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    int64_t from = -1;
    return HeaderInt(hdrs, "impulse.wm", wm) && HeaderInt(hdrs, "impulse.from", &from) && from >= 0 &&
           (*writer = static_cast<uint32_t>(from), true);
  }

  // Copies partition p's buffer into the log; false if it could not (stopping or an error).
  bool Flush(uint32_t p) {
    Part& part = parts_[p];
    if (part.last < 0) return true;
    rows_.Reset(sdef_.schema.size());
    bad_.clear();
    Status ps = parser_->Parse(part.ndjson, NowMs(), &rows_, &bad_);
    if (!ps.ok()) {
      Note("parse: " + ps.ToString());
      return false;
    }
    for (BadLine& b : bad_) {
      const size_t i = b.line - 1;
      b.reason = "kafka topic " + def_.topic + " partition " + std::to_string(TopicPartition(p)) + " offset " +
                 std::to_string(part.offsets[i]) + ": " + b.reason;
    }
    if (def_.time_from_record) {
      const auto tf = static_cast<size_t>(sdef_.time_field);
      for (size_t r = 0; r < rows_.size(); ++r) {
        const size_t i = rows_.meta(r).line - 1;
        // A record without a timestamp keeps the JSON's value, else the ingest time (never a null).
        const int64_t t = part.times[i] >= 0      ? part.times[i]
                          : rows_.row(r)[tf].null ? rows_.meta(r).ingest_time_ms
                                                  : rows_.row(r)[tf].i64;
        rows_.row(r)[tf] = Value::Int(t);
        rows_.meta(r).event_time_ms = t;
      }
    } else if (def_.repartition && sdef_.time_field < 0) {
      // A re-keyed stream with no event-time field: the writing member put each row's event
      // time in the record's timestamp (the parser gave it the copy's time).
      for (size_t r = 0; r < rows_.size(); ++r) {
        const int64_t t = part.times[rows_.meta(r).line - 1];
        if (t >= 0) rows_.meta(r).event_time_ms = t;
      }
    }
    const int64_t next = part.last + 1;
    const size_t rejected = bad_.size();
    uint64_t end = 0;
    if (part.next < 0) {
      // The partition's first copy: a position record before it, so that a crash tearing the
      // batch leaves a position to cut back to (the topic's records up to the first one).
      trailer_.clear();
      EncodeSourcePosition(static_cast<uint64_t>(part.first), &trailer_);
      RowBatch none(sdef_.schema.size());
      std::vector<BadLine> no_bad;
      if (!Append(p, none, &no_bad, &end)) return false;
      part.next = part.first;
    }
    trailer_.clear();
    // Writers' watermarks after the rows (later than they were in the topic: never too early).
    for (const auto& [writer, wm] : part.marks) EncodeWatermarkMarker(writer, wm, &trailer_);
    EncodeSourcePosition(static_cast<uint64_t>(next), &trailer_);
    if (!Append(p, rows_, &bad_, &end)) return false;
    records_.fetch_add(part.offsets.size(), std::memory_order_relaxed);
    rejected_.fetch_add(rejected, std::memory_order_relaxed);
    part.next = next;
    part.acked.emplace_back(end, next);
    if (part.acked.size() > 100'000) part.acked.pop_front();  // bounded: commits are only for monitoring
    part.ndjson.clear();
    part.offsets.clear();
    part.times.clear();
    part.marks.clear();
    part.first = part.last = -1;
    return true;
  }

  bool Append(uint32_t p, const RowBatch& rows, std::vector<BadLine>* bad, uint64_t* end) {
    return AppendWithRetry(host_, stream_, p, rows, bad, trailer_, end, stop_,
                           [this](const Status& st) { Note("append: " + st.ToString()); });
  }

  // Commits, for monitoring, the offsets the pipelines have processed; updates the lag gauges.
  void CommitAndMeasure() {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(parts_.size()));
    for (uint32_t p = 0; p < parts_.size(); ++p) {
      Part& part = parts_[p];
      if (!part.assigned) continue;
      const uint64_t processed = host_->ProcessedOffset(stream_, p);
      int64_t upto = -1;
      while (!part.acked.empty() && part.acked.front().first <= processed) {
        upto = part.acked.front().second;
        part.acked.pop_front();
      }
      // A member is not in the group (its runner is): it commits nothing.
      if (upto > part.committed && kdef_.member_partition < 0) {
        part.committed = upto;
        rd_kafka_topic_partition_list_add(list, def_.topic.c_str(), static_cast<int32_t>(p))->offset = upto;
      }
      int64_t lo = 0;
      int64_t hi = 0;
      if (rd_kafka_get_watermark_offsets(rk_.get(), def_.topic.c_str(), TopicPartition(p), &lo, &hi) ==
              RD_KAFKA_RESP_ERR_NO_ERROR &&
          hi >= 0) {
        const int64_t from = part.next >= 0 ? part.next : lo;
        part.lag->store(std::max<int64_t>(0, hi - from), std::memory_order_relaxed);
      }
    }
    if (list->cnt > 0) (void)rd_kafka_commit(rk_.get(), list, /*async=*/1);
    rd_kafka_topic_partition_list_destroy(list);
  }

  Host* host_;
  const plan::KafkaDef& kdef_;
  plan::KafkaSourceDef def_;
  uint32_t stream_;
  StreamDef sdef_;
  static constexpr size_t kBatchBytesMax = 16u << 20;
  static constexpr int kFirstAssignmentWaitMs = 15'000;
  bool subscribed_ = false;
  bool assigned_once_ = false;  // the consumer's thread, then Stop's after the join
  NdjsonLimits limits_;
  uint32_t batch_max_ = 1;
  uint32_t writers_ = 0;  // repartition topics: the members writing it
  std::unique_ptr<NdjsonParser> parser_;
  ErrorLog errors_;  // before the handle, which logs into it until destroyed
  HandlePtr rk_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::vector<Part> parts_;
  RowBatch rows_;
  std::vector<BadLine> bad_;
  std::string trailer_;
  Notes notes_{"kafka source " + def_.stream + " (topic " + def_.topic + ")"};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> rebalances_{0};
  std::atomic<uint64_t> copy_errors_{0};
  std::atomic<uint64_t> skipped_{0};
};

// ---------------------------------------------------------------------------------------------
// Sink

class Sink {
 public:
  Sink(Host* host, const plan::KafkaDef& kdef, plan::KafkaSinkDef def, uint32_t stream, const StreamDef& sdef)
      : host_(host), kdef_(kdef), def_(std::move(def)), stream_(stream), sdef_(sdef) {
    pos_.assign(sdef.options.partitions, 0);
    // Allocated once: Metrics reads them from other threads while positions are reloaded.
    for (size_t p = 0; p < pos_.size(); ++p) {
      positions_seen_.push_back(std::make_unique<std::atomic<uint64_t>>(0));
      resume_at_.push_back(std::make_unique<std::atomic<uint64_t>>(0));
    }
  }
  ~Sink() { Stop(); }

  std::string PositionGroup() const { return kdef_.group + ".sink." + def_.stream; }
  int32_t TopicPartition(uint32_t p) const {
    return kdef_.member_partition >= 0 ? kdef_.member_partition : static_cast<int32_t>(p);
  }
  // The first offset of partition p not exported yet (UINT64_MAX: not this sink's stream).
  uint64_t ExportedFrom(const std::string& stream, uint32_t p) const {
    if (stream != def_.stream || p >= resume_at_.size()) return UINT64_MAX;
    return resume_at_[p]->load(std::memory_order_relaxed);
  }

  Status Start() {
    // A consumer that reads the topic's last records back (the position is in their headers);
    // its group commits nothing.
    ASSIGN_OR_RETURN(ConfPtr cconf, MakeConf(kdef_, {{"group.id", PositionGroup()},
                                                     {"enable.auto.commit", "false"},
                                                     {"enable.partition.eof", "true"},
                                                     {"isolation.level", "read_committed"},
                                                     // A read back to a known end: no long fetch waits.
                                                     {"fetch.wait.max.ms", "10"}}));
    ASSIGN_OR_RETURN(positions_, NewHandle(RD_KAFKA_CONSUMER, std::move(cconf), &errors_,
                                           "kafka sink " + def_.stream + " (positions)"));
    ASSIGN_OR_RETURN(int n, TopicPartitions(positions_.get(), kdef_, def_.topic, &errors_));
    topic_parts_ = n;
    if (def_.by_key) {
      // Every member writes every partition of it, and the member of partition j reads j.
      if (kdef_.member_partition < 0 || n != kdef_.group_partitions) {
        return FailedPrecondition("kafka topic " + def_.topic + " (how the group moves stream " +
                                  def_.stream.substr(std::string_view("_repartition_").size()) + " by key) has " +
                                  std::to_string(n) + " partitions; create it with " +
                                  std::to_string(kdef_.group_partitions) +
                                  ", as many as the source topic (docs/SCALE_OUT.md)");
      }
      writer_wm_.assign(host_->WriterCount(stream_), INT64_MIN);
    } else if (kdef_.member_partition >= n) {
      return InvalidArgument("kafka sink " + def_.stream + ": topic " + def_.topic + " has " + std::to_string(n) +
                             " partitions, no partition " + std::to_string(kdef_.member_partition) +
                             " (a member exports to the partition it reads)");
    }
    if (static_cast<uint32_t>(n) < pos_.size()) {
      return InvalidArgument("kafka sink " + def_.stream + ": topic " + def_.topic + " has " + std::to_string(n) +
                             " partitions, fewer than the stream's " + std::to_string(pos_.size()) +
                             " (stream partition p goes to topic partition p)");
    }
    RETURN_IF_ERROR(NewProducer());
    RETURN_IF_ERROR(LoadPositions());
    // A restart rolls a pipeline-written stream back to its checkpoint and recomputes the rest,
    // whose offsets need not match what was exported from it before the crash: export again
    // from the checkpoint's end (at-least-once: by design; exactly-once: only when an older
    // checkpoint than the last exported one was restored, which is said).
    for (uint32_t p = 0; p < pos_.size(); ++p) {
      const uint64_t end = host_->CommittedEnd(stream_, p);
      if (pos_[p] <= end) continue;
      if (def_.exactly_once) {
        rewound_.fetch_add(pos_[p] - end, std::memory_order_relaxed);
        LogWarn("connector",
                "kafka sink " + def_.stream + " (topic " + def_.topic + ") partition " + std::to_string(p) +
                    ": exported up to offset " + std::to_string(pos_[p]) + ", past the restored checkpoint's end " +
                    std::to_string(end) + ": the outputs after it are exported again (duplicates are possible)",
                {{"connector", "kafka sink " + def_.stream},
                 {"topic", def_.topic},
                 {"partition", p},
                 {"exported_offset", pos_[p]},
                 {"checkpoint_end", end}});
      }
      pos_[p] = end;
      positions_seen_[p]->store(end, std::memory_order_relaxed);
      resume_at_[p]->store(end, std::memory_order_relaxed);
    }
    thread_ = std::thread([this] { Run(); });
    return Status::OK();
  }

  void Stop() {
    stop_.store(true, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
    if (producer_) {
      rd_kafka_flush(producer_.get(), 5000);
      producer_.reset();
    }
    if (positions_) {
      rd_kafka_consumer_close(positions_.get());
      positions_.reset();
    }
  }

  void Metrics(std::vector<MetricSample>* out) const {
    const std::vector<std::pair<std::string, std::string>> base = {{"stream", def_.stream}, {"topic", def_.topic}};
    out->push_back({"impulse_kafka_sink_records_total", "Rows produced to Kafka (committed or delivered).", true, base,
                    static_cast<double>(produced_.load(std::memory_order_relaxed))});
    out->push_back({"impulse_kafka_producer_errors_total",
                    "Failed deliveries and transactions of a sink (retried from its last position).", true, base,
                    static_cast<double>(producer_errors_.load(std::memory_order_relaxed) +
                                        errors_.count.load(std::memory_order_relaxed))});
    out->push_back({"impulse_kafka_sink_transactions_total", "Transactions committed by an exactly-once sink.", true,
                    base, static_cast<double>(transactions_.load(std::memory_order_relaxed))});
    out->push_back({"impulse_kafka_sink_skipped_total",
                    "Rows not exported: over message.max.bytes (reason=oversized), deleted by retention first "
                    "(reason=retention).",
                    true,
                    {{"stream", def_.stream}, {"topic", def_.topic}, {"reason", "oversized"}},
                    static_cast<double>(oversized_.load(std::memory_order_relaxed))});
    out->push_back({"impulse_kafka_sink_skipped_total",
                    "",
                    true,
                    {{"stream", def_.stream}, {"topic", def_.topic}, {"reason", "retention"}},
                    static_cast<double>(gap_.load(std::memory_order_relaxed))});
    out->push_back({"impulse_kafka_sink_reexported_total",
                    "Rows exported again because an older checkpoint than the last exported one was restored.", true,
                    base, static_cast<double>(rewound_.load(std::memory_order_relaxed))});
    uint64_t behind = 0;
    for (uint32_t p = 0; p < pos_.size(); ++p) {
      const uint64_t end = host_->ReadableEnd(stream_, p);
      const uint64_t at = positions_seen_[p]->load(std::memory_order_relaxed);
      behind += end > at ? end - at : 0;
    }
    out->push_back({"impulse_kafka_sink_lag", "Records of the stream not yet exported (log end - sink position).",
                    false, base, static_cast<double>(behind)});
  }

 private:
  // Each produced record carries its stream offset (header impulse.offset), written in the same
  // transaction as the record: the last one in topic partition p is how far stream partition p
  // was exported. Read back at start, after init_transactions has aborted whatever an earlier
  // producer left open (so the read-committed end is the end).
  Status LoadPositions() {
    positions_known_ = false;
    std::vector<uint64_t> found(pos_.size(), 0);
    for (uint32_t p = 0; p < pos_.size(); ++p) {
      // By key, this member's rows are spread over every partition (among other members'): its
      // last one in each, the newest of those is where it stopped. A partition it has not
      // written lately is read back to its start (docs/SCALE_OUT.md).
      std::vector<int32_t> tps;
      if (def_.by_key) {
        for (int32_t j = 0; j < topic_parts_; ++j) tps.push_back(j);
      } else {
        tps.push_back(TopicPartition(p));
      }
      for (const int32_t tp : tps) {
        int64_t lo = 0;
        int64_t hi = 0;
        const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            positions_.get(), def_.topic.c_str(), tp, &lo, &hi, static_cast<int>(kdef_.connect_timeout_ms));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          return Unavailable("kafka sink " + def_.stream + ": reading the end of " + def_.topic + " partition " +
                             std::to_string(tp) + ": " + rd_kafka_err2str(err));
        }
        // Commit markers take offsets too: look back in widening windows for the last record.
        // By key, other members' records are interleaved with ours: a wider first window.
        for (int64_t window = def_.by_key ? 1024 : 16; hi > lo; window *= 8) {
          const int64_t from = std::max(lo, hi - window);
          int64_t last = -1;
          RETURN_IF_ERROR(LastExported(tp, from, hi, &last));
          if (last >= 0) {
            found[p] = std::max(found[p], static_cast<uint64_t>(last) + 1);
            break;
          }
          if (from == lo) break;
        }
      }
    }
    // All or nothing: a partial read must not leave a partition's position at 0 (a re-export).
    pos_ = found;
    positions_known_ = true;
    for (uint32_t p = 0; p < pos_.size(); ++p) {
      positions_seen_[p]->store(pos_[p], std::memory_order_relaxed);
      resume_at_[p]->store(pos_[p], std::memory_order_relaxed);
    }
    return Status::OK();
  }

  // The largest impulse.offset header among the committed records of [from, end) of topic
  // partition tp (by key: among this member's records).
  Status LastExported(int32_t tp, int64_t from, int64_t end, int64_t* last) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, def_.topic.c_str(), tp)->offset = from;
    rd_kafka_resp_err_t err = rd_kafka_assign(positions_.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return Unavailable(std::string("assign: ") + rd_kafka_err2str(err));
    // Long enough for another writer's transaction left open by a crash to be aborted (its next
    // owner fences it, or the broker's transaction timeout, 60 s by default, ends it): until then
    // a read-committed reader stops before it, and records of ours after it stay unseen.
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(std::max<int64_t>(kdef_.connect_timeout_ms, kReadBackWaitMs));
    Status st = Unavailable("kafka sink " + def_.stream + ": reading back " + def_.topic + " partition " +
                            std::to_string(tp) + " timed out (a transaction of another writer still open?)");
    bool finished = false;
    while (Clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(positions_.get(), 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) st = Status::OK();
      const bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_t* hdrs = nullptr;
        int64_t offset = -1;
        int64_t from_member = -1;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            HeaderInt(hdrs, "impulse.offset", &offset) &&
            (!def_.by_key ||
             (HeaderInt(hdrs, "impulse.from", &from_member) && from_member == kdef_.member_partition))) {
          *last = std::max(*last, offset);
        }
      } else if (!eof) {
        st = Unavailable("kafka sink " + def_.stream + ": reading back " + def_.topic + ": " +
                         rd_kafka_message_errstr(m));
      }
      bool done = m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset + 1 >= end;
      if (eof) {
        // The end for a read-committed reader is the last stable offset: done once it is `end`
        // (transaction markers take offsets, which the position passes).
        done = PositionReached(positions_.get(), def_.topic, tp, end);
        if (!done)
          st = Unavailable("kafka sink " + def_.stream + ": " + def_.topic + " partition " + std::to_string(tp) +
                           ": its stable end stays before its end (a transaction of another writer open)");
      }
      rd_kafka_message_destroy(m);
      finished = done;
      if (done || (!st.ok() && !eof)) break;
    }
    (void)rd_kafka_assign(positions_.get(), nullptr);
    // A read cut short by the deadline is not a position: the last record may be after it.
    if (st.ok() && !finished) {
      return Unavailable("kafka sink " + def_.stream + ": reading back " + def_.topic + " partition " +
                         std::to_string(tp) + " did not reach its end in time");
    }
    return st;
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      static_cast<Sink*>(opaque)->delivery_failed_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  Status NewProducer() {
    std::vector<std::pair<std::string, std::string>> own = {{"enable.idempotence", "true"}, {"acks", "all"}};
    // Stable across restarts, so a new producer fences an older one still alive.
    // A member's is its partition's: the next owner of the partition fences the previous one.
    if (def_.exactly_once) {
      own.emplace_back("transactional.id",
                       kdef_.group + ".sink." + def_.stream + "." + def_.topic +
                           (kdef_.member_partition >= 0 ? ".p" + std::to_string(kdef_.member_partition) : ""));
    }
    ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(kdef_, own));
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &Sink::OnDelivery);
    producer_.reset();
    char err[512];
    // One opaque per handle: the sink, for deliveries; errors go through it to the sink's log.
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_error_cb(conf.get(), [](rd_kafka_t* rk, int e, const char* reason, void* opaque) {
      OnError(rk, e, reason, &static_cast<Sink*>(opaque)->errors_);
    });
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err));
    if (rk == nullptr) return InvalidArgument("kafka sink " + def_.stream + ": " + err);
    (void)conf.release();
    producer_.reset(rk);
    if (def_.exactly_once) {
      rd_kafka_error_t* e = rd_kafka_init_transactions(rk, static_cast<int>(kdef_.connect_timeout_ms));
      if (e != nullptr) {
        Status st = Unavailable("kafka sink " + def_.stream + ": init_transactions: " + rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return st;
      }
    }
    return Status::OK();
  }

  void Run() {
    int64_t backoff = 10;
    int64_t stop_deadline_ms = -1;
    while (true) {
      const bool stopping = stop_.load(std::memory_order_acquire);
      if (stopping && stop_deadline_ms < 0) stop_deadline_ms = NowMs() + kStopExportMs;
      // A stop exports what it can in kStopExportMs; the rest goes at the next start.
      if (stopping && NowMs() > stop_deadline_ms) return;
      if (fenced_.load(std::memory_order_acquire)) {
        if (stopping) return;
        Sleep(50);
        continue;
      }
      if (!positions_known_) {
        Status ls = LoadPositions();
        if (!ls.ok()) {
          producer_errors_.fetch_add(1, std::memory_order_relaxed);
          LogWarn("connector", "kafka sink " + def_.stream + ": " + ls.ToString() + " (retried)",
                  {{"connector", "kafka sink " + def_.stream}, {"topic", def_.topic}, {"error", ls.ToString()}});
          Sleep(backoff);
          backoff = std::min<int64_t>(backoff * 2, 2000);
          continue;
        }
      }
      std::vector<uint64_t> bound(pos_.size());
      bool any = false;
      for (uint32_t p = 0; p < pos_.size(); ++p) {
        bound[p] = def_.exactly_once ? host_->CommittedEnd(stream_, p) : host_->ReadableEnd(stream_, p);
        any |= bound[p] > pos_[p];
      }
      if (!any) {
        if (stopping) return;
        Sleep(def_.exactly_once ? 20 : 5);
        continue;
      }
      Status st = Round(bound);
      if (st.ok()) {
        backoff = 10;
        continue;
      }
      producer_errors_.fetch_add(1, std::memory_order_relaxed);
      LogWarn("connector",
              "kafka sink " + def_.stream + " (topic " + def_.topic + "): " + st.ToString() +
                  "; retrying from its last position",
              {{"connector", "kafka sink " + def_.stream}, {"topic", def_.topic}, {"error", st.ToString()}});
      if (!def_.exactly_once && rd_kafka_fatal_error(producer_.get(), nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // A fatal idempotent producer never recovers: a new one, from the positions in the topic.
        Status np = NewProducer();
        if (np.ok()) positions_known_ = false;
      }
      Sleep(backoff);
      backoff = std::min<int64_t>(backoff * 2, 2000);
    }
  }

  Status TxnError(rd_kafka_error_t* e, const char* what) {
    Status st = Unavailable(std::string(what) + ": " + rd_kafka_error_string(e));
    const bool fatal = rd_kafka_error_is_fatal(e);
    const bool abort = rd_kafka_error_txn_requires_abort(e);
    const rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    rd_kafka_error_destroy(e);
    if (kdef_.member_partition >= 0 &&
        (code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)) {
      // A member fenced by its partition's next owner exports nothing more: a new producer
      // would fence that owner in turn.
      fenced_.store(true, std::memory_order_release);
      LogWarn(
          "connector",
          "kafka sink " + def_.stream + " (topic " + def_.topic + ") partition " +
              std::to_string(kdef_.member_partition) + ": fenced by the partition's new owner; exports stop here",
          {{"connector", "kafka sink " + def_.stream}, {"topic", def_.topic}, {"partition", kdef_.member_partition}});
      return st;
    }
    if (abort) {
      rd_kafka_error_t* a = rd_kafka_abort_transaction(producer_.get(), static_cast<int>(kdef_.connect_timeout_ms));
      if (a != nullptr) rd_kafka_error_destroy(a);
    }
    if (fatal || !abort) {
      // A fenced or failed producer: a new one (which aborts what the old one left open), and the
      // positions as committed (read before the next round).
      Status np = NewProducer();
      positions_known_ = false;
      if (!np.ok()) return np;
    }
    return st;
  }

  // One round: rows from each partition's position up to its bound (at most kRoundRows), one
  // transaction (exactly-once) or one flush and position commit (at-least-once).
  Status Round(const std::vector<uint64_t>& bound) {
    constexpr uint32_t kRoundRows = 50'000;
    rd_kafka_t* rk = producer_.get();
    if (def_.exactly_once) {
      if (rd_kafka_error_t* e = rd_kafka_begin_transaction(rk)) return TxnError(e, "begin_transaction");
    }
    delivery_failed_.store(0, std::memory_order_relaxed);
    std::vector<uint64_t> end = pos_;
    std::vector<int64_t> last_row(pos_.size(), -1);  // the last row produced per partition
    uint64_t rows_sent = 0;
    // Each round starts at the next partition, so that a busy one does not starve the others.
    const uint32_t first = next_first_++ % static_cast<uint32_t>(pos_.size());
    for (uint32_t k = 0; k < pos_.size() && rows_sent < kRoundRows; ++k) {
      const uint32_t p = (first + k) % static_cast<uint32_t>(pos_.size());
      while (end[p] < bound[p] && rows_sent < kRoundRows) {
        rows_.Reset(sdef_.schema.size());
        uint64_t next = end[p];
        Status rs = def_.by_key
                        ? host_->ReadRowsAndMarks(stream_, p, end[p], bound[p], 4096, &rows_, &next, &writer_wm_)
                        : host_->ReadRows(stream_, p, end[p], bound[p], 4096, &rows_, &next);
        if (rs.code() == StatusCode::kOutOfRange && host_->ReadableEnd(stream_, p) > end[p]) {
          // Retention deleted rows this sink had not exported: skip to what is left, said and counted.
          const uint64_t kept = host_->FirstOffset(stream_, p);
          if (kept > end[p]) {
            gap_.fetch_add(kept - end[p], std::memory_order_relaxed);
            LogWarn("connector",
                    "kafka sink " + def_.stream + " partition " + std::to_string(p) + ": offsets " +
                        std::to_string(end[p]) + ".." + std::to_string(kept) +
                        " deleted by retention before they were exported: skipped",
                    {{"connector", "kafka sink " + def_.stream},
                     {"topic", def_.topic},
                     {"partition", p},
                     {"from_offset", end[p]},
                     {"to_offset", kept}});
            end[p] = kept;
            continue;
          }
        }
        if (rs.ok()) {
          for (size_t i = 0; i < rows_.size() && rs.ok(); ++i) rs = Produce(p, rows_.row(i), rows_.meta(i));
          if (rows_.size() > 0) last_row[p] = static_cast<int64_t>(rows_.meta(rows_.size() - 1).offset);
        }
        if (!rs.ok()) {
          if (def_.exactly_once) {
            rd_kafka_error_t* a = rd_kafka_abort_transaction(rk, static_cast<int>(kdef_.connect_timeout_ms));
            if (a != nullptr) rd_kafka_error_destroy(a);
          }
          return rs;
        }
        rows_sent += rows_.size();
        if (next == end[p]) break;
        end[p] = next;
      }
    }
    // By key: the stream's watermark after these rows, to every partition (each reader's
    // watermark is the smallest of its writers').
    int64_t wm = INT64_MIN;
    if (def_.by_key && !writer_wm_.empty()) {
      wm = *std::min_element(writer_wm_.begin(), writer_wm_.end());
      if (wm > sent_wm_) {
        // The markers also carry the last row this member exported (so far), so that a restart
        // finds a recent record of its own in every partition, not only in those its keys hit.
        int64_t upto = last_row[0];
        if (upto < 0) upto = static_cast<int64_t>(resume_at_[0]->load(std::memory_order_relaxed)) - 1;
        Status ms = ProduceMarks(wm, upto);
        if (!ms.ok()) {
          rd_kafka_error_t* a = rd_kafka_abort_transaction(rk, static_cast<int>(kdef_.connect_timeout_ms));
          if (a != nullptr) rd_kafka_error_destroy(a);
          return ms;
        }
      }
    }
    // The position travels in the records themselves (impulse.offset): nothing else to commit.
    Status st;
    const int timeout = static_cast<int>(std::max<int64_t>(kdef_.connect_timeout_ms, 30'000));
    if (def_.exactly_once) {
      if (rd_kafka_error_t* c = rd_kafka_commit_transaction(rk, timeout)) {
        st = TxnError(c, "commit_transaction");
      } else {
        transactions_.fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      const rd_kafka_resp_err_t fe = rd_kafka_flush(rk, timeout);
      if (fe != RD_KAFKA_RESP_ERR_NO_ERROR) {
        st = Unavailable(std::string("flush: ") + rd_kafka_err2str(fe));
      } else if (const uint64_t failed = delivery_failed_.load(std::memory_order_relaxed); failed > 0) {
        st = Unavailable(std::to_string(failed) + " deliveries failed");
      }
    }
    if (!st.ok()) return st;
    produced_.fetch_add(rows_sent, std::memory_order_relaxed);
    sent_wm_ = std::max(sent_wm_, wm);
    pos_ = end;
    for (uint32_t p = 0; p < pos_.size(); ++p) {
      positions_seen_[p]->store(pos_[p], std::memory_order_relaxed);
      // A restart resumes after the last exported row (read back from its header), before any
      // marker that followed it.
      if (last_row[p] >= 0) resume_at_[p]->store(static_cast<uint64_t>(last_row[p]) + 1, std::memory_order_relaxed);
    }
    return Status::OK();
  }

  // A marker record (no value) in each partition: this member's watermark for the stream and,
  // when it exported a row, the offset of its last one (upto >= 0).
  Status ProduceMarks(int64_t wm, int64_t upto) {
    char from[16];
    const int from_len = std::snprintf(from, sizeof(from), "%d", kdef_.member_partition);
    char w[24];
    const int w_len = std::snprintf(w, sizeof(w), "%lld", static_cast<long long>(wm));
    char at[24];
    const int at_len = std::snprintf(at, sizeof(at), "%lld", static_cast<long long>(upto));
    for (int32_t j = 0; j < topic_parts_; ++j) {
      rd_kafka_vu_t vu[5] = {};
      vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vu[0].u.cstr = def_.topic.c_str();
      vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
      vu[1].u.i32 = j;
      vu[2].vtype = RD_KAFKA_VTYPE_HEADER;
      vu[2].u.header = {"impulse.from", from, from_len};
      vu[3].vtype = RD_KAFKA_VTYPE_HEADER;
      vu[3].u.header = {"impulse.wm", w, w_len};
      vu[4].vtype = RD_KAFKA_VTYPE_HEADER;
      vu[4].u.header = {"impulse.offset", at, at_len};
      for (int waits = 0;; ++waits) {
        rd_kafka_error_t* e = rd_kafka_produceva(producer_.get(), vu, upto >= 0 ? 5 : 4);
        if (e == nullptr) break;
        const rd_kafka_resp_err_t err = rd_kafka_error_code(e);
        const std::string why = rd_kafka_error_string(e);
        rd_kafka_error_destroy(e);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || waits > kStopExportMs / 10) return Unavailable("produce: " + why);
        rd_kafka_poll(producer_.get(), 10);
      }
    }
    return Status::OK();
  }

  Status Produce(uint32_t p, const Value* row, const RowMeta& meta) {
    char offset[24];
    const int offset_len = std::snprintf(offset, sizeof(offset), "%llu", static_cast<unsigned long long>(meta.offset));
    json_.clear();
    AppendRowJson(sdef_.schema, row, &json_);
    key_.clear();
    const void* key = nullptr;
    size_t key_len = 0;
    if (sdef_.key_field >= 0) {
      const Value& k = row[sdef_.key_field];
      if (!k.null) {
        const FieldType t = sdef_.schema.field(static_cast<size_t>(sdef_.key_field)).type;
        if (t == FieldType::kString) {
          key_.assign(k.str, k.len);
        } else if (t == FieldType::kDouble) {
          char buf[32];
          key_.assign(buf, static_cast<size_t>(std::snprintf(buf, sizeof(buf), "%.17g", k.f64)));  // round-trips
        } else if (t == FieldType::kBool) {
          key_ = k.b ? "true" : "false";
        } else {
          key_ = std::to_string(k.i64);
        }
        key = key_.data();
        key_len = key_.size();
      }
    }
    int32_t tp = TopicPartition(p);
    if (def_.by_key) {
      // The engine's own key hash, as a stream partition would be chosen.
      const Value null_key = Value::Null();
      const Value& k = sdef_.key_field >= 0 ? row[sdef_.key_field] : null_key;
      const FieldType t =
          sdef_.key_field >= 0 ? sdef_.schema.field(static_cast<size_t>(sdef_.key_field)).type : FieldType::kString;
      tp = static_cast<int32_t>(PartitionFor(HashValue(k, t), static_cast<uint32_t>(topic_parts_)));
    }
    char from[16];
    const int from_len = std::snprintf(from, sizeof(from), "%d", kdef_.member_partition);
    int64_t queue_full_waits = 0;
    rd_kafka_vu_t vu[8] = {};
    vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vu[0].u.cstr = def_.topic.c_str();
    vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[1].u.i32 = tp;
    vu[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[2].u.i = RD_KAFKA_MSG_F_COPY;
    vu[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[3].u.mem = {json_.data(), json_.size()};
    vu[4].vtype = RD_KAFKA_VTYPE_KEY;
    vu[4].u.mem = {const_cast<void*>(key), key_len};  // copied (RD_KAFKA_MSG_F_COPY), never written
    vu[5].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vu[5].u.i64 = meta.event_time_ms >= 0 ? meta.event_time_ms : 0;  // Kafka has no negative times: 0 = now
    vu[6].vtype = RD_KAFKA_VTYPE_HEADER;
    vu[6].u.header = {"impulse.offset", offset, offset_len};
    vu[7].vtype = RD_KAFKA_VTYPE_HEADER;
    vu[7].u.header = {"impulse.from", from, from_len};
    while (true) {
      rd_kafka_error_t* e = rd_kafka_produceva(producer_.get(), vu, def_.by_key ? 8 : 7);
      if (e == nullptr) return Status::OK();
      const rd_kafka_resp_err_t err = rd_kafka_error_code(e);
      const std::string why = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        // Never deliverable: skipped, counted and said, so that it does not block what follows.
        oversized_.fetch_add(1, std::memory_order_relaxed);
        LogWarn("connector",
                "kafka sink " + def_.stream + " partition " + std::to_string(p) + " offset " +
                    std::to_string(meta.offset) + ": " + std::to_string(json_.size()) +
                    " bytes, over message.max.bytes: not exported",
                {{"connector", "kafka sink " + def_.stream},
                 {"topic", def_.topic},
                 {"partition", p},
                 {"offset", meta.offset},
                 {"bytes", json_.size()}});
        return Status::OK();
      }
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return Unavailable("produce: " + why);
      if (stop_.load(std::memory_order_acquire) && ++queue_full_waits > kStopExportMs / 10) {
        return Unavailable("produce: the producer's queue stayed full while stopping");
      }
      rd_kafka_poll(producer_.get(), 10);  // the producer's queue is bounded: wait for deliveries
    }
  }

  Host* host_;
  const plan::KafkaDef& kdef_;
  plan::KafkaSinkDef def_;
  uint32_t stream_;
  StreamDef sdef_;
  ErrorLog errors_;  // before the handles, which log into it until destroyed
  HandlePtr positions_;
  HandlePtr producer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::vector<uint64_t> pos_;
  std::vector<std::unique_ptr<std::atomic<uint64_t>>> positions_seen_;
  // Per partition: where a restart would resume, the offset after the last exported row (a
  // member's snapshot keeps the log from there).
  std::vector<std::unique_ptr<std::atomic<uint64_t>>> resume_at_;
  RowBatch rows_;
  std::string json_;
  std::string key_;
  std::atomic<uint64_t> delivery_failed_{0};
  std::atomic<uint64_t> produced_{0};
  std::atomic<uint64_t> producer_errors_{0};
  std::atomic<uint64_t> transactions_{0};
  std::atomic<uint64_t> oversized_{0};
  std::atomic<uint64_t> gap_{0};
  std::atomic<uint64_t> rewound_{0};
  bool positions_known_ = false;
  int32_t topic_parts_ = 0;
  std::vector<int64_t> writer_wm_;   // by key: the stream's writers' watermarks read so far
  int64_t sent_wm_ = INT64_MIN;      // by key: the last watermark committed to the topic
  std::atomic<bool> fenced_{false};  // members: a newer owner of the partition exports it
  uint32_t next_first_ = 0;
  static constexpr int64_t kStopExportMs = 5000;
  static constexpr int64_t kReadBackWaitMs = 65'000;
};

class KafkaConnectors final : public ConnectorGroup<Source, Sink> {
 public:
  explicit KafkaConnectors(plan::KafkaDef def) : def_(std::move(def)) {}
  ~KafkaConnectors() override {
    StopSources();
    StopSinks();
  }
  uint64_t ExportedFrom(const std::string& stream, uint32_t partition) const override {
    uint64_t min = UINT64_MAX;
    for (const auto& s : sinks_) min = std::min(min, s->ExportedFrom(stream, partition));
    return min;
  }

  Status Start(Host* host) {
    RETURN_IF_ERROR(StartEach(
        host, def_.sources, "kafka source",
        [&](uint32_t index, const StreamDef& sdef, const plan::KafkaSourceDef& d) {
          return std::make_unique<Source>(host, def_, d, index, sdef);
        },
        &sources_));
    return StartEach(
        host, def_.sinks, "kafka sink",
        [&](uint32_t index, const StreamDef& sdef, const plan::KafkaSinkDef& d) {
          return std::make_unique<Sink>(host, def_, d, index, sdef);
        },
        &sinks_);
  }

 private:
  plan::KafkaDef def_;  // the sources and sinks keep references into it
};

}  // namespace

bool KafkaAvailable() { return true; }

Status CheckKafkaConfig(const plan::KafkaDef& def, bool require_env, std::string* unset) {
  if (!def.enabled) return Status::OK();
  std::string missing;
  ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(def, {{"group.id", def.group}}, require_env ? nullptr : &missing));
  if (unset != nullptr) *unset = missing;
  return Status::OK();
}

Result<std::unique_ptr<Connectors>> StartKafka(Host* host, const plan::KafkaDef& def) {
  RETURN_IF_ERROR(CheckKafkaConfig(def, /*require_env=*/true));
  auto c = std::make_unique<KafkaConnectors>(def);
  RETURN_IF_ERROR(c->Start(host));
  return std::unique_ptr<Connectors>(std::move(c));
}

}  // namespace impulse::connect
