// `impulse-bench kafka`: the same pipeline fed by the embedded log (in-process Ingest) and by a
// Kafka topic on librdkafka's mock cluster (in this process, real loopback sockets), in one run.
// For each: the decision latency (an event sent, one at a time at an open-loop rate, to its row
// in the output stream, seen by a subscription polling every 1 ms) and the throughput (every
// event sent at once: embedded, Ingest calls of 1000 lines; Kafka, the topic filled before the
// engine starts; until the last output row, and for Kafka until the sink topic acknowledged
// every row). Events are partitioned by --key so that the Kafka
// source may declare partitioned_by_key.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/command_line.h"
#include "connect/kafka_mock.h"
#ifdef IMPULSE_HAVE_NATS
#include "connect/nats_server.h"
#endif
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

// The integer value of "field": in a JSON line, or -1.
int64_t IntField(const std::string& line, const std::string& field) {
  const std::string key = "\"" + field + "\":";
  const size_t at = line.find(key);
  if (at == std::string::npos) return -1;
  return std::strtoll(line.c_str() + at + key.size(), nullptr, 10);
}

struct Options {
  std::string spec_text, models, stream, output, id, key;
  uint32_t partitions = 4;
  uint32_t shards = 2;
  double rate = 1000;
  size_t latency_events = 2000;
  int fetch_wait_ms = 1;
};

struct Outcome {
  loadgen::LatencyHistogram latency;
  double events_per_s = 0;         // to the last output row
  double export_events_per_s = 0;  // Kafka: from the first decision to every row acknowledged by the sink topic
  double steady_events_per_s = 0;  // Kafka: from the first output row (the group's join excluded)
  bool ok = false;
};

