#include "log/partition_log.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/fault_env.h"
#include "log/log_format.h"
#include "log/log_test_util.h"

namespace impulse::log {
namespace {

using impulse::ManualClock;
using testing::TempDir;

std::string Payload(uint64_t i, size_t size = 100) {
  std::string s = "event-" + std::to_string(i) + "-";
  while (s.size() < size) s += static_cast<char>('a' + (s.size() + i) % 26);
  s.resize(size);
  return s;
}

std::unique_ptr<PartitionLog> OpenOrDie(Env* env, Clock* clock, const std::string& dir, LogOptions o) {
  auto r = PartitionLog::Open(env, clock, dir, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

// Reads everything in [from, end) through repeated Reads; checks offsets are dense.
std::vector<std::string> ReadAllFrom(const PartitionLog& log, uint64_t from, uint32_t max_records = 1000) {
  std::vector<std::string> got;
  std::vector<Record> recs;
  std::string storage;
  while (from < log.end_offset()) {
    const Status s = log.Read(from, max_records, 1 << 20, &recs, &storage);
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

class PartitionLogTest : public ::testing::Test {
 protected:
  static LogOptions DenseIndex() {
    LogOptions o;
    o.index_interval_bytes = 64;  // an entry for nearly every record
    return o;
  }
  // A log whose record 0 is published: written, and the tail copy started after it.
  std::unique_ptr<PartitionLog> OpenPublished(Env* env, const LogOptions& o) {
    auto log = OpenOrDie(env, &clock_, dir_, o);
    if (log == nullptr || !log->Append(Payload(0), 0).ok() || !log->Publish().ok()) return nullptr;
    return log;
  }

  TempDir tmp_;
  std::string dir_ = tmp_.path() + "/stream/p0";
  ManualClock clock_{1'000'000};
};

TEST_F(PartitionLogTest, AppendFlushReadRoundTrip) {
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, {});
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->start_offset(), 0u);
  EXPECT_EQ(log->end_offset(), 0u);
  EXPECT_EQ(*log->Append("first", 10), 0u);
  EXPECT_EQ(*log->Append("", 11), 1u);  // empty payloads are records too
  EXPECT_EQ(*log->Append("third", 12), 2u);
  EXPECT_EQ(log->end_offset(), 0u);  // buffered: not visible yet
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(log->end_offset(), 3u);
  EXPECT_EQ(log->durable_offset(), 0u);
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->durable_offset(), 3u);

  std::vector<Record> recs;
  std::string storage;
  ASSERT_TRUE(log->Read(0, 10, 1 << 20, &recs, &storage).ok());
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].payload, "first");
  EXPECT_EQ(recs[0].timestamp_ms, 10);
  EXPECT_EQ(recs[1].payload, "");
  EXPECT_EQ(recs[2].offset, 2u);
  EXPECT_EQ(recs[2].payload, "third");
  EXPECT_EQ(log->appends(), 3u);
  EXPECT_EQ(log->bytes_written(), 3 * 16u + 10u);
  EXPECT_EQ(log->syncs(), 2u);  // one at open (new segment), one now
}

TEST_F(PartitionLogTest, ReadPastEndIsEmptyAndOk) {
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, {});
  ASSERT_TRUE(log->Append("x", 1).ok());
  ASSERT_TRUE(log->Flush().ok());
  std::vector<Record> recs{Record{9, 9, "stale"}};
  std::string storage = "stale";
  EXPECT_TRUE(log->Read(1, 10, 100, &recs, &storage).ok());
  EXPECT_TRUE(recs.empty());
  EXPECT_TRUE(log->Read(1'000'000, 10, 100, &recs, &storage).ok());
  EXPECT_TRUE(recs.empty());
}

TEST_F(PartitionLogTest, ReadLimitsRecordsAndBytesButReturnsAtLeastOne) {
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, {});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Append(Payload(i), i).ok());
  ASSERT_TRUE(log->Flush().ok());
  std::vector<Record> recs;
  std::string storage;
  ASSERT_TRUE(log->Read(2, 3, 1 << 20, &recs, &storage).ok());
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].offset, 2u);
  ASSERT_TRUE(log->Read(2, 100, 250, &recs, &storage).ok());
  EXPECT_EQ(recs.size(), 2u);  // 2 x 100 bytes fit in 250, 3 do not
  ASSERT_TRUE(log->Read(5, 100, 1, &recs, &storage).ok());
  ASSERT_EQ(recs.size(), 1u);  // larger than max_bytes, still returned
  EXPECT_EQ(recs[0].payload, Payload(5));
}

