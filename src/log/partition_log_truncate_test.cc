// PartitionLog::TruncateTo: what stays, where appends continue, what a reopen sees, and that a
// truncation interrupted at any file-system step recovers to the old or the new end.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/fault_env.h"
#include "log/log_format.h"
#include "log/log_test_util.h"
#include "log/partition_log.h"

namespace impulse::log {
namespace {

using impulse::ManualClock;
using testing::TempDir;

constexpr size_t kPayloadBytes = 100;
constexpr uint64_t kPerSegment = 10;

std::string Payload(uint64_t i, const std::string& tag = "a") {
  std::string s = tag + "-" + std::to_string(i) + "-";
  s.resize(kPayloadBytes, static_cast<char>('a' + i % 26));
  return s;
}

// Ten records per segment, an index entry about every other record.
LogOptions SmallSegments() {
  LogOptions o;
  o.segment_bytes_max = kSegmentHeaderBytes + kPerSegment * (kFrameHeaderBytes + kPayloadBytes);
  o.index_interval_bytes = 200;
  return o;
}

class TruncateTest : public ::testing::Test {
 protected:
  std::unique_ptr<PartitionLog> Open(Env* env = Env::Default()) {
    auto r = PartitionLog::Open(env, &clock_, dir_, SmallSegments());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  // A log of `n` records "a-<i>" (offsets 0..n-1), synced.
  std::unique_ptr<PartitionLog> OpenWith(uint64_t n, Env* env = Env::Default()) {
    auto log = Open(env);
    if (log == nullptr) return nullptr;
    for (uint64_t i = 0; i < n; ++i) EXPECT_EQ(*log->Append(Payload(i), static_cast<int64_t>(i)), i);
    EXPECT_TRUE(log->Sync().ok());
    return log;
  }
  // Every record from `from` to the end, checking dense offsets.
  static std::vector<std::string> ReadFrom(const PartitionLog& log, uint64_t from) {
    std::vector<std::string> got;
    std::vector<Record> recs;
    std::string storage;
    while (from < log.end_offset()) {
      const Status s = log.Read(from, 3, 1 << 20, &recs, &storage);
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (!s.ok() || recs.empty()) break;
      for (const Record& r : recs) {
        EXPECT_EQ(r.offset, from);
        got.emplace_back(r.payload);
        ++from;
      }
    }
    return got;
  }
  static std::vector<std::string> Expected(uint64_t from, uint64_t to, const std::string& tag = "a") {
    std::vector<std::string> v;
    for (uint64_t i = from; i < to; ++i) v.push_back(Payload(i, tag));
    return v;
  }

  TempDir tmp_;
  std::string dir_ = tmp_.path() + "/s/p0";
  ManualClock clock_{1'000'000};
};

TEST_F(TruncateTest, MiddleOfActiveSegmentKeepsPrefixAndAppendsContinue) {
  auto log = OpenWith(25);
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(log->segment_count(), 3u);
  ASSERT_TRUE(log->TruncateTo(22).ok());
  EXPECT_EQ(log->end_offset(), 22u);
  EXPECT_EQ(log->durable_offset(), 22u);
  EXPECT_EQ(log->segment_count(), 3u);
  EXPECT_EQ(ReadFrom(*log, 0), Expected(0, 22));
  EXPECT_EQ(ReadFrom(*log, 21), Expected(21, 22));
  EXPECT_EQ(*log->Append(Payload(22, "b"), 0), 22u);
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/TRUNCATE"));
  log.reset();

  log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->end_offset(), 23u);
  EXPECT_EQ(log->recovered_truncated_bytes(), 0u);
  std::vector<std::string> want = Expected(0, 22);
  want.push_back(Payload(22, "b"));
  EXPECT_EQ(ReadFrom(*log, 0), want);
}

TEST_F(TruncateTest, AtSegmentBoundaryLeavesAnEmptyActiveSegment) {
  auto log = OpenWith(25);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->TruncateTo(20).ok());
  EXPECT_EQ(log->end_offset(), 20u);
  EXPECT_EQ(log->segment_count(), 3u);
  EXPECT_EQ(ReadFrom(*log, 0), Expected(0, 20));
  EXPECT_EQ(ReadFrom(*log, 20), std::vector<std::string>{});
  EXPECT_EQ(*log->Append(Payload(20, "b"), 0), 20u);
  ASSERT_TRUE(log->Sync().ok());
  log.reset();
  log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->end_offset(), 21u);
  EXPECT_EQ(ReadFrom(*log, 19), (std::vector<std::string>{Payload(19), Payload(20, "b")}));
}

