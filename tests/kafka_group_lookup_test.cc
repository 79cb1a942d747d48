// Lookups in a group of instances (docs/SCALE_OUT.md, "Lookups") on librdkafka's mock cluster:
// two `impulse run` processes share a topic's partitions; the features of an entity of EVERY
// partition, and the decision log record of an event of every partition, are asked of BOTH
// instances, which answer the same (the instance that does not run the partition forwards the
// lookup to the owner recorded in the state topic). Then one instance is killed with -9: until
// its partitions have moved, the survivor answers 503 or 404 naming the partition, never a wrong
// value; afterwards it answers them itself with the right values.
//
// Decision lookups are not checked after the kill: a new owner's log starts at the snapshot's
// first needed record, so older decision records do not move (docs/SCALE_OUT.md).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "connect/kafka_mock.h"
#include "tests/engine_process.h"

namespace impulse {
namespace {

constexpr int kPartitions = 3;
constexpr int kCustomers = 30;  // customer c goes to partition c % kPartitions
constexpr int kEvents = 300;

struct Answer {
  int status = 0;
  std::string body;
};

// curl's answer: the body, then the status on the last line.
Answer Http(uint16_t port, const std::string& path, const std::string& post_body = "", const std::string& header = "") {
  std::string out;
  std::string cmd = "curl -s -m 20 -w '\\n%{http_code}' ";
  if (!header.empty()) cmd += "-H '" + header + "' ";
  if (!post_body.empty()) cmd += "-X POST -H 'Content-Type: application/json' --data '" + post_body + "' ";
  e2e::RunCapture(cmd + "'http://127.0.0.1:" + std::to_string(port) + path + "'", &out);
  Answer a;
  const size_t nl = out.rfind('\n');
  if (nl == std::string::npos) return a;
  a.status = std::atoi(out.c_str() + nl + 1);
  a.body = out.substr(0, nl);
  return a;
}

struct Expected {
  int64_t n = 0;
  double sum = 0;
};

// "" when `object` (one entity's features) holds the expected values, else what differs.
std::string Differs(const std::string& object, const Expected& e) {
  const int64_t n = std::atoll(e2e::JsonField(object, "n_1h").c_str());
  const double sum = std::atof(e2e::JsonField(object, "sum_1h").c_str());
  if (n == e.n && std::abs(sum - e.sum) < 1e-6) return "";
  return "got " + object + ", expected n_1h " + std::to_string(e.n) + " sum_1h " + std::to_string(e.sum);
}

uint64_t Forwarded(uint16_t port, const std::string& outcome) {
  const std::string lines = e2e::MetricLines(port, "impulse_group_lookups_forwarded_total");
  const std::string key = "outcome=\"" + outcome + "\"} ";
  const size_t at = lines.find(key);
  return at == std::string::npos ? 0 : static_cast<uint64_t>(std::atof(lines.c_str() + at + key.size()));
}

TEST(KafkaGroupLookup, FeaturesAndDecisionsFromAnyInstanceAndNoWrongValueWhilePartitionsMove) {
  connect::KafkaMockCluster cluster(3);
  ASSERT_TRUE(cluster.CreateTopic("tx", kPartitions));
  ASSERT_TRUE(cluster.CreateTopic("scored", kPartitions));
  ASSERT_TRUE(cluster.CreateTopic("lookup-state", kPartitions));
  const std::string dir = e2e::TempDir("kafka-group-lookup");
  ASSERT_FALSE(dir.empty());
  // A linear model: score = amount.
  std::filesystem::create_directories(dir + "/models/m/1");
  std::ofstream(dir + "/models/m/config.yaml") << "kind: linear\ninputs:\n  - {name: amount}\n  - {name: n_1h}\n";
  std::ofstream(dir + "/models/m/1/model.json") << R"({"kind":"linear","weights":[1,0],"bias":0})";
  const std::string spec = dir + "/spec.yaml";
  std::ofstream(spec) << R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: string}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 3
feature_views:
  - name: customer
    entity: customer
    features:
      - {name: n_1h, agg: count(), window: 1h}
      - {name: sum_1h, agg: sum(amount), window: 1h}
pipelines:
  - name: score
    from: tx
    steps:
      - features: customer
      - predict: {model: m, outputs: [score], event_id: id, decision_log: decisions}
    sink: {stream: scored}
kafka:
  brokers: ")yaml" << cluster.bootstraps()
                      << R"yaml("
  group: lookup
  state_topic: lookup-state
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
  sources: [{stream: tx, topic: tx, partitioned_by_key: true}]
  sinks: [{stream: scored, topic: scored}]
)yaml";
  const std::vector<std::string> args = {
      "--checkpoint-interval-ms", "300", "--shards", "1", "--models", dir + "/models"};

