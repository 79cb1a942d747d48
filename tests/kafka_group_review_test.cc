// Review of the group of instances (docs/SCALE_OUT.md): shapes the main group test does not
// exercise. Each test is a defect found in review (each failed before its fix).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
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

std::string Spec(const std::string& brokers) {
  return R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: int64}
      - {name: customer, type: string}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 1
feature_views:
  - name: customer
    entity: customer
    features:
      - {name: n, agg: count(), window: 1h}
pipelines:
  - name: score
    from: tx
    steps: [{features: customer}]
    sink: {stream: scored}
kafka:
  brokers: ")yaml" +
         brokers + R"yaml("
  group: review
  state_topic: review-state
  batch_records: 200
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
  sources: [{stream: tx, topic: tx, partitioned_by_key: true}]
  sinks: [{stream: scored, topic: scored}]
)yaml";
}

std::vector<std::string> Txs(int64_t from, int64_t to) {
  std::vector<std::string> out;
  for (int64_t id = from; id < to; ++id) {
    out.push_back("{\"id\":" + std::to_string(id) +
                  ",\"customer\":\"c1\",\"amount\":1.0,\"ts\":" + std::to_string(1'700'000'000'000 + id * 1000) + "}");
  }
  return out;
}

// Waits until the instance runs partition 0 (its restore metric is exposed).
bool RunsPartition0(const e2e::EngineProcess& p) {
  for (int i = 0; i < 200; ++i) {
    if (e2e::MetricLines(p.port(), "impulse_group_restore_bytes{partition=\"0\"}").find("partition=\"0\"") !=
        std::string::npos) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// A partition restored on an instance that then copies nothing (an idle topic) and checkpoints
// must still hand its source position to the next owner. The restored member has no source
// hint file (the snapshot does not carry it), so BuildMemberSnapshot keeps no record before the
// checkpoint's end: the source position record is dropped, and the third owner copies the topic
// again from its beginning (start: earliest) on top of the restored state: every earlier input
// gets a second output with a doubled count.
TEST(KafkaGroupReview, SourcePositionSurvivesTwoMovesOverAnIdleTopic) {
  connect::KafkaMockCluster cluster(1);
  ASSERT_TRUE(cluster.CreateTopic("tx", 1));
  ASSERT_TRUE(cluster.CreateTopic("scored", 1));
  ASSERT_TRUE(cluster.CreateTopic("review-state", 1));
  const std::string dir = e2e::TempDir("kafka-group-review");
  ASSERT_FALSE(dir.empty());
  const std::string spec = dir + "/spec.yaml";
  std::ofstream(spec) << Spec(cluster.bootstraps());
  const std::vector<std::string> args = {"--checkpoint-interval-ms", "200", "--shards", "1"};

  ASSERT_TRUE(cluster.Produce("tx", 0, Txs(0, 100)));
  {
    e2e::EngineProcess a;
    ASSERT_TRUE(a.Start(spec, dir + "/a", args)) << a.startup_log();
    size_t n = 0;
    for (int i = 0; i < 60 && n < 100; ++i) n = cluster.Consume("scored", 1, 100, 500)[0].size();
    ASSERT_EQ(n, 100u) << a.tail();
    ASSERT_EQ(a.Signal(SIGTERM), 0) << a.tail();  // graceful: a last snapshot
  }
  {
    // The second owner restores, sees no new input, checkpoints (its first periodic checkpoint
    // and the last one of a graceful leave) and leaves.
    e2e::EngineProcess b;
    ASSERT_TRUE(b.Start(spec, dir + "/b", args)) << b.startup_log();
    ASSERT_TRUE(RunsPartition0(b)) << "b never ran partition 0";
    std::this_thread::sleep_for(std::chrono::seconds(2));
    ASSERT_EQ(b.Signal(SIGTERM), 0) << b.tail();
    if (std::getenv("IMPULSE_TEST_VERBOSE") != nullptr) std::fprintf(stderr, "--- b:\n%s\n", b.tail().c_str());
  }
  e2e::EngineProcess c;
  ASSERT_TRUE(c.Start(spec, dir + "/c", args)) << c.startup_log();
  ASSERT_TRUE(RunsPartition0(c)) << "c never ran partition 0";
  ASSERT_TRUE(cluster.Produce("tx", 0, Txs(100, 110)));
  std::map<int32_t, std::vector<std::string>> got;
  for (int i = 0; i < 30; ++i) {
    got = cluster.Consume("scored", 1, 110, 500);
    if (got[0].size() >= 110) break;
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let duplicates, if any, arrive
  got = cluster.Consume("scored", 1, 110, 1000);
  std::map<int64_t, int> seen;
  size_t wrong = 0;
  for (const std::string& v : got[0]) {
    const int64_t id = std::atoll(e2e::JsonField(v, "id").c_str());
    ++seen[id];
    // One customer, one event per second: the count over 1 h is id + 1.
    if (std::atoll(e2e::JsonField(v, "n").c_str()) != id + 1 && ++wrong <= 3) ADD_FAILURE() << "wrong features: " << v;
  }
  EXPECT_EQ(got[0].size(), 110u) << "outputs in the sink";
  EXPECT_EQ(seen.size(), 110u);
  size_t dup = 0;
  for (const auto& [id, n] : seen) dup += n > 1 ? 1 : 0;
  EXPECT_EQ(dup, 0u) << "inputs with more than one output";
  EXPECT_EQ(c.Signal(SIGTERM), 0);
  if (HasFailure()) std::fprintf(stderr, "--- c:\n%s\n", c.tail().c_str());
  if (std::getenv("IMPULSE_TEST_VERBOSE") != nullptr) {
    for (const std::string& v : got[0]) std::fprintf(stderr, "%s\n", v.c_str());
  }
  std::filesystem::remove_all(dir);
}

// A state topic record is input from the broker: a corrupt manifest (here a size of 2^63) must
// give a clear error, never bring the instance down.
TEST(KafkaGroupReview, CorruptManifestDoesNotCrashTheInstance) {
  connect::KafkaMockCluster cluster(1);
  ASSERT_TRUE(cluster.CreateTopic("tx", 1));
  ASSERT_TRUE(cluster.CreateTopic("scored", 1));
  ASSERT_TRUE(cluster.CreateTopic("review-state", 1));
  const std::string dir = e2e::TempDir("kafka-group-review2");
  ASSERT_FALSE(dir.empty());
  const std::string spec = dir + "/spec.yaml";
  std::ofstream(spec) << Spec(cluster.bootstraps());
  std::string out;
  ASSERT_EQ(e2e::RunCapture("printf 'p0|1 1 9223372036854775808 0\\n' | kcat -P -b " + cluster.bootstraps() +
                                " -t review-state -p 0 -K '|' 2>&1",
                            &out),
            0)
      << out;
  e2e::EngineProcess a;
  ASSERT_TRUE(a.Start(spec, dir + "/a", {"--checkpoint-interval-ms", "200", "--shards", "1"})) << a.startup_log();
  std::this_thread::sleep_for(std::chrono::seconds(8));  // joins, is assigned partition 0, reads the state
  const std::string failures = e2e::MetricLines(a.port(), "impulse_group_member_start_failures_total");
  const int rc = a.Signal(SIGTERM);
  EXPECT_EQ(rc, 0) << "the instance died: exit status " << rc << "\n" << a.tail();
  EXPECT_NE(failures.find("impulse_group_member_start_failures_total"), std::string::npos)
      << "no metrics: the instance is gone\n"
      << a.tail();
  std::filesystem::remove_all(dir);
}

// An instance whose member engines can never start (here: checkpoints disabled, which a member
// needs) must refuse to start, not join the group and hold its share of the partitions while
// retrying every 2 s: nobody else may run them meanwhile.
TEST(KafkaGroupReview, InstanceThatCannotRunMembersDoesNotJoin) {
  connect::KafkaMockCluster cluster(1);
  ASSERT_TRUE(cluster.CreateTopic("tx", 1));
  ASSERT_TRUE(cluster.CreateTopic("scored", 1));
  ASSERT_TRUE(cluster.CreateTopic("review-state", 1));
  const std::string dir = e2e::TempDir("kafka-group-review3");
  ASSERT_FALSE(dir.empty());
  const std::string spec = dir + "/spec.yaml";
  std::ofstream(spec) << Spec(cluster.bootstraps());
  e2e::EngineProcess a;
  const bool serving = a.Start(spec, dir + "/a", {"--checkpoint-interval-ms", "0", "--shards", "1"});
  std::string failures;
  if (serving) {
    std::this_thread::sleep_for(std::chrono::seconds(6));
    failures = e2e::MetricLines(a.port(), "impulse_group_member_start_failures_total");
    (void)a.Signal(SIGTERM);
  }
  EXPECT_FALSE(serving) << "started and joined the group; member starts failing: " << failures << a.tail();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace impulse
