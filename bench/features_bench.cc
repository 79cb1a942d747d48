// `impulse-bench features`: online feature serving latency end to end. Starts an engine in a
// temp dir with one feature view (`user`: count and average amount over 1 h per user_id),
// ingests events for --entities users, waits for the pipeline, starts the HTTP server on a free
// local port and drives it with an open-loop client: --rate lookups/s over --connections
// keep-alive connections, random entities, GET /v1/features/user/{id} (or POST :batch of
// --batch entities). Latency runs from each request's intended send time, so a slow answer
// delays the next request of its connection but is not hidden (no coordinated omission).
// --fake serves the same view from a FakeEngine: the HTTP path alone, without the store.
// The client is features_client.h. Server CPU is the process CPU over the measured window minus
// the client thread's.
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/features_client.h"
#include "common/command_line.h"
#include "impulse/engine.h"
#include "server/fake_engine.h"
#include "server/http_server.h"

namespace impulse::bench {
namespace {

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kIngestChunkEvents = 10'000;  // NDJSON lines per Ingest call
constexpr int64_t kPipelineWaitMs = 600'000;     // the pipeline must catch up within this
constexpr uint32_t kConnectionsMax = 1024;

constexpr const char* kSpec = R"(# impulse-bench features: one feature view over one stream.
streams:
  - name: events
    fields:
      - {name: user_id, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: user_id
    event_time: ts
feature_views:
  - name: user
    source: events
    entity: user_id
    features:
      - {name: n_1h, agg: count(), window: 1h}
      - {name: avg_amount_1h, agg: avg(amount), window: 1h}
pipelines:
  - name: user_features
    from: events
    steps:
      - features: user
    sink: {stream: events_with_features}
)";

// Ingests `events_per_entity` events for each of users 1..entities into `events`, in event-time
// order (ts = base + sequence number in ms, so nothing is late), one call in flight.
Status IngestEvents(Engine* engine, uint64_t entities, uint32_t events_per_entity, int64_t base_ms) {
  const uint64_t total = entities * events_per_entity;
  std::string body;
  std::mutex mu;
  std::condition_variable cv;
  for (uint64_t seq = 0; seq < total;) {
    body.clear();
    const uint64_t n = std::min(kIngestChunkEvents, total - seq);
    for (uint64_t i = 0; i < n; ++i, ++seq) {
      const uint64_t user = seq % entities + 1;
      body.append("{\"user_id\":").append(std::to_string(user));
      body.append(",\"amount\":").append(std::to_string(static_cast<double>(seq % 997) / 10.0));
      body.append(",\"ts\":").append(std::to_string(base_ms + static_cast<int64_t>(seq))).append("}\n");
    }
    bool done = false;
    Status result;
    IngestResult counts;
    while (true) {
      const Status st = engine->Ingest("events", body, /*producer=*/0, [&](Status s, IngestResult r) {
        std::lock_guard<std::mutex> lock(mu);
        result = std::move(s);
        counts = std::move(r);
        done = true;
        cv.notify_all();
      });
      if (st.code() == StatusCode::kUnavailable) {  // backpressure: the shards are behind
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      RETURN_IF_ERROR(st);
      break;
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    RETURN_IF_ERROR(result);
    if (counts.rejected > 0) {
      return InvalidArgument(std::to_string(counts.rejected) +
                             " events rejected: " + (counts.errors.empty() ? std::string() : counts.errors[0].reason));
    }
  }
  return Status::OK();
}

// Microseconds during which some runnable task waited for a CPU (PSI, /proc/pressure/cpu);
// -1 where PSI is not available. The machine is shared: this says how contended a run was.
int64_t CpuPressureUs() {
  std::ifstream in("/proc/pressure/cpu");
  std::string word;
  while (in >> word) {
    if (word.rfind("total=", 0) == 0) return std::strtoll(word.c_str() + 6, nullptr, 10);
  }
  return -1;
}

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }
double Us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

}  // namespace

int FeaturesBenchCommand(const std::vector<std::string>& args) {
  ClientOptions co;
  uint32_t events_per_entity = 2, io_threads = 1, shards = 0;
  std::string data_dir;
  bool fake = false, json = false;
  po::options_description opts("impulse-bench features options");
  opts.add_options()("entities", po::value(&co.entities)->default_value(co.entities), "users with features (ids 1..N)")(
      "events-per-entity", po::value(&events_per_entity)->default_value(events_per_entity), "events ingested per user")(
      "rate", po::value(&co.rate_lookups_per_s)->default_value(co.rate_lookups_per_s),
      "lookups per second (open loop)")("duration", po::value(&co.duration_s)->default_value(co.duration_s),
                                        "measured seconds")(
      "warmup", po::value(&co.warmup_s)->default_value(co.warmup_s), "seconds of load before measuring")(
      "connections", po::value(&co.connections)->default_value(co.connections), "keep-alive connections")(
      "batch", po::value(&co.batch)->default_value(co.batch), "0 = GET one entity per request; K = POST :batch of K")(
      "http-threads", po::value(&io_threads)->default_value(io_threads), "server I/O threads")(
      "shards", po::value(&shards)->default_value(shards), "engine shards (0 = number of cores)")(
      "seed", po::value(&co.seed)->default_value(co.seed), "entity choice")(
      "data-dir", po::value(&data_dir), "data directory, kept (default: a temp dir removed at exit)")(
      "fake", po::bool_switch(&fake), "serve the view from a FakeEngine (the HTTP path alone)")(
      "json", po::bool_switch(&json), "print one JSON object instead of text");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse-bench features [options]", opts, &vm); rc >= 0) return rc;
  if (co.entities == 0 || co.rate_lookups_per_s <= 0 || co.duration_s <= 0 || co.warmup_s < 0 || co.connections == 0 ||
      co.connections > kConnectionsMax || events_per_entity == 0 || co.batch > Engine::kFeatureLookupBatchMax) {
    std::fprintf(stderr,
                 "impulse-bench features wants --entities, --rate, --duration, --events-per-entity > 0, "
                 "--connections in [1, %u], --batch <= %zu\n",
                 kConnectionsMax, Engine::kFeatureLookupBatchMax);
    return 2;
  }

  std::unique_ptr<Engine> engine;
  const bool temp_dir = data_dir.empty() && !fake;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
  } cleanup;
  const auto setup_start = Clock::now();
  if (fake) {
    auto f = std::make_unique<server::FakeEngine>();
    for (uint64_t i = 1; i <= co.entities; ++i) {
      f->SetFeatures("user", std::to_string(i), "{\"n_1h\":2,\"avg_amount_1h\":12.5}", 1000);
    }
    engine = std::move(f);
  } else {
    if (temp_dir) {
      data_dir = (std::filesystem::temp_directory_path() / ("impulse-features-" + std::to_string(::getpid()))).string();
      cleanup.dir = data_dir;
    }
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    const std::string spec_path = data_dir + "/features-bench.yaml";
    std::ofstream(spec_path) << kSpec;
    EngineOptions eo;
    eo.data_dir = data_dir + "/data";
    eo.shards = shards;
    eo.max_producers = std::max<uint32_t>(io_threads, 1);
    eo.durability = Durability::kNone;  // setup speed; lookups never touch the log
    // Stateful steps need checkpoints; an idle engine takes none, so none land in the run.
    auto opened = Engine::Open(spec_path, eo);
    if (!opened.ok()) {
      std::fprintf(stderr, "impulse-bench features: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    engine = std::move(opened).value();
    // Event times end now: the 1 h windows hold every event during the run.
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const int64_t base_ms = now_ms - static_cast<int64_t>(co.entities * events_per_entity);
    Status st = IngestEvents(engine.get(), co.entities, events_per_entity, base_ms);
    if (st.ok()) st = engine->WaitForPipelines(kPipelineWaitMs);
    if (!st.ok()) {
      std::fprintf(stderr, "impulse-bench features: ingest: %s\n", st.ToString().c_str());
      (void)engine->Stop();
      return 1;
    }
  }
  const double setup_s = std::chrono::duration<double>(Clock::now() - setup_start).count();
  // Every entity must have values before the run, or the run would measure 404s.
  {
    std::string out;
    size_t found = 0;
    const std::string probe = std::to_string(co.entities);
    const Status st = engine->LookupFeatures("user", {probe}, &out, &found);
    if (!st.ok() || found != 1) {
      std::fprintf(stderr, "impulse-bench features: entity %s has no features after ingest: %s %s\n", probe.c_str(),
                   st.ToString().c_str(), out.c_str());
      (void)engine->Stop();
      return 1;
    }
  }
  server::HttpServerOptions so;
  so.port = 0;
  so.io_threads = io_threads;
  so.max_connections = co.connections + 16;
  auto server = server::HttpServer::Start(engine.get(), so);
  if (!server.ok()) {
    std::fprintf(stderr, "impulse-bench features: %s\n", server.status().ToString().c_str());
    (void)engine->Stop();
    return 1;
  }
  co.port = (*server)->port();
  const int64_t pressure_0 = CpuPressureUs();
  const auto run_start = Clock::now();
  const ClientReport r = RunFeatureClient(co);
  const double run_s = std::chrono::duration<double>(Clock::now() - run_start).count();
  const int64_t pressure_1 = CpuPressureUs();
  const double pressure =
      pressure_0 < 0 || pressure_1 < 0 ? -1 : static_cast<double>(pressure_1 - pressure_0) / 1e6 / run_s;
  (*server)->Stop();
  (void)engine->Stop();

  const auto& h = r.latency;
  const double achieved = static_cast<double>(r.lookups) / r.seconds;
  const double server_cpu = std::max(0.0, r.cpu_process_s - r.cpu_client_s) / r.seconds;
  const double client_cpu = r.cpu_client_s / r.seconds;
  const double server_cpu_us_per_request =
      r.requests == 0 ? 0 : std::max(0.0, r.cpu_process_s - r.cpu_client_s) * 1e6 / static_cast<double>(r.requests);
  if (json) {
    std::printf(
        "{\"engine\":\"%s\",\"entities\":%llu,\"batch\":%u,\"connections\":%u,\"rate\":%.0f,"
        "\"achieved_lookups_per_s\":%.0f,\"requests\":%llu,\"errors\":%llu,\"p50_us\":%.1f,"
        "\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"server_cpu_cores\":%.3f,"
        "\"client_cpu_cores\":%.3f,\"server_cpu_us_per_request\":%.2f,\"cpu_pressure\":%.3f,"
        "\"setup_s\":%.2f}\n",
        fake ? "fake" : "real", static_cast<unsigned long long>(co.entities), co.batch, co.connections,
        co.rate_lookups_per_s, achieved, static_cast<unsigned long long>(r.requests),
        static_cast<unsigned long long>(r.errors), Us(h.Quantile(0.5)), Us(h.Quantile(0.9)), Us(h.Quantile(0.99)),
        Us(h.Quantile(0.999)), Us(h.max_ns()), server_cpu, client_cpu, server_cpu_us_per_request, pressure, setup_s);
  } else {
    std::printf("engine %s, %llu entities (setup %.2f s), %s, %u connections, target %.0f lookups/s\n",
                fake ? "fake" : "real", static_cast<unsigned long long>(co.entities), setup_s,
                co.batch == 0 ? "GET single" : ("POST :batch of " + std::to_string(co.batch)).c_str(), co.connections,
                co.rate_lookups_per_s);
    std::printf("achieved %.0f lookups/s (%llu requests in %.1f s), errors %llu\n", achieved,
                static_cast<unsigned long long>(r.requests), r.seconds, static_cast<unsigned long long>(r.errors));
    std::printf("latency from intended send: p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.3f ms\n",
                Us(h.Quantile(0.5)), Us(h.Quantile(0.9)), Us(h.Quantile(0.99)), Us(h.Quantile(0.999)), Ms(h.max_ns()));
    std::printf("CPU: server process %.2f cores (%.1f us per request), client thread %.2f cores\n", server_cpu,
                server_cpu_us_per_request, client_cpu);
    if (pressure >= 0) {
      std::printf("CPU pressure during the run: %.0f%% of the time a runnable task waited for a core\n",
                  pressure * 100);
    }
  }
  if (!r.first_error.empty()) std::fprintf(stderr, "first error: %s\n", r.first_error.c_str());
  return r.errors == 0 && r.requests > 0 ? 0 : 1;
}

}  // namespace impulse::bench
