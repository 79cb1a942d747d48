// The personalization example's features (examples/personalization/features.yaml) backfilled on
// a small shop simulation, against a brute-force recomputation from the simulated events:
//   a) events_features: every event once, with its user features (counts, distinct sessions,
//      top categories as top_k's JSON, recency, previous category), its user-category counts and
//      its item counts and smoothed cart rate, each over the window ending at the event;
//   b) category_top_items: for every category and every hourly window of one day holding one
//      of its views, the 100 most viewed items as top_k's JSON, and the view count.
// Label "e2e".
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "datagen/shop/format.h"
#include "datagen/shop/simulator.h"
#include "features/backfill.h"
#include "fraud_features_tables.h"

namespace impulse::shop {
namespace {

constexpr int64_t kHour = 3'600;
constexpr int64_t kDay = 86'400;
constexpr int kMismatchesShown = 10;

// About 500 users * 3.4 events a day * 9 days = 15 K events: long enough for the 7-day windows
// to drop events, enough items for the largest categories' daily lists to pass 100 items, small
// enough for ASan.
SimulatorOptions SimOptions() {
  SimulatorOptions o;
  o.users = 500;
  o.items = 1'500;
  o.new_items_per_day = 5;
  o.days = 9;
  o.seed = 11;
  return o;
}

std::string SpecPath() { return std::string(IMPULSE_SOURCE_DIR) + "/examples/personalization/features.yaml"; }

// One output table: rows of column -> printed value (CSV field).
using Row = std::map<std::string, std::string>;
std::vector<Row> ParseCsv(const std::string& text) {
  std::vector<Row> rows;
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    std::vector<std::string> fields = fraud::tables::SplitCsvLine(line);
    if (header.empty()) {
      header = std::move(fields);
      continue;
    }
    EXPECT_EQ(fields.size(), header.size()) << line;
    Row row;
    for (size_t i = 0; i < std::min(header.size(), fields.size()); ++i) row[header[i]] = std::move(fields[i]);
    rows.push_back(std::move(row));
  }
  return rows;
}

int64_t Int(const Row& row, const std::string& column) {
  const auto it = row.find(column);
  if (it == row.end()) {
    ADD_FAILURE() << "no column " << column;
    return INT64_MIN;
  }
  int64_t v = 0;
  if (std::from_chars(it->second.data(), it->second.data() + it->second.size(), v).ec != std::errc()) {
    ADD_FAILURE() << column << ": not an integer: '" << it->second << "'";
    return INT64_MIN;
  }
  return v;
}

// top_k's JSON (docs/AGGREGATES.md): descending count, ties by value ascending, at most k.
std::string TopK(const std::map<int64_t, int64_t>& counts, size_t k) {
  std::vector<std::pair<int64_t, int64_t>> v(counts.begin(), counts.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (v.size() > k) v.resize(k);
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ",";
    s += "{\"value\":" + std::to_string(v[i].first) + ",\"count\":" + std::to_string(v[i].second) + "}";
  }
  return s + "]";
}

// A timestamp as the backfill prints it: 2024-03-04T01:00:00.000Z.
std::string Timestamp(int64_t seconds) {
  std::string s;
  datagen::AppendDateTime(SimOptions().start_epoch_day * kSecondsPerDay + seconds, OutputFormat::kNdjson, &s);
  s.insert(s.size() - 1, ".000");
  return s;
}

class PersonalizationFeaturesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto sim = Simulator::Create(SimOptions());
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();
    std::vector<Event> day;
    while ((*sim)->NextDay(&day)) events_->insert(events_->end(), day.begin(), day.end());
  }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse-personalization-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::string text;
    AppendEventCsvHeader(&text);
    for (const Event& e : *events_) AppendEvent(e, SimOptions().start_epoch_day, OutputFormat::kCsv, &text);
    input_ = (dir_ / "events.csv").string();
    std::ofstream(input_, std::ios::binary) << text;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<Row> Backfill(const std::string& stream) const {
    features::BackfillOptions options;
    options.spec_path = SpecPath();
    options.input_path = input_;
    options.output_stream = stream;
    options.out_path = (dir_ / (stream + ".csv")).string();
    auto stats = features::RunBackfill(options);
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    if (stats.ok()) {
      EXPECT_EQ(stats->late_events, 0u);
    }
    std::ifstream in(options.out_path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return ParseCsv(text.str());
  }

  static inline std::vector<Event>* events_ = new std::vector<Event>;
  std::filesystem::path dir_;
  std::string input_;
};

// Expected values of every feature column for events[i], as printed; doubles are compared
// numerically (the second map).
struct Expected {
  Row exact;
  std::map<std::string, double> approx;  // NaN = null (an empty cell)
};

