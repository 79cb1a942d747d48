// `impulse-bench group`: a group of instances (docs/SCALE_OUT.md) on librdkafka's mock cluster
// hosted by this process (3 brokers on loopback; topics source, sink and state, each with
// --partitions partitions, created up front). The groups are connect::Group objects in this
// process, each with its own data directory, all running the same spec: per customer, count and
// sum over 1 h and the previous amount, the source partitioned by key, an exactly-once sink.
//
// 1. State restore and handoff: group 0 processes a backlog (--per-entity records for each of
//    --entities customers) until every output is in the sink topic; then, --handoffs times, a new
//    group starts and the running one is stopped (a last checkpoint and snapshot per member, then
//    it leaves the group). Timed from the Stop() call: until the new group runs every partition,
//    and until one probe record per partition (produced once Stop() returned, so that the new
//    group decides it) has its output in the sink topic. Each new owner's restore (bytes, ms) is
//    read from Group::Members().
// 2. Scaling: 1..--max-groups groups join first; then the same backlog is produced and timed to
//    its last output in the sink topic, with the process's CPU time over that interval. With
//    --rekey, each count of groups also runs a second spec that re-keys the scored records by
//    merchant (a key_by: every record crosses the repartition topic) and computes merchant
//    features there, and the two are compared.
//
// 3. Failover (--what failover): two `impulse run` processes (the binary beside this one's build,
//    or --impulse) form the group; once the backlog is output, one is killed with SIGKILL and
//    one probe record is produced per partition it ran; timed from the kill to each probe's
//    output in the sink topic, with the survivor's restore of each partition (its metrics).
//
// The bench's own sink reader, the producer and the mock brokers run in this process too: on a
// small machine they take a share of the cores the groups would otherwise have.
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/command_line.h"
#include "connect/group.h"
#include "connect/kafka_mock.h"
#include "tests/engine_process.h"

