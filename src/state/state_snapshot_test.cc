// StateTable Checkpoint/Restore: exact round trips, both snapshot formats into both backends,
// corrupt and truncated snapshots, bounds.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "state/state_table.h"
#include "state/state_table_test_util.h"

namespace impulse::state::test {
namespace {

using StateSnapshotTest = StateTableTest;

TEST_P(StateSnapshotTest, RestoreReturnsExactlyTheCheckpointedContent) {
  auto t = MustOpen(Options(/*cache_entries_max=*/32));
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 300);
  const std::map<std::string, Agg> at_checkpoint = Content(t.get());
  auto bytes = t->Checkpoint(Dir("ckpt"));
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_GT(*bytes, 300u * 10);

  for (int i = 0; i < 100; ++i) (**t->Find(Key(i))).count = -1;
  for (int i = 100; i < 150; ++i) ASSERT_TRUE(t->Erase(Key(i)).ok());
  Fill(t.get(), 300, 400);
  EXPECT_EQ(t->size(), 350u);

  ASSERT_TRUE(t->Restore(Dir("ckpt")).ok());
  EXPECT_EQ(t->size(), 300u);
  EXPECT_EQ(Content(t.get()), at_checkpoint);
  auto v = t->Find(Key(350));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, nullptr);

  // The table keeps working after a restore, and a second restore of the same snapshot works.
  Fill(t.get(), 300, 310);
  EXPECT_EQ(t->size(), 310u);
  ASSERT_TRUE(t->Restore(Dir("ckpt")).ok());
  EXPECT_EQ(Content(t.get()), at_checkpoint);
}

TEST_P(StateSnapshotTest, SnapshotRestoresIntoAFreshTable) {
  auto t = MustOpen(Options(/*cache_entries_max=*/8));
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 100);
  ASSERT_TRUE(t->Checkpoint(Dir("ckpt")).ok());
  const auto want = Content(t.get());
  t.reset();
  auto fresh = MustOpen(Options(/*cache_entries_max=*/8));
  ASSERT_NE(fresh, nullptr);
  ASSERT_TRUE(fresh->Restore(Dir("ckpt")).ok());
  EXPECT_EQ(Content(fresh.get()), want);
}

TEST_P(StateSnapshotTest, CheckpointOfEmptyTable) {
  auto t = MustOpen(Options());
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->Checkpoint(Dir("empty")).ok());
  Fill(t.get(), 0, 10);
  ASSERT_TRUE(t->Restore(Dir("empty")).ok());
  EXPECT_EQ(t->size(), 0u);
  EXPECT_TRUE(Content(t.get()).empty());
  auto v = t->Find(Key(1));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, nullptr);
}

TEST_P(StateSnapshotTest, CheckpointIntoNonEmptyDirectoryRefused) {
  auto t = MustOpen(Options());
  ASSERT_NE(t, nullptr);
  fs::create_directories(Dir("busy"));
  std::ofstream(Dir("busy") + "/other") << "x";
  EXPECT_EQ(t->Checkpoint(Dir("busy")).status().code(), StatusCode::kAlreadyExists);
}

TEST_P(StateSnapshotTest, RestoreWithoutSnapshotIsNotFound) {
  auto t = MustOpen(Options());
  ASSERT_NE(t, nullptr);
  fs::create_directories(Dir("nothing"));
  EXPECT_EQ(t->Restore(Dir("nothing")).code(), StatusCode::kNotFound);
}

TEST_P(StateSnapshotTest, CorruptSnapshotIsDataLossAndKeepsContent) {
  auto t = MustOpen(Options(/*cache_entries_max=*/16));
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 2000);
  ASSERT_TRUE(t->Checkpoint(Dir("ckpt")).ok());
  Fill(t.get(), 2000, 2010);
  const auto before = Content(t.get());

  fs::path victim;
  if (GetParam() == Backend::kMemory) {
    victim = Dir("ckpt") + "/state.snap";
  } else {
    for (const auto& e : fs::directory_iterator(Dir("ckpt") + "/rocksdb")) {
      if (e.path().extension() == ".sst") victim = e.path();
    }
  }
  ASSERT_FALSE(victim.empty());
  FlipByte(victim, fs::file_size(victim) / 2);
  Status s = t->Restore(Dir("ckpt"));
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find(Dir("ckpt")), std::string::npos) << s.ToString();
  EXPECT_EQ(t->size(), 2010u);
  EXPECT_EQ(Content(t.get()), before);
}

TEST_P(StateSnapshotTest, TruncatedSnapshotIsDataLoss) {
  auto t = MustOpen(Options());
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 100);
  ASSERT_TRUE(t->Checkpoint(Dir("ckpt")).ok());
  fs::path victim = Dir("ckpt") + (GetParam() == Backend::kMemory ? "/state.snap" : "/state.manifest");
  if (GetParam() == Backend::kRocksDb) {
    for (const auto& e : fs::directory_iterator(Dir("ckpt") + "/rocksdb")) {
      if (e.path().extension() == ".sst") victim = e.path();
    }
  }
  const uint64_t size = fs::file_size(victim);
  std::string data(size - 7, '\0');
  std::ifstream(victim, std::ios::binary).read(data.data(), static_cast<std::streamsize>(data.size()));
  fs::remove(victim);
  std::ofstream(victim, std::ios::binary) << data;
  EXPECT_EQ(t->Restore(Dir("ckpt")).code(), StatusCode::kDataLoss);
  EXPECT_EQ(t->size(), 100u);
}

