// `impulse-bench hops`: where an event's time goes on a multi-pipeline path. Feeds NDJSON
// events (e.g. `impulse generate fraud --format ndjson`) to an in-process engine at a fixed
// open-loop rate, one event per Ingest, and subscribes to each stream the path writes (e.g.
// tx_by_terminal, tx_features, tx_scored). Prints, per stream, the latency from an event's
// Ingest call to its row being delivered by the subscription (matched by --id), and the ack
// latency. Subscriptions poll every 1 ms when idle, so each figure carries up to 1 ms of it.
//
// For paths whose state needs history (windows of days, hourly candidate lists), `--warm N`
// ingests the first N lines unpaced and drains the engine before the measured ones. With
// `--live-time FIELD` event time runs with the wall clock, as in live use: the history is
// shifted to end when the measurement starts and each measured event carries its due time, so
// a step waiting for the watermark (max_out_of_orderness, point-in-time views) waits in real
// time. `--phases` runs several measurements on the same warmed engine, in order, each on the
// next lines: `RATE:N` (open loop; followed by --tail-s of unmeasured events at the same rate,
// so that the measured ones are not left waiting for a watermark) or `unpaced:N` (throughput:
// sent as fast as the engine accepts them, --batch lines per Ingest, with the data's own time
// spacing shifted to start now; the input then ends (EndOfInput), so it comes last), reported
// as events per second to the last row of the last stream. Each phase prints the process's CPU
// time per event (the engine's threads and this driver's).
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/command_line.h"
#include "event/timestamp.h"
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

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MaxRssMb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

struct HopStats {
  loadgen::LatencyHistogram latency;
  uint64_t rows = 0;  // measured rows delivered
  uint64_t list_elements = 0, lists = 0, full_lists = 0;
  int64_t last_ns = 0;  // delivery of the last measured row
};

struct Hop {
  std::string stream;
  int id_field = -1;
  int list_field = -1;  // a string field holding a JSON list, whose length is averaged
  std::mutex mu;
  std::vector<HopStats> phases;  // guarded by mu
  std::unique_ptr<Subscription> sub;
};

struct Phase {
  bool unpaced = false;
  double rate = 0;
  size_t begin = 0, end = 0;  // measured lines
  size_t tail_end = 0;        // then unmeasured lines [end, tail_end) at the same rate
};

// The span of field `name`'s value in a flat NDJSON object line (a string with its quotes, or a
// bare number), or nullopt.
std::optional<std::pair<size_t, size_t>> ValueSpan(const std::string& line, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  size_t at = line.find(key);
  if (at == std::string::npos) return std::nullopt;
  size_t begin = at + key.size();
  while (begin < line.size() && line[begin] == ' ') ++begin;
  if (begin >= line.size()) return std::nullopt;
  size_t end = begin;
  if (line[begin] == '"') {
    end = line.find('"', begin + 1);
    if (end == std::string::npos) return std::nullopt;
    ++end;
  } else {
    while (end < line.size() && line[end] != ',' && line[end] != '}' && line[end] != ' ') ++end;
  }
  return std::make_pair(begin, end);
}

std::optional<int64_t> IntValue(const std::string& line, const std::string& name) {
  auto span = ValueSpan(line, name);
  if (!span) return std::nullopt;
  int64_t v = 0;
  const char* b = line.data() + span->first;
  const char* e = line.data() + span->second;
  if (std::from_chars(b, e, v).ptr != e) return std::nullopt;
  return v;
}

std::optional<int64_t> TimeValueMs(const std::string& line, const std::string& name) {
  auto span = ValueSpan(line, name);
  if (!span) return std::nullopt;
  if (line[span->first] != '"') return IntValue(line, name);
  auto ms = ParseTimestampMs(std::string_view(line).substr(span->first + 1, span->second - span->first - 2));
  if (!ms.ok()) return std::nullopt;
  return *ms;
}

void SetTimeValueMs(std::string* line, const std::string& name, int64_t ms) {
  auto span = ValueSpan(*line, name);
  if (span) line->replace(span->first, span->second - span->first, std::to_string(ms));
}

// Elements of a JSON list (top-level commas + 1; 0 for "[]").
uint64_t ListLength(std::string_view s) {
  int depth = 0;
  bool in_string = false, any = false;
  uint64_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{')
      ++depth;
    else if (c == ']' || c == '}')
      --depth;
    else if (c == ',' && depth == 1)
      ++n;
    if (depth >= 1 && c != '[' && c != ' ' && c != ']') any = true;
  }
  return any ? n + 1 : 0;
}

}  // namespace