// Counts output rows and times each against its event's send time.
class Watch {
 public:
  Watch(Engine& e, const Options& o, size_t events) : sent_(events) {
    for (const StreamInfo& s : e.ListStreams()) {
      if (s.name != o.output) continue;
      for (size_t f = 0; f < s.def.schema.size(); ++f) {
        if (s.def.schema.fields()[f].name == o.id) id_field_ = static_cast<int>(f);
      }
    }
    SubscribeOptions so;
    so.poll_interval_ms = 1;
    auto sub = e.Subscribe(o.output, so, [this](const RowBatch& rows, uint32_t, uint64_t) {
      const int64_t now = NowNs();
      std::lock_guard<std::mutex> lock(mu_);
      if (first_seen_ns_ == 0 && rows.size() > 0) first_seen_ns_ = now;
      for (size_t i = 0; i < rows.size(); ++i) {
        ++seen_;
        if (id_field_ < 0) continue;
        const int64_t ev = rows.row(i)[id_field_].i64;
        if (ev < 0 || static_cast<size_t>(ev) >= sent_.size()) continue;
        const int64_t t0 = sent_[static_cast<size_t>(ev)].load(std::memory_order_acquire);
        if (t0 > 0) latency_.Record(static_cast<uint64_t>(std::max<int64_t>(0, now - t0)));
      }
    });
    if (sub.ok()) sub_ = std::move(*sub);
  }
  bool ok() const { return sub_ != nullptr && id_field_ >= 0; }
  void Sent(int64_t id) {
    if (id >= 0 && static_cast<size_t>(id) < sent_.size()) sent_[static_cast<size_t>(id)].store(NowNs());
  }
  // Waits until n rows were seen (or 120 s); false on timeout.
  bool WaitSeen(size_t n) {
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (seen_ >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  int64_t first_seen_ns() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_seen_ns_;
  }
  loadgen::LatencyHistogram Latency() {
    std::lock_guard<std::mutex> lock(mu_);
    return latency_;
  }
  void Stop() { sub_.reset(); }

 private:
  std::vector<std::atomic<int64_t>> sent_;
  int id_field_ = -1;
  std::mutex mu_;
  size_t seen_ = 0;  // guarded by mu_
  int64_t first_seen_ns_ = 0;
  loadgen::LatencyHistogram latency_;
  std::unique_ptr<Subscription> sub_;
};

Result<std::unique_ptr<Engine>> OpenEngine(const Options& o, const std::string& spec_text, const std::string& dir) {
  std::filesystem::remove_all(dir);
  EngineOptions eo;
  eo.data_dir = dir;
  eo.shards = o.shards;
  eo.max_producers = 1;
  eo.durability = Durability::kNone;
  if (!o.models.empty()) {
    ASSIGN_OR_RETURN(eo.models, model::ModelRepository::Open(o.models));
  }
  return Engine::OpenSpec(spec_text, eo);
}

// Embedded: latency at the rate, then throughput with every event at once.
Outcome RunEmbedded(const Options& o, const std::vector<std::string>& lines, const std::string& dir) {
  Outcome out;
  {
    auto e = OpenEngine(o, o.spec_text, dir + "/lat");
    if (!e.ok()) {
      std::fprintf(stderr, "embedded: %s\n", e.status().ToString().c_str());
      return out;
    }
    const size_t n = std::min(lines.size(), o.latency_events);
    Watch w(**e, o, lines.size());
    if (!w.ok()) return out;
    const int64_t start = NowNs();
    for (size_t i = 0; i < n; ++i) {
      const auto due = start + static_cast<int64_t>(static_cast<double>(i) * 1e9 / o.rate);
      while (NowNs() < due) std::this_thread::sleep_for(std::chrono::microseconds(50));
      w.Sent(IntField(lines[i], o.id));
      (void)(*e)->Ingest(o.stream, lines[i] + "\n", 0, [](const Status&, const IngestResult&) {});
    }
    if (!w.WaitSeen(n)) return out;
    out.latency = w.Latency();
    w.Stop();
    (void)(*e)->Stop();
  }
  auto e = OpenEngine(o, o.spec_text, dir + "/tput");
  if (!e.ok()) return out;
  Watch w(**e, o, lines.size());
  const int64_t t0 = NowNs();
  std::string body;
  for (size_t i = 0; i < lines.size(); ++i) {
    body += lines[i];
    body += '\n';
    if ((i + 1) % 1000 == 0 || i + 1 == lines.size()) {
      while (true) {
        Status st = (*e)->Ingest(o.stream, body, 0, [](const Status&, const IngestResult&) {});
        if (st.ok()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // backpressure
      }
      body.clear();
    }
  }
  if (!w.WaitSeen(lines.size())) return out;
  out.events_per_s = static_cast<double>(lines.size()) * 1e9 / static_cast<double>(NowNs() - t0);
  w.Stop();
  (void)(*e)->Stop();
  out.ok = true;
  return out;
}

std::string WithKafka(const Options& o, const std::string& bootstraps, const std::string& group) {
  std::ostringstream s;
  // fetch.wait.max.ms: the mock cluster answers a fetch only when that wait ends, data or not
  // (a real broker answers as data arrives); 1 ms keeps its wait out of the engine's figure.
  s << o.spec_text << "\nkafka:\n  brokers: \"" << bootstraps << "\"\n  group: " << group
    << "\n  properties: {fetch.wait.max.ms: \"" << o.fetch_wait_ms << "\"}"
    << "\n  sources: [{stream: " << o.stream << ", topic: in, partitioned_by_key: true}]\n"
    << "  sinks: [{stream: " << o.output << ", topic: out, delivery: at_least_once}]\n";
  return s.str();
}

// Throughput of a broker run: an engine on `spec` drains the `n` events already in the broker;
// timed to its last output row, and to `exported` (a sink's counter of acknowledged rows) = n.
Outcome Drain(const Options& o, size_t n, const std::string& spec, const std::string& dir, const std::string& exported,
              int timeout_s, const char* name) {
  Outcome out;
  const int64_t t0 = NowNs();
  auto e = OpenEngine(o, spec, dir);
  if (!e.ok()) return out;
  Watch w(**e, o, n);
  if (!w.WaitSeen(n)) return out;
  const int64_t t_all = NowNs();
  out.events_per_s = static_cast<double>(n) * 1e9 / static_cast<double>(t_all - t0);
  out.steady_events_per_s = static_cast<double>(n) * 1e9 / static_cast<double>(t_all - w.first_seen_ns());
  const std::string done = exported + " " + std::to_string(n) + "\n";
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  size_t got = 0;
  while (Clock::now() < deadline) {
    if ((*e)->MetricsText().find(done) != std::string::npos) {
      got = n;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  out.export_events_per_s = static_cast<double>(got) * 1e9 / static_cast<double>(NowNs() - w.first_seen_ns());
  w.Stop();
  (void)(*e)->Stop();
  out.ok = got >= n;
  if (!out.ok) std::fprintf(stderr, "%s: the sink did not export every row within %d s\n", name, timeout_s);
  return out;
}

Outcome RunKafka(const Options& o, const std::vector<std::string>& lines, const std::string& dir) {
  Outcome out;
  auto partition_of = [&](const std::string& line) {
    const int64_t k = IntField(line, o.key);
    return static_cast<int32_t>((k < 0 ? 0 : k) % o.partitions);
  };
  {
    connect::KafkaMockCluster cluster(3);
    if (!cluster.CreateTopic("in", static_cast<int>(o.partitions)) ||
        !cluster.CreateTopic("out", static_cast<int>(o.partitions))) {
      return out;
    }
    auto e = OpenEngine(o, WithKafka(o, cluster.bootstraps(), "lat"), dir + "/klat");
    if (!e.ok()) {
      std::fprintf(stderr, "kafka: %s\n", e.status().ToString().c_str());
      return out;
    }
    Watch w(**e, o, lines.size());
    if (!w.ok()) return out;
    // One producer, linger 0: each event leaves at once.
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", cluster.bootstraps().c_str(), err, sizeof(err));
    rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_t* p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    const size_t n = std::min(lines.size(), o.latency_events);
    // The first event waits for the consumer group's first assignment (seconds on the mock
    // cluster): sent alone, and not timed.
    int64_t start = 0;
    for (size_t i = 0; i < n; ++i) {
      if (i == 1) {
        if (!w.WaitSeen(1)) return out;
        start = NowNs();
      }
      const auto due = start + static_cast<int64_t>(static_cast<double>(i) * 1e9 / o.rate);
      while (i > 0 && NowNs() < due) std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (i > 0) w.Sent(IntField(lines[i], o.id));
      rd_kafka_vu_t vu[3] = {};
      vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vu[0].u.cstr = "in";
      vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
      vu[1].u.i32 = partition_of(lines[i]);
      vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
      vu[2].u.mem = {const_cast<char*>(lines[i].data()), lines[i].size()};  // copied (default flags), never written
      rd_kafka_error_t* pe = rd_kafka_produceva(p, vu, 3);
      if (pe != nullptr) rd_kafka_error_destroy(pe);
      rd_kafka_poll(p, 0);
    }
    rd_kafka_flush(p, 30'000);
    rd_kafka_destroy(p);
    if (!w.WaitSeen(n)) {
      std::fprintf(stderr, "kafka: the latency run's outputs did not all arrive\n");
      return out;
    }
    out.latency = w.Latency();
    w.Stop();
    (void)(*e)->Stop();
  }
  connect::KafkaMockCluster cluster(3);
  if (!cluster.CreateTopic("in", static_cast<int>(o.partitions)) ||
      !cluster.CreateTopic("out", static_cast<int>(o.partitions))) {
    return out;
  }
  std::vector<std::vector<std::string>> by_partition(o.partitions);
  for (const std::string& l : lines) by_partition[static_cast<size_t>(partition_of(l))].push_back(l);
  for (uint32_t q = 0; q < o.partitions; ++q) {
    if (!cluster.Produce("in", static_cast<int32_t>(q), by_partition[q])) return out;
  }
  // Exported: the sink's count of rows the brokers acknowledged (at-least-once: after each flush).
  Outcome drained = Drain(o, lines.size(), WithKafka(o, cluster.bootstraps(), "tput"), dir + "/ktput",
                          "impulse_kafka_sink_records_total{stream=\"" + o.output + "\",topic=\"out\"}", 120, "kafka");
  drained.latency = out.latency;
  return drained;
}

#ifdef IMPULSE_HAVE_NATS
// JetStream on one local nats-server (started here, store under `dir`): subject `in` of stream
// IN is the source (one stream partition: --partitions must be 1), subject `out` of stream OUT
// the sink. Latency: events published one at a time (core publish, stored by the stream) at the
// rate; throughput: the stream filled before the engine starts, until the last output row and
// until every row was acknowledged by the sink's stream.
std::string WithNats(const Options& o, const std::string& url) {
  std::ostringstream s;
  s << o.spec_text << "\nnats:\n  servers: \"" << url << "\"\n  sources: [{stream: " << o.stream
    << ", subject: in}]\n  sinks: [{stream: " << o.output << ", subject: out}]\n";
  return s.str();
}

Outcome RunNats(const Options& o, const std::vector<std::string>& lines, const std::string& dir) {
  Outcome out;
  if (connect::NatsServerBinary().empty()) {
    std::fprintf(stderr, "nats: nats-server not installed (scripts/setup.sh installs it)\n");
    return out;
  }
  auto fresh = [&](const std::string& name, std::unique_ptr<connect::NatsServer>* server,
                   std::unique_ptr<connect::NatsClient>* client) {
    std::filesystem::remove_all(dir + "/" + name);
    std::filesystem::create_directories(dir + "/" + name);
    *server = std::make_unique<connect::NatsServer>("n1", dir + "/" + name, connect::FreeLoopbackPort(), 0,
                                                    std::vector<int>{});
    if (!(*server)->WaitListening(10'000)) return false;
    *client = std::make_unique<connect::NatsClient>((*server)->url());
    return (*client)->ok() && (*client)->AddStream("IN", {"in"}, 1) == NATS_OK &&
           (*client)->AddStream("OUT", {"out"}, 1) == NATS_OK;
  };
  {
    std::unique_ptr<connect::NatsServer> server;
    std::unique_ptr<connect::NatsClient> client;
    if (!fresh("nlat-server", &server, &client)) {
      std::fprintf(stderr, "nats: the server or its streams did not start\n");
      return out;
    }
    auto e = OpenEngine(o, WithNats(o, server->url()), dir + "/nlat");
    if (!e.ok()) {
      std::fprintf(stderr, "nats: %s\n", e.status().ToString().c_str());
      return out;
    }
    Watch w(**e, o, lines.size());
    if (!w.ok()) return out;
    const size_t n = std::min(lines.size(), o.latency_events);
    // As for Kafka, the first event (which waits for the source's consumer) is sent alone, untimed.
    int64_t start = 0;
    for (size_t i = 0; i < n; ++i) {
      if (i == 1) {
        if (!client->Flush() || !w.WaitSeen(1)) return out;
        start = NowNs();
      }
      const auto due = start + static_cast<int64_t>(static_cast<double>(i) * 1e9 / o.rate);
      while (i > 0 && NowNs() < due) std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (i > 0) w.Sent(IntField(lines[i], o.id));
      if (!client->PublishCore("in", lines[i])) return out;
    }
    if (!client->Flush() || !w.WaitSeen(n)) {
      std::fprintf(stderr, "nats: the latency run's outputs did not all arrive\n");
      return out;
    }
    out.latency = w.Latency();
    w.Stop();
    (void)(*e)->Stop();
  }
  std::unique_ptr<connect::NatsServer> server;
  std::unique_ptr<connect::NatsClient> client;
  if (!fresh("ntput-server", &server, &client)) return out;
  for (const std::string& l : lines) {
    if (!client->PublishCore("in", l)) return out;
  }
  const auto stored_by = Clock::now() + std::chrono::seconds(120);
  while (client->Stored("IN") < static_cast<int64_t>(lines.size())) {
    if (!client->Flush() || Clock::now() > stored_by) {
      std::fprintf(stderr, "nats: the input was not stored\n");
      return out;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Outcome drained = Drain(o, lines.size(), WithNats(o, server->url()), dir + "/ntput",
                          "impulse_nats_sink_records_total{stream=\"" + o.output + "\",subject=\"out\"}", 300, "nats");
  drained.latency = out.latency;
  return drained;
}
#endif

void Print(const char* name, const Outcome& r, double rate) {
  const loadgen::LatencyHistogram& l = r.latency;
  std::printf("%-9s latency at %.0f/s: p50 %.3f ms, p99 %.3f ms, max %.3f ms (%llu events); throughput %.0f events/s",
              name, rate, static_cast<double>(l.Quantile(0.5)) / 1e6, static_cast<double>(l.Quantile(0.99)) / 1e6,
              static_cast<double>(l.max_ns()) / 1e6, static_cast<unsigned long long>(l.count()), r.events_per_s);
  if (r.steady_events_per_s > 0) {
    std::printf(" (%.0f events/s from the first decision, the group's join excluded)", r.steady_events_per_s);
  }
  if (r.export_events_per_s > 0) {
    std::printf(", %.0f events/s to every row acknowledged by the sink topic", r.export_events_per_s);
  }
  std::printf("\n");
}

}  // namespace

int KafkaBenchCommand(const std::vector<std::string>& args) {
  po::options_description opts("kafka options");
  std::string spec, input, data_dir;
  Options o;
  o.stream = "transactions";
  o.output = "tx_scored";
  o.id = "transaction_id";
  o.key = "customer_id";
  size_t events = 50'000;
  opts.add_options()("spec", po::value(&spec), "pipeline spec (without a kafka: section)")(
      "models", po::value(&o.models), "model repository")("input", po::value(&input), "NDJSON events, sent in order")(
      "stream", po::value(&o.stream)->default_value(o.stream), "stream the events go to")(
      "output", po::value(&o.output)->default_value(o.output), "stream whose rows are the decisions")(
      "id", po::value(&o.id)->default_value(o.id), "int64 field identifying an event in both")(
      "key", po::value(&o.key)->default_value(o.key), "int64 field the topic is partitioned by (the stream's key)")(
      "partitions", po::value(&o.partitions)->default_value(o.partitions), "the stream's partitions (= the topic's)")(
      "rate", po::value(&o.rate)->default_value(o.rate), "events/s of the latency runs, open loop")(
      "latency-events", po::value(&o.latency_events)->default_value(o.latency_events), "events of the latency runs")(
      "events", po::value(&events)->default_value(events), "events of the throughput runs")(
      "shards", po::value(&o.shards)->default_value(o.shards), "shard threads")(
      "fetch-wait-ms", po::value(&o.fetch_wait_ms)->default_value(o.fetch_wait_ms),
      "the engine consumer's fetch.wait.max.ms (the mock cluster waits that long when a fetch finds nothing)")(
      "data-dir", po::value(&data_dir), "where the engines' data go (default: a fresh temporary directory)");
  bool nats = false;
#ifdef IMPULSE_HAVE_NATS
  opts.add_options()("nats", po::bool_switch(&nats),
                     "also JetStream on a local nats-server (a NATS source fills one stream partition: the spec's "
                     "source stream must have partitions: 1, and --partitions 1)");
#endif
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse-bench kafka --spec S --input F [options]", opts, &vm); rc >= 0) {
    return rc;
  }
  if (spec.empty() || input.empty() || o.rate <= 0 || o.partitions == 0) {
    std::fprintf(stderr, "impulse-bench kafka: --spec, --input, a rate > 0 and partitions > 0 are required\n");
    return 2;
  }
  {
    std::ifstream in(spec);
    std::stringstream text;
    text << in.rdbuf();
    o.spec_text = text.str();
  }
  std::vector<std::string> lines;
  {
    std::ifstream in(input);
    for (std::string l; lines.size() < events && std::getline(in, l);) {
      if (!l.empty()) lines.push_back(std::move(l));
    }
  }
  if (o.spec_text.empty() || lines.empty()) {
    std::fprintf(stderr, "impulse-bench kafka: empty spec or input\n");
    return 1;
  }
  if (data_dir.empty())
    data_dir = std::filesystem::temp_directory_path() / ("impulse-kbench-" + std::to_string(::getpid()));
  const Outcome embedded = RunEmbedded(o, lines, data_dir);
  const Outcome kafka = RunKafka(o, lines, data_dir);
  Outcome jetstream;
  jetstream.ok = true;
#ifdef IMPULSE_HAVE_NATS
  if (nats && o.partitions != 1) {
    std::fprintf(stderr, "impulse-bench kafka: --nats needs --partitions 1 (and the spec's stream with 1)\n");
    return 2;
  }
  if (nats) jetstream = RunNats(o, lines, data_dir);
#endif
  std::filesystem::remove_all(data_dir);
  Print("embedded", embedded, o.rate);
  Print("kafka", kafka, o.rate);
  if (nats) Print("jetstream", jetstream, o.rate);
  if (embedded.ok && kafka.ok && embedded.events_per_s > 0) {
    std::printf("kafka / embedded: throughput %.2fx (from the first decision), p50 latency %.2fx\n",
                kafka.steady_events_per_s / embedded.events_per_s,
                static_cast<double>(kafka.latency.Quantile(0.5)) /
                    static_cast<double>(std::max<uint64_t>(1, embedded.latency.Quantile(0.5))));
  }
  if (nats && embedded.ok && jetstream.ok && embedded.events_per_s > 0) {
    std::printf("jetstream / embedded: throughput %.2fx (from the first decision), p50 latency %.2fx\n",
                jetstream.steady_events_per_s / embedded.events_per_s,
                static_cast<double>(jetstream.latency.Quantile(0.5)) /
                    static_cast<double>(std::max<uint64_t>(1, embedded.latency.Quantile(0.5))));
  }
  return embedded.ok && kafka.ok && jetstream.ok ? 0 : 1;
}

}  // namespace impulse::bench
