#include "datagen/shop/simulator.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace impulse::shop {
namespace {

// Independent random streams derived from the seed, so each part's draws do not shift when
// another part changes (e.g. drift switched off keeps the same catalogue and session times).
constexpr uint64_t kCatalogueStream = 10;
constexpr uint64_t kSessionStream = 11;
constexpr uint64_t kDriftStream = 12;

// Relative session start rate per hour of the day (UTC): quiet nights, a lunch bump and an
// evening peak.
constexpr std::array<double, 24> kHourWeights = {2, 1, 1, 1, 1, 2, 3, 5,  6,  6,  6, 7,
                                                 8, 7, 6, 6, 7, 8, 9, 10, 11, 10, 7, 4};
constexpr double kHourWeightsSum = [] {
  double sum = 0;
  for (double w : kHourWeights) sum += w;
  return sum;
}();
// A heavy user's session rate is capped here: with sessions 30 min apart a day holds 48.
constexpr double kSessionsPerDayMax = 48;
// A trend is dropped once its shape is below exp(-20) of its peak.
constexpr double kTrendDecaysKept = 20;

bool InUnit(double p) { return p >= 0 && p <= 1; }

double Lognormal(datagen::Rng* rng, double sigma) { return std::exp(rng->Normal(0, sigma) - sigma * sigma / 2); }

}  // namespace

std::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kView: return "view";
    case EventType::kCart: return "cart";
    case EventType::kPurchase: return "purchase";
  }
  return "view";
}

Simulator::Simulator(const SimulatorOptions& options)
    : options_(options),
      catalogue_rng_(datagen::Rng::StreamSeed(options.seed, kCatalogueStream)),
      session_rng_(datagen::Rng::StreamSeed(options.seed, kSessionStream)),
      drift_rng_(datagen::Rng::StreamSeed(options.seed, kDriftStream)) {}

Result<std::unique_ptr<Simulator>> Simulator::Create(const SimulatorOptions& o) {
  const auto bad = [](const std::string& what) { return InvalidArgument("shop: " + what); };
  if (o.users < 1 || o.users > kUsersMax) return bad("users must be in 1.." + std::to_string(kUsersMax));
  if (o.items < 1 || o.items > kItemsMax) return bad("items must be in 1.." + std::to_string(kItemsMax));
  if (o.categories <= kFavouritesPerUser || o.categories > kCategoriesMax) {
    return bad("categories must be in " + std::to_string(kFavouritesPerUser + 1) + ".." +
               std::to_string(kCategoriesMax));
  }
  if (o.days < 1 || o.days > kDaysMax) return bad("days must be in 1.." + std::to_string(kDaysMax));
  if (o.start_epoch_day < kStartDayMin || o.start_epoch_day > kStartDayMax) {
    return bad("start day must be in " + std::to_string(kStartDayMin) + ".." + std::to_string(kStartDayMax) +
               " (1970-07-01 .. 7445-10-25)");
  }
  if (uint64_t{o.items} + uint64_t{o.new_items_per_day} * o.days > kItemsMax) {
    return bad("items + new_items_per_day * days must be at most " + std::to_string(kItemsMax));
  }
  if (o.trends_per_day > 1000) return bad("trends_per_day must be at most 1000");
  if (!(o.category_skew >= 0 && o.category_skew <= 3)) return bad("category_skew must be in [0, 3]");
  if (!(o.appeal_sigma >= 0 && o.appeal_sigma <= 5) || !(o.conversion_sigma >= 0 && o.conversion_sigma <= 5) ||
      !(o.activity_sigma >= 0 && o.activity_sigma <= 5)) {
    return bad("appeal_sigma, conversion_sigma and activity_sigma must be in [0, 5]");
  }
  if (!(o.launch_boost >= 0 && o.launch_boost <= 1000) || !(o.trend_boost >= 0 && o.trend_boost <= 1000)) {
    return bad("launch_boost and trend_boost must be in [0, 1000]");
  }
  if (!(o.launch_decay_days > 0 && o.launch_decay_days <= 3650) ||
      !(o.trend_ramp_hours > 0 && o.trend_ramp_hours <= 240) ||
      !(o.trend_decay_hours > 0 && o.trend_decay_hours <= 2400)) {
    return bad("launch_decay_days (0, 3650], trend_ramp_hours (0, 240] and trend_decay_hours (0, 2400] required");
  }
  if (!(o.sessions_per_user_day >= 0 && o.sessions_per_user_day <= kSessionsPerDayMax)) {
    return bad("sessions_per_user_day must be in [0, 48]");
  }
  if (!InUnit(o.explore_probability) || !InUnit(o.drift_probability) || !InUnit(o.intent_switch_probability) ||
      !InUnit(o.off_intent_probability) || !InUnit(o.cart_probability) || !InUnit(o.purchase_probability)) {
    return bad("probabilities must be in [0, 1]");
  }
  if (!(o.session_stop_probability > 0 && o.session_stop_probability <= 1)) {
    return bad("session_stop_probability must be in (0, 1]");
  }
  if (!(o.dwell_mean_seconds >= 0 && o.dwell_mean_seconds <= 3600))
    return bad("dwell_mean_seconds must be in [0, 3600]");
  std::unique_ptr<Simulator> sim(new Simulator(o));
  sim->BuildUsersAndCatalogue();
  return sim;
}

