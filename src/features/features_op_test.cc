// The features step: compile-time checks of feature views, and per-event values against a
// brute-force recomputation over shuffled arrival orders, checkpoint/restore mid-stream, and
// the online store.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "event/row_codec.h"
#include "features/online_store.h"
#include "plan/physical.h"
#include "spec/spec.h"

namespace impulse::plan {
namespace {

constexpr char kStreams[] = R"(
streams:
  - name: tx
    fields:
      - {name: card, type: int64}
      - {name: amount, type: double}
      - {name: fraud, type: int64}
      - {name: ts, type: timestamp}
    key: card
    event_time: ts
    partitions: 1
)";

constexpr char kView[] = R"(
feature_views:
  - name: card
    source: tx
    entity: card
    mode: point_in_time
    label: {field: fraud, delay: 50}
    features:
      - {name: n_100, agg: count(), window: 100}
      - {name: avg_100, agg: avg(amount), window: 100}
      - {name: max_30, agg: max(amount), window: 30}
      - {name: n_d, agg: count(), window: 60, delay: 50}
      - {name: risk_d, agg: avg(fraud), window: 60, delay: 50, default: 0}
      - {name: sum_d2, agg: sum(amount), window: 20, delay: 10}
      - {name: prev_amount, previous: amount}
      - {name: since_prev, time_since_previous: ms}
      - {name: ratio, expr: "amount / avg_100"}
pipelines:
  - name: p
    from: tx
    steps:
      - features: card
    sink: {stream: out}
)";

struct Event {
  int64_t card;
  double amount;
  int64_t fraud;
  int64_t ts;
};

Result<LogicalPlan> CompileText(const std::string& body) {
  return CompileSpec(std::string(kStreams) + body, "t.yaml", nullptr);
}

std::string ErrorOf(const std::string& body) {
  auto p = CompileText(body);
  return p.ok() ? "" : p.status().message();
}

TEST(FeatureViewSpec, CompilesAndAppendsFeaturesToTheInput) {
  auto p = CompileText(kView);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->feature_views.size(), 1u);
  const FeatureViewDef& v = *p->feature_views[0];
  EXPECT_EQ(v.entity.name, "card");
  EXPECT_EQ(v.features.size(), 9u);
  EXPECT_EQ(v.feature_schema.size(), 9u);
  const Schema& out = p->pipelines[0].output.schema;
  EXPECT_EQ(out.size(), 4u + 9u);
  EXPECT_EQ(out.field(4).name, "n_100");
  EXPECT_FALSE(out.field(8).nullable);  // risk_d has a default
  EXPECT_TRUE(out.field(10).nullable);  // prev_amount
}

TEST(FeatureViewSpec, RefusesReadingALabelBeforeItsDelay) {
  std::string s = kView;
  s.replace(s.find("avg(fraud), window: 60, delay: 50"), 33, "avg(fraud), window: 60, delay: 49");
  EXPECT_NE(ErrorOf(s).find("aggregates label 'fraud'"), std::string::npos) << ErrorOf(s);
  std::string e = kView;
  e.replace(e.find("amount / avg_100"), 16, "fraud + 1");
  EXPECT_NE(ErrorOf(e).find("reads label 'fraud'"), std::string::npos) << ErrorOf(e);
  std::string pr = kView;
  pr.replace(pr.find("previous: amount"), 16, "previous: fraud");
  EXPECT_NE(ErrorOf(pr).find("reads label 'fraud'"), std::string::npos) << ErrorOf(pr);
}

TEST(FeatureViewSpec, ReportsUnknownUnusedAndTwiceComputedViews) {
  std::string unknown = kView;
  unknown.replace(unknown.find("- features: card"), 16, "- features: crad");
  EXPECT_NE(ErrorOf(unknown).find("unknown feature view 'crad'"), std::string::npos) << ErrorOf(unknown);
  std::string unused = kView;
  unused.replace(unused.find("      - features: card\n"), 23, "      - filter: amount > 0\n");
  EXPECT_NE(ErrorOf(unused).find("not computed by any pipeline"), std::string::npos) << ErrorOf(unused);
  std::string twice = std::string(kView) + R"(  - name: q
    from: tx
    steps:
      - features: card
    sink: {stream: out2}
)";
  EXPECT_NE(ErrorOf(twice).find("computed by another step"), std::string::npos) << ErrorOf(twice);
}

TEST(FeatureViewSpec, EntityMustBeThePartitioningKey) {
  std::string s = kView;
  s.replace(s.find("entity: card"), 12, "entity: fraud");
  const std::string streams4 =
      std::string(kStreams).replace(std::string(kStreams).find("partitions: 1"), 13, "partitions: 4");
  auto p = CompileSpec(streams4 + s, "t.yaml", nullptr);
  ASSERT_CODE(p, kInvalidArgument);
  EXPECT_NE(p.status().message().find("partitioned by 'card'"), std::string::npos) << p.status().message();
}