// Each user's and each item's events (indices, time order).
struct Index {
  std::map<uint32_t, std::vector<size_t>> by_user, by_item;
  explicit Index(const std::vector<Event>& events) {
    for (size_t i = 0; i < events.size(); ++i) {
      by_user[events[i].user_id].push_back(i);
      by_item[events[i].item_id].push_back(i);
    }
  }
};

Expected Reference(const std::vector<Event>& events, const Index& index, size_t i) {
  const Event& e = events[i];
  const int64_t t = e.time_seconds;
  Expected x;
  // Windows (t - w, t]: the user's (on arrival, time order: events before and at i) and the
  // user-category's and item's (point in time: every event of the entity up to t). An event
  // 7 d old or more is in no window.
  int64_t user_events_1h = 0, user_views_1d = 0, user_views_7d = 0, user_purchases_7d = 0;
  std::set<uint64_t> sessions_1d, sessions_7d;
  std::map<int64_t, int64_t> top_1h, top_1d, top_7d;
  int64_t uc_1h = 0, uc_1d = 0, uc_7d = 0, uc_carts_7d = 0;
  const Event* previous = nullptr;
  for (size_t j : index.by_user.at(e.user_id)) {
    const Event& o = events[j];
    const int64_t age = t - o.time_seconds;
    if (age >= 7 * kDay) continue;
    if (o.time_seconds > t) break;
    if (o.category == e.category) {
      uc_1h += age < kHour ? 1 : 0;
      uc_1d += age < kDay ? 1 : 0;
      ++uc_7d;
      uc_carts_7d += o.type == EventType::kCart ? 1 : 0;
    }
    if (j > i) continue;
    if (j < i) previous = &o;
    const bool view = o.type == EventType::kView;
    if (age < kHour) {
      ++user_events_1h;
      ++top_1h[o.category];
    }
    if (age < kDay) {
      user_views_1d += view ? 1 : 0;
      sessions_1d.insert(o.session_id);
      ++top_1d[o.category];
    }
    user_views_7d += view ? 1 : 0;
    user_purchases_7d += o.type == EventType::kPurchase ? 1 : 0;
    sessions_7d.insert(o.session_id);
    ++top_7d[o.category];
  }
  int64_t item[3][2] = {};  // [view, cart, purchase][1 h, 1 d]
  for (size_t j : index.by_item.at(e.item_id)) {
    const Event& o = events[j];
    const int64_t age = t - o.time_seconds;
    if (age >= kDay) continue;
    if (o.time_seconds > t) break;
    const auto type = static_cast<size_t>(o.type);
    item[type][0] += age < kHour ? 1 : 0;
    ++item[type][1];
  }
  x.exact["USER_EVENTS_1H"] = std::to_string(user_events_1h);
  x.exact["USER_VIEWS_1D"] = std::to_string(user_views_1d);
  x.exact["USER_VIEWS_7D"] = std::to_string(user_views_7d);
  x.exact["USER_PURCHASES_7D"] = std::to_string(user_purchases_7d);
  x.exact["USER_SESSIONS_1D"] = std::to_string(sessions_1d.size());
  x.exact["USER_SESSIONS_7D"] = std::to_string(sessions_7d.size());
  x.exact["USER_TOP_CATEGORIES_1H"] = TopK(top_1h, 3);
  x.exact["USER_TOP_CATEGORIES_1D"] = TopK(top_1d, 3);
  x.exact["USER_TOP_CATEGORIES_7D"] = TopK(top_7d, 3);
  // The previous event, unless the user was idle beyond the view's state ttl (its longest
  // window, 7 d): the loop above skipped events that old, so `previous` is then null.
  x.exact["USER_PREVIOUS_CATEGORY"] = previous != nullptr ? std::to_string(previous->category) : "";
  x.approx["USER_SECONDS_SINCE_LAST"] =
      previous != nullptr ? static_cast<double>(t - previous->time_seconds) : std::nan("");
  x.exact["UC_EVENTS_1H"] = std::to_string(uc_1h);
  x.exact["UC_EVENTS_1D"] = std::to_string(uc_1d);
  x.exact["UC_EVENTS_7D"] = std::to_string(uc_7d);
  x.exact["UC_CARTS_7D"] = std::to_string(uc_carts_7d);
  const char* names[3] = {"VIEWS", "CARTS", "PURCHASES"};
  for (size_t type = 0; type < 3; ++type) {
    x.exact[std::string("ITEM_") + names[type] + "_1H"] = std::to_string(item[type][0]);
    x.exact[std::string("ITEM_") + names[type] + "_1D"] = std::to_string(item[type][1]);
  }
  // Conversion, smoothed by one prior view: carts (0.08) and purchases (0.04) per view, 1 h and 1 d.
  for (size_t w = 0; w < 2; ++w) {
    const std::string suffix = w == 0 ? "_1H" : "_1D";
    const double views = static_cast<double>(item[0][w]) + 1;
    x.approx["ITEM_CART_RATE" + suffix] = (static_cast<double>(item[1][w]) + 0.08) / views;
    x.approx["ITEM_PURCHASE_RATE" + suffix] = (static_cast<double>(item[2][w]) + 0.04) / views;
  }
  return x;
}