uint32_t Simulator::DrawCategory(datagen::Rng* rng, const std::array<uint32_t, kFavouritesPerUser>* exclude) {
  if (exclude == nullptr) {
    const double u = rng->Uniform01();
    const auto it = std::upper_bound(category_cumulative_.begin(), category_cumulative_.end(), u);
    return static_cast<uint32_t>(std::min<size_t>(it - category_cumulative_.begin(), category_weights_.size() - 1));
  }
  // Weights of the categories not excluded, by a linear scan (rare: user creation and drift).
  const auto excluded = [&](uint32_t k) { return std::find(exclude->begin(), exclude->end(), k) != exclude->end(); };
  double total = 0;
  for (uint32_t k = 0; k < category_weights_.size(); ++k) total += excluded(k) ? 0 : category_weights_[k];
  double u = rng->Uniform01() * total;
  uint32_t last = 0;
  for (uint32_t k = 0; k < category_weights_.size(); ++k) {
    if (excluded(k)) continue;
    last = k;
    if (u < category_weights_[k]) return k;
    u -= category_weights_[k];
  }
  return last;  // rounding left u at the top
}

Item Simulator::DrawItem(int64_t release_seconds) {
  Item item;
  item.category = DrawCategory(&catalogue_rng_, nullptr);
  const double price = category_price_median_[item.category] * Lognormal(&catalogue_rng_, 0.5);
  item.price_cents = std::max<int64_t>(50, std::llround(price * 100));
  item.release_seconds = release_seconds;
  item.appeal = Lognormal(&catalogue_rng_, options_.appeal_sigma);
  item.conversion = Lognormal(&catalogue_rng_, options_.conversion_sigma);
  return item;
}

