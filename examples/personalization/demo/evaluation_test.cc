// The personalization evaluation on a hand-made clickstream whose cases, lists and metrics are
// worked out by hand in the comments below.
#include "examples/personalization/demo/evaluation.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/status_matchers.h"

namespace impulse::examples::personalization {
namespace {

using shop::Event;
using shop::EventType;

Event E(uint64_t id, int64_t t, uint32_t user, uint64_t session, uint32_t item, uint32_t category, EventType type) {
  Event e;
  e.event_id = id;
  e.time_seconds = t;
  e.user_id = user;
  e.session_id = session;
  e.item_id = item;
  e.category = category;
  e.type = type;
  return e;
}

constexpr EventType kView = EventType::kView;

// Items 1 and 3 are in category 0, items 2 and 4 in category 1.
std::vector<Event> Events() {
  return {
      E(0, 10, 0, 0, 1, 0, kView),                   //
      E(1, 20, 1, 1, 2, 1, kView),                   //
      E(2, 30, 1, 1, 1, 0, kView),                   //
      E(3, 40, 2, 3, 4, 1, kView),                   //
      E(4, 50, 2, 3, 4, 1, kView),                   //
      E(5, 60, 2, 3, 4, 1, kView),                   // before the period: item 4 viewed 3 times
      E(6, 120, 0, 2, 2, 1, kView),                  // session 2 starts in the period
      E(7, 130, 0, 2, 3, 0, kView),                  //
      E(8, 135, 0, 2, 3, 0, EventType::kCart),       // not a click
      E(9, 210, 0, 2, 1, 0, kView),                  //
      E(10, 215, 0, 2, 2, 1, kView),                 // the session's last view
      E(11, 250, 0, 2, 3, 0, EventType::kPurchase),  //
      E(12, 305, 1, 4, 1, 0, kView),                 //
      E(13, 310, 1, 4, 4, 1, kView),                 //
      E(14, 330, 1, 4, 3, 0, EventType::kPurchase),  //
  };
}

// Period [100, inf): next clicks at events 6 (-> 3), 7 (-> 1), 9 (-> 2), 12 (-> 4); sessions
// 1 and 3 are before the period, event 10 has no later view. Next purchases: session 2's
// item 3 predicted at its first view (event 6), session 4's item 3 at event 12.
std::vector<Case> ExpectedCases() {
  return {{6, 3, Target::kNextClick}, {6, 3, Target::kNextPurchase}, {7, 1, Target::kNextClick},
          {9, 2, Target::kNextClick}, {12, 4, Target::kNextClick},   {12, 3, Target::kNextPurchase}};
}

bool operator==(const Case& a, const Case& b) {
  return a.at == b.at && a.target_item == b.target_item && a.target == b.target;
}

TEST(BuildCases, NextClicksAndSessionPurchasesInThePeriod) {
  const auto events = Events();
  auto cases = BuildCases(events, {.eval_from_seconds = 100});
  ASSERT_CODE(cases.status(), kOk);
  const std::vector<Case> expected = ExpectedCases();
  ASSERT_EQ(cases->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE((*cases)[i] == expected[i])
        << "case " << i << ": at " << (*cases)[i].at << " target " << (*cases)[i].target_item;
  }
  // The period's end excludes prediction points at or after it: only events 6, 7 and 9.
  auto early = BuildCases(events, {.eval_from_seconds = 100, .eval_to_seconds = 305});
  ASSERT_CODE(early.status(), kOk);
  EXPECT_EQ(early->size(), 4u);
}

TEST(BuildCases, RefusesEventsOutOfOrderAndSessionsNotStartingWithAView) {
  auto events = Events();
  std::swap(events[3], events[4]);
  events[3].time_seconds = 55;
  EXPECT_CODE(BuildCases(events, {}).status(), kInvalidArgument);
  auto cart_first = Events();
  cart_first[0].type = EventType::kCart;
  EXPECT_CODE(BuildCases(cart_first, {}).status(), kInvalidArgument);
}

const PopularityOptions kSmallWindow{.window_seconds = 200, .refresh_seconds = 100};

// Global popularity, refreshed every 100 s over the last 200 s:
//   event 6 (t 120, as of 100, views in [-100, 100)): 4 x3, 1 x2, 2 x1 -> [4, 1, 2]: 3 misses
//   event 7 (t 130, as of 100): [4, 1, 2], 1 at rank 2 -> 1 / log2(3)
//   event 9 (t 210, as of 200, [0, 200)): 4 x3, 1 x2, 2 x2 (tie: 1 first), 3 x1 -> 2 at rank 3 -> 1/2
//   event 12 (t 305, as of 300, [100, 300)): item 4's views expired: 2 x2, 1, 3 -> [2, 1, 3]:
//     click 4 missed, purchase 3 at rank 3 -> 1/2
TEST(Evaluate, GlobalPopularityByHand) {
  const auto events = Events();
  auto source = PopularitySource::Create(kSmallWindow);
  ASSERT_CODE(source.status(), kOk);
  const std::vector<Case> cases = ExpectedCases();
  auto r = Evaluate(events, cases, &*source);
  ASSERT_CODE(r.status(), kOk);
  EXPECT_EQ(r->next_click.cases, 4u);
  EXPECT_EQ(r->next_click.hits, 2u);
  EXPECT_EQ(r->next_click.without_list, 0u);
  EXPECT_DOUBLE_EQ(r->next_click.hit_rate(), 0.5);
  EXPECT_NEAR(r->next_click.ndcg(), (1 / std::log2(3.0) + 0.5) / 4, 1e-12);
  EXPECT_EQ(r->next_purchase.cases, 2u);
  EXPECT_EQ(r->next_purchase.hits, 1u);
  EXPECT_NEAR(r->next_purchase.ndcg(), 0.25, 1e-12);
  // Ages 20, 30, 10, 5 s.
  EXPECT_EQ(r->freshness.lists, 4u);
  EXPECT_DOUBLE_EQ(r->freshness.mean_seconds, 16.25);
  EXPECT_DOUBLE_EQ(r->freshness.p50_seconds, 10);
  EXPECT_DOUBLE_EQ(r->freshness.p90_seconds, 30);
  EXPECT_DOUBLE_EQ(r->freshness.max_seconds, 30);
}

// Per category (the prediction event's):
//   event 6 (category 1, as of 100): 4 x3, 2 x1 -> [4, 2]: misses
//   event 7 (category 0): [1] -> 1 at rank 1
//   event 9 (category 0, as of 200): 1 x2, 3 x1 -> [1, 3]: 2 missed
//   event 12 (category 0, as of 300): 1 x1, 3 x1 -> [1, 3]: 4 missed, purchase 3 at rank 2
TEST(Evaluate, PerCategoryPopularityByHand) {
  const auto events = Events();
  PopularityOptions options = kSmallWindow;
  options.per_category = true;
  auto source = PopularitySource::Create(options);
  ASSERT_CODE(source.status(), kOk);
  auto r = Evaluate(events, ExpectedCases(), &*source);
  ASSERT_CODE(r.status(), kOk);
  EXPECT_EQ(r->next_click.hits, 1u);
  EXPECT_DOUBLE_EQ(r->next_click.hit_rate(), 0.25);
  EXPECT_DOUBLE_EQ(r->next_click.ndcg(), 0.25);
  EXPECT_EQ(r->next_purchase.hits, 1u);
  EXPECT_NEAR(r->next_purchase.ndcg(), 1 / std::log2(3.0) / 2, 1e-12);
}

TEST(Evaluate, RecordedListsByEventId) {
  const auto events = Events();
  RecordedRecommendations recorded;
  ASSERT_CODE(recorded.Add(6, {.items = {3, 9}, .as_of_seconds = 119}), kOk);
  // Item 2 at position 11: beyond the first 10, a miss.
  ASSERT_CODE(recorded.Add(9, {.items = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 2}}), kOk);
  ASSERT_CODE(recorded.Add(12, {.items = {}}), kOk);
  ASSERT_CODE(recorded.Add(8, {.items = {3}}), kOk);  // a cart: no prediction point, unused
  EXPECT_CODE(recorded.Add(12, {.items = {4}}), kInvalidArgument);
  // Event 7: no list.
  auto r = Evaluate(events, ExpectedCases(), &recorded);
  ASSERT_CODE(r.status(), kOk);
  EXPECT_EQ(r->next_click.cases, 4u);
  EXPECT_EQ(r->next_click.hits, 1u);
  EXPECT_EQ(r->next_click.without_list, 2u);  // events 7 and 12
  EXPECT_DOUBLE_EQ(r->next_click.ndcg(), 0.25);
  EXPECT_EQ(r->next_purchase.hits, 1u);
  EXPECT_EQ(r->next_purchase.without_list, 1u);
  EXPECT_EQ(r->freshness.lists, 1u);  // only event 6's list has an as-of time
  EXPECT_DOUBLE_EQ(r->freshness.max_seconds, 1);
  EXPECT_EQ(recorded.size(), 4u);
  EXPECT_EQ(recorded.used(), 3u);
}

// The lists of RecordedListsByEventId, as NDJSON lines of a ranker's output stream.
TEST(ParseRecordedNdjson, ReadsListsByEventIdAndTheirAsOfTime) {
  const int64_t day = 19786;  // the events' start day; as_of 119 s after its midnight
  const std::string ms = std::to_string(day * shop::kSecondsPerDay * 1000 + 119'500);
  const std::string text = "{\"event_id\":6,\"user_id\":0,\"recs\":\"[3,9]\",\"recs_as_of_ms\":" + ms +
                           "}\n"
                           "\n"
                           "{\"recs\":\"[\\\"10\\\",11,12,13,14,15,16,17,18,19,2]\",\"event_id\":9}\n"
                           "{\"event_id\":12,\"recs\":\"[]\"}\n"
                           "{\"event_id\":13,\"recs\":null}\n";
  RecordedRecommendations recorded;
  ASSERT_CODE(ParseRecordedNdjson(text, day, &recorded), kOk);
  auto r = Evaluate(Events(), ExpectedCases(), &recorded);
  ASSERT_CODE(r.status(), kOk);
  EXPECT_EQ(r->next_click.hits, 1u);
  EXPECT_EQ(r->next_click.without_list, 2u);
  EXPECT_EQ(r->next_purchase.hits, 1u);
  EXPECT_EQ(r->freshness.lists, 1u);
  EXPECT_DOUBLE_EQ(r->freshness.max_seconds, 1);  // 120 - 119 (119.5 floored)
  EXPECT_EQ(recorded.size(), 3u);                 // a null recs is no list
  EXPECT_EQ(recorded.used(), 3u);
}

TEST(ParseRecordedNdjson, RefusesBadLines) {
  for (const char* bad : {"{\"event_id\":1}", "{\"recs\":\"[1]\"}", "{\"event_id\":1,\"recs\":\"[1,\"}",
                          "{\"event_id\":1,\"recs\":\"[-1]\"}", "{\"event_id\":1,\"recs\":\"[1.5]\"}",
                          "{\"event_id\":1,\"recs\":[1]}", "{\"event_id\":-1,\"recs\":\"[1]\"}", "[1]",
                          "{\"event_id\":1,\"recs\":\"[1]\"}\n{\"event_id\":1,\"recs\":\"[2]\"}"}) {
    RecordedRecommendations recorded;
    EXPECT_CODE(ParseRecordedNdjson(bad, 0, &recorded), kInvalidArgument) << bad;
  }
}

TEST(Evaluate, RefusesRepeatedItemsAndCasesBeyondTheEvents) {
  const auto events = Events();
  RecordedRecommendations recorded;
  ASSERT_CODE(recorded.Add(6, {.items = {4, 4}}), kOk);
  EXPECT_CODE(Evaluate(events, ExpectedCases(), &recorded).status(), kInvalidArgument);
  RecordedRecommendations empty;
  const std::vector<Case> beyond = {{events.size(), 1, Target::kNextClick}};
  EXPECT_CODE(Evaluate(events, beyond, &empty).status(), kInvalidArgument);
  EXPECT_CODE(PopularitySource::Create({.window_seconds = 0}).status(), kInvalidArgument);
}

}  // namespace
}  // namespace impulse::examples::personalization
