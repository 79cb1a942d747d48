#include <stdlib.h>

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "impulse/env.h"

namespace impulse {
namespace {

class EnvPosixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/impulse_env_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)std::system(("rm -rf " + dir_).c_str()); }
  Env* env_ = Env::Default();
  std::string dir_;
};

TEST_F(EnvPosixTest, AppendTruncateAndReadBack) {
  const std::string path = dir_ + "/f";
  auto w = env_->OpenWritable(path);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Append("hello ").ok());
  ASSERT_TRUE((*w)->Append("world").ok());
  EXPECT_EQ((*w)->Size(), 11u);
  ASSERT_TRUE((*w)->Sync().ok());
  ASSERT_TRUE((*w)->Truncate(5).ok());
  ASSERT_TRUE((*w)->Append("!").ok());  // appends at the truncated position
  ASSERT_TRUE((*w)->Close().ok());
  auto data = env_->ReadFile(path);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, "hello!");

  // Reopening for append continues at the end.
  auto w2 = env_->OpenWritable(path);
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ((*w2)->Size(), 6u);

  auto r = env_->OpenRandomAccess(path);
  ASSERT_TRUE(r.ok());
  char buf[16];
  auto n = (*r)->Read(1, 16, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "ello!");
  EXPECT_EQ(*(*r)->Size(), 6u);
}

TEST_F(EnvPosixTest, DirectoriesListRenameDelete) {
  const std::string sub = dir_ + "/a/b/c";
  ASSERT_TRUE(env_->CreateDirs(sub).ok());
  ASSERT_TRUE(env_->CreateDirs(sub).ok());  // idempotent
  ASSERT_TRUE(env_->WriteFileAtomic(sub + "/x", "1").ok());
  ASSERT_TRUE(env_->RenameFile(sub + "/x", sub + "/y").ok());
  EXPECT_FALSE(env_->FileExists(sub + "/x"));
  EXPECT_TRUE(env_->FileExists(sub + "/y"));
  auto names = env_->ListDir(sub);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"y"});  // no ".", "..", nor the atomic temp file
  ASSERT_TRUE(env_->SyncDir(sub).ok());
  ASSERT_TRUE(env_->DeleteFile(sub + "/y").ok());
  EXPECT_EQ(env_->DeleteFile(sub + "/y").code(), StatusCode::kNotFound);
}

TEST_F(EnvPosixTest, ErrorsNameTheFile) {
  auto r = env_->OpenRandomAccess(dir_ + "/missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(dir_ + "/missing"), std::string::npos);
  EXPECT_EQ(env_->ListDir(dir_ + "/nope").status().code(), StatusCode::kNotFound);
}

TEST_F(EnvPosixTest, WriteFileAtomicReplaces) {
  const std::string path = dir_ + "/ckpt";
  ASSERT_TRUE(env_->WriteFileAtomic(path, "a much longer first version").ok());
  ASSERT_TRUE(env_->WriteFileAtomic(path, "v2").ok());
  EXPECT_EQ(*env_->ReadFile(path), "v2");
}

TEST(RealClock, MonotonicAndWall) {
  Clock* c = Clock::Real();
  const int64_t a = c->NowNs();
  const int64_t b = c->NowNs();
  EXPECT_LE(a, b);
  EXPECT_GT(c->NowMs(), 1'600'000'000'000);  // after 2020
}

}  // namespace
}  // namespace impulse
