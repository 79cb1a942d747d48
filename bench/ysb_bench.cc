// `impulse-bench ysb`: the Yahoo Streaming Benchmark (bench/ysb/ysb.yaml, docs/YSB.md) in an
// in-process engine: events per CPU-second and the window result latency.
//
// Contract: the campaign table (ad_id -> campaign_id) is ingested first and read by the join
// (its rows are valid until 9999, so it never holds the watermark back). Then one producer thread sends the
// ad events [0, N) as typed rows (IngestRows), in order, at most kMaxInflightRequests calls
// outstanding, on an open-loop schedule: event i is due at start + OffsetUsAt(i) (steady clock)
// and its event_time is the wall-clock ms of that instant (system clock at start + the same
// offset, floored to ms). Every --batch-us the producer sends the events that are due; a
// producer behind schedule sends at once and never skips (the lag is reported). --unpaced sends
// as fast as the engine takes them (event times still spaced by --rate): a throughput run, with
// no latency.
//
// Window result latency: a window [s, e) of event time ends at the schedule's instant for e
// (start + (e - first_event_ms) ms): the first event of time >= e is due then. The result is
// readable when a subscription to ysb_out (Engine::Subscribe, poll --poll-ms) delivers its row.
// Latency = delivery instant - end instant, per (campaign, window) row, over the rows of the
// windows closed by the watermark during the run (window_end <= last event time -
// max_out_of_orderness); the windows closed by the EndOfInput at the end are not counted.
// A window closes when the watermark (per partition: largest event time read -
// max_out_of_orderness, the minimum over partitions) reaches its end, so the latency includes
// max_out_of_orderness and the wait for an event at or after the end on every partition.
//
// CPU: the process's getrusage (user + sys) from the first ad event to the moment every
// pipeline has read everything, minus the generator's own thread CPU time; it includes the
// subscription's thread. Runs on the calling thread plus the producer; the engine's shards are
// its own threads.
#include <unistd.h>
#include <boost/program_options.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/producer.h"
#include "common/command_line.h"
#include "common/cpu_time.h"
#include "common/share_dir.h"
#include "datagen/ysb/generator.h"
#include "datagen/ysb/reference.h"
#include "impulse/engine.h"

