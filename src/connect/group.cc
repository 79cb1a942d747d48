#include "connect/group.h"
#include "common/logger.h"

#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <utility>  // before Asio with g++ 12 / C++20

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "action/http_client.h"
#include "common/crc32c.h"
#include "common/fixed_codec.h"
#include "common/json_string.h"
#include "connect/connector_util.h"
#include "connect/kafka_client.h"
#include "server/decision_index.h"
#include "spec/spec.h"

namespace impulse::connect {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kMagic = "IMPLSNAP";
constexpr uint32_t kVersion = 1;

// A snapshot as one byte string: magic, version, checkpoint id, then each file's path and bytes.
std::string EncodeSnapshot(const MemberSnapshot& s) {
  std::string out(kMagic);
  PutFixed32(kVersion, &out);
  PutFixed64(s.checkpoint_id, &out);
  PutFixed32(static_cast<uint32_t>(s.files.size()), &out);
  for (const auto& [path, bytes] : s.files) {
    PutFixed32(static_cast<uint32_t>(path.size()), &out);
    out += path;
    PutFixed64(bytes.size(), &out);
    out += bytes;
  }
  return out;
}

Result<MemberSnapshot> DecodeSnapshot(std::string_view in) {
  MemberSnapshot s;
  uint32_t version = 0;
  uint32_t n = 0;
  if (in.substr(0, kMagic.size()) != kMagic) return DataLoss("member snapshot: bad magic");
  in.remove_prefix(kMagic.size());
  if (!GetFixed32(&in, &version) || version != kVersion) return DataLoss("member snapshot: unknown version");
  if (!GetFixed64(&in, &s.checkpoint_id) || !GetFixed32(&in, &n)) return DataLoss("member snapshot: truncated");
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t plen = 0;
    uint64_t blen = 0;
    if (!GetFixed32(&in, &plen) || in.size() < plen) return DataLoss("member snapshot: truncated path");
    std::string path(in.substr(0, plen));
    in.remove_prefix(plen);
    if (!GetFixed64(&in, &blen) || in.size() < blen) return DataLoss("member snapshot: truncated file " + path);
    s.files.emplace_back(std::move(path), std::string(in.substr(0, blen)));
    in.remove_prefix(blen);
  }
  if (!in.empty()) return DataLoss("member snapshot: trailing bytes");
  return s;
}

std::string ManifestKey(int32_t k) { return "p" + std::to_string(k); }
std::string ChunkKey(int32_t k, uint32_t i) { return ManifestKey(k) + "/" + std::to_string(i); }
// The owner record of partition k: "<url> <wall ms>", written by whoever runs it (clear of the
// snapshot keys, which VisitSnapshot alone reads).
std::string OwnerKey(int32_t k) { return "owner.p" + std::to_string(k); }

// The owner of a partition, as its owner record says.
struct Owner {
  std::string url;
  int64_t at_ms = 0;  // when it was written
};

// Outcomes of a forwarded lookup (impulse_group_lookups_forwarded_total): the instance asked had
// it, did not have it, could not be reached (or timed out), answered with an error.
enum Outcome : uint8_t { kFound = 0, kNotFound = 1, kUnreachable = 2, kError = 3 };
constexpr size_t kOutcomes = 4;
constexpr const char* kOutcomeNames[kOutcomes] = {"found", "not_found", "unreachable", "error"};

// A path segment for a forwarded request (RFC 3986 unreserved characters pass).
std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

// Several HTTP requests at once; each answer (or its error) at its index.
std::vector<action::HttpResponse> FetchAll(std::vector<action::HttpRequest> requests) {
  boost::asio::io_context io;
  std::vector<action::HttpResponse> out(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    action::AsyncRequest(io, std::move(requests[i]), [&out, i](action::HttpResponse r) { out[i] = std::move(r); });
  }
  io.run();
  return out;
}

// One partition this process owns: its engine and the thread that moves its snapshots to the
// state topic. Declared so that the engine (which calls Offer) is destroyed first.
struct Member {
  int32_t k = -1;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<MemberSnapshot> pending;  // the newest not yet written (older ones are dropped)
  bool stopping = false;
  bool fenced = false;     // the state producer failed for good (fenced by a newer owner, or fatal)
  bool owner_due = false;  // the owner record is to be written (the member started, or the URL is new)
  MemberInfo info;         // under mu
  ErrorLog errors;         // before producer, which logs into it until destroyed
  HandlePtr producer;      // transactional, id <group>.state.p<k>
  std::thread publisher;
  std::unique_ptr<Engine> engine;
  std::shared_ptr<server::DecisionIndexSet> decisions;  // over engine; replaced with it

  void Offer(MemberSnapshot s) {
    std::lock_guard<std::mutex> l(mu);
    pending = std::move(s);
    cv.notify_all();
  }
};

// Prometheus text of several engines as one exposition: each family once, every sample of
// member k labelled member="k".
void MergeExposition(const std::string& text, int32_t member, std::map<std::string, std::string>* heads,
                     std::map<std::string, std::string>* samples, std::vector<std::string>* order) {
  std::string family;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    if (line.empty()) continue;
    if (line.rfind("# ", 0) == 0) {
      const size_t name_at = line.find(' ', 2);
      if (name_at == std::string::npos) continue;
      const size_t name_end = line.find(' ', name_at + 1);
      family = line.substr(name_at + 1, name_end == std::string::npos ? std::string::npos : name_end - name_at - 1);
      if (heads->count(family) == 0 || (*heads)[family].find(line.substr(0, 6)) == std::string::npos) {
        if (heads->count(family) == 0) order->push_back(family);
        (*heads)[family] += line + "\n";
      }
      continue;
    }
    const std::string lbl = "member=\"" + std::to_string(member) + "\"";
    const size_t brace = line.find('{');
    const size_t space = line.find(' ');
    std::string out;
    if (brace != std::string::npos && brace < space) {
      out = line.substr(0, brace + 1) + lbl + (line[brace + 1] == '}' ? "" : ",") + line.substr(brace + 1);
    } else {
      out = line.substr(0, space) + "{" + lbl + "}" + line.substr(space);
    }
    if (family.empty()) family = line.substr(0, std::min(brace, space));
    if (heads->count(family) == 0) {
      (*heads)[family] = "";
      order->push_back(family);
    }
    (*samples)[family] += out + "\n";
  }
}

// The engine the HTTP server sees in a group: the members this instance runs.
class GroupEngine final : public Engine {
 public:
  using Visit = std::function<void(const std::map<int32_t, Engine*>&)>;
  GroupEngine(std::function<void(const Visit&)> with_members, std::function<std::string()> own_metrics,
              std::string topic)
      : with_members_(std::move(with_members)), own_metrics_(std::move(own_metrics)), topic_(std::move(topic)) {}

