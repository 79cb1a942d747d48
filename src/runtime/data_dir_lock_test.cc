// One engine per data directory (DATA/LOCK): what else rewrites a directory must respect it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/dir_lock.h"
#include "impulse/engine.h"

namespace impulse {
namespace {

constexpr const char* kSpec = R"(streams:
  - name: tx
    fields:
      - {name: user_id, type: int64}
      - {name: amount, type: double}
    key: user_id
pipelines:
  - name: big
    from: tx
    steps:
      - filter: amount > 100
    sink: {stream: big_tx}
)";

class DataDirLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse_dir_lock_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  EngineOptions Options() {
    EngineOptions o;
    o.data_dir = dir_.string();
    o.shards = 1;
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 0;
    return o;
  }
  std::filesystem::path dir_;
};

TEST_F(DataDirLockTest, OneHolderAtATimeInAProcessToo) {
  std::filesystem::create_directories(dir_);
  auto first = DirLock::Acquire(dir_.string());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = DirLock::Acquire(dir_.string());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  first->reset();
  EXPECT_TRUE(DirLock::Acquire(dir_.string()).ok());
}

// A group member's new owner writes the snapshot into the member's directory: never while a
// member engine still runs there (an owner not yet stopped), whose files it would delete.
TEST_F(DataDirLockTest, WriteMemberSnapshotRefusesADirectoryAnEngineRuns) {
  auto engine = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  MemberSnapshot snap;
  snap.files.emplace_back("checkpoints/x", "y");
  const Status st = WriteMemberSnapshot(dir_.string(), snap);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_TRUE(std::filesystem::exists(dir_ / "streams" / "tx")) << "the running engine's logs were deleted";
  EXPECT_FALSE(std::filesystem::exists(dir_ / "checkpoints" / "x"));
  ASSERT_TRUE((*engine)->Stop().ok());

  // Stopped: the directory is replaced, and the engine that opens it next holds the same LOCK
  // (the file is kept, so a writer and an engine never lock two different files).
  ASSERT_TRUE(WriteMemberSnapshot(dir_.string(), snap).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "streams"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "checkpoints" / "x"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "LOCK"));
}

// The demos empty their data directory at start: never one an engine runs on.
TEST_F(DataDirLockTest, AcquireEmptiedRefusesADirectoryAnEngineRuns) {
  auto engine = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto refused = DirLock::AcquireEmptied(dir_.string());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(dir_ / "streams" / "tx")) << "the running engine's logs were deleted";
  ASSERT_TRUE((*engine)->Stop().ok());
  engine->reset();
  {
    auto emptied = DirLock::AcquireEmptied(dir_.string());
    ASSERT_TRUE(emptied.ok()) << emptied.status().ToString();
    EXPECT_FALSE(std::filesystem::exists(dir_ / "streams"));
    EXPECT_TRUE(std::filesystem::exists(dir_ / "LOCK"));
    // Held until released: an engine opening the directory meanwhile is refused.
    EXPECT_EQ(Engine::OpenSpec(kSpec, Options()).status().code(), StatusCode::kFailedPrecondition);
  }
  EXPECT_TRUE(Engine::OpenSpec(kSpec, Options()).ok());
}

}  // namespace
}  // namespace impulse