void Simulator::BuildUsersAndCatalogue() {
  const uint32_t k_count = options_.categories;
  category_weights_.resize(k_count);
  double total = 0;
  for (uint32_t k = 0; k < k_count; ++k) total += category_weights_[k] = std::pow(k + 1.0, -options_.category_skew);
  double run = 0;
  for (uint32_t k = 0; k < k_count; ++k) {
    category_weights_[k] /= total;
    run += category_weights_[k];
    category_cumulative_.push_back(run);
  }
  category_cumulative_.back() = 1.0;
  // Category price levels: log-uniform medians between 5 and 500.
  for (uint32_t k = 0; k < k_count; ++k) {
    category_price_median_.push_back(std::exp(catalogue_rng_.Uniform(std::log(5.0), std::log(500.0))));
  }
  items_.reserve(options_.items + size_t{options_.new_items_per_day} * options_.days);
  for (uint32_t i = 0; i < options_.items; ++i) {
    const auto age = static_cast<int64_t>(catalogue_rng_.Uniform(0, kInitialAgeMaxDays * kSecondsPerDay));
    items_.push_back(DrawItem(-1 - age));
  }
  users_.resize(options_.users);
  for (User& u : users_) {
    u.sessions_per_day = std::min(kSessionsPerDayMax,
                                  options_.sessions_per_user_day * Lognormal(&catalogue_rng_, options_.activity_sigma));
    u.favourites.fill(UINT32_MAX);
    for (uint32_t s = 0; s < kFavouritesPerUser; ++s) u.favourites[s] = DrawCategory(&catalogue_rng_, &u.favourites);
  }
}

double Simulator::Popularity(uint32_t item, int64_t t) const {
  const Item& it = items_[item];
  if (t < it.release_seconds) return 0;
  const double age_days = static_cast<double>(t - it.release_seconds) / kSecondsPerDay;
  double trend = 0;
  for (const Trend& tr : trends_) {
    if (tr.item != item || t < tr.start_seconds) continue;
    const double hours = static_cast<double>(t - tr.start_seconds) / 3600;
    trend += hours < options_.trend_ramp_hours
                 ? hours / options_.trend_ramp_hours
                 : std::exp(-(hours - options_.trend_ramp_hours) / options_.trend_decay_hours);
  }
  return it.appeal * (1 + options_.launch_boost * std::exp(-age_days / options_.launch_decay_days)) *
         (1 + options_.trend_boost * trend);
}

void Simulator::StartDay() {
  const int64_t day_start = static_cast<int64_t>(day_) * kSecondsPerDay;
  // New items, numbered in release order.
  std::vector<int64_t> releases;
  for (uint32_t j = 0; j < options_.new_items_per_day; ++j) {
    releases.push_back(day_start + static_cast<int64_t>(catalogue_rng_.UniformInt(kSecondsPerDay)));
  }
  std::sort(releases.begin(), releases.end());
  const auto released_before_today = static_cast<uint32_t>(items_.size());
  for (int64_t r : releases) items_.push_back(DrawItem(r));
  // Trends start on items released before today, at uniform times of the day.
  for (uint32_t j = 0; j < options_.trends_per_day; ++j) {
    const auto item = static_cast<uint32_t>(catalogue_rng_.UniformInt(released_before_today));
    trends_.push_back({item, day_start + static_cast<int64_t>(catalogue_rng_.UniformInt(kSecondsPerDay))});
  }
  const double kept_hours = options_.trend_ramp_hours + kTrendDecaysKept * options_.trend_decay_hours;
  std::erase_if(trends_,
                [&](const Trend& tr) { return static_cast<double>(day_start - tr.start_seconds) > kept_hours * 3600; });
  // Drift: a favourite slot (its weight stays) gets a category the user does not favour yet.
  for (User& u : users_) {
    if (!(drift_rng_.Uniform01() < options_.drift_probability)) continue;
    const auto slot = static_cast<uint32_t>(drift_rng_.UniformInt(kFavouritesPerUser));
    u.favourites[slot] = DrawCategory(&drift_rng_, &u.favourites);
  }
  // Items grouped by category (ids ascending within a category).
  category_begin_.assign(options_.categories + 1, 0);
  for (const Item& it : items_) ++category_begin_[it.category + 1];
  for (uint32_t k = 0; k < options_.categories; ++k) category_begin_[k + 1] += category_begin_[k];
  by_category_.resize(items_.size());
  std::vector<uint32_t> fill(category_begin_.begin(), category_begin_.end() - 1);
  for (uint32_t i = 0; i < items_.size(); ++i) by_category_[fill[items_[i].category]++] = i;
  BuildHourTables();
}

