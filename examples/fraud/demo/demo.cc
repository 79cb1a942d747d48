// `impulse demo fraud`: the fraud example end to end in one process. Simulated transactions go
// over HTTP into an engine running examples/fraud/alerts.yaml (features, the committed XGBoost
// model, an alert rule publishing to `alerts` and calling a webhook served by the demo), in
// three phases: as fast as possible, at a fixed rate (decision latency), and at a lower rate
// side by side with the same spec run as a scheduled batch job (backfill every N seconds over
// the events accumulated so far). Then the engine idles and its CPU is measured.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/command_line.h"
#include "common/dir_lock.h"
#include "common/fsync_probe.h"
#include "common/progress.h"
#include "common/share_dir.h"
#include "event/key_hash.h"
#include "examples/fraud/demo/demo.h"
#include "examples/fraud/demo/demo_internal.h"
#include "loadgen/loadgen.h"
#include "runtime/read_back.h"

namespace impulse::examples {

namespace po = boost::program_options;
using namespace fraud_demo;

namespace {

struct DemoOptions {
  std::string data_dir = "./impulse-fraud-demo";
  std::string spec;    // default: examples/fraud/alerts.yaml found by FindSharedFile
  std::string models;  // default: examples/fraud/models
  fraud::SimulatorOptions sim;
  uint64_t events = 0;  // the first this many transactions; 0 = all simulated
  bool full = false;
  double rate = 0;  // events/s of the latency phase; 0 = half the measured throughput
  // Per partition of `transactions` (Send): one connection keeps its transactions in order; the
  // spec's watermark allows 1 s of event time out of order, and requests on several connections
  // overtake each other by more (their transactions would be late).
  uint32_t connections = 1;
  // At a fixed rate; 0 = 50 ms of a partition's transactions (100..5000). One connection sends a
  // request only when the last one was acknowledged (after an fsync, ~10-100 ms here). (With a
  // point-in-time spec a decision also waits for the next transaction of its partition.)
  uint32_t lines_per_request = 0;
  // The closed loop waits for each acknowledgement (fsync): larger requests keep the engine busy.
  uint32_t throughput_lines_per_request = 20'000;
  uint32_t shards = 0;
  Durability durability = Durability::kSync;
  int64_t checkpoint_interval_ms = EngineOptions().checkpoint_interval_ms;
  double batch_rate = 20'000;   // events/s of the batch-vs-live phase
  double batch_seconds = 30;    // its length (fewer if the simulation is shorter)
  double batch_interval_s = 5;  // the batch job's period
  double idle_seconds = 10;
  bool webhook = true;
  bool quiet = false;  // no progress bars (they are drawn on stderr when it is a terminal)
};

struct Phase {
  loadgen::LoadReport load;
  double wall_s = 0;            // first send to every decision made (end of input included)
  double cpu_s = 0;             // process CPU over wall_s
  double client_cpu_s = 0;      // the load generators' threads (in this process)
  double tail_cpu_s = 0;        // the decision reader's thread
  int64_t end_of_input_ns = 0;  // decisions after this waited for the end of the stream
};

void PrintLatency(const char* what, const LatencySummary& s) {
  std::printf("  %-34s p50 %8.2f ms  p99 %8.2f ms  p99.9 %8.2f ms  max %8.2f ms  (%llu decisions)\n", what, s.p50_ms,
              s.p99_ms, s.p999_ms, s.max_ms, static_cast<unsigned long long>(s.count));
}

void PrintCpu(const Phase& p) {
  const double engine = p.cpu_s - p.client_cpu_s - p.tail_cpu_s;
  std::printf(
      "  %-34s %.2f cores: engine + HTTP server %.2f CPU-s, load generator %.2f, decision reader %.2f, over %.2f s\n",
      "CPU used", p.cpu_s / p.wall_s, engine, p.client_cpu_s, p.tail_cpu_s, p.wall_s);
}

// Sends transactions [0, n) over HTTP (closed loop when rate == 0), one load generator per
// partition of `transactions` on its own thread: each partition gets its transactions in order
// (the spec's watermark allows 1 s of disorder), and the partitions' requests are in flight
// together. At a fixed rate each partition goes at its share of it, so they stay together in
// event time. Records each transaction's send time: in the open loop its request's due time
// (latency counts the wait of a request sent late, no coordinated omission).
Result<Phase> Send(const DemoOptions& o, LiveEngine& live, const Transactions& tx, uint64_t n, double rate,
                   bool tailing, SentTimes* sent, const char* label) {
  uint32_t parts = 0;
  for (const StreamInfo& si : live.engine().ListStreams()) {
    if (si.name == "transactions") parts = static_cast<uint32_t>(si.partitions.size());
  }
  if (parts == 0) return InvalidArgument("the spec has no stream 'transactions'");
  struct Sender {
    std::vector<uint64_t> ids;
    double rate = 0;
    int64_t start_ns = kNotSeen;
    double cpu_s = 0;
    Status status;
    loadgen::LoadReport report;
    // For the progress bar: transactions made into lines, stored every 256 (not per event of the
    // throughput being measured); its own cache line, written by its sender thread only.
    alignas(64) std::atomic<uint64_t> made{0};
    std::atomic<bool> done{false};
  };
  std::vector<Sender> senders(parts);
  for (uint64_t i = 0; i < n; ++i) {
    senders[PartitionFor(HashValue(Value::Int(tx.customers[i]), FieldType::kInt64), parts)].ids.push_back(i);
  }
  uint32_t lines = o.throughput_lines_per_request;
  if (rate > 0) {
    lines = o.lines_per_request > 0 ? o.lines_per_request
                                    : static_cast<uint32_t>(std::clamp(rate / parts * 0.05, 100.0, 5000.0));
  }
  std::printf("  %-34s one load generator per partition (%u), %u transactions per request\n", "senders", parts, lines);
  std::fflush(stdout);
  Phase p;
  const double cpu0 = ProcessCpuSeconds();
  const int64_t t0 = NowNs();
  std::vector<std::thread> threads;
  for (Sender& s : senders) {
    if (s.ids.empty()) continue;
    s.rate = rate * static_cast<double>(s.ids.size()) / static_cast<double>(n);
    threads.emplace_back([&, sp = &s] {
      Sender& me = *sp;
      const double c0 = ThreadCpuSeconds();
      loadgen::LoadOptions lo;
      lo.port = live.port();
      lo.stream = "transactions";
      lo.connections = o.connections;
      lo.lines_per_request = lines;
      lo.total_events = me.ids.size();
      lo.rate_events_per_s = me.rate;
      lo.make_line = [&](uint64_t seq, std::string* line) {
        const uint64_t id = me.ids[seq];
        const uint64_t b = id == 0 ? 0 : tx.ndjson_end[id - 1];
        line->append(tx.ndjson, b, tx.ndjson_end[id] - b);
        const int64_t now = NowNs();
        if (me.start_ns == kNotSeen) me.start_ns = now;
        sent->Set(id, me.rate > 0 ? IntendedSendNs(seq, lines, me.rate, me.start_ns) : now);
        if ((seq & 255) == 0) me.made.store(seq, std::memory_order_relaxed);
      };
      auto r = loadgen::RunLoad(lo);
      if (!r.ok()) {
        me.status = r.status();
      } else if (r->errors != 0) {
        me.status = Internal("load: " + std::to_string(r->errors) + " requests failed: " + r->first_error);
      } else {
        me.report = *r;
      }
      me.cpu_s = ThreadCpuSeconds() - c0;
      me.done.store(true, std::memory_order_release);
    });
  }
  {
    // This thread only waits for the senders: it redraws the bar (about 5 times a second) meanwhile.
    const ProgressBar::Mode mode = ProgressBar::ModeFor(STDERR_FILENO, o.quiet);
    ProgressBar bar(stderr, label, "events", n, mode);
    if (mode != ProgressBar::Mode::kOff) {
      for (bool all_done = false; !all_done;) {
        all_done = true;
        uint64_t made = 0;
        for (const Sender& s : senders) {
          made += s.made.load(std::memory_order_relaxed);
          all_done = all_done && (s.ids.empty() || s.done.load(std::memory_order_acquire));
        }
        bar.Update(made);
        if (!all_done) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      bar.Update(n);
    }
  }
  for (std::thread& t : threads) t.join();
  for (const Sender& s : senders) {
    RETURN_IF_ERROR(s.status);
    p.client_cpu_s += s.cpu_s;
    p.load.events_sent += s.report.events_sent;
    p.load.requests += s.report.requests;
    p.load.retries_503 += s.report.retries_503;
    p.load.seconds = std::max(p.load.seconds, s.report.seconds);
    // Per-partition percentiles do not merge: the worst partition's.
    p.load.p50_ms = std::max(p.load.p50_ms, s.report.p50_ms);
    p.load.p99_ms = std::max(p.load.p99_ms, s.report.p99_ms);
    p.load.p999_ms = std::max(p.load.p999_ms, s.report.p999_ms);
  }
  p.load.events_per_s = p.load.seconds > 0 ? static_cast<double>(p.load.events_sent) / p.load.seconds : 0;
  // Every decision the stream allows, then end of input releases the rest (none with the views on
  // arrival; a point-in-time spec's watermark holds each partition's last transactions).
  RETURN_IF_ERROR(live.engine().WaitForPipelines(120'000));
  // The decision reader polls every 0.5 ms: let it read what is decided so far.
  if (tailing) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  p.end_of_input_ns = NowNs();
  RETURN_IF_ERROR(live.engine().EndOfInput("transactions"));
  RETURN_IF_ERROR(live.engine().WaitForPipelines(120'000));
  p.wall_s = static_cast<double>(NowNs() - t0) / 1e9;
  p.cpu_s = ProcessCpuSeconds() - cpu0;
  return p;
}

// Live decisions made after `cut_ns` (end of input) waited for the end of the stream, not for
// the stream's watermark: not counted.
void DropAfter(std::vector<int64_t>* decided, int64_t cut_ns) {
  for (int64_t& d : *decided) {
    if (d > cut_ns) d = kNotSeen;
  }
}

int Fail(const Status& st) {
  std::fprintf(stderr, "impulse: demo fraud: %s\n", st.ToString().c_str());
  return 1;
}

}  // namespace

int FraudDemoCommand(const std::vector<std::string>& args) {
  DemoOptions o;
  std::string durability = "sync";
  o.sim.days = 60;
  o.sim.seed = 1;
  po::options_description opts("demo fraud options");
  opts.add_options()("data-dir", po::value(&o.data_dir)->default_value(o.data_dir), "emptied at start")(
      "spec", po::value(&o.spec), "the alert spec (default: examples/fraud/alerts.yaml beside the binary)")(
      "models", po::value(&o.models), "the model repository (default: examples/fraud/models beside the binary)")(
      "days", po::value(&o.sim.days)->default_value(o.sim.days),
      "days simulated (5000 customers: ~9.6 K transactions a day)")(
      "full", po::bool_switch(&o.full), "the full simulation: 183 days, ~1.75 M transactions")(
      "events", po::value(&o.events)->default_value(o.events), "send only the first N transactions (0 = all)")(
      "customers", po::value(&o.sim.customers)->default_value(o.sim.customers), "simulated customers")(
      "terminals", po::value(&o.sim.terminals)->default_value(o.sim.terminals), "simulated terminals")(
      "seed", po::value(&o.sim.seed)->default_value(o.sim.seed), "simulator seed")(
      "rate", po::value(&o.rate)->default_value(o.rate),
      "events/s of the latency phase (0 = half the measured throughput)")(
      "connections", po::value(&o.connections)->default_value(o.connections),
      "HTTP connections per partition (more than 1 reorders requests: transactions arrive late, dropped)")(
      "batch", po::value(&o.lines_per_request)->default_value(o.lines_per_request),
      "transactions per request at a fixed rate (0 = 50 ms of a partition's, 100..5000)")(
      "throughput-batch", po::value(&o.throughput_lines_per_request)->default_value(o.throughput_lines_per_request),
      "transactions per request in the throughput phase")("shards", po::value(&o.shards)->default_value(o.shards),
                                                          "engine shards (0 = cores)")(
      "batch-rate", po::value(&o.batch_rate)->default_value(o.batch_rate), "events/s while the batch job runs beside")(
      "batch-seconds", po::value(&o.batch_seconds)->default_value(o.batch_seconds), "length of that phase")(
      "batch-interval", po::value(&o.batch_interval_s)->default_value(o.batch_interval_s),
      "seconds between batch runs")("idle-seconds", po::value(&o.idle_seconds)->default_value(o.idle_seconds),
                                    "idle CPU measured over this long")(
      "durability", po::value(&durability)->default_value(durability),
      "sync (fsync before ack; pipelines read fsynced events only) | none (write() only)")(
      "checkpoint-interval-ms", po::value(&o.checkpoint_interval_ms)->default_value(o.checkpoint_interval_ms),
      "engine checkpoint period (the pipelines pause for each; stateful steps need one)")(
      "no-webhook", "publish alerts only, no webhook call")("quiet", po::bool_switch(&o.quiet),
                                                            "no progress bars on stderr (shown when it is a terminal)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse demo fraud [options]", opts, &vm); rc >= 0) return rc;
  if (o.full) o.sim.days = 183;
  for (auto [path, relative] :
       {std::pair{&o.spec, "examples/fraud/alerts.yaml"}, {&o.models, "examples/fraud/models"}}) {
    if (!path->empty()) continue;
    auto found = FindSharedFile(relative);
    if (!found.ok()) {
      std::fprintf(stderr, "impulse: demo fraud: %s\n", found.status().ToString().c_str());
      return 2;
    }
    *path = *found;
  }
  if (durability != "sync" && durability != "none") {
    std::fprintf(stderr, "impulse: demo fraud: --durability wants sync or none, got '%s'\n", durability.c_str());
    return 2;
  }
  o.durability = durability == "sync" ? Durability::kSync : Durability::kNone;
  o.webhook = vm.count("no-webhook") == 0;
  if (o.rate < 0 || o.batch_rate <= 0 || o.batch_interval_s <= 0 || o.batch_seconds <= 0 || o.idle_seconds < 0 ||
      o.throughput_lines_per_request == 0 || o.connections == 0) {
    std::fprintf(stderr,
                 "impulse: demo fraud: --batch-rate, --batch-seconds, --batch-interval, --throughput-batch and "
                 "--connections must be > 0, --rate >= 0\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  // Emptied under the directory's lock, never a running engine's directory; held for the run,
  // so that another demo does not empty it under this one's engines (in subdirectories).
  auto dir_lock = DirLock::AcquireEmptied(o.data_dir);
  if (!dir_lock.ok()) return Fail(dir_lock.status());
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir + "/batch", ec);
  if (ec) return Fail(IOError("cannot create " + o.data_dir + ": " + ec.message()));

  // The simulation, rendered before any clock starts.
  const int64_t sim0 = NowNs();
  ProgressBar sim_bar(stderr, "demo: simulation", "days", o.sim.days, ProgressBar::ModeFor(STDERR_FILENO, o.quiet));
  auto txr = Simulate(o.sim, [&](uint32_t days) { sim_bar.Update(days); });
  sim_bar.Finish();
  if (!txr.ok()) return Fail(txr.status());
  if (o.events > 0) txr->Truncate(o.events);
  const Transactions& tx = *txr;
  const uint64_t n = tx.size();
  uint64_t frauds = 0;
  for (uint8_t l : tx.labels) frauds += l;
  std::printf(
      "impulse demo fraud: %llu simulated transactions (%u days, %u customers, %u terminals, seed %llu), "
      "%llu frauds (%.2f%%), rendered in %.1f s\n",
      static_cast<unsigned long long>(n), o.sim.days, o.sim.customers, o.sim.terminals,
      static_cast<unsigned long long>(o.sim.seed), static_cast<unsigned long long>(frauds),
      100.0 * static_cast<double>(frauds) / static_cast<double>(std::max<uint64_t>(n, 1)),
      static_cast<double>(NowNs() - sim0) / 1e9);
  if (n == 0) return Fail(InvalidArgument("the simulation has no transactions"));

  auto repo = model::ModelRepository::Open(o.models);
  if (!repo.ok()) return Fail(repo.status());
  std::shared_ptr<model::ModelRepository> models = std::move(*repo);
  auto receiver = Receiver::Start();
  if (!receiver.ok()) return Fail(receiver.status());
  const std::string live_spec = o.data_dir + "/alerts.live.yaml", batch_spec = o.data_dir + "/alerts.batch.yaml";
  if (Status st = WriteSpecVariant(o.spec, batch_spec, ""); !st.ok()) return Fail(st);
  if (Status st = WriteSpecVariant(o.spec, live_spec, o.webhook ? (*receiver)->url() : ""); !st.ok()) return Fail(st);

  // Opens a phase's engine; without the outbox dispatcher the engine refuses webhook calls:
  // fall back to publishing alerts only.
  auto open = [&](const std::string& name) -> Result<std::unique_ptr<LiveEngine>> {
    auto live = LiveEngine::Open(o.webhook ? live_spec : batch_spec, o.data_dir + "/" + name, models, o.shards,
                                 o.durability, o.checkpoint_interval_ms);
    if (!live.ok() && o.webhook && live.status().code() == StatusCode::kFailedPrecondition) {
      std::printf("  (webhook off: %s)\n", live.status().message().c_str());
      o.webhook = false;
      live = LiveEngine::Open(batch_spec, o.data_dir + "/" + name, models, o.shards, o.durability,
                              o.checkpoint_interval_ms);
    }
    (*receiver)->Reset();
    return live;
  };

  // 1. Throughput: closed loop, every transaction.
  std::printf("\n1. Throughput: every transaction as fast as possible (closed loop, %u connection(s) per partition)\n",
              o.connections);
  AlertQuality quality;
  double throughput_eps = 0;
  std::string mismatch;  // what disagrees with what was sent, if anything
  {
    auto live = open("throughput");
    if (!live.ok()) return Fail(live.status());
    SentTimes sent(n);
    auto p = Send(o, **live, tx, n, 0, /*tailing=*/false, &sent, "demo: throughput");
    if (!p.ok()) return Fail(p.status());
    throughput_eps = static_cast<double>(n) / p->wall_s;
    const Engine& e = (*live)->engine();
    const uint64_t scored = runtime::ReadBackEvents(e, "tx_scored", nullptr);
    const uint64_t late = runtime::ReadBackEvents(e, "_late_events", nullptr);
    const std::vector<uint64_t> alerts = ReadAlertIds(e);
    quality = ScoreAlerts(tx.labels, alerts);
    std::printf("  %-34s %.0f events/s (%.2f s; request p50 %.2f ms, p99 %.2f ms; %llu retried on 503)\n",
                "HTTP ingest", p->load.events_per_s, p->load.seconds, p->load.p50_ms, p->load.p99_ms,
                static_cast<unsigned long long>(p->load.retries_503));
    std::printf("  %-34s %.0f events/s: %llu transactions scored in %.2f s (%llu late, dropped)\n",
                "ingest to every decision", throughput_eps, static_cast<unsigned long long>(scored), p->wall_s,
                static_cast<unsigned long long>(late));
    PrintCpu(*p);
    std::printf("  %-34s %llu alerts: precision %.3f, recall %.3f (%llu of %llu frauds)\n", "alerts (stream alerts)",
                static_cast<unsigned long long>(quality.alerts), quality.precision(), quality.recall(),
                static_cast<unsigned long long>(quality.true_positives),
                static_cast<unsigned long long>(quality.frauds));
    if (scored != n || late != 0) mismatch += " scored " + std::to_string(scored) + " of " + std::to_string(n) + ";";
    if (quality.duplicates != 0 || quality.unknown_ids != 0) mismatch += " alerts with repeated or unknown ids;";
    if (o.webhook) {
      const bool all = (*receiver)->WaitForKeys(quality.alerts, 60'000);
      std::printf("  %-34s %llu distinct Idempotency-Keys in %llu requests%s\n", "webhook receiver",
                  static_cast<unsigned long long>((*receiver)->distinct_keys()),
                  static_cast<unsigned long long>((*receiver)->requests()), all ? "" : " (not all alerts within 60 s)");
      if ((*receiver)->distinct_keys() != quality.alerts) mismatch += " webhook keys differ from the alerts;";
    }
    if (Status st = (*live)->Stop(); !st.ok()) return Fail(st);
  }

  // 2. Decision latency at a fixed rate.
  LatencySummary live_fixed;
  if (o.rate == 0) o.rate = std::max(1000.0, throughput_eps / 2);
  {
    std::printf(
        "\n2. Decision latency at %.0f events/s (open loop; from the request's due time to the transaction's "
        "row readable in tx_scored)\n",
        o.rate);
    auto live = open("latency");
    if (!live.ok()) return Fail(live.status());
    (*live)->StartTail(n);
    SentTimes sent(n);
    auto p = Send(o, **live, tx, n, o.rate, /*tailing=*/true, &sent, "demo: latency");
    if (!p.ok()) return Fail(p.status());
    p->tail_cpu_s = (*live)->StopTail();
    std::vector<int64_t> decided = (*live)->decided_ns();
    DropAfter(&decided, p->end_of_input_ns);
    auto s = SummarizeLatency(sent.Snapshot(), decided);
    if (!s.ok()) return Fail(s.status());
    live_fixed = *s;
    std::printf("  %-34s %.0f events/s; request p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n", "HTTP ingest (acks)",
                p->load.events_per_s, p->load.p50_ms, p->load.p99_ms, p->load.p999_ms);
    PrintLatency("decision latency", *s);
    if (s->missing > 0) {
      std::printf("  %-34s %llu transactions the watermark still held when the stream ended\n", "not counted",
                  static_cast<unsigned long long>(s->missing));
    }
    for (const StageLatency& sl : (*live)->engine().StageLatencies()) {
      if (sl.count == 0) continue;
      std::printf("  engine stage %-21s p50 <= %.0f us  p99 <= %.0f us  p99.9 <= %.0f us\n", sl.stage.c_str(),
                  sl.p50_us, sl.p99_us, sl.p999_us);
    }
    PrintCpu(*p);
    if (Status st = (*live)->Stop(); !st.ok()) return Fail(st);
    // The disk's own floor under `--durability sync`, on the engine's disk, right after the run.
    if (auto probe = ProbeFsync(o.data_dir, 4096, 500); probe.ok()) {
      std::printf("  %-34s p50 %.2f ms  p99 %.2f ms (4 KB appended + fdatasync, %zu times)\n", "disk probe",
                  probe->Quantile(0.50) / 1e3, probe->Quantile(0.99) / 1e3, probe->us.size());
    } else {
      std::printf("  %-34s %s\n", "disk probe", probe.status().ToString().c_str());
    }
  }

  // 3. The same spec as a scheduled batch job beside the live engine, on the same transactions
  // as they arrive.
  const uint64_t n3 = std::clamp<uint64_t>(static_cast<uint64_t>(o.batch_rate * o.batch_seconds), 1, n);
  LatencySummary live_beside, batch;
  size_t batch_runs = 0;
  double idle_pct = 0;
  {
    std::printf(
        "\n3. Batch vs event-driven: %llu transactions at %.0f events/s; beside the live engine a backfill of "
        "the same spec over all transactions arrived so far, every %.0f s\n",
        static_cast<unsigned long long>(n3), o.batch_rate, o.batch_interval_s);
    auto live = open("live-vs-batch");
    if (!live.ok()) return Fail(live.status());
    (*live)->StartTail(n3);
    SentTimes sent3(n3);
    BatchJob job(
        {.spec = batch_spec, .models = o.models, .dir = o.data_dir + "/batch", .interval_s = o.batch_interval_s}, tx,
        sent3);
    job.Start();
    auto p = Send(o, **live, tx, n3, o.batch_rate, /*tailing=*/true, &sent3, "demo: beside batch");
    if (!p.ok()) job.Cancel();
    Status js = job.Join();
    if (!p.ok()) return Fail(p.status());
    if (!js.ok()) return Fail(js);
    p->tail_cpu_s = (*live)->StopTail();
    std::vector<int64_t> decided = (*live)->decided_ns();
    DropAfter(&decided, p->end_of_input_ns);
    const std::vector<int64_t> sent_ns = sent3.Snapshot();
    auto ls = SummarizeLatency(sent_ns, decided);
    auto bd = BatchDecisions(job.runs(), sent_ns);
    if (!ls.ok() || !bd.ok()) return Fail(!ls.ok() ? ls.status() : bd.status());
    auto bs = SummarizeLatency(sent_ns, *bd);
    if (!bs.ok()) return Fail(bs.status());
    live_beside = *ls;
    batch = *bs;
    batch_runs = job.runs().size();
    PrintLatency("event-driven (live engine)", live_beside);
    PrintLatency("batch (backfill every interval)", batch);
    const BatchRun last = job.runs().empty() ? BatchRun{} : job.runs().back();
    std::printf("  %-34s %zu runs, the last over %llu transactions in %.2f s\n", "batch job", batch_runs,
                static_cast<unsigned long long>(last.events),
                static_cast<double>(last.finished_ns - last.started_ns) / 1e9);
    PrintCpu(*p);

    // 4. Idle: the stream has ended; the engine should sleep, not poll.
    if (o.webhook) (void)(*receiver)->WaitForKeys(ReadAlertIds((*live)->engine()).size(), 30'000);
    const double idle0 = ProcessCpuSeconds();
    const int64_t i0 = NowNs();
    std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_seconds));
    const double idle_s = static_cast<double>(NowNs() - i0) / 1e9;
    idle_pct = idle_s > 0 ? (ProcessCpuSeconds() - idle0) / idle_s * 100.0 : 0;
    std::printf("\n4. Idle: process CPU over %.0f s after the stream ended: %.3f%% of one core\n", idle_s, idle_pct);
    if (Status st = (*live)->Stop(); !st.ok()) return Fail(st);
  }

  std::printf("\nSummary (2 vCPUs shared by the engine, HTTP server, load generator, decision reader and batch job)\n");
  char what[96];
  std::printf("  %-42s %.0f events/s\n", "throughput, ingest to every decision", throughput_eps);
  auto line = [&](const LatencySummary& l) {
    std::printf("  %-42s p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n", what, l.p50_ms, l.p99_ms, l.p999_ms);
  };
  std::snprintf(what, sizeof(what), "decision latency at %.0f events/s", o.rate);
  line(live_fixed);
  std::snprintf(what, sizeof(what), "event-driven beside batch, %.0f events/s", o.batch_rate);
  line(live_beside);
  std::snprintf(what, sizeof(what), "batch job every %.0f s, same transactions", o.batch_interval_s);
  line(batch);
  std::printf("  %-42s %llu, precision %.3f, recall %.3f%s\n", "alerts",
              static_cast<unsigned long long>(quality.alerts), quality.precision(), quality.recall(),
              o.webhook ? " (stream and webhook)" : " (stream only: webhook off)");
  std::printf("  %-42s %.3f%% of one core\n", "idle CPU", idle_pct);
  if (mismatch.empty()) {
    std::printf("\nOK: every transaction scored, none late, alert ids unique%s.\n",
                o.webhook ? ", a webhook received for each alert" : "");
  } else {
    std::printf("\nMISMATCH:%s\n", mismatch.c_str());
  }
  return mismatch.empty() ? 0 : 1;
}

}  // namespace impulse::examples
