// The online shop simulator behind `impulse generate shop`: users with drifting category
// preferences browse items whose popularity rises and decays, in sessions of views, add-to-carts
// and purchases. The generative model, its parameters and the statistics they produce are in
// docs/SHOP_SIMULATOR.md; the option names below are the document's.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "datagen/common/random.h"
#include "impulse/status.h"

namespace impulse::shop {

struct SimulatorOptions {
  uint32_t users = 10'000;          // 1..kUsersMax; events scale linearly with users
  uint32_t items = 5'000;           // items in the catalogue at the start, 1..kItemsMax
  uint32_t categories = 20;         // kFavouritesPerUser + 1 .. kCategoriesMax
  uint32_t days = 30;               // days simulated (sessions start on these days), 1..kDaysMax
  int64_t start_epoch_day = 19786;  // first day, days since 1970-01-01 (19786 = 2024-03-04)
  uint64_t seed = 0;                // all output is a pure function of the options

  // Catalogue. Category k has weight (k + 1)^-category_skew: its share of items, of exploration
  // and of new favourites.
  double category_skew = 0.7;
  uint32_t new_items_per_day = 50;  // released at uniform times each day
  double appeal_sigma = 1.2;        // item appeal lognormal(-sigma^2 / 2, sigma): popularity skew
  double launch_boost = 4;          // popularity x (1 + boost * exp(-age / launch_decay_days))
  double launch_decay_days = 3;
  uint32_t trends_per_day = 10;   // items starting a trend each day (uniform among released items)
  double trend_boost = 10;        // popularity x (1 + boost * shape(t - start)) per trend
  double trend_ramp_hours = 6;    // shape rises linearly to 1 over the ramp ...
  double trend_decay_hours = 24;  // ... then decays exponentially with this time constant
  double conversion_sigma = 0.5;  // item conversion quality lognormal(-sigma^2 / 2, sigma)

  // Users.
  double sessions_per_user_day = 0.6;  // mean of the users' session rates
  double activity_sigma = 1.0;         // user session rate lognormal(log(mean) - sigma^2 / 2, sigma)
  double explore_probability = 0.15;   // a session intent drawn from the category weights
  double drift_probability = 0.07;     // per user and day: one favourite replaced

  // Sessions.
  double session_stop_probability = 0.2;   // after each view: views per session ~ Geometric
  double intent_switch_probability = 0.2;  // after each view, the intent is redrawn
  double off_intent_probability = 0.1;     // a view of any category, by popularity
  double cart_probability = 0.08;          // per view, times the item's conversion quality
  double purchase_probability = 0.5;       // per carted item, at the session's checkout
  double dwell_mean_seconds = 40;          // gap between views: 1 + Exponential(mean) s
};

inline constexpr uint32_t kUsersMax = 10'000'000;
inline constexpr uint32_t kItemsMax = 10'000'000;
inline constexpr uint32_t kCategoriesMax = 1'000;
inline constexpr uint32_t kDaysMax = 3'650;
// start_epoch_day's range: 1970-07-01 .. 7445-10-25. The initial items' release times (up to
// 180 days before the start) stay after 1970; datetimes stay far inside the year 9999.
inline constexpr int64_t kStartDayMin = 181;
inline constexpr int64_t kStartDayMax = 2'000'000;
inline constexpr uint32_t kFavouritesPerUser = 3;
inline constexpr std::array<double, kFavouritesPerUser> kFavouriteWeights = {0.5, 0.3, 0.2};
inline constexpr int64_t kSecondsPerDay = 86'400;
inline constexpr int64_t kSessionGapMinSeconds = 1'800;  // a user's sessions are >= 30 min apart
inline constexpr uint32_t kSessionViewsMax = 200;        // views per session are capped here
inline constexpr double kCartProbabilityMax = 0.9;
// Initial items were released up to this many days before the start (uniform).
inline constexpr double kInitialAgeMaxDays = 180;

enum class EventType : uint8_t { kView = 0, kCart = 1, kPurchase = 2 };
std::string_view EventTypeName(EventType type);  // "view", "cart", "purchase"

struct Item {
  uint32_t category = 0;
  int64_t price_cents = 0;      // > 0
  int64_t release_seconds = 0;  // seconds since the start day's midnight; < 0 for initial items
  double appeal = 0;            // popularity scale
  double conversion = 0;        // multiplies cart_probability
};

// One event. Times are seconds since the start day's midnight UTC.
struct Event {
  uint64_t event_id = 0;  // index in time order over the whole run, from 0
  int64_t time_seconds = 0;
  uint32_t user_id = 0;
  uint64_t session_id = 0;  // dense from 0 in generation order (day, user, start time)
  uint32_t item_id = 0;
  uint32_t category = 0;    // the item's
  int64_t price_cents = 0;  // the item's
  EventType type = EventType::kView;
};

struct User {
  double sessions_per_day = 0;
  std::array<uint32_t, kFavouritesPerUser> favourites{};  // distinct categories, by weight rank
  int64_t busy_until_seconds = INT64_MIN / 2;             // end of the last session
};

// Simulator: generates the events day by day. Create() draws the users and the initial
// catalogue (memory O(users + items)); each NextDay() returns the events of the sessions that
// start on the next day, sorted by time (ties: generation order) with dense ids. A session that
// runs past midnight has its later events returned with the next day (the last day returns
// them all), so every call's events precede the next call's. Memory: the catalogue, the users,
// one day of events and one day's hourly popularity tables (24 x items doubles). Single-threaded;
// output is a pure function of the options.
class Simulator {
 public:
  static Result<std::unique_ptr<Simulator>> Create(const SimulatorOptions& options);

