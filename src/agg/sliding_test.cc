#include "agg/sliding.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "agg/agg_test_util.h"

namespace impulse::agg {
namespace {

using testing::AllSpecs;
using testing::ArgsFor;
using testing::RandomRows;
using testing::TestRow;

constexpr FieldType kTypes[] = {FieldType::kInt64, FieldType::kDouble, FieldType::kString, FieldType::kBool,
                                FieldType::kTimestamp};

AggregateSet MakeSet(std::vector<AggSpec> specs) {
  auto set = AggregateSet::Create(std::move(specs));
  IMPULSE_CHECK(set.ok());
  return std::move(set).value();
}

// The rows in (t - range, t] among the first `n` rows.
std::vector<TestRow> InRange(const std::vector<TestRow>& rows, size_t n, int64_t range_ms) {
  std::vector<TestRow> out;
  const int64_t t = rows[n - 1].ts;
  for (size_t i = 0; i < n; ++i)
    if (rows[i].ts > t - range_ms) out.push_back(rows[i]);
  return out;
}

void ExpectOutMatches(const AggregateSet& set, const std::vector<Value>& out, const std::vector<TestRow>& in_range,
                      const std::string& what) {
  for (size_t i = 0; i < set.size(); ++i) {
    const auto rt = *ResultType(set.spec(i));
    auto want = testing::Reference(set.spec(i), in_range);
    if (set.spec(i).kind == AggKind::kApproxCountDistinct) {
      const double exact = static_cast<double>(std::get<int64_t>(*want));
      EXPECT_NEAR(static_cast<double>(out[i].i64), exact, 2 + 0.05 * exact) << what;
      continue;
    }
    auto got = testing::FromValue(out[i], rt.first);
    const AggKind k = set.spec(i).kind;
    if ((k == AggKind::kStddevPop || k == AggKind::kStddevSamp) && want && got) {
      // Retraction leaves rounding error of the data's scale in the variance; sqrt magnifies
      // it near zero, so compare variances.
      want = std::pow(std::get<double>(*want), 2);
      got = std::pow(std::get<double>(*got), 2);
    }
    testing::ExpectSame(want, got, what + " " + std::string(AggKindName(set.spec(i).kind)));
  }
}

TEST(SlidingWindow, MatchesBruteForceOverRandomInOrderStreams) {
  for (FieldType t : kTypes) {
    const AggregateSet set = MakeSet(AllSpecs(t));
    for (int64_t range_ms : {1, 7, 40, 300}) {
      for (int seed = 0; seed < 3; ++seed) {
        std::mt19937_64 rng(seed);
        const auto rows = RandomRows(rng, t, 150, /*ts_step_max=*/4);
        SlidingWindow w;
        std::vector<Value> out(set.size());
        Arena arena;
        for (size_t n = 1; n <= rows.size(); ++n) {
          w.Add(set, range_ms, rows[n - 1].ts, ArgsFor(set, rows[n - 1]).data(), out.data(), &arena);
          const auto in_range = InRange(rows, n, range_ms);
          ASSERT_EQ(w.rows(), in_range.size());
          ExpectOutMatches(
              set, out, in_range,
              std::string(FieldTypeName(t)) + " range " + std::to_string(range_ms) + " row " + std::to_string(n));
          if (::testing::Test::HasFailure()) {
            w.Destroy(set);
            return;
          }
        }
        w.Destroy(set);
      }
    }
  }
}

// A delayed range (t - delay - range, t - delay]: rows enter with Insert once they are older
// than the delay; ResultsAt reads the window at t - delay. Covers empty windows too.
TEST(SlidingWindow, DelayedRangeMatchesBruteForce) {
  for (FieldType t : kTypes) {
    const AggregateSet set = MakeSet(AllSpecs(t));
    for (int64_t range_ms : {1, 7, 40}) {
      for (int64_t delay_ms : {1, 5, 30}) {
        std::mt19937_64 rng(static_cast<uint64_t>(range_ms * 100 + delay_ms));
        const auto rows = RandomRows(rng, t, 120, /*ts_step_max=*/4);
        SlidingWindow w;
        std::vector<Value> out(set.size());
        Arena arena;
        size_t fed = 0;  // rows inserted so far (all with ts <= now - delay)
        for (size_t n = 1; n <= rows.size(); ++n) {
          const int64_t now = rows[n - 1].ts;
          while (fed < n && rows[fed].ts <= now - delay_ms) {
            w.Insert(set, range_ms, rows[fed].ts, ArgsFor(set, rows[fed]).data());
            ++fed;
          }
          w.ResultsAt(set, range_ms, now - delay_ms, out.data(), &arena);
          std::vector<TestRow> in_range;
          for (size_t i = 0; i < n; ++i) {
            if (rows[i].ts <= now - delay_ms && rows[i].ts > now - delay_ms - range_ms) in_range.push_back(rows[i]);
          }
          ASSERT_EQ(w.rows(), in_range.size());
          ExpectOutMatches(set, out, in_range,
                           std::string(FieldTypeName(t)) + " range " + std::to_string(range_ms) + " delay " +
                               std::to_string(delay_ms) + " row " + std::to_string(n));
          if (::testing::Test::HasFailure()) {
            w.Destroy(set);
            return;
          }
        }
        w.Destroy(set);
      }
    }
  }
}

TEST(SlidingWindow, ExpireDropsRowsOutOfRangeAndReportsEmpty) {
  const AggregateSet set = MakeSet({{.kind = AggKind::kCount, .arity = 0}, {.kind = AggKind::kMax}});
  SlidingWindow w;
  Value out[2];
  Arena arena;
  Value args[4] = {{}, {}, Value::Int(5), {}};
  w.Add(set, 100, 1000, args, out, &arena);
  args[2] = Value::Int(3);
  w.Add(set, 100, 1050, args, out, &arena);
  EXPECT_EQ(out[0].i64, 2);
  EXPECT_EQ(out[1].i64, 5);
  EXPECT_FALSE(w.Expire(set, 100, 1100));  // 1000 <= 1000 goes, 1050 stays
  EXPECT_EQ(w.rows(), 1u);
  EXPECT_TRUE(w.Expire(set, 100, 1150));
  EXPECT_EQ(w.rows(), 0u);
  args[2] = Value::Int(1);
  w.Add(set, 100, 1200, args, out, &arena);
  EXPECT_EQ(out[0].i64, 1);
  EXPECT_EQ(out[1].i64, 1);
  w.Destroy(set);
}

TEST(SlidingWindow, CheckpointMidStreamContinuesIdentically) {
  for (FieldType t : kTypes) {
    const AggregateSet set = MakeSet(AllSpecs(t));
    std::mt19937_64 rng(11);
    const auto rows = RandomRows(rng, t, 400, 3);
    const int64_t range_ms = 50;
    SlidingWindow a, b;
    std::vector<Value> oa(set.size()), ob(set.size());
    Arena arena;
    for (size_t n = 0; n < rows.size(); ++n) {
      const auto args = ArgsFor(set, rows[n]);
      a.Add(set, range_ms, rows[n].ts, args.data(), oa.data(), &arena);
      if (n == 200) {
        std::string enc;
        a.Serialize(set, &enc);
        std::string_view in = enc;
        ASSERT_TRUE(b.Deserialize(set, &in).ok());
        EXPECT_TRUE(in.empty());
        EXPECT_EQ(b.rows(), a.rows());
        // Every truncation is an error, never a crash.
        for (size_t k = 0; k < enc.size(); k += 7) {
          SlidingWindow c;
          std::string_view cut(enc.data(), k);
          EXPECT_EQ(c.Deserialize(set, &cut).code(), StatusCode::kDataLoss) << k;
          c.Destroy(set);
        }
      }
      if (n > 200) {
        b.Add(set, range_ms, rows[n].ts, args.data(), ob.data(), &arena);
        for (size_t i = 0; i < set.size(); ++i) {
          const auto rt = *ResultType(set.spec(i));
          testing::ExpectSame(testing::FromValue(oa[i], rt.first), testing::FromValue(ob[i], rt.first),
                              std::string(FieldTypeName(t)) + " row " + std::to_string(n));
        }
      }
    }
    EXPECT_GT(a.HeapBytes(), 0u);
    a.Destroy(set);
    b.Destroy(set);
  }
}

TEST(SlidingWindow, MovedWindowKeepsItsRowsAndStrings) {
  const AggregateSet set = MakeSet({{.kind = AggKind::kMin, .arg_type = FieldType::kString},
                                    {.kind = AggKind::kLast, .arg_type = FieldType::kString}});
  SlidingWindow w;
  Value out[2];
  Arena arena;
  std::string s = "hello world, a string longer than the small-string buffer";
  Value args[4] = {Value::String(s), {}, Value::String(s), {}};
  w.Add(set, 1000, 1, args, out, &arena);
  s.assign(s.size(), 'x');  // the window must have copied the bytes
  SlidingWindow moved = std::move(w);
  EXPECT_EQ(w.rows(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(moved.rows(), 1u);
  std::string t2 = "zzz";
  Value args2[4] = {Value::String(t2), {}, Value::String(t2), {}};
  moved.Add(set, 1000, 2, args2, out, &arena);
  EXPECT_EQ(out[0].sv(), "hello world, a string longer than the small-string buffer");
  EXPECT_EQ(out[1].sv(), "zzz");
  moved.Destroy(set);
  w.Destroy(set);
}

}  // namespace
}  // namespace impulse::agg