  Status Ingest(std::string_view stream, std::string_view, uint32_t, IngestCallback) override {
    return InvalidArgument("stream '" + std::string(stream) +
                           "': in a group of instances events come from kafka topic " + topic_ +
                           " (docs/SCALE_OUT.md)");
  }
  Status IngestRows(std::string_view stream, const RowBatch&, uint32_t, IngestCallback) override {
    return Ingest(stream, {}, 0, nullptr);
  }
  std::vector<StreamInfo> ListStreams() const override {
    std::vector<StreamInfo> out;
    with_members_([&](const std::map<int32_t, Engine*>& m) {
      for (const auto& [k, e] : m) {
        std::vector<StreamInfo> one = e->ListStreams();
        if (out.empty()) {
          out = one;
          for (StreamInfo& s : out) s.partitions.clear();
        }
        for (size_t i = 0; i < one.size() && i < out.size(); ++i) {
          for (PartitionInfo p : one[i].partitions) {
            p.partition = static_cast<uint32_t>(k);
            out[i].partitions.push_back(p);
          }
        }
      }
    });
    return out;
  }
  Status ReadEvents(std::string_view stream, uint32_t partition, uint64_t from, uint32_t limit,
                    std::string* out) const override {
    Status st = NotHere(partition);
    with_members_([&](const std::map<int32_t, Engine*>& m) {
      auto it = m.find(static_cast<int32_t>(partition));
      if (it != m.end()) st = it->second->ReadEvents(stream, 0, from, limit, out);
    });
    return st;
  }
  Result<RowsRead> ReadRows(std::string_view stream, uint32_t partition, uint64_t from, uint32_t limit) const override {
    Result<RowsRead> r = NotHere(partition);
    with_members_([&](const std::map<int32_t, Engine*>& m) {
      auto it = m.find(static_cast<int32_t>(partition));
      if (it != m.end()) r = it->second->ReadRows(stream, 0, from, limit);
    });
    return r;
  }
  // Not transient (kFailedPrecondition: a client must not retry it): the members' waits are not
  // combined into one.
  Status WaitReadable(std::string_view, std::vector<uint64_t>, uint32_t,  // NOLINT(performance-unnecessary-value-param)
                      ReadableCallback) override {                        // NOLINT(performance-unnecessary-value-param)
    return FailedPrecondition(
        "an instance of a group does not wait for events (wait_ms, impulse tail --follow): read without waiting "
        "(docs/HTTP_API.md)");
  }
  std::string MetricsText() const override {
    std::map<std::string, std::string> heads, samples;
    std::vector<std::string> order;
    with_members_([&](const std::map<int32_t, Engine*>& m) {
      for (const auto& [k, e] : m) MergeExposition(e->MetricsText(), k, &heads, &samples, &order);
    });
    std::string out = own_metrics_();
    for (const std::string& f : order) out += heads[f] + samples[f];
    return out;
  }
  std::vector<StageLatency> StageLatencies() const override { return {}; }
  Status WaitForPipelines(int64_t timeout_ms) const override {
    Status st;
    with_members_([&](const std::map<int32_t, Engine*>& m) {
      for (const auto& [k, e] : m) {
        if (st.ok()) st = e->WaitForPipelines(timeout_ms);
      }
    });
    return st;
  }
  Status Stop() override { return Status::OK(); }  // the group stops its members
  uint32_t shard_count() const override { return 1; }
  Status EndOfInput(std::string_view) override {
    return FailedPrecondition("a group's input is its kafka topic: it has no end");
  }
  Result<uint64_t> CheckpointNow() override {
    Result<uint64_t> last = FailedPrecondition("this instance runs no partition");
    with_members_([&](const std::map<int32_t, Engine*>& m) {
      for (const auto& [k, e] : m) last = e->CheckpointNow();
    });
    return last;
  }
  // Each entity from the member that has it (an entity lives in the partition its key is in).
  Status LookupFeatures(std::string_view view, const std::vector<std::string_view>& entities, std::string* out,
                        size_t* found) const override {
    Status st;
    *found = 0;
    with_members_([&](const std::map<int32_t, Engine*>& m) {
      if (m.empty()) {
        st = Unavailable("this instance runs no partition of the group yet");
        return;
      }
      for (size_t i = 0; i < entities.size() && st.ok(); ++i) {
        std::string best;
        for (const auto& [k, e] : m) {
          std::string one;
          size_t f = 0;
          st = e->LookupFeatures(view, {entities[i]}, &one, &f);
          if (!st.ok()) return;
          if (best.empty() || f > 0) best = one;
          if (f > 0) {
            ++*found;
            break;
          }
        }
        if (i > 0) out->push_back(',');
        out->append(best);
      }
    });
    return st;
  }
  void set_topic(std::string topic) { topic_ = std::move(topic); }
  std::vector<std::string> FeatureViews() const override {
    std::vector<std::string> out;
    with_members_([&](const std::map<int32_t, Engine*>& m) {
      if (!m.empty()) out = m.begin()->second->FeatureViews();
    });
    return out;
  }

 private:
  Status NotHere(uint32_t partition) const {
    return NotFound("partition " + std::to_string(partition) +
                    " is not run by this instance of the group (see impulse_group_members and its partition labels)");
  }
  std::function<void(const Visit&)> with_members_;
  std::function<std::string()> own_metrics_;
  std::string topic_;
};

class GroupImpl final : public Group, public server::GroupLookups {
 public:
  explicit GroupImpl(GroupOptions o)
      : opts_(std::move(o)),
        engine_(
            [this](const GroupEngine::Visit& visit) {
              std::lock_guard<std::mutex> l(mu_);
              std::map<int32_t, Engine*> m;
              for (const auto& [k, mem] : members_) m[k] = mem->engine.get();
              visit(m);
            },
            [this] { return OwnMetrics(); }, "") {}
  Engine* engine() override { return &engine_; }
  server::GroupLookups* lookups() override { return this; }

