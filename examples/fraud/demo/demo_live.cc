#include <sys/resource.h>
#include <time.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/dir_lock.h"
#include "datagen/fraud/format.h"
#include "examples/fraud/demo/demo.h"
#include "examples/fraud/demo/demo_internal.h"
#include "runtime/read_back.h"

namespace impulse::examples::fraud_demo {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<Transactions> Simulate(const fraud::SimulatorOptions& options, const std::function<void(uint32_t)>& on_day) {
  auto sim = fraud::Simulator::Create(options);
  if (!sim.ok()) return sim.status();
  Transactions t;
  fraud::AppendCsvHeader(&t.csv);
  t.csv_header_end = t.csv.size();
  std::vector<fraud::Transaction> day;
  uint32_t days = 0;
  while ((*sim)->NextDay(&day)) {
    if (on_day) on_day(++days);
    for (const fraud::Transaction& tx : day) {
      if (tx.transaction_id != t.labels.size()) return Internal("simulator: transaction ids are not 0, 1, 2, ...");
      t.labels.push_back(tx.tx_fraud);
      t.customers.push_back(tx.customer_id);
      fraud::AppendTransaction(tx, options.start_epoch_day, fraud::OutputFormat::kNdjson, &t.ndjson);
      t.ndjson.pop_back();  // the '\n': the load generator adds it
      t.ndjson_end.push_back(t.ndjson.size());
      fraud::AppendTransaction(tx, options.start_epoch_day, fraud::OutputFormat::kCsv, &t.csv);
      t.csv_end.push_back(t.csv.size());
    }
  }
  return t;
}

void Transactions::Truncate(uint64_t n) {
  if (n >= size()) return;
  labels.resize(n);
  customers.resize(n);
  ndjson_end.resize(n);
  csv_end.resize(n);
}

Status WriteSpecVariant(const std::string& in, const std::string& out, const std::string& webhook_url) {
  YAML::Node spec;
  try {
    spec = YAML::LoadFile(in);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(in + ": " + e.what());
  }
  if (!spec.IsMap() || !spec["pipelines"].IsSequence()) return InvalidArgument(in + ": no pipelines");
  if (webhook_url.empty()) {
    spec.remove("actions");
    for (YAML::Node p : spec["pipelines"]) {
      if (!p["steps"].IsSequence()) continue;
      for (YAML::Node s : p["steps"]) {
        if (s.IsMap() && s["trigger"].IsMap()) s["trigger"].remove("call");
      }
    }
  } else {
    bool found = false;
    if (spec["actions"].IsSequence()) {
      for (YAML::Node a : spec["actions"]) {
        if (a["name"].IsScalar() && a["name"].Scalar() == "alert_hook" && a["webhook"].IsMap()) {
          a["webhook"]["url"] = webhook_url;
          found = true;
        }
      }
    }
    if (!found) return InvalidArgument(in + ": no webhook action named alert_hook");
  }
  YAML::Emitter em;
  em << spec;
  std::ofstream f(out, std::ios::trunc);
  f << em.c_str() << "\n";
  f.close();
  if (!f) return IOError("cannot write " + out);
  return Status::OK();
}

Result<std::unique_ptr<Receiver>> Receiver::Start() {
  std::unique_ptr<Receiver> r(new Receiver());
  Receiver* self = r.get();
  // Records only a few requests: the handler keeps the counts.
  auto srv = action::RecordingHttpServer::Start(
      [self](const action::RecordedRequest& req) {
        std::lock_guard<std::mutex> lock(self->mu_);
        ++self->requests_;
        self->keys_.insert(req.Header("idempotency-key"));
        return action::ScriptedReply::Status(200, "{}");
      },
      /*requests_max=*/16);
  if (!srv.ok()) return srv.status();
  r->server_ = std::move(*srv);
  return r;
}

uint64_t Receiver::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

uint64_t Receiver::distinct_keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.size();
}

void Receiver::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  keys_.clear();
  requests_ = 0;
}

