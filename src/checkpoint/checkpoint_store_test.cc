#include "checkpoint/checkpoint_store.h"

#include <stdlib.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "common/fault_env.h"

namespace impulse::checkpoint {
namespace {

class FixedClock final : public Clock {
 public:
  int64_t NowMs() const override { return now_ms.load(); }
  int64_t NowNs() const override { return now_ms.load() * 1'000'000; }
  std::atomic<int64_t> now_ms{1'700'000'000'000};
};

class CheckpointStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/impulse_ckpt_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/data/checkpoints";
  }
  void TearDown() override { (void)std::system(("rm -rf '" + root_ + "'").c_str()); }

  std::unique_ptr<CheckpointStore> OpenStore(int retain = 3, Env* env = Env::Default()) {
    auto r = CheckpointStore::Open(env, dir_, retain, &clock_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  // Commits a checkpoint with one state file "state" = "s<id>" and one position "p" = id.
  uint64_t CommitOne(CheckpointStore& store) {
    auto p = store.Begin();
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return 0;
    EXPECT_TRUE(p->WriteFile("state", "s" + std::to_string(p->id)).ok());
    CheckpointManifest m;
    m.positions = {{"p", p->id}};
    const Status s = store.Commit(*p, m);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return p->id;
  }
  static void Overwrite(const std::string& path, const std::string& data) {
    auto w = Env::Default()->OpenWritable(path);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Truncate(0).ok());
    ASSERT_TRUE((*w)->Append(data).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  static void FlipByte(const std::string& path, size_t pos) {
    std::string data = *Env::Default()->ReadFile(path);
    ASSERT_LT(pos, data.size());
    data[pos] = static_cast<char>(data[pos] ^ 0x20);
    Overwrite(path, data);
  }

  FixedClock clock_;
  std::string root_;
  std::string dir_;
};

TEST_F(CheckpointStoreTest, EmptyStoreHasNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->List()->empty());
  auto latest = store->LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_FALSE(latest->has_value());
  EXPECT_EQ(store->Load(1).status().code(), StatusCode::kNotFound);
}

TEST_F(CheckpointStoreTest, RetainMustBePositive) {
  EXPECT_EQ(CheckpointStore::Open(Env::Default(), dir_, 0).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CheckpointStoreTest, CommitListLoadReadFile) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto p = store->Begin();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->id, 1u);
  EXPECT_EQ(p->dir, dir_ + "/1.pending");
  EXPECT_TRUE(Env::Default()->FileExists(p->dir));
  ASSERT_TRUE(p->WriteFile("op-a", "alpha").ok());
  ASSERT_TRUE(p->WriteFile("op-b", std::string(3000, 'b')).ok());
  CheckpointManifest m;
  m.spec_fingerprint = "fp-1";
  m.positions = {{"cursor/q/bids/0", 10}, {"end/out/0", 7}};
  m.pause_us = 250;
  ASSERT_TRUE(store->Commit(*p, m).ok());
  EXPECT_TRUE(p->finished());
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/1.pending"));
  EXPECT_EQ(store->DirOf(1), dir_ + "/1");

  auto list = store->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const CheckpointInfo& info = (*list)[0];
  EXPECT_EQ(info.id, 1u);
  EXPECT_TRUE(info.complete) << info.problem;
  EXPECT_EQ(info.created_ms, clock_.now_ms.load());
  EXPECT_EQ(info.pause_us, 250);
  EXPECT_EQ(info.positions, 2u);
  EXPECT_EQ(info.files, 2u);
  const uint64_t manifest_bytes = Env::Default()->ReadFile(dir_ + "/1/MANIFEST")->size();
  EXPECT_EQ(info.bytes, 5 + 3000 + manifest_bytes);

  auto latest = store->LoadLatest();
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  const CheckpointManifest& got = **latest;
  EXPECT_EQ(got.id, 1u);
  EXPECT_EQ(got.spec_fingerprint, "fp-1");
  EXPECT_EQ(got.positions, m.positions);
  ASSERT_EQ(got.files.size(), 2u);
  EXPECT_EQ(got.files[0].name, "op-a");
  EXPECT_EQ(got.files[0].bytes, 5u);
  EXPECT_EQ(got.files[1].bytes, 3000u);
  EXPECT_EQ(*store->ReadFile(1, "op-a"), "alpha");
  EXPECT_EQ(store->ReadFile(1, "nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Load(1)->positions, m.positions);
}

TEST_F(CheckpointStoreTest, WriteFileRejectsBadNamesAndDuplicates) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto p = store->Begin();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->WriteFile("a/b", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p->WriteFile("MANIFEST", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p->WriteFile("..", "x").code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(p->WriteFile("a", "x").ok());
  EXPECT_EQ(p->WriteFile("a", "y").code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(store->Commit(*p, {}).ok());
  EXPECT_EQ(p->WriteFile("b", "x").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Commit(*p, {}).code(), StatusCode::kFailedPrecondition);
}

TEST_F(CheckpointStoreTest, RetainKeepsTheNewestComplete) {
  auto store = OpenStore(/*retain=*/2);
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 4; ++i) CommitOne(*store);
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, 4u);
  EXPECT_EQ((*list)[1].id, 3u);
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/1"));
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/2"));
  EXPECT_TRUE(store->last_cleanup_error().ok());
}

TEST_F(CheckpointStoreTest, BackendSubdirectoriesAreKeptCountedAndDeleted) {
  auto store = OpenStore(/*retain=*/1);
  ASSERT_NE(store, nullptr);
  auto p = store->Begin();
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(Env::Default()->CreateDirs(p->dir + "/rocks/sub").ok());
  ASSERT_TRUE(Env::Default()->WriteFileAtomic(p->dir + "/rocks/sub/000001.sst", std::string(100, 'r')).ok());
  ASSERT_TRUE(store->Commit(*p, {}).ok());
  EXPECT_EQ(*Env::Default()->ReadFile(dir_ + "/1/rocks/sub/000001.sst"), std::string(100, 'r'));
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_GE((*list)[0].bytes, 100u);
  CommitOne(*store);  // retain 1: checkpoint 1 and its tree go
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/1"));
  EXPECT_TRUE(store->last_cleanup_error().ok()) << store->last_cleanup_error().ToString();
}

TEST_F(CheckpointStoreTest, CrashBeforeManifestLeavesAPendingDirThatIsIgnoredAndCleaned) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    CommitOne(*store);
    auto p = store->Begin();
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p->WriteFile("state", "half").ok());
    // "crash": the store goes away without Commit.
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, 2u);
  EXPECT_FALSE((*list)[0].complete);
  EXPECT_NE((*list)[0].problem.find("pending"), std::string::npos);
  EXPECT_TRUE((*list)[1].complete);
  std::vector<std::string> skipped;
  auto latest = store->LoadLatest(&skipped);
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((**latest).id, 1u);
  EXPECT_TRUE(skipped.empty());  // a pending dir is not a checkpoint
  EXPECT_EQ(store->Load(2).status().code(), StatusCode::kDataLoss);

