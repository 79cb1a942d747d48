// `impulse-bench nexmark`: runs one Nexmark query (bench/nexmark/qN.yaml) in an in-process engine over
// generated events and reports throughput per CPU core.
//
// Contract: producers (1 or 2 threads) generate events [0, --events) with the Nexmark
// generator, hand them to the engine as typed rows (IngestRows) or NDJSON (Ingest), in order, bounded by
// kMaxInflightRequests outstanding requests per producer. With 2 producers one feeds `bid` and the other `person` and
// `auction`, so each stream is still ingested in event-time order (the specs allow no
// out-of-orderness). Then EndOfInput on the three streams, and the run ends once every pipeline
// is idle and the output stream stops growing (checked every kSettleMs; the settle time is not
// counted in the wall time). CPU is the process's getrusage (user + sys) over the run, minus
// the generator's own thread CPU time (measured around each generation), so events per
// CPU-second is the engine's cost: parse, log, pipelines, checkpoints. Runs on the calling
// thread plus the producers; the engine's shards are its own threads.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <boost/program_options.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/producer.h"
#include "common/command_line.h"
#include "common/cpu_time.h"
#include "common/share_dir.h"
#include "datagen/nexmark/generator.h"
#include "datagen/nexmark/ndjson.h"
#include "datagen/nexmark/reference.h"
#include "impulse/engine.h"
#include "runtime/read_back.h"