int HopsBenchCommand(const std::vector<std::string>& args) {
  po::options_description opts("hops options");
  std::string spec, models, input, durability = "none", streams_arg, id = "transaction_id", stream = "transactions";
  std::string data_dir, live_time, list_field, phases_arg, metrics_out;
  double rate = 1000, tail_s = 2;
  uint64_t events = 10000, warm = 0, batch = 1000, full_list = 0;
  int64_t checkpoint_interval_ms = 10000;
  uint32_t shards = 2;
  opts.add_options()("spec", po::value(&spec), "pipeline spec")("models", po::value(&models), "model repository")(
      "input", po::value(&input), "NDJSON events, sent in order")("stream", po::value(&stream)->default_value(stream),
                                                                  "stream the events are ingested into")(
      "outputs", po::value(&streams_arg), "comma-separated streams to time, in path order")(
      "id", po::value(&id)->default_value(id), "int64 field identifying an event in every output stream")(
      "durability", po::value(&durability)->default_value(durability), "none | sync")(
      "rate", po::value(&rate)->default_value(rate), "events/s, open loop (without --phases)")(
      "events", po::value(&events)->default_value(events), "events to measure (without --phases)")(
      "phases", po::value(&phases_arg), "RATE:N or unpaced:N, comma-separated, run in order on the next lines")(
      "tail-s", po::value(&tail_s)->default_value(tail_s),
      "unmeasured seconds sent after each RATE phase (default 0 without --phases)")(
      "warm", po::value(&warm)->default_value(warm), "lines ingested unpaced and drained first, not measured")(
      "live-time", po::value(&live_time),
      "timestamp field: event time follows the wall clock (history shifted to end now, each measured event at its "
      "due time)")("batch", po::value(&batch)->default_value(batch), "lines per Ingest for --warm and unpaced")(
      "list-field", po::value(&list_field), "a JSON-list string field whose length is averaged per stream")(
      "full-list", po::value(&full_list)->default_value(full_list), "list length counted as full (with --list-field)")(
      "checkpoint-interval-ms", po::value(&checkpoint_interval_ms)->default_value(checkpoint_interval_ms),
      "engine checkpoints (0: none)")("shards", po::value(&shards)->default_value(shards), "shard threads")(
      "data-dir", po::value(&data_dir), "engine data directory (default: a fresh temporary one)")(
      "metrics-out", po::value(&metrics_out), "write the engine's metrics here after the warm-up and at the end");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse-bench hops --spec S --input F --outputs a,b,c [options]", opts, &vm);
      rc >= 0) {
    return rc;
  }
  if (spec.empty() || input.empty() || streams_arg.empty() || rate <= 0 || batch == 0 || tail_s < 0) {
    std::fprintf(stderr,
                 "impulse-bench hops: --spec, --input, --outputs, a rate > 0, a batch > 0 and --tail-s >= 0 are "
                 "required\n");
    return 2;
  }
  // The phases, as (rate or unpaced, measured count, tail count).
  struct PhaseArg {
    bool unpaced;
    double rate;
    uint64_t n;
  };
  std::vector<PhaseArg> phase_args;
  if (phases_arg.empty()) {
    // One phase, as before --phases existed: every line measured, no tail unless asked for.
    if (vm["tail-s"].defaulted()) tail_s = 0;
    phase_args.push_back({false, rate, events});
  } else {
    for (size_t begin = 0; begin <= phases_arg.size();) {
      size_t end = phases_arg.find(',', begin);
      if (end == std::string::npos) end = phases_arg.size();
      const std::string p = phases_arg.substr(begin, end - begin);
      begin = end + 1;
      const size_t colon = p.find(':');
      PhaseArg a{false, 0, 0};
      bool ok = colon != std::string::npos;
      if (ok) {
        const std::string r = p.substr(0, colon), n = p.substr(colon + 1);
        ok = std::from_chars(n.data(), n.data() + n.size(), a.n).ptr == n.data() + n.size() && a.n > 0;
        if (r == "unpaced") {
          a.unpaced = true;
        } else {
          ok = ok && std::from_chars(r.data(), r.data() + r.size(), a.rate).ptr == r.data() + r.size() && a.rate > 0;
        }
      }
      if (!ok || (!phase_args.empty() && phase_args.back().unpaced)) {
        std::fprintf(stderr, "impulse-bench hops: --phases: bad phase '%s' (RATE:N or unpaced:N, unpaced last)\n",
                     p.c_str());
        return 2;
      }
      phase_args.push_back(a);
    }
  }
  uint64_t wanted = warm;
  for (const PhaseArg& a : phase_args) {
    wanted += a.n + (a.unpaced ? 0 : static_cast<uint64_t>(a.rate * tail_s));
  }
  std::vector<std::string> lines;
  {
    std::ifstream in(input);
    for (std::string l; lines.size() < wanted && std::getline(in, l);) {
      if (!l.empty()) lines.push_back(std::move(l));
    }
  }
  if (lines.size() < wanted) {
    std::fprintf(stderr, "impulse-bench hops: %s has %zu events; --warm and the phases need %llu\n", input.c_str(),
                 lines.size(), static_cast<unsigned long long>(wanted));
    return 1;
  }
  std::vector<Phase> phases;
  std::vector<int> phase_of_line(lines.size(), -1);  // measured lines only
  for (size_t at = warm; const PhaseArg& a : phase_args) {
    Phase ph;
    ph.unpaced = a.unpaced;
    ph.rate = a.rate;
    ph.begin = at;
    ph.end = at + a.n;
    ph.tail_end = ph.end + (a.unpaced ? 0 : static_cast<size_t>(a.rate * tail_s));
    for (size_t i = ph.begin; i < ph.end; ++i) phase_of_line[i] = static_cast<int>(phases.size());
    at = ph.tail_end;
    phases.push_back(ph);
  }
  // Measured events by id: rows are matched to their send time by it.
  std::unordered_map<int64_t, size_t> line_of_id;
  for (size_t i = warm; i < lines.size(); ++i) {
    auto v = IntValue(lines[i], id);
    if (!v) {
      std::fprintf(stderr, "impulse-bench hops: line %zu has no integer %s\n", i + 1, id.c_str());
      return 1;
    }
    if (phase_of_line[i] >= 0) line_of_id.emplace(*v, i);
  }
  // Event times (ms) of every line, with --live-time.
  std::vector<int64_t> data_ms;
  if (!live_time.empty()) {
    for (size_t i = 0; i < lines.size(); ++i) {
      auto t = TimeValueMs(lines[i], live_time);
      if (!t) {
        std::fprintf(stderr, "impulse-bench hops: line %zu has no timestamp %s\n", i + 1, live_time.c_str());
        return 1;
      }
      data_ms.push_back(*t);
    }
  }
  EngineOptions eo;
  if (data_dir.empty()) {
    data_dir = std::filesystem::temp_directory_path() / ("impulse-hops-" + std::to_string(::getpid()));
  }
  std::filesystem::remove_all(data_dir);
  eo.data_dir = data_dir;
  eo.shards = shards;
  eo.max_producers = 1;
  eo.checkpoint_interval_ms = checkpoint_interval_ms;
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

  // Unpaced ingest of lines [begin, end) in batches, at most 8 batches in flight, their event
  // times (with --live-time) shifted by `shift_ms`; a refusal for backpressure is retried.
  // Returns the failures.
  auto send_unpaced = [&](size_t begin, size_t end, int64_t shift_ms) -> uint64_t {
    std::mutex mu;
    std::condition_variable cv;
    int inflight = 0;
    uint64_t failures = 0;
    std::string body;
    for (size_t i = begin; i < end;) {
      const size_t n = std::min<size_t>(batch, end - i);
      body.clear();
      for (size_t j = i; j < i + n; ++j) {
        if (!live_time.empty()) SetTimeValueMs(&lines[j], live_time, data_ms[j] + shift_ms);
        body += lines[j];
        body += '\n';
      }
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return inflight < 8; });
        ++inflight;
      }
      Status st = e.Ingest(stream, body, 0, [&](const Status& s, const IngestResult& r) {
        std::lock_guard<std::mutex> lock(mu);
        if (!s.ok() || r.rejected > 0) ++failures;
        --inflight;
        cv.notify_all();
      });
      if (st.code() == StatusCode::kUnavailable) {  // backpressure: the same batch again
        {
          std::lock_guard<std::mutex> lock(mu);
          --inflight;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        --inflight;
        ++failures;
        std::fprintf(stderr, "impulse-bench hops: ingest: %s\n", st.ToString().c_str());
      }
      i += n;
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return inflight == 0; });
    return failures;
  };

  if (warm > 0) {
    const int64_t w0 = NowNs();
    const double c0 = CpuSeconds();
    const int64_t shift = live_time.empty() ? 0 : WallMs() - data_ms[warm - 1];
    const uint64_t f = send_unpaced(0, warm, shift);
    if (f > 0) {
      std::fprintf(stderr, "impulse-bench hops: %llu warm-up batches failed\n", static_cast<unsigned long long>(f));
      return 1;
    }
    (void)e.WaitForPipelines(1800000);
    std::printf("warm-up: %llu events ingested and processed in %.1f s (%.1f s CPU), max RSS %lld MB\n",
                static_cast<unsigned long long>(warm), static_cast<double>(NowNs() - w0) / 1e9, CpuSeconds() - c0,
                static_cast<long long>(MaxRssMb()));
    if (!metrics_out.empty()) std::ofstream(metrics_out + ".warm") << e.MetricsText();
  }

  // Send time per measured line (0 until sent).
  std::vector<std::atomic<int64_t>> sent(lines.size());
  std::vector<std::unique_ptr<Hop>> hops;
  for (size_t begin = 0; begin <= streams_arg.size();) {
    size_t end = streams_arg.find(',', begin);
    if (end == std::string::npos) end = streams_arg.size();
    auto hop = std::make_unique<Hop>();
    hop->stream = streams_arg.substr(begin, end - begin);
    hop->phases.resize(phases.size());
    begin = end + 1;
    for (const StreamInfo& s : e.ListStreams()) {
      if (s.name != hop->stream) continue;
      for (size_t f = 0; f < s.def.schema.size(); ++f) {
        if (s.def.schema.fields()[f].name == id) hop->id_field = static_cast<int>(f);
        if (!list_field.empty() && s.def.schema.fields()[f].name == list_field) hop->list_field = static_cast<int>(f);
      }
    }
    if (hop->id_field < 0) {
      std::fprintf(stderr, "impulse-bench hops: stream %s has no field %s\n", hop->stream.c_str(), id.c_str());
      return 1;
    }
    SubscribeOptions so;
    so.poll_interval_ms = 1;
    so.start = SubscribeOptions::Start::kEnd;  // rows of the warm-up are not delivered
    Hop* h = hop.get();
    auto sub = e.Subscribe(
        hop->stream, so, [h, &sent, &line_of_id, &phase_of_line, full_list](const RowBatch& rows, uint32_t, uint64_t) {
          const int64_t now = NowNs();
          std::lock_guard<std::mutex> lock(h->mu);
          for (size_t i = 0; i < rows.size(); ++i) {
            auto it = line_of_id.find(rows.row(i)[h->id_field].i64);
            if (it == line_of_id.end()) continue;
            const int64_t t0 = sent[it->second].load(std::memory_order_acquire);
            if (t0 <= 0) continue;
            HopStats& st = h->phases[static_cast<size_t>(phase_of_line[it->second])];
            st.latency.Record(static_cast<uint64_t>(std::max<int64_t>(0, now - t0)));
            ++st.rows;
            st.last_ns = now;
            const Value& list = rows.row(i)[h->list_field >= 0 ? h->list_field : 0];
            if (h->list_field >= 0 && !list.null) {
              const uint64_t n = ListLength(list.sv());
              st.list_elements += n;
              ++st.lists;
              if (full_list > 0 && n >= full_list) ++st.full_lists;
            }
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

  auto print = [](const std::string& what, const loadgen::LatencyHistogram& l) {
    std::printf("  %-36s %8llu rows  p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", what.c_str(),
                static_cast<unsigned long long>(l.count()), static_cast<double>(l.Quantile(0.5)) / 1e6,
                static_cast<double>(l.Quantile(0.99)) / 1e6, static_cast<double>(l.max_ns()) / 1e6);
  };
  std::atomic<uint64_t> failed{0};
  for (size_t p = 0; p < phases.size(); ++p) {
    const Phase& ph = phases[p];
    std::mutex ack_mu;
    loadgen::LatencyHistogram ack;
    const double cpu0 = CpuSeconds();
    const int64_t start = NowNs();
    if (ph.unpaced) {
      for (size_t i = ph.begin; i < ph.end; ++i) sent[i].store(start, std::memory_order_release);
      const int64_t shift = live_time.empty() ? 0 : WallMs() - data_ms[ph.begin];
      failed.fetch_add(send_unpaced(ph.begin, ph.end, shift));
      (void)e.EndOfInput(stream);
    } else {
      for (size_t i = ph.begin; i < ph.tail_end; ++i) {
        const int64_t due = start + static_cast<int64_t>(static_cast<double>(i - ph.begin) * 1e9 / ph.rate);
        while (NowNs() < due) std::this_thread::sleep_for(std::chrono::microseconds(20));
        // Latency counts from the due time (open loop: a late send is the engine's delay too).
        if (!live_time.empty()) SetTimeValueMs(&lines[i], live_time, WallMs() - (NowNs() - due) / 1000000);
        const bool measured = i < ph.end;
        if (measured) sent[i].store(due, std::memory_order_release);
        const Status st = e.Ingest(stream, lines[i], 0, [&, due, measured](const Status& s, const IngestResult&) {
          const int64_t now = NowNs();
          if (!s.ok()) failed.fetch_add(1);
          if (!measured) return;
          std::lock_guard<std::mutex> lock(ack_mu);
          ack.Record(static_cast<uint64_t>(now - due));
        });
        if (!st.ok()) failed.fetch_add(1);
      }
    }
    const double seconds = static_cast<double>(NowNs() - start) / 1e9;
    (void)e.WaitForPipelines(600000);
    for (auto& h : hops) (void)h->sub->WaitCaughtUp(60000);
    const double cpu = CpuSeconds() - cpu0;
    const size_t sent_lines = (ph.unpaced ? ph.end : ph.tail_end) - ph.begin;
    if (ph.unpaced) {
      HopStats last;
      {
        std::lock_guard<std::mutex> lock(hops.back()->mu);
        last = hops.back()->phases[p];
      }
      const double to_last = static_cast<double>(last.last_ns - start) / 1e9;
      std::printf(
          "phase %zu: %zu events unpaced (%llu per Ingest, sent in %.1f s%s), durability %s, %u shards\n"
          "  throughput: %.0f events/s (%llu rows of %s) to the last row of %s in %.2f s\n"
          "  process CPU: %.2f s, %.1f us per event, %.1f us per %s row\n",
          p + 1, ph.end - ph.begin, static_cast<unsigned long long>(batch), seconds,
          live_time.empty() ? "" : ", the data's time spacing", durability.c_str(), shards,
          static_cast<double>(ph.end - ph.begin) / to_last, static_cast<unsigned long long>(last.rows),
          hops.back()->stream.c_str(), hops.back()->stream.c_str(), to_last, cpu,
          cpu * 1e6 / static_cast<double>(sent_lines), last.rows ? cpu * 1e6 / static_cast<double>(last.rows) : 0.0,
          hops.back()->stream.c_str());
    } else {
      std::printf(
          "phase %zu: %zu events at %.0f/s (%.1f s, with %zu unmeasured after), durability %s, %u shards%s; "
          "latency from the event's due time\n"
          "  process CPU: %.2f s, %.1f us per event\n",
          p + 1, ph.end - ph.begin, ph.rate, seconds, ph.tail_end - ph.end, durability.c_str(), shards,
          live_time.empty() ? "" : ", event time = wall clock", cpu, cpu * 1e6 / static_cast<double>(sent_lines));
      std::lock_guard<std::mutex> lock(ack_mu);
      print("ack (" + stream + ")", ack);
    }
    for (auto& h : hops) {
      std::lock_guard<std::mutex> lock(h->mu);
      const HopStats& st = h->phases[p];
      print("readable in " + h->stream, st.latency);
      if (st.lists > 0) {
        std::printf("  %-36s mean %s length %.1f, %.1f%% of %llu lists >= %llu\n", "", list_field.c_str(),
                    static_cast<double>(st.list_elements) / static_cast<double>(st.lists),
                    100.0 * static_cast<double>(st.full_lists) / static_cast<double>(st.lists),
                    static_cast<unsigned long long>(st.lists), static_cast<unsigned long long>(full_list));
      }
    }
    std::fflush(stdout);
  }
  for (auto& h : hops) h->sub->Cancel();
  std::printf("max RSS %lld MB\n", static_cast<long long>(MaxRssMb()));
  if (!metrics_out.empty()) std::ofstream(metrics_out) << e.MetricsText();
  if (failed.load() > 0) std::printf("  %llu ingest failures\n", static_cast<unsigned long long>(failed.load()));
  hops.clear();
  (void)e.Stop();
  engine->reset();
  std::filesystem::remove_all(data_dir);
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace impulse::bench
