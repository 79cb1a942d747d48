#include "datagen/shop/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace impulse::shop {
namespace {

uint32_t ArgMax(const uint32_t* counts, uint32_t n) {
  uint32_t best = UINT32_MAX;
  uint32_t best_count = 0;
  for (uint32_t k = 0; k < n; ++k) {
    if (counts[k] > best_count) {
      best = k;
      best_count = counts[k];
    }
  }
  return best;
}

// Share of `counts`' total held by the `top` largest entries of `ranking`.
double TopShare(const std::vector<uint32_t>& ranking, const std::vector<uint32_t>& counts, size_t top) {
  std::vector<uint32_t> ids(ranking.size());
  for (uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
  top = std::min(top, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(top), ids.end(),
                    [&](uint32_t a, uint32_t b) { return ranking[a] != ranking[b] ? ranking[a] > ranking[b] : a < b; });
  uint64_t total = 0;
  for (uint32_t c : counts) total += c;
  uint64_t held = 0;
  for (size_t j = 0; j < top; ++j) held += ids[j] < counts.size() ? counts[ids[j]] : 0;
  return total == 0 ? 0 : static_cast<double>(held) / static_cast<double>(total);
}

}  // namespace

ShopStats::ShopStats(const SimulatorOptions& options)
    : options_(options),
      daily_item_views_(8),
      history_(size_t{options.users} * options.categories),
      today_(size_t{options.users} * options.categories),
      nightly_top_(options.users, UINT32_MAX),
      early_even_(size_t{options.users} * options.categories),
      early_odd_(size_t{options.users} * options.categories),
      late_(size_t{options.users} * options.categories) {}

// The trend statistics of the current day, once its views are complete (events come in time
// order).
void ShopStats::DayTrendStatistics() {
  if (day_ < 7) return;
  auto& today = daily_item_views_[day_ % 8];
  const size_t top = std::max<size_t>(1, today.size() / 20);
  yesterday_share_sum_ += TopShare(daily_item_views_[(day_ - 1) % 8], today, top);
  week_share_sum_ += TopShare(daily_item_views_[(day_ - 7) % 8], today, top);
  ++trend_days_;
  const auto views = [&](int64_t day, uint32_t item) -> double {
    const auto& counts = daily_item_views_[day % 8];
    return item < counts.size() ? counts[item] : 0;
  };
  for (uint32_t i = 0; i < std::min<size_t>(options_.items, today.size()); ++i) {
    double before = 0;
    for (int64_t d = day_ - 7; d < day_; ++d) before += views(d, i);
    bursts_ += today[i] >= 10 && today[i] >= 4 * (1 + before / 7);
  }
}

void ShopStats::CloseDay() {
  DayTrendStatistics();
  for (size_t i = 0; i < history_.size(); ++i) history_[i] += today_[i];
  std::fill(today_.begin(), today_.end(), 0);
  for (uint32_t u = 0; u < options_.users; ++u) {
    nightly_top_[u] = ArgMax(&history_[size_t{u} * options_.categories], options_.categories);
  }
  ++day_;
  daily_item_views_[day_ % 8].clear();
}

void ShopStats::Add(const Event& e) {
  while (e.time_seconds / kSecondsPerDay > day_ && day_ + 1 < options_.days) CloseDay();
  ++events_;
  if (e.session_id >= sessions_.size()) sessions_.resize(e.session_id + 1);
  OpenSession& s = sessions_[e.session_id];
  ++s.events;
  if (e.type == EventType::kCart) ++carts_;
  if (e.type == EventType::kPurchase) ++purchases_;
  if (e.type != EventType::kView) return;
  ++views_;
  auto& day_views = daily_item_views_[day_ % 8];
  if (e.item_id >= day_views.size()) day_views.resize(e.item_id + 1);
  ++day_views[e.item_id];
  if (e.item_id >= item_views_.size()) item_views_.resize(e.item_id + 1);
  ++item_views_[e.item_id];
  if (e.item_id >= options_.items) ++new_item_views_;
  const size_t uc = size_t{e.user_id} * options_.categories + e.category;
  if (s.views > 0 && nightly_top_[e.user_id] != UINT32_MAX) {
    ++predictions_;
    fresh_hits_ += s.last_category == e.category;
    nightly_hits_ += nightly_top_[e.user_id] == e.category;
  }
  ++s.views;
  s.last_category = e.category;
  ++today_[uc];
  const int64_t third = options_.days / 3;
  if (day_ < third) ++(e.session_id % 2 == 0 ? early_even_ : early_odd_)[uc];
  if (day_ >= options_.days - third) ++late_[uc];
}

ShopSummary ShopStats::Finish(size_t items_total) {
  ShopSummary r;
  DayTrendStatistics();  // the last day's (its views are complete now)
  r.events = events_;
  uint64_t single = 0;
  uint64_t longer = 0;
  uint64_t events_in_sessions = 0;
  for (const OpenSession& s : sessions_) {
    if (s.events == 0) continue;  // an id of a session that started after the run's events
    ++r.sessions;
    single += s.views == 1;
    longer += s.views > 10;
    events_in_sessions += s.events;
  }
  const auto ratio = [](double a, double b) { return b == 0 ? 0 : a / b; };
  r.views_per_session = ratio(static_cast<double>(views_), static_cast<double>(r.sessions));
  r.single_view_sessions = ratio(static_cast<double>(single), static_cast<double>(r.sessions));
  r.long_sessions = ratio(static_cast<double>(longer), static_cast<double>(r.sessions));
  r.events_per_session = ratio(static_cast<double>(events_in_sessions), static_cast<double>(r.sessions));
  r.cart_per_view = ratio(static_cast<double>(carts_), static_cast<double>(views_));
  r.purchase_per_cart = ratio(static_cast<double>(purchases_), static_cast<double>(carts_));
  std::vector<uint64_t> sorted = item_views_;
  sorted.resize(std::max(items_total, sorted.size()), 0);
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  const auto top_share = [&](size_t top) {
    uint64_t held = 0;
    for (size_t j = 0; j < std::max<size_t>(1, top); ++j) held += sorted[j];
    return ratio(static_cast<double>(held), static_cast<double>(views_));
  };
  r.top1pct_item_view_share = top_share(sorted.size() / 100);
  r.top10pct_item_view_share = top_share(sorted.size() / 10);
  r.new_item_view_share = ratio(static_cast<double>(new_item_views_), static_cast<double>(views_));
  r.yesterday_top_share = ratio(yesterday_share_sum_, trend_days_);
  r.week_ago_top_share = ratio(week_share_sum_, trend_days_);
  r.bursts_per_day = ratio(static_cast<double>(bursts_), trend_days_);
  r.next_category_fresh_accuracy = ratio(static_cast<double>(fresh_hits_), static_cast<double>(predictions_));
  r.next_category_nightly_accuracy = ratio(static_cast<double>(nightly_hits_), static_cast<double>(predictions_));
  double early_sum = 0;
  double late_sum = 0;
  uint32_t users = 0;
  const uint32_t k_count = options_.categories;
  for (uint32_t u = 0; u < options_.users; ++u) {
    const size_t base = size_t{u} * k_count;
    uint32_t odd_total = 0;
    uint32_t late_total = 0;
    uint32_t even_total = 0;
    for (uint32_t k = 0; k < k_count; ++k) {
      even_total += early_even_[base + k];
      odd_total += early_odd_[base + k];
      late_total += late_[base + k];
    }
    if (even_total < 10 || odd_total < 10 || late_total < 10) continue;
    const uint32_t top_k = ArgMax(&early_even_[base], k_count);
    early_sum += static_cast<double>(early_odd_[base + top_k]) / odd_total;
    late_sum += static_cast<double>(late_[base + top_k]) / late_total;
    ++users;
  }
  r.top_category_share_early = ratio(early_sum, users);
  r.top_category_share_late = ratio(late_sum, users);
  return r;
}

SimulatorOptions ReducedRunOptions(uint64_t seed) {
  SimulatorOptions o;
  o.users = 2000;
  o.items = 1000;
  o.new_items_per_day = 10;
  o.trends_per_day = 2;
  o.days = 21;
  o.seed = seed;
  return o;
}

std::vector<std::string> CheckDocumentedStatistics(const ShopSummary& s) {
  struct Range {
    const char* name;
    double value;
    double lo;
    double hi;
  };
  // docs/SHOP_SIMULATOR.md, "Statistics": keep the two in step.
  const Range ranges[] = {
      {"views_per_session", s.views_per_session, 4.88, 5.12},
      {"single_view_sessions", s.single_view_sessions, 0.19, 0.21},
      {"long_sessions", s.long_sessions, 0.095, 0.12},
      {"cart_per_view", s.cart_per_view, 0.074, 0.086},
      {"purchase_per_cart", s.purchase_per_cart, 0.485, 0.515},
      {"top1pct_item_view_share", s.top1pct_item_view_share, 0.09, 0.16},
      {"top10pct_item_view_share", s.top10pct_item_view_share, 0.42, 0.52},
      {"new_item_view_share", s.new_item_view_share, 0.12, 0.23},
      {"bursts_per_day", s.bursts_per_day, 0.3, 2.0},
      {"next_category_fresh_accuracy", s.next_category_fresh_accuracy, 0.69, 0.73},
      {"next_category_nightly_accuracy", s.next_category_nightly_accuracy, 0.28, 0.33},
      {"early_minus_late_top_share", s.top_category_share_early - s.top_category_share_late, 0.03, 0.12},
  };
  std::vector<std::string> out;
  for (const Range& r : ranges) {
    if (r.value >= r.lo && r.value <= r.hi) continue;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s = %.4f outside [%.4f, %.4f]", r.name, r.value, r.lo, r.hi);
    out.emplace_back(buf);
  }
  return out;
}

}  // namespace impulse::shop
