// `impulse demo QUICKSTART_SPEC`: generated quickstart traffic over real HTTP into an engine in
// this process; checks what comes out against what was sent.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

#include "common/command_line.h"
#include "common/cpu_time.h"
#include "common/dir_lock.h"
#include "common/progress.h"
#include "datagen/clicks.h"
#include "examples/quickstart/demo.h"
#include "impulse/engine.h"
#include "loadgen/loadgen.h"
#include "runtime/read_back.h"
#include "server/http_server.h"

namespace impulse::examples {

namespace po = boost::program_options;

int QuickstartDemo(const std::vector<std::string>& args) {
  po::options_description opts("demo options");
  std::string spec, data_dir = "./impulse-demo-data";
  uint64_t events = 1'000'000;
  double rate = 0;
  uint32_t connections = 4, batch = 1000, shards = 0;
  double bad_fraction = 0.001;
  bool quiet = false;
  opts.add_options()("spec", po::value(&spec), "pipeline spec (examples/quickstart/pipeline.yaml)")(
      "data-dir", po::value(&data_dir)->default_value(data_dir), "emptied at start")(
      "events", po::value(&events)->default_value(events), "events to send in the throughput run")(
      "rate", po::value(&rate)->default_value(rate), "events/s for the latency run (0 = half the measured throughput)")(
      "connections", po::value(&connections)->default_value(connections), "HTTP connections")(
      "batch", po::value(&batch)->default_value(batch), "lines per request")(
      "shards", po::value(&shards)->default_value(shards), "shards (0 = cores)")(
      "bad-fraction", po::value(&bad_fraction)->default_value(bad_fraction), "share of invalid lines")(
      "quiet", po::bool_switch(&quiet), "no progress bar on stderr (shown when it is a terminal)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse demo SPEC.yaml [options]", opts, &vm, "spec", Positional::kRequired);
      rc >= 0) {
    return rc;
  }
  signal(SIGPIPE, SIG_IGN);
  // Emptied under the directory's lock (never a running engine's directory), released for the
  // engine to take.
  if (auto emptied = DirLock::AcquireEmptied(data_dir); !emptied.ok()) {
    std::fprintf(stderr, "impulse: demo: %s\n", emptied.status().ToString().c_str());
    return 1;
  }