TEST_F(PartitionLogTest, OffsetsStayDenseAcrossSegmentRolls) {
  LogOptions o;
  o.segment_bytes_max = 1000;  // 32 header + 8 frames of 116 bytes
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  for (uint64_t i = 0; i < 100; ++i) {
    auto off = log->Append(Payload(i), static_cast<int64_t>(i));
    ASSERT_TRUE(off.ok());
    EXPECT_EQ(*off, i);
  }
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->segment_count(), 13u);  // ceil(100 / 8)
  EXPECT_TRUE(Env::Default()->FileExists(dir_ + "/" + SegmentFileName(8)));
  EXPECT_TRUE(Env::Default()->FileExists(dir_ + "/" + SegmentFileName(96)));
  const std::vector<std::string> got = ReadAllFrom(*log, 0);
  ASSERT_EQ(got.size(), 100u);
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(got[i], Payload(i));
  // Reads that start at a segment boundary and just before one.
  EXPECT_EQ(ReadAllFrom(*log, 8).front(), Payload(8));
  EXPECT_EQ(ReadAllFrom(*log, 7).front(), Payload(7));

  // Reopen: same offsets, appends continue after the last.
  log.reset();
  log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  EXPECT_EQ(log->end_offset(), 100u);
  EXPECT_EQ(log->durable_offset(), 100u);
  EXPECT_EQ(*log->Append("after", 1), 100u);
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(ReadAllFrom(*log, 99), (std::vector<std::string>{Payload(99), "after"}));
}

TEST_F(PartitionLogTest, ReadFromTheMiddleUsesTheSparseIndex) {
  LogOptions o;
  o.index_interval_bytes = 256;
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  for (uint64_t i = 0; i < 5000; ++i) ASSERT_TRUE(log->Append(Payload(i, 50 + i % 100), 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  std::vector<Record> recs;
  std::string storage;
  for (uint64_t from : {0ull, 1ull, 2499ull, 2500ull, 4321ull, 4999ull}) {
    ASSERT_TRUE(log->Read(from, 2, 1 << 20, &recs, &storage).ok());
    ASSERT_FALSE(recs.empty()) << from;
    EXPECT_EQ(recs[0].offset, from);
    EXPECT_EQ(recs[0].payload, Payload(from, 50 + from % 100));
  }
  // The same after reopening, where the index is rebuilt from the file.
  log.reset();
  log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  ASSERT_TRUE(log->Read(3333, 1, 1 << 20, &recs, &storage).ok());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].payload, Payload(3333, 50 + 3333 % 100));
}

