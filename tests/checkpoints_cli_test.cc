// End to end: `impulse checkpoints list` over a store written through the library.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <simdjson.h>

#include <string>

#include <gtest/gtest.h>

#include "checkpoint/checkpoint_store.h"
#include "run_command.h"

namespace impulse {
namespace {

using Output = CommandOutput;

Output RunImpulse(const std::string& args) { return RunShell(std::string(IMPULSE_BINARY) + " " + args + " 2>&1"); }

class CheckpointsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/impulse_ckpt_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    data_ = tmpl;
  }
  void TearDown() override { (void)std::system(("rm -rf '" + data_ + "'").c_str()); }
  std::string data_;
};

TEST_F(CheckpointsCli, ListsNewestFirstWithProblems) {
  {
    auto store = checkpoint::CheckpointStore::Open(Env::Default(), data_ + "/checkpoints");
    ASSERT_TRUE(store.ok());
    for (int i = 0; i < 2; ++i) {
      auto p = (*store)->Begin();
      ASSERT_TRUE(p.ok());
      ASSERT_TRUE(p->WriteFile("state", "0123456789").ok());
      checkpoint::CheckpointManifest m;
      m.created_ms = 1'700'000'000'123;
      m.pause_us = 40 + i;
      m.spec_fingerprint = "fp";
      m.positions = {{"cursor/a/b/0", 1}, {"end/s/0", 2}, {"file/x", 3}};
      ASSERT_TRUE((*store)->Commit(*p, m).ok());
    }
    auto p = (*store)->Begin();  // left pending, like a crash
    ASSERT_TRUE(p.ok());
  }
  Output text = RunImpulse("checkpoints list --data-dir " + data_);
  EXPECT_EQ(text.exit_code, 0) << text.out;
  const size_t l3 = text.out.find("3  ");
  const size_t l2 = text.out.find("2  2023-11-14T22:13:20.123Z  complete");
  const size_t l1 = text.out.find("1  2023-11-14T22:13:20.123Z  complete");
  ASSERT_NE(l3, std::string::npos) << text.out;
  ASSERT_NE(l2, std::string::npos) << text.out;
  ASSERT_NE(l1, std::string::npos) << text.out;
  EXPECT_LT(l3, l2);
  EXPECT_LT(l2, l1);
  EXPECT_NE(text.out.find("pending"), std::string::npos);
  EXPECT_NE(text.out.find("pause_us=41  positions=3"), std::string::npos) << text.out;

  Output json = RunImpulse("checkpoints list --json --data-dir " + data_);
  ASSERT_EQ(json.exit_code, 0) << json.out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json.out).get(doc), simdjson::SUCCESS) << json.out;
  simdjson::dom::array arr;
  ASSERT_EQ(doc.get_array().get(arr), simdjson::SUCCESS);
  ASSERT_EQ(arr.size(), 3u);
  EXPECT_EQ(uint64_t(arr.at(0)["id"]), 3u);
  EXPECT_FALSE(bool(arr.at(0)["complete"]));
  EXPECT_EQ(uint64_t(arr.at(1)["id"]), 2u);
  EXPECT_TRUE(bool(arr.at(1)["complete"]));
  EXPECT_EQ(int64_t(arr.at(1)["pause_us"]), 41);
  EXPECT_EQ(uint64_t(arr.at(1)["positions"]), 3u);
  EXPECT_GT(uint64_t(arr.at(1)["bytes"]), 10u);
}

TEST_F(CheckpointsCli, NoCheckpointsIsNotAnErrorAndCreatesNothing) {
  Output text = RunImpulse("checkpoints list --data-dir " + data_);
  EXPECT_EQ(text.exit_code, 0) << text.out;
  EXPECT_NE(text.out.find("no checkpoints"), std::string::npos);
  Output json = RunImpulse("checkpoints list --json --data-dir " + data_);
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_EQ(json.out, "[]\n");
  EXPECT_FALSE(Env::Default()->FileExists(data_ + "/checkpoints"));
}

TEST_F(CheckpointsCli, UsageErrorsExitTwo) {
  EXPECT_EQ(RunImpulse("checkpoints list").exit_code, 2);
  EXPECT_EQ(RunImpulse("checkpoints frobnicate --data-dir " + data_).exit_code, 2);
}

}  // namespace
}  // namespace impulse