  auto p = store->Begin();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->id, 3u);
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/2.pending"));
  ASSERT_TRUE(store->Commit(*p, {}).ok());
  EXPECT_EQ((**store->LoadLatest()).id, 3u);
}

TEST_F(CheckpointStoreTest, FailedManifestWriteThenAbort) {
  FaultInjectionEnv fenv(Env::Default());
  auto store = OpenStore(3, &fenv);
  ASSERT_NE(store, nullptr);
  CommitOne(*store);
  auto p = store->Begin();
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->WriteFile("state", "x").ok());
  fenv.SetWriteBudget(10);  // the manifest does not fit
  EXPECT_EQ(store->Commit(*p, {}).code(), StatusCode::kResourceExhausted);
  fenv.SetWriteBudget(-1);
  EXPECT_EQ((**store->LoadLatest()).id, 1u);
  ASSERT_TRUE(store->Abort(*p).ok());
  EXPECT_FALSE(Env::Default()->FileExists(p->dir));
  EXPECT_EQ(CommitOne(*store), 3u);  // ids are not reused
}

// A crash at every file-system step of Commit: afterwards the newest loadable checkpoint is
// the previous one or the new one, and nothing is reported corrupt.
TEST_F(CheckpointStoreTest, CrashAtEveryCommitStepLoadsOldOrNew) {
  bool saw_old = false;
  bool saw_new = false;
  for (int64_t ops = 0; ops < 200; ++ops) {
    SCOPED_TRACE("op budget " + std::to_string(ops));
    dir_ = root_ + "/crash" + std::to_string(ops);
    FaultInjectionEnv fenv(Env::Default());
    Status s;
    {
      auto store = OpenStore(/*retain=*/1, &fenv);
      ASSERT_NE(store, nullptr);
      CommitOne(*store);
      auto p = store->Begin();
      ASSERT_TRUE(p.ok());
      ASSERT_TRUE(p->WriteFile("state", "new").ok());
      fenv.SetOpBudget(ops);
      s = store->Commit(*p, {});
    }
    auto store = OpenStore(1);
    ASSERT_NE(store, nullptr);
    std::vector<std::string> skipped;
    auto latest = store->LoadLatest(&skipped);
    ASSERT_TRUE(latest.ok()) << latest.status().ToString();
    ASSERT_TRUE(latest->has_value());
    EXPECT_TRUE(skipped.empty()) << skipped[0];
    const uint64_t id = (**latest).id;
    EXPECT_TRUE(id == 1 || id == 2) << id;
    if (id == 2) {
      EXPECT_EQ(*store->ReadFile(2, "state"), "new");
    }
    (id == 1 ? saw_old : saw_new) = true;
    if (s.ok()) {
      EXPECT_EQ(id, 2u);
      break;
    }
  }
  EXPECT_TRUE(saw_old);
  EXPECT_TRUE(saw_new);
}

