// Tests of the join operator (join_op.cc): each join type against a brute-force nested-loop
// reference over random inputs in random (bounded-disorder) arrival orders, on both state
// backends; cleanup, lateness, rows_max, lookup outer/inner, checkpoint/restore.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "expr/check.h"
#include "ops/operator.h"

namespace impulse::plan {
namespace {

// One input row of either side: key (nullable), id, a string, event time.
struct Ev {
  int side = 0;
  bool key_null = false;
  int64_t key = 0;
  int64_t id = 0;
  int64_t ts = 0;
  int64_t watermark = INT64_MIN;  // set by Arrange: the watermark in effect before the row
};

Schema SideSchema(const std::string& p) {
  return Schema(
      {{p + "k", FieldType::kInt64, true}, {p + "id", FieldType::kInt64, false}, {p + "s", FieldType::kString, false}});
}

LogicalOp MakeOp(const JoinDef& def) {
  LogicalOp op;
  op.kind = LogicalOp::Kind::kJoin;
  op.label = "join#1";
  auto j = std::make_shared<JoinDef>(def);
  j->left_key = 0;
  j->right_key = 0;
  j->right_schema = SideSchema("");
  j->prefix = "r_";
  op.input = SideSchema("");
  std::vector<Field> out = op.input.fields();
  for (Field f : j->right_schema.fields()) {
    f.name = "r_" + f.name;
    f.nullable = f.nullable || j->left_outer;
    out.push_back(f);
  }
  op.output = Schema(out);
  op.join = std::move(j);
  return op;
}

// A scratch directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "join_op_test.XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Renders one output row (values + event time) for multiset comparison.
std::string Render(const RowBatch& b, size_t i) {
  std::string s;
  const Value* v = b.row(i);
  for (size_t f = 0; f < b.width(); ++f) {
    if (v[f].null) {
      s += "null|";
    } else if (f % 3 == 2) {
      s += std::string(v[f].sv()) + "|";
    } else {
      s += std::to_string(v[f].i64) + "|";
    }
  }
  return s + "@" + std::to_string(b.meta(i).event_time_ms);
}

std::string RenderPair(const Ev* l, const Ev* r, int64_t event_time) {
  auto side = [](const Ev* e) -> std::string {
    if (e == nullptr) return "null|null|null|";
    return (e->key_null ? std::string("null") : std::to_string(e->key)) + "|" + std::to_string(e->id) + "|s" +
           std::to_string(e->id) + "|";
  };
  return side(l) + side(r) + "@" + std::to_string(event_time);
}

// Drives one operator over a sequence of events; collects output and late rows.
class Driver {
 public:
  Driver(const LogicalOp& op, state::StateOptions::Backend backend, const std::string& dir)
      : op_(op), late_(LateEventsStreamDef().schema.size()), rows_(op.output.size()) {
    ctx_.pipeline = "p";
    ctx_.label = "join#1";
    ctx_.state.backend = backend;
    ctx_.state.rocksdb_dir = dir + "/rocks-" + std::to_string(generation_++);
    ctx_.state.cache_entries_max = 4;  // tiny: most accesses go through RocksDB
    Result<std::unique_ptr<StatefulOperator>> j = NewJoinOperator(op, ctx_);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    join_ = std::move(j).value();
  }

  // Feeds events [begin, end), batching consecutive same-side rows up to `batch_max`.
  void Feed(const std::vector<Ev>& evs, size_t begin, size_t end, size_t batch_max = 3) {
    size_t i = begin;
    while (i < end) {
      RowBatch in(3);
      const int side = evs[i].side;
      while (i < end && evs[i].side == side && in.size() < batch_max) {
        const Ev& e = evs[i++];
        Value* v = in.AppendRow();
        v[0] = e.key_null ? Value::Null() : Value::Int(e.key);
        v[1] = Value::Int(e.id);
        v[2] = Value::String(in.arena().Copy("s" + std::to_string(e.id)));
        in.meta(in.size() - 1).event_time_ms = e.ts;
        in.meta(in.size() - 1).watermark_ms = e.watermark;
      }
      Run([&](OpOutput* out) { EXPECT_TRUE(join_->Process(side, in, out).ok()); });
    }
  }
  void Advance(int64_t w) {
    Run([&](OpOutput* out) { EXPECT_TRUE(join_->AdvanceWatermark(w, out).ok()); });
  }
  int64_t AdvancePartly(int64_t w, size_t rows_soft_max) {
    int64_t reached = INT64_MIN;
    Run([&](OpOutput* out) {
      Result<int64_t> r = join_->AdvanceWatermarkPartly(w, rows_soft_max, out);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok()) reached = *r;
    });
    return reached;
  }
  void Run(const std::function<void(OpOutput*)>& fn) {
    rows_.Clear();
    late_.Clear();
    OpOutput out{&rows_, &late_};
    fn(&out);
    for (size_t i = 0; i < rows_.size(); ++i) {
      output.push_back(Render(rows_, i));
      EXPECT_LE(rows_.meta(i).watermark_ms, join_->watermark());  // later rows of a batch advance it
    }
    for (size_t i = 0; i < late_.size(); ++i) {
      late_reasons.push_back(std::string(late_.row(i)[2].sv()));
      late_ids.push_back(late_.row(i)[3].i64);  // event time column
    }
    max_entries = std::max<uint64_t>(max_entries, join_->stats().entries);
  }
  StatefulOperator* op() { return join_.get(); }

  std::vector<std::string> output;
  std::vector<std::string> late_reasons;
  std::vector<int64_t> late_ids;
  uint64_t max_entries = 0;

