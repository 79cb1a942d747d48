// A full or failing disk under the engine (through FaultInjectionEnv): a refused request
// leaves no trace, checkpoints resume once space is back, and shutdown says what really
// happened.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "common/fault_env.h"
#include "impulse/engine.h"
#include "runtime/engine_test_util.h"

namespace impulse {
namespace {

constexpr const char* kSpec = R"YAML(streams:
  - name: clicks
    fields:
      - {name: user_id, type: string}
      - {name: url, type: string}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: user_id
    event_time: ts
    partitions: 4
pipelines:
  - name: per_user
    from: clicks
    steps:
      - window: {tumbling: 1h, key: user_id, aggregates: {n: count(), total: sum(amount)}, emit: updates}
    sink: {stream: per_user}
)YAML";

using Outcome = testing_util::IngestOutcome;

Outcome IngestSync(Engine& e, std::string_view body) { return testing_util::IngestAndWait(e, "clicks", body); }

// `n` events with distinct urls "/r<request>/<i>" over several users (so several partitions
// and both shards).
std::string Request(int request, int n) {
  std::string body;
  for (int i = 0; i < n; ++i) {
    body += R"({"user_id":"u)" + std::to_string(i % 7) + R"(","url":"/r)" + std::to_string(request) + "/" +
            std::to_string(i) + R"(","amount":1,"ts":"2024-03-01T10:00:00Z"})" + "\n";
  }
  return body;
}

// How many times each url is stored in `clicks`.
std::map<std::string, int> UrlCounts(const Engine& e) {
  std::map<std::string, int> counts;
  for (const std::string& line : testing_util::ReadAllEvents(e, "clicks")) {
    const size_t at = line.find("\"url\":\"");
    if (at == std::string::npos) continue;
    const size_t end = line.find('"', at + 7);
    ++counts[line.substr(at + 7, end - at - 7)];
  }
  return counts;
}

class DiskFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse-disk-fault-test-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    spec_ = (dir_ / "spec.yaml").string();
    std::ofstream(spec_) << kSpec;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EngineOptions Options(Env* env) {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.shards = 2;
    o.max_producers = 1;
    o.env = env;
    return o;
  }

  std::filesystem::path dir_;
  std::string spec_;
};

