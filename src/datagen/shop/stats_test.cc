// The statistics docs/SHOP_SIMULATOR.md states, measured on the reduced run; and, for each
// check, a run with one parameter set wrong that the check catches (so no check is vacuous).
#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "datagen/shop/simulator.h"
#include "datagen/shop/stats.h"

namespace impulse::shop {
namespace {

ShopSummary Measure(const SimulatorOptions& options) {
  auto sim = Simulator::Create(options);
  EXPECT_TRUE(sim.ok()) << sim.status().ToString();
  ShopStats stats(options);
  std::vector<Event> day;
  while ((*sim)->NextDay(&day)) {
    for (const Event& e : day) stats.Add(e);
  }
  return stats.Finish((*sim)->items().size());
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

class DocumentedStatisticsTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DocumentedStatisticsTest, ReducedRunMatchesTheDocument) {
  const ShopSummary s = Measure(ReducedRunOptions(GetParam()));
  EXPECT_GT(s.events, 120'000u);
  EXPECT_LT(s.events, 160'000u);
  const std::vector<std::string> violations = CheckDocumentedStatistics(s);
  EXPECT_TRUE(violations.empty()) << Join(violations);
  // The signals the personalization example relies on, with margin.
  EXPECT_GT(s.next_category_fresh_accuracy, s.next_category_nightly_accuracy + 0.3);
  EXPECT_GT(s.top_category_share_early, s.top_category_share_late + 0.03);
  EXPECT_GT(s.yesterday_top_share, s.week_ago_top_share);
}

INSTANTIATE_TEST_SUITE_P(Seeds, DocumentedStatisticsTest, ::testing::Values(0, 1, 2));

struct WrongParameter {
  const char* name;
  std::function<void(SimulatorOptions*)> set;
  std::vector<std::string> caught_by;  // statistics that must be reported outside their range
};

// gtest prints a parameter in test names and messages: its name, not its bytes.
void PrintTo(const WrongParameter& p, std::ostream* os) { *os << p.name; }

class WrongParameterTest : public ::testing::TestWithParam<WrongParameter> {};

TEST_P(WrongParameterTest, IsCaught) {
  SimulatorOptions options = ReducedRunOptions(1);
  GetParam().set(&options);
  const std::vector<std::string> violations = CheckDocumentedStatistics(Measure(options));
  for (const std::string& stat : GetParam().caught_by) {
    bool found = false;
    for (const std::string& v : violations) found |= v.starts_with(stat + " =");
    EXPECT_TRUE(found) << stat << " not caught; violations:\n" << Join(violations);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Parameters, WrongParameterTest,
    ::testing::Values(
        WrongParameter{"SessionStop",
                       [](auto* o) { o->session_stop_probability = 0.22; },
                       {"views_per_session", "single_view_sessions", "long_sessions"}},
        WrongParameter{"Cart", [](auto* o) { o->cart_probability = 0.07; }, {"cart_per_view"}},
        WrongParameter{"Purchase", [](auto* o) { o->purchase_probability = 0.45; }, {"purchase_per_cart"}},
        WrongParameter{"AppealLow", [](auto* o) { o->appeal_sigma = 1.0; }, {"top10pct_item_view_share"}},
        WrongParameter{"AppealHigh",
                       [](auto* o) { o->appeal_sigma = 1.4; },
                       {"top1pct_item_view_share", "top10pct_item_view_share"}},
        WrongParameter{"NoTrends", [](auto* o) { o->trend_boost = 0; }, {"bursts_per_day"}},
        WrongParameter{"NoLaunchBoost", [](auto* o) { o->launch_boost = 0; }, {"new_item_view_share"}},
        WrongParameter{"NoDrift", [](auto* o) { o->drift_probability = 0; }, {"early_minus_late_top_share"}},
        WrongParameter{
            "IntentSwitch", [](auto* o) { o->intent_switch_probability = 0.3; }, {"next_category_fresh_accuracy"}},
        WrongParameter{"Explore", [](auto* o) { o->explore_probability = 0.3; }, {"next_category_nightly_accuracy"}}),
    [](const ::testing::TestParamInfo<WrongParameter>& param_info) { return std::string(param_info.param.name); });

}  // namespace
}  // namespace impulse::shop