TEST_F(CheckpointStoreTest, CorruptManifestIsSkippedForThePreviousOne) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  CommitOne(*store);
  CommitOne(*store);
  FlipByte(dir_ + "/2/MANIFEST", 30);
  std::vector<std::string> skipped;
  auto latest = store->LoadLatest(&skipped);
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((**latest).id, 1u);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].rfind("checkpoint 2: ", 0), 0u) << skipped[0];
  EXPECT_EQ(store->Load(2).status().code(), StatusCode::kDataLoss);
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  EXPECT_FALSE((*list)[0].complete);
  EXPECT_FALSE((*list)[0].problem.empty());
  EXPECT_TRUE((*list)[1].complete);
}

TEST_F(CheckpointStoreTest, CorruptOrTruncatedStateFileIsSkipped) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  CommitOne(*store);
  CommitOne(*store);
  CommitOne(*store);
  FlipByte(dir_ + "/3/state", 1);     // same size: only the CRC tells
  Overwrite(dir_ + "/2/state", "s");  // shorter
  std::vector<std::string> skipped;
  auto latest = store->LoadLatest(&skipped);
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((**latest).id, 1u);
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_NE(skipped[0].find("checksum"), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[1].find("bytes"), std::string::npos) << skipped[1];
  EXPECT_EQ(store->ReadFile(3, "state").status().code(), StatusCode::kDataLoss);
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_TRUE((*list)[0].complete);   // List checks sizes only
  EXPECT_FALSE((*list)[1].complete);  // truncated
}

TEST_F(CheckpointStoreTest, IdsIncreaseAcrossReopen) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(CommitOne(*store), 1u);
    EXPECT_EQ(CommitOne(*store), 2u);
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->next_id(), 3u);
  EXPECT_EQ(CommitOne(*store), 3u);
  EXPECT_EQ((**store->LoadLatest()).id, 3u);
}

TEST_F(CheckpointStoreTest, UnknownEntriesAreIgnored) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  CommitOne(*store);
  ASSERT_TRUE(Env::Default()->WriteFileAtomic(dir_ + "/README", "x").ok());
  ASSERT_TRUE(Env::Default()->CreateDirs(dir_ + "/007").ok());  // leading zero: not ours
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
  CommitOne(*store);
  EXPECT_TRUE(Env::Default()->FileExists(dir_ + "/README"));
  EXPECT_TRUE(Env::Default()->FileExists(dir_ + "/007"));
}

}  // namespace
}  // namespace impulse::checkpoint