// The client's view of a full disk: 507, space returns, resend, 200. Every event must then be
// stored exactly once, in this run and after a restart.
TEST_F(DiskFaultTest, RequestRefusedForAFullDiskIsNotStoredAndItsResendIsStoredOnce) {
  FaultInjectionEnv fenv(Env::Default());
  EngineOptions o = Options(&fenv);
  o.checkpoint_interval_ms = 3'600'000;
  {
    auto e = Engine::Open(spec_, o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_TRUE(IngestSync(**e, Request(1, 20)).status.ok());
    fenv.SetWriteBudget(0);
    Outcome refused = IngestSync(**e, Request(2, 20));
    EXPECT_EQ(refused.status.code(), StatusCode::kResourceExhausted) << refused.status.ToString();
    fenv.SetWriteBudget(-1);
    Outcome resent = IngestSync(**e, Request(2, 20));
    ASSERT_TRUE(resent.status.ok()) << resent.status.ToString();
    ASSERT_TRUE(IngestSync(**e, Request(3, 20)).status.ok());
    const std::map<std::string, int> counts = UrlCounts(**e);
    EXPECT_EQ(counts.size(), 60u);
    for (const auto& [url, n] : counts) EXPECT_EQ(n, 1) << url << " stored " << n << " times";
    EXPECT_TRUE((*e)->Stop().ok());
  }
  auto e = Engine::Open(spec_, Options(Env::Default()));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const std::map<std::string, int> counts = UrlCounts(**e);
  EXPECT_EQ(counts.size(), 60u);
  for (const auto& [url, n] : counts) EXPECT_EQ(n, 1) << url << " stored " << n << " times after a restart";
  EXPECT_TRUE((*e)->Stop().ok());
}

// One shard's disk part is full, the other's is not: the request fails, and its answer lists
// exactly the lines that were stored, so resending the others stores every event once.
TEST_F(DiskFaultTest, RequestFailedOnOneShardListsTheLinesStoredByTheOthers) {
  FaultInjectionEnv fenv(Env::Default());
  EngineOptions o = Options(&fenv);
  o.checkpoint_interval_ms = 3'600'000;
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  fenv.SetPathFilter("/streams/clicks/1/");  // partition 1 (shard 1) only
  fenv.SetWriteBudget(0);
  const std::string body = Request(1, 20);
  Outcome failed = IngestSync(**e, body);
  EXPECT_EQ(failed.status.code(), StatusCode::kResourceExhausted) << failed.status.ToString();
  ASSERT_FALSE(failed.result.stored_lines.empty());
  ASSERT_LT(failed.result.stored_lines.size(), 20u);
  fenv.SetWriteBudget(-1);
  std::string rest;
  size_t start = 0;
  for (uint32_t line = 1; start < body.size(); ++line) {
    const size_t nl = body.find('\n', start);
    if (!std::binary_search(failed.result.stored_lines.begin(), failed.result.stored_lines.end(), line)) {
      rest += body.substr(start, nl + 1 - start);
    }
    start = nl + 1;
  }
  ASSERT_TRUE(IngestSync(**e, rest).status.ok());
  const std::map<std::string, int> counts = UrlCounts(**e);
  EXPECT_EQ(counts.size(), 20u);
  for (const auto& [url, n] : counts) EXPECT_EQ(n, 1) << url << " stored " << n << " times";
  EXPECT_TRUE((*e)->Stop().ok());
}

// Group commit: requests that share one cycle share its answer. One request's partition
// fails; the other's (same shard) was written and fsynced in the same cycle, yet it is refused
// too, so it must not be stored either.
TEST_F(DiskFaultTest, RequestsSharingAFailedGroupCommitAreAllRefusedAndNoneIsStored) {
  FaultInjectionEnv fenv(Env::Default());
  EngineOptions o = Options(&fenv);
  o.checkpoint_interval_ms = 3'600'000;
  o.durability = Durability::kGroupCommit;
  o.group_commit_ms = 500;  // both requests land in one group
  o.max_producers = 2;
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  // Where each user's events go: partitions 0 and 2 belong to shard 0.
  ASSERT_TRUE(IngestSync(**e, Request(0, 7)).status.ok());
  std::map<uint32_t, std::string> user_of_partition;
  for (uint32_t p = 0; p < 4; ++p) {
    std::string out;
    ASSERT_TRUE((*e)->ReadEvents("clicks", p, 0, 100, &out).ok());
    const size_t at = out.find("\"user_id\":\"");
    if (at != std::string::npos) user_of_partition[p] = out.substr(at + 11, out.find('"', at + 11) - at - 11);
  }
  ASSERT_EQ(user_of_partition.count(0) + user_of_partition.count(2), 2u) << "7 users should cover partitions 0, 2";
  auto body = [](const std::string& user, const std::string& tag) {
    return R"({"user_id":")" + user + R"(","url":")" + tag + R"(","amount":1,"ts":"2024-03-01T10:00:00Z"})" + "\n";
  };
  fenv.SetPathFilter("/streams/clicks/2/");
  fenv.SetWriteBudget(0);
  std::promise<Outcome> a, b;
  ASSERT_TRUE((*e)->Ingest("clicks", body(user_of_partition[2], "/a"), 0,
                           [&](Status s, IngestResult r) {
                             a.set_value({std::move(s), std::move(r)});
                           })
                  .ok());
  ASSERT_TRUE((*e)->Ingest("clicks", body(user_of_partition[0], "/b"), 1,
                           [&](Status s, IngestResult r) {
                             b.set_value({std::move(s), std::move(r)});
                           })
                  .ok());
  const Outcome oa = a.get_future().get();
  const Outcome ob = b.get_future().get();
  EXPECT_EQ(oa.status.code(), StatusCode::kResourceExhausted) << oa.status.ToString();
  EXPECT_EQ(ob.status.code(), oa.status.code()) << ob.status.ToString();
  EXPECT_TRUE(ob.result.stored_lines.empty());
  fenv.SetWriteBudget(-1);
  ASSERT_TRUE(IngestSync(**e, body(user_of_partition[2], "/c") + body(user_of_partition[0], "/d")).status.ok());
  const std::map<std::string, int> counts = UrlCounts(**e);
  EXPECT_EQ(counts.count("/a"), 0u);
  EXPECT_EQ(counts.count("/b"), 0u);
  EXPECT_EQ(counts.count("/c"), 1u);
  EXPECT_EQ(counts.count("/d"), 1u);
  EXPECT_TRUE((*e)->Stop().ok());
}

// A failed fsync: the request is refused, and what it wrote must not come back at the next
// open (the file still holds it in the page cache or on disk).
TEST_F(DiskFaultTest, RequestRefusedForAFailedSyncIsNotStored) {
  FaultInjectionEnv fenv(Env::Default());
  EngineOptions o = Options(&fenv);
  o.checkpoint_interval_ms = 3'600'000;
  {
    auto e = Engine::Open(spec_, o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_TRUE(IngestSync(**e, Request(1, 20)).status.ok());
    fenv.SetSyncFails(true);
    Outcome refused = IngestSync(**e, Request(2, 20));
    EXPECT_FALSE(refused.status.ok());
    fenv.SetSyncFails(false);
    Outcome resent = IngestSync(**e, Request(2, 20));
    EXPECT_TRUE(resent.status.ok()) << resent.status.ToString();
    (void)(*e)->Stop();
  }
  auto e = Engine::Open(spec_, Options(Env::Default()));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const std::map<std::string, int> counts = UrlCounts(**e);
  EXPECT_EQ(counts.size(), 40u);
  for (const auto& [url, n] : counts) EXPECT_EQ(n, 1) << url << " stored " << n << " times";
  EXPECT_TRUE((*e)->Stop().ok());
}

// After a full disk refused ingest, nothing was lost: checkpoints complete again once space
// returns, and shutdown reports no lost output.
TEST_F(DiskFaultTest, CheckpointsResumeAfterTheDiskWasFullAndShutdownReportsNoLoss) {
  FaultInjectionEnv fenv(Env::Default());
  EngineOptions o = Options(&fenv);
  o.checkpoint_interval_ms = 3'600'000;  // only the explicit ones below
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE(IngestSync(**e, Request(1, 20)).status.ok());
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  ASSERT_TRUE((*e)->CheckpointNow().ok());
  fenv.SetWriteBudget(0);
  EXPECT_EQ(IngestSync(**e, Request(2, 20)).status.code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE((*e)->CheckpointNow().ok());  // a checkpoint cannot be written either
  fenv.SetWriteBudget(-1);
  ASSERT_TRUE(IngestSync(**e, Request(3, 20)).status.ok());
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  Result<uint64_t> id = (*e)->CheckpointNow();
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  ::testing::internal::CaptureStderr();
  const Status stopped = (*e)->Stop();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  EXPECT_EQ(err.find("lost"), std::string::npos) << err;
  EXPECT_EQ(err.find("final checkpoint failed"), std::string::npos) << err;
}

// Group commit: a request's events are written at once but acknowledged only by the covering
// fsync. Readers must not see them before: a failed fsync refuses the request, rolls its events
// back and gives their offsets to later events.
TEST_F(DiskFaultTest, ReadersSeeNoEventOfARequestWaitingForItsGroupCommit) {
  FaultInjectionEnv fenv(Env::Default());
  EngineOptions o = Options(&fenv);
  o.checkpoint_interval_ms = 3'600'000;
  o.durability = Durability::kGroupCommit;
  o.group_commit_ms = 2000;
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE(IngestSync(**e, Request(1, 20)).status.ok());  // its fsync starts the 2 s group
  fenv.SetSyncFails(true);
  std::promise<Outcome> pending;
  auto refused = pending.get_future();
  ASSERT_TRUE((*e)->Ingest("clicks", Request(2, 20), 0,
                           [&](Status s, IngestResult r) {
                             pending.set_value({std::move(s), std::move(r)});
                           })
                  .ok());
  // Within the group's window (well before its fsync) the events are written, not acknowledged.
  int reads = 0;
  for (const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
       std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
    ASSERT_EQ(refused.wait_for(std::chrono::seconds(0)), std::future_status::timeout) << "answered inside its group";
    ++reads;
    const std::map<std::string, int> counts = UrlCounts(**e);
    EXPECT_EQ(counts.size(), 20u) << "read " << reads << " sees events of the unanswered request";
    uint64_t listed = 0;
    uint64_t typed = 0;
    for (const StreamInfo& s : (*e)->ListStreams()) {
      if (s.name != "clicks") continue;
      for (const auto& p : s.partitions) {
        listed += p.end_offset;
        Result<RowsRead> rows = (*e)->ReadRows("clicks", p.partition, 0, 1000);
        ASSERT_TRUE(rows.ok()) << rows.status().ToString();
        typed += rows->rows.size();
      }
    }
    EXPECT_EQ(listed, 20u) << "ListStreams counts events of the unanswered request";
    EXPECT_EQ(typed, 20u) << "ReadRows returns events of the unanswered request";
    if (::testing::Test::HasFailure()) break;
  }
  const Outcome out = refused.get();
  EXPECT_FALSE(out.status.ok());
  fenv.SetSyncFails(false);
  ASSERT_TRUE(IngestSync(**e, Request(3, 20)).status.ok());
  const std::map<std::string, int> counts = UrlCounts(**e);
  EXPECT_EQ(counts.size(), 40u);
  for (const auto& [url, n] : counts) {
    EXPECT_EQ(n, 1) << url;
    EXPECT_NE(url.rfind("/r2/", 0), 0u) << url << " of the refused request is stored";
  }
  EXPECT_TRUE((*e)->Stop().ok());
}

// A full disk under pipeline output only: the output waits and is written again every 100 ms
// (docs/OPERATIONS.md), also while a checkpoint waits for it, and the shard sleeps in between.
TEST_F(DiskFaultTest, OutputWaitingForAFullDiskIsRetriedEvery100MsNotInALoop) {
  FaultInjectionEnv fenv(Env::Default());
  EngineOptions o = Options(&fenv);
  o.checkpoint_interval_ms = 3'600'000;  // only the explicit ones below
  o.checkpoint_timeout_ms = 1000;
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  fenv.SetPathFilter("/streams/per_user/");
  fenv.SetWriteBudget(0);
  // One user: one partition of per_user waits.
  std::string body;
  for (int i = 0; i < 10; ++i) {
    body += R"({"user_id":"u1","url":"/x)" + std::to_string(i) + R"(","amount":1,"ts":"2024-03-01T10:00:00Z"})" + "\n";
  }
  ASSERT_TRUE(IngestSync(**e, body).status.ok());
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fenv.injected_write_faults() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(fenv.injected_write_faults(), 0u) << "the pipeline output was never written";
  // Every partition of per_user waits (the task writes a watermark marker to each): one
  // attempt each per 100 ms, about 40 in 1 s.
  constexpr uint64_t kBound = uint64_t{4} * 15;
  uint64_t before = fenv.injected_write_faults();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_LT(fenv.injected_write_faults() - before, kBound) << "attempts in 1 s while idle";
  // A checkpoint waits for the output (1 s, then it gives up): the same pace.
  before = fenv.injected_write_faults();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE((*e)->CheckpointNow().ok());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t attempts = fenv.injected_write_faults() - before;
  EXPECT_LT(attempts, kBound) << "attempts in " << ms << " ms while a checkpoint waited";
  // Space is back: the output is written, and checkpoints complete.
  fenv.SetWriteBudget(-1);
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  Result<uint64_t> id = (*e)->CheckpointNow();
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_TRUE((*e)->Stop().ok());
}

// A slow disk: the fsync of newly ingested requests must not hold up a hop between pipelines
// whose input (a pipeline-written stream, synced by the checkpoint) needs no fsync. Request 2
// reaches the shard while request 1's output waits in the stream `hop` for the second
// pipeline; request 2's fsync takes a second, and request 1's result must be readable in `out`
// before request 2 is acknowledged.
TEST(SlowDiskTest, AHopBetweenPipelinesDoesNotWaitForTheFsyncOfNewRequests) {
  constexpr const char* kHopSpec = R"YAML(streams:
  - name: requests
    fields:
      - {name: id, type: int64}
      - {name: k, type: int64}
    key: id
    partitions: 1
pipelines:
  - name: first
    from: requests
    steps:
      - key_by: k
    sink: {stream: hop}
  - name: second
    from: hop
    steps:
      - key_by: id
    sink: {stream: out}
)YAML";
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("impulse-slow-disk-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "spec.yaml") << kHopSpec;
  FaultInjectionEnv fenv(Env::Default());
  fenv.SetPathFilter("/streams/requests/");
  EngineOptions o;
  o.data_dir = (dir / "data").string();
  o.shards = 1;
  o.max_producers = 1;
  o.env = &fenv;
  o.durability = Durability::kSync;  // checkpoints on (the default): `hop` is synced by them
  {
    auto opened = Engine::Open((dir / "spec.yaml").string(), o);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Engine& e = **opened;
    fenv.SetSyncDelayMs(1000);
    std::promise<void> first_acked, second_acked;
    auto second = second_acked.get_future();
    // Request 2 is sent from request 1's completion (on the shard thread, producer 0 is not
    // used elsewhere meanwhile), so it is queued before the shard's next cycle.
    ASSERT_TRUE(e.Ingest("requests", "{\"id\":1,\"k\":7}\n", 0, [&](const Status& s, const IngestResult&) {
                   EXPECT_TRUE(s.ok()) << s.ToString();
                   EXPECT_TRUE(e.Ingest("requests", "{\"id\":2,\"k\":7}\n", 0, [&](const Status&, const IngestResult&) {
                                  second_acked.set_value();
                                }).ok());
                   first_acked.set_value();
                 }).ok());
    first_acked.get_future().wait();
    bool seen = false;
    for (int i = 0; i < 5000 && !seen; ++i) {
      seen = !testing_util::ReadAllEvents(e, "out").empty() && !testing_util::ReadAllEvents(e, "out")[0].empty();
      if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const bool second_acked_first = second.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    EXPECT_TRUE(seen);
    EXPECT_FALSE(second_acked_first) << "request 1's result waited for request 2's fsync";
    second.wait();
    fenv.SetSyncDelayMs(0);
    ASSERT_TRUE(e.Stop().ok());
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace impulse