TEST_P(StateSnapshotTest, CorruptManifestOrValueIsDataLoss) {
  // A value V cannot decode: written as int32, restored as int64.
  auto narrow = MustOpen<int32_t>(Options());
  ASSERT_NE(narrow, nullptr);
  **narrow->FindOrInsert("k") = 7;
  ASSERT_TRUE(narrow->Checkpoint(Dir("narrow")).ok());
  auto wide = MustOpen<int64_t>(Options());
  ASSERT_NE(wide, nullptr);
  **wide->FindOrInsert("k") = 9;
  Status s = wide->Restore(Dir("narrow"));
  if (GetParam() == Backend::kMemory) {
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
    EXPECT_EQ(**wide->Find("k"), 9);
  } else {
    // RocksDB decodes lazily: the restore succeeds and the bad value surfaces on read.
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(wide->Find("k").status().code(), StatusCode::kDataLoss);
    FlipByte(Dir("narrow") + "/state.manifest", 3);
    EXPECT_EQ(wide->Restore(Dir("narrow")).code(), StatusCode::kDataLoss);
  }
}

TEST_P(StateSnapshotTest, StringValuesRoundTrip) {
  auto t = MustOpen<std::string>(Options(/*cache_entries_max=*/2));
  ASSERT_NE(t, nullptr);
  for (int i = 0; i < 20; ++i) **t->FindOrInsert(Key(i)) = std::string(static_cast<size_t>(i), 'x');
  ASSERT_TRUE(t->Checkpoint(Dir("ckpt")).ok());
  **t->FindOrInsert(Key(3)) = "changed";
  ASSERT_TRUE(t->Restore(Dir("ckpt")).ok());
  for (int i = 0; i < 20; ++i) {
    auto v = t->Find(Key(i));
    ASSERT_TRUE(v.ok());
    ASSERT_NE(*v, nullptr);
    EXPECT_EQ(**v, std::string(static_cast<size_t>(i), 'x'));
  }
}

TEST_P(StateSnapshotTest, RestoreBeyondEntriesMaxRefused) {
  auto big = MustOpen(Options());
  ASSERT_NE(big, nullptr);
  Fill(big.get(), 0, 20);
  ASSERT_TRUE(big->Checkpoint(Dir("ckpt")).ok());
  StateOptions o = Options();
  o.entries_max = 10;
  auto small = MustOpen(o);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(small->Restore(Dir("ckpt")).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(small->size(), 0u);
}

TEST_P(StateSnapshotTest, SnapshotOfTheOtherBackendRestores) {
  StateOptions other = Options(/*cache_entries_max=*/8);
  other.backend = GetParam() == Backend::kMemory ? Backend::kRocksDb : Backend::kMemory;
  auto writer = MustOpen(other);
  ASSERT_NE(writer, nullptr);
  Fill(writer.get(), 0, 500);
  ASSERT_TRUE(writer->Erase(Key(7)).ok());
  ASSERT_TRUE(writer->Checkpoint(Dir("ckpt")).ok());
  const auto want = Content(writer.get());
  auto t = MustOpen(Options(/*cache_entries_max=*/8));
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 1000, 1010);
  ASSERT_TRUE(t->Restore(Dir("ckpt")).ok());
  EXPECT_EQ(t->size(), 499u);
  EXPECT_EQ(Content(t.get()), want);

  // The other backend's snapshot, corrupted, is kDataLoss and changes nothing.
  if (other.backend == Backend::kMemory) {
    FlipByte(Dir("ckpt") + "/state.snap", 100);
  } else {
    for (const auto& e : fs::directory_iterator(Dir("ckpt") + "/rocksdb")) {
      if (e.path().extension() == ".sst") FlipByte(e.path(), fs::file_size(e.path()) / 2);
    }
  }
  Fill(t.get(), 2000, 2001);
  EXPECT_EQ(t->Restore(Dir("ckpt")).code(), StatusCode::kDataLoss);
  EXPECT_EQ(t->size(), 500u);
}

TEST_P(StateSnapshotTest, TableLargerThanCacheRoundTrips) {
  constexpr int kEntries = 200'000;
  auto t = MustOpen<int64_t>(Options(/*cache_entries_max=*/1000));
  ASSERT_NE(t, nullptr);
  for (int i = 0; i < kEntries; ++i) {
    auto v = t->FindOrInsert(Key(i));
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    **v = i * 3;
  }
  EXPECT_EQ(t->size(), static_cast<size_t>(kEntries));
  ASSERT_TRUE(t->Checkpoint(Dir("ckpt")).ok());
  for (int i = 0; i < kEntries; i += 2) ASSERT_TRUE(t->Erase(Key(i)).ok());
  EXPECT_EQ(t->size(), static_cast<size_t>(kEntries / 2));
  ASSERT_TRUE(t->Restore(Dir("ckpt")).ok());
  EXPECT_EQ(t->size(), static_cast<size_t>(kEntries));
  int64_t seen = 0, sum = 0;
  ASSERT_TRUE(t->ForEach([&](std::string_view, int64_t& v) {
                 ++seen;
                 sum += v;
                 return Status::OK();
               }).ok());
  EXPECT_EQ(seen, kEntries);
  EXPECT_EQ(sum, int64_t{3} * kEntries * (kEntries - 1) / 2);
  for (int i = 0; i < kEntries; i += 997) {
    auto v = t->Find(Key(i));
    ASSERT_TRUE(v.ok());
    ASSERT_NE(*v, nullptr) << i;
    EXPECT_EQ(**v, i * 3);
  }
  if (GetParam() == Backend::kRocksDb) {
    EXPECT_EQ(t->stats().entries, static_cast<uint64_t>(kEntries));
    EXPECT_GT(t->stats().cache_misses, static_cast<uint64_t>(kEntries));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StateSnapshotTest, ::testing::Values(Backend::kMemory, Backend::kRocksDb),
                         BackendName);

}  // namespace
}  // namespace impulse::state::test