  // Replaces *out with the next day's events. Returns false (and leaves *out empty) when all days
  // are done.
  bool NextDay(std::vector<Event>* out);

  const SimulatorOptions& options() const { return options_; }
  // Items released so far (the whole run's after the last day), indexed by item id.
  const std::vector<Item>& items() const { return items_; }
  const std::vector<User>& users() const { return users_; }
  // Category weights (k + 1)^-category_skew, normalised to sum 1.
  const std::vector<double>& category_weights() const { return category_weights_; }
  // An item's popularity at time t (seconds since the start): 0 before its release.
  double Popularity(uint32_t item, int64_t t) const;

 private:
  struct Trend {
    uint32_t item;
    int64_t start_seconds;
  };
  // One hour's sampling tables: per category the cumulative popularity of its items (in
  // by_category_ order).
  struct HourTable {
    std::vector<double> cumulative;      // aligned with by_category_
    std::vector<double> category_total;  // per category
    double total = 0;
  };

  explicit Simulator(const SimulatorOptions& options);
  void BuildUsersAndCatalogue();
  Item DrawItem(int64_t release_seconds);
  uint32_t DrawCategory(datagen::Rng* rng, const std::array<uint32_t, kFavouritesPerUser>* exclude);
  void StartDay();
  void BuildHourTables();
  uint32_t SampleItem(const HourTable& table, uint32_t category, datagen::Rng* rng) const;
  uint32_t SampleCategoryByPopularity(const HourTable& table, datagen::Rng* rng) const;
  uint32_t DrawIntent(const User& user);
  void GenerateSession(uint32_t user_id, int64_t start, std::vector<Event>* out);
  const HourTable& TableAt(int64_t t) const;

  SimulatorOptions options_;
  datagen::Rng catalogue_rng_;  // users, items, releases and trends
  datagen::Rng session_rng_;    // session counts, times and contents
  datagen::Rng drift_rng_;      // preference drift
  std::vector<double> category_weights_;
  std::vector<double> category_cumulative_;
  std::vector<double> category_price_median_;  // per category, in currency units
  std::vector<Item> items_;
  std::vector<User> users_;
  std::vector<Trend> trends_;             // active trends, oldest first
  std::vector<uint32_t> by_category_;     // released item ids grouped by category, ascending
  std::vector<uint32_t> category_begin_;  // categories + 1 offsets into by_category_
  std::vector<HourTable> hours_;          // 24 tables of the current day
  std::vector<Event> pending_;            // events past the previous day's midnight
  uint32_t day_ = 0;                      // next day to generate
  uint64_t next_event_id_ = 0;
  uint64_t next_session_id_ = 0;
};

}  // namespace impulse::shop
