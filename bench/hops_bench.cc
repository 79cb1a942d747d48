// `impulse-bench hops`: where an event's time goes on a multi-pipeline path. Feeds NDJSON
// events (e.g. `impulse generate fraud --format ndjson`) to an in-process engine at a fixed
// open-loop rate, one event per Ingest, and subscribes to each stream the path writes (e.g.
// tx_by_terminal, tx_features, tx_scored). Prints, per stream, the latency from an event's
// Ingest call to its row being delivered by the subscription (matched by --id), and the ack
// latency. Subscriptions poll every 1 ms when idle, so each figure carries up to 1 ms of it.
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/command_line.h"
#include "impulse/engine.h"
#include "loadgen/latency_histogram.h"
#include "model/repository.h"

namespace impulse::bench {

namespace po = boost::program_options;

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Hop {
  std::string stream;
  int id_field = -1;
  std::mutex mu;
  loadgen::LatencyHistogram latency;  // guarded by mu
  std::unique_ptr<Subscription> sub;
};

}  // namespace

int HopsBenchCommand(const std::vector<std::string>& args) {
  po::options_description opts("hops options");
  std::string spec, models, input, durability = "none", streams_arg, id = "transaction_id", stream = "transactions";
  std::string data_dir;
  double rate = 1000;
  uint64_t events = 10000;
  uint32_t shards = 2;
  opts.add_options()("spec", po::value(&spec), "pipeline spec")("models", po::value(&models), "model repository")(
      "input", po::value(&input), "NDJSON events, sent in order")("stream", po::value(&stream)->default_value(stream),
                                                                  "stream the events are ingested into")(
      "outputs", po::value(&streams_arg), "comma-separated streams to time, in path order")(
      "id", po::value(&id)->default_value(id), "int64 field identifying an event in every output stream")(
      "durability", po::value(&durability)->default_value(durability), "none | sync")(
      "rate", po::value(&rate)->default_value(rate), "events/s, open loop")(
      "events", po::value(&events)->default_value(events), "events to send (at most the input's lines)")(
      "shards", po::value(&shards)->default_value(shards), "shard threads")(
      "data-dir", po::value(&data_dir), "engine data directory (default: a fresh temporary one)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse-bench hops --spec S --input F --outputs a,b,c [options]", opts, &vm);
      rc >= 0) {
    return rc;
  }
  if (spec.empty() || input.empty() || streams_arg.empty() || rate <= 0) {
    std::fprintf(stderr, "impulse-bench hops: --spec, --input, --outputs and a rate > 0 are required\n");
    return 2;
  }
  std::vector<std::string> lines;
  {
    std::ifstream in(input);
    for (std::string l; lines.size() < events && std::getline(in, l);) {
      if (!l.empty()) lines.push_back(std::move(l));
    }
  }
  if (lines.empty()) {
    std::fprintf(stderr, "impulse-bench hops: no events in %s\n", input.c_str());
    return 1;
  }
  EngineOptions eo;
  if (data_dir.empty()) {
    data_dir = std::filesystem::temp_directory_path() / ("impulse-hops-" + std::to_string(::getpid()));
  }
  std::filesystem::remove_all(data_dir);
  eo.data_dir = data_dir;
  eo.shards = shards;
  eo.max_producers = 1;
  eo.durability = durability == "sync" ? Durability::kSync : Durability::kNone;
  if (!models.empty()) {
    auto repo = model::ModelRepository::Open(models);
    if (!repo.ok()) {
      std::fprintf(stderr, "impulse-bench hops: --models: %s\n", repo.status().ToString().c_str());
      return 1;
    }
    eo.models = std::move(*repo);
  }
  auto engine = Engine::Open(spec, eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "impulse-bench hops: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  Engine& e = **engine;

  // Send time per event id (ids are the input's, dense from 0 in the fraud generator's output;
  // others are looked up by position).
  std::vector<std::atomic<int64_t>> sent(lines.size());
  std::vector<std::unique_ptr<Hop>> hops;
  for (size_t begin = 0; begin <= streams_arg.size();) {
    size_t end = streams_arg.find(',', begin);
    if (end == std::string::npos) end = streams_arg.size();
    auto hop = std::make_unique<Hop>();
    hop->stream = streams_arg.substr(begin, end - begin);
    begin = end + 1;
    for (const StreamInfo& s : e.ListStreams()) {
      if (s.name != hop->stream) continue;
      for (size_t f = 0; f < s.def.schema.size(); ++f) {
        if (s.def.schema.fields()[f].name == id) hop->id_field = static_cast<int>(f);
      }
    }
    if (hop->id_field < 0) {
      std::fprintf(stderr, "impulse-bench hops: stream %s has no field %s\n", hop->stream.c_str(), id.c_str());
      return 1;
    }
    SubscribeOptions so;
    so.poll_interval_ms = 1;
    Hop* h = hop.get();
    auto sub = e.Subscribe(hop->stream, so, [h, &sent](const RowBatch& rows, uint32_t, uint64_t) {
      const int64_t now = NowNs();
      std::lock_guard<std::mutex> lock(h->mu);
      for (size_t i = 0; i < rows.size(); ++i) {
        const int64_t ev = rows.row(i)[h->id_field].i64;
        if (ev < 0 || static_cast<size_t>(ev) >= sent.size()) continue;
        const int64_t t0 = sent[static_cast<size_t>(ev)].load(std::memory_order_acquire);
        if (t0 > 0) h->latency.Record(static_cast<uint64_t>(std::max<int64_t>(0, now - t0)));
      }
    });
    if (!sub.ok()) {
      std::fprintf(stderr, "impulse-bench hops: subscribe %s: %s\n", hop->stream.c_str(),
                   sub.status().ToString().c_str());
      return 1;
    }
    hop->sub = std::move(*sub);
    hops.push_back(std::move(hop));
  }

  std::mutex ack_mu;
  loadgen::LatencyHistogram ack;
  std::atomic<uint64_t> acked{0}, failed{0};
  const int64_t start = NowNs();
  for (size_t i = 0; i < lines.size(); ++i) {
    const int64_t due = start + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate);
    while (NowNs() < due) std::this_thread::sleep_for(std::chrono::microseconds(20));
    // Latency counts from the due time (open loop: a late send is the engine's delay too).
    sent[i].store(due, std::memory_order_release);
    const Status st = e.Ingest(stream, lines[i], 0, [&, due](const Status& s, const IngestResult&) {
      const int64_t now = NowNs();
      if (!s.ok()) failed.fetch_add(1);
      std::lock_guard<std::mutex> lock(ack_mu);
      ack.Record(static_cast<uint64_t>(now - due));
      acked.fetch_add(1);
    });
    if (!st.ok()) failed.fetch_add(1);
  }
  const double seconds = static_cast<double>(NowNs() - start) / 1e9;
  (void)e.WaitForPipelines(30000);
  for (auto& h : hops) (void)h->sub->WaitCaughtUp(30000);
  std::printf("hops: %zu events at %.0f/s (%.1f s), durability %s, %u shards; latency from the event's due time\n",
              lines.size(), rate, seconds, durability.c_str(), shards);
  auto print = [](const std::string& what, const loadgen::LatencyHistogram& l) {
    std::printf("  %-28s %8llu rows  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms\n", what.c_str(),
                static_cast<unsigned long long>(l.count()), static_cast<double>(l.Quantile(0.5)) / 1e6,
                static_cast<double>(l.Quantile(0.99)) / 1e6, static_cast<double>(l.max_ns()) / 1e6);
  };
  {
    std::lock_guard<std::mutex> lock(ack_mu);
    print("ack (" + stream + ")", ack);
  }
  for (auto& h : hops) {
    h->sub->Cancel();
    std::lock_guard<std::mutex> lock(h->mu);
    print("readable in " + h->stream, h->latency);
  }
  if (failed.load() > 0) std::printf("  %llu ingest failures\n", static_cast<unsigned long long>(failed.load()));
  hops.clear();
  (void)e.Stop();
  engine->reset();
  std::filesystem::remove_all(data_dir);
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace impulse::bench
