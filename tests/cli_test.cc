// The impulse binary as a new user meets it: what each mistake prints and the exit code.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace impulse {
namespace {

namespace fs = std::filesystem;

struct Output {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};

Output RunImpulse(const std::string& args) {
  Output o;
  FILE* p = popen((std::string(IMPULSE_BINARY) + " " + args + " 2>&1 </dev/null").c_str(), "r");
  if (p == nullptr) return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) o.out.append(buf, n);
  const int st = pclose(p);
  o.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

bool Has(const Output& o, const std::string& text) { return o.out.find(text) != std::string::npos; }

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("impulse_cli_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  fs::path dir_;
};

constexpr const char* kSpec = R"(streams:
  - name: tx
    fields:
      - {name: id, type: int64}
      - {name: user_id, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: user_id
    event_time: ts
    partitions: 1
pipelines:
  - name: velocity
    from: tx
    steps:
      - window: {tumbling: 1m, key: user_id, aggregates: {n: count(), s: sum(amount)}}
    sink: {stream: tx_velocity}
)";

TEST_F(Cli, BackfillWithLateRowsFailsUnlessAllowed) {
  const std::string spec = Write("spec.yaml", kSpec);
  // The fourth row is 10 minutes behind the third: late for the 1 minute windows.
  const std::string in = Write("in.csv",
                               "ID,USER_ID,AMOUNT,TS\n"
                               "1,7,1.5,1700000000000\n"
                               "2,7,2.5,1700000100000\n"
                               "3,7,3.5,1700000900000\n"
                               "4,7,4.5,1700000300000\n");
  const std::string out = (dir_ / "out.csv").string();
  Output o = RunImpulse("backfill " + spec + " --input " + in + " --out " + out);
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "backfill: error: 1 events were late")) << o.out;
  EXPECT_TRUE(Has(o, "--allow-late")) << o.out;
  o = RunImpulse("backfill " + spec + " --input " + in + " --out " + out + " --allow-late");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_TRUE(Has(o, "backfill: warning: 1 events were late")) << o.out;
}

TEST_F(Cli, BackfillColumnFlags) {
  const std::string spec = Write("spec.yaml", kSpec);
  const std::string in = Write("in.csv",
                               "ID,CUSTOMER,AMOUNT,TS,IS_FRAUD\n"
                               "1,7,1.5,1700000000000,0\n");
  const std::string out = (dir_ / "out.csv").string();
  Output o = RunImpulse("backfill " + spec + " --input " + in + " --out " + out);
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "column 2 'CUSTOMER' is not a field of stream tx")) << o.out;
  o = RunImpulse("backfill " + spec + " --input " + in + " --out " + out +
                 " --column CUSTOMER=user_id --ignore-unknown-columns");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  o = RunImpulse("backfill " + spec + " --input " + in + " --out " + out + " --column CUSTOMER");
  EXPECT_EQ(o.exit_code, 2) << o.out;
  EXPECT_TRUE(Has(o, "expected COLUMN=FIELD")) << o.out;
}

}  // namespace
}  // namespace impulse
