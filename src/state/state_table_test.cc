#include "state/state_table.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/fault_env.h"

namespace impulse::state {
namespace {

namespace fs = std::filesystem;
using Backend = StateOptions::Backend;

// A value with member codec, a heap-owning field and a checked encoding.
struct Agg {
  int64_t count = 0;
  double sum = 0;
  std::string last;

  void Serialize(std::string* out) const {
    out->append(reinterpret_cast<const char*>(&count), sizeof(count));
    out->append(reinterpret_cast<const char*>(&sum), sizeof(sum));
    out->append(last);
  }
  Status Deserialize(std::string_view in) {
    if (in.size() < 16) return DataLoss("Agg: short value");
    std::memcpy(&count, in.data(), 8);
    std::memcpy(&sum, in.data() + 8, 8);
    last.assign(in.substr(16));
    return Status::OK();
  }
  bool operator==(const Agg&) const = default;
};

std::string Key(int i) { return "key-" + std::to_string(i); }
Agg ValueFor(int i) { return Agg{i, i * 0.5, "v" + std::to_string(i * 7)}; }

class StateTableTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    root_ = fs::path(::testing::TempDir()) / ("impulse_state_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  StateOptions Options(size_t cache_entries_max = 100000) {
    StateOptions o;
    o.backend = GetParam();
    o.rocksdb_dir = (root_ / ("db" + std::to_string(db_counter_++))).string();
    o.cache_entries_max = cache_entries_max;
    return o;
  }

  template <typename V = Agg>
  std::unique_ptr<StateTable<V>> MustOpen(const StateOptions& o) {
    auto t = StateTable<V>::Open(o);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }

  static void Fill(StateTable<Agg>* t, int begin, int end) {
    for (int i = begin; i < end; ++i) {
      bool inserted = false;
      auto v = t->FindOrInsert(Key(i), &inserted);
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      ASSERT_TRUE(inserted) << i;
      **v = ValueFor(i);
    }
  }