TEST(FeatureViewSpec, ChecksFeatureShapes) {
  std::string s = kView;
  s.replace(s.find("{name: n_100, agg: count(), window: 100}"), 40, "{name: n_100, agg: count()}");
  EXPECT_NE(ErrorOf(s).find("needs 'window: duration'"), std::string::npos) << ErrorOf(s);
  std::string d = kView;
  d.replace(d.find("default: 0"), 10, "default: x");
  EXPECT_NE(ErrorOf(d).find("default of feature 'risk_d'"), std::string::npos) << ErrorOf(d);
  std::string c = kView;
  c.replace(c.find("name: ratio"), 11, "name: amount");
  EXPECT_NE(ErrorOf(c).find("clashes"), std::string::npos) << ErrorOf(c);
}

// --- values ---

struct Expected {
  int64_t n_100 = 0;
  std::optional<double> avg_100, max_30;
  int64_t n_d = 0;
  double risk_d = 0;
  std::optional<double> sum_d2;
  std::optional<double> since_prev;  // to the latest strictly earlier event
  std::vector<double> prev_amounts;  // the amounts of the events at that time (any may be taken)
  bool tie = false;                  // another event of the card at the same time: it may be the previous one
};

// Brute force from the definitions: windows are ranges of event time; every event at the same
// time as this one is in its undelayed windows. The previous event: the latest earlier one (by
// time, then arrival among equal times).
// The view's state ttl: its longest window + delay (n_d: 60 + 50).
constexpr int64_t kStateTtlMs = 110;

std::map<size_t, Expected> Reference(const std::vector<Event>& ev) {
  std::map<size_t, Expected> out;
  for (size_t i = 0; i < ev.size(); ++i) {
    const Event& e = ev[i];
    Expected x;
    double sum100 = 0, sum_d2 = 0, fraud_d = 0;
    int64_t n_d2 = 0;
    int64_t best_prev_ts = INT64_MIN;
    for (size_t j = 0; j < ev.size(); ++j) {
      const Event& o = ev[j];
      if (o.card != e.card) continue;
      if (o.ts > e.ts - 100 && o.ts <= e.ts) {
        ++x.n_100;
        sum100 += o.amount;
      }
      if (o.ts > e.ts - 30 && o.ts <= e.ts) x.max_30 = std::max(x.max_30.value_or(-1e300), o.amount);
      if (o.ts > e.ts - 110 && o.ts <= e.ts - 50) {
        ++x.n_d;
        fraud_d += static_cast<double>(o.fraud);
      }
      if (o.ts > e.ts - 30 && o.ts <= e.ts - 10) {
        ++n_d2;
        sum_d2 += o.amount;
      }
      if (o.ts == e.ts && j != i) x.tie = true;
      if (o.ts < e.ts && o.ts >= best_prev_ts) {
        if (o.ts > best_prev_ts) x.prev_amounts.clear();
        best_prev_ts = o.ts;
        x.prev_amounts.push_back(o.amount);
        x.since_prev = static_cast<double>(e.ts - o.ts);
      }
    }
    // A card idle for longer than the state ttl starts afresh: no previous event.
    if (best_prev_ts < e.ts - kStateTtlMs) {
      x.prev_amounts.clear();
      x.since_prev.reset();
    }
    x.avg_100 = sum100 / static_cast<double>(x.n_100);
    x.risk_d = x.n_d == 0 ? 0.0 : fraud_d / static_cast<double>(x.n_d);
    if (n_d2 > 0) x.sum_d2 = sum_d2;
    out[i] = x;
  }
  return out;
}

struct Output {
  std::vector<std::vector<Value>> rows;  // output rows, strings not used
  std::vector<int64_t> ids;              // index of the input event (carried in meta.offset)
};

// kView computed on arrival.
std::string ArrivalView() {
  std::string s = kView;
  s.replace(s.find("mode: point_in_time"), 19, "mode: on_arrival");
  return s;
}

std::unique_ptr<PhysicalPipeline> Physical(LogicalPlan* plan, bool on_arrival = false) {
  auto p = CompileText(on_arrival ? ArrivalView() : std::string(kView));
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  *plan = std::move(*p);
  auto phys = PhysicalPipeline::Create(plan->pipelines[0], *plan);
  EXPECT_TRUE(phys.ok()) << phys.status().ToString();
  return std::move(*phys);
}

// Feeds `order` (indexes into ev) in batches with the watermark max_ts - bound before each row,
// optionally checkpointing and restoring into a fresh instance after `restart_at` rows.
// Instances use RocksDB state behind a 3-entry cache (every few events evict) when set.
std::string g_rocksdb_dir;

