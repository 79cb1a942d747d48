#include "state/state_table.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/fault_env.h"
#include "state/state_table_test_util.h"

namespace impulse::state::test {
namespace {

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

// Issue: a full disk under RocksDB (NoSpace, kResourceExhausted) in a Get or a write-back had the
// code of an entries_max refusal, and operators turned it into a state_limit row. Only a bound
// sets refused_by_bound; a backend failure with the same code does not.
TEST_P(StateTableTest, OnlyABoundSetsRefusedByBound) {
  StateOptions o = Options(/*cache_entries_max=*/3);
  o.entries_max = 4;
  o.key_bytes_max = 8;
  auto t = MustOpen(o);
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 4);
  bool refused = false;
  EXPECT_EQ(t->FindOrInsert(Key(10), nullptr, &refused).status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(refused);
  refused = false;
  EXPECT_EQ(t->FindOrInsert("123456789", nullptr, &refused).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(refused);
  EXPECT_TRUE(t->FindOrInsert(Key(0), nullptr, &refused).ok());
  EXPECT_FALSE(refused);

  for (StatusCode code : {StatusCode::kResourceExhausted, StatusCode::kInvalidArgument, StatusCode::kIOError}) {
    StateOptions f = Options(/*cache_entries_max=*/3);
    f.fail_after_ops_for_test = 1;
    f.fail_code_for_test = code;
    auto broken = MustOpen(f);
    ASSERT_NE(broken, nullptr);
    ASSERT_TRUE(broken->FindOrInsert(Key(0)).ok());
    refused = true;
    EXPECT_EQ(broken->FindOrInsert(Key(1), nullptr, &refused).status().code(), code);
    EXPECT_FALSE(refused) << StatusCodeName(code);
  }
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
    v.count += 100;
    changed.emplace_back(key);
    return ++calls == 5 ? Internal("stop") : Status::OK();
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

INSTANTIATE_TEST_SUITE_P(Backends, StateTableTest, ::testing::Values(Backend::kMemory, Backend::kRocksDb), BackendName);

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

TEST(StateTableOpen, RocksDbDirectoryUsedOnceAtATime) {
  StateOptions o;
  o.backend = Backend::kRocksDb;
  o.rocksdb_dir = ::testing::TempDir() + "/impulse_state_shared_" + std::to_string(::getpid());
  auto first = StateTable<int64_t>::Open(o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  **(*first)->FindOrInsert("k") = 1;
  auto second = StateTable<int64_t>::Open(o);
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  auto v = (*first)->Find("k");  // the first table's DB was left alone
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_NE(*v, nullptr);
  EXPECT_EQ(**v, 1);
  first = Status(StatusCode::kInternal, "close");
  EXPECT_TRUE(StateTable<int64_t>::Open(o).ok());  // free again once closed
  fs::remove_all(o.rocksdb_dir);
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
}  // namespace impulse::state::test
