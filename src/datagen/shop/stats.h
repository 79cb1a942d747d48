// The statistics of a shop simulator run that docs/SHOP_SIMULATOR.md documents, measured from
// the events alone (as a consumer would see them), and the check of a run against the documented
// values. Used by the tests; one thread, memory O(users * categories + items * 8 + sessions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datagen/shop/simulator.h"

namespace impulse::shop {

struct ShopSummary {
  uint64_t events = 0;
  uint64_t sessions = 0;
  double views_per_session = 0;         // mean
  double single_view_sessions = 0;      // share of sessions with exactly one view
  double long_sessions = 0;             // share of sessions with more than 10 views
  double events_per_session = 0;        // mean, all types
  double cart_per_view = 0;             // carts / views
  double purchase_per_cart = 0;         // purchases / carts
  double top1pct_item_view_share = 0;   // views of the 1% most viewed items (of all released)
  double top10pct_item_view_share = 0;  // views of the 10% most viewed items
  double new_item_view_share = 0;       // views of items released during the run
  // Trends: share of a day's views on the previous day's 5% most viewed items, and on those of
  // 7 days before (mean over days 7..).
  double yesterday_top_share = 0;
  double week_ago_top_share = 0;
  // Items of the initial catalogue with >= 10 views on a day and at least 4 x (1 + their mean
  // daily views over the 7 days before): mean per day over days 7.. (trends, not launches).
  double bursts_per_day = 0;
  // Next view's category (views after a session's first, from day 1 on) predicted by the
  // session's previous view (fresh) and by the user's most viewed category before today
  // (nightly batch); accuracy of each.
  double next_category_fresh_accuracy = 0;
  double next_category_nightly_accuracy = 0;
  // Drift: a user's top category over the first third of the days' even sessions; its share of
  // the same third's odd sessions (early) and of the last third's views (late). Mean over users
  // with >= 10 views in each part.
  double top_category_share_early = 0;
  double top_category_share_late = 0;
};

class ShopStats {
 public:
  // `options`: the run's (users, items, categories and days size the counters).
  explicit ShopStats(const SimulatorOptions& options);
  // Events in output order.
  void Add(const Event& event);
  // `items_total`: items released by the end of the run (Simulator::items().size()).
  ShopSummary Finish(size_t items_total);

 private:
  struct OpenSession {
    uint32_t views = 0;
    uint32_t events = 0;
    uint32_t last_category = UINT32_MAX;
  };
  void CloseDay();
  void DayTrendStatistics();

  SimulatorOptions options_;
  uint64_t events_ = 0;
  uint64_t views_ = 0;
  uint64_t carts_ = 0;
  uint64_t purchases_ = 0;
  std::vector<OpenSession> sessions_;                    // by session id (dense)
  std::vector<uint64_t> item_views_;                     // whole run
  std::vector<std::vector<uint32_t>> daily_item_views_;  // last 8 days, ring by day % 8
  int64_t day_ = 0;                                      // day of the last event
  double yesterday_share_sum_ = 0;
  double week_share_sum_ = 0;
  uint32_t trend_days_ = 0;
  uint64_t bursts_ = 0;
  uint64_t new_item_views_ = 0;
  // Per user x category view counts: before today, and today.
  std::vector<uint32_t> history_;
  std::vector<uint32_t> today_;
  std::vector<uint32_t> nightly_top_;  // per user, argmax of history_ (UINT32_MAX: none)
  uint64_t fresh_hits_ = 0;
  uint64_t nightly_hits_ = 0;
  uint64_t predictions_ = 0;
  std::vector<uint32_t> early_even_;  // per user x category
  std::vector<uint32_t> early_odd_;
  std::vector<uint32_t> late_;
};

// The documented statistics of the reduced run (ReducedRunOptions) and their tolerances;
// returns one line per statistic outside its range (empty: the run matches the document).
std::vector<std::string> CheckDocumentedStatistics(const ShopSummary& summary);

// The run the tests measure: the defaults scaled down (2 000 users, 1 000 items, 10 new items and
// 2 trends a day, 21 days).
SimulatorOptions ReducedRunOptions(uint64_t seed);

}  // namespace impulse::shop