Output Feed(const PhysicalPipeline& phys, const std::vector<Event>& ev, const std::vector<size_t>& order, int64_t bound,
            size_t batch, OnlineStore* store, size_t restart_at = SIZE_MAX) {
  InstanceOptions io;
  io.online_store = [store](const std::string&) { return store; };
  static int generation = 0;
  if (!g_rocksdb_dir.empty()) {
    io.state.backend = state::StateOptions::Backend::kRocksDb;
    io.state.cache_entries_max = 3;
  }
  const auto fresh_dir = [&] {
    if (!g_rocksdb_dir.empty()) io.state.rocksdb_dir = g_rocksdb_dir + "/g" + std::to_string(generation++);
  };
  fresh_dir();
  auto inst = phys.NewInstance(io);
  EXPECT_TRUE(inst.ok());
  std::unique_ptr<PipelineInstance> in_use = std::move(*inst);
  const size_t width = phys.output_schema().size();
  RowBatch in(4), out(width), late(LateEventsStreamDef().schema.size());
  Output run;
  int64_t max_ts = INT64_MIN;
  auto collect = [&] {
    for (size_t i = 0; i < out.size(); ++i) {
      run.rows.emplace_back(out.row(i), out.row(i) + width);
      run.ids.push_back(static_cast<int64_t>(out.meta(i).offset));
    }
    EXPECT_EQ(late.size(), 0u);
    out.Clear();
    late.Clear();
  };
  for (size_t i = 0; i < order.size(); i += batch) {
    in.Clear();
    for (size_t j = i; j < std::min(order.size(), i + batch); ++j) {
      const Event& e = ev[order[j]];
      Value* r = in.AppendRow();
      r[0] = Value::Int(e.card);
      r[1] = Value::Double(e.amount);
      r[2] = Value::Int(e.fraud);
      r[3] = Value::Int(e.ts);
      RowMeta& m = in.meta(in.size() - 1);
      m.event_time_ms = e.ts;
      m.offset = order[j];
      m.watermark_ms = max_ts == INT64_MIN ? INT64_MIN : max_ts - bound;
      max_ts = std::max(max_ts, e.ts);
    }
    EXPECT_TRUE(in_use->Run(0, in, max_ts - bound, &out, &late).ok());
    collect();
    if (i + batch >= restart_at && i < restart_at) {
      char tmpl[] = "/tmp/features_op_test_XXXXXX";
      const std::string dir = mkdtemp(tmpl);
      EXPECT_TRUE(in_use->Checkpoint(dir + "/ckpt").ok());
      fresh_dir();
      auto fresh = phys.NewInstance(io);
      EXPECT_TRUE(fresh.ok());
      in_use = std::move(*fresh);
      EXPECT_TRUE(in_use->Restore(dir + "/ckpt").ok());
      std::filesystem::remove_all(dir);
    }
  }
  in.Clear();
  EXPECT_TRUE(in_use->Run(0, in, INT64_MAX, &out, &late).ok());
  collect();
  return run;
}

std::vector<Event> RandomEvents(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<Event> ev;
  int64_t t = 1000;
  for (size_t i = 0; i < n; ++i) {
    t += static_cast<int64_t>(rng() % 6);  // equal times happen
    ev.push_back({static_cast<int64_t>(rng() % 7), static_cast<double>(rng() % 10'000) / 100.0,
                  static_cast<int64_t>(rng() % 4 == 0), t});
  }
  return ev;
}

// Arrival order: each event displaced by less than `disorder` of event time.
std::vector<size_t> Shuffled(const std::vector<Event>& ev, uint64_t seed, int64_t disorder) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> order(ev.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = 1; i < order.size(); ++i) {
    size_t j = i;
    while (j > 0 && rng() % 2 == 0 && std::abs(ev[order[j - 1]].ts - ev[order[j]].ts) < disorder) {
      std::swap(order[j - 1], order[j]);
      --j;
    }
  }
  return order;
}

void ExpectNear(const Value& v, std::optional<double> want, const std::string& what) {
  if (!want) {
    EXPECT_TRUE(v.null) << what;
    return;
  }
  ASSERT_FALSE(v.null) << what;
  EXPECT_NEAR(v.f64, *want, 1e-9 * std::max(1.0, std::abs(*want))) << what;
}

void CheckAgainstReference(const std::vector<Event>& ev, const Output& run, const std::string& what) {
  ASSERT_EQ(run.rows.size(), ev.size()) << what;
  const auto ref = Reference(ev);
  std::vector<int> seen(ev.size(), 0);
  for (size_t r = 0; r < run.rows.size(); ++r) {
    const size_t id = static_cast<size_t>(run.ids[r]);
    ++seen[id];
    const std::vector<Value>& o = run.rows[r];
    const Expected& x = ref.at(id);
    const std::string at = what + " event " + std::to_string(id) + " (card " + std::to_string(ev[id].card) + ", t " +
                           std::to_string(ev[id].ts) + ")";
    EXPECT_EQ(o[0].i64, ev[id].card) << at;
    EXPECT_EQ(o[4].i64, x.n_100) << at;
    ExpectNear(o[5], x.avg_100, at + " avg_100");
    ExpectNear(o[6], x.max_30, at + " max_30");
    EXPECT_EQ(o[7].i64, x.n_d) << at;
    ExpectNear(o[8], x.risk_d, at + " risk_d");
    ExpectNear(o[9], x.sum_d2, at + " sum_d2");
    // Equal times are taken in content order: an equal-time event may be the previous one.
    if (x.tie && !o[11].null && o[11].f64 == 0) {
      EXPECT_FALSE(o[10].null) << at;
    } else {
      ExpectNear(o[11], x.since_prev, at + " since_prev");
      EXPECT_EQ(o[10].null, x.prev_amounts.empty()) << at;
      if (!o[10].null) {
        EXPECT_NE(std::find(x.prev_amounts.begin(), x.prev_amounts.end(), o[10].f64), x.prev_amounts.end()) << at;
      }
    }
    ExpectNear(o[12], ev[id].amount / *x.avg_100, at + " ratio");
    if (::testing::Test::HasFailure()) return;
  }
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << what << " event " << i;
}