TEST_F(TruncateTest, IntoSealedSegmentDeletesLaterSegments) {
  auto log = OpenWith(35);
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(log->segment_count(), 4u);
  ASSERT_TRUE(log->TruncateTo(13).ok());
  EXPECT_EQ(log->end_offset(), 13u);
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/" + SegmentFileName(20)));
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/" + SegmentFileName(30)));
  EXPECT_EQ(ReadFrom(*log, 0), Expected(0, 13));
  // Appends fill the reopened segment up to its size and roll on as usual.
  for (uint64_t i = 13; i < 30; ++i) EXPECT_EQ(*log->Append(Payload(i, "b"), 0), i);
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->segment_count(), 3u);
  log.reset();
  log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->end_offset(), 30u);
  std::vector<std::string> want = Expected(0, 13);
  for (const std::string& s : Expected(13, 30, "b")) want.push_back(s);
  EXPECT_EQ(ReadFrom(*log, 0), want);
}

TEST_F(TruncateTest, ToEndIsANoOp) {
  auto log = OpenWith(15);
  ASSERT_NE(log, nullptr);
  const uint64_t syncs = log->syncs();
  ASSERT_TRUE(log->TruncateTo(15).ok());
  EXPECT_EQ(log->end_offset(), 15u);
  EXPECT_EQ(log->syncs(), syncs);
  EXPECT_EQ(ReadFrom(*log, 0), Expected(0, 15));
}

TEST_F(TruncateTest, BufferedRecordsAtOrPastTheTargetAreRemovedToo) {
  auto log = OpenWith(5);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(*log->Append(Payload(5), 0), 5u);  // buffered, not yet visible
  EXPECT_EQ(log->end_offset(), 5u);
  ASSERT_TRUE(log->TruncateTo(5).ok());
  EXPECT_EQ(log->end_offset(), 5u);
  EXPECT_EQ(*log->Append(Payload(5, "b"), 0), 5u);
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(ReadFrom(*log, 5), Expected(5, 6, "b"));
}

TEST_F(TruncateTest, ToStartEmptiesTheLog) {
  auto log = OpenWith(25);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->TruncateTo(0).ok());
  EXPECT_EQ(log->start_offset(), 0u);
  EXPECT_EQ(log->end_offset(), 0u);
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(ReadFrom(*log, 0), std::vector<std::string>{});
  EXPECT_EQ(*log->Append(Payload(0, "b"), 0), 0u);
  ASSERT_TRUE(log->Sync().ok());
  log.reset();
  log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->end_offset(), 1u);
  EXPECT_EQ(ReadFrom(*log, 0), Expected(0, 1, "b"));
}

TEST_F(TruncateTest, ToStartAfterRetentionKeepsTheStartOffset) {
  LogOptions o = SmallSegments();
  o.retention_bytes = 0;  // delete every sealed segment
  auto r = PartitionLog::Open(Env::Default(), &clock_, dir_, o);
  ASSERT_TRUE(r.ok());
  auto log = std::move(r).value();
  for (uint64_t i = 0; i < 25; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Sync().ok());
  ASSERT_TRUE(log->EnforceRetention().ok());
  ASSERT_EQ(log->start_offset(), 20u);
  EXPECT_EQ(log->TruncateTo(19).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(log->TruncateTo(20).ok());
  EXPECT_EQ(log->start_offset(), 20u);
  EXPECT_EQ(log->end_offset(), 20u);
  EXPECT_EQ(*log->Append(Payload(20, "b"), 0), 20u);
}

TEST_F(TruncateTest, OutOfRangeTargetsAreInvalidAndChangeNothing) {
  auto log = OpenWith(12);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->TruncateTo(13).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->TruncateTo(UINT64_MAX).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->end_offset(), 12u);
  EXPECT_EQ(*log->Append(Payload(12), 0), 12u);  // still writable
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(ReadFrom(*log, 0), Expected(0, 13));
}