  // Every event within the last hour of the others (1 s apart, ending now), so each customer's
  // n_1h and sum_1h are over all its events.
  const int64_t t0 = static_cast<int64_t>(std::time(nullptr)) * 1000 - (kEvents + 60) * 1000;
  std::map<int, Expected> expected;
  std::map<int, std::string> event_of;  // partition -> an event id of it
  std::vector<std::string> by_partition[kPartitions];
  for (int i = 0; i < kEvents; ++i) {
    const int c = (i * 7) % kCustomers;
    const double amount = static_cast<double>((i * 13) % 500) + 0.25;
    expected[c].n += 1;
    expected[c].sum += amount;
    event_of[c % kPartitions] = "e" + std::to_string(i);
    by_partition[c % kPartitions].push_back("{\"id\":\"e" + std::to_string(i) + "\",\"customer\":\"c" +
                                            std::to_string(c) + "\",\"amount\":" + std::to_string(amount) +
                                            ",\"ts\":" + std::to_string(t0 + i * 1000) + "}");
  }

  e2e::EngineProcess a, b;
  ASSERT_TRUE(a.Start(spec, dir + "/a", args)) << a.startup_log();
  ASSERT_TRUE(b.Start(spec, dir + "/b", args)) << b.startup_log();
  for (int p = 0; p < kPartitions; ++p) ASSERT_TRUE(cluster.Produce("tx", p, by_partition[p]));

