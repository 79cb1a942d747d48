#include "datagen/ysb/generator.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <string>

namespace impulse::ysb {
namespace {

Generator Make(const GeneratorConfig& c) {
  auto g = Generator::Create(c);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return std::move(*g);
}

TEST(YsbGeneratorTest, TablesHaveTheOriginalSizesAndDistinctUuids) {
  const Generator g = Make({});
  EXPECT_EQ(g.num_ads(), 1000u);
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (uint32_t a = 0; a < g.num_ads(); ++a) {
    EXPECT_TRUE(std::regex_match(g.ad_id(a), uuid)) << g.ad_id(a);
    seen.insert(g.ad_id(a));
  }
  for (uint32_t c = 0; c < 100; ++c) seen.insert(g.campaign_id(c));
  EXPECT_EQ(seen.size(), 1100u);  // no id repeats across the two tables
  EXPECT_EQ(g.CampaignOfAd(0), 0u);
  EXPECT_EQ(g.CampaignOfAd(9), 0u);
  EXPECT_EQ(g.CampaignOfAd(10), 1u);
  EXPECT_EQ(g.CampaignOfAd(999), 99u);
}

TEST(YsbGeneratorTest, AnEventIsAFunctionOfSeedAndIndex) {
  GeneratorConfig c;
  c.seed = 7;
  const Generator a = Make(c), b = Make(c);
  AdEvent x, y;
  for (uint64_t i : {uint64_t{0}, uint64_t{1}, uint64_t{12345}, kMaxEventIndex - 1}) {
    a.EventAt(i, &x);
    b.EventAt(i, &y);
    EXPECT_EQ(x.user_id, y.user_id);
    EXPECT_EQ(x.page_id, y.page_id);
    EXPECT_EQ(x.ad_id, y.ad_id);
    EXPECT_EQ(x.ad_type, y.ad_type);
    EXPECT_EQ(x.event_type, y.event_type);
    EXPECT_EQ(x.event_time, y.event_time);
    EXPECT_EQ(x.ip_address, "1.2.3.4");
    EXPECT_EQ(x.ad_id, a.ad_id(x.ad_index));
    EXPECT_EQ(x.event_type, kEventTypes[x.event_type_index]);
  }
  c.seed = 8;
  const Generator other = Make(c);
  int same = 0;
  for (uint64_t i = 0; i < 100; ++i) {
    a.EventAt(i, &x);
    other.EventAt(i, &y);
    same += x.ad_id == y.ad_id ? 1 : 0;
  }
  EXPECT_LT(same, 100);  // a different seed gives different ids (and so different ad_id strings)
}

TEST(YsbGeneratorTest, TimestampsFollowTheRate) {
  GeneratorConfig c;
  c.events_per_second = 3;
  c.first_event_ms = 1000;
  const Generator g = Make(c);
  EXPECT_EQ(g.TimestampAt(0), 1000);
  EXPECT_EQ(g.TimestampAt(1), 1333);
  EXPECT_EQ(g.TimestampAt(2), 1666);
  EXPECT_EQ(g.TimestampAt(3), 2000);
  EXPECT_EQ(g.OffsetUsAt(1), 333'333);
  AdEvent e;
  g.EventAt(2, &e);
  EXPECT_EQ(e.event_time, 1666);
}

TEST(YsbGeneratorTest, DrawsAreUniformOverTheSets) {
  const Generator g = Make({});
  constexpr int kN = 300'000;
  std::map<std::string_view, int> types, ad_types;
  std::vector<int> ads(g.num_ads());
  AdEvent e;
  for (int i = 0; i < kN; ++i) {
    g.EventAt(static_cast<uint64_t>(i), &e);
    ++types[e.event_type];
    ++ad_types[e.ad_type];
    ++ads[e.ad_index];
  }
  ASSERT_EQ(types.size(), 3u);
  for (const auto& [t, n] : types) EXPECT_NEAR(n, kN / 3, kN / 100) << t;
  ASSERT_EQ(ad_types.size(), 5u);
  for (const auto& [t, n] : ad_types) EXPECT_NEAR(n, kN / 5, kN / 100) << t;
  for (int n : ads) EXPECT_NEAR(n, kN / 1000, 90);  // 300 expected, sd ~17: 5 sd
}

TEST(YsbGeneratorTest, ConfigOutOfRangeIsRefusedByName) {
  GeneratorConfig c;
  c.events_per_second = 0;
  EXPECT_NE(Generator::Create(c).status().message().find("events_per_second"), std::string::npos);
  c = {};
  c.num_campaigns = 0;
  EXPECT_NE(Generator::Create(c).status().message().find("num_campaigns"), std::string::npos);
  c = {};
  c.num_campaigns = 10'000;
  c.ads_per_campaign = 1'000;
  EXPECT_NE(Generator::Create(c).status().message().find("num_campaigns * ads_per_campaign"), std::string::npos);
  c = {};
  c.num_users = 0;
  EXPECT_NE(Generator::Create(c).status().message().find("num_users"), std::string::npos);
}

}  // namespace
}  // namespace impulse::ysb
