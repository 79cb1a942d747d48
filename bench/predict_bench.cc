// `impulse-bench predict`: the latency a predict step adds end to end, idle and under load.
// Runs one embedded engine per (variant, rate) cell (durability none, 2 shards, 2 partitions,
// checkpoints off: every step here is stateless), all in one process and interleaved by rate so
// a change in the shared machine's load hits every variant alike:
//   map          the same stream through a trivial map step (the baseline),
//   predict      through `predict` with the committed fraud XGBoost model (100 trees, depth 6),
//   predict_log  the same plus a decision log (one more stream written per event).
// Events are the 15 model inputs of examples/fraud/testdata/fraud_scores.csv, cycled, sent as
// NDJSON through Engine::Ingest (the HTTP path's call) at a fixed open-loop rate: at or below
// --single-max events/s one event per request (idle), above it one request per --tick-us
// holding rate * tick events (as HTTP clients batch under load).
// Latency is the engine's own ingest_to_output histogram (request receipt -> pipeline output
// appended; one sample per request), diffed between the end of the warm-up and the end of the
// cell. Its buckets are coarse (5, 10, 25, 50, 100, 250 us ...): quantiles are interpolated
// linearly inside the bucket and the mean (exact, from the histogram's sum) is reported beside
// them. Then the max sustained rate per variant: --max-events as fast as the engine takes them
// (1000-line requests, up to 8 in flight), until the pipeline has caught up.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/command_line.h"
#include "common/cpu_time.h"
#include "common/share_dir.h"
#include "impulse/engine.h"
#include "model/repository.h"

namespace impulse::bench {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int64_t kPipelineWaitMs = 120'000;  // a cell's pipeline must catch up within this
constexpr uint64_t kMaxRequestEvents = 1000;  // lines per request in the max-rate phase
constexpr uint32_t kMaxInflightRequests = 8;  // requests in flight in the max-rate phase
constexpr double kRateMax = 10'000'000;       // events/s accepted by --rate

// The fraud model's inputs as stream fields (the model's `from` names), in model order.
const char* const kFields[] = {"tx_amount",
                               "TX_DURING_WEEKEND",
                               "TX_DURING_NIGHT",
                               "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
                               "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
                               "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
                               "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
                               "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
                               "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
                               "TERMINAL_ID_NB_TX_1DAY_WINDOW",
                               "TERMINAL_ID_RISK_1DAY_WINDOW",
                               "TERMINAL_ID_NB_TX_7DAY_WINDOW",
                               "TERMINAL_ID_RISK_7DAY_WINDOW",
                               "TERMINAL_ID_NB_TX_30DAY_WINDOW",
                               "TERMINAL_ID_RISK_30DAY_WINDOW"};
constexpr size_t kInputs = sizeof(kFields) / sizeof(kFields[0]);

const char* const kVariants[] = {"map", "predict", "predict_log"};

std::string Spec(const std::string& variant) {
  std::string s = "streams:\n  - name: features\n    fields:\n      - {name: transaction_id, type: int64}\n";
  for (const char* f : kFields) s += std::string("      - {name: ") + f + ", type: double}\n";
  s += "    key: transaction_id\n    partitions: 2\npipelines:\n  - name: score\n    from: features\n    steps:\n";
  if (variant == "map") {
    s += "      - map: {fraud_score: \"tx_amount * 0.001\"}\n";
  } else {
    s += "      - predict: {model: fraud, outputs: [fraud_score], event_id: transaction_id";
    s += variant == "predict_log" ? ", decision_log: decisions}\n" : "}\n";
  }
  return s + "    sink: {stream: scored}\n";
}

// The rest of each fixture row's NDJSON line after `{"transaction_id":N`.
Result<std::vector<std::string>> LoadRows(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open");
  std::string line;
  std::getline(in, line);  // header: transaction_id, tx_fraud, the 15 inputs, scores
  std::vector<std::string> out;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    if (cells.size() < 2 + kInputs) return InvalidArgument(path + ": a row has fewer than 17 columns");
    std::string tail;
    for (size_t i = 0; i < kInputs; ++i) tail += std::string(",\"") + kFields[i] + "\":" + cells[2 + i];
    out.push_back(tail + "}\n");
  }
  if (out.empty()) return InvalidArgument(path + ": no rows");
  return out;
}