namespace impulse::bench {

namespace po = boost::program_options;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kT0 = 1'700'000'000'000;

double SecondsSince(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

struct Options {
  uint64_t entities = 100'000;
  // The mock cluster keeps 5 MiB per partition: about 190 bytes of state per customer here, so
  // 100 000 customers need 8 partitions for each member's snapshot to stay restorable.
  uint32_t partitions = 8;
  uint32_t per_entity = 2;
  int64_t checkpoint_interval_ms = 1000;
  int handoffs = 3;
  int max_groups = 3;
  int fetch_wait_ms = 10;
  // After a member leaves, the mock cluster completes the rebalance only after session.timeout.ms
  // minus 1 s (a real broker: once the remaining members rejoined): 6 s, the brokers' minimum.
  int session_timeout_ms = 6000;
  bool stop_first = false;
  bool rekey = false;          // scaling: also the spec with a key_by (a repartition topic), compared
  uint64_t inflight = 40'000;  // per partition: records produced ahead of the outputs read
  std::string what = "all";
  std::string impulse;  // failover: the impulse binary (default: the one built with this bench)
  std::string dir;
  uint64_t events() const { return entities * per_entity; }
};

double WaitTimeout(const Options& o) { return 120.0 + static_cast<double>(o.events()) / 2000.0; }

// The integer after "field": in a JSON line, or -1.
int64_t IntField(std::string_view line, std::string_view field) {
  const std::string key = "\"" + std::string(field) + "\":";
  const size_t at = line.find(key);
  if (at == std::string::npos) return -1;
  int64_t v = 0;
  bool any = false;
  for (size_t i = at + key.size(); i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
    v = v * 10 + (line[i] - '0');
    any = true;
  }
  return any ? v : -1;
}

// VmRSS and VmHWM of this process, in MiB (the mock cluster's topics are in this process too).
std::pair<double, double> RssMiB() {
  std::ifstream in("/proc/self/status");
  double rss = 0;
  double hwm = 0;
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("VmRSS:", 0) == 0) rss = std::atof(l.c_str() + 6) / 1024;
    if (l.rfind("VmHWM:", 0) == 0) hwm = std::atof(l.c_str() + 6) / 1024;
  }
  return {rss, hwm};
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Record id of round r (a customer's r-th record) is at event time kT0 + r minutes: every record
// of a customer stays in its 1 h windows, whatever --entities (the state per customer does not
// depend on it).
std::string Tx(uint64_t id, uint64_t entity, uint64_t round) {
  const double amount = static_cast<double>((id * 13) % 500) + 0.25;
  return "{\"id\":" + std::to_string(id) + ",\"customer\":\"c" + std::to_string(entity) + "\",\"merchant\":\"m" +
         std::to_string(id % 997) + "\",\"amount\":" + std::to_string(amount) +
         ",\"ts\":" + std::to_string(kT0 + static_cast<int64_t>(round) * 60'000) + "}";
}

// rekey: the scored records are re-keyed by merchant (through the group's repartition topic
// bench.repartition.by_merchant) and get merchant features before the sink.
bool WriteSpec(const Options& o, const std::string& bootstraps, const std::string& path, bool rekey = false) {
  std::ofstream out(path);
  out << "streams:\n"
         "  - name: tx\n"
         "    fields:\n"
         "      - {name: id, type: int64}\n"
         "      - {name: customer, type: string}\n"
         "      - {name: merchant, type: string}\n"
         "      - {name: amount, type: double}\n"
         "      - {name: ts, type: timestamp}\n"
         "    key: customer\n"
         "    event_time: ts\n"
         "    partitions: "
      << o.partitions
      << "\n"
         "feature_views:\n"
         "  - name: customer\n"
         "    entity: customer\n"
         "    features:\n"
         "      - {name: n_1h, agg: count(), window: 1h}\n"
         "      - {name: sum_1h, agg: sum(amount), window: 1h}\n"
         "      - {name: previous_amount, previous: amount}\n"
      << (rekey ? "  - name: merchant\n"
                  "    entity: merchant\n"
                  "    features:\n"
                  "      - {name: m_n_1h, agg: count(), window: 1h}\n"
                  "      - {name: m_sum_1h, agg: sum(amount), window: 1h}\n"
                : "")
      << "pipelines:\n"
         "  - name: score\n"
         "    from: tx\n"
      << (rekey ? "    steps: [{features: customer}, {key_by: merchant}]\n"
                  "    sink: {stream: by_merchant}\n"
                  "  - name: merchant\n"
                  "    from: by_merchant\n"
                  "    steps: [{features: merchant}]\n"
                  "    sink: {stream: scored}\n"
                : "    steps: [{features: customer}]\n"
                  "    sink: {stream: scored}\n")
      << "kafka:\n"
         "  brokers: \""
      << bootstraps
      << "\"\n"
         "  group: bench\n"
         "  state_topic: state\n"
         // The mock cluster answers a fetch that finds nothing only when this wait ends.
         "  properties: {fetch.wait.max.ms: \""
      << o.fetch_wait_ms << "\""
      << (o.session_timeout_ms > 0 ? ", session.timeout.ms: \"" + std::to_string(o.session_timeout_ms) + "\"" : "")
      << "}\n"
         "  sources: [{stream: tx, topic: source, partitioned_by_key: true}]\n"
         "  sinks: [{stream: scored, topic: sink}]\n";
  out.close();
  return out.good();
}

// Reads the sink topic (read_committed, every partition from its start) in its own thread:
// how many outputs, when each id was first seen, how many ids were seen twice. The count is
// each partition's last offset read + 1: the mock cluster deletes a partition's oldest records
// beyond 5 MiB, which a reader held back by an open transaction may not have read yet (and it
// writes no transaction markers, so offsets count records).
class SinkWatch {
 public:
  SinkWatch(const std::string& bootstraps, const Options& o) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    const std::vector<std::pair<std::string, std::string>> settings = {
        {"bootstrap.servers", bootstraps},
        {"group.id", "bench-sink-reader"},
        {"isolation.level", "read_committed"},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", std::to_string(o.fetch_wait_ms)},
        {"log_level", "0"}};
    for (const auto& [k, v] : settings) rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err));
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      std::fprintf(stderr, "impulse-bench group: sink reader: %s\n", err);
      return;
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(o.partitions));
    for (uint32_t p = 0; p < o.partitions; ++p) {
      rd_kafka_topic_partition_list_add(list, "sink", static_cast<int32_t>(p))->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
    ends_.assign(o.partitions, 0);
    first_seen_.assign(o.events() + static_cast<uint64_t>(o.handoffs + 1) * o.partitions, Clock::time_point());
    thread_ = std::thread([this] { Run(); });
  }
  ~SinkWatch() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    if (rk_ != nullptr) {
      rd_kafka_consumer_close(rk_);
      rd_kafka_destroy(rk_);
    }
  }
  SinkWatch(const SinkWatch&) = delete;
  SinkWatch& operator=(const SinkWatch&) = delete;

  bool ok() const { return rk_ != nullptr; }
  // True once `n` outputs were read, false after timeout_s.
  bool WaitCount(uint64_t n, double timeout_s) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (Clock::now() < deadline) {
      if (count() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }
  uint64_t count() {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t n = 0;
    for (uint64_t e : ends_) n += e;
    return n;
  }
  // Outputs deleted by the mock cluster before this reader got them (their ids not checked).
  uint64_t unread() {
    const uint64_t n = count();
    std::lock_guard<std::mutex> l(mu_);
    return n - read_;
  }
  uint64_t duplicates() {
    std::lock_guard<std::mutex> l(mu_);
    return duplicates_;
  }
  // When the output of `id` was first read (a default time point: not yet).
  Clock::time_point SeenAt(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    return id < first_seen_.size() ? first_seen_[id] : Clock::time_point();
  }

 private:
  void Run() {
    while (!stop_.load()) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 50);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const int64_t id = IntField(std::string_view(static_cast<const char*>(m->payload), m->len), "id");
        const auto now = Clock::now();
        std::lock_guard<std::mutex> l(mu_);
        ++read_;
        if (m->partition >= 0 && static_cast<size_t>(m->partition) < ends_.size()) {
          ends_[static_cast<size_t>(m->partition)] =
              std::max(ends_[static_cast<size_t>(m->partition)], static_cast<uint64_t>(m->offset + 1));
        }
        if (id >= 0 && static_cast<uint64_t>(id) < first_seen_.size()) {
          auto& seen = first_seen_[static_cast<size_t>(id)];
          if (seen == Clock::time_point()) {
            seen = now;
            where_[id] = {m->partition, m->offset};
          } else {
            ++duplicates_;
            // Where both copies are (one topic offset twice: a re-read; two offsets: two records).
            if (duplicates_ <= 5) {
              std::fprintf(stderr,
                           "impulse-bench group: output of id %lld twice: partition %d offset %lld, then %d %lld\n",
                           static_cast<long long>(id), where_[id].first, static_cast<long long>(where_[id].second),
                           m->partition, static_cast<long long>(m->offset));
            }
          }
        }
      }
      rd_kafka_message_destroy(m);
    }
  }

  rd_kafka_t* rk_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<uint64_t> ends_;  // guarded by mu_
  uint64_t read_ = 0;           // guarded by mu_
  uint64_t duplicates_ = 0;     // guarded by mu_
  std::vector<Clock::time_point> first_seen_;
  std::unordered_map<int64_t, std::pair<int32_t, int64_t>> where_;  // id -> (partition, offset) first read
};