TEST_F(TruncateTest, WorksWithTheBackgroundSyncer) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  for (uint64_t i = 0; i < 25; ++i) {
    ASSERT_TRUE(log->Append(Payload(i), 0).ok());
    ASSERT_TRUE(log->SyncAsync().ok());
  }
  ASSERT_TRUE(log->TruncateTo(13).ok());
  EXPECT_EQ(log->durable_offset(), 13u);
  ASSERT_TRUE(log->Append(Payload(13, "b"), 0).ok());
  ASSERT_TRUE(log->SyncAsync().ok());
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->durable_offset(), 14u);
  std::vector<std::string> want = Expected(0, 13);
  want.push_back(Payload(13, "b"));
  EXPECT_EQ(ReadFrom(*log, 0), want);
}

TEST_F(TruncateTest, OpenFinishesALeftoverIntent) {
  {
    auto log = OpenWith(25);
    ASSERT_NE(log, nullptr);
  }
  ASSERT_TRUE(Env::Default()->WriteFileAtomic(dir_ + "/TRUNCATE", "7\n").ok());
  auto log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->end_offset(), 7u);
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(ReadFrom(*log, 0), Expected(0, 7));
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/TRUNCATE"));
}

TEST_F(TruncateTest, GarbageIntentIsDataLoss) {
  {
    auto log = OpenWith(3);
    ASSERT_NE(log, nullptr);
  }
  ASSERT_TRUE(Env::Default()->WriteFileAtomic(dir_ + "/TRUNCATE", "x7\n").ok());
  auto r = PartitionLog::Open(Env::Default(), &clock_, dir_, SmallSegments());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

TEST_F(TruncateTest, FailedSyncIsStickyAndReopenGivesTheOldEnd) {
  FaultInjectionEnv fenv(Env::Default());
  auto log = OpenWith(25, &fenv);
  ASSERT_NE(log, nullptr);
  fenv.SetSyncFails(true);
  EXPECT_EQ(log->TruncateTo(13).code(), StatusCode::kIOError);
  EXPECT_EQ(log->Append("x", 0).status().code(), StatusCode::kFailedPrecondition);
  log.reset();
  log = Open();
  ASSERT_NE(log, nullptr);
  // The intent's own fsync failed, so it was never made: nothing was cut.
  EXPECT_EQ(log->end_offset(), 25u);
  EXPECT_EQ(ReadFrom(*log, 0), Expected(0, 25));
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/TRUNCATE"));
}

// Stops the truncation after each possible number of file-system operations (a crash at
// that point) and reopens: the log must be at the old end or the new one, with exactly the
// records that belong there, and appendable.
TEST_F(TruncateTest, CrashAtEveryStepRecoversToOldOrNewEnd) {
  bool saw_old = false;
  bool saw_new = false;
  for (int64_t ops = 0; ops < 100; ++ops) {
    SCOPED_TRACE("op budget " + std::to_string(ops));
    dir_ = tmp_.path() + "/crash" + std::to_string(ops);
    FaultInjectionEnv fenv(Env::Default());
    auto log = OpenWith(35, &fenv);
    ASSERT_NE(log, nullptr);
    fenv.SetOpBudget(ops);
    const Status s = log->TruncateTo(13);
    log.reset();
    log = Open();
    ASSERT_NE(log, nullptr);
    const uint64_t end = log->end_offset();
    EXPECT_TRUE(end == 35 || end == 13) << end;
    EXPECT_EQ(ReadFrom(*log, 0), Expected(0, end));
    EXPECT_EQ(*log->Append(Payload(end, "b"), 0), end);
    ASSERT_TRUE(log->Sync().ok());
    if (s.ok()) {
      EXPECT_EQ(end, 13u);
      break;
    }
    (end == 35 ? saw_old : saw_new) = true;
  }
  EXPECT_TRUE(saw_old);
  EXPECT_TRUE(saw_new);
}

// --- Rollback: records a writer refused must never be written later ---

// A full disk: the failed Flush keeps its buffer (so a later Flush would write it); Rollback
// drops it, the log takes writes again and a reopen sees only what came before.
TEST_F(TruncateTest, RollbackAfterAFullDiskDropsTheBufferedRecords) {
  FaultInjectionEnv env(Env::Default());
  auto log = OpenWith(5, &env);
  ASSERT_NE(log, nullptr);
  env.SetWriteBudget(0);
  for (uint64_t i = 5; i < 8; ++i) ASSERT_TRUE(log->Append(Payload(i, "refused"), 0).ok());
  EXPECT_EQ(log->Sync().code(), StatusCode::kResourceExhausted);
  env.SetWriteBudget(-1);
  ASSERT_TRUE(log->Rollback(5).ok());
  EXPECT_EQ(log->next_offset(), 5u);
  ASSERT_TRUE(log->Sync().ok());  // without the roll back this would write the refused records
  EXPECT_EQ(log->end_offset(), 5u);
  EXPECT_EQ(*log->Append(Payload(5, "b"), 0), 5u);
  ASSERT_TRUE(log->Close().ok());
  log.reset();
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  const std::vector<std::string> got = ReadFrom(*reopened, 0);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[4], Payload(4));
  EXPECT_EQ(got[5], Payload(5, "b"));
}