void Simulator::BuildHourTables() {
  hours_.resize(24);
  const int64_t day_start = static_cast<int64_t>(day_) * kSecondsPerDay;
  std::vector<double> trend(items_.size(), 0.0);
  for (int h = 0; h < 24; ++h) {
    // Popularity is evaluated at the middle of the hour and held for the whole hour; an item
    // released during the hour waits for the next one, so no event precedes its item's release.
    const int64_t hour_start = day_start + int64_t{h} * 3600;
    const int64_t t = hour_start + 1800;
    std::fill(trend.begin(), trend.end(), 0.0);
    for (const Trend& tr : trends_) {
      if (t < tr.start_seconds) continue;
      const double hours = static_cast<double>(t - tr.start_seconds) / 3600;
      trend[tr.item] += hours < options_.trend_ramp_hours
                            ? hours / options_.trend_ramp_hours
                            : std::exp(-(hours - options_.trend_ramp_hours) / options_.trend_decay_hours);
    }
    HourTable& table = hours_[h];
    table.cumulative.resize(by_category_.size());
    table.category_total.assign(options_.categories, 0.0);
    table.total = 0;
    for (uint32_t k = 0; k < options_.categories; ++k) {
      double run = 0;
      for (uint32_t pos = category_begin_[k]; pos < category_begin_[k + 1]; ++pos) {
        const uint32_t i = by_category_[pos];
        const Item& it = items_[i];
        if (hour_start >= it.release_seconds) {
          const double age_days = static_cast<double>(t - it.release_seconds) / kSecondsPerDay;
          run += it.appeal * (1 + options_.launch_boost * std::exp(-age_days / options_.launch_decay_days)) *
                 (1 + options_.trend_boost * trend[i]);
        }
        table.cumulative[pos] = run;
      }
      table.category_total[k] = run;
      table.total += run;
    }
  }
}

const Simulator::HourTable& Simulator::TableAt(int64_t t) const {
  // Sessions run past midnight on the next day's clock; they keep the last hour's table.
  const int64_t h = (t - static_cast<int64_t>(day_) * kSecondsPerDay) / 3600;
  return hours_[static_cast<size_t>(std::clamp<int64_t>(h, 0, 23))];
}

uint32_t Simulator::SampleCategoryByPopularity(const HourTable& table, datagen::Rng* rng) const {
  double u = rng->Uniform01() * table.total;
  uint32_t last = 0;
  for (uint32_t k = 0; k < options_.categories; ++k) {
    if (table.category_total[k] <= 0) continue;
    last = k;
    if (u < table.category_total[k]) return k;
    u -= table.category_total[k];
  }
  return last;
}

uint32_t Simulator::SampleItem(const HourTable& table, uint32_t category, datagen::Rng* rng) const {
  // A category without a released item yet: a view of any category instead.
  if (!(table.category_total[category] > 0)) category = SampleCategoryByPopularity(table, rng);
  const auto begin = table.cumulative.begin() + category_begin_[category];
  const auto end = table.cumulative.begin() + category_begin_[category + 1];
  const double u = rng->Uniform01() * table.category_total[category];
  auto it = std::upper_bound(begin, end, u);
  if (it == end) --it;
  return by_category_[static_cast<size_t>(it - table.cumulative.begin())];
}

uint32_t Simulator::DrawIntent(const User& user) {
  if (session_rng_.Uniform01() < options_.explore_probability) return DrawCategory(&session_rng_, nullptr);
  double u = session_rng_.Uniform01();
  for (uint32_t s = 0; s + 1 < kFavouritesPerUser; ++s) {
    if (u < kFavouriteWeights[s]) return user.favourites[s];
    u -= kFavouriteWeights[s];
  }
  return user.favourites[kFavouritesPerUser - 1];
}