namespace impulse::bench {
namespace {

namespace po = boost::program_options;

constexpr uint64_t kChunkEvents = 4'096;          // events generated per ingest round
constexpr int64_t kSettleMs = 20;                 // output re-checked this often at the end
constexpr int kSettleRounds = 3;                  // unchanged this many times in a row = done
constexpr uint64_t kMaxVerifyEvents = 1'000'000;  // the reference is brute force, in memory

struct ProducerResult {
  Status status;
  double generator_cpu_s = 0;
};

// One event as a row of its stream (bench/nexmark/streams.yaml field order), strings copied
// into the batch's arena.
void AppendEventRow(const nexmark::Event& e, RowBatch* rows) {
  Value* r = rows->AppendRow();
  Arena& a = rows->arena();
  auto str = [&a](const std::string& s) { return Value::String(a.Copy(s)); };
  switch (e.kind) {
    case nexmark::Event::Kind::kPerson: {
      const nexmark::Person& p = e.person;
      r[0] = str("person");
      r[1] = Value::Int(p.id);
      r[2] = str(p.name);
      r[3] = str(p.email_address);
      r[4] = str(p.credit_card);
      r[5] = str(p.city);
      r[6] = str(p.state);
      r[7] = Value::Int(p.date_time);
      r[8] = str(p.extra);
      break;
    }
    case nexmark::Event::Kind::kAuction: {
      const nexmark::Auction& x = e.auction;
      r[0] = str("auction");
      r[1] = Value::Int(x.id);
      r[2] = str(x.item_name);
      r[3] = str(x.description);
      r[4] = Value::Int(x.initial_bid);
      r[5] = Value::Int(x.reserve);
      r[6] = Value::Int(x.date_time);
      r[7] = Value::Int(x.expires);
      r[8] = Value::Int(x.seller);
      r[9] = Value::Int(x.category);
      r[10] = str(x.extra);
      break;
    }
    case nexmark::Event::Kind::kBid: {
      const nexmark::Bid& b = e.bid;
      r[0] = str("bid");
      r[1] = Value::Int(b.auction);
      r[2] = Value::Int(b.bidder);
      r[3] = Value::Int(b.price);
      r[4] = str(b.channel);
      r[5] = str(b.url);
      r[6] = Value::Int(b.date_time);
      r[7] = str(b.extra);
      break;
    }
  }
}

// Generates and ingests the events of [0, events) whose kind is in `kinds` (bit 1 << kind),
// as NDJSON (parsed and validated by the engine, as over HTTP) or as typed rows (IngestRows,
// the embedded API: what an in-process source hands the engine).
void Produce(Engine* engine, const nexmark::Generator* gen, uint64_t events, uint32_t index, unsigned kinds,
             bool typed_rows, ProducerResult* result) {
  Producer producer(engine, index);
  std::string bodies[3];
  RowBatch rows[3] = {RowBatch(9), RowBatch(11), RowBatch(8)};
  static constexpr const char* kStreams[3] = {"person", "auction", "bid"};
  nexmark::Event event;
  double gen_cpu = 0;
  for (uint64_t first = 0; first < events && result->status.ok(); first += kChunkEvents) {
    const double t0 = ThreadCpuSeconds();
    for (std::string& b : bodies) b.clear();
    for (RowBatch& r : rows) r.Clear();
    const uint64_t end = std::min(events, first + kChunkEvents);
    for (uint64_t i = first; i < end; ++i) {
      const auto kind = static_cast<unsigned>(nexmark::KindAt(i));
      if ((kinds & (1u << kind)) == 0) continue;
      gen->EventAt(i, &event);
      if (typed_rows) {
        AppendEventRow(event, &rows[kind]);
      } else {
        nexmark::AppendEventJson(event, &bodies[kind]);
        bodies[kind].push_back('\n');
      }
    }
    gen_cpu += ThreadCpuSeconds() - t0;
    for (int k = 0; k < 3 && result->status.ok(); ++k) {
      result->status = typed_rows ? producer.SendRows(kStreams[k], rows[k]) : producer.Send(kStreams[k], bodies[k]);
    }
  }
  Status drained = producer.Drain();
  if (result->status.ok()) result->status = drained;
  result->generator_cpu_s = gen_cpu;
}

// Sum of end offsets of `stream`'s partitions (events plus watermark markers): grows while
// the pipelines still write.
uint64_t EndOffsets(const Engine& engine, const std::string& stream) {
  uint64_t n = 0;
  for (const StreamInfo& s : engine.ListStreams()) {
    if (s.name != stream) continue;
    for (const PartitionInfo& p : s.partitions) n += p.end_offset;
  }
  return n;
}

template <typename Row>
Status Compare(const std::string& ndjson, const std::vector<Row>& expected) {
  ASSIGN_OR_RETURN(std::vector<Row> rows, nexmark::RowsFromNdjson<Row>(ndjson));
  if (rows == expected) return Status::OK();
  size_t i = 0;
  while (i < rows.size() && i < expected.size() && rows[i] == expected[i]) ++i;
  return DataLoss("output differs from the reference: " + std::to_string(rows.size()) + " rows, expected " +
                  std::to_string(expected.size()) + ", first difference at sorted row " + std::to_string(i));
}

// Compares `query`'s output with the reference results of src/datagen/nexmark/reference.h (q0: the
// bids' auction and price).
Status Verify(const std::string& query, const nexmark::GeneratorConfig& config, uint64_t events,
              const std::string& ndjson) {
  const nexmark::Events all = nexmark::GenerateEvents(config, events);
  switch (query[1]) {
    case '0': {
      std::vector<nexmark::Q2Row> bids;
      for (const nexmark::Bid& b : all.bids) bids.push_back({b.auction, b.price});
      std::sort(bids.begin(), bids.end());
      return Compare(ndjson, bids);
    }
    case '1': return Compare(ndjson, nexmark::Q1(all));
    case '2': return Compare(ndjson, nexmark::Q2(all));
    case '3': return Compare(ndjson, nexmark::Q3(all));
    case '4': return Compare(ndjson, nexmark::Q4(all));
    case '5': return Compare(ndjson, nexmark::Q5(all));
    case '7': return Compare(ndjson, nexmark::Q7(all));
    case '8': return Compare(ndjson, nexmark::Q8(all));
    default: return InvalidArgument("no reference for " + query);
  }
}

}  // namespace

int NexmarkCommand(const std::vector<std::string>& args) {
  const char* usage =
      "impulse-bench nexmark --query qN --events N [--rate R] [--shards S] [--producers 1|2] [--input rows|ndjson]\n"
      "                [--checkpoint-interval-ms MS] [--state memory|rocksdb] [--durability none|sync]\n"
      "                [--spec FILE] [--data-dir DIR] [--seed S] [--json] [--verify]";
  po::options_description opts("nexmark options");
  std::string query, state = "memory", durability = "none", spec, data_dir, input = "rows";
  uint64_t events = 0;
  uint32_t shards = 0, producers = 2;
  int64_t checkpoint_ms = 0, timeout_s = 3600;
  nexmark::GeneratorConfig config;
  opts.add_options()("query", po::value(&query), "q0 .. q8 (q6 is not expressible; see docs/NEXMARK.md)")(
      "events", po::value(&events), "number of generated events (person:auction:bid = 1:3:46)")(
      "rate", po::value(&config.events_per_second)->default_value(config.events_per_second),
      "events per second of event time (spaces timestamps; ingest runs as fast as it can)")(
      "seed", po::value(&config.seed)->default_value(config.seed), "generator seed")(
      "shards", po::value(&shards)->default_value(0), "engine shards (0 = number of cores)")(
      "producers", po::value(&producers)->default_value(2), "ingest threads: 1, or 2 (bid | person+auction)")(
      "input", po::value(&input)->default_value(input),
      "rows (typed rows through IngestRows, the embedded API) or ndjson (parsed and validated as over HTTP)")(
      "checkpoint-interval-ms", po::value(&checkpoint_ms)->default_value(0), "0 = no checkpoints")(
      "state", po::value(&state)->default_value("memory"), "operator state: memory or rocksdb")(
      "durability", po::value(&durability)->default_value("none"), "none (write only) or sync (fsync)")(
      "spec", po::value(&spec), "spec file (default: bench/nexmark/QUERY.yaml beside the binary)")(
      "data-dir", po::value(&data_dir), "data directory, kept (default: a temp dir removed at exit)")(
      "timeout-s", po::value(&timeout_s)->default_value(3600), "give up after this long")(
      "json", "one JSON object on stdout instead of text")(
      "verify", "compare the output with the reference results (after the measurement; up to 1 M events)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm); rc >= 0) return rc;
  if (query.size() != 2 || query[0] != 'q' || query[1] < '0' || query[1] > '8' || query == "q6") {
    std::fprintf(stderr, "impulse: nexmark: --query must be one of q0 q1 q2 q3 q4 q5 q7 q8\n\nUsage: %s\n", usage);
    return 2;
  }
  if (events == 0 || events > nexmark::kMaxEventIndex || (producers != 1 && producers != 2) ||
      (state != "memory" && state != "rocksdb") || (input != "rows" && input != "ndjson") ||
      (durability != "none" && durability != "sync") || checkpoint_ms < 0 || timeout_s <= 0 ||
      (vm.count("verify") && events > kMaxVerifyEvents)) {
    std::fprintf(stderr, "impulse: nexmark: bad option value\n\nUsage: %s\n", usage);
    return 2;
  }
  auto gen = nexmark::Generator::Create(config);
  if (!gen.ok()) {
    std::fprintf(stderr, "impulse: nexmark: %s\n", gen.status().ToString().c_str());
    return 2;
  }
  if (!FindSpec("nexmark", "bench/nexmark/" + query + ".yaml", &spec)) return 2;
  const RunDataDir dir(data_dir, "nexmark");

  EngineOptions o;
  o.data_dir = dir.path();
  o.shards = shards;
  o.max_producers = producers;
  o.durability = durability == "sync" ? Durability::kSync : Durability::kNone;
  o.checkpoint_interval_ms = checkpoint_ms;
  o.state_rocksdb = state == "rocksdb";
  auto opened = Engine::Open(spec, o);
  if (!opened.ok()) {
    std::fprintf(stderr, "impulse: nexmark: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  Engine& engine = **opened;
  const std::string out_stream = query + "_out";

  const double cpu0 = ProcessCpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  const bool typed = input == "rows";
  std::vector<ProducerResult> results(producers);
  std::vector<std::thread> threads;
  if (producers == 1) {
    threads.emplace_back(Produce, &engine, &*gen, events, 0u, 7u, typed, &results[0]);
  } else {
    threads.emplace_back(Produce, &engine, &*gen, events, 0u, 1u << 2, typed, &results[0]);  // bid
    threads.emplace_back(Produce, &engine, &*gen, events, 1u, (1u << 0) | (1u << 1), typed,
                         &results[1]);  // person, auction
  }
  for (std::thread& t : threads) t.join();
  double generator_cpu = 0;
  for (const ProducerResult& r : results) {
    generator_cpu += r.generator_cpu_s;
    if (!r.status.ok()) {
      std::fprintf(stderr, "impulse: nexmark: ingest: %s\n", r.status.ToString().c_str());
      (void)engine.Stop();
      return 1;
    }
  }
  for (const char* s : {"person", "auction", "bid"}) {
    Status st = engine.EndOfInput(s);
    if (!st.ok()) {
      std::fprintf(stderr, "impulse: nexmark: EndOfInput(%s): %s\n", s, st.ToString().c_str());
      (void)engine.Stop();
      return 1;
    }
  }
  // Done once every pipeline is idle and the output stopped growing for kSettleRounds checks;
  // the end is the first of those checks.
  const auto deadline = wall0 + std::chrono::seconds(timeout_s);
  auto wall_end = std::chrono::steady_clock::now();
  double cpu_end = ProcessCpuSeconds();
  uint64_t last = UINT64_MAX;
  int same = 0;
  while (same < kSettleRounds) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "impulse: nexmark: the output did not settle within %lld s\n",
                   static_cast<long long>(timeout_s));
      (void)engine.Stop();
      return 1;
    }
    if (!engine.WaitForPipelines(1'000).ok()) continue;
    const uint64_t n = EndOffsets(engine, out_stream);
    if (n != last) {
      last = n;
      same = 0;
      wall_end = std::chrono::steady_clock::now();
      cpu_end = ProcessCpuSeconds();
    } else {
      ++same;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kSettleMs));
  }
  const double wall_s = std::chrono::duration<double>(wall_end - wall0).count();
  const double cpu_s = cpu_end - cpu0;
  const double engine_cpu_s = std::max(1e-9, cpu_s - generator_cpu);
  const bool verify = vm.count("verify") > 0;
  std::string output_ndjson;
  const uint64_t output = runtime::ReadBackEvents(engine, out_stream, verify ? &output_ndjson : nullptr);
  const Status verified = verify ? Verify(query, config, events, output_ndjson) : Status::OK();
  StageLatency pause;  // checkpoint pauses during the run
  for (const StageLatency& l : engine.StageLatencies()) {
    if (l.stage == "checkpoint_pause") pause = l;
  }
  Status stopped = engine.Stop();
  const double eps = static_cast<double>(events) / wall_s;
  const double per_core = static_cast<double>(events) / engine_cpu_s;
  if (vm.count("json")) {
    std::printf(
        "{\"query\":\"%s\",\"events\":%llu,\"output_events\":%llu,\"wall_s\":%.3f,\"events_per_s\":%.0f,"
        "\"cpu_s\":%.3f,\"generator_cpu_s\":%.3f,\"engine_cpu_s\":%.3f,\"events_per_cpu_s\":%.0f,"
        "\"shards\":%u,\"producers\":%u,\"checkpoint_interval_ms\":%lld,\"state\":\"%s\","
        "\"durability\":\"%s\",\"rate\":%.0f,\"input\":\"%s\",\"checkpoints\":%llu,"
        "\"checkpoint_pause_p50_us\":%.0f,\"checkpoint_pause_p99_us\":%.0f}\n",
        query.c_str(), static_cast<unsigned long long>(events), static_cast<unsigned long long>(output), wall_s, eps,
        cpu_s, generator_cpu, engine_cpu_s, per_core, engine.shard_count(), producers,
        static_cast<long long>(checkpoint_ms), state.c_str(), durability.c_str(), config.events_per_second,
        input.c_str(), static_cast<unsigned long long>(pause.count), pause.p50_us, pause.p99_us);
  } else {
    std::printf("nexmark %s: %llu events -> %llu output events\n", query.c_str(),
                static_cast<unsigned long long>(events), static_cast<unsigned long long>(output));
    std::printf("  wall %.3f s: %.0f events/s\n", wall_s, eps);
    std::printf("  cpu %.3f s (user+sys), of which generator %.3f s; engine %.3f s\n", cpu_s, generator_cpu,
                engine_cpu_s);
    std::printf("  %.0f events per engine CPU-second (per core)\n", per_core);
    std::printf("  shards %u, producers %u, checkpoints %s, state %s, durability %s%s\n", engine.shard_count(),
                producers, checkpoint_ms == 0 ? "off" : (std::to_string(checkpoint_ms) + " ms").c_str(), state.c_str(),
                durability.c_str(), durability == "none" ? " (the log is still written, not fsynced)" : "");
    std::printf("  input %s%s\n", input.c_str(),
                input == "rows" ? " (typed rows: no NDJSON parsing)" : " (NDJSON parsed and validated)");
    if (pause.count > 0) {
      std::printf("  %llu checkpoints, pause p50 %.0f us, p99 %.0f us\n", static_cast<unsigned long long>(pause.count),
                  pause.p50_us, pause.p99_us);
    }
  }
  if (verify) {
    if (!verified.ok()) {
      std::fprintf(stderr, "impulse: nexmark: verify: %s\n", verified.ToString().c_str());
      return 1;
    }
    std::fprintf(stderr, "verify: the output equals the reference (%llu rows)\n",
                 static_cast<unsigned long long>(output));
  }
  if (!stopped.ok()) {
    std::fprintf(stderr, "impulse: nexmark: stop: %s\n", stopped.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace impulse::bench