// Written records of the refused batch, across a segment roll, are cut from the files; a
// failed write on the way leaves nothing behind either.
TEST_F(TruncateTest, RollbackCutsWrittenRecordsAcrossARoll) {
  auto log = OpenWith(5);
  ASSERT_NE(log, nullptr);
  for (uint64_t i = 5; i < 25; ++i) ASSERT_TRUE(log->Append(Payload(i, "refused"), 0).ok());
  ASSERT_TRUE(log->Sync().ok());
  ASSERT_GT(log->segment_count(), 1u);
  ASSERT_TRUE(log->Rollback(5).ok());
  EXPECT_EQ(log->end_offset(), 5u);
  EXPECT_EQ(log->durable_offset(), 5u);
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(ReadFrom(*log, 0).size(), 5u);
  log.reset();
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->end_offset(), 5u);
}

// After a failed fsync the log is sticky; Rollback to the last durable offset makes it
// writable again, and refuses to keep records the failed fsync covered.
TEST_F(TruncateTest, RollbackAfterAFailedSyncClearsTheStickyErrorOnlyUpToTheDurableEnd) {
  FaultInjectionEnv env(Env::Default());
  auto log = OpenWith(5, &env);
  ASSERT_NE(log, nullptr);
  for (uint64_t i = 5; i < 8; ++i) ASSERT_TRUE(log->Append(Payload(i, "refused"), 0).ok());
  env.SetSyncFails(true);
  EXPECT_FALSE(log->Sync().ok());
  EXPECT_FALSE(log->writable());
  EXPECT_EQ(log->Append("x", 0).status().code(), StatusCode::kFailedPrecondition);
  env.SetSyncFails(false);
  EXPECT_EQ(log->Rollback(6).code(), StatusCode::kFailedPrecondition);  // offset 5 was covered
  ASSERT_TRUE(log->Rollback(5).ok());
  EXPECT_TRUE(log->writable());
  EXPECT_EQ(*log->Append(Payload(5, "b"), 0), 5u);
  ASSERT_TRUE(log->Sync().ok());
  log.reset();
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  const std::vector<std::string> got = ReadFrom(*reopened, 0);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[5], Payload(5, "b"));
}

// A roll back whose own fsync fails: the log stays sticky, but readers no longer see the
// dropped records, and a retry finishes the job.
TEST_F(TruncateTest, FailedRollbackHidesTheDroppedRecordsAndCanBeRetried) {
  FaultInjectionEnv env(Env::Default());
  auto log = OpenWith(5, &env);
  ASSERT_NE(log, nullptr);
  for (uint64_t i = 5; i < 8; ++i) ASSERT_TRUE(log->Append(Payload(i, "refused"), 0).ok());
  ASSERT_TRUE(log->Sync().ok());
  env.SetSyncFails(true);
  EXPECT_FALSE(log->Rollback(5).ok());
  EXPECT_FALSE(log->writable());
  EXPECT_EQ(log->end_offset(), 5u);
  EXPECT_EQ(log->durable_offset(), 5u);
  EXPECT_EQ(ReadFrom(*log, 0), Expected(0, 5));
  env.SetSyncFails(false);
  ASSERT_TRUE(log->Rollback(5).ok());
  EXPECT_EQ(*log->Append(Payload(5, "b"), 0), 5u);
  ASSERT_TRUE(log->Sync().ok());
  log.reset();
  auto reopened = Open();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(ReadFrom(*reopened, 0).size(), 6u);
}

TEST_F(TruncateTest, RollbackOutOfRangeIsInvalid) {
  auto log = OpenWith(3);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->Rollback(4).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(log->Rollback(3).ok());
  EXPECT_EQ(log->end_offset(), 3u);
}

}  // namespace
}  // namespace impulse::log
