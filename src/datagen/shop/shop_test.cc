#include <gtest/gtest.h>

#include <simdjson.h>
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "datagen/shop/format.h"
#include "datagen/shop/simulator.h"
#include "event/csv_header.h"
#include "event/ndjson.h"
#include "spec/spec.h"

namespace impulse::shop {
namespace {

SimulatorOptions Small(uint64_t seed = 7) {
  SimulatorOptions o;
  o.users = 300;
  o.items = 400;
  o.new_items_per_day = 5;
  o.days = 6;
  o.seed = seed;
  return o;
}

std::vector<Event> RunAll(const SimulatorOptions& options, std::vector<Item>* items = nullptr) {
  auto sim = Simulator::Create(options);
  EXPECT_TRUE(sim.ok()) << sim.status().ToString();
  std::vector<Event> all;
  std::vector<Event> day;
  while ((*sim)->NextDay(&day)) all.insert(all.end(), day.begin(), day.end());
  if (items != nullptr) *items = (*sim)->items();
  return all;
}

std::string Render(const std::vector<Event>& events, OutputFormat format) {
  std::string out;
  if (format == OutputFormat::kCsv) AppendEventCsvHeader(&out);
  for (const Event& e : events) AppendEvent(e, 19786, format, &out);
  return out;
}

TEST(ShopSimulatorTest, RejectsBadOptions) {
  const auto code = [](auto mutate) {
    SimulatorOptions o = Small();
    mutate(o);
    return Simulator::Create(o).status().code();
  };
  EXPECT_EQ(code([](auto& o) { o.users = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.items = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.categories = kFavouritesPerUser; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.days = kDaysMax + 1; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.start_epoch_day = 100; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.session_stop_probability = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.cart_probability = 1.5; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.appeal_sigma = -1; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.trend_decay_hours = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) {
              o.items = kItemsMax;
              o.new_items_per_day = 1;
            }),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code([](auto&) {}), StatusCode::kOk);
}

TEST(ShopSimulatorTest, DeterministicPerSeedAndSeedsDiffer) {
  const std::string a = Render(RunAll(Small(7)), OutputFormat::kCsv);
  const std::string b = Render(RunAll(Small(7)), OutputFormat::kCsv);
  const std::string c = Render(RunAll(Small(8)), OutputFormat::kCsv);
  EXPECT_GT(a.size(), 10'000u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// Two simulators of the same options stepped alternately give the same days: no state is shared
// between instances (nor kept in statics), so output cannot depend on what else runs.
TEST(ShopSimulatorTest, InterleavedInstancesAgree) {
  auto a = Simulator::Create(Small(3));
  auto b = Simulator::Create(Small(3));
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<Event> da;
  std::vector<Event> db;
  uint32_t days = 0;
  while ((*a)->NextDay(&da)) {
    ASSERT_TRUE((*b)->NextDay(&db));
    ASSERT_EQ(Render(da, OutputFormat::kNdjson), Render(db, OutputFormat::kNdjson)) << "day " << days;
    ++days;
  }
  EXPECT_EQ(days, Small().days);
  EXPECT_FALSE((*b)->NextDay(&db));
  EXPECT_TRUE(db.empty());
}

// Switching drift off changes the users' favourites only: the catalogue (its own random stream)
// is the same.
TEST(ShopSimulatorTest, StreamsAreIndependent) {
  SimulatorOptions no_drift = Small();
  no_drift.drift_probability = 0;
  std::vector<Item> with_items;
  std::vector<Item> without_items;
  const auto with = RunAll(Small(), &with_items);
  const auto without = RunAll(no_drift, &without_items);
  ASSERT_EQ(with_items.size(), without_items.size());
  for (size_t i = 0; i < with_items.size(); ++i) {
    ASSERT_EQ(with_items[i].price_cents, without_items[i].price_cents);
    ASSERT_EQ(with_items[i].release_seconds, without_items[i].release_seconds);
  }
  EXPECT_NE(Render(with, OutputFormat::kCsv), Render(without, OutputFormat::kCsv));
}

TEST(ShopSimulatorTest, EventRules) {
  const SimulatorOptions o = Small();
  auto sim = Simulator::Create(o);
  ASSERT_TRUE(sim.ok());
  struct SessionState {
    uint32_t user = 0;
    int64_t first = 0;
    int64_t last = 0;
    uint32_t views = 0;
    std::vector<uint32_t> viewed, carted, bought;
  };
  std::map<uint64_t, SessionState> sessions;
  std::vector<Event> day;
  uint64_t next_id = 0;
  int64_t last_time = INT64_MIN;
  uint32_t d = 0;
  while ((*sim)->NextDay(&day)) {
    const std::vector<Item>& items = (*sim)->items();
    for (const Event& e : day) {
      ASSERT_EQ(e.event_id, next_id++);
      ASSERT_GE(e.time_seconds, last_time);
      last_time = e.time_seconds;
      ASSERT_GE(e.time_seconds, int64_t{d} * kSecondsPerDay);
      // Events past midnight come with the next day, except after the last day.
      if (d + 1 < o.days) {
        ASSERT_LT(e.time_seconds, int64_t{d + 1} * kSecondsPerDay);
      }
      ASSERT_LT(e.user_id, o.users);
      ASSERT_LT(e.item_id, items.size());
      const Item& item = items[e.item_id];
      ASSERT_EQ(e.category, item.category);
      ASSERT_EQ(e.price_cents, item.price_cents);
      ASSERT_GE(e.time_seconds, item.release_seconds) << "item viewed before its release";
      auto [it, fresh] = sessions.try_emplace(e.session_id);
      SessionState& s = it->second;
      if (fresh) {
        ASSERT_EQ(e.type, EventType::kView) << "a session starts with a view";
        s.user = e.user_id;
        s.first = e.time_seconds;
      }
      ASSERT_EQ(s.user, e.user_id);
      s.last = e.time_seconds;
      switch (e.type) {
        case EventType::kView:
          ++s.views;
          s.viewed.push_back(e.item_id);
          break;
        case EventType::kCart:
          ASSERT_EQ(s.viewed.back(), e.item_id) << "a cart follows the view of its item";
          ASSERT_EQ(std::count(s.carted.begin(), s.carted.end(), e.item_id), 0);
          s.carted.push_back(e.item_id);
          break;
        case EventType::kPurchase:
          ASSERT_EQ(std::count(s.carted.begin(), s.carted.end(), e.item_id), 1) << "a purchase of a carted item";
          ASSERT_EQ(std::count(s.bought.begin(), s.bought.end(), e.item_id), 0);
          s.bought.push_back(e.item_id);
          break;
      }
    }
    ++d;
  }
  ASSERT_EQ(d, o.days);
  // Session ids are dense; a user's sessions are at least kSessionGapMinSeconds apart.
  ASSERT_FALSE(sessions.empty());
  EXPECT_EQ(sessions.rbegin()->first + 1, sessions.size());
  std::map<uint32_t, std::vector<std::pair<int64_t, int64_t>>> by_user;
  for (const auto& [id, s] : sessions) {
    ASSERT_LE(s.views, kSessionViewsMax);
    by_user[s.user].emplace_back(s.first, s.last);
  }
  for (auto& [user, spans] : by_user) {
    std::sort(spans.begin(), spans.end());
    for (size_t j = 1; j < spans.size(); ++j) {
      ASSERT_GE(spans[j].first, spans[j - 1].second + kSessionGapMinSeconds) << "user " << user;
    }
  }
}

TEST(ShopSimulatorTest, PopularityFollowsLaunchAndTrends) {
  SimulatorOptions o = Small();
  o.trends_per_day = 0;
  auto sim = Simulator::Create(o);
  ASSERT_TRUE(sim.ok());
  std::vector<Event> day;
  ASSERT_TRUE((*sim)->NextDay(&day));
  const std::vector<Item>& items = (*sim)->items();
  const uint32_t fresh = o.items;  // the first item released on day 0
  ASSERT_GT(items.size(), fresh);
  const int64_t r = items[fresh].release_seconds;
  EXPECT_EQ((*sim)->Popularity(fresh, r - 1), 0);
  // launch: appeal * (1 + boost * exp(-age / decay)).
  EXPECT_DOUBLE_EQ((*sim)->Popularity(fresh, r), items[fresh].appeal * (1 + o.launch_boost));
  const int64_t three_days = 3 * kSecondsPerDay;
  EXPECT_NEAR((*sim)->Popularity(fresh, r + three_days), items[fresh].appeal * (1 + o.launch_boost * std::exp(-1.0)),
              1e-9 * items[fresh].appeal);
}

// Regression: the catalogue was written in id order while its stream (event time: release)
// declares no out-of-orderness; initial items have random release times, so most rows were late.
TEST(ShopFormatTest, ItemReleaseOrderIsAPermutationByReleaseTime) {
  std::vector<Item> items;
  RunAll(Small(), &items);
  const std::vector<uint32_t> order = ItemReleaseOrder(items);
  ASSERT_EQ(order.size(), items.size());
  std::vector<bool> seen(items.size(), false);
  for (size_t r = 0; r < order.size(); ++r) {
    ASSERT_LT(order[r], items.size());
    ASSERT_FALSE(seen[order[r]]) << "item " << order[r] << " twice";
    seen[order[r]] = true;
    if (r == 0) continue;
    const Item& prev = items[order[r - 1]];
    const Item& cur = items[order[r]];
    ASSERT_TRUE(prev.release_seconds < cur.release_seconds ||
                (prev.release_seconds == cur.release_seconds && order[r - 1] < order[r]))
        << "row " << r;
  }
  // Id order is not release order here (initial items are released at random times), so the
  // test above would fail on the identity permutation.
  bool id_order_sorted = true;
  for (size_t i = 1; i < items.size(); ++i) id_order_sorted &= items[i - 1].release_seconds <= items[i].release_seconds;
  EXPECT_FALSE(id_order_sorted);
}

TEST(ShopFormatTest, LinesAreExact) {
  Event e;
  e.event_id = 0;
  e.time_seconds = 7;
  e.user_id = 4711;
  e.session_id = 12;
  e.item_id = 803;
  e.category = 3;
  e.price_cents = 2499;
  e.type = EventType::kCart;
  std::string s;
  AppendEventCsvHeader(&s);
  AppendEvent(e, 19786, OutputFormat::kCsv, &s);
  AppendEvent(e, 19786, OutputFormat::kNdjson, &s);
  EXPECT_EQ(s,
            "event_id,event_datetime,user_id,session_id,item_id,category,price,type\n"
            "0,2024-03-04 00:00:07,4711,12,803,3,24.99,cart\n"
            "{\"event_id\":0,\"event_datetime\":\"2024-03-04T00:00:07Z\",\"user_id\":4711,\"session_id\":12,"
            "\"item_id\":803,\"category\":3,\"price\":24.99,\"type\":\"cart\"}\n");
  Item item;
  item.category = 2;
  item.price_cents = 100050;
  item.release_seconds = -kSecondsPerDay;
  s.clear();
  AppendItemCsvHeader(&s);
  AppendItem(5, item, 19786, OutputFormat::kCsv, &s);
  AppendItem(5, item, 19786, OutputFormat::kNdjson, &s);
  EXPECT_EQ(s,
            "item_id,category,price,release_datetime\n"
            "5,2,1000.50,2024-03-03 00:00:00\n"
            "{\"item_id\":5,\"category\":2,\"price\":1000.50,\"release_datetime\":\"2024-03-03T00:00:00Z\"}\n");
  EXPECT_EQ(EventTypeName(EventType::kView), "view");
  EXPECT_EQ(EventTypeName(EventType::kPurchase), "purchase");
}

const StreamDef* FindStream(const plan::LogicalPlan& plan, const std::string& name) {
  for (const StreamDef& def : plan.streams) {
    if (def.name == name) return &def;
  }
  return nullptr;
}

// Every NDJSON line of a run (events and catalogue) is valid for the streams of
// shop_streams.yaml, with the values the simulator produced; the CSV headers match the fields.
TEST(ShopFormatTest, OutputValidatesAgainstTheStreamSpec) {
  std::vector<plan::SpecError> errors;
  auto plan = plan::CompileSpecFile(SHOP_STREAMS_YAML, &errors);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const StreamDef* events_def = FindStream(*plan, "events");
  const StreamDef* items_def = FindStream(*plan, "items");
  ASSERT_NE(events_def, nullptr);
  ASSERT_NE(items_def, nullptr);

  std::vector<Item> items;
  const std::vector<Event> events = RunAll(Small(), &items);
  const std::string body = Render(events, OutputFormat::kNdjson);
  NdjsonParser parser(*events_def, NdjsonLimits{});
  RowBatch rows(events_def->schema.size());
  std::vector<BadLine> bad;
  ASSERT_CODE(parser.Parse(body, 0, &rows, &bad), kOk);
  ASSERT_TRUE(bad.empty()) << "line " << bad[0].line << ": " << bad[0].reason;
  ASSERT_EQ(rows.size(), events.size());
  const int id = events_def->schema.FieldIndex("event_id");
  const int user = events_def->schema.FieldIndex("user_id");
  const int price = events_def->schema.FieldIndex("price");
  const int type = events_def->schema.FieldIndex("type");
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    ASSERT_EQ(rows.meta(i).event_time_ms, (19786 * kSecondsPerDay + e.time_seconds) * 1000);
    ASSERT_EQ(rows.row(i)[id].i64, static_cast<int64_t>(e.event_id));
    ASSERT_EQ(rows.row(i)[user].i64, e.user_id);
    ASSERT_NEAR(rows.row(i)[price].f64, e.price_cents / 100.0, 1e-9);
    ASSERT_EQ(std::string_view(rows.row(i)[type].str, rows.row(i)[type].len), EventTypeName(e.type));
  }

  // The catalogue in the command's order (release time): every row's event time is within the
  // stream's declared out-of-orderness of the largest before it, so none is late.
  const std::vector<uint32_t> order = ItemReleaseOrder(items);
  std::string catalogue;
  for (uint32_t i : order) AppendItem(i, items[i], 19786, OutputFormat::kNdjson, &catalogue);
  NdjsonParser item_parser(*items_def, NdjsonLimits{});
  RowBatch item_rows(items_def->schema.size());
  ASSERT_CODE(item_parser.Parse(catalogue, 0, &item_rows, &bad), kOk);
  ASSERT_TRUE(bad.empty()) << "line " << bad[0].line << ": " << bad[0].reason;
  ASSERT_EQ(item_rows.size(), items.size());
  const int item_id = items_def->schema.FieldIndex("item_id");
  int64_t max_time_ms = INT64_MIN;
  for (size_t r = 0; r < items.size(); ++r) {
    const uint32_t i = order[r];
    ASSERT_EQ(item_rows.row(r)[item_id].i64, i);
    ASSERT_EQ(item_rows.meta(r).event_time_ms, (19786 * kSecondsPerDay + items[i].release_seconds) * 1000);
    ASSERT_GE(item_rows.meta(r).event_time_ms, max_time_ms - items_def->watermark.max_out_of_orderness_ms)
        << "catalogue row " << r << " (item " << i << ") would be late";
    max_time_ms = std::max(max_time_ms, item_rows.meta(r).event_time_ms);
  }

  const auto header_fields = [](void (*append)(std::string*)) {
    std::string line;
    append(&line);
    line.pop_back();
    std::vector<std::string> names;
    for (size_t pos = 0;;) {
      const size_t comma = line.find(',', pos);
      names.push_back(line.substr(pos, comma - pos));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    return names;
  };
  auto event_columns = MatchCsvHeader(header_fields(AppendEventCsvHeader), *events_def, {});
  ASSERT_CODE(event_columns.status(), kOk);
  EXPECT_EQ(event_columns->size(), events_def->schema.size());
  auto item_columns = MatchCsvHeader(header_fields(AppendItemCsvHeader), *items_def, {});
  ASSERT_CODE(item_columns.status(), kOk);
  EXPECT_EQ(item_columns->size(), items_def->schema.size());
}

}  // namespace
}  // namespace impulse::shop