// The ingest_to_output histogram parsed from the Prometheus text (cumulative buckets).
struct Hist {
  std::vector<std::pair<double, double>> buckets;  // (le seconds, cumulative count)
  double sum_s = 0, count = 0;
  Hist Minus(const Hist& o) const {
    Hist d = *this;
    for (size_t i = 0; i < d.buckets.size() && i < o.buckets.size(); ++i) d.buckets[i].second -= o.buckets[i].second;
    d.sum_s -= o.sum_s;
    d.count -= o.count;
    return d;
  }
  // Linear interpolation inside the bucket holding quantile q; the last finite bound for +Inf.
  double QuantileUs(double q) const {
    if (count <= 0) return 0;
    const double rank = q * count;
    double lo = 0, below = 0;
    for (const auto& [le, cum] : buckets) {
      if (cum >= rank) {
        if (std::isinf(le)) return lo * 1e6;
        const double in = cum - below;
        return (lo + (le - lo) * (in > 0 ? (rank - below) / in : 1)) * 1e6;
      }
      lo = le;
      below = cum;
    }
    return lo * 1e6;
  }
  double MeanUs() const { return count > 0 ? sum_s / count * 1e6 : 0; }
};

Hist ReadHist(const Engine& e) {
  Hist h;
  std::istringstream text(e.MetricsText());
  const std::string family = "impulse_stage_latency_seconds";
  for (std::string line; std::getline(text, line);) {
    if (line.rfind(family, 0) != 0 || line.find("stage=\"ingest_to_output\"") == std::string::npos) continue;
    const double value = std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
    if (line.compare(family.size(), 8, "_bucket{") == 0) {
      const size_t le = line.find("le=\"");
      if (le == std::string::npos) continue;
      const std::string bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
      h.buckets.emplace_back(bound == "+Inf" ? INFINITY : std::strtod(bound.c_str(), nullptr), value);
    } else if (line.compare(family.size(), 5, "_sum{") == 0) {
      h.sum_s = value;
    } else if (line.compare(family.size(), 7, "_count{") == 0) {
      h.count = value;
    }
  }
  return h;
}