  static std::map<std::string, Agg> Content(StateTable<Agg>* t) {
    std::map<std::string, Agg> out;
    Status s = t->ForEach([&](std::string_view key, Agg& v) {
      EXPECT_TRUE(out.emplace(std::string(key), v).second) << "visited twice: " << key;
      return Status::OK();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  std::string Dir(const std::string& name) { return (root_ / name).string(); }

  fs::path root_;
  int db_counter_ = 0;
};

TEST_P(StateTableTest, InsertFindErase) {
  auto t = MustOpen(Options());
  ASSERT_NE(t, nullptr);
  auto missing = t->Find("a");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, nullptr);

  bool inserted = false;
  auto a = t->FindOrInsert("a", &inserted);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(inserted);
  EXPECT_EQ(**a, Agg{});
  (*a)->count = 5;
  auto again = t->FindOrInsert("a", &inserted);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(inserted);
  EXPECT_EQ((*again)->count, 5);
  EXPECT_EQ(t->size(), 1u);

  // Keys are bytes: an embedded NUL makes a different key.
  const std::string nul_key("a\0b", 3);
  ASSERT_TRUE(t->FindOrInsert(nul_key).ok());
  EXPECT_EQ(t->size(), 2u);

  ASSERT_TRUE(t->Erase("a").ok());
  ASSERT_TRUE(t->Erase("never-there").ok());
  EXPECT_EQ(t->size(), 1u);
  auto gone = t->Find("a");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(*gone, nullptr);
  auto nul = t->Find(nul_key);
  ASSERT_TRUE(nul.ok());
  EXPECT_NE(*nul, nullptr);
  EXPECT_EQ(t->stats().entries, 1u);
}

TEST_P(StateTableTest, ValuesSurviveEviction) {
  auto t = MustOpen(Options(/*cache_entries_max=*/4));
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 1000);
  EXPECT_EQ(t->size(), 1000u);
  // Update every other key after it was evicted, then erase some evicted keys.
  for (int i = 0; i < 1000; i += 2) {
    auto v = t->Find(Key(i));
    ASSERT_TRUE(v.ok());
    ASSERT_NE(*v, nullptr) << i;
    (*v)->count += 1000;
  }
  for (int i = 0; i < 1000; i += 10) ASSERT_TRUE(t->Erase(Key(i)).ok());
  EXPECT_EQ(t->size(), 900u);
  for (int i = 0; i < 1000; ++i) {
    auto v = t->Find(Key(i));
    ASSERT_TRUE(v.ok());
    if (i % 10 == 0) {
      EXPECT_EQ(*v, nullptr) << i;
      continue;
    }
    ASSERT_NE(*v, nullptr) << i;
    Agg want = ValueFor(i);
    if (i % 2 == 0) want.count += 1000;
    EXPECT_EQ(**v, want) << i;
  }
  if (GetParam() == Backend::kRocksDb) {
    const StateStats s = t->stats();
    EXPECT_GT(s.evictions, 900u);
    EXPECT_GT(s.writebacks, 900u);
    EXPECT_GT(s.cache_misses, 900u);
  }
}

TEST_P(StateTableTest, EntriesMaxEnforced) {
  StateOptions o = Options(/*cache_entries_max=*/3);
  o.entries_max = 10;
  auto t = MustOpen(o);
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 10);
  auto full = t->FindOrInsert(Key(10));
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(t->stats().entries_max_rejections, 1u);
  EXPECT_EQ(t->size(), 10u);
  // Existing keys are still reachable while full.
  auto existing = t->FindOrInsert(Key(0));
  ASSERT_TRUE(existing.ok());
  EXPECT_EQ(**existing, ValueFor(0));
  ASSERT_TRUE(t->Erase(Key(5)).ok());
  EXPECT_TRUE(t->FindOrInsert(Key(10)).ok());
  EXPECT_EQ(t->size(), 10u);
}

TEST_P(StateTableTest, KeyLongerThanLimitRejected) {
  StateOptions o = Options();
  o.key_bytes_max = 8;
  auto t = MustOpen(o);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->FindOrInsert("123456789").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(t->FindOrInsert("12345678").ok());
  EXPECT_EQ(t->size(), 1u);
}

TEST_P(StateTableTest, ForEachSeesEverythingOnceAndKeepsChanges) {
  auto t = MustOpen(Options(/*cache_entries_max=*/16));
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 500);
  for (int i = 0; i < 500; i += 3) ASSERT_TRUE(t->Erase(Key(i)).ok());
  std::map<std::string, Agg> want;
  for (int i = 0; i < 500; ++i) {
    if (i % 3 != 0) want[Key(i)] = ValueFor(i);
  }
  EXPECT_EQ(Content(t.get()), want);

  ASSERT_TRUE(t->ForEach([](std::string_view, Agg& v) {
                 v.sum += 1;
                 return Status::OK();
               }).ok());
  for (auto& [key, v] : want) v.sum += 1;
  EXPECT_EQ(Content(t.get()), want);

  // An error from the callback stops the walk.
  int calls = 0;
  Status s = t->ForEach([&](std::string_view, Agg&) {
    ++calls;
    return Internal("stop");
  });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(calls, 1);

  // Changes made before a stop are kept, and the table stays consistent (checkpoint works).
  calls = 0;
  std::vector<std::string> changed;
  s = t->ForEach([&](std::string_view key, Agg& v) {
    if (++calls > 5) return Internal("stop");
    v.count += 100;
    changed.emplace_back(key);
    return Status::OK();
  });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  ASSERT_EQ(changed.size(), 5u);
  for (const auto& key : changed) want[key].count += 100;
  ASSERT_TRUE(t->Checkpoint(Dir("after-stop")).ok());
  EXPECT_EQ(Content(t.get()), want);
}

TEST_P(StateTableTest, FailedCheckpointWriteIsVisibleAndHarmless) {
  FaultInjectionEnv env(Env::Default());
  StateOptions o = Options(/*cache_entries_max=*/8);
  o.env = &env;
  auto t = MustOpen(o);
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 200);
  env.SetWriteBudget(100);
  auto failed = t->Checkpoint(Dir("full"));
  EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted) << failed.status().ToString();
  EXPECT_FALSE(fs::exists(Dir("full") + "/state.snap"));
  EXPECT_FALSE(fs::exists(Dir("full") + "/state.manifest"));
  env.SetWriteBudget(-1);
  ASSERT_TRUE(t->Checkpoint(Dir("ok")).ok());
  Fill(t.get(), 200, 210);
  ASSERT_TRUE(t->Restore(Dir("ok")).ok());
  EXPECT_EQ(t->size(), 200u);
}

