// Crash recovery, corruption detection and repair.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "log/log_format.h"
#include "log/log_test_util.h"
#include "log/partition_log.h"

namespace impulse::log {
namespace {

using impulse::ManualClock;
using testing::FlipByte;
using testing::Overwrite;
using testing::ReadAll;
using testing::TempDir;

constexpr size_t kFrame100 = kFrameHeaderBytes + 100;

class RecoveryTest : public ::testing::Test {
 protected:
  // Writes `n` records of 100 bytes ("r<i>" padded) and closes the log.
  void Write(uint64_t n, LogOptions o = {}) {
    auto log = PartitionLog::Open(Env::Default(), &clock_, dir_, o);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (uint64_t i = 0; i < n; ++i) ASSERT_TRUE((*log)->Append(Rec(i), static_cast<int64_t>(i)).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  static std::string Rec(uint64_t i) {
    std::string s = "r" + std::to_string(i);
    s.resize(100, '.');
    return s;
  }
  Result<std::unique_ptr<PartitionLog>> Open(LogOptions o = {}) {
    return PartitionLog::Open(Env::Default(), &clock_, dir_, o);
  }
  std::vector<std::string> ReadEverything(const PartitionLog& log) {
    std::vector<std::string> got;
    std::vector<Record> recs;
    std::string storage;
    uint64_t from = log.start_offset();
    while (from < log.end_offset()) {
      EXPECT_TRUE(log.Read(from, 1000, 1 << 20, &recs, &storage).ok());
      if (recs.empty()) break;
      for (const Record& r : recs) got.emplace_back(r.payload);
      from = recs.back().offset + 1;
    }
    return got;
  }
  std::string Seg(uint64_t base) const { return dir_ + "/" + SegmentFileName(base); }

  TempDir tmp_;
  std::string dir_ = tmp_.path() + "/p";
  ManualClock clock_{0};
};

TEST_F(RecoveryTest, TornTailShortFrameIsTruncatedAndReported) {
  Write(5);
  std::string data = ReadAll(Seg(0));
  ASSERT_EQ(data.size(), kSegmentHeaderBytes + 5 * kFrame100);
  Overwrite(Seg(0), data.substr(0, data.size() - 30));  // the 5th frame lost its last 30 bytes
  auto log = Open();
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->end_offset(), 4u);
  EXPECT_EQ((*log)->recovered_truncated_bytes(), kFrame100 - 30);
  EXPECT_EQ(ReadAll(Seg(0)).size(), kSegmentHeaderBytes + 4 * kFrame100);
  EXPECT_EQ(*(*log)->Append("new", 0), 4u);  // offsets continue from the truncation point
  ASSERT_TRUE((*log)->Flush().ok());
  EXPECT_EQ(ReadEverything(**log).back(), "new");
}

TEST_F(RecoveryTest, TornTailGarbageAndZerosAreTruncated) {
  Write(3);
  const std::string good = ReadAll(Seg(0));
  for (const std::string& tail :
       {std::string("\x07garbage-after-the-last-frame", 29), std::string(4096, '\0'), std::string(5, '\xff')}) {
    Overwrite(Seg(0), good + tail);
    auto log = Open();
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_EQ((*log)->end_offset(), 3u);
    EXPECT_EQ((*log)->recovered_truncated_bytes(), tail.size());
    EXPECT_EQ(ReadEverything(**log).size(), 3u);
  }
}

TEST_F(RecoveryTest, CrcMismatchInTheLastFrameIsATornTail) {
  Write(3);
  FlipByte(Seg(0), kSegmentHeaderBytes + 2 * kFrame100 + 50);  // inside the 3rd payload
  auto log = Open();
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->end_offset(), 2u);
  EXPECT_EQ((*log)->recovered_truncated_bytes(), kFrame100);
}

TEST_F(RecoveryTest, CorruptSealedSegmentIsDataLossNamingFileAndOffset) {
  LogOptions o;
  o.segment_bytes_max = 1000;  // 8 records per segment
  Write(20, o);
  const size_t bad_frame_pos = kSegmentHeaderBytes + 3 * kFrame100;
  FlipByte(Seg(8), bad_frame_pos + 40);
  auto log = Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(log.status().message().find(SegmentFileName(8)), std::string::npos) << log.status().ToString();
  EXPECT_NE(log.status().message().find("byte " + std::to_string(bad_frame_pos)), std::string::npos)
      << log.status().ToString();

  // The explicit repair keeps everything before the bad record, drops the rest.
  RepairReport report;
  ASSERT_TRUE(RepairPartition(Env::Default(), dir_, &report).ok());
  EXPECT_EQ(report.segments_deleted, 1u);  // the segment at 16
  EXPECT_EQ(report.bytes_truncated, 5 * kFrame100);
  EXPECT_NE(report.first_problem.find(SegmentFileName(8)), std::string::npos);
  log = Open(o);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->end_offset(), 11u);  // 0..7 and 8..10
  const std::vector<std::string> got = ReadEverything(**log);
  ASSERT_EQ(got.size(), 11u);
  EXPECT_EQ(got[10], Rec(10));
  EXPECT_EQ(*(*log)->Append("x", 0), 11u);