  // Both instances answer every customer (of every partition) with the expected values: once
  // the partitions are assigned and processed, through forwarding for those run by the other.
  auto all_right = [&](uint16_t port, std::string* why) {
    for (int c = 0; c < kCustomers; ++c) {
      const Answer r = Http(port, "/v1/features/customer/c" + std::to_string(c));
      const std::string d = r.status == 200 ? Differs(r.body, expected[c]) : "status " + std::to_string(r.status);
      if (!d.empty()) {
        *why = "customer c" + std::to_string(c) + " (partition " + std::to_string(c % kPartitions) + "): " + d + " " +
               r.body;
        return false;
      }
    }
    return true;
  };
  std::string why_a, why_b;
  bool ready = false;
  for (int i = 0; i < 120 && !ready; ++i) {
    ready = all_right(a.port(), &why_a) && all_right(b.port(), &why_b);
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(ready) << "a: " << why_a << "\nb: " << why_b << "\n" << a.tail() << b.tail();
  // Each instance runs some partitions and not others: both forwarded and found.
  EXPECT_GT(Forwarded(a.port(), "found"), 0u) << e2e::MetricLines(a.port(), "impulse_group");
  EXPECT_GT(Forwarded(b.port(), "found"), 0u) << e2e::MetricLines(b.port(), "impulse_group");

  // The batch form: every customer at once, from both, the same values.
  std::string batch = "{\"entities\":[";
  for (int c = 0; c < kCustomers; ++c) batch += std::string(c > 0 ? "," : "") + "\"c" + std::to_string(c) + "\"";
  batch += "]}";
  for (const e2e::EngineProcess* p : {&a, &b}) {
    const Answer r = Http(p->port(), "/v1/features/customer:batch", batch);
    ASSERT_EQ(r.status, 200) << r.body;
    size_t at = 0;
    for (int c = 0; c < kCustomers; ++c) {
      const std::string entity = "{\"entity\":\"c" + std::to_string(c) + "\"";
      at = r.body.find(entity, at);
      ASSERT_NE(at, std::string::npos) << "c" << c << " in " << r.body;
      const size_t end = r.body.find("}}", at);
      EXPECT_EQ(Differs(r.body.substr(at, end - at), expected[c]), "") << "batch from port " << p->port();
    }
  }
  // An entity no partition has: 404 from both (every partition was asked).
  for (const e2e::EngineProcess* p : {&a, &b}) {
    const Answer r = Http(p->port(), "/v1/features/customer/nobody");
    EXPECT_EQ(r.status, 404) << r.body;
  }

  // Decision records of an event of every partition, from both instances: the same record.
  for (const auto& [partition, id] : event_of) {
    const Answer ra = Http(a.port(), "/v1/decisions/decisions/" + id);
    const Answer rb = Http(b.port(), "/v1/decisions/decisions/" + id);
    EXPECT_EQ(ra.status, 200) << "partition " << partition << ": " << ra.body;
    EXPECT_EQ(rb.status, 200) << "partition " << partition << ": " << rb.body;
    EXPECT_NE(ra.body.find("\"event_id\":\"" + id + "\""), std::string::npos) << ra.body;
    EXPECT_EQ(ra.body, rb.body) << "partition " << partition;
  }
  EXPECT_EQ(Http(a.port(), "/v1/decisions/decisions/none").status, 404);

  // Which partitions b runs, from its metrics (impulse_group_restore_bytes{partition="k"}).
  std::set<int> of_b;
  const std::string lines = e2e::MetricLines(b.port(), "impulse_group_restore_bytes{");
  for (size_t at = lines.find("partition=\""); at != std::string::npos; at = lines.find("partition=\"", at + 1)) {
    of_b.insert(std::atoi(lines.c_str() + at + 11));
  }
  ASSERT_FALSE(of_b.empty()) << lines;
  ASSERT_LT(of_b.size(), static_cast<size_t>(kPartitions)) << lines;
  // As another instance would ask: a forwarded lookup is answered from a's own partitions only
  // (never forwarded again), and refused when a does not run a partition the asker named.
  const int mine = [&] {
    for (int p = 0; p < kPartitions; ++p) {
      if (of_b.count(p) == 0) return p;
    }
    return -1;
  }();
  const int theirs = *of_b.begin();
  const Answer own = Http(a.port(), "/v1/features/customer/c" + std::to_string(theirs), "",
                          "Impulse-Forwarded: " + std::to_string(mine));
  EXPECT_EQ(own.status, 404) << own.body;
  const Answer moved_away = Http(a.port(), "/v1/features/customer/c" + std::to_string(theirs), "",
                                 "Impulse-Forwarded: " + std::to_string(theirs));
  EXPECT_EQ(moved_away.status, 503) << moved_away.body;
  EXPECT_NE(moved_away.body.find("not run by this instance"), std::string::npos) << moved_away.body;
  // Snapshots of the processed state are written (every 300 ms when something changed).
  std::this_thread::sleep_for(std::chrono::seconds(2));
  b.Kill();

  // The survivor, asked about b's customers until it runs their partitions: a right value, or
  // 503/404 with a message naming the partition; never a wrong value.
  int gap_answers = 0;
  std::string first_gap;  // the first answer during the gap, shown
  bool moved = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (!moved && std::chrono::steady_clock::now() < deadline) {
    moved = true;
    for (int c = 0; c < kCustomers; ++c) {
      if (of_b.count(c % kPartitions) == 0) continue;
      const Answer r = Http(a.port(), "/v1/features/customer/c" + std::to_string(c));
      if (r.status == 200) {
        ASSERT_EQ(Differs(r.body, expected[c]), "") << "customer c" << c << " on the survivor";
        continue;
      }
      moved = false;
      if (gap_answers++ == 0) first_gap = std::to_string(r.status) + " " + r.body;
      ASSERT_TRUE(r.status == 503 || r.status == 404) << r.status << " " << r.body;
      if (r.status == 503) {
        EXPECT_NE(r.body.find("partition "), std::string::npos) << r.body;
      }
    }
    if (!moved) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_TRUE(moved) << "b's partitions never answered on the survivor\n" << a.tail();
  EXPECT_GT(gap_answers, 0) << "the survivor was asked before b's partitions moved";
  std::fprintf(stderr, "during the move: %d answers without values, the first: %s\n", gap_answers, first_gap.c_str());
  ASSERT_TRUE(all_right(a.port(), &why_a)) << why_a;
  EXPECT_GT(Forwarded(a.port(), "unreachable"), 0u) << e2e::MetricLines(a.port(), "impulse_group");

  EXPECT_EQ(a.Signal(SIGTERM), 0) << a.tail();
  if (std::getenv("IMPULSE_TEST_VERBOSE") != nullptr) std::fprintf(stderr, "%s", a.tail().c_str());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace impulse