TEST(FeaturesOperator, MatchesBruteForceInOrder) {
  LogicalPlan plan;
  auto phys = Physical(&plan);
  const auto ev = RandomEvents(1, 600);
  std::vector<size_t> order(ev.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  OnlineStore store(plan.feature_views[0]);
  CheckAgainstReference(ev, Feed(*phys, ev, order, /*bound=*/0, /*batch=*/7, &store), "in order");
}

TEST(FeaturesOperator, MatchesBruteForceInShuffledOrderWithinTheBound) {
  LogicalPlan plan;
  auto phys = Physical(&plan);
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const auto ev = RandomEvents(seed + 10, 500);
    const auto order = Shuffled(ev, seed, /*disorder=*/40);
    OnlineStore store(plan.feature_views[0]);
    CheckAgainstReference(ev, Feed(*phys, ev, order, /*bound=*/40, /*batch=*/1 + seed * 5, &store),
                          "shuffle seed " + std::to_string(seed));
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(FeaturesOperator, CheckpointAndRestoreMidStreamGiveTheSameRows) {
  LogicalPlan plan;
  auto phys = Physical(&plan);
  const auto ev = RandomEvents(5, 800);
  const auto order = Shuffled(ev, 5, 40);
  OnlineStore a(plan.feature_views[0]), b(plan.feature_views[0]);
  const Output straight = Feed(*phys, ev, order, 40, 13, &a);
  const Output restarted = Feed(*phys, ev, order, 40, 13, &b, /*restart_at=*/400);
  ASSERT_EQ(straight.rows.size(), restarted.rows.size());
  for (size_t r = 0; r < straight.rows.size(); ++r) {
    ASSERT_EQ(straight.ids[r], restarted.ids[r]) << r;
    for (size_t c = 0; c < straight.rows[r].size(); ++c) {
      const Value& x = straight.rows[r][c];
      const Value& y = restarted.rows[r][c];
      ASSERT_EQ(x.null, y.null) << "row " << r << " column " << c;
      if (!x.null) {
        ASSERT_EQ(x.i64, y.i64) << "row " << r << " column " << c;  // bit-identical
      }
    }
  }
  CheckAgainstReference(ev, restarted, "restarted");
}

TEST(FeaturesOperator, OnlineStoreHoldsEachEntitysLatestFeatures) {
  LogicalPlan plan;
  auto phys = Physical(&plan);
  const auto ev = RandomEvents(9, 300);
  std::vector<size_t> order(ev.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  OnlineStore store(plan.feature_views[0]);
  const Output run = Feed(*phys, ev, order, 0, 50, &store);
  // The last output row of each card is its online value.
  std::map<int64_t, size_t> last;
  for (size_t r = 0; r < run.rows.size(); ++r) last[run.rows[r][0].i64] = r;
  EXPECT_EQ(store.size(), last.size());
  const Schema& fs = plan.feature_views[0]->feature_schema;
  for (const auto& [card, r] : last) {
    std::string key, why;
    ASSERT_TRUE(store.KeyFromText(std::to_string(card), &key, &why)) << why;
    OnlineStore::Entry e;
    ASSERT_TRUE(store.Get(key, &e)) << card;
    EXPECT_EQ(e.as_of_ms, run.rows[r][3].i64);
    RowBatch got(fs.size());
    ASSERT_TRUE(DecodeRow(fs, e.values, &got).ok());
    for (size_t c = 0; c < fs.size(); ++c) {
      const Value& want = run.rows[r][4 + c];
      EXPECT_EQ(got.row(0)[c].null, want.null) << card << " " << fs.field(c).name;
      if (!want.null) {
        EXPECT_EQ(got.row(0)[c].i64, want.i64) << card << " " << fs.field(c).name;
      }
    }
  }
  std::string key, why;
  EXPECT_FALSE(store.KeyFromText("x1", &key, &why));
  ASSERT_TRUE(store.KeyFromText("999", &key, &why));
  OnlineStore::Entry e;
  EXPECT_FALSE(store.Get(key, &e));
}

TEST(FeaturesOperator, IdleEntitiesExpireFromStateAndOnlineStore) {
  LogicalPlan plan;
  auto phys = Physical(&plan);
  // Card 1 at t=0, then card 2 much later: card 1 is idle beyond the longest window + delay.
  std::vector<Event> ev = {{1, 5, 0, 0}, {2, 6, 0, 1'000'000}, {2, 7, 0, 1'002'000}};
  std::vector<size_t> order = {0, 1, 2};
  OnlineStore store(plan.feature_views[0]);
  Feed(*phys, ev, order, 0, 1, &store);
  std::string key, why;
  ASSERT_TRUE(store.KeyFromText("1", &key, &why));
  OnlineStore::Entry e;
  EXPECT_FALSE(store.Get(key, &e));
  // Remembered as expired (a lookup says so), with its last event's time.
  int64_t last_ms = -1;
  EXPECT_TRUE(store.WasExpired(key, &last_ms));
  EXPECT_EQ(last_ms, 0);
  ASSERT_TRUE(store.KeyFromText("2", &key, &why));
  EXPECT_TRUE(store.Get(key, &e));  // live (a lookup reads the store first)
}

// Issue: an entity idle beyond the view's state ttl (here its longest window + delay, 110 ms)
// kept its `previous:` values, and the rounding its window sums had from retractions, unless a
// sweep had dropped it in between; sweeps run at watermarks that depend on how a stream's
// writers interleave, so a live run and a backfill differed (seen in tests/fraud_features_test
// with a lookup of such a view). It now starts afresh at its next event either way, in both modes.
TEST(FeaturesOperator, AnEntityIdleBeyondTheStateTtlStartsAfreshWhetherOrNotASweepRan) {
  // On arrival the same rule holds against the watermark at the event's arrival (the brute force
  // of FeaturesOnArrival checks it); here, point in time, against the event's time.
  for (bool on_arrival : {false}) {
    LogicalPlan plan;
    auto phys = Physical(&plan, on_arrival);
    // Card 2's event moves the watermark 1.5 s on: a sweep drops card 1 before its second event.
    const std::vector<Event> quiet = {{1, 5, 0, 0}, {1, 7, 0, 2000}};
    const std::vector<Event> swept = {{1, 5, 0, 0}, {2, 6, 0, 1500}, {1, 7, 0, 2000}};
    for (const std::vector<Event>* ev : {&quiet, &swept}) {
      SCOPED_TRACE(std::string(on_arrival ? "on arrival, " : "point in time, ") +
                   (ev == &quiet ? "no sweep between" : "a sweep between"));
      std::vector<size_t> order(ev->size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      OnlineStore store(plan.feature_views[0]);
      const Output out = Feed(*phys, *ev, order, /*bound=*/0, /*batch=*/1, &store);
      const int64_t last = static_cast<int64_t>(ev->size() - 1);
      const int prev = plan.pipelines[0].output.schema.FieldIndex("prev_amount");
      const int n = plan.pipelines[0].output.schema.FieldIndex("n_100");
      ASSERT_GE(prev, 0);
      ASSERT_GE(n, 0);
      bool seen = false;
      for (size_t r = 0; r < out.rows.size(); ++r) {
        if (out.ids[r] != last) continue;
        seen = true;
        EXPECT_TRUE(out.rows[r][static_cast<size_t>(prev)].null);  // no previous event: it starts afresh
        EXPECT_EQ(out.rows[r][static_cast<size_t>(n)].i64, 1);
      }
      EXPECT_TRUE(seen);
    }
  }
}

TEST(OnlineStore, RemembersABoundedNumberOfExpiredEntities) {
  LogicalPlan plan;
  auto phys = Physical(&plan);
  OnlineStore store(plan.feature_views[0]);
  // Far more expiries than remembered: the memory stays bounded, the latest are remembered.
  const size_t n = OnlineStore::kExpiredRememberedPerStripe * 64 * 4;
  for (size_t i = 0; i < n; ++i) {
    const std::string key = "k" + std::to_string(i);
    store.Put(key, static_cast<int64_t>(i), "v");
    store.Expire(key);
  }
  EXPECT_EQ(store.size(), 0u);
  size_t remembered = 0;
  int64_t last_ms = 0;
  for (size_t i = 0; i < n; ++i) remembered += store.WasExpired("k" + std::to_string(i), &last_ms) ? 1 : 0;
  EXPECT_LE(remembered, OnlineStore::kExpiredRememberedPerStripe * 64);
  EXPECT_GT(remembered, 0u);
  EXPECT_TRUE(store.WasExpired("k" + std::to_string(n - 1), &last_ms));
  EXPECT_EQ(last_ms, static_cast<int64_t>(n - 1));
  store.Expire("never-put");  // nothing to expire: not remembered
  EXPECT_FALSE(store.WasExpired("never-put", &last_ms));
}

TEST(FeaturesOperator, RocksDbStateBehindATinyCacheGivesTheSameValues) {
  char tmpl[] = "/tmp/features_rocks_XXXXXX";
  g_rocksdb_dir = mkdtemp(tmpl);
  LogicalPlan plan;
  auto phys = Physical(&plan);
  const auto ev = RandomEvents(21, 400);
  const auto order = Shuffled(ev, 21, 40);
  OnlineStore store(plan.feature_views[0]);
  CheckAgainstReference(ev, Feed(*phys, ev, order, 40, 9, &store, /*restart_at=*/200), "rocksdb");
  std::filesystem::remove_all(g_rocksdb_dir);
  g_rocksdb_dir.clear();
}

TEST(FeaturesOperator, RowsPerEntityMaxSendsExcessRowsToLateEvents) {
  std::string spec = kView;
  spec.replace(spec.find("    entity: card\n"), 17, "    entity: card\n    rows_per_entity_max: 3\n");
  auto p = CompileText(spec);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->feature_views[0]->rows_per_entity_max, 3u);
  auto phys = PhysicalPipeline::Create(p->pipelines[0], *p);
  ASSERT_TRUE(phys.ok());
  auto inst = (*phys)->NewInstance(InstanceOptions{});
  ASSERT_TRUE(inst.ok());
  RowBatch in(4), out((*phys)->output_schema().size()), late(LateEventsStreamDef().schema.size());
  for (int i = 0; i < 5; ++i) {  // one card, all within its 100 ms window
    Value* r = in.AppendRow();
    r[0] = Value::Int(1);
    r[1] = Value::Double(1.0);
    r[2] = Value::Int(0);
    r[3] = Value::Int(1000 + i);
    in.meta(in.size() - 1).event_time_ms = 1000 + i;
    in.meta(in.size() - 1).watermark_ms = INT64_MIN;
  }
  EXPECT_TRUE((*inst)->Run(0, in, INT64_MAX, &out, &late).ok());
  EXPECT_EQ(out.size(), 3u);
  ASSERT_EQ(late.size(), 2u);
  EXPECT_EQ(late.row(0)[2].sv(), "state_limit");
  EXPECT_EQ((*inst)->Stats()[0].second.limit_dropped, 2u);
}

// Issue: a failed entity lookup within a run of equal event times aborted the process (an
// IMPULSE_CHECK), and a failed insert became "state limit" late rows. Both return the error now.
TEST(FeaturesOperator, StateBackendFailureIsReturnedNotCheckedOrCalledAStateLimit) {
  auto p = CompileText(kView);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto phys = PhysicalPipeline::Create(p->pipelines[0], *p);
  ASSERT_TRUE(phys.ok());
  // Two entities at one event time: FindOrInsert(1), FindOrInsert(2), then Find(1) to emit.
  for (uint64_t fail_after : {uint64_t{0}, uint64_t{1}, uint64_t{2}}) {
    SCOPED_TRACE(fail_after);
    InstanceOptions io;
    io.state.fail_after_ops_for_test = fail_after;  // 0: no failure, the reference run
    auto inst = (*phys)->NewInstance(io);
    ASSERT_TRUE(inst.ok());
    RowBatch in(4), out((*phys)->output_schema().size()), late(LateEventsStreamDef().schema.size());
    for (int card = 1; card <= 2; ++card) {
      Value* r = in.AppendRow();
      r[0] = Value::Int(card);
      r[1] = Value::Double(1.0);
      r[2] = Value::Int(0);
      r[3] = Value::Int(1000);
      in.meta(in.size() - 1).event_time_ms = 1000;
      in.meta(in.size() - 1).watermark_ms = INT64_MIN;
    }
    const Status st = (*inst)->Run(0, in, INT64_MAX, &out, &late);
    EXPECT_EQ(late.size(), 0u);
    EXPECT_EQ((*inst)->Stats()[0].second.limit_dropped, 0u);
    if (fail_after == 0) {
      EXPECT_TRUE(st.ok()) << st.ToString();
      EXPECT_EQ(out.size(), 2u);
      continue;
    }
    EXPECT_EQ(st.code(), StatusCode::kIOError);
    // The instance stays stopped: a later call returns the same error and runs nothing.
    RowBatch empty(4);
    EXPECT_EQ((*inst)->Run(0, empty, INT64_MAX, &out, &late).code(), StatusCode::kIOError);
  }
}

// --- on arrival ---

// Brute force of on-arrival values: event k of the arrival order sees the events of its card that
// arrived up to it (itself included) whose time is in its windows. `previous:` and the time since
// it are those of the card's newest event at its arrival (an event older than that is not the
// newest itself), unless that is older than the state ttl before the watermark at its arrival
// (the largest time before it - `bound`) or its own time: the card then starts afresh.
std::map<size_t, Expected> ReferenceOnArrival(const std::vector<Event>& ev, const std::vector<size_t>& order,
                                              int64_t bound) {
  std::map<size_t, Expected> out;
  std::map<int64_t, std::pair<int64_t, double>> newest;  // card -> (time, amount) of its newest event
  int64_t max_ts = INT64_MIN;
  for (size_t k = 0; k < order.size(); ++k) {
    const Event& e = ev[order[k]];
    const int64_t w = max_ts == INT64_MIN ? INT64_MIN : max_ts - bound;
    max_ts = std::max(max_ts, e.ts);
    if (auto idle = newest.find(e.card);
        idle != newest.end() && w != INT64_MIN && idle->second.first < std::min(e.ts, w) - kStateTtlMs) {
      newest.erase(idle);
    }
    Expected x;
    double sum100 = 0, sum_d2 = 0, fraud_d = 0;
    int64_t n_d2 = 0;
    for (size_t a = 0; a <= k; ++a) {
      const Event& o = ev[order[a]];
      if (o.card != e.card) continue;
      if (o.ts > e.ts - 100 && o.ts <= e.ts) {
        ++x.n_100;
        sum100 += o.amount;
      }
      if (o.ts > e.ts - 30 && o.ts <= e.ts) x.max_30 = std::max(x.max_30.value_or(-1e300), o.amount);
      if (o.ts > e.ts - 110 && o.ts <= e.ts - 50) {
        ++x.n_d;
        fraud_d += static_cast<double>(o.fraud);
      }
      if (o.ts > e.ts - 30 && o.ts <= e.ts - 10) {
        ++n_d2;
        sum_d2 += o.amount;
      }
    }
    auto it = newest.find(e.card);
    if (it != newest.end()) {
      x.since_prev = static_cast<double>(e.ts - it->second.first);
      x.prev_amounts = {it->second.second};
    }
    if (it == newest.end() || e.ts >= it->second.first) newest[e.card] = {e.ts, e.amount};
    x.avg_100 = sum100 / static_cast<double>(x.n_100);
    x.risk_d = x.n_d == 0 ? 0.0 : fraud_d / static_cast<double>(x.n_d);
    if (n_d2 > 0) x.sum_d2 = sum_d2;
    out[order[k]] = x;
  }
  return out;
}

// Exact, bit for bit where the sums are taken in the same order: counts, max and previous values
// are compared exactly, sums and averages to rounding (the brute force adds in another order).
void CheckOnArrival(const std::vector<Event>& ev, const std::vector<size_t>& order, int64_t bound, const Output& run,
                    const std::string& what) {
  ASSERT_EQ(run.rows.size(), ev.size()) << what;
  const auto ref = ReferenceOnArrival(ev, order, bound);
  for (size_t r = 0; r < run.rows.size(); ++r) {
    // Emitted as they arrive: row r is the r-th arrival.
    ASSERT_EQ(static_cast<size_t>(run.ids[r]), order[r]) << what << " row " << r;
    const size_t id = order[r];
    const std::vector<Value>& o = run.rows[r];
    const Expected& x = ref.at(id);
    const std::string at = what + " arrival " + std::to_string(r) + " event " + std::to_string(id) + " (card " +
                           std::to_string(ev[id].card) + ", t " + std::to_string(ev[id].ts) + ")";
    EXPECT_EQ(o[4].i64, x.n_100) << at;
    ExpectNear(o[5], x.avg_100, at + " avg_100");
    ExpectNear(o[6], x.max_30, at + " max_30");
    EXPECT_EQ(o[7].i64, x.n_d) << at;
    ExpectNear(o[8], x.risk_d, at + " risk_d");
    ExpectNear(o[9], x.sum_d2, at + " sum_d2");
    EXPECT_EQ(o[10].null, x.prev_amounts.empty()) << at;
    if (!o[10].null && !x.prev_amounts.empty()) {
      EXPECT_EQ(o[10].f64, x.prev_amounts[0]) << at;
    }
    ExpectNear(o[11], x.since_prev, at + " since_prev");
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(FeaturesOnArrival, MatchesTheArrivalOrderBruteForceInOrderAndShuffled) {
  LogicalPlan plan;
  auto phys = Physical(&plan, /*on_arrival=*/true);
  {
    const auto ev = RandomEvents(1, 600);
    std::vector<size_t> order(ev.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    OnlineStore store(plan.feature_views[0]);
    CheckOnArrival(ev, order, 0, Feed(*phys, ev, order, /*bound=*/0, /*batch=*/7, &store), "in order");
  }
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const auto ev = RandomEvents(seed + 10, 500);
    const auto order = Shuffled(ev, seed, /*disorder=*/40);
    OnlineStore store(plan.feature_views[0]);
    CheckOnArrival(ev, order, 40, Feed(*phys, ev, order, /*bound=*/40, /*batch=*/1 + seed * 5, &store),
                   "shuffle seed " + std::to_string(seed));
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(FeaturesOnArrival, EveryEventIsEmittedInItsOwnBatchWithoutWaitingForTheWatermark) {
  LogicalPlan plan;
  auto phys = Physical(&plan, /*on_arrival=*/true);
  auto inst = phys->NewInstance(InstanceOptions{});
  ASSERT_TRUE(inst.ok());
  RowBatch in(4), out(phys->output_schema().size()), late(LateEventsStreamDef().schema.size());
  for (int i = 0; i < 5; ++i) {
    in.Clear();
    Value* r = in.AppendRow();
    r[0] = Value::Int(1);
    r[1] = Value::Double(1.0);
    r[2] = Value::Int(0);
    r[3] = Value::Int(1000 + i);
    in.meta(0).event_time_ms = 1000 + i;
    in.meta(0).watermark_ms = 1000 + i - 3'600'000;  // the watermark far behind: nothing would be released
    out.Clear();
    ASSERT_TRUE((*inst)->Run(0, in, 1000 + i - 3'600'000, &out, &late).ok());
    ASSERT_EQ(out.size(), 1u) << i;
    EXPECT_EQ(out.row(0)[4].i64, i + 1);  // n_100: the events so far
  }
  EXPECT_EQ(late.size(), 0u);
  // A point-in-time view holds them all.
  LogicalPlan plan2;
  auto exact = Physical(&plan2);
  auto inst2 = exact->NewInstance(InstanceOptions{});
  ASSERT_TRUE(inst2.ok());
  out.Clear();
  ASSERT_TRUE((*inst2)->Run(0, in, 1004 - 3'600'000, &out, &late).ok());
  EXPECT_EQ(out.size(), 0u);
}

TEST(FeaturesOnArrival, CheckpointRestoreAndRocksDbGiveBitIdenticalRows) {
  LogicalPlan plan;
  auto phys = Physical(&plan, /*on_arrival=*/true);
  const auto ev = RandomEvents(5, 800);
  const auto order = Shuffled(ev, 5, 40);
  OnlineStore a(plan.feature_views[0]), b(plan.feature_views[0]), c(plan.feature_views[0]);
  const Output straight = Feed(*phys, ev, order, 40, 13, &a);
  const Output restarted = Feed(*phys, ev, order, 40, 13, &b, /*restart_at=*/400);
  char tmpl[] = "/tmp/features_arrival_rocks_XXXXXX";
  g_rocksdb_dir = mkdtemp(tmpl);
  const Output rocks = Feed(*phys, ev, order, 40, 9, &c, /*restart_at=*/200);
  std::filesystem::remove_all(g_rocksdb_dir);
  g_rocksdb_dir.clear();
  for (const Output* other : {&restarted, &rocks}) {
    ASSERT_EQ(straight.rows.size(), other->rows.size());
    for (size_t r = 0; r < straight.rows.size(); ++r) {
      ASSERT_EQ(straight.ids[r], other->ids[r]) << r;
      for (size_t col = 0; col < straight.rows[r].size(); ++col) {
        const Value& x = straight.rows[r][col];
        const Value& y = other->rows[r][col];
        ASSERT_EQ(x.null, y.null) << "row " << r << " column " << col;
        if (!x.null) {
          ASSERT_EQ(x.i64, y.i64) << "row " << r << " column " << col;  // bit-identical
        }
      }
    }
  }
  CheckOnArrival(ev, order, 40, restarted, "restarted");
  EXPECT_GT(straight.rows.size(), 0u);
}

TEST(FeaturesOnArrival, ModeIsCheckedAtCompileTime) {
  std::string s = kView;
  s.replace(s.find("mode: point_in_time"), 19, "mode: on_arival");
  EXPECT_NE(ErrorOf(s).find("did you mean 'on_arrival'"), std::string::npos) << ErrorOf(s);
  std::string d = kView;
  d.replace(d.find("    mode: point_in_time\n"), 24, "");
  auto p = CompileText(d);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->feature_views[0]->mode, FeatureViewDef::Mode::kOnArrival);  // the default
}

// A view whose windows all end `delay` before the event holds each event until the watermark has
// completed them: the point-in-time values whatever the arrival order, even when the disorder
// (40 here) exceeds the smallest delay (10), as when several tasks write its stream.
TEST(FeaturesOnArrival, AViewOfDelayedWindowsOnlyGivesThePointInTimeValuesInAnyOrder) {
  const std::string view = R"(
feature_views:
  - name: card
    source: tx
    entity: card
    label: {field: fraud, delay: 50}
    features:
      - {name: n_d, agg: count(), window: 60, delay: 50}
      - {name: risk_d, agg: avg(fraud), window: 60, delay: 50, default: 0}
      - {name: sum_d2, agg: sum(amount), window: 20, delay: 10}
pipelines:
  - name: p
    from: tx
    steps:
      - features: card
    sink: {stream: out}
)";
  auto p = CompileText(view);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->feature_views[0]->mode, FeatureViewDef::Mode::kOnArrival);
  auto phys = PhysicalPipeline::Create(p->pipelines[0], *p);
  ASSERT_TRUE(phys.ok());
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const auto ev = RandomEvents(seed + 30, 500);
    const auto order = Shuffled(ev, seed, /*disorder=*/40);
    OnlineStore store(p->feature_views[0]);
    const Output run = Feed(**phys, ev, order, /*bound=*/40, /*batch=*/1 + seed * 3, &store,
                            /*restart_at=*/seed == 2 ? 250 : SIZE_MAX);
    ASSERT_EQ(run.rows.size(), ev.size());
    const auto ref = Reference(ev);
    for (size_t r = 0; r < run.rows.size(); ++r) {
      const size_t id = static_cast<size_t>(run.ids[r]);
      const Expected& x = ref.at(id);
      const std::string at = "seed " + std::to_string(seed) + " event " + std::to_string(id);
      EXPECT_EQ(run.rows[r][4].i64, x.n_d) << at;
      ExpectNear(run.rows[r][5], x.risk_d, at + " risk_d");
      ExpectNear(run.rows[r][6], x.sum_d2, at + " sum_d2");
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// Rows kept for late events are bounded by the view's span, not by how far behind the watermark
// is: with no watermark at all (a writer upstream that has not started), an entity's buffer
// stays near its window instead of growing to rows_per_entity_max and refusing events.
TEST(FeaturesOnArrival, RowsKeptForLateEventsAreBoundedWithoutAWatermark) {
  std::string spec = ArrivalView();
  spec.replace(spec.find("    entity: card\n"), 17, "    entity: card\n    rows_per_entity_max: 500\n");
  auto p = CompileText(spec);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto phys = PhysicalPipeline::Create(p->pipelines[0], *p);
  ASSERT_TRUE(phys.ok());
  auto inst = (*phys)->NewInstance(InstanceOptions{});
  ASSERT_TRUE(inst.ok());
  RowBatch in(4), out((*phys)->output_schema().size()), late(LateEventsStreamDef().schema.size());
  for (int i = 0; i < 2000; ++i) {  // one card, 10 ms apart: ~11 rows in its 110 ms span
    Value* r = in.AppendRow();
    r[0] = Value::Int(1);
    r[1] = Value::Double(1.0);
    r[2] = Value::Int(0);
    r[3] = Value::Int(1000 + 10 * i);
    in.meta(in.size() - 1).event_time_ms = 1000 + 10 * i;
    in.meta(in.size() - 1).watermark_ms = INT64_MIN;
  }
  ASSERT_TRUE((*inst)->Run(0, in, INT64_MIN, &out, &late).ok());
  EXPECT_EQ(late.size(), 0u);
  ASSERT_EQ(out.size(), 2000u);
  EXPECT_EQ(out.row(1999)[4].i64, 10);  // n_100: (t - 100, t] holds 10 events
}

}  // namespace
}  // namespace impulse::plan