TEST_F(PartitionLogTest, RecordOverMaxIsInvalidArgumentAndLogContinues) {
  LogOptions o;
  o.max_record_bytes = 1000;
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  EXPECT_EQ(log->Append(std::string(1001, 'x'), 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*log->Append(std::string(1000, 'x'), 0), 0u);
  EXPECT_EQ(*log->Append("y", 0), 1u);
}

TEST_F(PartitionLogTest, RecordsLargerThanTheWriteBufferOrSegment) {
  LogOptions o;
  o.write_buffer_bytes_max = 256;
  o.segment_bytes_max = 4096;
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  const std::string big(10'000, 'b');
  ASSERT_TRUE(log->Append("small", 0).ok());
  ASSERT_TRUE(log->Append(big, 0).ok());  // own segment, bigger than segment_bytes_max
  ASSERT_TRUE(log->Append("small2", 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(ReadAllFrom(*log, 0), (std::vector<std::string>{"small", big, "small2"}));
  EXPECT_EQ(log->segment_count(), 3u);
}

TEST_F(PartitionLogTest, RetentionBySizeDeletesOldestSealedSegments) {
  LogOptions o;
  o.segment_bytes_max = 1000;  // 8 records of 100 bytes per segment, 960 bytes each
  o.retention_bytes = 2500;
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  for (uint64_t i = 0; i < 40; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Sync().ok());
  ASSERT_EQ(log->segment_count(), 5u);  // 4 sealed x 960 + active
  ASSERT_TRUE(log->EnforceRetention(clock_.NowMs()).ok());
  // total 4800: dropping 2 leaves 2880 >= 2500; dropping a third would leave 1920.
  EXPECT_EQ(log->segment_count(), 3u);
  EXPECT_EQ(log->start_offset(), 16u);
  EXPECT_EQ(log->segments_deleted(), 2u);
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/" + SegmentFileName(0)));
  std::vector<Record> recs;
  std::string storage;
  EXPECT_EQ(log->Read(15, 1, 100, &recs, &storage).code(), StatusCode::kOutOfRange);
  ASSERT_TRUE(log->Read(16, 1, 100, &recs, &storage).ok());
  EXPECT_EQ(recs.at(0).payload, Payload(16));

  log.reset();  // the start survives a reopen
  log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  EXPECT_EQ(log->start_offset(), 16u);
  EXPECT_EQ(log->end_offset(), 40u);
}

TEST_F(PartitionLogTest, DeleteRecordsBeforeDeletesWholeSegmentsBelowTheOffset) {
  LogOptions o;
  o.segment_bytes_max = 1000;  // 8 records of 100 bytes per segment
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  for (uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Sync().ok());
  ASSERT_EQ(log->segment_count(), 3u);  // [0,8) [8,16) active [16,20)
  // 15 is inside the second segment: only the first goes.
  auto start = log->DeleteRecordsBefore(15);
  ASSERT_TRUE(start.ok()) << start.status().ToString();
  EXPECT_EQ(*start, 8u);
  EXPECT_EQ(log->start_offset(), 8u);
  EXPECT_EQ(log->segments_deleted(), 1u);
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/" + SegmentFileName(0)));
  // Below the start, or below the first segment's end: nothing more.
  EXPECT_EQ(log->DeleteRecordsBefore(3).value(), 8u);
  EXPECT_EQ(log->DeleteRecordsBefore(16).value(), 16u);
  EXPECT_EQ(ReadAllFrom(*log, 16).size(), 4u);
}

TEST_F(PartitionLogTest, DeleteRecordsBeforeTheEndEmptiesTheLogAndKeepsOffsets) {
  LogOptions o;
  o.segment_bytes_max = 1000;
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  for (uint64_t i = 0; i < 12; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->Append(Payload(12), 0).ok());  // buffered, not yet flushed: deleted too
  auto start = log->DeleteRecordsBefore(UINT64_MAX);
  ASSERT_TRUE(start.ok()) << start.status().ToString();
  EXPECT_EQ(*start, 13u);
  EXPECT_EQ(log->end_offset(), 13u);
  EXPECT_EQ(log->segment_count(), 1u);
  std::vector<Record> recs;
  std::string storage;
  EXPECT_EQ(log->Read(12, 1, 100, &recs, &storage).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(log->Append(Payload(13), 0).value(), 13u);  // offsets are not reused
  ASSERT_TRUE(log->Sync().ok());

  log.reset();  // the deletion survives a reopen
  log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  EXPECT_EQ(log->start_offset(), 13u);
  EXPECT_EQ(ReadAllFrom(*log, 13), (std::vector<std::string>{Payload(13)}));
  // An empty log stays as it is (no new segment per call).
  auto again = OpenOrDie(Env::Default(), &clock_, tmp_.path() + "/stream/p1", o);
  EXPECT_EQ(again->DeleteRecordsBefore(UINT64_MAX).value(), 0u);
  EXPECT_EQ(again->segment_count(), 1u);
}

// A crash part way through emptying a log: the active segment was sealed and a new empty one
// created, one old segment unlinked, the others not. The log opens (a prefix is missing, as after
// retention) and a second call finishes.
TEST_F(PartitionLogTest, DeleteRecordsBeforeInterruptedLeavesAValidLogAndCanBeFinished) {
  LogOptions o;
  o.segment_bytes_max = 1000;
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  for (uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Sync().ok());
  ASSERT_EQ(log->segment_count(), 3u);  // [0,8) [8,16) active [16,20)
  log.reset();
  // What the crash left: the sealed copy of the active segment plus a new empty one at 20, and
  // the first segment already unlinked.
  {
    auto sealed = OpenOrDie(Env::Default(), &clock_, dir_, o);
    ASSERT_TRUE(sealed->DeleteRecordsBefore(8).ok());  // unlinks [0,8) only
  }
  ASSERT_TRUE(Env::Default()
                  ->WriteFileAtomic(dir_ + "/" + SegmentFileName(20),
                                    [] {
                                      std::string header(kSegmentHeaderBytes, '\0');
                                      EncodeSegmentHeader(20, header.data());
                                      return header;
                                    }())
                  .ok());
  log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->start_offset(), 8u);
  EXPECT_EQ(log->end_offset(), 20u);
  EXPECT_EQ(ReadAllFrom(*log, 8).size(), 12u);
  EXPECT_EQ(log->DeleteRecordsBefore(UINT64_MAX).value(), 20u);
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(log->Append(Payload(20), 0).value(), 20u);
}

TEST_F(PartitionLogTest, RetentionByAgeNeverDeletesTheActiveSegment) {
  LogOptions o;
  o.segment_bytes_max = 1000;
  o.retention_ms = 60'000;
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  // Segment [0,8) has timestamps up to 7'000, [8,16) up to 15'000, active [16,20).
  for (int64_t i = 0; i < 20; ++i) ASSERT_TRUE(log->Append(Payload(i), i * 1000).ok());
  ASSERT_TRUE(log->Sync().ok());
  ASSERT_EQ(log->segment_count(), 3u);
  ASSERT_TRUE(log->EnforceRetention(67'000).ok());  // 67'000 - 7'000 is not > 60'000
  EXPECT_EQ(log->segment_count(), 3u);
  clock_.Set(67'001);
  ASSERT_TRUE(log->EnforceRetention().ok());  // the injected clock
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_EQ(log->start_offset(), 8u);
  ASSERT_TRUE(log->EnforceRetention(1'000'000'000).ok());
  EXPECT_EQ(log->segment_count(), 1u);  // the active one stays, however old
  EXPECT_EQ(log->start_offset(), 16u);
  EXPECT_EQ(ReadAllFrom(*log, 16).size(), 4u);
}

TEST_F(PartitionLogTest, FullDiskFailsFlushAndTheLogRecoversWhenSpaceReturns) {
  FaultInjectionEnv env(Env::Default());
  auto log = OpenOrDie(&env, &clock_, dir_, {});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Sync().ok());
  const std::string seg_path = dir_ + "/" + SegmentFileName(0);
  const size_t good_size = testing::ReadAll(seg_path).size();

  env.SetWriteBudget(50);                        // less than one 116-byte frame
  EXPECT_EQ(*log->Append(Payload(10), 0), 10u);  // buffered: succeeds
  EXPECT_EQ(*log->Append(Payload(11), 0), 11u);
  EXPECT_EQ(log->Sync().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(log->end_offset(), 10u);  // nothing partial is visible
  EXPECT_EQ(log->durable_offset(), 10u);
  EXPECT_EQ(testing::ReadAll(seg_path).size(), good_size);
  std::vector<Record> recs;
  std::string storage;
  ASSERT_TRUE(log->Read(10, 10, 1 << 20, &recs, &storage).ok());
  EXPECT_TRUE(recs.empty());

  env.SetWriteBudget(-1);  // space is back: the buffered records go out, offsets kept
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->durable_offset(), 12u);
  EXPECT_EQ(*log->Append("later", 0), 12u);
  ASSERT_TRUE(log->Flush().ok());
  const std::vector<std::string> got = ReadAllFrom(*log, 9);
  EXPECT_EQ(got, (std::vector<std::string>{Payload(9), Payload(10), Payload(11), "later"}));

  log.reset();  // and the file is consistent on disk
  log = OpenOrDie(Env::Default(), &clock_, dir_, {});
  EXPECT_EQ(log->end_offset(), 13u);
  EXPECT_EQ(log->recovered_truncated_bytes(), 0u);
}

TEST_F(PartitionLogTest, FullDiskDuringAppendWithFullBufferRejectsTheRecord) {
  FaultInjectionEnv env(Env::Default());
  LogOptions o;
  o.write_buffer_bytes_max = 300;  // two 116-byte frames
  auto log = OpenOrDie(&env, &clock_, dir_, o);
  env.SetWriteBudget(0);
  ASSERT_TRUE(log->Append(Payload(0), 0).ok());
  ASSERT_TRUE(log->Append(Payload(1), 0).ok());
  EXPECT_EQ(log->Append(Payload(2), 0).status().code(), StatusCode::kResourceExhausted);
  env.SetWriteBudget(-1);
  EXPECT_EQ(*log->Append(Payload(2), 0), 2u);  // the rejected record got no offset
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(ReadAllFrom(*log, 0).size(), 3u);
}

TEST_F(PartitionLogTest, FullDiskWhileRollingKeepsTheOldSegmentActive) {
  FaultInjectionEnv env(Env::Default());
  LogOptions o;
  o.segment_bytes_max = 1000;
  auto log = OpenOrDie(&env, &clock_, dir_, o);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  env.SetWriteBudget(10);  // the new segment's 32-byte header does not fit
  EXPECT_EQ(log->Append(Payload(8), 0).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(log->segment_count(), 1u);
  env.SetWriteBudget(-1);
  EXPECT_EQ(*log->Append(Payload(8), 0), 8u);
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_EQ(ReadAllFrom(*log, 0).size(), 9u);
}

TEST_F(PartitionLogTest, FailedSyncIsStickyUntilReopen) {
  FaultInjectionEnv env(Env::Default());
  auto log = OpenOrDie(&env, &clock_, dir_, {});
  ASSERT_TRUE(log->Append("a", 0).ok());
  ASSERT_TRUE(log->Sync().ok());
  const uint64_t syncs_before = env.syncs();
  ASSERT_TRUE(log->Append("b", 0).ok());
  env.SetSyncFails(true);
  EXPECT_EQ(log->Sync().code(), StatusCode::kIOError);
  EXPECT_EQ(log->durable_offset(), 1u);
  env.SetSyncFails(false);
  EXPECT_EQ(log->Append("c", 0).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(log->Sync().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(env.syncs(), syncs_before);
  log.reset();
  log = OpenOrDie(&env, &clock_, dir_, {});
  EXPECT_EQ(log->end_offset(), 2u);  // "b" reached the file; the reopen re-synced it
  EXPECT_EQ(*log->Append("c", 0), 2u);
}

TEST_F(PartitionLogTest, IdleSyncDoesNotFsync) {
  FaultInjectionEnv env(Env::Default());
  auto log = OpenOrDie(&env, &clock_, dir_, {});
  ASSERT_TRUE(log->Append("a", 0).ok());
  ASSERT_TRUE(log->Sync().ok());
  const uint64_t before = env.syncs();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(env.syncs(), before);
}

TEST_F(PartitionLogTest, BadOptionsAreRejected) {
  LogOptions o;
  o.index_interval_bytes = 0;
  EXPECT_EQ(PartitionLog::Open(Env::Default(), &clock_, dir_, o).status().code(), StatusCode::kInvalidArgument);
  o = LogOptions{};
  o.segment_bytes_max = 10;
  EXPECT_EQ(PartitionLog::Open(Env::Default(), &clock_, dir_, o).status().code(), StatusCode::kInvalidArgument);
  o = LogOptions{};
  o.max_record_bytes = UINT32_MAX;
  EXPECT_EQ(PartitionLog::Open(Env::Default(), &clock_, dir_, o).status().code(), StatusCode::kInvalidArgument);
}

// Readers run while the writer appends, flushes, rolls and deletes segments (for TSan).
TEST_F(PartitionLogTest, ConcurrentReadersSeeAPrefixOfTheWrites) {
  LogOptions o;
  o.segment_bytes_max = 4096;
  o.index_interval_bytes = 512;
  o.retention_bytes = 64 * 1024;
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  constexpr uint64_t kRecords = 20'000;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> checked{0};
  auto reader = [&] {
    std::vector<Record> recs;
    std::string storage;
    uint64_t from = 0;
    while (!done.load() || from < log->end_offset()) {
      const Status s = log->Read(from, 100, 8192, &recs, &storage);
      if (s.code() == StatusCode::kOutOfRange) {  // retention overtook us
        from = log->start_offset();
        continue;
      }
      ASSERT_TRUE(s.ok()) << s.ToString();
      for (const Record& r : recs) {
        ASSERT_EQ(r.offset, from);
        ASSERT_EQ(r.payload, Payload(r.offset, 20 + r.offset % 50));
        ++from;
        checked.fetch_add(1);
      }
      if (recs.empty()) std::this_thread::yield();
    }
    EXPECT_EQ(from, kRecords);
  };
  std::thread r1(reader), r2(reader);
  for (uint64_t i = 0; i < kRecords; ++i) {
    ASSERT_TRUE(log->Append(Payload(i, 20 + i % 50), 0).ok());
    if (i % 37 == 0) {
      ASSERT_TRUE(log->Flush().ok());
    }
    if (i % 1000 == 0) {
      ASSERT_TRUE(log->EnforceRetention(0).ok());
    }
  }
  ASSERT_TRUE(log->Sync().ok());
  done.store(true);
  r1.join();
  r2.join();
  EXPECT_GT(checked.load(), 0u);
  EXPECT_GT(log->segments_deleted(), 0u);
}

// A reader that follows the writer gets the frames just flushed from memory, the same records
// the file holds, within its record and byte limits.
TEST_F(PartitionLogTest, AFollowingReaderIsServedFromTheTailWithTheFilesRecords) {
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, {});
  ASSERT_NE(log, nullptr);
  std::vector<Record> recs;
  std::string storage;
  uint64_t next = 0;
  uint64_t from = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i <= round % 7; ++i, ++next) {
      ASSERT_EQ(*log->Append(Payload(next, 10 + next % 90), static_cast<int64_t>(100 + next)), next);
    }
    ASSERT_TRUE(log->Flush().ok());
    // Small limits: several reads per flush, some starting inside a flush's frames.
    while (from < log->end_offset()) {
      ASSERT_TRUE(log->Read(from, 1 + round % 3, 120, &recs, &storage).ok());
      ASSERT_FALSE(recs.empty());
      uint64_t bytes = 0;
      for (const Record& r : recs) {
        ASSERT_EQ(r.offset, from);
        ASSERT_EQ(r.payload, Payload(r.offset, 10 + r.offset % 90));
        ASSERT_EQ(r.timestamp_ms, static_cast<int64_t>(100 + r.offset));
        bytes += r.payload.size();
        ++from;
      }
      EXPECT_LE(recs.size(), 1u + round % 3);
      if (recs.size() > 1) {
        EXPECT_LE(bytes, 120u);
      }
    }
  }
  // Every read but the first (which found the reader following) came from memory.
  EXPECT_GT(log->tail_reads(), 50u);
  // An older range than the tail keeps still reads the file.
  const uint64_t before = log->tail_reads();
  EXPECT_EQ(ReadAllFrom(*log, 0).size(), next);
  EXPECT_EQ(log->tail_reads(), before + 0);

  // One flush of many frames: reads from anywhere inside it (around the marks every
  // kTailMarkFrames frames) find their offset.
  const uint64_t first = next;
  for (int i = 0; i < 300; ++i, ++next) ASSERT_EQ(*log->Append(Payload(next, 10 + next % 90), 7), next);
  ASSERT_TRUE(log->Flush().ok());
  for (const uint64_t at : {0ul, 1ul, 63ul, 64ul, 65ul, 127ul, 128ul, 200ul, 299ul}) {
    const uint64_t served = log->tail_reads();
    ASSERT_TRUE(log->Read(first + at, 3, 1 << 20, &recs, &storage).ok());
    ASSERT_EQ(recs.size(), std::min<uint64_t>(3, 300 - at)) << at;
    for (size_t k = 0; k < recs.size(); ++k) {
      EXPECT_EQ(recs[k].offset, first + at + k);
      EXPECT_EQ(recs[k].payload, Payload(first + at + k, 10 + (first + at + k) % 90));
    }
    EXPECT_EQ(log->tail_reads(), served + 1) << at;
  }
}

// Records dropped by a rollback or a truncation are never served from the tail afterwards.
TEST_F(PartitionLogTest, TheTailForgetsRecordsDroppedByRollbackAndTruncation) {
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, {});
  ASSERT_NE(log, nullptr);
  std::vector<Record> recs;
  std::string storage;
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->Read(0, 100, 1 << 20, &recs, &storage).ok());  // now followed
  for (uint64_t i = 10; i < 20; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->Read(15, 100, 1 << 20, &recs, &storage).ok());
  ASSERT_EQ(recs.size(), 5u);
  const uint64_t served = log->tail_reads();
  EXPECT_GT(served, 0u);

  ASSERT_TRUE(log->Rollback(12).ok());
  for (uint64_t i = 12; i < 20; ++i) ASSERT_TRUE(log->Append("after-rollback-" + std::to_string(i), 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->Read(15, 100, 1 << 20, &recs, &storage).ok());
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[0].payload, "after-rollback-15");
  EXPECT_EQ(recs[4].payload, "after-rollback-19");

  ASSERT_TRUE(log->TruncateTo(14).ok());
  for (uint64_t i = 14; i < 20; ++i) ASSERT_TRUE(log->Append("after-truncate-" + std::to_string(i), 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->Read(14, 100, 1 << 20, &recs, &storage).ok());
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_EQ(recs[0].payload, "after-truncate-14");
  EXPECT_EQ(recs[5].payload, "after-truncate-19");
  const std::vector<std::string> all = ReadAllFrom(*log, 0);
  ASSERT_EQ(all.size(), 20u);
  EXPECT_EQ(all[12], "after-rollback-12");
  EXPECT_EQ(all[13], "after-rollback-13");
  EXPECT_EQ(all[19], "after-truncate-19");
}

// A flush over the tail's bound is not kept; its readers read the file, and the next small
// flush is kept again.
TEST_F(PartitionLogTest, AFlushLargerThanTheTailBoundIsReadFromTheFile) {
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, {});
  ASSERT_NE(log, nullptr);
  std::vector<Record> recs;
  std::string storage;
  ASSERT_TRUE(log->Append("a", 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->Read(0, 10, 1 << 20, &recs, &storage).ok());  // now followed
  const size_t big = PartitionLog::kTailBytesMax / 4;
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(log->Append(Payload(i, big), 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  const uint64_t before = log->tail_reads();
  ASSERT_TRUE(log->Read(1, 10, 1 << 30, &recs, &storage).ok());
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[4].payload, Payload(5, big));
  EXPECT_EQ(log->tail_reads(), before);
  ASSERT_TRUE(log->Append("small", 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->Read(6, 10, 1 << 20, &recs, &storage).ok());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].payload, "small");
  EXPECT_EQ(log->tail_reads(), before + 1);
}

// Publish makes records readable from memory without a write while a reader follows the log
// and the copy has room; they reach the file at the next Flush, a roll or Close, at the
// positions the index gave them.
TEST_F(PartitionLogTest, PublishedRecordsAreReadFromMemoryAndWrittenLater) {
  LogOptions o;
  o.segment_bytes_max = 64 << 10;  // several rolls
  o.index_interval_bytes = 512;
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  ASSERT_NE(log, nullptr);
  std::vector<Record> recs;
  std::string storage;
  // No follower yet: Publish writes, as Flush does.
  ASSERT_TRUE(log->Append(Payload(0), 0).ok());
  ASSERT_TRUE(log->Publish().ok());
  EXPECT_GT(log->bytes_written(), 0u);
  ASSERT_TRUE(log->Read(0, 10, 1 << 20, &recs, &storage).ok());  // now followed
  ASSERT_EQ(recs.size(), 1u);
  uint64_t next = 1, from = 1;
  int lazy = 0;
  for (int round = 0; round < 400; ++round) {
    const uint64_t written = log->bytes_written();
    for (int i = 0; i <= round % 5; ++i, ++next) {
      ASSERT_EQ(*log->Append(Payload(next, 20 + next % 2000), static_cast<int64_t>(next)), next);
    }
    ASSERT_TRUE(log->Publish().ok());
    ASSERT_EQ(log->end_offset(), next);
    lazy += log->bytes_written() == written;
    // The follower reads what was published, whether or not it is in the file.
    while (from < log->end_offset()) {
      ASSERT_TRUE(log->Read(from, 1 + round % 4, 1 << 20, &recs, &storage).ok());
      ASSERT_FALSE(recs.empty()) << from;
      for (const Record& r : recs) {
        ASSERT_EQ(r.offset, from);
        ASSERT_EQ(r.payload, Payload(r.offset, 20 + r.offset % 2000));
        ++from;
      }
    }
    // A reader from the start reads the file, then the copy, without a gap.
    if (round % 50 == 49) {
      ASSERT_EQ(ReadAllFrom(*log, 0, 7).size(), next) << round;
    }
  }
  EXPECT_GT(lazy, 300);                  // most cycles wrote nothing (the copy filled 4 times, 20 rolls)
  EXPECT_GT(log->segment_count(), 10u);  // rolls wrote what was published before them
  // Reopened after Close: everything published is in the files, readable through the index.
  ASSERT_TRUE(log->Close().ok());
  log.reset();
  log = OpenOrDie(Env::Default(), &clock_, dir_, o);
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(log->end_offset(), next);
  const std::vector<std::string> all = ReadAllFrom(*log, 0, 5);
  ASSERT_EQ(all.size(), next);
  for (uint64_t i = 1; i < next; ++i) ASSERT_EQ(all[i], Payload(i, 20 + i % 2000)) << i;
  for (const uint64_t at : {1ul, 100ul, 777ul, next - 1}) {  // index seeks inside old segments
    ASSERT_TRUE(log->Read(at, 1, 1 << 20, &recs, &storage).ok());
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].payload, Payload(at, 20 + at % 2000));
  }
}

// A rollback past the file's end keeps the published records before its target in memory and
// writes nothing, so it works on a full disk; index entries of the dropped records are never
// used; the kept ones reach the file once there is room again.
TEST_F(PartitionLogTest, ARollbackOfPublishedRecordsWritesNothing) {
  FaultInjectionEnv env(Env::Default());
  const LogOptions o = DenseIndex();
  auto log = OpenPublished(&env, o);
  ASSERT_NE(log, nullptr);
  for (uint64_t i = 1; i <= 6; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Publish().ok());  // 1..6 in memory only
  env.SetWriteBudget(0);             // the disk is full
  ASSERT_TRUE(log->Append(Payload(7), 0).ok());
  ASSERT_TRUE(log->Rollback(4).ok());  // keeps 1..3, drops 4..7
  EXPECT_EQ(log->end_offset(), 4u);
  EXPECT_EQ(ReadAllFrom(*log, 0), (std::vector<std::string>{Payload(0), Payload(1), Payload(2), Payload(3)}));
  for (uint64_t i = 4; i <= 9; ++i) ASSERT_EQ(*log->Append("again-" + std::to_string(i), 0), i);
  ASSERT_TRUE(log->Publish().ok());
  EXPECT_EQ(log->Flush().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(log->end_offset(), 10u);  // still readable from the copy
  env.SetWriteBudget(-1);
  ASSERT_TRUE(log->Sync().ok());
  // A flush over the copy's bound starts it again past these: the reads below go to the file.
  ASSERT_TRUE(log->Append(std::string(PartitionLog::kTailBytesMax + 1, 'x'), 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  std::vector<Record> recs;
  std::string storage;
  const uint64_t tail_reads = log->tail_reads();
  for (uint64_t at = 0; at < 10; ++at) {  // through the index of the file, one record at a time
    ASSERT_TRUE(log->Read(at, 1, 1 << 20, &recs, &storage).ok());
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].payload, at < 4 ? Payload(at) : "again-" + std::to_string(at));
  }
  EXPECT_EQ(log->tail_reads(), tail_reads);
  ASSERT_TRUE(log->Close().ok());
  log = OpenOrDie(&env, &clock_, dir_, o);
  ASSERT_NE(log, nullptr);
  const std::vector<std::string> all = ReadAllFrom(*log, 0);
  ASSERT_EQ(all.size(), 11u);
  EXPECT_EQ(all[3], Payload(3));
  EXPECT_EQ(all[9], "again-9");
}

// Writing the published records publishes the index entries of those records only: entries of
// records still buffered, which a rollback may drop, are never used by a later read.
TEST_F(PartitionLogTest, IndexEntriesOfDroppedRecordsAreNeverUsed) {
  FaultInjectionEnv env(Env::Default());
  const LogOptions o = DenseIndex();
  auto log = OpenPublished(&env, o);
  ASSERT_NE(log, nullptr);
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());
  ASSERT_TRUE(log->Publish().ok());                                                // 1..3 in memory
  for (uint64_t i = 4; i <= 6; ++i) ASSERT_TRUE(log->Append(Payload(i), 0).ok());  // 4..6 buffered
  env.SetWriteBudget(3 * (kFrameHeaderBytes + 100));                               // room for 1..3 only
  EXPECT_EQ(log->Flush().code(), StatusCode::kResourceExhausted);                  // 1..3 written, 4..6 kept
  env.SetWriteBudget(0);
  ASSERT_TRUE(log->Publish().ok());    // 4..6 in memory
  ASSERT_TRUE(log->Rollback(5).ok());  // drops 5 and 6
  env.SetWriteBudget(-1);
  for (uint64_t i = 5; i <= 9; ++i) ASSERT_EQ(*log->Append("again-" + std::to_string(i), 0), i);
  ASSERT_TRUE(log->Sync().ok());
  ASSERT_TRUE(log->Append(std::string(PartitionLog::kTailBytesMax + 1, 'x'), 0).ok());  // reads go to the file
  ASSERT_TRUE(log->Flush().ok());
  std::vector<Record> recs;
  std::string storage;
  for (uint64_t at = 0; at < 10; ++at) {
    ASSERT_TRUE(log->Read(at, 1, 1 << 20, &recs, &storage).ok()) << at;
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].offset, at);
    EXPECT_EQ(recs[0].payload, at < 5 ? Payload(at) : "again-" + std::to_string(at));
  }
}

// A log nobody reads yet keeps its copy once published: the first reader finds there what the
// file does not hold.
TEST_F(PartitionLogTest, APublishedLogNobodyReadIsReadFromItsCopyLater) {
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, {});
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Append("a", 0).ok());
  ASSERT_TRUE(log->Publish().ok());  // starts the copy: written
  const uint64_t written = log->bytes_written();
  EXPECT_GT(written, 0u);
  ASSERT_TRUE(log->Append("b", 0).ok());
  ASSERT_TRUE(log->Append("c", 0).ok());
  ASSERT_TRUE(log->Publish().ok());
  EXPECT_EQ(log->bytes_written(), written);
  EXPECT_EQ(ReadAllFrom(*log, 0), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ReadAllFrom(*log, 2), (std::vector<std::string>{"c"}));
}

// A published record is in the file once Flush returns, and a rollback keeps the published
// records before its target (writing them) and drops the ones after.
TEST_F(PartitionLogTest, FlushAndRollbackHandlePublishedRecords) {
  auto log = OpenOrDie(Env::Default(), &clock_, dir_, {});
  ASSERT_NE(log, nullptr);
  std::vector<Record> recs;
  std::string storage;
  ASSERT_TRUE(log->Append("r0", 0).ok());
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->Read(0, 10, 1 << 20, &recs, &storage).ok());  // followed
  ASSERT_TRUE(log->Append("r1", 0).ok());
  ASSERT_TRUE(log->Publish().ok());  // the copy starts here: written
  for (int i = 2; i <= 4; ++i) ASSERT_TRUE(log->Append("r" + std::to_string(i), 0).ok());
  const uint64_t written = log->bytes_written();
  ASSERT_TRUE(log->Publish().ok());
  EXPECT_EQ(log->bytes_written(), written);  // readable, not written
  EXPECT_EQ(log->end_offset(), 5u);
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_GT(log->bytes_written(), written);
  for (int i = 5; i <= 9; ++i) ASSERT_TRUE(log->Append("r" + std::to_string(i), 0).ok());
  ASSERT_TRUE(log->Publish().ok());
  ASSERT_TRUE(log->Rollback(7).ok());  // r5, r6 kept (in memory), r7.. dropped
  EXPECT_EQ(log->end_offset(), 7u);
  ASSERT_TRUE(log->Append("new7", 0).ok());
  ASSERT_TRUE(log->Publish().ok());
  std::vector<std::string> all = ReadAllFrom(*log, 0);
  ASSERT_EQ(all.size(), 8u);
  EXPECT_EQ(all[6], "r6");
  EXPECT_EQ(all[7], "new7");
  ASSERT_TRUE(log->Rollback(2).ok());  // inside the file: nothing published is kept
  ASSERT_TRUE(log->Close().ok());
  log.reset();
  log = OpenOrDie(Env::Default(), &clock_, dir_, {});
  ASSERT_NE(log, nullptr);
  all = ReadAllFrom(*log, 0);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1], "r1");
}

}  // namespace
}  // namespace impulse::log
