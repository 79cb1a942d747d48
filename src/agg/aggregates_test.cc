#include "agg/aggregates.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "agg/agg_test_util.h"
#include "common/status_matchers.h"

namespace impulse::agg {
namespace {

using testing::AllSpecs;
using testing::ArgsFor;
using testing::ExpectMatchesReference;
using testing::RandomRows;
using testing::State;
using testing::TestRow;

constexpr FieldType kTypes[] = {FieldType::kInt64, FieldType::kDouble, FieldType::kString, FieldType::kBool,
                                FieldType::kTimestamp};

AggregateSet MakeSet(std::vector<AggSpec> specs) {
  auto set = AggregateSet::Create(std::move(specs));
  IMPULSE_CHECK(set.ok());
  return std::move(set).value();
}

void AddAll(const AggregateSet& set, uint8_t* state, const std::vector<TestRow>& rows) {
  for (const TestRow& r : rows) set.Add(state, r.ts, ArgsFor(set, r).data());
}

std::string Name(FieldType t, int seed) { return std::string(FieldTypeName(t)) + " seed " + std::to_string(seed); }

TEST(ParseAggKind, KnowsEveryNameAndAlias) {
  EXPECT_EQ(*ParseAggKind("count"), AggKind::kCount);
  EXPECT_EQ(*ParseAggKind("approx_count_distinct"), AggKind::kApproxCountDistinct);
  EXPECT_EQ(*ParseAggKind("stddev"), AggKind::kStddevSamp);
  EXPECT_EQ(*ParseAggKind("variance"), AggKind::kVarSamp);
  EXPECT_EQ(*ParseAggKind("top_k"), AggKind::kTopK);
  EXPECT_EQ(AggKindName(AggKind::kStddevSamp), "stddev_samp");
  for (int k = 0; k <= static_cast<int>(AggKind::kTopK); ++k)
    EXPECT_EQ(*ParseAggKind(AggKindName(static_cast<AggKind>(k))), static_cast<AggKind>(k));
}

TEST(ParseAggKind, UnknownNameIsInvalidArgumentListingValidNames) {
  auto r = ParseAggKind("median");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("arg_max"), std::string::npos);
}

TEST(ResultType, TypesAndNullability) {
  using P = std::pair<FieldType, bool>;
  EXPECT_EQ(*ResultType({.kind = AggKind::kCount, .arity = 0}), P(FieldType::kInt64, false));
  EXPECT_EQ(*ResultType({.kind = AggKind::kSum, .arg_type = FieldType::kDouble}), P(FieldType::kDouble, true));
  EXPECT_EQ(*ResultType({.kind = AggKind::kSum, .arg_type = FieldType::kInt64}), P(FieldType::kInt64, true));
  EXPECT_EQ(*ResultType({.kind = AggKind::kAvg, .arg_type = FieldType::kInt64}), P(FieldType::kDouble, true));
  EXPECT_EQ(*ResultType({.kind = AggKind::kMax, .arg_type = FieldType::kString}), P(FieldType::kString, true));
  EXPECT_EQ(*ResultType({.kind = AggKind::kCountDistinct, .arg_type = FieldType::kString}),
            P(FieldType::kInt64, false));
  EXPECT_EQ(
      *ResultType(
          {.kind = AggKind::kArgMax, .arity = 2, .arg_type = FieldType::kDouble, .arg2_type = FieldType::kString}),
      P(FieldType::kString, true));
  EXPECT_EQ(*ResultType({.kind = AggKind::kTopK, .arity = 2, .k = 5}), P(FieldType::kString, true));
}

TEST(ResultType, RejectsBadTypesArityAndK) {
  auto code = [](AggSpec s) { return ResultType(s).status().code(); };
  EXPECT_EQ(code({.kind = AggKind::kSum, .arg_type = FieldType::kString}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.kind = AggKind::kAvg, .arg_type = FieldType::kBool}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.kind = AggKind::kStddevSamp, .arg_type = FieldType::kTimestamp}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.kind = AggKind::kArgMax, .arity = 1}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.kind = AggKind::kMin, .arity = 0}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.kind = AggKind::kTopK, .k = 0}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.kind = AggKind::kTopK, .k = kTopKCounters + 1}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.kind = static_cast<AggKind>(99)}), StatusCode::kInvalidArgument);
  EXPECT_CODE(AggregateSet::Create({{.kind = AggKind::kSum, .arg_type = FieldType::kString}}), kInvalidArgument);
  EXPECT_CODE(AggregateSet::Create(std::vector<AggSpec>(kMaxAggregates + 1)), kInvalidArgument);
}

