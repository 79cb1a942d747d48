// A group of instances (docs/SCALE_OUT.md) on librdkafka's mock cluster, hosted by this test
// process: `impulse run` processes with the same spec share a topic's partitions; one is killed
// with -9 mid-stream, one joins, one leaves gracefully, while records keep arriving. At the end
// every input record has exactly one output in the exactly-once Kafka sink, and its features
// (per customer: count and sum over the last hour, the previous amount) equal a brute-force
// computation over the whole input: the state of each partition followed it to each new owner.
//
// The mock cluster writes no transaction markers: an open transaction of the killed instance
// stays readable instead of being aborted. The engine's design does not depend on that (a new
// owner fences the old one and reads the sink's position back), but this test cannot show the
// aborted case; the exactly-once claim it checks is for what the mock keeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "connect/kafka_mock.h"
#include "tests/engine_process.h"

namespace impulse {
namespace {

constexpr int kPartitions = 3;
constexpr int kCustomers = 30;  // customer c goes to partition c % kPartitions
constexpr int64_t kT0 = 1'700'000'000'000;

struct Expected {
  int64_t n = 0;
  double sum = 0;
  std::string previous = "null";
};

std::string Tx(int64_t id, int c, double amount) {
  // Event time: 40 s apart per id, so a 1 h window holds a moving subset of a customer's events.
  return "{\"id\":" + std::to_string(id) + ",\"customer\":\"c" + std::to_string(c) +
         "\",\"amount\":" + std::to_string(amount) + ",\"ts\":" + std::to_string(kT0 + id * 40'000) + "}";
}

TEST(KafkaGroup, PartitionsAndTheirStateMoveAcrossKillJoinAndLeave) {
  connect::KafkaMockCluster cluster(3);
  ASSERT_TRUE(cluster.CreateTopic("tx", kPartitions));
  ASSERT_TRUE(cluster.CreateTopic("scored", kPartitions));
  ASSERT_TRUE(cluster.CreateTopic("fraud-state", kPartitions));
  const std::string dir = e2e::TempDir("kafka-group");
  ASSERT_FALSE(dir.empty());
  const std::string spec = dir + "/spec.yaml";
  std::ofstream(spec) << R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: int64}
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
      - {name: previous_amount, previous: amount}
pipelines:
  - name: score
    from: tx
    steps: [{features: customer}]
    sink: {stream: scored}
kafka:
  brokers: ")yaml" << cluster.bootstraps()
                      << R"yaml("
  group: fraud
  state_topic: fraud-state
  batch_records: 200
  # A killed instance is given up after the session timeout.
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
  sources: [{stream: tx, topic: tx, partitioned_by_key: true}]
  sinks: [{stream: scored, topic: scored}]
)yaml";
  const std::vector<std::string> args = {"--checkpoint-interval-ms", "300", "--shards", "1"};

  // The input, produced in rounds while instances come and go.
  constexpr int kTotal = 6000;
  std::map<int64_t, Expected> expected;
  std::map<int, std::vector<std::pair<int64_t, double>>> history;  // customer -> (id, amount)
  int64_t next_id = 0;
  auto produce = [&](int n) {
    std::vector<std::string> by_partition[kPartitions];
    for (int i = 0; i < n; ++i, ++next_id) {
      const int c = static_cast<int>((next_id * 7) % kCustomers);
      const double amount = static_cast<double>((next_id * 13) % 500) + 0.25;
      auto& h = history[c];
      Expected e;
      e.previous = h.empty() ? "null" : std::to_string(h.back().second);
      h.emplace_back(next_id, amount);
      for (const auto& [id, a] : h) {
        if ((next_id - id) * 40'000 < 3'600'000) {
          ++e.n;
          e.sum += a;
        }
      }
      expected[next_id] = e;
      by_partition[c % kPartitions].push_back(Tx(next_id, c, amount));
    }
    for (int p = 0; p < kPartitions; ++p) ASSERT_TRUE(cluster.Produce("tx", p, by_partition[p]));
  };