  void Advertise(std::string url) override {
    {
      std::lock_guard<std::mutex> l(url_mu_);
      url_ = std::move(url);
    }
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [k, m] : members_) {
      std::lock_guard<std::mutex> ml(m->mu);
      m->owner_due = true;
      m->cv.notify_all();
    }
  }

  std::string AdvertisedUrl() const {
    std::lock_guard<std::mutex> l(url_mu_);
    return url_;
  }

  // Features from the members here; the entities none of them has, from the other instances.
  Status LookupFeatures(std::string_view view, const std::vector<std::string_view>& entities,
                        const std::optional<std::string>& forwarded, std::string* out, size_t* found) override {
    if (entities.size() > Engine::kFeatureLookupBatchMax) {
      return InvalidArgument("more than " + std::to_string(Engine::kFeatureLookupBatchMax) + " entities in one lookup");
    }
    std::vector<std::string> text(entities.size());  // each entity's object
    std::vector<bool> has(entities.size(), false);
    std::set<int32_t> local;  // the partitions whose members were asked
    {
      // One hold of the lock: the members asked are exactly `local` (none stops meanwhile).
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& [k, m] : members_) local.insert(k);
      for (size_t i = 0; i < entities.size() && !members_.empty(); ++i) {
        for (const auto& [k, m] : members_) {
          std::string one;
          size_t f = 0;
          RETURN_IF_ERROR(m->engine->LookupFeatures(view, {entities[i]}, &one, &f));
          if (text[i].empty() || f > 0) text[i] = std::move(one);
          if (f > 0) {
            has[i] = true;
            break;
          }
        }
      }
    }
    if (forwarded) RETURN_IF_ERROR(RunsAll(local, *forwarded));
    std::vector<size_t> missing;
    for (size_t i = 0; i < entities.size(); ++i) {
      if (!has[i]) missing.push_back(i);
    }
    std::string uncovered;
    if (!missing.empty() && !forwarded) {
      // One batch of the missing entities to each instance that runs partitions not run here.
      const std::string path = "/v1/features/" + PercentEncode(view) + ":batch";
      Status failed;
      uncovered = Ask(
          local, "POST", path,
          [&] {
            std::string body = "{\"entities\":[";
            for (size_t j = 0; j < missing.size(); ++j) {
              if (j > 0) body.push_back(',');
              if (!has[missing[j]])
                AppendJsonString(entities[missing[j]], &body);
              else
                body.append("\"\"");  // found meanwhile: a placeholder keeps the positions
            }
            return body + "]}";
          },
          [&](const action::HttpResponse& r) -> Outcome {
            if (r.status == 404) {
              failed = NotFound("feature view '" + std::string(view) + "': " + r.body);
              return kNotFound;
            }
            if (r.status != 200) return kError;
            simdjson::dom::parser parser;
            simdjson::dom::array results;
            if (parser.parse(r.body).get_object()["results"].get_array().get(results) != simdjson::SUCCESS ||
                results.size() != missing.size()) {
              return kError;
            }
            Outcome outcome = kNotFound;
            size_t j = 0;
            for (simdjson::dom::element e : results) {
              const size_t i = missing[j++];
              bool is_found = false;
              if (e["found"].get_bool().get(is_found) != simdjson::SUCCESS) return kError;
              if (has[i]) continue;
              if (is_found) {
                text[i] = simdjson::minify(e);
                has[i] = true;
                outcome = kFound;
              } else if (text[i].empty()) {
                text[i] = simdjson::minify(e);
              }
            }
            return outcome;
          },
          [&] { return std::all_of(missing.begin(), missing.end(), [&](size_t i) { return has[i]; }); });
      RETURN_IF_ERROR(failed);
    }
    size_t n_found = 0;
    std::string not_found;
    for (size_t i = 0; i < entities.size(); ++i) {
      if (has[i]) {
        ++n_found;
      } else if (not_found.empty()) {
        not_found = "'" + std::string(entities[i]) + "'";
      }
    }
    if (n_found < entities.size() && !uncovered.empty()) {
      // Never a guess: an entity may be on a partition nobody could be asked about.
      return Unavailable("feature view '" + std::string(view) + "': entity " + not_found +
                         " not found on the partitions reached; " + uncovered);
    }
    for (size_t i = 0; i < entities.size(); ++i) {
      if (i > 0) out->push_back(',');
      if (text[i].empty()) {
        // No instance answered for it (there is no partition left to ask): not found.
        text[i] = "{\"entity\":";
        AppendJsonString(entities[i], &text[i]);
        text[i] += ",\"found\":false,\"features\":null,\"reason\":\"unknown entity\"}";
      }
      out->append(text[i]);
    }
    if (found != nullptr) *found = n_found;
    return Status::OK();
  }

  // The decision records of an event id: from the members here, else from the other instances
  // (the id does not tell the partition: every other owner is asked, the first that has it wins).
  Result<size_t> LookupDecisions(std::string_view stream, std::string_view event_id,
                                 const std::optional<std::string>& forwarded, std::string* out) override {
    std::string reason;
    std::set<int32_t> local;  // the partitions whose members were asked
    {
      std::lock_guard<std::mutex> l(mu_);  // members are not stopped while they are read
      for (const auto& [k, m] : members_) local.insert(k);
      for (const auto& [k, m] : members_) {
        std::string one;
        Result<size_t> r = m->decisions->Lookup(stream, event_id, &one);
        if (r.ok() && *r > 0) {
          out->append(one);
          return r;
        }
        if (r.ok()) continue;
        // An unknown stream, or one that is not a decision log, is so everywhere: said at once.
        if (r.status().code() != StatusCode::kNotFound ||
            r.status().message().find("no decision for event id") == std::string::npos) {
          return r.status();
        }
        if (reason.empty()) reason = std::string(r.status().message());
      }
    }
    if (forwarded) {
      RETURN_IF_ERROR(RunsAll(local, *forwarded));
      return NotFound(reason.empty() ? "no decision for event id '" + std::string(event_id) + "'" : reason);
    }
    size_t n = 0;
    const std::string path = "/v1/decisions/" + PercentEncode(stream) + "/" + PercentEncode(event_id);
    const std::string uncovered = Ask(
        local, "GET", path, [] { return std::string(); },
        [&](const action::HttpResponse& r) -> Outcome {
          if (r.status == 404) {
            if (reason.empty()) reason = r.body;
            return kNotFound;
          }
          if (r.status != 200) return kError;
          simdjson::dom::parser parser;
          simdjson::dom::array records;
          if (parser.parse(r.body).get_object()["records"].get_array().get(records) != simdjson::SUCCESS) {
            return kError;
          }
          if (n > 0 || records.size() == 0) return kNotFound;
          for (simdjson::dom::element e : records) {
            if (n++ > 0) out->push_back(',');
            out->append(simdjson::minify(e));
          }
          return kFound;
        },
        [&] { return n > 0; });
    if (n > 0) return n;
    if (!uncovered.empty()) {
      return Unavailable("decision log '" + std::string(stream) + "': event id '" + std::string(event_id) +
                         "' not found on the partitions reached; " + uncovered);
    }
    return NotFound("no decision for event id '" + std::string(event_id) + "' in stream '" + std::string(stream) +
                    "' on any instance of the group" + (reason.empty() ? "" : " (" + reason + ")"));
  }
  ~GroupImpl() override {
    try {
      (void)Stop();
    } catch (...) {
      LogError("stop", "group: stop failed with an exception");
    }
  }

  Status Init() {
    ASSIGN_OR_RETURN(plan::LogicalPlan plan, plan::CompileSpecFile(opts_.spec_path, nullptr));
    kdef_ = plan.kafka;
    if (kdef_.state_topic.empty()) return InvalidArgument("the spec's kafka has no state_topic: not a group");
    // What every member would refuse, said once here.
    if (opts_.engine.state_rocksdb)
      return InvalidArgument("a group keeps member state in memory (no --state rocksdb yet)");
    if (opts_.engine.checkpoint_interval_ms <= 0) return InvalidArgument("a group needs checkpoints");
    if (opts_.engine.restore_checkpoint_id >= 0) {
      return InvalidArgument("a group restores each partition from its state topic (no --from-checkpoint)");
    }
    topic_ = kdef_.sources.front().topic;
    engine_.set_topic(topic_);
    ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(kdef_, {{"group.id", kdef_.group},
                                                    {"enable.auto.commit", "false"},
                                                    {"enable.auto.offset.store", "false"},
                                                    {"partition.assignment.strategy", "cooperative-sticky"}}));
    rd_kafka_conf_set_rebalance_cb(conf.get(), &GroupImpl::OnRebalance);
    rd_kafka_conf_set_error_cb(conf.get(), OnError);
    rd_kafka_conf_set_log_cb(conf.get(), OnLog);
    rd_kafka_conf_set_opaque(conf.get(), &errors_);
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err));
    if (rk == nullptr) return InvalidArgument(std::string("kafka group: ") + err);
    (void)conf.release();
    consumer_.reset(rk);
    ASSIGN_OR_RETURN(partitions_, TopicPartitions(rk, kdef_, topic_, &errors_));
    Result<int> sp = TopicPartitions(rk, kdef_, kdef_.state_topic, &errors_);
    if (!sp.ok() || *sp < partitions_) {
      return FailedPrecondition(
          "kafka state_topic " + kdef_.state_topic + ": " +
          (sp.ok() ? "has " + std::to_string(*sp) + " partitions" : std::string(sp.status().message())) +
          "; create it compacted (cleanup.policy=compact) with at least " + std::to_string(partitions_) +
          " partitions, as many as topic " + topic_);
    }
    // The topics that move re-keyed streams between members (created by the operator, like the
    // state topic: a member of partition k reads their partition k).
    plan.kafka.group_partitions = partitions_;
    for (const std::string& t : plan::PlanRepartitions(&plan)) {
      Result<int> n = TopicPartitions(rk, kdef_, t, &errors_);
      if (!n.ok() || *n != partitions_) {
        return FailedPrecondition(
            "kafka topic " + t + " (a key_by of the spec moves its stream through it): " +
            (n.ok() ? "has " + std::to_string(*n) + " partitions" : std::string(n.status().message())) +
            "; create it with " + std::to_string(partitions_) + " partitions, as many as topic " + topic_ +
            " (docs/SCALE_OUT.md)");
      }
    }
    {
      std::lock_guard<std::mutex> l(registry_mu());
      registry()[rk] = this;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic_.c_str(), RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t se = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (se != RD_KAFKA_RESP_ERR_NO_ERROR)
      return Unavailable(std::string("kafka group: subscribe: ") + rd_kafka_err2str(se));
    poller_ = std::thread([this] { Poll(); });
    return Status::OK();
  }

  Status Stop() override {
    if (stopped_.exchange(true)) return Status::OK();
    stop_.store(true, std::memory_order_release);
    if (poller_.joinable()) poller_.join();
    // Members stop first, while this instance still holds their partitions (their last snapshots
    // are written before anyone else can start them); leaving the group then hands them over.
    std::vector<int32_t> running;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& [k, m] : members_) running.push_back(k);
    }
    for (int32_t k : running) StopMember(k, /*graceful=*/true);
    if (consumer_) {
      rd_kafka_consumer_close(consumer_.get());
      {
        std::lock_guard<std::mutex> l(registry_mu());
        registry().erase(consumer_.get());
      }
      consumer_.reset();
    }
    return Status::OK();
  }

  Status failure() const override {
    std::lock_guard<std::mutex> l(mu_);
    return failure_;
  }

  std::vector<MemberInfo> Members() const override {
    std::vector<MemberInfo> out;
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [k, m] : members_) {
      std::lock_guard<std::mutex> ml(m->mu);
      out.push_back(m->info);
    }
    return out;
  }

  std::string MetricsText() const override { return engine_.MetricsText(); }

  std::string OwnMetrics() const {
    std::string out;
    auto line = [&](const char* name, const char* help, const char* type, const std::string& labels, double v) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + labels + " " +
             std::to_string(v) + "\n";
    };
    line("impulse_group_rebalances_total", "Assignments and revocations seen by this instance.", "counter", "",
         static_cast<double>(rebalances_.load()));
    line("impulse_group_members", "Partitions this instance runs.", "gauge", "", static_cast<double>(Members().size()));
    line("impulse_group_snapshots_written_total", "Member snapshots written to the state topic.", "counter", "",
         static_cast<double>(snapshots_written_.load()));
    line("impulse_group_snapshot_bytes_total", "Bytes of member snapshots written to the state topic.", "counter", "",
         static_cast<double>(snapshot_bytes_.load()));
    line("impulse_group_snapshots_failed_total", "Member snapshots not written (too large, or the write failed).",
         "counter", "", static_cast<double>(snapshots_failed_.load()));
    line("impulse_group_member_start_failures_total", "Member starts that failed (retried).", "counter", "",
         static_cast<double>(start_failures_.load()));
    line("impulse_group_restore_fallbacks_total",
         "Restores that used an older snapshot because the newest manifest did not check out.", "counter", "",
         static_cast<double>(restore_fallbacks_.load()));
    line("impulse_group_owner_records_failed_total",
         "Owner records (where a partition's lookups go) not written to the state topic.", "counter", "",
         static_cast<double>(owner_writes_failed_.load()));
    out +=
        "# HELP impulse_group_lookups_forwarded_total Lookups asked of another instance of the group, by outcome.\n"
        "# TYPE impulse_group_lookups_forwarded_total counter\n";
    for (size_t i = 0; i < kOutcomes; ++i) {
      out += std::string("impulse_group_lookups_forwarded_total{outcome=\"") + kOutcomeNames[i] + "\"} " +
             std::to_string(forwarded_[i].load()) + "\n";
    }
    const std::vector<MemberInfo> members = Members();
    out +=
        "# HELP impulse_group_restore_seconds The last restore of a partition run here: fence, read, write, open.\n"
        "# TYPE impulse_group_restore_seconds gauge\n";
    for (const MemberInfo& m : members) {
      out += "impulse_group_restore_seconds{partition=\"" + std::to_string(m.partition) + "\"} " +
             std::to_string(m.restore_ms / 1000.0) + "\n";
    }
    out +=
        "# HELP impulse_group_restore_bytes Bytes of the snapshot the last restore of a partition run here read.\n"
        "# TYPE impulse_group_restore_bytes gauge\n";
    for (const MemberInfo& m : members) {
      out += "impulse_group_restore_bytes{partition=\"" + std::to_string(m.partition) + "\"} " +
             std::to_string(m.restored_bytes) + "\n";
    }
    return out;
  }

 private:
  static std::mutex& registry_mu() {
    static std::mutex mu;
    return mu;
  }
  static std::map<rd_kafka_t*, GroupImpl*>& registry() {
    static std::map<rd_kafka_t*, GroupImpl*> r;
    return r;
  }

  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list, void*) {
    GroupImpl* self = nullptr;
    {
      std::lock_guard<std::mutex> l(registry_mu());
      auto it = registry().find(rk);
      if (it != registry().end()) self = it->second;
    }
    if (self != nullptr) {
      self->Rebalance(err, list);
    } else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, list)) rd_kafka_error_destroy(e);
    } else if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, list)) {
      rd_kafka_error_destroy(e);
    }
  }

  void Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list) {
    rebalances_.fetch_add(1, std::memory_order_relaxed);
    rd_kafka_t* rk = consumer_.get();
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, list)) {
        LogError("rebalance", "group " + kdef_.group + ": assign: " + rd_kafka_error_string(e),
                 {{"group", kdef_.group}, {"error", rd_kafka_error_string(e)}});
        rd_kafka_error_destroy(e);
        return;
      }
      // The runner only holds the assignment; the members' own consumers read the records.
      (void)rd_kafka_pause_partitions(rk, list);
      std::lock_guard<std::mutex> l(mu_);
      for (int i = 0; i < list->cnt; ++i) wanted_.insert(list->elems[i].partition);
      return;
    }
    // Revoked (or lost, when this instance was too slow to heartbeat: then another owner may
    // already run the partition, and fencing stops whatever this one would still write).
    const bool lost = rd_kafka_assignment_lost(rk) != 0;
    for (int i = 0; i < list->cnt; ++i) {
      const int32_t k = list->elems[i].partition;
      {
        std::lock_guard<std::mutex> l(mu_);
        wanted_.erase(k);
      }
      StopMember(k, /*graceful=*/!lost);
    }
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, list)) rd_kafka_error_destroy(e);
  }

  void Poll() {
    std::map<int32_t, int64_t> retry_at;
    while (!stop_.load(std::memory_order_acquire)) {
      if (rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_.get(), 100)) {
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          LogWarn("group_state", "group " + kdef_.group + ": " + rd_kafka_message_errstr(m),
                  {{"group", kdef_.group}, {"error", rd_kafka_message_errstr(m)}});
        }
        rd_kafka_message_destroy(m);
      }
      std::vector<int32_t> start;
      std::vector<int32_t> broken;
      {
        std::lock_guard<std::mutex> l(mu_);
        for (int32_t k : wanted_) {
          if (members_.count(k) == 0) start.push_back(k);
        }
        for (const auto& [k, m] : members_) {
          std::lock_guard<std::mutex> ml(m->mu);
          if (m->fenced) broken.push_back(k);
        }
      }
      for (int32_t k : broken) {
        LogWarn("rebalance",
                "group " + kdef_.group + ": partition " + std::to_string(k) +
                    ": its state producer failed; restarting it in 5 s",
                {{"group", kdef_.group}, {"partition", k}});
        StopMember(k, /*graceful=*/false);
        retry_at[k] = WallMs() + 5000;
      }
      if (!failure().ok()) continue;  // given up: polled until the owner stops the group
      for (int32_t k : start) {
        if (WallMs() < retry_at[k]) continue;
        bool from_snapshot = false;
        Status st = StartMember(k, &from_snapshot);
        if (!st.ok() && !from_snapshot &&
            (st.code() == StatusCode::kInvalidArgument || st.code() == StatusCode::kFailedPrecondition)) {
          // The spec or the topics are wrong for a member (with no snapshot involved): no retry
          // fixes that, and holding the partition would keep every other instance from running
          // it. This instance gives up; a snapshot that fails is the partition's problem, retried.
          start_failures_.fetch_add(1, std::memory_order_relaxed);
          LogError("rebalance",
                   "group " + kdef_.group + ": partition " + std::to_string(k) + ": " + st.ToString() +
                       "; this instance leaves the group",
                   {{"group", kdef_.group}, {"partition", k}, {"error", st.ToString()}});
          std::lock_guard<std::mutex> l(mu_);
          failure_ = st.WithContext("partition " + std::to_string(k));
          break;
        }
        if (!st.ok()) {
          start_failures_.fetch_add(1, std::memory_order_relaxed);
          retry_at[k] = WallMs() + 2000;
          LogWarn(
              "rebalance",
              "group " + kdef_.group + ": partition " + std::to_string(k) + ": " + st.ToString() + " (retried in 2 s)",
              {{"group", kdef_.group}, {"partition", k}, {"error", st.ToString()}});
        }
        if (stop_.load(std::memory_order_acquire)) break;
      }
    }
  }

  Status StartMember(int32_t k, bool* from_snapshot) {
    const int64_t t0 = WallMs();
    auto m = std::make_unique<Member>();
    m->k = k;
    // Fence first: whatever an older owner left open is aborted, so the newest committed
    // snapshot read next is the last one it will ever have written.
    ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(kdef_, {{"transactional.id", kdef_.group + ".state.p" + std::to_string(k)},
                                                    {"enable.idempotence", "true"},
                                                    {"acks", "all"}}));
    ASSIGN_OR_RETURN(m->producer, NewHandle(RD_KAFKA_PRODUCER, std::move(conf), &m->errors,
                                            "kafka group state producer p" + std::to_string(k)));
    if (rd_kafka_error_t* e =
            rd_kafka_init_transactions(m->producer.get(), static_cast<int>(kdef_.connect_timeout_ms))) {
      Status st = Unavailable(std::string("state topic init_transactions: ") + rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      return st;
    }
    std::optional<MemberSnapshot> snap;
    RETURN_IF_ERROR(ReadSnapshot(k, &snap));
    *from_snapshot = snap.has_value();
    const std::string dir = opts_.engine.data_dir + "/member-" + std::to_string(k);
    MemberSnapshot empty;
    RETURN_IF_ERROR(WriteMemberSnapshot(dir, snap ? *snap : empty, opts_.engine.env));
    EngineOptions eo = opts_.engine;
    eo.data_dir = dir;
    eo.kafka_member_partition = k;
    eo.kafka_group_partitions = partitions_;
    eo.member_snapshot_bytes_max = opts_.snapshot_bytes_max;
    Member* mp = m.get();
    eo.on_member_snapshot = [mp](MemberSnapshot s) { mp->Offer(std::move(s)); };
    m->publisher = std::thread([this, mp] { Publish(mp); });
    Result<std::unique_ptr<Engine>> engine = Engine::Open(opts_.spec_path, eo);
    if (!engine.ok()) {
      {
        std::lock_guard<std::mutex> l(m->mu);
        m->stopping = true;
        m->cv.notify_all();
      }
      m->publisher.join();
      return engine.status().WithContext("member engine");
    }
    {
      std::lock_guard<std::mutex> l(m->mu);
      m->engine = std::move(engine).value();
      // Snapshots written while the engine was opening could not release their outputs yet.
      if (m->info.published_checkpoint > 0) m->engine->ReleaseExports(m->info.published_checkpoint);
      m->decisions = std::make_shared<server::DecisionIndexSet>(m->engine.get());
      // Once it can answer, the member says where its partition's lookups go.
      m->owner_due = !AdvertisedUrl().empty();
      m->cv.notify_all();
      m->info.partition = k;
      m->info.restored_checkpoint = snap ? snap->checkpoint_id : 0;
      m->info.restored_bytes = snap ? snap->bytes() : 0;
      m->info.restore_ms = WallMs() - t0;
    }
    const uint64_t snap_bytes = snap ? snap->bytes() : 0;
    const int64_t start_ms = WallMs() - t0;
    LogInfo("rebalance",
            "group " + kdef_.group + ": partition " + std::to_string(k) + " started from " +
                (snap ? "checkpoint " + std::to_string(snap->checkpoint_id) : "the beginning (no snapshot)") + " (" +
                std::to_string(snap_bytes) + " bytes) in " + std::to_string(start_ms) + " ms",
            {{"group", kdef_.group},
             {"partition", k},
             {"change", "started"},
             {"checkpoint", snap ? static_cast<int64_t>(snap->checkpoint_id) : int64_t{-1}},
             {"snapshot_bytes", snap_bytes},
             {"duration_ms", start_ms}});
    std::lock_guard<std::mutex> l(mu_);
    members_[k] = std::move(m);
    return Status::OK();
  }

  // Graceful: a last checkpoint, its snapshot written, the outputs it releases exported
  // (the engine's stop exports them for at most 5 s), then the engine stops.
  void StopMember(int32_t k, bool graceful) {
    std::unique_ptr<Member> m;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = members_.find(k);
      if (it == members_.end()) return;
      m = std::move(it->second);
      members_.erase(it);
    }
    if (graceful) {
      Result<uint64_t> id = m->engine->CheckpointNow();
      if (id.ok()) {
        std::unique_lock<std::mutex> l(m->mu);
        m->cv.wait_for(l, std::chrono::milliseconds(kdef_.connect_timeout_ms + 30'000),
                       [&] { return m->fenced || m->info.published_checkpoint >= *id; });
      } else {
        LogWarn("checkpoint_failed",
                "group " + kdef_.group + ": partition " + std::to_string(k) +
                    ": last checkpoint: " + id.status().ToString(),
                {{"group", kdef_.group}, {"partition", k}, {"error", id.status().ToString()}});
      }
    }
    Status st = m->engine->Stop();
    if (!st.ok()) {
      LogError("rebalance", "group " + kdef_.group + ": partition " + std::to_string(k) + ": stop: " + st.ToString(),
               {{"group", kdef_.group}, {"partition", k}, {"error", st.ToString()}});
    }
    {
      std::lock_guard<std::mutex> l(m->mu);
      m->stopping = true;
      m->cv.notify_all();
    }
    m->publisher.join();
    m->engine.reset();
    LogInfo("rebalance",
            "group " + kdef_.group + ": partition " + std::to_string(k) + " stopped (" +
                (graceful ? "revoked" : "lost") + ")",
            {{"group", kdef_.group}, {"partition", k}, {"change", graceful ? "revoked" : "lost"}});
  }

  // Reads the newest committed snapshot of partition k from state topic partition k: windows
  // back from its end, widened until one holds a complete snapshot (its chunks, then its
  // manifest), so the cost follows the snapshot's size, not the partition's history.
  Status ReadSnapshot(int32_t k, std::optional<MemberSnapshot>* out) {
    ErrorLog log;
    ASSIGN_OR_RETURN(HandlePtr rk, NewStateReader(&log));
    Scan scan;
    Status st = ReadBack(
        rk.get(), k, 256, std::max<int64_t>(kdef_.connect_timeout_ms, 30'000), [&] { scan = Scan(); },
        [&](std::string_view key, std::string_view value, int64_t offset) {
          VisitSnapshot(k, key, value, offset, &scan);
        },
        [&] { return scan.best_id > 0; });
    rd_kafka_consumer_close(rk.get());
    RETURN_IF_ERROR(st);
    if (scan.best_id == 0) {
      // A manifest that never checked out is not "no snapshot": starting over would repeat
      // everything the partition already exported.
      if (!scan.invalid.empty()) return DataLoss(scan.invalid);
      return Status::OK();
    }
    if (!scan.invalid.empty()) {
      // A newer manifest did not check out: the older snapshot is used, which repeats what was
      // exported after it. Said and counted, never silent.
      restore_fallbacks_.fetch_add(1, std::memory_order_relaxed);
      LogWarn("recovery",
              "group " + kdef_.group + ": partition " + std::to_string(k) + ": " + scan.invalid +
                  "; restoring the older checkpoint " + std::to_string(scan.best_id),
              {{"group", kdef_.group}, {"partition", k}, {"checkpoint", scan.best_id}, {"invalid", scan.invalid}});
    }
    ASSIGN_OR_RETURN(MemberSnapshot snap, DecodeSnapshot(scan.best));
    if (snap.checkpoint_id != scan.best_id) return DataLoss("state topic: snapshot id differs from its manifest's");
    *out = std::move(snap);
    return Status::OK();
  }

  Result<HandlePtr> NewStateReader(ErrorLog* log) {
    ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(kdef_, {{"group.id", kdef_.group + ".state-reader"},
                                                    {"enable.auto.commit", "false"},
                                                    {"enable.partition.eof", "true"},
                                                    {"isolation.level", "read_committed"},
                                                    // A read back to a known end: no long fetch waits.
                                                    {"fetch.wait.max.ms", "10"}}));
    return NewHandle(RD_KAFKA_CONSUMER, std::move(conf), log, "kafka group state reader");
  }

  using RecordFn = std::function<void(std::string_view key, std::string_view value, int64_t offset)>;

  // Reads state partition k back from its end: the last `window` records, then windows widened
  // 8x, until `enough()` after one or a window reached the partition's start. `begin` runs before
  // each window, `visit` sees each record of it in order; each window may take `timeout_ms`.
  Status ReadBack(rd_kafka_t* rk, int32_t k, int64_t window, int64_t timeout_ms, const std::function<void()>& begin,
                  const RecordFn& visit, const std::function<bool()>& enough) {
    int64_t lo = 0;
    int64_t hi = 0;
    const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        rk, kdef_.state_topic.c_str(), k, &lo, &hi,
        static_cast<int>(std::min<int64_t>(kdef_.connect_timeout_ms, std::max<int64_t>(timeout_ms, 1))));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Unavailable("state topic " + kdef_.state_topic + " partition " + std::to_string(k) + ": " +
                         rd_kafka_err2str(err));
    }
    for (; hi > lo; window *= 8) {
      const int64_t from = std::max(lo, hi - window);
      begin();
      RETURN_IF_ERROR(ScanRange(rk, k, from, hi, timeout_ms, visit));
      if (enough() || from == lo) break;
    }
    return Status::OK();
  }

  struct Scan {
    uint64_t chunk_id = 0;                   // the generation of the chunks being collected
    std::map<uint32_t, std::string> chunks;  // of chunk_id
    uint64_t chunk_bytes = 0;
    uint64_t best_id = 0;  // the newest complete snapshot
    std::string best;
    std::string invalid;  // the last manifest that did not check out, said
  };

  // Reads [from, hi) of state partition k, each record to `visit`.
  Status ScanRange(rd_kafka_t* rk, int32_t k, int64_t from, int64_t hi, int64_t timeout_ms, const RecordFn& visit) {
    const char* topic = kdef_.state_topic.c_str();
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, k)->offset = from;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return Unavailable(std::string("state topic assign: ") + rd_kafka_err2str(err));
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    const std::string where = "state topic " + kdef_.state_topic + " partition " + std::to_string(k);
    for (bool done = false; !done;) {
      if (Clock::now() > deadline) return Unavailable(where + ": not read to its end in time");
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        // Transaction markers take offsets: the end is reached when the position is.
        done = PositionReached(rk, kdef_.state_topic, k, hi) || m->offset >= hi;
        rd_kafka_message_destroy(m);
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        Status st = Unavailable(where + ": " + rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return st;
      }
      visit(std::string_view(static_cast<const char*>(m->key), m->key == nullptr ? 0 : m->key_len),
            std::string_view(static_cast<const char*>(m->payload), m->payload == nullptr ? 0 : m->len), m->offset);
      done = m->offset + 1 >= hi;
      rd_kafka_message_destroy(m);
    }
    return Status::OK();
  }

  // One record of state partition k for a snapshot: its chunks under p<k>/<i>, its manifest
  // under p<k>; other keys (the owner record) are not the snapshot's.
  void VisitSnapshot(int32_t k, std::string_view key, std::string_view value, int64_t offset, Scan* scan) {
    const std::string mkey = ManifestKey(k);
    const std::string cprefix = mkey + "/";
    const uint64_t max_chunks = opts_.snapshot_bytes_max / 1024 + 2;
    uint64_t index = 0;
    uint64_t id = 0;
    if (key.substr(0, cprefix.size()) == cprefix && ParseDecimal(key.substr(cprefix.size()), &index) &&
        GetFixed64(&value, &id)) {
      if (id != scan->chunk_id) {
        scan->chunks.clear();
        scan->chunk_bytes = 0;
        scan->chunk_id = id;
      }
      // Bounded: a snapshot is at most snapshot_bytes_max (what is beyond cannot be one).
      if (index < max_chunks && scan->chunk_bytes + value.size() <= opts_.snapshot_bytes_max) {
        scan->chunk_bytes += value.size();
        scan->chunks[static_cast<uint32_t>(index)] = std::string(value);
      }
    } else if (key == mkey) {
      Status st = Complete(std::string(value), scan);
      if (!st.ok())
        scan->invalid = "state topic " + kdef_.state_topic + " partition " + std::to_string(k) + " offset " +
                        std::to_string(offset) + ": " + std::string(st.message());
      // The chunks before a manifest are its own: the next snapshot's start afresh.
      scan->chunks.clear();
      scan->chunk_bytes = 0;
      scan->chunk_id = 0;
    }
  }

  // A manifest: the chunks collected before it form a snapshot if they match it.
  Status Complete(const std::string& manifest, Scan* scan) {
    unsigned long long id = 0, n = 0, size = 0;
    unsigned crc = 0;
    char extra = 0;
    if (std::sscanf(manifest.c_str(), "%llu %llu %llu %x%c", &id, &n, &size, &crc, &extra) != 4 || id == 0) {
      return DataLoss("unreadable manifest '" + manifest.substr(0, 64) + "'");
    }
    if (size > opts_.snapshot_bytes_max || n == 0 || n > size / 1024 + 1) {
      return DataLoss("manifest of checkpoint " + std::to_string(id) + " claims " + std::to_string(size) +
                      " bytes in " + std::to_string(n) + " records (limit " + std::to_string(opts_.snapshot_bytes_max) +
                      " bytes)");
    }
    if (scan->chunk_id != id) return DataLoss("manifest of checkpoint " + std::to_string(id) + " without its records");
    std::string data;
    data.reserve(size);
    for (uint32_t i = 0; i < n; ++i) {
      auto it = scan->chunks.find(i);
      if (it == scan->chunks.end()) {
        return DataLoss("checkpoint " + std::to_string(id) + ": record " + std::to_string(i) + " missing");
      }
      if (data.size() + it->second.size() > size) break;
      data.append(it->second);
    }
    if (data.size() != size || Crc32c(data.data(), data.size()) != crc) {
      return DataLoss("checkpoint " + std::to_string(id) + ": size or checksum mismatch");
    }
    scan->best_id = id;
    scan->best = std::move(data);
    scan->invalid.clear();
    return Status::OK();
  }

  static bool ParseDecimal(std::string_view text, uint64_t* out) {
    if (text.empty() || text.size() > 9) return false;
    uint64_t v = 0;
    for (char c : text) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    *out = v;
    return true;
  }

  // The member's snapshots to the state topic, newest first; each written one releases its
  // checkpoint's outputs to the sinks. Also the member's owner record, when due without a
  // snapshot to carry it.
  void Publish(Member* m) {
    while (true) {
      std::optional<MemberSnapshot> pending;
      {
        std::unique_lock<std::mutex> l(m->mu);
        m->cv.wait(l, [&] { return m->stopping || m->pending.has_value() || m->owner_due; });
        if (!m->pending && m->stopping) return;
        pending = std::move(m->pending);
        m->pending.reset();
        m->owner_due = false;
        if (m->fenced) {
          if (pending) snapshots_failed_.fetch_add(1, std::memory_order_relaxed);  // the member is being restarted
          continue;
        }
      }
      if (!pending) {
        Status st = Transact(m, [](const ProduceFn&) { return Status::OK(); });
        if (!st.ok()) {
          owner_writes_failed_.fetch_add(1, std::memory_order_relaxed);
          LogWarn("group_state",
                  "group " + kdef_.group + ": partition " + std::to_string(m->k) +
                      ": owner record not written: " + st.ToString(),
                  {{"group", kdef_.group}, {"partition", m->k}, {"error", st.ToString()}});
        }
        continue;
      }
      const MemberSnapshot& s = *pending;
      const std::string data = EncodeSnapshot(s);
      Status st = data.size() > opts_.snapshot_bytes_max
                      ? ResourceExhausted("snapshot of " + std::to_string(data.size()) + " bytes, over the limit of " +
                                          std::to_string(opts_.snapshot_bytes_max))
                      : WriteSnapshot(m, s.checkpoint_id, data);
      if (!st.ok()) {
        snapshots_failed_.fetch_add(1, std::memory_order_relaxed);
        LogWarn(
            "group_state",
            "group " + kdef_.group + ": partition " + std::to_string(m->k) + " checkpoint " +
                std::to_string(s.checkpoint_id) + ": snapshot not written: " + st.ToString(),
            {{"group", kdef_.group}, {"partition", m->k}, {"checkpoint", s.checkpoint_id}, {"error", st.ToString()}});
        continue;
      }
      snapshots_written_.fetch_add(1, std::memory_order_relaxed);
      snapshot_bytes_.fetch_add(data.size(), std::memory_order_relaxed);
      std::lock_guard<std::mutex> l(m->mu);
      if (m->engine) m->engine->ReleaseExports(s.checkpoint_id);
      m->info.published_checkpoint = s.checkpoint_id;
      m->cv.notify_all();
    }
  }

  Status WriteSnapshot(Member* m, uint64_t id, const std::string& data) {
    return Transact(m, [&](const ProduceFn& produce) -> Status {
      const uint32_t chunk = std::max<uint32_t>(opts_.chunk_bytes, 1024);
      const uint32_t n = static_cast<uint32_t>((data.size() + chunk - 1) / chunk);
      for (uint32_t i = 0; i < n; ++i) {
        std::string value;
        PutFixed64(id, &value);
        value.append(data, static_cast<size_t>(i) * chunk, chunk);
        RETURN_IF_ERROR(produce(ChunkKey(m->k, i), value));
      }
      char manifest[96];
      std::snprintf(manifest, sizeof(manifest), "%llu %u %zu %08x", static_cast<unsigned long long>(id), n, data.size(),
                    Crc32c(data.data(), data.size()));
      return produce(ManifestKey(m->k), manifest);
    });
  }

  using ProduceFn = std::function<Status(const std::string& key, const std::string& value)>;

  // One transaction of member m's state producer on state partition k: what `fill` produces,
  // then the owner record (when this instance has a URL). The producer's id is the partition's,
  // so its init_transactions fenced every earlier owner: an owner record there is the current
  // owner's.
  Status Transact(Member* m, const std::function<Status(const ProduceFn&)>& fill) {
    rd_kafka_t* rk = m->producer.get();
    const int timeout = static_cast<int>(std::max<int64_t>(kdef_.connect_timeout_ms, 30'000));
    auto txn_error = [&](rd_kafka_error_t* e, const char* what) {
      Status st = Unavailable(std::string(what) + ": " + rd_kafka_error_string(e));
      if (rd_kafka_error_is_fatal(e) || rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED) {
        // The producer is done for: the runner stops the member and starts it again through the
        // normal path (fence, read, restore), unless the partition was taken from this instance.
        std::lock_guard<std::mutex> l(m->mu);
        m->fenced = true;
        m->cv.notify_all();
      } else if (rd_kafka_error_txn_requires_abort(e)) {
        if (rd_kafka_error_t* a = rd_kafka_abort_transaction(rk, timeout)) rd_kafka_error_destroy(a);
      }
      rd_kafka_error_destroy(e);
      return st;
    };
    if (rd_kafka_error_t* e = rd_kafka_begin_transaction(rk)) return txn_error(e, "begin_transaction");
    const ProduceFn produce = [&](const std::string& key, const std::string& value) -> Status {
      while (true) {
        rd_kafka_vu_t vu[5] = {};
        vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
        vu[0].u.cstr = kdef_.state_topic.c_str();
        vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
        vu[1].u.i32 = m->k;
        vu[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        vu[2].u.i = RD_KAFKA_MSG_F_COPY;
        vu[3].vtype = RD_KAFKA_VTYPE_KEY;
        vu[3].u.mem = {const_cast<char*>(key.data()), key.size()};  // copied, never written
        vu[4].vtype = RD_KAFKA_VTYPE_VALUE;
        vu[4].u.mem = {const_cast<char*>(value.data()), value.size()};
        rd_kafka_error_t* e = rd_kafka_produceva(rk, vu, 5);
        const rd_kafka_resp_err_t err = e == nullptr ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_error_code(e);
        if (e != nullptr) rd_kafka_error_destroy(e);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::OK();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return Unavailable(std::string("produce: ") + rd_kafka_err2str(err));
        rd_kafka_poll(rk, 10);
      }
    };
    Status st = fill(produce);
    if (const std::string url = AdvertisedUrl(); st.ok() && !url.empty()) {
      st = produce(OwnerKey(m->k), url + " " + std::to_string(WallMs()));
    }
    if (!st.ok()) {
      if (rd_kafka_error_t* a = rd_kafka_abort_transaction(rk, timeout)) rd_kafka_error_destroy(a);
      return st;
    }
    // A retriable commit error (a timeout) leaves the transaction committing: it must be retried,
    // else every later begin_transaction fails.
    for (int attempt = 1;; ++attempt) {
      rd_kafka_error_t* e = rd_kafka_commit_transaction(rk, timeout);
      if (e == nullptr) return Status::OK();
      if (!rd_kafka_error_is_retriable(e)) return txn_error(e, "commit_transaction");
      if (attempt >= kCommitAttempts) {
        // Still committing: no later transaction can begin on this producer. A restart's
        // init_transactions settles it.
        Status failed = txn_error(e, "commit_transaction");
        std::lock_guard<std::mutex> l(m->mu);
        m->fenced = true;
        m->cv.notify_all();
        return failed;
      }
      LogWarn("group_state",
              "group " + kdef_.group + ": partition " + std::to_string(m->k) +
                  ": commit_transaction: " + rd_kafka_error_string(e) + " (retried)",
              {{"group", kdef_.group}, {"partition", m->k}, {"error", rd_kafka_error_string(e)}});
      rd_kafka_error_destroy(e);
    }
  }

  // A forwarded lookup: the asker took this instance for the owner of `partitions` ("0,2");
  // kUnavailable unless it ran them all when asked (one moved: its not-found would be wrong).
  static Status RunsAll(const std::set<int32_t>& local, const std::string& partitions) {
    std::string missing;
    for (size_t at = 0; at < partitions.size();) {
      size_t comma = partitions.find(',', at);
      if (comma == std::string::npos) comma = partitions.size();
      const std::string one = partitions.substr(at, comma - at);
      at = comma + 1;
      uint64_t k = 0;
      if (!ParseDecimal(one, &k))
        return InvalidArgument("header Impulse-Forwarded: not a partition list: " + partitions);
      if (local.count(static_cast<int32_t>(k)) == 0) missing += (missing.empty() ? "" : ",") + one;
    }
    if (missing.empty()) return Status::OK();
    return Unavailable("partition " + missing + " is not run by this instance (any more, or yet)");
  }

  // Asks the owners of the partitions not run here (`local`): `method path` with body(), to each
  // distinct owner URL at once, each answer to `take` (its outcome counted). A round whose asked
  // owners did not all answer, or with partitions of no known owner, is repeated once with the
  // owners read again (an owner moved), unless `done()`. Returns the partitions nobody could be
  // asked about in the last round and why ("" when every partition was covered).
  std::string Ask(const std::set<int32_t>& local, const std::string& method, const std::string& path,
                  const std::function<std::string()>& body,
                  const std::function<Outcome(const action::HttpResponse&)>& take, const std::function<bool()>& done) {
    std::string uncovered;
    const std::string self = AdvertisedUrl();
    for (int round = 0; round < 2 && !done(); ++round) {
      const std::map<int32_t, Owner> owners = Owners(/*refresh=*/round > 0);
      uncovered.clear();
      std::map<std::string, std::vector<int32_t>> targets;
      for (int32_t k = 0; k < partitions_; ++k) {
        if (local.count(k) != 0) continue;
        auto it = owners.find(k);
        if (it == owners.end()) {
          uncovered +=
              "partition " + std::to_string(k) + ": no owner recorded in state topic " + kdef_.state_topic + "; ";
        } else if (it->second.url == self) {
          uncovered += "partition " + std::to_string(k) + ": starting or stopping on this instance; ";
        } else {
          targets[it->second.url].push_back(k);
        }
      }
      std::vector<action::HttpRequest> requests;
      std::vector<const std::pair<const std::string, std::vector<int32_t>>*> asked;
      const std::string text = body();
      for (const auto& target : targets) {
        action::HttpRequest q;
        q.method = method;
        q.url = target.first + path;
        std::string which;
        for (int32_t k : target.second) which += (which.empty() ? "" : ",") + std::to_string(k);
        q.headers[std::string(server::kForwardedHeader)] = which;
        if (!opts_.bearer_token.empty()) q.headers["Authorization"] = "Bearer " + opts_.bearer_token;
        if (!text.empty()) q.headers["Content-Type"] = "application/json";
        q.body = text;
        q.timeout_ms = opts_.forward_timeout_ms;
        q.response_bytes_max = 64ull << 20;
        requests.push_back(std::move(q));
        asked.push_back(&target);
      }
      const std::vector<action::HttpResponse> answers = FetchAll(std::move(requests));
      for (size_t i = 0; i < answers.size(); ++i) {
        const action::HttpResponse& r = answers[i];
        const Outcome o = r.error.ok() ? take(r) : kUnreachable;
        forwarded_[o].fetch_add(1, std::memory_order_relaxed);
        if (o == kFound || o == kNotFound) continue;
        std::string which;
        for (int32_t k : asked[i]->second) which += (which.empty() ? "" : ",") + std::to_string(k);
        const int64_t age_s = (WallMs() - owners.at(asked[i]->second.front()).at_ms) / 1000;
        uncovered += "partition " + which + ": owner " + asked[i]->first + " (recorded " + std::to_string(age_s) +
                     " s ago) " +
                     (o == kUnreachable ? "unreachable (" + std::string(r.error.message()) + ")"
                                        : "answered " + std::to_string(r.status) + " " + r.body.substr(0, 200)) +
                     "; ";
      }
      if (uncovered.empty()) break;
    }
    if (uncovered.size() >= 2) uncovered.resize(uncovered.size() - 2);
    return uncovered;
  }

  // The owner of each partition, as last read from the state topic: read again when older than
  // owners_cache_ms, or when `refresh` (a forward failed) and older than a second. A failed
  // read keeps the previous owners (said on stderr).
  std::map<int32_t, Owner> Owners(bool refresh) {
    std::lock_guard<std::mutex> l(owners_mu_);
    const int64_t now = WallMs();
    if (owners_at_ > 0 && now - owners_at_ < (refresh ? 1000 : opts_.owners_cache_ms)) return owners_;
    Result<std::map<int32_t, Owner>> read = ReadOwners();
    owners_at_ = now;
    if (read.ok()) {
      owners_ = std::move(*read);
    } else {
      LogWarn("group_state", "group " + kdef_.group + ": reading the partitions' owners: " + read.status().ToString(),
              {{"group", kdef_.group}, {"error", read.status().ToString()}});
    }
    return owners_;
  }

  // The last owner record of each state partition, read back from its end.
  Result<std::map<int32_t, Owner>> ReadOwners() {
    ErrorLog log;
    ASSIGN_OR_RETURN(HandlePtr rk, NewStateReader(&log));
    std::map<int32_t, Owner> out;
    Status st;
    for (int32_t k = 0; k < partitions_ && st.ok(); ++k) {
      const std::string key = OwnerKey(k);
      std::optional<Owner> owner;
      st = ReadBack(
          rk.get(), k, 4, opts_.owners_read_timeout_ms, [&] { owner.reset(); },
          [&](std::string_view rkey, std::string_view value, int64_t) {
            const size_t space = value.rfind(' ');
            if (rkey != key || space == std::string_view::npos) return;
            owner =
                Owner{std::string(value.substr(0, space)), std::atoll(std::string(value.substr(space + 1)).c_str())};
          },
          [&] { return owner.has_value(); });
      if (st.ok() && owner) out[k] = *owner;
    }
    rd_kafka_consumer_close(rk.get());
    RETURN_IF_ERROR(st);
    return out;
  }

  static constexpr int kCommitAttempts = 5;
  GroupOptions opts_;
  GroupEngine engine_;
  plan::KafkaDef kdef_;
  std::string topic_;
  int partitions_ = 0;
  ErrorLog errors_;
  HandlePtr consumer_;
  std::thread poller_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stopped_{false};
  mutable std::mutex mu_;
  std::set<int32_t> wanted_;                            // assigned to this instance
  Status failure_;                                      // set when this instance gives up
  std::map<int32_t, std::unique_ptr<Member>> members_;  // running
  std::atomic<uint64_t> rebalances_{0};
  std::atomic<uint64_t> snapshots_written_{0};
  std::atomic<uint64_t> snapshot_bytes_{0};
  std::atomic<uint64_t> snapshots_failed_{0};
  std::atomic<uint64_t> start_failures_{0};
  std::atomic<uint64_t> restore_fallbacks_{0};
  std::atomic<uint64_t> owner_writes_failed_{0};
  mutable std::mutex url_mu_;
  std::string url_;       // advertised (under url_mu_)
  std::mutex owners_mu_;  // held while the owners are read (one reader at a time)
  std::map<int32_t, Owner> owners_;
  int64_t owners_at_ = 0;  // wall ms of the last read; 0: never
  std::atomic<uint64_t> forwarded_[kOutcomes] = {};
};

}  // namespace

Result<std::unique_ptr<Group>> Group::Start(const GroupOptions& options) {
  auto g = std::make_unique<GroupImpl>(options);
  RETURN_IF_ERROR(g->Init());
  return std::unique_ptr<Group>(std::move(g));
}

}  // namespace impulse::connect