 private:
  static inline int generation_ = 0;
  LogicalOp op_;
  OperatorContext ctx_;
  std::unique_ptr<StatefulOperator> join_;
  RowBatch late_, rows_;
};

// Random rows of both sides with ts growing over time, arrival = ts + delay (delay <= disorder,
// some stragglers up to 4x), watermark = max ts seen before the row - disorder.
std::vector<Ev> RandomEvents(uint32_t seed, int n, int keys, int64_t disorder, bool stragglers) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<int64_t, Ev>> arrivals;
  for (int i = 0; i < n; ++i) {
    Ev e;
    e.side = static_cast<int>(rng() % 2);
    e.key_null = rng() % 20 == 0;
    e.key = static_cast<int64_t>(rng() % keys);
    e.id = i;
    e.ts = i * 10 + static_cast<int64_t>(rng() % 10) - 3000;  // crosses zero: negative window starts
    int64_t delay = static_cast<int64_t>(rng() % (disorder + 1));
    if (stragglers && rng() % 15 == 0) delay = static_cast<int64_t>(rng() % (4 * disorder + 1));
    arrivals.push_back({e.ts + delay, e});
  }
  std::stable_sort(arrivals.begin(), arrivals.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Ev> out;
  int64_t max_ts = INT64_MIN;
  for (auto& [at, e] : arrivals) {
    e.watermark = max_ts == INT64_MIN ? INT64_MIN : max_ts - disorder;
    max_ts = std::max(max_ts, e.ts);
    out.push_back(e);
  }
  return out;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The reference: which rows are late under the documented rules, then a nested loop over the rest.
struct Expected {
  std::vector<std::string> rows;
  size_t late = 0;
};

Expected Reference(const JoinDef& def, const std::vector<Ev>& evs) {
  Expected x;
  std::vector<const Ev*> ok;
  std::map<const Ev*, int64_t> w_at;  // the operator's watermark when the event arrived
  int64_t w = INT64_MIN;
  for (const Ev& e : evs) {
    w = std::max(w, e.watermark);
    w_at[&e] = w;
    bool late = false;
    if (def.type == JoinDef::Type::kInterval) {
      const bool other_cleaned = e.side == 0 ? def.lower_ms != INT64_MIN : def.upper_ms != INT64_MAX;
      late = !e.key_null && other_cleaned && e.ts < w;
    } else if (def.type == JoinDef::Type::kWindow) {
      late = !e.key_null && w >= FloorDiv(e.ts, def.window_ms) * def.window_ms + def.window_ms;
    }
    if (late) {
      ++x.late;
    } else {
      ok.push_back(&e);
    }
  }
  for (const Ev* l : ok) {
    if (l->side != 0) continue;
    bool matched = false;
    for (const Ev* r : ok) {
      if (l->key_null || r->side != 1 || r->key_null || r->key != l->key) continue;
      if (def.type == JoinDef::Type::kInterval) {
        const int64_t d = r->ts - l->ts;
        if (d >= def.lower_ms && d <= def.upper_ms) {
          x.rows.push_back(RenderPair(l, r, std::max(l->ts, r->ts)));
          matched = true;
        }
      } else {
        const int64_t s = FloorDiv(l->ts, def.window_ms) * def.window_ms;
        if (FloorDiv(r->ts, def.window_ms) * def.window_ms == s)
          x.rows.push_back(RenderPair(l, r, s + def.window_ms - 1));
      }
    }
    // Left outer (interval): once, with null right fields, when no partner can come any more
    // (left.ts + upper), never behind the watermark at its arrival.
    if (def.left_outer && def.type == JoinDef::Type::kInterval && !matched) {
      x.rows.push_back(RenderPair(l, nullptr, std::max(l->ts + def.upper_ms, w_at[l])));
    }
  }
  std::sort(x.rows.begin(), x.rows.end());
  return x;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

using Backend = state::StateOptions::Backend;

class JoinOpTest : public ::testing::TestWithParam<Backend> {
 protected:
  TempDir dir_;
};

JoinDef Interval(int64_t lower, int64_t upper) {
  JoinDef d;
  d.type = JoinDef::Type::kInterval;
  d.lower_ms = lower;
  d.upper_ms = upper;
  return d;
}

TEST_P(JoinOpTest, IntervalMatchesNestedLoopUnderAnyArrivalOrder) {
  const std::vector<std::pair<int64_t, int64_t>> bounds = {{-50, 30}, {0, 100}, {-200, -20}, {10, 10}};
  for (auto [lower, upper] : bounds) {
    const JoinDef def = Interval(lower, upper);
    for (uint32_t seed = 1; seed <= 4; ++seed) {
      SCOPED_TRACE("bounds " + std::to_string(lower) + ".." + std::to_string(upper) + " seed " + std::to_string(seed));
      const std::vector<Ev> evs = RandomEvents(seed, 600, 7, 80, /*stragglers=*/seed % 2 == 0);
      Driver d(MakeOp(def), GetParam(), dir_.path());
      d.Feed(evs, 0, evs.size());
      const Expected want = Reference(def, evs);
      EXPECT_EQ(Sorted(d.output), want.rows);
      EXPECT_GT(want.rows.size(), upper > lower ? 50u : 0u);  // the point interval matches rarely
      EXPECT_EQ(d.late_reasons.size(), want.late);
      EXPECT_EQ(d.op()->stats().late_events, want.late);
      if (seed % 2 == 1) {
        EXPECT_EQ(want.late, 0u);
      }
      // Cleanup: state stays far below the input size and is empty once the watermark passes all.
      EXPECT_LT(d.max_entries, 150u);
      d.Advance(INT64_MAX);
      EXPECT_EQ(d.op()->stats().entries, 0u);
    }
  }
}

TEST_P(JoinOpTest, IntervalLeftOuterEmitsEveryUnmatchedLeftRowOnce) {
  const std::vector<std::pair<int64_t, int64_t>> bounds = {{-50, 30}, {0, 100}, {10, 10}, {-200, -20}};
  for (auto [lower, upper] : bounds) {
    JoinDef def = Interval(lower, upper);
    def.left_outer = true;
    for (uint32_t seed = 1; seed <= 4; ++seed) {
      SCOPED_TRACE("outer bounds " + std::to_string(lower) + ".." + std::to_string(upper) + " seed " +
                   std::to_string(seed));
      const std::vector<Ev> evs = RandomEvents(seed, 600, 7, 80, /*stragglers=*/seed % 2 == 0);
      Driver d(MakeOp(def), GetParam(), dir_.path());
      d.Feed(evs, 0, evs.size());
      d.Advance(INT64_MAX);
      const Expected want = Reference(def, evs);
      size_t outer = 0;
      for (const std::string& r : want.rows) outer += r.find("null|null|null|@") != std::string::npos;
      EXPECT_GT(outer, 20u);  // the case is exercised
      EXPECT_EQ(Sorted(d.output), want.rows);
      EXPECT_EQ(d.late_reasons.size(), want.late);
      EXPECT_EQ(d.op()->stats().entries, 0u);
    }
  }
}

TEST_P(JoinOpTest, RegularJoinKeepsRowsAndNeverReportsLate) {
  const JoinDef def = Interval(INT64_MIN, INT64_MAX);
  const std::vector<Ev> evs = RandomEvents(9, 300, 40, 80, /*stragglers=*/true);
  Driver d(MakeOp(def), GetParam(), dir_.path());
  d.Feed(evs, 0, evs.size());
  const Expected want = Reference(def, evs);
  EXPECT_EQ(want.late, 0u);
  EXPECT_EQ(Sorted(d.output), want.rows);
  d.Advance(INT64_MAX - 1);
  size_t non_null = 0;
  for (const Ev& e : evs) non_null += e.key_null ? 0 : 1;
  EXPECT_EQ(d.op()->stats().entries, non_null);  // no TTL: nothing is dropped
}

TEST_P(JoinOpTest, RegularJoinTtlExpiresRows) {
  JoinDef def = Interval(INT64_MIN, INT64_MAX);
  def.state_ttl_ms = 100;
  Driver d(MakeOp(def), GetParam(), dir_.path());
  std::vector<Ev> evs = {{0, false, 1, 1, 1000, 900}, {1, false, 1, 2, 1050, 950}, {1, false, 1, 3, 1300, 1200}};
  d.Feed(evs, 0, 2);
  EXPECT_EQ(d.output.size(), 1u);
  EXPECT_EQ(d.op()->stats().entries, 2u);
  d.Feed(evs, 2, 3);  // W = 1200: row 1 (ts 1000) and row 2 (ts 1050) are > 100 behind
  EXPECT_EQ(d.output.size(), 1u);
  EXPECT_EQ(d.op()->stats().entries, 1u);
  EXPECT_EQ(d.op()->stats().expired, 2u);
}

TEST_P(JoinOpTest, IntervalLateRowIsReportedNotJoined) {
  const JoinDef def = Interval(-10, 10);
  Driver d(MakeOp(def), GetParam(), dir_.path());
  std::vector<Ev> evs = {{0, false, 1, 1, 1000, INT64_MIN},
                         {1, false, 1, 2, 1005, 1000},
                         {1, false, 1, 3, 999, 1000}};  // ts 999 < W 1000: late
  d.Feed(evs, 0, evs.size(), 1);
  EXPECT_EQ(d.output.size(), 1u);
  ASSERT_EQ(d.late_reasons.size(), 1u);
  EXPECT_EQ(d.late_reasons[0], "late");
  EXPECT_EQ(d.late_ids[0], 999);
  EXPECT_EQ(d.op()->stats().late_events, 1u);
}

// A left row expires once W > l.ts + upper: at W == l.ts + upper a right row with ts == W still
// matches it, even after a cleanup of the same key removed an older row.
TEST_P(JoinOpTest, IntervalBoundsAreInclusiveAtCleanup) {
  const JoinDef def = Interval(0, 10);
  Driver d(MakeOp(def), GetParam(), dir_.path());
  std::vector<Ev> evs = {{0, false, 1, 1, 90, INT64_MIN}, {0, false, 1, 2, 100, 90}, {1, false, 1, 3, 110, 110}};
  d.Feed(evs, 0, evs.size(), 1);
  EXPECT_EQ(d.output, (std::vector<std::string>{"1|2|s2|1|3|s3|@110"}));
  EXPECT_EQ(d.op()->stats().entries, 2u);  // row 1 (expired at 100) dropped, rows 2 and 3 kept
}

TEST_P(JoinOpTest, RowsMaxSendsRowsToLateOutput) {
  JoinDef def = Interval(-1000, 1000);
  def.rows_max = 3;
  Driver d(MakeOp(def), GetParam(), dir_.path());
  std::vector<Ev> evs;
  for (int i = 0; i < 5; ++i) evs.push_back({0, false, i, i, 100 + i, 0});
  evs.push_back({1, false, 4, 10, 200, 0});  // the right side has room; left row 4 was refused
  evs.push_back({1, false, 2, 11, 200, 0});
  d.Feed(evs, 0, evs.size());
  EXPECT_EQ(d.op()->stats().limit_dropped, 2u);
  EXPECT_EQ(d.late_reasons, (std::vector<std::string>{"state_limit", "state_limit"}));
  EXPECT_EQ(d.output.size(), 1u);  // only key 2
  EXPECT_EQ(d.op()->stats().entries, 5u);
}

TEST_P(JoinOpTest, WindowMatchesNestedLoop) {
  JoinDef def;
  def.type = JoinDef::Type::kWindow;
  def.window_ms = 70;
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<Ev> evs = RandomEvents(seed, 600, 5, 60, /*stragglers=*/seed % 2 == 0);
    Driver d(MakeOp(def), GetParam(), dir_.path());
    d.Feed(evs, 0, evs.size());
    EXPECT_LT(d.max_entries, 150u);
    d.Advance(INT64_MAX);
    const Expected want = Reference(def, evs);
    EXPECT_GT(want.rows.size(), 50u);
    EXPECT_EQ(Sorted(d.output), want.rows);
    EXPECT_EQ(d.late_reasons.size(), want.late);
    if (seed % 2 == 0) {
      EXPECT_GT(want.late, 0u);
    }
    EXPECT_EQ(d.op()->stats().entries, 0u);
  }
}

// The lookup reference: process in arrival order against a latest-row table.
std::vector<std::string> LookupReference(const std::vector<Ev>& evs, bool outer) {
  std::map<int64_t, const Ev*> table;
  std::vector<std::string> rows;
  for (const Ev& e : evs) {
    if (e.side == 1) {
      if (!e.key_null) table[e.key] = &e;
      continue;
    }
    auto it = e.key_null ? table.end() : table.find(e.key);
    if (it != table.end()) {
      rows.push_back(RenderPair(&e, it->second, e.ts));
    } else if (outer) {
      rows.push_back(RenderPair(&e, nullptr, e.ts));
    }
  }
  return rows;
}

TEST_P(JoinOpTest, LookupInnerAndOuterMatchReference) {
  for (bool outer : {false, true}) {
    JoinDef def;
    def.type = JoinDef::Type::kLookup;
    def.left_outer = outer;
    const std::vector<Ev> evs = RandomEvents(3, 500, 30, 50, true);
    Driver d(MakeOp(def), GetParam(), dir_.path());
    d.Feed(evs, 0, evs.size());
    const std::vector<std::string> want = LookupReference(evs, outer);
    EXPECT_EQ(d.output, want);  // processing order, so the exact sequence
    EXPECT_GT(want.size(), 100u);
    EXPECT_TRUE(d.late_reasons.empty());
    EXPECT_EQ(d.op()->stats().entries, 30u);
  }
}

TEST_P(JoinOpTest, LookupTtlDropsOldEntries) {
  JoinDef def;
  def.type = JoinDef::Type::kLookup;
  def.state_ttl_ms = 500;
  Driver d(MakeOp(def), GetParam(), dir_.path());
  std::vector<Ev> evs = {{1, false, 1, 1, 1000, 0},
                         {1, false, 2, 2, 1400, 0},
                         {0, false, 1, 3, 1600, 1450},
                         {0, false, 1, 4, 1700, 1600},
                         {0, false, 2, 5, 1800, 1700}};
  d.Feed(evs, 0, evs.size(), 1);
  // W 1450: right 1 (ts 1000) still within 500; W 1600: it is older than W - ttl.
  EXPECT_EQ(d.output.size(), 2u);
  d.Advance(5000);
  EXPECT_EQ(d.op()->stats().entries, 0u);
  EXPECT_EQ(d.op()->stats().expired, 2u);
}

TEST_P(JoinOpTest, LookupRowsMax) {
  JoinDef def;
  def.type = JoinDef::Type::kLookup;
  def.rows_max = 2;
  Driver d(MakeOp(def), GetParam(), dir_.path());
  std::vector<Ev> evs = {{1, false, 1, 1, 10, 0},
                         {1, false, 2, 2, 10, 0},
                         {1, false, 3, 3, 10, 0},
                         {1, false, 1, 4, 10, 0}};  // an update of a present key is not refused
  d.Feed(evs, 0, evs.size());
  EXPECT_EQ(d.op()->stats().limit_dropped, 1u);
  EXPECT_EQ(d.op()->stats().entries, 2u);
}

// Checkpoint after every prefix length in a few places, restore into a fresh operator, continue:
// the same outputs (in the same order) and late rows as never stopping.
void CheckRestoreEqualsUninterrupted(const JoinDef& def, Backend backend, const std::string& dir) {
  const std::vector<Ev> evs = RandomEvents(11, 400, 6, 60, /*stragglers=*/true);
  Driver whole(MakeOp(def), backend, dir);
  whole.Feed(evs, 0, evs.size());
  whole.Advance(INT64_MAX);
  for (size_t cut : {size_t{1}, evs.size() / 3, evs.size() / 2, evs.size() - 1}) {
    SCOPED_TRACE("cut " + std::to_string(cut));
    Driver first(MakeOp(def), backend, dir);
    first.Feed(evs, 0, cut);
    std::vector<std::string> joined = first.output;
    const int64_t watermark = first.op()->watermark();
    const std::string snap = dir + "/snap-" + std::to_string(cut) + "-" + std::to_string(static_cast<int>(def.type));
    ASSERT_TRUE(first.op()->Checkpoint(snap).ok());
    first.Feed(evs, cut, evs.size());  // the original keeps going: the snapshot must not change
    Driver second(MakeOp(def), backend, dir);
    Status s = second.op()->Restore(snap);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(second.op()->watermark(), watermark);
    second.Feed(evs, cut, evs.size());
    second.Advance(INT64_MAX);
    joined.insert(joined.end(), second.output.begin(), second.output.end());
    EXPECT_EQ(joined, whole.output);
    EXPECT_EQ(second.op()->stats().late_events, whole.op()->stats().late_events);
    EXPECT_EQ(second.op()->stats().entries, whole.op()->stats().entries);
  }
}

TEST_P(JoinOpTest, IntervalRestoreEqualsUninterrupted) {
  CheckRestoreEqualsUninterrupted(Interval(-40, 60), GetParam(), dir_.path());
}

TEST_P(JoinOpTest, IntervalLeftOuterRestoreEqualsUninterrupted) {
  JoinDef def = Interval(-40, 60);
  def.left_outer = true;
  CheckRestoreEqualsUninterrupted(def, GetParam(), dir_.path());
}

TEST_P(JoinOpTest, WindowRestoreEqualsUninterrupted) {
  JoinDef def;
  def.type = JoinDef::Type::kWindow;
  def.window_ms = 90;
  CheckRestoreEqualsUninterrupted(def, GetParam(), dir_.path());
}

TEST_P(JoinOpTest, LookupRestoreEqualsUninterrupted) {
  JoinDef def;
  def.type = JoinDef::Type::kLookup;
  def.left_outer = true;
  def.state_ttl_ms = 300;
  CheckRestoreEqualsUninterrupted(def, GetParam(), dir_.path());
}

TEST_P(JoinOpTest, RestoreRejectsAnotherJoinTypeAndMissingFiles) {
  Driver interval(MakeOp(Interval(0, 10)), GetParam(), dir_.path());
  ASSERT_TRUE(interval.op()->Checkpoint(dir_.path() + "/c").ok());
  JoinDef window;
  window.type = JoinDef::Type::kWindow;
  window.window_ms = 10;
  Driver other(MakeOp(window), GetParam(), dir_.path());
  EXPECT_EQ(other.op()->Restore(dir_.path() + "/c").code(), StatusCode::kInvalidArgument);
  EXPECT_CODE(other.op()->Restore(dir_.path() + "/missing"), kNotFound);
}

// --- as of (the `lookup:` step of a feature view) ---

JoinDef AsOf(int64_t as_of_ms, int64_t ttl_ms = -1) {
  JoinDef d;
  d.type = JoinDef::Type::kAsOf;
  d.as_of_ms = as_of_ms;
  d.left_outer = true;
  d.state_ttl_ms = ttl_ms;
  return d;
}

// The brute-force as-of join: a row of either side with a key behind the watermark at its
// arrival is late; every other left row reads the latest on-time right row of its key with
// ts <= left.ts + as_of (among equal times the one that arrived last), null if none or older
// than that time by more than the ttl; at the left row's own time.
Expected AsOfReference(const JoinDef& def, const std::vector<Ev>& evs) {
  Expected x;
  std::vector<const Ev*> ok;
  int64_t w = INT64_MIN;
  for (const Ev& e : evs) {
    w = std::max(w, e.watermark);
    if (!e.key_null && e.ts < w) {
      ++x.late;
    } else {
      ok.push_back(&e);
    }
  }
  for (const Ev* l : ok) {
    if (l->side != 0) continue;
    const int64_t as_of = l->ts + def.as_of_ms;
    const Ev* best = nullptr;
    for (const Ev* r : ok) {
      if (l->key_null || r->side != 1 || r->key_null || r->key != l->key || r->ts > as_of) continue;
      if (best == nullptr || r->ts >= best->ts) best = r;
    }
    if (best != nullptr && def.state_ttl_ms >= 0 && best->ts < as_of - def.state_ttl_ms) best = nullptr;
    x.rows.push_back(RenderPair(l, best, l->ts));
  }
  std::sort(x.rows.begin(), x.rows.end());
  return x;
}

// The events of RandomEvents re-interleaved as a two-input task reads them when one side runs
// `lag_ms` of event time behind the other: each side keeps its own order, and the watermark
// before a row is the smaller of the two sides' (max ts read - disorder; INT64_MIN before a
// side's first row), as the runtime computes it for joins.
std::vector<Ev> Interleave(const std::vector<Ev>& evs, int slow_side, int64_t lag_ms, int64_t disorder) {
  std::vector<std::pair<int64_t, Ev>> keyed;
  int64_t max_ts[2] = {INT64_MIN, INT64_MIN};
  for (const Ev& e : evs) {
    // Arrival position: the largest ts of the side so far (its reading front), shifted for the slow side.
    max_ts[e.side] = std::max(max_ts[e.side], e.ts);
    keyed.emplace_back(max_ts[e.side] + (e.side == slow_side ? lag_ms : 0), e);
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Ev> out;
  int64_t seen[2] = {INT64_MIN, INT64_MIN};
  for (auto& [at, e] : keyed) {
    const int64_t wm0 = seen[0] == INT64_MIN ? INT64_MIN : seen[0] - disorder;
    const int64_t wm1 = seen[1] == INT64_MIN ? INT64_MIN : seen[1] - disorder;
    e.watermark = std::min(wm0, wm1);
    seen[e.side] = std::max(seen[e.side], e.ts);
    out.push_back(e);
  }
  return out;
}

TEST_P(JoinOpTest, AsOfReadsTheVersionAtOrBeforeTheEventTimePlusAsOf) {
  // Versions of key 1 at 100 (id 1) and 200 (id 2); as_of -50. Left rows: the watermark is
  // held at 0, so each waits until the advance below passes its as-of time.
  Driver d(MakeOp(AsOf(-50)), GetParam(), dir_.path());
  std::vector<Ev> evs = {{1, false, 1, 1, 100, 0},  {1, false, 1, 2, 200, 0},  {0, false, 1, 10, 249, 0},
                         {0, false, 1, 11, 250, 0}, {0, false, 1, 12, 160, 0}, {0, false, 1, 13, 140, 0},
                         {0, false, 2, 14, 300, 0}, {0, true, 0, 15, 300, 0}};
  d.Feed(evs, 0, evs.size());
  // The null key reads nulls at once; nothing else before the watermark passes its as-of time.
  ASSERT_EQ(d.output, (std::vector<std::string>{"null|15|s15|null|null|null|@300"}));
  // W = 150 > 160 - 50, 140 - 50: the row at 160 reads the version at 100; the one at 140 (as of
  // 90) precedes every version: nulls. In arrival order.
  d.Advance(150);
  EXPECT_EQ(d.output, (std::vector<std::string>{"null|15|s15|null|null|null|@300", "1|12|s12|1|1|s1|@160",
                                                "1|13|s13|null|null|null|@140"}));
  d.Advance(200);  // 249 - 50 = 199 < 200: version 1 (200 is after 199); 250 - 50 = 200 waits
  EXPECT_EQ(d.output.back(), "1|10|s10|1|1|s1|@249");
  EXPECT_EQ(d.output.size(), 4u);
  d.Advance(201);  // 200 < 201: version 2, the boundary included
  EXPECT_EQ(d.output.back(), "1|11|s11|1|2|s2|@250");
  d.Advance(251);  // key 2 has no version: nulls
  EXPECT_EQ(d.output.back(), "2|14|s14|null|null|null|@300");
  EXPECT_EQ(d.output.size(), 6u);
  // A row whose as-of time is behind the watermark reads at once; one behind the watermark
  // itself is late.
  std::vector<Ev> more = {{0, false, 1, 16, 260, 251}, {0, false, 1, 17, 250, 251}};
  d.Feed(more, 0, more.size());
  EXPECT_EQ(d.output.back(), "1|16|s16|1|2|s2|@260");
  EXPECT_EQ(d.late_reasons, (std::vector<std::string>{"late"}));
}

TEST_P(JoinOpTest, AsOfMatchesBruteForceWhicheverSideRunsAhead) {
  constexpr int64_t kDisorder = 80;
  uint32_t seed = 0;
  for (int64_t ttl : {int64_t{-1}, int64_t{400}}) {
    for (int64_t as_of : {int64_t{0}, int64_t{-35}, int64_t{-1000}}) {
      const JoinDef def = AsOf(as_of, ttl);
      const std::vector<Ev> evs = RandomEvents(++seed, 600, 7, kDisorder, /*stragglers=*/false);
      std::vector<std::string> first;
      // Right (the view's versions) 3 s of event time ahead, left 3 s ahead, left 0.2 s ahead.
      for (auto [slow, lag] : std::vector<std::pair<int, int64_t>>{{0, 3000}, {1, 3000}, {1, 200}}) {
        SCOPED_TRACE("as_of " + std::to_string(as_of) + " ttl " + std::to_string(ttl) + " seed " +
                     std::to_string(seed) + " slow side " + std::to_string(slow) + " lag " + std::to_string(lag));
        const std::vector<Ev> arrival = Interleave(evs, slow, lag, kDisorder);
        Driver d(MakeOp(def), GetParam(), dir_.path());
        d.Feed(arrival, 0, arrival.size());
        d.Advance(INT64_MAX);
        const Expected want = AsOfReference(def, arrival);
        EXPECT_EQ(want.late, 0u);  // each side within its own disorder: nothing is late
        EXPECT_EQ(Sorted(d.output), want.rows);
        EXPECT_TRUE(d.late_reasons.empty());
        size_t matched = 0;
        for (const std::string& r : want.rows) matched += r.find("|null|null|null|@") == std::string::npos;
        EXPECT_GT(matched, 100u);  // the case is exercised
        // Equal whatever the relative speed of the two inputs.
        if (first.empty()) first = Sorted(d.output);
        EXPECT_EQ(Sorted(d.output), first);
        // Versions no later row can read are dropped: once the watermark has passed everything,
        // the latest version of each of the 7 keys stays (none with a ttl).
        EXPECT_LE(d.op()->stats().entries, ttl >= 0 ? 0u : 7u);
      }
    }
  }
}

// A watermark advance that releases many waiting rows, made in steps of about 5 rows (the rank
// step's bound on what one call holds): the same rows as one advance, every row of one as-of
// time in the same step, each step but the last at least 5 rows.
TEST_P(JoinOpTest, AsOfAdvancedInStepsReleasesEachAsOfTimeWhole) {
  const JoinDef def = AsOf(-35);
  std::vector<Ev> evs = RandomEvents(7, 400, 5, /*disorder=*/0, /*stragglers=*/false);
  for (Ev& e : evs) {
    e.watermark = INT64_MIN;  // everything waits for the advance below
    e.key_null = false;       // (a null key reads nulls at once)
    e.ts = e.ts / 20 * 20;    // several rows per time
  }
  Driver whole(MakeOp(def), GetParam(), dir_.path());
  whole.Feed(evs, 0, evs.size());
  ASSERT_TRUE(whole.output.empty());
  whole.Advance(INT64_MAX);
  Driver steps(MakeOp(def), GetParam(), dir_.path() + "/steps");
  steps.Feed(evs, 0, evs.size());
  const auto as_of_of = [](const std::string& row) -> int64_t {
    return std::stoll(row.substr(row.rfind('@') + 1)) - 35;
  };
  int64_t reached = INT64_MIN, last_as_of = INT64_MIN;
  int calls = 0;
  while (reached < INT64_MAX) {
    const size_t before = steps.output.size();
    reached = steps.AdvancePartly(INT64_MAX, 5);
    ++calls;
    ASSERT_EQ(steps.op()->watermark(), reached);
    if (reached < INT64_MAX) {
      EXPECT_GE(steps.output.size() - before, 5u);
    }
    int64_t min_as_of = INT64_MAX, max_as_of = INT64_MIN;
    for (size_t i = before; i < steps.output.size(); ++i) {
      min_as_of = std::min(min_as_of, as_of_of(steps.output[i]));
      max_as_of = std::max(max_as_of, as_of_of(steps.output[i]));
      EXPECT_LT(as_of_of(steps.output[i]), reached);  // released: the watermark is past its as-of time
    }
    if (steps.output.size() > before) {
      EXPECT_GT(min_as_of, last_as_of) << "an as-of time split across two steps";
      last_as_of = max_as_of;
    }
  }
  EXPECT_GT(calls, 20);
  EXPECT_EQ(Sorted(steps.output), Sorted(whole.output));
  EXPECT_GT(whole.output.size(), 150u);
}

// Many versions and events at equal times (times rounded to 50 ms): among versions of one
// time the last that arrived is read, and a row at the version's time reads it (<=).
TEST_P(JoinOpTest, AsOfEqualTimesMatchBruteForce) {
  // A multiple of 50: watermarks fall on the rounded times, so as-of times equal to the
  // watermark (a version of that time may still come) occur.
  constexpr int64_t kDisorder = 100;
  uint32_t seed = 100;
  for (int64_t ttl : {int64_t{-1}, int64_t{100}}) {
    for (int64_t as_of : {int64_t{0}, int64_t{-50}, int64_t{-70}}) {
      const JoinDef def = AsOf(as_of, ttl);
      std::vector<Ev> evs = RandomEvents(++seed, 600, 3, kDisorder, /*stragglers=*/false);
      for (Ev& e : evs) e.ts = FloorDiv(e.ts, 50) * 50;
      for (auto [slow, lag] : std::vector<std::pair<int, int64_t>>{{0, 3000}, {1, 3000}, {1, 0}}) {
        SCOPED_TRACE("as_of " + std::to_string(as_of) + " ttl " + std::to_string(ttl) + " slow " +
                     std::to_string(slow) + " lag " + std::to_string(lag));
        const std::vector<Ev> arrival = Interleave(evs, slow, lag, kDisorder);
        Driver d(MakeOp(def), GetParam(), dir_.path());
        d.Feed(arrival, 0, arrival.size());
        d.Advance(INT64_MAX);
        const Expected want = AsOfReference(def, arrival);
        EXPECT_EQ(d.late_reasons.size(), want.late);
        EXPECT_EQ(Sorted(d.output), want.rows);
      }
    }
  }
}

TEST_P(JoinOpTest, AsOfLateRowsOfEitherSideGoToTheLateOutput) {
  const JoinDef def = AsOf(-30);
  for (uint32_t seed = 4; seed <= 5; ++seed) {
    const std::vector<Ev> evs = RandomEvents(seed, 600, 5, 80, /*stragglers=*/true);
    Driver d(MakeOp(def), GetParam(), dir_.path());
    d.Feed(evs, 0, evs.size());
    d.Advance(INT64_MAX);
    const Expected want = AsOfReference(def, evs);
    EXPECT_GT(want.late, 0u);
    EXPECT_EQ(d.late_reasons.size(), want.late);
    EXPECT_EQ(Sorted(d.output), want.rows);
  }
}

TEST_P(JoinOpTest, AsOfVersionsMaxRefusesANewerVersionVisibly) {
  JoinDef def = AsOf(-10);
  def.versions_max = 2;
  Driver d(MakeOp(def), GetParam(), dir_.path());
  // The watermark stays at 0: every version may still be read, none is dropped.
  std::vector<Ev> evs = {
      {1, false, 1, 1, 100, 0}, {1, false, 1, 2, 200, 0}, {1, false, 1, 3, 300, 0}, {1, false, 2, 4, 300, 0}};
  d.Feed(evs, 0, evs.size());
  EXPECT_EQ(d.late_reasons, (std::vector<std::string>{"state_limit"}));
  EXPECT_EQ(d.op()->stats().limit_dropped, 1u);
  EXPECT_EQ(d.op()->stats().entries, 3u);
}

TEST_P(JoinOpTest, AsOfRestoreEqualsUninterrupted) {
  CheckRestoreEqualsUninterrupted(AsOf(-40), GetParam(), dir_.path());
  std::filesystem::create_directories(dir_.path() + "/ttl");  // snapshot names repeat per join type
  CheckRestoreEqualsUninterrupted(AsOf(0, 300), GetParam(), dir_.path() + "/ttl");
}

// --- as of a time computed from the row (as_of_time) ---

// An as-of join whose as-of time is `expr` over the left row (k, id, s), at most `lag_max_ms`
// before the row's event time.
JoinDef AsOfTime(const std::string& expr, int64_t lag_max_ms, int64_t ttl_ms = -1) {
  JoinDef d = AsOf(0, ttl_ms);
  std::vector<ExprDiag> diags;
  d.as_of_expr = ParseAndCheck(expr, SideSchema(""), &diags);
  EXPECT_NE(d.as_of_expr, nullptr) << (diags.empty() ? "" : diags[0].message);
  d.as_of_lag_max_ms = lag_max_ms;
  return d;
}

// The random rows' as-of times (RandomEvents: ts = 10 * id - 3000 + 0..9): 0 to 249 ms before
// the event, 40 * (id % 7) plus the jitter; one row in 11 asks for 51 to 300 ms after its event.
// With a lag bound of 200, ids % 7 in {5, 6} are mostly too old.
constexpr char kRandomAsOfTime[] = "cast(id * 10 - 3000 - (id % 7) * 40 + if(id % 11 = 0, 300, 0) as timestamp)";
int64_t RandomAsOfTime(const Ev& e) { return e.id * 10 - 3000 - (e.id % 7) * 40 + (e.id % 11 == 0 ? 300 : 0); }

// AsOfReference with the as-of time of each left row given by `as_of_of`: a row asking for a
// time after its own or more than lag_max_ms before it is refused with that reason whatever
// its key; the others as AsOfReference.
Expected AsOfTimeReference(const JoinDef& def, const std::vector<Ev>& evs,
                           const std::function<int64_t(const Ev&)>& as_of_of, std::vector<std::string>* reasons) {
  Expected x;
  std::vector<const Ev*> ok;
  int64_t w = INT64_MIN;
  for (const Ev& e : evs) {
    w = std::max(w, e.watermark);
    if (e.side == 0 && as_of_of(e) > e.ts) {
      reasons->push_back("as_of_after_event");
    } else if (e.side == 0 && as_of_of(e) < e.ts - def.as_of_lag_max_ms) {
      reasons->push_back("as_of_too_old");
    } else if (!e.key_null && e.ts < w) {
      reasons->push_back("late");
    } else {
      ok.push_back(&e);
      continue;
    }
    ++x.late;
  }
  for (const Ev* l : ok) {
    if (l->side != 0) continue;
    const int64_t as_of = as_of_of(*l);
    const Ev* best = nullptr;
    for (const Ev* r : ok) {
      if (l->key_null || r->side != 1 || r->key_null || r->key != l->key || r->ts > as_of) continue;
      if (best == nullptr || r->ts >= best->ts) best = r;
    }
    if (best != nullptr && def.state_ttl_ms >= 0 && best->ts < as_of - def.state_ttl_ms) best = nullptr;
    x.rows.push_back(RenderPair(l, best, l->ts));
  }
  std::sort(x.rows.begin(), x.rows.end());
  std::sort(reasons->begin(), reasons->end());
  return x;
}

TEST_P(JoinOpTest, AsOfTimeReadsTheVersionAtTheComputedTimeAndRefusesOthersWithTheirReason) {
  // The as-of time is the row's id (ms), null for id 7; at most 100 ms before the event.
  Driver d(MakeOp(AsOfTime("if(id = 7, cast(null as timestamp), cast(id as timestamp))", 100)), GetParam(),
           dir_.path());
  // Versions of key 1 at 100 and 200; rows at 250 asking for 150, 200 (the boundary), 251 (after
  // the event), 149 (older than 250 - 100), null; a null key asking for 260 (after its event).
  std::vector<Ev> evs = {{1, false, 1, 1, 100, 0},   {1, false, 1, 2, 200, 0},   {0, false, 1, 150, 250, 0},
                         {0, false, 1, 200, 250, 0}, {0, false, 1, 251, 250, 0}, {0, false, 1, 149, 250, 0},
                         {0, false, 1, 7, 250, 0},   {0, true, 0, 260, 250, 0}};
  d.Feed(evs, 0, evs.size());
  EXPECT_EQ(d.late_reasons,
            (std::vector<std::string>{"as_of_after_event", "as_of_too_old", "invalid", "as_of_after_event"}));
  EXPECT_EQ(d.op()->stats().late_events, 4u);
  EXPECT_TRUE(d.output.empty());  // both wait for the watermark to pass their as-of time
  d.Advance(151);                 // past 150, not 200: the first reads the version at 100
  EXPECT_EQ(d.output, (std::vector<std::string>{"1|150|s150|1|1|s1|@250"}));
  d.Advance(201);
  EXPECT_EQ(d.output.back(), "1|200|s200|1|2|s2|@250");
  EXPECT_EQ(d.output.size(), 2u);
}

TEST_P(JoinOpTest, AsOfTimeMatchesBruteForceWhicheverSideRunsAhead) {
  constexpr int64_t kDisorder = 80;
  uint32_t seed = 200;
  for (int64_t ttl : {int64_t{-1}, int64_t{150}}) {
    const JoinDef def = AsOfTime(kRandomAsOfTime, /*lag_max_ms=*/200, ttl);
    const std::vector<Ev> evs = RandomEvents(++seed, 600, 5, kDisorder, /*stragglers=*/false);
    std::vector<std::string> first;
    for (auto [slow, lag] : std::vector<std::pair<int, int64_t>>{{0, 3000}, {1, 3000}, {1, 200}}) {
      SCOPED_TRACE("ttl " + std::to_string(ttl) + " slow side " + std::to_string(slow) + " lag " + std::to_string(lag));
      const std::vector<Ev> arrival = Interleave(evs, slow, lag, kDisorder);
      Driver d(MakeOp(def), GetParam(), dir_.path());
      d.Feed(arrival, 0, arrival.size());
      d.Advance(INT64_MAX);
      std::vector<std::string> reasons;
      const Expected want = AsOfTimeReference(def, arrival, RandomAsOfTime, &reasons);
      EXPECT_EQ(Sorted(d.output), want.rows);
      EXPECT_EQ(Sorted(d.late_reasons), reasons);
      // Every kind of row is exercised: read a version, refused as too old, and after the event.
      size_t matched = 0;
      for (const std::string& r : want.rows) matched += r.find("|null|null|null|@") == std::string::npos;
      EXPECT_GT(matched, 50u);
      EXPECT_GT(std::count(reasons.begin(), reasons.end(), "as_of_too_old"), 10);
      EXPECT_GT(std::count(reasons.begin(), reasons.end(), "as_of_after_event"), 5);
      if (first.empty()) first = Sorted(d.output);
      EXPECT_EQ(Sorted(d.output), first);
    }
  }
}

// The versions kept are those of the last as_of_lag_max behind the watermark (plus the one
// before), whatever the expression: the bound the state is pruned by.
TEST_P(JoinOpTest, AsOfTimeKeepsVersionsOnlyAsFarBackAsItsLagBound) {
  for (int64_t lag : {int64_t{0}, int64_t{1000}}) {
    SCOPED_TRACE("lag " + std::to_string(lag));
    Driver d(MakeOp(AsOfTime("cast(id as timestamp)", lag)), GetParam(), dir_.path());
    // Key 1: a version every 10 ms over [0, 10000); the watermark follows 10 ms behind.
    std::vector<Ev> evs;
    for (int64_t t = 0; t < 10'000; t += 10) evs.push_back({1, false, 1, t, t, t - 10});
    d.Feed(evs, 0, evs.size());
    d.Advance(9'990);
    // W = 9990: the versions at or after 9990 - lag only (one is at 9990 - lag exactly).
    EXPECT_EQ(d.op()->stats().entries, static_cast<uint64_t>(lag / 10 + 1));
    // The oldest row allowed at 9995 (asking for 9995 - lag) still reads its version; one
    // further back is refused, not answered from pruned state.
    std::vector<Ev> rows = {{0, false, 1, 9'995 - lag, 9'995, 9'990}, {0, false, 1, 9'994 - lag, 9'995, 9'990}};
    d.Feed(rows, 0, rows.size());
    d.Advance(INT64_MAX);
    const std::string want_version = std::to_string(9'990 - lag);
    ASSERT_EQ(d.output.size(), 1u);
    EXPECT_EQ(d.output[0], "1|" + std::to_string(9'995 - lag) + "|s" + std::to_string(9'995 - lag) + "|1|" +
                               want_version + "|s" + want_version + "|@9995");
    EXPECT_EQ(d.late_reasons, (std::vector<std::string>{"as_of_too_old"}));
  }
}

// A restore under a longer as_of_lag_max than the state was kept for: the versions the old
// bound dropped are gone, so a row asking for a time before that point is refused
// (as_of_too_old), not answered from the one kept version; one at or after it is read.
TEST_P(JoinOpTest, AsOfTimeRestoredWithALongerLagRefusesTimesItsStateNoLongerHolds) {
  Driver d(MakeOp(AsOfTime("cast(id as timestamp)", 1000)), GetParam(), dir_.path());
  std::vector<Ev> evs;
  for (int64_t t = 0; t < 10'000; t += 10) evs.push_back({1, false, 1, t, t, t - 10});
  d.Feed(evs, 0, evs.size());
  d.Advance(9'990);  // versions kept from 8990 (= 9990 - 1000) on
  const std::string snap = dir_.path() + "/snap";
  ASSERT_TRUE(d.op()->Checkpoint(snap).ok());
  Driver longer(MakeOp(AsOfTime("cast(id as timestamp)", 5000)), GetParam(), dir_.path() + "/longer");
  ASSERT_TRUE(longer.op()->Restore(snap).ok());
  // As of 8000: allowed by the new bound (9995 - 5000), but version 8000 was dropped; as of
  // 8990: the oldest kept, read.
  std::vector<Ev> rows = {{0, false, 1, 8'000, 9'995, 9'990}, {0, false, 1, 8'990, 9'995, 9'990}};
  longer.Feed(rows, 0, rows.size());
  longer.Advance(INT64_MAX);
  ASSERT_EQ(longer.output.size(), 1u);
  EXPECT_EQ(longer.output[0], "1|8990|s8990|1|8990|s8990|@9995");
  EXPECT_EQ(longer.late_reasons, (std::vector<std::string>{"as_of_too_old"}));
  // The same checkpoint restored under the bound it was written with: no difference.
  Driver same(MakeOp(AsOfTime("cast(id as timestamp)", 1000)), GetParam(), dir_.path() + "/same");
  ASSERT_TRUE(same.op()->Restore(snap).ok());
  std::vector<Ev> ok = {{0, false, 1, 8'995, 9'995, 9'990}};
  same.Feed(ok, 0, ok.size());
  same.Advance(INT64_MAX);
  EXPECT_EQ(same.output, (std::vector<std::string>{"1|8995|s8995|1|8990|s8990|@9995"}));
  EXPECT_TRUE(same.late_reasons.empty());
}

// Restored under a smaller versions_max than the state holds: the extra versions are dropped as
// the watermark passes them, as before the restore (a list over the bound was left unserviced).
TEST_P(JoinOpTest, AsOfRestoredWithFewerVersionsAllowedStillDropsOldVersions) {
  JoinDef many = AsOf(0);
  many.versions_max = 100;
  Driver d(MakeOp(many), GetParam(), dir_.path());
  std::vector<Ev> versions = {{1, false, 1, 1, 260, 255}, {1, false, 1, 2, 270, 255}, {1, false, 1, 3, 280, 255}};
  d.Feed(versions, 0, versions.size());
  ASSERT_EQ(d.op()->stats().entries, 3u);
  const std::string snap = dir_.path() + "/snap";
  ASSERT_TRUE(d.op()->Checkpoint(snap).ok());
  JoinDef one = AsOf(0);
  one.versions_max = 1;
  Driver r(MakeOp(one), GetParam(), dir_.path() + "/one");
  ASSERT_TRUE(r.op()->Restore(snap).ok());
  r.Advance(275);  // 260 is unreadable now: 270 and 280 stay
  EXPECT_EQ(r.op()->stats().entries, 2u);
  r.Advance(1000);  // only the latest stays
  EXPECT_EQ(r.op()->stats().entries, 1u);
  std::vector<Ev> row = {{0, false, 1, 10, 1000, 1000}};
  r.Feed(row, 0, row.size());
  r.Advance(INT64_MAX);
  EXPECT_EQ(r.output, (std::vector<std::string>{"1|10|s10|1|3|s3|@1000"}));
}

TEST_P(JoinOpTest, AsOfTimeRestoreEqualsUninterrupted) {
  CheckRestoreEqualsUninterrupted(AsOfTime(kRandomAsOfTime, 200), GetParam(), dir_.path());
}

INSTANTIATE_TEST_SUITE_P(Backends, JoinOpTest, ::testing::Values(Backend::kMemory, Backend::kRocksDb),
                         [](const auto& p) { return p.param == Backend::kMemory ? "Memory" : "RocksDb"; });

TEST(JoinOpCreate, RejectsInvalidDefinitions) {
  OperatorContext ctx;
  JoinDef bad_window;
  bad_window.type = JoinDef::Type::kWindow;
  EXPECT_EQ(NewJoinOperator(MakeOp(bad_window), ctx).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(NewJoinOperator(MakeOp(Interval(10, 0)), ctx).status().code(), StatusCode::kInvalidArgument);
  LogicalOp op = MakeOp(Interval(0, 10));
  auto j = std::make_shared<JoinDef>(*op.join);
  j->left_key = 7;
  op.join = j;
  EXPECT_EQ(NewJoinOperator(op, ctx).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(NewJoinOperator(MakeOp(Interval(0, 10)), ctx).ok());
}

// Issue: a state backend failure was kept in a member nothing read, and the row went to the
// late output as "state error". The operator now returns the error (every join type).
TEST(JoinOpStateFailure, BackendErrorIsReturnedNotSentToLateOutput) {
  JoinDef window;
  window.type = JoinDef::Type::kWindow;
  window.window_ms = 100;
  JoinDef lookup;
  lookup.type = JoinDef::Type::kLookup;
  for (const JoinDef& def : {Interval(-100, 100), window, lookup}) {
    SCOPED_TRACE(static_cast<int>(def.type));
    const LogicalOp op = MakeOp(def);
    OperatorContext ctx;
    ctx.pipeline = "p";
    ctx.label = "join#1";
    ctx.state.fail_after_ops_for_test = 3;
    auto j = NewJoinOperator(op, ctx);
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    RowBatch rows(op.output.size()), late(LateEventsStreamDef().schema.size());
    OpOutput out{&rows, &late};
    Status st;
    for (int64_t i = 0; i < 20 && st.ok(); ++i) {  // alternating sides, a new key each time
      RowBatch in(3);
      Value* v = in.AppendRow();
      v[0] = Value::Int(i / 2);
      v[1] = Value::Int(i);
      v[2] = Value::String(in.arena().Copy("s"));
      in.meta(0).event_time_ms = 1000 + 10 * i;
      in.meta(0).watermark_ms = 1000 + 10 * i - 200;
      st = (*j)->Process(static_cast<int>(i % 2), in, &out);
    }
    EXPECT_EQ(st.code(), StatusCode::kIOError);
    EXPECT_EQ(late.size(), 0u);
    EXPECT_EQ((*j)->stats().limit_dropped, 0u);
  }
}

}  // namespace
}  // namespace impulse::plan