void Simulator::GenerateSession(uint32_t user_id, int64_t start, std::vector<Event>* out) {
  User& user = users_[user_id];
  const uint64_t session = next_session_id_++;
  uint32_t intent = DrawIntent(user);
  int64_t t = start;
  std::vector<uint32_t> cart;
  const auto emit = [&](uint32_t item, int64_t time, EventType type) {
    Event e;
    e.time_seconds = time;
    e.user_id = user_id;
    e.session_id = session;
    e.item_id = item;
    e.category = items_[item].category;
    e.price_cents = items_[item].price_cents;
    e.type = type;
    out->push_back(e);
  };
  for (uint32_t views = 1;; ++views) {
    const HourTable& table = TableAt(t);
    const uint32_t category = session_rng_.Uniform01() < options_.off_intent_probability
                                  ? SampleCategoryByPopularity(table, &session_rng_)
                                  : intent;
    const uint32_t item = SampleItem(table, category, &session_rng_);
    emit(item, t, EventType::kView);
    const double p_cart = std::min(kCartProbabilityMax, options_.cart_probability * items_[item].conversion);
    if (session_rng_.Uniform01() < p_cart && std::find(cart.begin(), cart.end(), item) == cart.end()) {
      t += 1 + static_cast<int64_t>(session_rng_.UniformInt(10));
      emit(item, t, EventType::kCart);
      cart.push_back(item);
    }
    if (views >= kSessionViewsMax || session_rng_.Uniform01() < options_.session_stop_probability) break;
    if (session_rng_.Uniform01() < options_.intent_switch_probability) intent = DrawIntent(user);
    t += 1 + static_cast<int64_t>(-options_.dwell_mean_seconds * std::log(1.0 - session_rng_.Uniform01()));
  }
  if (!cart.empty()) {
    // Checkout: each carted item is bought or abandoned, one second apart.
    int64_t checkout = t + 30 + static_cast<int64_t>(session_rng_.UniformInt(91));
    for (uint32_t item : cart) {
      if (session_rng_.Uniform01() < options_.purchase_probability) {
        emit(item, checkout, EventType::kPurchase);
        t = checkout++;
      }
    }
  }
  user.busy_until_seconds = t;
}

bool Simulator::NextDay(std::vector<Event>* out) {
  out->clear();
  if (day_ >= options_.days) return false;
  StartDay();
  out->swap(pending_);  // yesterday's sessions past midnight, already in time order
  const int64_t day_start = static_cast<int64_t>(day_) * kSecondsPerDay;
  std::vector<int64_t> starts;
  for (uint32_t u = 0; u < users_.size(); ++u) {
    const uint32_t n = session_rng_.Poisson(users_[u].sessions_per_day);
    starts.clear();
    for (uint32_t s = 0; s < n; ++s) {
      double h = session_rng_.Uniform01() * kHourWeightsSum;
      int hour = 0;
      while (hour < 23 && h >= kHourWeights[hour]) h -= kHourWeights[hour++];
      starts.push_back(day_start + int64_t{hour} * 3600 + static_cast<int64_t>(session_rng_.UniformInt(3600)));
    }
    std::sort(starts.begin(), starts.end());
    for (int64_t start : starts) {
      GenerateSession(u, std::max(start, users_[u].busy_until_seconds + kSessionGapMinSeconds), out);
    }
  }
  // Time order; ties keep generation order (yesterday's leftovers first, then user, session).
  std::stable_sort(out->begin(), out->end(),
                   [](const Event& a, const Event& b) { return a.time_seconds < b.time_seconds; });
  ++day_;
  if (day_ < options_.days) {
    const int64_t day_end = static_cast<int64_t>(day_) * kSecondsPerDay;
    const auto split = std::lower_bound(out->begin(), out->end(), day_end,
                                        [](const Event& e, int64_t t) { return e.time_seconds < t; });
    pending_.assign(split, out->end());
    out->erase(split, out->end());
  }
  for (Event& e : *out) e.event_id = next_event_id_++;
  return true;
}

}  // namespace impulse::shop
