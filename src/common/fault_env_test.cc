#include "common/fault_env.h"

#include <stdlib.h>

#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace impulse {
namespace {

class FaultEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/impulse_fault_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)std::system(("rm -rf " + dir_).c_str()); }
  FaultInjectionEnv env_{Env::Default()};
  std::string dir_;
};

TEST_F(FaultEnvTest, BudgetFailsWholeAppendAndWritesNothing) {
  auto f = env_.OpenWritable(dir_ + "/f");
  ASSERT_TRUE(f.ok());
  env_.SetWriteBudget(10);
  ASSERT_TRUE((*f)->Append("123456").ok());
  const Status s = (*f)->Append("78901");  // 5 > 4 left
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ((*f)->Size(), 6u);
  ASSERT_TRUE((*f)->Append("7890").ok());  // exactly fits
  EXPECT_EQ(env_.write_budget(), 0);
  env_.SetWriteBudget(-1);
  ASSERT_TRUE((*f)->Append("x").ok());
  ASSERT_TRUE((*f)->Close().ok());
  EXPECT_EQ(*env_.ReadFile(dir_ + "/f"), "1234567890x");
  EXPECT_EQ(env_.bytes_appended(), 11u);
}

TEST_F(FaultEnvTest, SyncSwitchAndCounter) {
  auto f = env_.OpenWritable(dir_ + "/f");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Sync().ok());
  env_.SetSyncFails(true);
  EXPECT_EQ((*f)->Sync().code(), StatusCode::kIOError);
  EXPECT_EQ(env_.SyncDir(dir_).code(), StatusCode::kIOError);
  env_.SetSyncFails(false);
  ASSERT_TRUE(env_.SyncDir(dir_).ok());
  EXPECT_EQ(env_.syncs(), 2u);
}

TEST_F(FaultEnvTest, OpBudgetStopsEveryLaterOperation) {
  auto f = env_.OpenWritable(dir_ + "/f");
  ASSERT_TRUE(f.ok());
  env_.SetOpBudget(2);
  ASSERT_TRUE((*f)->Append("ab").ok());
  ASSERT_TRUE(env_.CreateDirs(dir_ + "/d").ok());
  EXPECT_EQ((*f)->Append("cd").code(), StatusCode::kIOError);
  EXPECT_EQ((*f)->Truncate(0).code(), StatusCode::kIOError);
  EXPECT_EQ(env_.RenameFile(dir_ + "/f", dir_ + "/g").code(), StatusCode::kIOError);
  EXPECT_EQ(env_.DeleteDir(dir_ + "/d").code(), StatusCode::kIOError);
  EXPECT_EQ(env_.DeleteFile(dir_ + "/f").code(), StatusCode::kIOError);
  // Nothing of the failed operations happened.
  EXPECT_EQ(*Env::Default()->ReadFile(dir_ + "/f"), "ab");
  EXPECT_TRUE(Env::Default()->FileExists(dir_ + "/d"));
  EXPECT_EQ(env_.ops(), 7u);
  env_.SetOpBudget(-1);
  ASSERT_TRUE(env_.DeleteDir(dir_ + "/d").ok());
  EXPECT_FALSE(env_.FileExists(dir_ + "/d"));
}

TEST_F(FaultEnvTest, IsDirectoryAndDeleteDir) {
  ASSERT_TRUE(env_.CreateDirs(dir_ + "/sub").ok());
  ASSERT_TRUE(env_.WriteFileAtomic(dir_ + "/sub/x", "1").ok());
  EXPECT_TRUE(*env_.IsDirectory(dir_ + "/sub"));
  EXPECT_FALSE(*env_.IsDirectory(dir_ + "/sub/x"));
  EXPECT_EQ(env_.IsDirectory(dir_ + "/none").status().code(), StatusCode::kNotFound);
  EXPECT_CODE(env_.DeleteDir(dir_ + "/sub"), kIOError);  // not empty
  ASSERT_TRUE(env_.DeleteFile(dir_ + "/sub/x").ok());
  ASSERT_TRUE(env_.DeleteDir(dir_ + "/sub").ok());
  EXPECT_EQ(env_.DeleteDir(dir_ + "/sub").code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace impulse