  e2e::EngineProcess a, b, c;
  ASSERT_TRUE(a.Start(spec, dir + "/a", args)) << a.startup_log();
  ASSERT_TRUE(b.Start(spec, dir + "/b", args)) << b.startup_log();
  ASSERT_TRUE(c.Start(spec, dir + "/c", args)) << c.startup_log();
  produce(1500);
  // Once every partition has a member and outputs flow from each (an output is released only
  // once its snapshot is written), kill one instance mid-stream: each partition then has a
  // snapshot to restore.
  auto outputs = [&] {
    size_t least = SIZE_MAX;
    // Everything produced so far as `expect`: the read covers every partition, not the first 500.
    const auto got = cluster.Consume("scored", kPartitions, 1500, 2000);
    for (int p = 0; p < kPartitions; ++p) {
      auto it = got.find(p);
      least = std::min(least, it == got.end() ? size_t{0} : it->second.size());
    }
    return least;
  };
  size_t least = 0;
  for (int i = 0; i < 30 && (least = outputs()) < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GE(least, 100u) << "no output from some partition:\n" << a.tail() << b.tail() << c.tail();
  produce(1500);
  b.Kill();
  produce(1000);
  // A new instance joins while the survivors take over the killed one's partitions.
  e2e::EngineProcess d;
  ASSERT_TRUE(d.Start(spec, dir + "/d", args)) << d.startup_log();
  produce(1000);
  std::this_thread::sleep_for(std::chrono::seconds(10));
  // A graceful leave: its partitions move with a last snapshot.
  ASSERT_EQ(a.Signal(SIGTERM), 0) << a.tail();
  produce(kTotal - static_cast<int>(next_id));
  ASSERT_EQ(next_id, kTotal);

  // Every record has its output, once.
  std::map<int32_t, std::vector<std::string>> got;
  for (int i = 0; i < 120; ++i) {
    got = cluster.Consume("scored", kPartitions, kTotal, 1000);
    size_t n = 0;
    for (const auto& [p, v] : got) n += v.size();
    if (n >= kTotal) break;
  }
  const std::string restored_c = e2e::MetricLines(c.port(), "impulse_group_restore_bytes");
  const std::string restored_d = e2e::MetricLines(d.port(), "impulse_group_restore_bytes");
  std::map<int64_t, int> seen;
  size_t mismatches = 0;
  for (const auto& [p, values] : got) {
    for (const std::string& v : values) {
      const int64_t id = std::atoll(e2e::JsonField(v, "id").c_str());
      ++seen[id];
      const Expected& e = expected[id];
      const bool same = std::atoll(e2e::JsonField(v, "n_1h").c_str()) == e.n &&
                        std::abs(std::atof(e2e::JsonField(v, "sum_1h").c_str()) - e.sum) < 1e-6 &&
                        (e.previous == "null" ? e2e::JsonField(v, "previous_amount") == "null"
                                              : std::abs(std::atof(e2e::JsonField(v, "previous_amount").c_str()) -
                                                         std::atof(e.previous.c_str())) < 1e-9);
      if (!same && ++mismatches <= 5) {
        ADD_FAILURE() << "record " << id << ": " << v << " expected n_1h " << e.n << " sum_1h " << e.sum << " previous "
                      << e.previous;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kTotal)) << "an output for every input\n" << c.tail() << d.tail();
  for (const auto& [id, n] : seen) {
    if (n != 1) ADD_FAILURE() << "record " << id << " has " << n << " outputs";
  }
  // The killed and the departed instances' partitions were restored from snapshots elsewhere.
  size_t restored = 0;
  for (const std::string& text : {restored_c, restored_d}) {
    for (size_t at = text.find("} "); at != std::string::npos; at = text.find("} ", at + 1)) {
      restored += std::atof(text.c_str() + at + 2) > 0 ? 1 : 0;
    }
  }
  EXPECT_GE(restored, 2u) << "partitions restored from a snapshot by the survivors:\n"
                          << restored_c << restored_d << c.tail() << d.tail();
  EXPECT_EQ(c.Signal(SIGTERM), 0) << c.tail();
  EXPECT_EQ(d.Signal(SIGTERM), 0) << d.tail();
  if (std::getenv("IMPULSE_TEST_VERBOSE") != nullptr)
    std::fprintf(stderr, "%s%s%s", a.tail().c_str(), c.tail().c_str(), d.tail().c_str());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace impulse