TEST(AggregateSet, EveryKindMatchesBruteForceOnRandomRowsWithNulls) {
  for (FieldType t : kTypes) {
    const AggregateSet set = MakeSet(AllSpecs(t));
    for (int seed = 0; seed < 40; ++seed) {
      std::mt19937_64 rng(seed);
      const auto rows = RandomRows(rng, t, rng() % 200, /*ts_step_max=*/3);
      State s(set);
      AddAll(set, s.data(), rows);
      ExpectMatchesReference(set, s.data(), rows, Name(t, seed));
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(AggregateSet, EmptyGroupGivesNullExceptCounts) {
  const AggregateSet set = MakeSet(AllSpecs(FieldType::kDouble));
  State s(set);
  std::vector<Value> out(set.size());
  Arena arena;
  set.Result(s.data(), out.data(), &arena);
  for (size_t i = 0; i < set.size(); ++i) {
    const bool nullable = ResultType(set.spec(i))->second;
    EXPECT_EQ(out[i].null, nullable) << AggKindName(set.spec(i).kind);
    if (!nullable) {
      EXPECT_EQ(out[i].i64, 0);
    }
  }
}

TEST(AggregateSet, MergeOfRandomSplitsEqualsTheWhole) {
  for (FieldType t : kTypes) {
    const AggregateSet set = MakeSet(AllSpecs(t));
    for (int seed = 0; seed < 30; ++seed) {
      std::mt19937_64 rng(seed);
      // Distinct event times: first/last across a split are then unambiguous.
      const auto rows = RandomRows(rng, t, rng() % 150, 3, /*unique_ts=*/true);
      State a(set), b(set), c(set);
      for (const TestRow& r : rows) {
        const int part = static_cast<int>(rng() % 3);
        set.Add((part == 0 ? a : part == 1 ? b : c).data(), r.ts, ArgsFor(set, r).data());
      }
      set.Merge(a.data(), b.data());
      set.Merge(c.data(), a.data());  // merging into a third, in the other direction
      ExpectMatchesReference(set, c.data(), rows, Name(t, seed));
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(AggregateSet, MergeOfAPrefixAndItsSuffixEqualsTheWholeWithTiedTimes) {
  for (FieldType t : kTypes) {
    const AggregateSet set = MakeSet(AllSpecs(t));
    for (int seed = 0; seed < 30; ++seed) {
      std::mt19937_64 rng(seed);
      const auto rows = RandomRows(rng, t, rng() % 150, /*ts_step_max=*/1);  // many equal times
      const size_t cut = rows.empty() ? 0 : rng() % (rows.size() + 1);
      State a(set), b(set);
      for (size_t i = 0; i < rows.size(); ++i)
        set.Add((i < cut ? a : b).data(), rows[i].ts, ArgsFor(set, rows[i]).data());
      set.Merge(a.data(), b.data());  // `into` holds the earlier rows
      ExpectMatchesReference(set, a.data(), rows, Name(t, seed));
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(AggregateSet, RetractEqualsNeverAdded) {
  for (FieldType t : kTypes) {
    const AggregateSet set = MakeSet(AllSpecs(t, /*retractable_only=*/true));
    ASSERT_TRUE(set.Retractable());
    for (int seed = 0; seed < 30; ++seed) {
      std::mt19937_64 rng(seed);
      auto kept = RandomRows(rng, t, rng() % 100, 3);
      auto removed = RandomRows(rng, t, rng() % 100, 3);
      State s(set);
      AddAll(set, s.data(), kept);
      AddAll(set, s.data(), removed);
      std::shuffle(removed.begin(), removed.end(), rng);
      for (const TestRow& r : removed) ASSERT_TRUE(set.Retract(s.data(), r.ts, ArgsFor(set, r).data()));
      ExpectMatchesReference(set, s.data(), kept, Name(t, seed));
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(AggregateSet, RetractOnANonRetractableSetChangesNothing) {
  const AggregateSet set = MakeSet({{.kind = AggKind::kCount, .arity = 0}, {.kind = AggKind::kMax}});
  EXPECT_FALSE(set.Retractable());
  State s(set);
  Value args[4] = {Value::Int(3), Value::Null(), Value::Int(3), Value::Null()};
  set.Add(s.data(), 0, args);
  EXPECT_FALSE(set.Retract(s.data(), 0, args));
  Value out[2];
  Arena arena;
  set.Result(s.data(), out, &arena);
  EXPECT_EQ(out[0].i64, 1);
  EXPECT_EQ(out[1].i64, 3);
}

TEST(AggregateSet, MinMaxIgnoreNaNAndArgMaxTiesKeepSmallerY) {
  const AggregateSet set = MakeSet(
      {{.kind = AggKind::kMin, .arg_type = FieldType::kDouble},
       {.kind = AggKind::kMax, .arg_type = FieldType::kDouble},
       {.kind = AggKind::kArgMax, .arity = 2, .arg_type = FieldType::kDouble, .arg2_type = FieldType::kString}});
  for (bool reversed : {false, true}) {
    State s(set);
    std::vector<std::pair<double, const char*>> in = {{NAN, "nan"}, {2.0, "b"}, {2.0, "a"}, {1.0, "z"}};
    if (reversed) std::reverse(in.begin(), in.end());
    for (auto [x, y] : in) {
      Value args[6] = {Value::Double(x), {}, Value::Double(x), {}, Value::Double(x), Value::String(y)};
      set.Add(s.data(), 0, args);
    }
    Value out[3];
    Arena arena;
    set.Result(s.data(), out, &arena);
    EXPECT_EQ(out[0].f64, 1.0);
    EXPECT_EQ(out[1].f64, 2.0);
    EXPECT_EQ(out[2].sv(), "a");
  }
}

TEST(AggregateSet, SumOfIntsWrapsAroundInsteadOfOverflowing) {
  const AggregateSet set = MakeSet({{.kind = AggKind::kSum}});
  State s(set);
  Value a[2] = {Value::Int(INT64_MAX), {}}, b[2] = {Value::Int(2), {}};
  set.Add(s.data(), 0, a);
  set.Add(s.data(), 0, b);
  Value out;
  Arena arena;
  set.Result(s.data(), &out, &arena);
  EXPECT_EQ(out.i64, INT64_MIN + 1);
}

TEST(AggregateSet, TopKOrdersByCountThenValueAsJson) {
  const AggregateSet set = MakeSet({{.kind = AggKind::kTopK, .arity = 2, .arg_type = FieldType::kString, .k = 3}});
  State s(set);
  for (const char* v : {"b", "a", "c", "b", "d", "a", "e", "b"}) {
    Value args[2] = {Value::String(v), {}};
    set.Add(s.data(), 0, args);
  }
  Value out;
  Arena arena;
  set.Result(s.data(), &out, &arena);
  EXPECT_EQ(out.sv(), R"([{"value":"b","count":3},{"value":"a","count":2},{"value":"c","count":1}])");
}

TEST(AggregateSet, TopKAboveTheCounterLimitKeepsHeavyHittersWithUpperBoundCounts) {
  const AggregateSet set = MakeSet({{.kind = AggKind::kTopK, .arity = 2, .k = 2}});
  State s(set);
  std::mt19937_64 rng(7);
  // 30000 values seen once, interleaved with 2 heavy hitters seen 2000 and 1000 times.
  for (int i = 0; i < 33000; ++i) {
    const int64_t v = i % 11 == 0 ? -1 : (i % 11 == 1 && i % 2 == 0 ? -2 : i);
    Value args[2] = {Value::Int(v), {}};
    set.Add(s.data(), 0, args);
  }
  EXPECT_LT(set.HeapBytes(s.data()), size_t{4} << 20);
  Value out;
  Arena arena;
  set.Result(s.data(), &out, &arena);
  const std::string json(out.sv());
  EXPECT_EQ(json.rfind("[{\"value\":-1,\"count\":", 0), 0u) << json;
  EXPECT_NE(json.find("{\"value\":-2,\"count\":"), std::string::npos) << json;
}

TEST(AggregateSet, HllErrorIsWithinThreeStandardErrors) {
  const AggregateSet set = MakeSet({{.kind = AggKind::kApproxCountDistinct}});
  const double sigma = 1.04 / std::sqrt(4096.0);
  for (int64_t n : {100'000, 1'000'000}) {
    State s(set);
    for (int64_t i = 0; i < n; ++i) {
      Value args[2] = {Value::Int(i * 7919 + 13), {}};
      set.Add(s.data(), 0, args);
      if (i % 4 == 0) set.Add(s.data(), 0, args);  // duplicates do not count
    }
    Value out;
    Arena arena;
    set.Result(s.data(), &out, &arena);
    const double rel = std::abs(static_cast<double>(out.i64 - n)) / static_cast<double>(n);
    EXPECT_LT(rel, 3 * sigma) << n << " -> " << out.i64;
  }
}

TEST(AggregateSet, SerializeRoundTripGivesEqualResultsAndConsumesExactly) {
  for (FieldType t : kTypes) {
    const AggregateSet set = MakeSet(AllSpecs(t));
    for (int seed = 0; seed < 20; ++seed) {
      std::mt19937_64 rng(seed);
      const auto rows = RandomRows(rng, t, rng() % 100, 3);
      State s(set);
      AddAll(set, s.data(), rows);
      std::string enc;
      set.Serialize(s.data(), &enc);
      set.Serialize(s.data(), &enc);  // two back to back: each read stops at its own end
      std::string_view in = enc;
      State r1(set), r2(set);
      ASSERT_TRUE(set.Deserialize(&in, r1.data()).ok());
      ASSERT_EQ(in.size(), enc.size() / 2);
      ASSERT_TRUE(set.Deserialize(&in, r2.data()).ok());
      EXPECT_TRUE(in.empty());
      ExpectMatchesReference(set, r1.data(), rows, Name(t, seed));
      ExpectMatchesReference(set, r2.data(), rows, Name(t, seed));
      // The restored state keeps aggregating like the original.
      set.Add(r1.data(), rows.empty() ? 0 : rows.back().ts, ArgsFor(set, rows.empty() ? TestRow{} : rows[0]).data());
      set.Add(s.data(), rows.empty() ? 0 : rows.back().ts, ArgsFor(set, rows.empty() ? TestRow{} : rows[0]).data());
      std::vector<Value> o1(set.size()), o2(set.size());
      Arena arena;
      set.Result(s.data(), o1.data(), &arena);
      set.Result(r1.data(), o2.data(), &arena);
      for (size_t i = 0; i < set.size(); ++i) {
        auto rt = *ResultType(set.spec(i));
        testing::ExpectSame(testing::FromValue(o1[i], rt.first), testing::FromValue(o2[i], rt.first), "after add");
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(AggregateSet, EveryTruncationOfAValidEncodingIsDataLoss) {
  for (FieldType t : kTypes) {
    const AggregateSet set = MakeSet(AllSpecs(t));
    std::mt19937_64 rng(3);
    const auto rows = RandomRows(rng, t, 60, 3);
    State s(set);
    AddAll(set, s.data(), rows);
    std::string enc;
    set.Serialize(s.data(), &enc);
    for (size_t n = 0; n < enc.size(); ++n) {
      std::string_view in(enc.data(), n);
      State r(set);
      const Status st = set.Deserialize(&in, r.data());
      ASSERT_EQ(st.code(), StatusCode::kDataLoss) << FieldTypeName(t) << " prefix " << n;
    }
  }
}

TEST(AggregateSet, CorruptedEncodingsNeverCrash) {
  const AggregateSet set = MakeSet(AllSpecs(FieldType::kString));
  std::mt19937_64 rng(5);
  const auto rows = RandomRows(rng, FieldType::kString, 80, 3);
  State s(set);
  AddAll(set, s.data(), rows);
  std::string enc;
  set.Serialize(s.data(), &enc);
  int errors = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bad = enc;
    for (int j = 0; j < 3; ++j) bad[rng() % bad.size()] = static_cast<char>(rng());
    std::string_view in = bad;
    State r(set);
    if (!set.Deserialize(&in, r.data()).ok()) ++errors;
    std::vector<Value> out(set.size());
    Arena arena;
    set.Result(r.data(), out.data(), &arena);  // whatever was read is a usable state
  }
  EXPECT_GT(errors, 0);
}

TEST(AggregateSet, HeapBytesGrowsWithDistinctValues) {
  const AggregateSet set = MakeSet({{.kind = AggKind::kCountDistinct}, {.kind = AggKind::kSum}});
  State s(set);
  EXPECT_EQ(set.HeapBytes(s.data()), 0u);
  for (int i = 0; i < 1000; ++i) {
    Value args[4] = {Value::Int(i), {}, Value::Int(i), {}};
    set.Add(s.data(), 0, args);
  }
  EXPECT_GT(set.HeapBytes(s.data()), 1000u * 8);
}

}  // namespace
}  // namespace impulse::agg
