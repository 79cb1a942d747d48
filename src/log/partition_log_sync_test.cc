// Background group commit (SyncAsync) and its interaction with rolls and failures.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/fault_env.h"
#include "log/log_test_util.h"
#include "log/partition_log.h"

namespace impulse::log {
namespace {

using impulse::ManualClock;
using testing::TempDir;

// Waits (bounded) for a condition another thread makes true; not a timing assertion.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 20'000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

class SyncAsyncTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  std::string dir_ = tmp_.path() + "/p";
  ManualClock clock_{0};
  FaultInjectionEnv env_{Env::Default()};
};

TEST_F(SyncAsyncTest, DurableOffsetCatchesUpAndCallbackSeesIt) {
  auto log = PartitionLog::Open(&env_, &clock_, dir_, {});
  ASSERT_TRUE(log.ok());
  std::mutex mu;
  std::vector<uint64_t> seen;
  (*log)->SetDurableCallback([&](uint64_t d) {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back(d);
  });
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE((*log)->Append("event", 0).ok());
    if (i % 100 == 99) {
      ASSERT_TRUE((*log)->SyncAsync().ok());
      EXPECT_EQ((*log)->end_offset(), static_cast<uint64_t>(i + 1));  // flushed at once
    }
  }
  ASSERT_TRUE(Eventually([&] { return (*log)->durable_offset() == 1000; }));
  std::lock_guard<std::mutex> l(mu);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), 1000u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i - 1], seen[i]);
}

TEST_F(SyncAsyncTest, BackgroundFailureIsReportedByTheNextWriterCall) {
  auto log = PartitionLog::Open(&env_, &clock_, dir_, {});
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append("a", 0).ok());
  ASSERT_TRUE((*log)->Sync().ok());
  env_.SetSyncFails(true);
  ASSERT_TRUE((*log)->Append("b", 0).ok());
  ASSERT_TRUE((*log)->SyncAsync().ok());  // does not wait for the disk
  ASSERT_TRUE(Eventually([&] {
    (void)(*log)->Append("c", 0);
    return (*log)->Flush().code() == StatusCode::kFailedPrecondition;
  }));
  EXPECT_EQ((*log)->durable_offset(), 1u);
  EXPECT_EQ((*log)->Append("d", 0).status().code(), StatusCode::kFailedPrecondition);
}

// Rolls (which close the old file) while background syncs run: for TSan and ASan.
TEST_F(SyncAsyncTest, RollsWhileBackgroundSyncsRun) {
  LogOptions o;
  o.segment_bytes_max = 2048;
  auto log = PartitionLog::Open(Env::Default(), &clock_, dir_, o);
  ASSERT_TRUE(log.ok());
  const std::string payload(100, 'p');
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE((*log)->Append(payload, i).ok());
    if (i % 5 == 0) {
      ASSERT_TRUE((*log)->SyncAsync().ok());
    }
  }
  ASSERT_TRUE((*log)->Sync().ok());
  EXPECT_EQ((*log)->durable_offset(), 2000u);
  EXPECT_GT((*log)->segment_count(), 100u);
  ASSERT_TRUE((*log)->Close().ok());
  auto reopened = PartitionLog::Open(Env::Default(), &clock_, dir_, o);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->end_offset(), 2000u);
}

}  // namespace
}  // namespace impulse::log