TEST_P(StateTableTest, RestoreReturnsExactlyTheCheckpointedContent) {
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

TEST_P(StateTableTest, SnapshotRestoresIntoAFreshTable) {
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

TEST_P(StateTableTest, CheckpointOfEmptyTable) {
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

TEST_P(StateTableTest, CheckpointIntoNonEmptyDirectoryRefused) {
  auto t = MustOpen(Options());
  ASSERT_NE(t, nullptr);
  fs::create_directories(Dir("busy"));
  std::ofstream(Dir("busy") + "/other") << "x";
  EXPECT_EQ(t->Checkpoint(Dir("busy")).status().code(), StatusCode::kAlreadyExists);
}

TEST_P(StateTableTest, RestoreWithoutSnapshotIsNotFound) {
  auto t = MustOpen(Options());
  ASSERT_NE(t, nullptr);
  fs::create_directories(Dir("nothing"));
  EXPECT_EQ(t->Restore(Dir("nothing")).code(), StatusCode::kNotFound);
}

// Rewrites `path` with one byte flipped at `offset` (a new inode: checkpoints hard-link files
// that the live DB shares).
void FlipByte(const fs::path& path, uint64_t offset) {
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_LT(offset, data.size());
  data[offset] ^= 0x5a;
  fs::remove(path);
  std::ofstream(path, std::ios::binary) << data;
}

TEST_P(StateTableTest, CorruptSnapshotIsDataLossAndKeepsContent) {
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

TEST_P(StateTableTest, TruncatedSnapshotIsDataLoss) {
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

TEST_P(StateTableTest, CorruptManifestOrValueIsDataLoss) {
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

TEST_P(StateTableTest, RestoreBeyondEntriesMaxRefused) {
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

TEST_P(StateTableTest, SnapshotOfTheOtherBackendRestores) {
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

TEST_P(StateTableTest, TableLargerThanCacheRoundTrips) {
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

INSTANTIATE_TEST_SUITE_P(Backends, StateTableTest, ::testing::Values(Backend::kMemory, Backend::kRocksDb),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param == Backend::kMemory ? std::string("Memory") : std::string("RocksDb");
                         });

TEST(StateTableOpen, RejectsBadOptions) {
  StateOptions o;
  o.entries_max = 0;
  EXPECT_EQ(StateTable<int64_t>::Open(o).status().code(), StatusCode::kInvalidArgument);
  o = StateOptions();
  o.backend = Backend::kRocksDb;
  EXPECT_EQ(StateTable<int64_t>::Open(o).status().code(), StatusCode::kInvalidArgument);  // no rocksdb_dir
  o.rocksdb_dir = ::testing::TempDir() + "/impulse_state_badopts";
  o.cache_entries_max = 0;
  EXPECT_EQ(StateTable<int64_t>::Open(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(StateTableOpen, RocksDbOpenStartsEmpty) {
  StateOptions o;
  o.backend = Backend::kRocksDb;
  o.rocksdb_dir = ::testing::TempDir() + "/impulse_state_reopen_" + std::to_string(::getpid());
  {
    auto t = StateTable<int64_t>::Open(o);
    ASSERT_TRUE(t.ok());
    **(*t)->FindOrInsert("k") = 1;
    ASSERT_TRUE((*t)->Checkpoint(o.rocksdb_dir + "-ckpt").ok());  // forces the value into an SST
  }
  auto t = StateTable<int64_t>::Open(o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->size(), 0u);
  EXPECT_EQ(*(*t)->Find("k"), nullptr);
  t = Status(StatusCode::kInternal, "close");
  fs::remove_all(o.rocksdb_dir);
  fs::remove_all(o.rocksdb_dir + "-ckpt");
}

}  // namespace
}  // namespace impulse::state