// One engine for one cell, in its own directory under `base`.
struct Cell {
  std::string dir;
  std::unique_ptr<Engine> engine;
  static Result<Cell> Open(const std::string& base, const std::string& variant, int index,
                           std::shared_ptr<model::ModelRepository> repo) {
    Cell c;
    c.dir = base + "/" + variant + "-" + std::to_string(index);
    std::error_code ec;
    fs::create_directories(c.dir, ec);
    std::ofstream(c.dir + "/spec.yaml") << Spec(variant);
    EngineOptions o;
    o.data_dir = c.dir + "/data";
    o.shards = 2;
    o.max_producers = 1;
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 0;  // stateless steps: no checkpoint pause lands in a cell
    o.models = std::move(repo);
    ASSIGN_OR_RETURN(c.engine, Engine::Open(c.dir + "/spec.yaml", o));
    return c;
  }
  // The cell measured what it says: scored rows came out (not the unscored path) and, with a
  // decision log, records were written.
  Status CheckOutput(const std::string& variant) const {
    std::string out, decisions;
    for (uint32_t p = 0; p < 2; ++p) {
      RETURN_IF_ERROR(engine->ReadEvents("scored", p, 0, 1, &out));
      if (variant == "predict_log") RETURN_IF_ERROR(engine->ReadEvents("decisions", p, 0, 1, &decisions));
    }
    if (out.empty()) return Internal(variant + ": the pipeline wrote no output");
    if (out.find("\"fraud_score\":null") != std::string::npos) return Internal(variant + ": rows came out unscored");
    if (variant == "predict_log" && decisions.empty()) return Internal(variant + ": no decision records");
    return Status::OK();
  }
  void Close() {
    if (engine) (void)engine->Stop();
    engine.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Sends requests of the fixture's lines; counts what the engine acknowledged.
class Sender {
 public:
  Sender(Engine* e, const std::vector<std::string>* rows) : engine_(e), rows_(rows) {}
  // Sends one request of `n` events; retries while the engine pushes back (counted).
  Status Send(uint64_t n) {
    body_.clear();
    for (uint64_t i = 0; i < n; ++i, ++seq_) {
      body_.append("{\"transaction_id\":").append(std::to_string(seq_)).append((*rows_)[seq_ % rows_->size()]);
    }
    sent_.fetch_add(1, std::memory_order_relaxed);
    while (true) {
      Status st = engine_->Ingest("features", body_, 0, [this](const Status& s, const IngestResult& r) {
        if (!s.ok() || r.rejected > 0) errors_.fetch_add(1, std::memory_order_relaxed);
        events_acked_.fetch_add(r.accepted, std::memory_order_relaxed);
        acked_.fetch_add(1, std::memory_order_relaxed);
      });
      if (st.code() != StatusCode::kUnavailable) return st;
      ++pushed_back_;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  uint64_t inflight() const { return sent_.load() - acked_.load(); }
  // Waits until every request is acknowledged (bounded by kPipelineWaitMs).
  Status Drain() const {
    const auto until = Clock::now() + std::chrono::milliseconds(kPipelineWaitMs);
    while (inflight() > 0) {
      if (Clock::now() > until) return Unavailable("requests not acknowledged in time");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return errors_.load() == 0 ? Status::OK() : Internal(std::to_string(errors_.load()) + " requests failed");
  }
  uint64_t events() const { return seq_; }
  uint64_t pushed_back() const { return pushed_back_; }

 private:
  Engine* engine_;
  const std::vector<std::string>* rows_;
  std::string body_;
  uint64_t seq_ = 0, pushed_back_ = 0;
  std::atomic<uint64_t> sent_{0}, acked_{0}, errors_{0}, events_acked_{0};
};

struct LatencyResult {
  std::string variant;
  double rate = 0, achieved = 0, lag_max_ms = 0;
  uint64_t batch = 0, requests = 0, pushed_back = 0;
  Hist h;
};

// Open loop: request k is due at start + k * interval; a late request goes at once (the lag is
// reported), so a slow engine does not slow the schedule down.
Result<LatencyResult> RunLatency(Engine* e, const std::vector<std::string>& rows, double rate, double seconds,
                                 double warmup_s, double single_max, int64_t tick_us) {
  LatencyResult r;
  r.rate = rate;
  const bool single = rate <= single_max;
  const double interval_s = single ? 1.0 / rate : static_cast<double>(tick_us) / 1e6;
  r.batch = single ? 1 : std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(rate * interval_s)));
  Sender s(e, &rows);
  Hist before;
  const auto start = Clock::now();
  const auto measure_at = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup_s));
  const auto end = measure_at + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  bool measuring = false;
  uint64_t events_at_measure = 0;
  for (uint64_t k = 0;; ++k) {
    const auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(k * interval_s));
    if (due >= end) break;
    if (!measuring && due >= measure_at) {
      before = ReadHist(*e);
      events_at_measure = s.events();
      measuring = true;
    }
    std::this_thread::sleep_until(due);
    if (measuring) {
      r.lag_max_ms = std::max(r.lag_max_ms, std::chrono::duration<double, std::milli>(Clock::now() - due).count());
      ++r.requests;
    }
    RETURN_IF_ERROR(s.Send(r.batch));
  }
  const double sent_s = std::chrono::duration<double>(Clock::now() - measure_at).count();
  RETURN_IF_ERROR(s.Drain());
  RETURN_IF_ERROR(e->WaitForPipelines(kPipelineWaitMs));
  r.h = ReadHist(*e).Minus(before);
  r.achieved = static_cast<double>(s.events() - events_at_measure) / sent_s;
  r.pushed_back = s.pushed_back();
  return r;
}

