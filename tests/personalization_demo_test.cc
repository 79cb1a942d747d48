// `impulse demo personalization` end to end on a small simulation: it runs, prints both
// baselines with metrics in [0, 1], category popularity beats global popularity on next clicks
// (the simulator's sessions stay in a category), and bad arguments exit with usage.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "run_command.h"

namespace {

CommandOutput RunImpulse(const std::string& args) {
  return RunShell(std::string(IMPULSE_BINARY) + " " + args + " 2>/dev/null");
}

// The four numbers after a row's name: HR@10 and NDCG@10 of next click and next purchase.
std::vector<double> Metrics(const std::string& out, const std::string& name) {
  const size_t at = out.find(name);
  if (at == std::string::npos) return {};
  std::istringstream line(out.substr(at + name.size(), out.find('\n', at) - at - name.size()));
  std::vector<double> v(4, -1);
  for (double& x : v) line >> x;
  return v;
}

TEST(PersonalizationDemoTest, PrintsBothBaselines) {
  const CommandOutput o = RunImpulse("demo personalization --users 2000 --items 1000 --days 8 --heldout-days 2");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  const std::vector<double> global = Metrics(o.out, "(c) global popularity (views, 1 d, hourly)");
  const std::vector<double> category = Metrics(o.out, "(d) category popularity (views, 1 d, hourly)");
  ASSERT_EQ(global.size(), 4u) << o.out;
  ASSERT_EQ(category.size(), 4u) << o.out;
  for (double x : global) EXPECT_TRUE(x >= 0 && x <= 1) << o.out;
  for (double x : category) EXPECT_TRUE(x >= 0 && x <= 1) << o.out;
  EXPECT_GT(category[0], global[0]) << o.out;
  EXPECT_NE(o.out.find("(a) live event-driven ranker"), std::string::npos);
}

TEST(PersonalizationDemoTest, BadArgumentsExitWithUsage) {
  EXPECT_EQ(RunImpulse("demo personalization --days 5 --heldout-days 5").exit_code, 2);
  EXPECT_EQ(RunImpulse("demo personalization --heldout-days 0").exit_code, 2);
  EXPECT_EQ(RunImpulse("demo personalization --users 0").exit_code, 2);
  EXPECT_EQ(RunImpulse("demo personalization --bogus").exit_code, 2);
  EXPECT_EQ(RunImpulse("demo personalization --help").exit_code, 0);
}

}  // namespace
