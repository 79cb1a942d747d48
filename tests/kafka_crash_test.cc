// A Kafka source across kill -9: `impulse run` copies a topic (librdkafka's mock cluster, hosted
// by this test process, on loopback ports) while records keep arriving, and is killed several
// times in the middle of copying. At the end the stream holds every record of the topic exactly
// once, in topic order per partition: the source position records in the log, not the group's
// offsets, say where each restart resumes.
//
// What this cannot test here: a kill in the middle of an exactly-once sink's transaction. That
// relies on the brokers aborting the open transaction (init_transactions of the next producer)
// and read_committed readers skipping it, which the mock cluster does not implement (it writes
// no transaction markers).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "connect/kafka_mock.h"
#include "event/row_codec.h"
#include "impulse/schema.h"
#include "log/partition_log.h"
#include "tests/engine_process.h"

namespace impulse {
namespace {

constexpr int kPartitions = 2;

Schema TxSchema() { return Schema({{"id", FieldType::kInt64, false}, {"amount", FieldType::kDouble, false}}); }

// The ids in stream partition p of the engine's data directory, in log order.
std::vector<int64_t> IdsIn(const std::string& data, int p) {
  std::vector<int64_t> ids;
  auto log = log::PartitionLog::Open(Env::Default(), Clock::Real(), data + "/streams/tx/" + std::to_string(p),
                                     log::LogOptions{});
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  if (!log.ok()) return ids;
  std::vector<log::Record> recs;
  std::string storage;
  const Schema schema = TxSchema();
  for (uint64_t next = (*log)->start_offset(); next < (*log)->end_offset();) {
    recs.clear();
    storage.clear();
    EXPECT_TRUE((*log)->Read(next, 65536, 64u << 20, &recs, &storage).ok());
    if (recs.empty()) break;
    for (const log::Record& r : recs) {
      next = r.offset + 1;
      if (IsControlRecord(r.payload)) continue;
      RowBatch row(schema.size());
      EXPECT_TRUE(DecodeRow(schema, r.payload, &row).ok());
      if (row.size() == 1) ids.push_back(row.row(0)[0].i64);
    }
  }
  return ids;
}

size_t StreamBytes(const std::string& data) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& f : std::filesystem::recursive_directory_iterator(data + "/streams/tx", ec)) {
    if (f.is_regular_file(ec) && f.path().extension() == ".log") n += f.file_size(ec);
  }
  return n;
}

TEST(KafkaCrash, KillNineWhileCopyingLeavesEveryRecordOnceInTopicOrder) {
  connect::KafkaMockCluster cluster(3);
  ASSERT_TRUE(cluster.CreateTopic("payments", kPartitions));
  const std::string dir = e2e::TempDir("kafka-crash");
  ASSERT_FALSE(dir.empty());
  const std::string spec = dir + "/spec.yaml";
  std::ofstream(spec) << "streams:\n  - name: tx\n    fields: [{name: id, type: int64}, {name: amount, type: double}]\n"
                         "    partitions: 2\n"
                         "pipelines:\n  - name: big\n    from: tx\n    steps: [{filter: amount >= 50}]\n"
                         "    sink: {stream: big_tx}\n"
                         "kafka:\n  brokers: \""
                      << cluster.bootstraps()
                      << "\"\n  group: crash\n  batch_records: 300\n"
                         // A killed member is given up after the session timeout (the mock's rebalance waits for it).
                         "  properties: {session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\"}\n"
                         "  sources: [{stream: tx, topic: payments}]\n";
  const std::string data = dir + "/data";
  const std::vector<std::string> args = {"--checkpoint-interval-ms", "200", "--durability", "sync"};

  // Records keep arriving while the engine is killed and restarted: id i goes to partition i % 2.
  constexpr int kTotal = 24'000;
  std::atomic<int> produced{0};
  std::atomic<bool> produce_failed{false};
  std::thread producer([&] {
    for (int base = 0; base < kTotal; base += 400) {
      std::vector<std::string> by_partition[kPartitions];
      for (int i = base; i < base + 400; ++i) {
        by_partition[i % kPartitions].push_back("{\"id\":" + std::to_string(i) +
                                                ",\"amount\":" + std::to_string(i % 100) + "}");
      }
      for (int p = 0; p < kPartitions; ++p) {
        if (!cluster.Produce("payments", p, by_partition[p])) produce_failed = true;
      }
      produced.store(base + 400);
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }
  });

  std::mt19937 rng(16);
  for (int round = 0; round < 3; ++round) {
    e2e::EngineProcess p;
    ASSERT_TRUE(p.Start(spec, data, args)) << p.startup_log();
    // Kill once copying is under way (the group's assignment takes seconds on the mock).
    const size_t before = StreamBytes(data);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (StreamBytes(data) == before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 400)(rng)));
    p.Kill();
  }
  producer.join();
  ASSERT_FALSE(produce_failed.load());

  // A last run until everything is copied (checked after a clean stop, in the logs themselves).
  std::map<int64_t, int> seen;
  for (int attempt = 0; attempt < 6; ++attempt) {
    e2e::EngineProcess p;
    ASSERT_TRUE(p.Start(spec, data, args)) << p.startup_log();
    std::this_thread::sleep_for(std::chrono::seconds(8));
    ASSERT_EQ(p.Signal(SIGTERM), 0) << p.tail();
    seen.clear();
    size_t n = 0;
    for (int part = 0; part < kPartitions; ++part) {
      const std::vector<int64_t> ids = IdsIn(data, part);
      n += ids.size();
      for (size_t i = 0; i < ids.size(); ++i) {
        ++seen[ids[i]];
        EXPECT_EQ(ids[i] % kPartitions, part) << "topic partition k goes to stream partition k";
        if (i > 0) {
          EXPECT_LT(ids[i - 1], ids[i]) << "topic order within a partition (partition " << part << ")";
        }
      }
    }
    if (n >= kTotal) break;
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kTotal)) << "every record of the topic, after every restart";
  for (const auto& [id, count] : seen) ASSERT_EQ(count, 1) << "record " << id << " copied " << count << " times";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace impulse