struct MaxResult {
  std::string variant;
  double events_per_s = 0, cpu_us_per_event = 0;
};

Result<MaxResult> RunMax(Engine* e, const std::vector<std::string>& rows, uint64_t events) {
  Sender s(e, &rows);
  const double cpu0 = ProcessCpuSeconds();
  const auto start = Clock::now();
  while (s.events() < events) {
    while (s.inflight() >= kMaxInflightRequests) std::this_thread::sleep_for(std::chrono::microseconds(50));
    RETURN_IF_ERROR(s.Send(std::min(kMaxRequestEvents, events - s.events())));
  }
  RETURN_IF_ERROR(s.Drain());
  RETURN_IF_ERROR(e->WaitForPipelines(kPipelineWaitMs));
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  MaxResult m;
  m.events_per_s = static_cast<double>(events) / wall;
  m.cpu_us_per_event = (ProcessCpuSeconds() - cpu0) * 1e6 / static_cast<double>(events);
  return m;
}

}  // namespace

int PredictBenchCommand(const std::vector<std::string>& args) {
  std::vector<double> rates = {100, 20'000, 100'000};
  double seconds = 5, warmup_s = 1, single_max = 1000;
  int64_t tick_us = 1000;
  uint64_t max_events = 300'000;
  std::string models, rows_path;  // defaults: the fraud example's, found by FindSharedFile
  po::options_description opts("impulse-bench predict options");
  opts.add_options()("rate", po::value(&rates)->multitoken(), "open-loop rates, events/s (default 100 20000 100000)")(
      "seconds", po::value(&seconds)->default_value(seconds), "measured seconds per variant and rate")(
      "warmup", po::value(&warmup_s)->default_value(warmup_s), "seconds of load before measuring")(
      "single-max", po::value(&single_max)->default_value(single_max), "at or below this rate: one event per request")(
      "tick-us", po::value(&tick_us)->default_value(tick_us), "above --single-max: one request per tick")(
      "max-events", po::value(&max_events)->default_value(max_events), "events of the max-rate phase (0: skip it)")(
      "models", po::value(&models), "model repository holding `fraud` (default: examples/fraud/models)")(
      "rows", po::value(&rows_path),
      "fixture CSV of the model's inputs (default: examples/fraud/testdata/fraud_scores.csv)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse-bench predict [options]", opts, &vm); rc >= 0) return rc;
  const bool rates_ok =
      !rates.empty() && std::all_of(rates.begin(), rates.end(), [](double r) { return r > 0 && r <= kRateMax; });
  if (!rates_ok || seconds <= 0 || seconds > 3600 || warmup_s < 0 || tick_us < 100 || tick_us > 1'000'000) {
    std::fprintf(stderr,
                 "impulse-bench predict wants --rate in (0, %.0f], --seconds in (0, 3600], "
                 "--warmup >= 0, --tick-us in [100, 1000000]\n",
                 kRateMax);
    return 2;
  }
  for (auto [path, relative] :
       {std::pair{&models, "examples/fraud/models"}, {&rows_path, "examples/fraud/testdata/fraud_scores.csv"}}) {
    if (!path->empty()) continue;
    auto found = FindSharedFile(relative);
    if (!found.ok()) {
      std::fprintf(stderr, "impulse-bench: predict: %s\n", found.status().ToString().c_str());
      return 2;
    }
    *path = *found;
  }
  auto rows = LoadRows(rows_path);
  if (!rows.ok()) {
    std::fprintf(stderr, "impulse-bench predict: %s\n", rows.status().ToString().c_str());
    return 1;
  }
  auto opened = model::ModelRepository::Open(models);
  if (!opened.ok()) {
    std::fprintf(stderr, "impulse-bench predict: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::shared_ptr<model::ModelRepository> repo(std::move(*opened));
  const std::string base =
      (fs::temp_directory_path() / ("impulse-bench-predict-" + std::to_string(::getpid()))).string();
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{base};

  std::printf(
      "impulse-bench predict: 2 shards, durability none, model fraud (XGBoost, 100 trees), %zu fixture rows cycled\n",
      rows->size());
  std::printf("ingest_to_output per request (engine histogram, interpolated in its buckets), us\n");
  std::printf("%-12s %9s %6s %10s %8s %8s %8s %8s %9s %7s\n", "variant", "rate/s", "batch", "achieved/s", "p50", "p99",
              "p99.9", "mean", "samples", "lag ms");
  int cell = 0;
  for (double rate : rates) {
    std::vector<LatencyResult> results;
    for (const char* variant : kVariants) {
      auto c = Cell::Open(base, variant, cell++, repo);
      if (!c.ok()) {
        std::fprintf(stderr, "impulse-bench predict: %s: %s\n", variant, c.status().ToString().c_str());
        return 1;
      }
      auto r = RunLatency(c->engine.get(), *rows, rate, seconds, warmup_s, single_max, tick_us);
      if (r.ok()) {
        const Status checked = c->CheckOutput(variant);
        if (!checked.ok()) r = checked;
      }
      c->Close();
      if (!r.ok()) {
        std::fprintf(stderr, "impulse-bench predict: %s at %.0f/s: %s\n", variant, rate, r.status().ToString().c_str());
        return 1;
      }
      r->variant = variant;
      const Hist& h = r->h;
      std::printf("%-12s %9.0f %6llu %10.0f %8.1f %8.1f %8.1f %8.1f %9.0f %7.2f%s\n", variant, rate,
                  static_cast<unsigned long long>(r->batch), r->achieved, h.QuantileUs(0.5), h.QuantileUs(0.99),
                  h.QuantileUs(0.999), h.MeanUs(), h.count, r->lag_max_ms, r->pushed_back > 0 ? "  (pushed back)" : "");
      results.push_back(std::move(*r));
    }
    for (size_t v = 1; v < results.size(); ++v) {
      const Hist &a = results[v].h, &b = results[0].h;
      std::printf("%-12s %9.0f %6s %10s %+8.1f %+8.1f %+8.1f %+8.1f\n", ("+" + results[v].variant).c_str(), rate, "",
                  "added:", a.QuantileUs(0.5) - b.QuantileUs(0.5), a.QuantileUs(0.99) - b.QuantileUs(0.99),
                  a.QuantileUs(0.999) - b.QuantileUs(0.999), a.MeanUs() - b.MeanUs());
    }
    std::fflush(stdout);
  }
  if (max_events > 0) {
    std::printf("max sustained rate: %llu events in requests of %llu, %u in flight, until the pipeline caught up\n",
                static_cast<unsigned long long>(max_events), static_cast<unsigned long long>(kMaxRequestEvents),
                kMaxInflightRequests);
    for (const char* variant : kVariants) {
      auto c = Cell::Open(base, variant, cell++, repo);
      if (!c.ok()) {
        std::fprintf(stderr, "impulse-bench predict: %s: %s\n", variant, c.status().ToString().c_str());
        return 1;
      }
      auto m = RunMax(c->engine.get(), *rows, max_events);
      if (m.ok()) {
        const Status checked = c->CheckOutput(variant);
        if (!checked.ok()) m = checked;
      }
      c->Close();
      if (!m.ok()) {
        std::fprintf(stderr, "impulse-bench predict: %s max rate: %s\n", variant, m.status().ToString().c_str());
        return 1;
      }
      std::printf("%-12s %10.0f events/s  %6.2f CPU-us/event (process)\n", variant, m->events_per_s,
                  m->cpu_us_per_event);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace impulse::bench