  // Repairing a healthy partition changes nothing; progress counts its segments.
  (*log).reset();
  std::vector<std::pair<size_t, size_t>> steps;
  ASSERT_TRUE(
      RepairPartition(Env::Default(), dir_, &report, [&](size_t done, size_t n) { steps.emplace_back(done, n); }).ok());
  EXPECT_EQ(steps, (std::vector<std::pair<size_t, size_t>>{{1, 2}, {2, 2}}));
  EXPECT_TRUE(report.first_problem.empty());
  EXPECT_EQ(report.bytes_truncated, 0u);
}

TEST_F(RecoveryTest, BadHeaderOfSealedSegmentIsDataLoss) {
  LogOptions o;
  o.segment_bytes_max = 1000;
  Write(20, o);
  FlipByte(Seg(0), 3);  // magic
  auto log = Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(log.status().message().find(SegmentFileName(0)), std::string::npos);
  ASSERT_TRUE(RepairPartition(Env::Default(), dir_).ok());
  log = Open(o);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->start_offset(), 0u);
  EXPECT_EQ((*log)->end_offset(), 0u);  // segment 0 emptied, later segments dropped
}

TEST_F(RecoveryTest, MissingSegmentIsDataLoss) {
  LogOptions o;
  o.segment_bytes_max = 1000;
  Write(30, o);
  ASSERT_TRUE(Env::Default()->DeleteFile(Seg(8)).ok());
  auto log = Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(log.status().message().find(SegmentFileName(16)), std::string::npos);
  ASSERT_TRUE(RepairPartition(Env::Default(), dir_).ok());
  log = Open(o);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->end_offset(), 8u);
}

TEST_F(RecoveryTest, ZeroedOrShortHeaderOfTheLastSegmentIsATornCreate) {
  LogOptions o;
  o.segment_bytes_max = 1000;
  Write(10, o);  // segments 0 (8 records) and 8 (2 records)
  Overwrite(Seg(8), std::string(10, '\0'));
  auto log = Open(o);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->end_offset(), 8u);
  EXPECT_EQ((*log)->recovered_truncated_bytes(), 10u);
  EXPECT_EQ(*(*log)->Append("x", 0), 8u);
  ASSERT_TRUE((*log)->Flush().ok());
  EXPECT_EQ(ReadEverything(**log).size(), 9u);
}

TEST_F(RecoveryTest, NonZeroBadHeaderOfTheLastSegmentIsDataLoss) {
  Write(3);
  FlipByte(Seg(0), 20);  // base offset field: header CRC fails
  auto log = Open();
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kDataLoss);
}

TEST_F(RecoveryTest, CorruptionFoundByReadIsDataLoss) {
  Write(3);
  auto log = Open();
  ASSERT_TRUE(log.ok());
  FlipByte(Seg(0), kSegmentHeaderBytes + kFrame100 + 60);  // bit rot after open
  std::vector<Record> recs;
  std::string storage;
  const Status s = (*log)->Read(0, 10, 1 << 20, &recs, &storage);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("byte " + std::to_string(kSegmentHeaderBytes + kFrame100)), std::string::npos);
}

TEST_F(RecoveryTest, ForeignFilesInTheDirectoryAreIgnored) {
  Write(2);
  Overwrite(dir_ + "/README", "not a segment");
  Overwrite(dir_ + "/00000000000000000000.index", "x");
  auto log = Open();
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->end_offset(), 2u);
}

}  // namespace
}  // namespace impulse::log