TEST_F(PersonalizationFeaturesTest, EventFeaturesEqualBruteForce) {
  const std::vector<Event>& events = *events_;
  ASSERT_GT(events.size(), 5'000u);
  const std::vector<Row> rows = Backfill("events_features");
  ASSERT_EQ(rows.size(), events.size());
  std::vector<const Row*> by_id(events.size(), nullptr);
  for (const Row& row : rows) {
    const int64_t id = Int(row, "event_id");
    ASSERT_GE(id, 0);
    ASSERT_LT(static_cast<size_t>(id), events.size());
    ASSERT_EQ(by_id[id], nullptr) << "event " << id << " twice";
    by_id[id] = &row;
  }
  const Index index(events);
  int mismatches = 0;
  size_t repeated_category_1h = 0, user_idle_reset = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].event_id, i);
    const Row& row = *by_id[i];
    EXPECT_EQ(Int(row, "user_category"), int64_t{events[i].user_id} * 1000 + events[i].category);
    const Expected x = Reference(events, index, i);
    for (const auto& [column, value] : x.exact) {
      const auto it = row.find(column);
      ASSERT_NE(it, row.end()) << "no column " << column;
      if (it->second != value && ++mismatches <= kMismatchesShown) {
        ADD_FAILURE() << "event " << i << " " << column << ": got '" << it->second << "', brute force '" << value
                      << "'";
      }
    }
    for (const auto& [column, value] : x.approx) {
      const auto it = row.find(column);
      ASSERT_NE(it, row.end()) << "no column " << column;
      const bool ok = std::isnan(value) ? it->second.empty()
                                        : !it->second.empty() && std::fabs(std::stod(it->second) - value) <=
                                                                     1e-12 * std::max(1.0, std::fabs(value));
      if (!ok && ++mismatches <= kMismatchesShown) {
        ADD_FAILURE() << "event " << i << " " << column << ": got '" << it->second << "', brute force " << value;
      }
    }
    repeated_category_1h += x.exact.at("UC_EVENTS_1H") != "1" ? 1 : 0;
    user_idle_reset += x.exact.at("USER_PREVIOUS_CATEGORY").empty() ? 1 : 0;
  }
  EXPECT_EQ(mismatches, 0);
  // The data exercises what the features are for: sessions with several events in a category,
  // and users' first events (null previous values).
  EXPECT_GT(repeated_category_1h, events.size() / 4);
  EXPECT_GT(user_idle_reset, 100u);
}

TEST_F(PersonalizationFeaturesTest, CategoryCandidatesEqualBruteForce) {
  const std::vector<Event>& events = *events_;
  // Expected rows: per category, every window [R - 1 d, R) (R on the hour) holding a view.
  std::map<std::pair<int64_t, int64_t>, std::map<int64_t, int64_t>> windows;  // (category, R) -> item counts
  for (const Event& e : events) {
    if (e.type != EventType::kView) continue;
    const int64_t first_end = (e.time_seconds / kHour + 1) * kHour;  // the first R > t
    for (int64_t r = first_end; r <= e.time_seconds + kDay; r += kHour) ++windows[{e.category, r}][e.item_id];
  }
  std::map<std::string, int64_t> ends;  // printed window_end -> R
  for (const auto& [key, counts] : windows) ends.emplace(Timestamp(key.second), key.second);
  const std::vector<Row> rows = Backfill("category_top_items");
  ASSERT_EQ(rows.size(), windows.size());
  int mismatches = 0;
  size_t full_lists = 0;
  for (const Row& row : rows) {
    const int64_t category = Int(row, "category");
    const std::string& end = row.at("window_end");
    const auto end_it = ends.find(end);
    ASSERT_NE(end_it, ends.end()) << "unexpected window end " << end;
    const int64_t r = end_it->second;
    const auto window = windows.find({category, r});
    ASSERT_NE(window, windows.end()) << "unexpected window: category " << category << " ending " << end;
    const auto& counts = window->second;
    int64_t views = 0;
    for (const auto& [item, n] : counts) views += n;
    full_lists += counts.size() > 100 ? 1 : 0;
    EXPECT_EQ(row.at("window_start"), Timestamp(r - kDay));
    EXPECT_EQ(Int(row, "views"), views);
    if (row.at("top_items") != TopK(counts, 100) && ++mismatches <= kMismatchesShown) {
      ADD_FAILURE() << "category " << category << " window ending " << end << ": got " << row.at("top_items")
                    << "\nbrute force " << TopK(counts, 100);
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(full_lists, 0u) << "no window had more than 100 items: the cut at 100 is not exercised";
}

}  // namespace
}  // namespace impulse::shop
