// `impulse generate shop` end to end: the binary's stdout, exit codes and determinism.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "datagen/shop/format.h"
#include "datagen/shop/simulator.h"
#include "run_command.h"

namespace {

using Output = CommandOutput;

Output RunImpulse(const std::string& args) {
  return RunShell(std::string(IMPULSE_BINARY) + " " + args + " 2>/dev/null");
}

constexpr const char* kSmall = "generate shop --users 1000 --items 500 --days 4 --quiet";

// Byte-identical per seed, and equal to the library's own rendering: the command's 1 MiB output
// chunks (this output spans several) change nothing.
TEST(GenerateShopTest, SameSeedSameBytesAsTheLibrary) {
  const Output a = RunImpulse(std::string(kSmall) + " --seed 4 --format ndjson");
  const Output b = RunImpulse(std::string(kSmall) + " --seed 4 --format ndjson");
  const Output c = RunImpulse(std::string(kSmall) + " --seed 5 --format ndjson");
  ASSERT_EQ(a.exit_code, 0);
  ASSERT_GT(a.out.size(), 2u << 20);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);

  impulse::shop::SimulatorOptions options;
  options.users = 1000;
  options.items = 500;
  options.days = 4;
  options.seed = 4;
  auto sim = impulse::shop::Simulator::Create(options);
  ASSERT_TRUE(sim.ok());
  std::string expected;
  std::vector<impulse::shop::Event> day;
  while ((*sim)->NextDay(&day)) {
    for (const auto& e : day) {
      impulse::shop::AppendEvent(e, options.start_epoch_day, impulse::shop::OutputFormat::kNdjson, &expected);
    }
  }
  EXPECT_TRUE(a.out == expected) << "the command's output differs from the library's";

  std::string catalogue = "item_id,category,price,release_datetime\n";
  for (uint32_t i : impulse::shop::ItemReleaseOrder((*sim)->items())) {
    impulse::shop::AppendItem(i, (*sim)->items()[i], options.start_epoch_day, impulse::shop::OutputFormat::kCsv,
                              &catalogue);
  }
  const Output items = RunImpulse(std::string(kSmall) + " --seed 4 --output items");
  ASSERT_EQ(items.exit_code, 0);
  EXPECT_EQ(items.out, catalogue);
}

TEST(GenerateShopTest, CsvHeaderAndStartDate) {
  const Output a = RunImpulse(std::string(kSmall) + " --start 2020-02-28");
  ASSERT_EQ(a.exit_code, 0);
  ASSERT_TRUE(
      a.out.starts_with("event_id,event_datetime,user_id,session_id,item_id,category,price,type\n0,2020-02-28 "))
      << a.out.substr(0, 200);
  // The last sessions start on 2020-03-02 (4 days from 2020-02-28, a leap year).
  const size_t last = a.out.rfind('\n', a.out.size() - 2);
  ASSERT_NE(last, std::string::npos);
  const std::string last_line = a.out.substr(last + 1);
  EXPECT_NE(last_line.find(",2020-03-0"), std::string::npos) << last_line;
}

TEST(GenerateShopTest, HelpListsOnlyShopOptions) {
  const Output o = RunImpulse("generate shop --help");
  EXPECT_EQ(o.exit_code, 0);
  for (const char* flag : {"--users", "--items", "--categories", "--days", "--new-items-per-day", "--start", "--seed",
                           "--format", "--output", "--quiet"}) {
    EXPECT_NE(o.out.find(flag), std::string::npos) << flag;
  }
  EXPECT_EQ(o.out.find("--customers"), std::string::npos);
  EXPECT_EQ(o.out.find("--events"), std::string::npos);
}

TEST(GenerateShopTest, BadArgumentsExitWithUsage) {
  EXPECT_EQ(RunImpulse("generate shop --start 2019-02-29").exit_code, 2);
  EXPECT_EQ(RunImpulse("generate shop --format xml").exit_code, 2);
  EXPECT_EQ(RunImpulse("generate shop --output users").exit_code, 2);
  EXPECT_EQ(RunImpulse("generate shop --users 0").exit_code, 2);
  EXPECT_EQ(RunImpulse("generate shop --categories 3").exit_code, 2);
  EXPECT_EQ(RunImpulse("generate shop --days x").exit_code, 2);
  EXPECT_EQ(RunImpulse("generate shops").exit_code, 2);
}

}  // namespace