  EngineOptions eo;
  eo.data_dir = data_dir;
  eo.shards = shards;
  eo.max_producers = 1;
  auto engine = Engine::Open(spec, eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "impulse: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  server::HttpServerOptions so;
  so.port = 0;
  so.io_threads = 1;
  auto srv = server::HttpServer::Start(engine->get(), so);
  if (!srv.ok()) {
    std::fprintf(stderr, "impulse: %s\n", srv.status().ToString().c_str());
    return 1;
  }
  const uint16_t port = (*srv)->port();
  std::printf("impulse demo: %s, engine with %u shards on http://127.0.0.1:%u, data in %s\n", spec.c_str(),
              (*engine)->shard_count(), port, data_dir.c_str());

  datagen::ClickGenerator gen;
  gen.bad_fraction = bad_fraction;
  std::atomic<uint64_t> expected_valid{0}, expected_big{0};
  loadgen::LoadOptions lo;
  lo.port = port;
  lo.stream = "clicks";
  lo.connections = connections;
  lo.lines_per_request = batch;
  lo.total_events = events;
  lo.make_line = [&](uint64_t seq, std::string* line) {
    bool valid = false, big = false;
    gen.Line(seq, line, &valid, &big);
    if (valid) expected_valid.fetch_add(1, std::memory_order_relaxed);
    if (big) expected_big.fetch_add(1, std::memory_order_relaxed);
  };

  // A progress bar over the events generated (make_line runs on RunLoad's one thread). Updated
  // every 4096 events: the clock is not read per event of the throughput being measured.
  const ProgressBar::Mode bar_mode = ProgressBar::ModeFor(STDERR_FILENO, quiet);
  auto with_progress = [](ProgressBar* bar, std::function<void(uint64_t, std::string*)> make) {
    return [bar, make = std::move(make)](uint64_t seq, std::string* line) {
      make(seq, line);
      if ((seq & 4095) == 0) bar->Update(seq);
    };
  };
  const double cpu0 = ProcessCpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  ProgressBar bar1(stderr, "demo: throughput run", "events", lo.total_events, bar_mode);
  loadgen::LoadOptions lo1 = lo;
  lo1.make_line = with_progress(&bar1, lo.make_line);
  auto r1 = loadgen::RunLoad(lo1);
  bar1.Update(lo.total_events);
  bar1.Finish();
  if (!r1.ok()) {
    std::fprintf(stderr, "impulse: load: %s\n", r1.status().ToString().c_str());
    return 1;
  }
  Status ws = (*engine)->WaitForPipelines(60'000);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu1 = ProcessCpuSeconds();

  std::printf("\nThroughput run (closed loop, %u connections, %u lines per request):\n", connections, batch);
  loadgen::PrintLoadReport("HTTP ingest", *r1);
  std::printf("  %-26s %.2f cores (process CPU %.2f s over %.2f s)\n", "CPU used", (cpu1 - cpu0) / wall, cpu1 - cpu0,
              wall);

  // Latency run: open loop at a fixed rate, latency measured from each request's scheduled time.
  loadgen::LoadOptions lo2 = lo;
  lo2.rate_events_per_s = rate > 0 ? rate : std::max(1000.0, r1->events_per_s / 2);
  lo2.total_events = std::min<uint64_t>(events, static_cast<uint64_t>(lo2.rate_events_per_s * 5));
  const uint64_t offset = events;
  lo2.make_line = [&, offset](uint64_t seq, std::string* line) { lo.make_line(seq + offset, line); };
  ProgressBar bar2(stderr, "demo: latency run", "events", lo2.total_events, bar_mode);
  lo2.make_line = with_progress(&bar2, lo2.make_line);
  auto r2 = loadgen::RunLoad(lo2);
  bar2.Update(lo2.total_events);
  bar2.Finish();
  if (!r2.ok()) {
    std::fprintf(stderr, "impulse: load: %s\n", r2.status().ToString().c_str());
    return 1;
  }
  if (ws.ok()) ws = (*engine)->WaitForPipelines(60'000);
  std::printf("\nLatency run (open loop at %.0f events/s):\n", lo2.rate_events_per_s);
  loadgen::PrintLoadReport("HTTP ingest", *r2);

  const uint64_t in = runtime::ReadBackEvents(**engine, "clicks", nullptr);
  const uint64_t out = runtime::ReadBackEvents(**engine, "big_clicks", nullptr);
  const uint64_t dead = runtime::ReadBackEvents(**engine, "_dead_letter", nullptr);
  std::printf("\nEngine stages (histogram bucket bounds):\n");
  for (const StageLatency& s : (*engine)->StageLatencies()) {
    if (s.count == 0) continue;  // e.g. no checkpoint during a short demo
    std::printf("  %-26s p50 <= %.0f us  p99 <= %.0f us  p99.9 <= %.0f us  (%llu samples)\n", s.stage.c_str(), s.p50_us,
                s.p99_us, s.p999_us, static_cast<unsigned long long>(s.count));
  }
  const uint64_t sent = r1->events_sent + r2->events_sent;
  std::printf("\nEvents:\n");
  std::printf("  sent                       %llu\n", static_cast<unsigned long long>(sent));
  std::printf("  in (clicks)                %llu  (expected %llu)\n", static_cast<unsigned long long>(in),
              static_cast<unsigned long long>(expected_valid.load()));
  std::printf("  dead-lettered              %llu  (expected %llu)\n", static_cast<unsigned long long>(dead),
              static_cast<unsigned long long>(sent - expected_valid.load()));
  std::printf("  out (big_clicks)           %llu  (expected %llu: amount > 100)\n",
              static_cast<unsigned long long>(out), static_cast<unsigned long long>(expected_big.load()));

  // Idle: the engine should sleep, not poll.
  const double idle0 = ProcessCpuSeconds();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double idle_cpu = (ProcessCpuSeconds() - idle0) / 2.0 * 100.0;
  std::printf("  idle CPU over 2 s          %.2f%% of one core\n", idle_cpu);

  (*srv)->Stop();
  Status st = (*engine)->Stop();
  const bool consistent =
      ws.ok() && in == expected_valid.load() && out == expected_big.load() && dead == sent - expected_valid.load();
  std::printf("\n%s\n", consistent ? "OK: every event accounted for."
                                   : "MISMATCH: the counts above disagree with what was sent.");
  if (!st.ok()) std::fprintf(stderr, "impulse: stop: %s\n", st.ToString().c_str());
  return consistent && st.ok() ? 0 : 1;
}

}  // namespace impulse::examples