namespace impulse::bench {
namespace {

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMaxBatchEvents = 4'096;        // events per IngestRows call at most
constexpr uint64_t kMaxVerifyEvents = 50'000'000;  // the reference is brute force, in memory
constexpr int64_t kWindowMs = 10'000;              // bench/ysb/ysb.yaml's tumbling window
constexpr int64_t kSettleMs = 20;                  // output re-checked this often at the end
constexpr int kSettleRounds = 3;                   // unchanged this many times in a row = done

struct ProducerResult {
  Status status;
  double generator_cpu_s = 0;
  double max_lag_ms = 0;  // how far behind schedule a batch was sent, at most
};

// Sends ad events [0, events) paced by the schedule (or unpaced), see the file comment.
void Produce(Engine* engine, const ysb::Generator* gen, uint64_t events, Clock::time_point start, bool paced,
             int64_t batch_us, ProducerResult* result) {
  Producer producer(engine, 0);
  RowBatch rows(7);
  ysb::AdEvent e;
  uint64_t next = 0;
  while (next < events && result->status.ok()) {
    uint64_t end = std::min(events, next + kMaxBatchEvents);
    if (paced) {
      const auto due = start + std::chrono::microseconds(gen->OffsetUsAt(next));
      auto now = Clock::now();
      if (now < due) {
        std::this_thread::sleep_until(due);
        now = Clock::now();
      }
      // Everything due now, and what falls due within the batch interval is left for the next
      // round: at most one batch interval of delay per event.
      const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(now - start).count();
      uint64_t last = next;
      while (last + 1 < end && gen->OffsetUsAt(last + 1) <= now_us) ++last;
      end = last + 1;
      result->max_lag_ms = std::max(result->max_lag_ms, std::chrono::duration<double, std::milli>(now - due).count());
    }
    const double t0 = ThreadCpuSeconds();
    rows.Clear();
    for (uint64_t i = next; i < end; ++i) {
      gen->EventAt(i, &e);
      Value* r = rows.AppendRow();  // bench/ysb/ysb.yaml's ad_events; strings live in the generator
      r[0] = Value::String(e.user_id);
      r[1] = Value::String(e.page_id);
      r[2] = Value::String(e.ad_id);
      r[3] = Value::String(e.ad_type);
      r[4] = Value::String(e.event_type);
      r[5] = Value::Int(e.event_time);
      r[6] = Value::String(e.ip_address);
    }
    result->generator_cpu_s += ThreadCpuSeconds() - t0;
    result->status = producer.SendRows("ad_events", rows);
    next = end;
    if (paced && next < events) {
      const auto wake = Clock::now() + std::chrono::microseconds(batch_us);
      const auto due = start + std::chrono::microseconds(gen->OffsetUsAt(next));
      std::this_thread::sleep_until(std::max(wake, due));
    }
  }
  Status drained = producer.Drain();
  if (result->status.ok()) result->status = drained;
}

// The ad -> campaign table as rows of `campaigns` (valid for all time: bench/ysb/ysb.yaml),
// ingested and read by the join.
Status LoadCampaigns(Engine& engine, const ysb::Generator& gen) {
  RowBatch rows(3);
  for (uint32_t a = 0; a < gen.num_ads(); ++a) {
    Value* r = rows.AppendRow();
    r[0] = Value::String(gen.ad_id(a));
    r[1] = Value::String(gen.campaign_id(gen.CampaignOfAd(a)));
    r[2] = Value::Int(ysb::kTableValidUntilMs);
  }
  Producer producer(&engine, 0);
  RETURN_IF_ERROR(producer.SendRows("campaigns", rows));
  RETURN_IF_ERROR(producer.Drain());
  // The join must hold the whole table before the first ad event: an unmatched view would be
  // dropped by the inner join.
  return engine.WaitForPipelines(60'000);
}

uint64_t EndOffsets(const Engine& engine, const std::string& stream, uint64_t* start = nullptr) {
  uint64_t n = 0, s = 0;
  for (const StreamInfo& info : engine.ListStreams()) {
    if (info.name != stream) continue;
    for (const PartitionInfo& p : info.partitions) {
      n += p.end_offset;
      s += p.start_offset;
    }
  }
  if (start != nullptr) *start = s;
  return n;
}

// Every row of ysb_out (campaign_id, window_start, window_end, views), sorted.
Result<std::vector<ysb::WindowCount>> ReadOutput(const Engine& engine) {
  std::vector<ysb::WindowCount> out;
  for (const StreamInfo& s : engine.ListStreams()) {
    if (s.name != "ysb_out") continue;
    for (const PartitionInfo& p : s.partitions) {
      for (uint64_t from = p.start_offset;;) {
        ASSIGN_OR_RETURN(RowsRead read, engine.ReadRows("ysb_out", p.partition, from, Engine::kReadRowsMax));
        if (read.rows.empty()) break;
        for (size_t i = 0; i < read.rows.size(); ++i) {
          const Value* r = read.rows.row(i);
          out.push_back({std::string(r[0].sv()), r[1].i64, r[2].i64, r[3].i64});
        }
        from = read.next_offset;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

int YsbCommand(const std::vector<std::string>& args) {
  const char* usage =
      "impulse-bench ysb [--rate R] [--duration-s S | --events N] [--unpaced] [--shards S]\n"
      "                [--checkpoint-interval-ms MS] [--state memory|rocksdb] [--durability none|sync]\n"
      "                [--batch-us US] [--poll-ms MS] [--spec FILE] [--data-dir DIR] [--seed S] [--json] [--verify]";
  po::options_description opts("ysb options");
  std::string state = "memory", durability = "none", spec, data_dir;
  uint64_t events = 0;
  double duration_s = 60;
  uint32_t shards = 2, poll_ms = 1;
  int64_t checkpoint_ms = 10'000, batch_us = 1'000, timeout_s = 3600;
  ysb::GeneratorConfig config;
  opts.add_options()("rate", po::value(&config.events_per_second)->default_value(config.events_per_second),
                     "ad events per second: the schedule, and the spacing of event times")(
      "duration-s", po::value(&duration_s)->default_value(duration_s), "run length in seconds of schedule")(
      "events", po::value(&events), "number of ad events (default rate x duration)")(
      "unpaced", "send as fast as the engine takes events (a throughput run: no latency)")(
      "seed", po::value(&config.seed)->default_value(config.seed), "generator seed")(
      "shards", po::value(&shards)->default_value(shards), "engine shards (0 = number of cores)")(
      "checkpoint-interval-ms", po::value(&checkpoint_ms)->default_value(checkpoint_ms), "0 = no checkpoints")(
      "state", po::value(&state)->default_value(state), "operator state: memory or rocksdb")(
      "durability", po::value(&durability)->default_value(durability), "none (write only) or sync (fsync)")(
      "batch-us", po::value(&batch_us)->default_value(batch_us),
      "paced: the producer sends what is due every this many us (1..1e6)")(
      "poll-ms", po::value(&poll_ms)->default_value(poll_ms),
      "the output subscription's poll interval when caught up (1..1000)")(
      "spec", po::value(&spec), "spec file (default: bench/ysb/ysb.yaml beside the binary)")(
      "data-dir", po::value(&data_dir), "data directory, kept (default: a temp dir removed at exit)")(
      "timeout-s", po::value(&timeout_s)->default_value(timeout_s), "give up after this long")(
      "json", "one JSON object on stdout instead of text")(
      "verify", "compare the counts with the brute-force reference (after the measurement; up to 5e7 events)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm); rc >= 0) return rc;
  const bool paced = vm.count("unpaced") == 0;
  if (events == 0 && duration_s > 0) events = static_cast<uint64_t>(duration_s * config.events_per_second);
  if (events == 0 || events > ysb::kMaxEventIndex || (state != "memory" && state != "rocksdb") ||
      (durability != "none" && durability != "sync") || checkpoint_ms < 0 || timeout_s <= 0 || batch_us < 1 ||
      batch_us > 1'000'000 || poll_ms < 1 || poll_ms > 1000 || (vm.count("verify") && events > kMaxVerifyEvents)) {
    std::fprintf(stderr, "impulse-bench: ysb: bad option value\n\nUsage: %s\n", usage);
    return 2;
  }
  if (!FindSpec("ysb", "bench/ysb/ysb.yaml", &spec)) return 2;
  const RunDataDir dir(data_dir, "ysb");

  EngineOptions o;
  o.data_dir = dir.path();
  o.shards = shards;
  o.max_producers = 1;
  o.durability = durability == "sync" ? Durability::kSync : Durability::kNone;
  o.checkpoint_interval_ms = checkpoint_ms;
  o.state_rocksdb = state == "rocksdb";
  auto opened = Engine::Open(spec, o);
  if (!opened.ok()) {
    std::fprintf(stderr, "impulse-bench: ysb: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  Engine& engine = **opened;
  auto fail = [&engine](const std::string& what, const Status& st) {
    std::fprintf(stderr, "impulse-bench: ysb: %s: %s\n", what.c_str(), st.ToString().c_str());
    (void)engine.Stop();
    return 1;
  };
  int64_t out_of_orderness_ms = 0;
  for (const StreamInfo& s : engine.ListStreams()) {
    if (s.name == "ad_events") out_of_orderness_ms = s.def.watermark.max_out_of_orderness_ms;
  }

  auto gen = ysb::Generator::Create(config);
  if (!gen.ok()) {
    std::fprintf(stderr, "impulse-bench: ysb: %s\n", gen.status().ToString().c_str());
    return 2;
  }
  if (Status st = LoadCampaigns(engine, *gen); !st.ok()) return fail("campaign table", st);
  // The schedule starts now: event time first_event_ms is the steady instant `start` (the ids
  // depend on the seed only, so the table loaded above is the same).
  const auto start = Clock::now();
  config.first_event_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  gen = ysb::Generator::Create(config);
  if (!gen.ok()) return fail("generator", gen.status());

  // Delivery instants of the output rows, by the subscription's thread.
  struct Delivered {
    int64_t window_end_ms;
    Clock::time_point at;
  };
  std::mutex mu;
  std::vector<Delivered> delivered;
  SubscribeOptions so;
  so.start = SubscribeOptions::Start::kBeginning;
  so.poll_interval_ms = poll_ms;
  auto sub = engine.Subscribe("ysb_out", so, [&](const RowBatch& rows, uint32_t, uint64_t) {
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < rows.size(); ++i) delivered.push_back({rows.row(i)[2].i64, now});
  });
  if (!sub.ok()) return fail("subscribe", sub.status());

  const double cpu0 = ProcessCpuSeconds();
  ProducerResult produced;
  std::thread producer(Produce, &engine, &*gen, events, start, paced, batch_us, &produced);
  producer.join();
  if (!produced.status.ok()) return fail("ingest", produced.status);
  const auto sent_end = Clock::now();
  // Done once every pipeline has read everything and the output stopped growing.
  const auto deadline = start + std::chrono::seconds(timeout_s);
  auto wall_end = Clock::now();
  double cpu_end = ProcessCpuSeconds();
  uint64_t last = UINT64_MAX;
  for (int same = 0; same < kSettleRounds;) {
    if (Clock::now() > deadline) return fail("settle", Unavailable("the output did not settle in time"));
    if (!engine.WaitForPipelines(1'000).ok()) continue;
    const uint64_t n = EndOffsets(engine, "ysb_out");
    if (n != last) {
      last = n;
      same = 0;
      wall_end = Clock::now();
      cpu_end = ProcessCpuSeconds();
    } else {
      ++same;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kSettleMs));
  }
  if (Status st = (*sub)->WaitCaughtUp(10'000); !st.ok()) return fail("subscription", st);

  // Latency of the rows of windows the watermark closed during the run.
  const int64_t closed_by_watermark = gen->TimestampAt(events - 1) - out_of_orderness_ms;
  std::vector<double> latency_ms;
  std::set<int64_t> latency_windows;
  if (paced) {  // unpaced, event time runs ahead of the wall clock: no latency
    std::lock_guard<std::mutex> lock(mu);
    for (const Delivered& d : delivered) {
      if (d.window_end_ms > closed_by_watermark) continue;
      latency_windows.insert(d.window_end_ms);
      const auto end_at = start + std::chrono::milliseconds(d.window_end_ms - config.first_event_ms);
      latency_ms.push_back(std::chrono::duration<double, std::milli>(d.at - end_at).count());
    }
  }
  std::sort(latency_ms.begin(), latency_ms.end());

  // Then close the rest (EndOfInput) for the totals and --verify.
  if (Status st = engine.EndOfInput("ad_events"); !st.ok()) return fail("EndOfInput", st);
  if (Status st = engine.WaitForPipelines(60'000); !st.ok()) return fail("drain", st);
  uint64_t late_start = 0;
  const uint64_t late = EndOffsets(engine, "_late_events", &late_start) - late_start;
  auto output = ReadOutput(engine);
  if (!output.ok()) return fail("read output", output.status());
  Status verified = Status::OK();
  const bool verify = vm.count("verify") > 0;
  if (verify) {
    const std::vector<ysb::WindowCount> expected = ysb::ViewsPerCampaignWindow(*gen, events, kWindowMs);
    if (*output != expected) {
      size_t i = 0;
      while (i < output->size() && i < expected.size() && (*output)[i] == expected[i]) ++i;
      verified = DataLoss("counts differ from the reference: " + std::to_string(output->size()) + " rows, expected " +
                          std::to_string(expected.size()) + ", first difference at sorted row " + std::to_string(i));
    }
  }
  StageLatency pause;
  for (const StageLatency& l : engine.StageLatencies()) {
    if (l.stage == "checkpoint_pause") pause = l;
  }
  sub->reset();
  Status stopped = engine.Stop();

  const double wall_s = std::chrono::duration<double>(wall_end - start).count();
  const double send_s = std::chrono::duration<double>(sent_end - start).count();
  const double cpu_s = cpu_end - cpu0;
  const double engine_cpu_s = std::max(1e-9, cpu_s - produced.generator_cpu_s);
  const double per_core = static_cast<double>(events) / engine_cpu_s;
  const double eps = static_cast<double>(events) / wall_s;
  const double p50 = Percentile(latency_ms, 0.50), p95 = Percentile(latency_ms, 0.95),
               p99 = Percentile(latency_ms, 0.99), pmax = latency_ms.empty() ? 0 : latency_ms.back();
  if (vm.count("json")) {
    std::printf(
        "{\"events\":%llu,\"rate\":%.0f,\"paced\":%s,\"wall_s\":%.3f,\"send_s\":%.3f,\"events_per_s\":%.0f,"
        "\"cpu_s\":%.3f,\"generator_cpu_s\":%.3f,\"engine_cpu_s\":%.3f,\"events_per_cpu_s\":%.0f,"
        "\"max_send_lag_ms\":%.1f,\"latency_rows\":%zu,\"latency_windows\":%zu,\"latency_p50_ms\":%.2f,\"latency_p95_"
        "ms\":%.2f,"
        "\"latency_p99_ms\":%.2f,\"latency_max_ms\":%.2f,\"max_out_of_orderness_ms\":%lld,\"output_rows\":%zu,"
        "\"late_events\":%llu,\"shards\":%u,\"checkpoint_interval_ms\":%lld,\"state\":\"%s\",\"durability\":\"%s\","
        "\"batch_us\":%lld,\"poll_ms\":%u,\"checkpoints\":%llu,\"checkpoint_pause_p50_us\":%.0f,"
        "\"checkpoint_pause_p99_us\":%.0f}\n",
        static_cast<unsigned long long>(events), config.events_per_second, paced ? "true" : "false", wall_s, send_s,
        eps, cpu_s, produced.generator_cpu_s, engine_cpu_s, per_core, produced.max_lag_ms, latency_ms.size(),
        latency_windows.size(), p50, p95, p99, pmax, static_cast<long long>(out_of_orderness_ms), output->size(),
        static_cast<unsigned long long>(late), engine.shard_count(), static_cast<long long>(checkpoint_ms),
        state.c_str(), durability.c_str(), static_cast<long long>(batch_us), poll_ms,
        static_cast<unsigned long long>(pause.count), pause.p50_us, pause.p99_us);
  } else {
    std::printf("ysb: %llu ad events -> %zu (campaign, window) counts, %llu late\n",
                static_cast<unsigned long long>(events), output->size(), static_cast<unsigned long long>(late));
    if (paced) {
      std::printf("  schedule %.0f events/s for %.1f s; sent in %.3f s, at most %.1f ms behind schedule\n",
                  config.events_per_second, static_cast<double>(gen->OffsetUsAt(events - 1)) * 1e-6, send_s,
                  produced.max_lag_ms);
    } else {
      std::printf("  unpaced: wall %.3f s, %.0f events/s\n", wall_s, eps);
    }
    std::printf("  cpu %.3f s (user+sys), of which generator %.3f s; engine %.3f s\n", cpu_s, produced.generator_cpu_s,
                engine_cpu_s);
    std::printf("  %.0f events per engine CPU-second (per core)\n", per_core);
    if (paced) {
      std::printf(
          "  window result latency (window end -> row delivered), %zu rows of %zu windows: p50 %.2f ms, p95 %.2f ms, "
          "p99 %.2f ms, max %.2f ms\n",
          latency_ms.size(), latency_windows.size(), p50, p95, p99, pmax);
    }
    std::printf("  max_out_of_orderness %lld ms, batch %lld us, subscription poll %u ms\n",
                static_cast<long long>(out_of_orderness_ms), static_cast<long long>(batch_us), poll_ms);
    std::printf("  shards %u, checkpoints %s, state %s, durability %s\n", engine.shard_count(),
                checkpoint_ms == 0 ? "off" : (std::to_string(checkpoint_ms) + " ms").c_str(), state.c_str(),
                durability.c_str());
    if (pause.count > 0) {
      std::printf("  %llu checkpoints, pause p50 %.0f us, p99 %.0f us\n", static_cast<unsigned long long>(pause.count),
                  pause.p50_us, pause.p99_us);
    }
  }
  if (verify) {
    if (!verified.ok()) {
      std::fprintf(stderr, "impulse-bench: ysb: verify: %s\n", verified.ToString().c_str());
      return 1;
    }
    std::fprintf(stderr, "verify: the counts equal the reference (%zu rows)\n", output->size());
  }
  if (late > 0) {
    std::fprintf(stderr, "impulse-bench: ysb: %llu late events\n", static_cast<unsigned long long>(late));
    return 1;
  }
  if (!stopped.ok()) {
    std::fprintf(stderr, "impulse-bench: ysb: stop: %s\n", stopped.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace impulse::bench