bool Receiver::WaitForKeys(uint64_t n, int64_t timeout_ms) const {
  const int64_t until = NowNs() + timeout_ms * 1'000'000;
  while (distinct_keys() < n) {
    if (NowNs() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

Result<std::unique_ptr<LiveEngine>> LiveEngine::Open(const std::string& spec, const std::string& dir,
                                                     const std::shared_ptr<model::ModelRepository>& models,
                                                     uint32_t shards, Durability durability,
                                                     int64_t checkpoint_interval_ms) {
  // Under its lock, never a running engine's directory; released for this one's engine.
  RETURN_IF_ERROR(DirLock::AcquireEmptied(dir).status());
  std::unique_ptr<LiveEngine> live(new LiveEngine());
  EngineOptions eo;
  eo.data_dir = dir;
  eo.shards = shards;
  eo.max_producers = 1;
  eo.durability = durability;
  eo.checkpoint_interval_ms = checkpoint_interval_ms;
  eo.models = models;
  auto engine = Engine::Open(spec, eo);
  if (!engine.ok()) return engine.status();
  live->engine_ = std::move(*engine);
  server::HttpServerOptions so;
  so.port = 0;
  so.io_threads = 1;
  so.models = models.get();
  auto srv = server::HttpServer::Start(live->engine_.get(), so);
  if (!srv.ok()) return srv.status();
  live->server_ = std::move(*srv);
  return live;
}

LiveEngine::~LiveEngine() {
  StopTail();
  (void)Stop();
}

void LiveEngine::StartTail(uint64_t transactions) {
  decided_.assign(transactions, kNotSeen);
  tail_stop_ = false;
  tail_ = std::thread([this] { Tail(); });
}

double LiveEngine::StopTail() {
  if (tail_.joinable()) {
    tail_stop_ = true;
    tail_.join();
  }
  return tail_cpu_s_;
}

// Polls every partition of tx_scored from where it stopped; the time a transaction's row is
// first read is its decision time (the row is in the log by then; read at most one poll, 0.5 ms,
// late).
void LiveEngine::Tail() {
  const double cpu0 = ThreadCpuSeconds();
  uint32_t partitions = 0;
  for (const StreamInfo& s : engine_->ListStreams()) {
    if (s.name == "tx_scored") partitions = static_cast<uint32_t>(s.partitions.size());
  }
  std::vector<uint64_t> from(partitions, 0);
  std::string out;
  constexpr std::string_view kId = "\"transaction_id\":";
  constexpr std::string_view kOffset = "\"_offset\":";
  while (!tail_stop_.load(std::memory_order_relaxed)) {
    bool progressed = false;
    for (uint32_t p = 0; p < partitions; ++p) {
      out.clear();
      if (!engine_->ReadEvents("tx_scored", p, from[p], 20'000, &out).ok() || out.empty()) continue;
      const int64_t now = NowNs();
      progressed = true;
      size_t line = 0;
      while (line < out.size()) {
        size_t end = out.find('\n', line);
        if (end == std::string::npos) end = out.size();
        const std::string_view l(out.data() + line, end - line);
        const size_t o = l.find(kOffset);
        const size_t i = l.find(kId);
        if (o != std::string_view::npos) from[p] = std::strtoull(l.data() + o + kOffset.size(), nullptr, 10) + 1;
        if (i != std::string_view::npos) {
          const uint64_t id = std::strtoull(l.data() + i + kId.size(), nullptr, 10);
          if (id < decided_.size() && decided_[id] == kNotSeen) decided_[id] = now;
        }
        line = end + 1;
      }
    }
    // 0.5 ms between empty polls: the decision times are that coarse, and polling faster costs
    // the engine CPU on a small machine.
    if (!progressed) std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  tail_cpu_s_ = ThreadCpuSeconds() - cpu0;
}

Status LiveEngine::Stop() {
  if (server_) server_->Stop();
  if (engine_) return engine_->Stop();
  return Status::OK();
}

std::vector<uint64_t> ReadAlertIds(const Engine& engine) {
  std::string nd;
  runtime::ReadBackEvents(engine, "alerts", &nd);
  std::vector<uint64_t> ids;
  constexpr std::string_view kId = "\"transaction_id\":";
  for (size_t at = nd.find(kId); at != std::string::npos; at = nd.find(kId, at + 1)) {
    ids.push_back(std::strtoull(nd.c_str() + at + kId.size(), nullptr, 10));
  }
  return ids;
}

}  // namespace impulse::examples::fraud_demo