// One producer for the bench's records (linger 5 ms: batches form while the loop runs),
// idempotent: a retried request under load must not store an input record twice (that would be
// two outputs of one id, counted as a duplicate).
class Producer {
 public:
  explicit Producer(const std::string& bootstraps) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{{"bootstrap.servers", bootstraps},
                                                                               {"linger.ms", "5"},
                                                                               {"enable.idempotence", "true"},
                                                                               {"log_level", "0"}}) {
      rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err));
    }
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk_ == nullptr) rd_kafka_conf_destroy(conf);
  }
  ~Producer() {
    if (rk_ != nullptr) {
      (void)rd_kafka_flush(rk_, 30'000);
      rd_kafka_destroy(rk_);
    }
  }
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  bool Send(int32_t partition, const std::string& value) {
    if (rk_ == nullptr) return false;
    rd_kafka_vu_t vu[4] = {};
    vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vu[0].u.cstr = "source";
    vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[1].u.i32 = partition;
    vu[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[2].u.i = RD_KAFKA_MSG_F_COPY;
    vu[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[3].u.mem = {const_cast<char*>(value.data()), value.size()};  // copied, never written
    while (true) {
      rd_kafka_error_t* e = rd_kafka_produceva(rk_, vu, 4);
      if (e == nullptr) return true;
      const bool full = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
      rd_kafka_error_destroy(e);
      if (!full) return false;
      rd_kafka_poll(rk_, 10);
    }
  }
  bool Flush() { return rk_ != nullptr && rd_kafka_flush(rk_, 30'000) == RD_KAFKA_RESP_ERR_NO_ERROR; }

 private:
  rd_kafka_t* rk_ = nullptr;
};

// The backlog: record i is for customer i % entities, in topic partition customer % partitions.
// The mock cluster keeps at most 5 MiB per partition (older records are deleted), so no more
// than --inflight records per partition are ahead of the outputs read from the sink.
bool ProduceBacklog(Producer& producer, SinkWatch& sink, const Options& o) {
  const uint64_t window = o.inflight * o.partitions;
  const auto deadline = Clock::now() + std::chrono::duration<double>(WaitTimeout(o));
  for (uint64_t i = 0; i < o.events(); ++i) {
    if (i % 1000 == 0) {
      while (i > window && sink.count() < i - window) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    const uint64_t e = i % o.entities;
    if (!producer.Send(static_cast<int32_t>(e % o.partitions), Tx(i, e, i / o.entities))) return false;
  }
  return producer.Flush();
}

Result<std::unique_ptr<connect::Group>> StartGroup(const Options& o, const std::string& spec, const std::string& dir) {
  std::filesystem::remove_all(dir);
  connect::GroupOptions go;
  go.spec_path = spec;
  go.engine.data_dir = dir;
  go.engine.shards = 1;
  go.engine.max_producers = 1;
  // The topic is the durable copy of the input and snapshots carry the state: no fsync per append.
  go.engine.durability = Durability::kNone;
  go.engine.checkpoint_interval_ms = o.checkpoint_interval_ms;
  return connect::Group::Start(go);
}

// "name value" of a sample without labels in Prometheus text, or 0.
double Sample(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = text.find(key);
  return at == std::string::npos ? 0 : std::atof(text.c_str() + at + key.size());
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string List(const std::vector<double>& v, const char* fmt) {
  std::string out;
  char buf[64];
  for (double x : v) {
    std::snprintf(buf, sizeof(buf), fmt, x);
    out += (out.empty() ? "" : ", ") + std::string(buf);
  }
  return out;
}

int RunRestore(const Options& o) {
  std::printf("== state restore and handoff: %llu entities, %llu events, %u partitions, checkpoint every %lld ms\n",
              static_cast<unsigned long long>(o.entities), static_cast<unsigned long long>(o.events()), o.partitions,
              static_cast<long long>(o.checkpoint_interval_ms));
  connect::KafkaMockCluster cluster(3);
  for (const char* t : {"source", "sink", "state"}) {
    if (!cluster.CreateTopic(t, static_cast<int>(o.partitions))) {
      std::fprintf(stderr, "impulse-bench group: cannot create topic %s\n", t);
      return 1;
    }
  }
  const std::string spec = o.dir + "/restore.yaml";
  if (!WriteSpec(o, cluster.bootstraps(), spec)) return 1;
  SinkWatch sink(cluster.bootstraps(), o);
  Producer producer(cluster.bootstraps());
  if (!sink.ok()) return 1;

  const auto t0 = Clock::now();
  auto cur = StartGroup(o, spec, o.dir + "/g0");
  if (!cur.ok()) {
    std::fprintf(stderr, "impulse-bench group: %s\n", cur.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<connect::Group> running = std::move(*cur);
  if (!ProduceBacklog(producer, sink, o)) {
    std::fprintf(stderr, "impulse-bench group: producing the backlog failed (%llu outputs read)\n",
                 static_cast<unsigned long long>(sink.count()));
    return 1;
  }
  if (!sink.WaitCount(o.events(), WaitTimeout(o))) {
    std::fprintf(stderr, "impulse-bench group: only %llu of %llu outputs in the sink topic\n",
                 static_cast<unsigned long long>(sink.count()), static_cast<unsigned long long>(o.events()));
    return 1;
  }
  const double backlog_s = SecondsSince(t0, Clock::now());
  auto [rss, hwm] = RssMiB();
  std::printf(
      "group 0: backlog to its last output in the sink topic in %.2f s (%.0f events/s, the join included); "
      "process RSS %.0f MiB (peak %.0f MiB)\n",
      backlog_s, static_cast<double>(o.events()) / backlog_s, rss, hwm);

  {
    const std::string m = running->MetricsText();
    const double n = Sample(m, "impulse_group_snapshots_written_total");
    const double bytes = Sample(m, "impulse_group_snapshot_bytes_total");
    std::printf("group 0: %.0f snapshots written, %.2f MB on average\n", n, n > 0 ? bytes / n / 1e6 : 0);
    if (n > 0 && bytes / n / o.partitions > 4.5e6) {
      std::printf(
          "warning: the mock cluster keeps 5 MiB per partition: a larger snapshot loses its first chunks "
          "there and cannot be restored (use more --partitions)\n");
    }
  }
  std::vector<double> stop_s, all_running_s, first_decision_s, restore_total_mb, restore_ms_max, rate_mbs;
  double state_topic_bytes = 0;  // every snapshot written so far
  uint64_t probe_id = o.events();
  for (int h = 0; h < o.handoffs; ++h) {
    // The new group joins first (its join starts a rebalance the stopping group takes part in), or
    // once the old one has left (--stop-first).
    std::unique_ptr<connect::Group> next;
    auto start_next = [&]() -> bool {
      auto g = StartGroup(o, spec, o.dir + "/g" + std::to_string(h + 1));
      if (!g.ok()) {
        std::fprintf(stderr, "impulse-bench group: %s\n", g.status().ToString().c_str());
        return false;
      }
      next = std::move(*g);
      return true;
    };
    if (!o.stop_first && !start_next()) return 1;
    const auto ts = Clock::now();
    Clock::time_point stop_done;
    std::thread stopper([&] {
      Status st = running->Stop();
      if (!st.ok()) std::fprintf(stderr, "impulse-bench group: stop: %s\n", st.ToString().c_str());
      stop_done = Clock::now();
    });
    // Once Stop() returned no member of the old group runs: each probe's output is the new
    // group's. One probe per partition: customer p lives in partition p.
    stopper.join();
    if (o.stop_first && !start_next()) return 1;
    const uint64_t first_probe = probe_id;
    for (uint32_t p = 0; p < o.partitions; ++p, ++probe_id) {
      if (!producer.Send(static_cast<int32_t>(p), Tx(probe_id, p, o.per_entity)) || !producer.Flush()) {
        std::fprintf(stderr, "impulse-bench group: probe not produced\n");
      }
    }
    Clock::time_point all_running;
    Clock::time_point probes_seen;
    const auto deadline = ts + std::chrono::seconds(300);
    while (Clock::now() < deadline) {
      if (all_running == Clock::time_point() && next->Members().size() == o.partitions) all_running = Clock::now();
      Clock::time_point last;
      bool all = true;
      for (uint64_t id = first_probe; id < probe_id; ++id) {
        const Clock::time_point t = sink.SeenAt(id);
        all &= t != Clock::time_point();
        last = std::max(last, t);
      }
      if (all && all_running != Clock::time_point()) {
        probes_seen = last;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (probes_seen == Clock::time_point()) {
      std::fprintf(stderr, "impulse-bench group: handoff %d: not every partition moved or probed within 300 s\n",
                   h + 1);
      return 1;
    }
    state_topic_bytes += Sample(running->MetricsText(), "impulse_group_snapshot_bytes_total");
    running.reset();
    std::vector<connect::MemberInfo> members = next->Members();
    std::sort(members.begin(), members.end(),
              [](const connect::MemberInfo& a, const connect::MemberInfo& b) { return a.partition < b.partition; });
    double bytes = 0;
    double ms_max = 0;
    std::printf(
        "handoff %d: Stop() returned after %.3f s; the new group ran every partition after %.3f s; every "
        "probe's output in the sink after %.3f s (%.3f s after every partition ran)\n",
        h + 1, SecondsSince(ts, stop_done), SecondsSince(ts, all_running), SecondsSince(ts, probes_seen),
        SecondsSince(all_running, probes_seen));
    for (const connect::MemberInfo& m : members) {
      bytes += static_cast<double>(m.restored_bytes);
      ms_max = std::max(ms_max, static_cast<double>(m.restore_ms));
      std::printf(
          "  partition %d: snapshot of checkpoint %llu, %.2f MB, restored in %lld ms (%.1f MB/s)\n", m.partition,
          static_cast<unsigned long long>(m.restored_checkpoint), static_cast<double>(m.restored_bytes) / 1e6,
          static_cast<long long>(m.restore_ms),
          m.restore_ms > 0 ? static_cast<double>(m.restored_bytes) / 1e3 / static_cast<double>(m.restore_ms) : 0);
    }
    std::printf(
        "  snapshots restored: %.2f MB in total; %.2f MB of snapshots written to the state topic so far (by every "
        "checkpoint of the groups stopped)\n",
        bytes / 1e6, state_topic_bytes / 1e6);
    stop_s.push_back(SecondsSince(ts, stop_done));
    all_running_s.push_back(SecondsSince(ts, all_running));
    first_decision_s.push_back(SecondsSince(ts, probes_seen));
    restore_total_mb.push_back(bytes / 1e6);
    restore_ms_max.push_back(ms_max);
    // The members restore one after another (one poller): the group's rate is total bytes over
    // the sum of the restore times.
    double ms_sum = 0;
    for (const connect::MemberInfo& m : members) ms_sum += static_cast<double>(m.restore_ms);
    rate_mbs.push_back(ms_sum > 0 ? bytes / 1e3 / ms_sum : 0);
    running = std::move(next);
  }
  (void)running->Stop();
  const uint64_t dups = sink.duplicates();
  const uint64_t unread = sink.unread();
  std::tie(rss, hwm) = RssMiB();
  std::printf("summary (median of %d handoffs; values in brackets):\n", o.handoffs);
  std::printf("  snapshot total %.2f MB [%s]\n", Median(restore_total_mb), List(restore_total_mb, "%.2f").c_str());
  std::printf("  restore rate %.1f MB/s [%s] (snapshot bytes / the members' restore times)\n", Median(rate_mbs),
              List(rate_mbs, "%.1f").c_str());
  std::printf("  slowest member restore %.0f ms [%s]\n", Median(restore_ms_max), List(restore_ms_max, "%.0f").c_str());
  std::printf("  Stop() %.3f s [%s]\n", Median(stop_s), List(stop_s, "%.3f").c_str());
  std::printf("  every partition running on the new group %.3f s [%s]\n", Median(all_running_s),
              List(all_running_s, "%.3f").c_str());
  std::printf("  handoff to the first new decision in the sink %.3f s [%s]\n", Median(first_decision_s),
              List(first_decision_s, "%.3f").c_str());
  std::printf(
      "  outputs read twice from the sink topic: %llu (%llu deleted by the mock before read); process RSS "
      "%.0f MiB (peak %.0f MiB)\n",
      static_cast<unsigned long long>(dups), static_cast<unsigned long long>(unread), rss, hwm);
  return dups == 0 ? 0 : 1;
}

// n groups join, then the backlog is produced: seconds to its last output in the sink.
int ScaleOnce(const Options& o, int n, bool rekey, double* events_per_s);

// The partitions an instance runs, from its impulse_group_restore_seconds{partition="k"} lines.
std::vector<int32_t> RunPartitions(uint16_t port) {
  std::vector<int32_t> out;
  const std::string text = e2e::MetricLines(port, "impulse_group_restore_seconds{");
  for (size_t at = text.find("partition=\""); at != std::string::npos; at = text.find("partition=\"", at + 1)) {
    out.push_back(static_cast<int32_t>(std::atoi(text.c_str() + at + 11)));
  }
  return out;
}

// A sample `name{partition="k"} v` of an instance's metrics, or -1.
double PartitionSample(uint16_t port, const std::string& name, int32_t k) {
  const std::string key = name + "{partition=\"" + std::to_string(k) + "\"} ";
  const std::string text = e2e::MetricLines(port, key);
  return text.empty() ? -1 : std::atof(text.c_str() + key.size());
}

int RunFailover(const Options& o) {
  std::printf(
      "== failover: %llu entities, %llu events, %u partitions, 2 processes, checkpoint every %lld ms, "
      "session.timeout.ms %d\n",
      static_cast<unsigned long long>(o.entities), static_cast<unsigned long long>(o.events()), o.partitions,
      static_cast<long long>(o.checkpoint_interval_ms), o.session_timeout_ms);
  connect::KafkaMockCluster cluster(3);
  for (const char* t : {"source", "sink", "state"}) {
    if (!cluster.CreateTopic(t, static_cast<int>(o.partitions))) return 1;
  }
  const std::string spec = o.dir + "/failover.yaml";
  if (!WriteSpec(o, cluster.bootstraps(), spec)) return 1;
  SinkWatch sink(cluster.bootstraps(), o);
  Producer producer(cluster.bootstraps());
  if (!sink.ok()) return 1;
  const std::vector<std::string> args = {
      "--checkpoint-interval-ms", std::to_string(o.checkpoint_interval_ms), "--shards", "1", "--durability", "none"};
  e2e::EngineProcess a, b;
  if (!a.Start(spec, o.dir + "/fa", args) || !b.Start(spec, o.dir + "/fb", args)) {
    std::fprintf(stderr, "impulse-bench group: an instance did not start:\n%s%s\n", a.startup_log().c_str(),
                 b.startup_log().c_str());
    return 1;
  }
  const auto settle = Clock::now() + std::chrono::seconds(120);
  std::vector<int32_t> of_b;
  while (Clock::now() < settle) {
    of_b = RunPartitions(b.port());
    if (!of_b.empty() && RunPartitions(a.port()).size() + of_b.size() == o.partitions) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (of_b.empty()) {
    std::fprintf(stderr, "impulse-bench group: the two instances did not share the partitions in 120 s\n");
    return 1;
  }
  if (!ProduceBacklog(producer, sink, o) || !sink.WaitCount(o.events(), WaitTimeout(o))) {
    std::fprintf(stderr, "impulse-bench group: the backlog was not output (%llu of %llu)\n",
                 static_cast<unsigned long long>(sink.count()), static_cast<unsigned long long>(o.events()));
    return 1;
  }
  // One more checkpoint interval, so that the last snapshots hold the whole backlog.
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * o.checkpoint_interval_ms + 500));
  const auto t_kill = Clock::now();
  b.Kill();
  // The probes wait in the topic for the partition's new owner.
  for (const int32_t k : of_b) {
    if (!producer.Send(k, Tx(o.events() + static_cast<uint64_t>(k), static_cast<uint64_t>(k), o.per_entity))) return 1;
  }
  if (!producer.Flush()) return 1;
  std::vector<double> decided_s;
  const auto deadline = Clock::now() + std::chrono::seconds(180);
  while (decided_s.size() < of_b.size() && Clock::now() < deadline) {
    decided_s.clear();
    for (const int32_t k : of_b) {
      const Clock::time_point at = sink.SeenAt(o.events() + static_cast<uint64_t>(k));
      if (at != Clock::time_point()) decided_s.push_back(SecondsSince(t_kill, at));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (decided_s.size() < of_b.size()) {
    std::fprintf(stderr, "impulse-bench group: %zu of %zu probes decided within 180 s\n", decided_s.size(),
                 of_b.size());
    return 1;
  }
  std::vector<double> restore_ms;
  double bytes = 0;
  double seconds = 0;
  for (const int32_t k : of_b) {
    const double rs = PartitionSample(a.port(), "impulse_group_restore_seconds", k);
    const double rb = PartitionSample(a.port(), "impulse_group_restore_bytes", k);
    restore_ms.push_back(rs * 1000);
    bytes += std::max(0.0, rb);
    seconds += std::max(0.0, rs);
  }
  std::sort(decided_s.begin(), decided_s.end());
  std::printf(
      "  killed instance ran %zu partitions; kill to its partitions' first new decisions: first %.2f s, "
      "median %.2f s, last %.2f s\n",
      of_b.size(), decided_s.front(), Median(decided_s), decided_s.back());
  std::printf("  survivor's restores: %s ms (median %.0f ms), %.2f MB, %.1f MB/s\n", List(restore_ms, "%.0f").c_str(),
              Median(restore_ms), bytes / 1e6, seconds > 0 ? bytes / 1e6 / seconds : 0.0);
  std::printf("  outputs read twice from the sink topic: %llu\n", static_cast<unsigned long long>(sink.duplicates()));
  (void)a.Signal(SIGTERM);
  if (sink.duplicates() > 0) std::fprintf(stderr, "the survivor's log (its end):\n%s\n", a.tail().c_str());
  return sink.duplicates() == 0 ? 0 : 1;
}

int RunScaling(const Options& o) {
  std::printf("== scaling: %llu events (%llu entities), %u partitions, 1..%d groups in this process (%u cores)\n",
              static_cast<unsigned long long>(o.events()), static_cast<unsigned long long>(o.entities), o.partitions,
              o.max_groups, std::thread::hardware_concurrency());
  for (int n = 1; n <= o.max_groups; ++n) {
    double plain = 0;
    if (int rc = ScaleOnce(o, n, false, &plain); rc != 0) return rc;
    if (!o.rekey) continue;
    double rekeyed = 0;
    if (int rc = ScaleOnce(o, n, true, &rekeyed); rc != 0) return rc;
    std::printf("%d group(s): with the key_by hop %.0f events/s = %.2fx the throughput without it\n", n, rekeyed,
                rekeyed / plain);
  }
  return 0;
}

// n groups on a fresh mock cluster, then the backlog: *events_per_s to its last output.
int ScaleOnce(const Options& o, int n, bool rekey, double* events_per_s) {
  {
    connect::KafkaMockCluster cluster(3);
    for (const char* t : {"source", "sink", "state", "bench.repartition.by_merchant"}) {
      if (!cluster.CreateTopic(t, static_cast<int>(o.partitions))) return 1;
    }
    const std::string spec = o.dir + "/scale" + std::to_string(n) + (rekey ? "-rekey" : "") + ".yaml";
    if (!WriteSpec(o, cluster.bootstraps(), spec, rekey)) return 1;
    SinkWatch sink(cluster.bootstraps(), o);
    Producer producer(cluster.bootstraps());
    if (!sink.ok()) return 1;
    std::vector<std::unique_ptr<connect::Group>> groups;
    for (int i = 0; i < n; ++i) {
      auto g = StartGroup(o, spec, o.dir + "/s" + std::to_string(n) + (rekey ? "r-" : "-") + std::to_string(i));
      if (!g.ok()) {
        std::fprintf(stderr, "impulse-bench group: %s\n", g.status().ToString().c_str());
        return 1;
      }
      groups.push_back(std::move(*g));
    }
    // Settled: every partition runs somewhere and every group runs one (when there are enough).
    const auto join0 = Clock::now();
    bool settled = false;
    while (!settled && Clock::now() < join0 + std::chrono::seconds(120)) {
      std::set<int32_t> running;
      size_t busy = 0;
      size_t members = 0;
      for (const auto& g : groups) {
        const std::vector<connect::MemberInfo> m = g->Members();
        members += m.size();
        busy += m.empty() ? 0 : 1;
        for (const connect::MemberInfo& i : m) running.insert(i.partition);
      }
      settled = running.size() == o.partitions && members == o.partitions &&
                busy == std::min<size_t>(groups.size(), o.partitions);
      if (!settled) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!settled) {
      std::fprintf(stderr, "impulse-bench group: %d groups did not settle on the partitions in 120 s\n", n);
      return 1;
    }
    const double join_s = SecondsSince(join0, Clock::now());
    const double cpu0 = CpuSeconds();
    const auto t0 = Clock::now();
    if (!ProduceBacklog(producer, sink, o)) return 1;
    const double produce_s = SecondsSince(t0, Clock::now());
    if (!sink.WaitCount(o.events(), WaitTimeout(o))) {
      std::fprintf(stderr, "impulse-bench group: %d groups: only %llu of %llu outputs\n", n,
                   static_cast<unsigned long long>(sink.count()), static_cast<unsigned long long>(o.events()));
      return 1;
    }
    const double s = SecondsSince(t0, Clock::now());
    const double cpu = CpuSeconds() - cpu0;
    const double cores = std::thread::hardware_concurrency();
    const auto [rss, hwm] = RssMiB();
    std::string split;
    for (const auto& g : groups) split += (split.empty() ? "" : "/") + std::to_string(g->Members().size());
    *events_per_s = static_cast<double>(o.events()) / s;
    std::printf(
        "%d group(s)%s (partitions %s, joined in %.1f s): %.2f s to the last output (producing took %.2f s): "
        "%.0f events/s, %.0f events/s per core; process CPU %.1f s = %.0f events per CPU-second "
        "(%.2f cores busy); duplicates %llu (%llu outputs deleted by the mock before read); RSS %.0f MiB\n",
        n, rekey ? " with key_by" : "", split.c_str(), join_s, s, produce_s, static_cast<double>(o.events()) / s,
        static_cast<double>(o.events()) / s / cores, cpu, static_cast<double>(o.events()) / cpu, cpu / s,
        static_cast<unsigned long long>(sink.duplicates()), static_cast<unsigned long long>(sink.unread()), rss);
    for (auto& g : groups) (void)g->Stop();
  }
  return 0;
}

}  // namespace

int GroupBenchCommand(const std::vector<std::string>& args) {
  po::options_description opts("group options");
  Options o;
  opts.add_options()("entities", po::value(&o.entities)->default_value(o.entities), "distinct customers")(
      "per-entity", po::value(&o.per_entity)->default_value(o.per_entity), "backlog records per customer")(
      "partitions", po::value(&o.partitions)->default_value(o.partitions), "partitions of every topic and stream")(
      "checkpoint-interval-ms", po::value(&o.checkpoint_interval_ms)->default_value(o.checkpoint_interval_ms),
      "the members' checkpoint interval (outputs reach the sink topic after a checkpoint's snapshot)")(
      "handoffs", po::value(&o.handoffs)->default_value(o.handoffs),
      "graceful handoffs timed (the median is reported)")(
      "max-groups", po::value(&o.max_groups)->default_value(o.max_groups), "scaling: 1..N groups in this process")(
      "fetch-wait-ms", po::value(&o.fetch_wait_ms)->default_value(o.fetch_wait_ms),
      "fetch.wait.max.ms of every consumer (the mock cluster waits that long when a fetch finds nothing)")(
      "session-timeout-ms", po::value(&o.session_timeout_ms)->default_value(o.session_timeout_ms),
      "session.timeout.ms of the groups' consumers (0: librdkafka's default, 45 s; the mock cluster ends a "
      "rebalance after a leave only when this minus 1 s has passed)")(
      "rekey", po::bool_switch(&o.rekey),
      "scaling: also run a spec that re-keys every record by merchant (a repartition topic) and compare")(
      "stop-first", po::bool_switch(&o.stop_first),
      "handoff: the new group starts once the old one has left (default: it starts just before Stop())")(
      "inflight", po::value(&o.inflight)->default_value(o.inflight),
      "records per partition produced ahead of the outputs read (the mock cluster keeps 5 MiB per partition)")(
      "what", po::value(&o.what)->default_value(o.what), "all, restore, scaling or failover (not in all)")(
      "impulse", po::value(&o.impulse), "failover: the impulse binary (default: the one built with this bench)")(
      "data-dir", po::value(&o.dir), "where the groups' data go (default: a fresh temporary directory)");
  po::variables_map vm;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when redirected to a file
  if (int rc = ParseCommandLine(args, "impulse-bench group [options]", opts, &vm); rc >= 0) return rc;
  if (o.entities == 0 || o.per_entity == 0 || o.partitions == 0 || o.handoffs < 1 || o.max_groups < 1 ||
      o.checkpoint_interval_ms <= 0 ||
      (o.what != "all" && o.what != "restore" && o.what != "scaling" && o.what != "failover")) {
    std::fprintf(stderr,
                 "impulse-bench group: entities, per-entity, partitions, handoffs, max-groups and the checkpoint "
                 "interval must be > 0; --what is all, restore or scaling\n");
    return 2;
  }
  const bool own_dir = o.dir.empty();
  if (own_dir) o.dir = std::filesystem::temp_directory_path() / ("impulse-gbench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(o.dir);
  int rc = 0;
  if (o.what == "failover") {
    if (!o.impulse.empty()) ::setenv("IMPULSE_E2E_BINARY", o.impulse.c_str(), 1);
    rc = RunFailover(o);
  } else {
    if (o.what != "scaling") rc |= RunRestore(o);
    if (o.what != "restore") rc |= RunScaling(o);
  }
  if (own_dir) std::filesystem::remove_all(o.dir);
  return rc;
}

}  // namespace impulse::bench
