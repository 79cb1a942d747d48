#include "datagen/ysb/reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

namespace impulse::ysb {
namespace {

// The reference against a count made by hand from the same events with the generator's own
// ad -> campaign rule (ad_index / ads_per_campaign), a different path from the reference's
// string map.
TEST(YsbReferenceTest, CountsViewsPerCampaignAndWindow) {
  GeneratorConfig c;
  c.seed = 3;
  c.events_per_second = 1000;
  c.first_event_ms = 1'700'000'004'000;  // not aligned to 10 s: the first window is partial
  auto g = Generator::Create(c);
  ASSERT_TRUE(g.ok());
  constexpr uint64_t kEvents = 30'000;  // 30 s: 4 windows, the first and last partial
  const std::vector<WindowCount> rows = ViewsPerCampaignWindow(*g, kEvents, 10'000);
  std::map<std::pair<uint32_t, int64_t>, int64_t> expected;
  AdEvent e;
  uint64_t views = 0;
  for (uint64_t i = 0; i < kEvents; ++i) {
    g->EventAt(i, &e);
    if (e.event_type_index != 0) continue;
    ++views;
    ++expected[{g->CampaignOfAd(e.ad_index), e.event_time / 10'000 * 10'000}];
  }
  ASSERT_EQ(rows.size(), expected.size());
  int64_t total = 0;
  std::set<int64_t> windows;
  for (const WindowCount& r : rows) {
    total += r.views;
    windows.insert(r.window_start);
    EXPECT_EQ(r.window_end, r.window_start + 10'000);
    uint32_t campaign = 0;
    while (campaign < c.num_campaigns && g->campaign_id(campaign) != r.campaign_id) ++campaign;
    ASSERT_LT(campaign, c.num_campaigns) << r;
    EXPECT_EQ(r.views, (expected[{campaign, r.window_start}])) << r;
  }
  EXPECT_EQ(static_cast<uint64_t>(total), views);
  EXPECT_EQ(windows, (std::set<int64_t>{1'700'000'000'000, 1'700'000'010'000, 1'700'000'020'000, 1'700'000'030'000}));
  EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end()));
}

}  // namespace
}  // namespace impulse::ysb
