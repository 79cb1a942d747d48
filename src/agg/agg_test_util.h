// Test helpers for src/agg: random rows with nulls and a brute-force reference for every
// aggregate kind, written as plainly as possible so it can be trusted.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "agg/aggregates.h"

namespace impulse::agg::testing {

// One input row: x (of the set's arg type), a string y and an int y (for arg_max / arg_min).
struct TestRow {
  int64_t ts = 0;
  std::optional<std::variant<int64_t, double, std::string, bool>> x;
  std::optional<std::string> ys;
  std::optional<int64_t> yi;
};

using Plain = std::optional<std::variant<int64_t, double, std::string, bool>>;

inline Value ToValue(const Plain& p) {
  if (!p) return Value::Null();
  if (auto* i = std::get_if<int64_t>(&*p)) return Value::Int(*i);
  if (auto* d = std::get_if<double>(&*p)) return Value::Double(*d);
  if (auto* s = std::get_if<std::string>(&*p)) return Value::String(*s);
  return Value::Bool(std::get<bool>(*p));
}

inline Plain FromValue(const Value& v, FieldType t) {
  if (v.null) return std::nullopt;
  switch (t) {
    case FieldType::kString: return std::string(v.sv());
    case FieldType::kDouble: return v.f64;
    case FieldType::kBool: return v.b;
    default: return v.i64;
  }
}

// Random rows of type `t`: ~20% nulls, small domains so that ties and duplicates happen.
inline std::vector<TestRow> RandomRows(std::mt19937_64& rng, FieldType t, size_t n, int64_t ts_step_max,
                                       bool unique_ts = false) {
  std::vector<TestRow> rows;
  int64_t ts = 1000;
  std::uniform_int_distribution<int> pct(0, 99);
  for (size_t i = 0; i < n; ++i) {
    TestRow r;
    ts += unique_ts ? 1 + static_cast<int64_t>(rng() % (ts_step_max + 1))
                    : static_cast<int64_t>(rng() % (ts_step_max + 1));
    r.ts = ts;
    if (pct(rng) >= 20) {
      switch (t) {
        case FieldType::kInt64: r.x = static_cast<int64_t>(rng() % 41) - 20; break;
        case FieldType::kTimestamp: r.x = static_cast<int64_t>(1'700'000'000'000 + rng() % 50); break;
        case FieldType::kDouble: r.x = static_cast<double>(static_cast<int64_t>(rng() % 2001) - 1000) / 8.0; break;
        case FieldType::kBool: r.x = rng() % 2 == 0; break;
        case FieldType::kString:
          r.x = std::string(rng() % 3, 'a') + std::to_string(rng() % 20) +
                (rng() % 4 == 0 ? std::string(40, 'z') : std::string());
          break;
      }
    }
    if (pct(rng) >= 15) r.ys = "y" + std::to_string(rng() % 10);
    if (pct(rng) >= 15) r.yi = static_cast<int64_t>(rng() % 100);
    rows.push_back(r);
  }
  return rows;
}

// The args array for one row: 2 Values per aggregate. arg_max uses the string y, arg_min the int y.
inline std::vector<Value> ArgsFor(const AggregateSet& set, const TestRow& r) {
  std::vector<Value> args(2 * set.size());
  for (size_t i = 0; i < set.size(); ++i) {
    args[2 * i] = ToValue(r.x);
    if (set.spec(i).arity == 2 && set.spec(i).kind != AggKind::kTopK)
      args[2 * i + 1] = set.spec(i).arg2_type == FieldType::kString
                            ? (r.ys ? Value::String(*r.ys) : Value::Null())  // points into r
                            : (r.yi ? Value::Int(*r.yi) : Value::Null());
  }
  return args;
}

// Specs for every kind that accepts `t`; arg_max has a string y, arg_min an int y.
inline std::vector<AggSpec> AllSpecs(FieldType t, bool retractable_only = false) {
  const bool numeric = t == FieldType::kInt64 || t == FieldType::kDouble;
  std::vector<AggSpec> s;
  s.push_back({.kind = AggKind::kCount, .arity = 0, .arg_type = t});
  s.push_back({.kind = AggKind::kCount, .arg_type = t});
  if (numeric)
    for (AggKind k :
         {AggKind::kSum, AggKind::kAvg, AggKind::kVarPop, AggKind::kVarSamp, AggKind::kStddevPop, AggKind::kStddevSamp})
      s.push_back({.kind = k, .arg_type = t});
  s.push_back({.kind = AggKind::kCountDistinct, .arg_type = t});
  if (retractable_only) return s;
  for (AggKind k : {AggKind::kMin, AggKind::kMax, AggKind::kFirst, AggKind::kLast, AggKind::kApproxCountDistinct})
    s.push_back({.kind = k, .arg_type = t});
  s.push_back({.kind = AggKind::kArgMax, .arity = 2, .arg_type = t, .arg2_type = FieldType::kString});
  s.push_back({.kind = AggKind::kArgMin, .arity = 2, .arg_type = t, .arg2_type = FieldType::kInt64});
  s.push_back({.kind = AggKind::kTopK, .arity = 2, .arg_type = t, .k = 3});
  return s;
}

inline double AsDouble(const std::variant<int64_t, double, std::string, bool>& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  return std::get<double>(v);
}

// The brute-force result of `spec` over `rows` (in the order given).
Plain Reference(const AggSpec& spec, const std::vector<TestRow>& rows);

// Checks that `got` (of `t`) equals `want`, doubles within a relative 1e-6.
inline void ExpectSame(const Plain& want, const Plain& got, const std::string& what) {
  ASSERT_EQ(want.has_value(), got.has_value()) << what;
  if (!want) return;
  if (std::holds_alternative<double>(*want)) {
    ASSERT_TRUE(std::holds_alternative<double>(*got)) << what;
    const double a = std::get<double>(*want), b = std::get<double>(*got);
    EXPECT_LE(std::abs(a - b), 1e-6 * std::max({1.0, std::abs(a), std::abs(b)})) << what << ": " << a << " vs " << b;
  } else {
    EXPECT_TRUE(*want == *got) << what;
  }
}

// Runs Result() on `state` and compares every aggregate with the reference over `rows`.
inline void ExpectMatchesReference(const AggregateSet& set, const uint8_t* state, const std::vector<TestRow>& rows,
                                   const std::string& what) {
  std::vector<Value> out(set.size());
  Arena arena;
  set.Result(state, out.data(), &arena);
  for (size_t i = 0; i < set.size(); ++i) {
    auto rt = ResultType(set.spec(i));
    ASSERT_TRUE(rt.ok());
    Plain want = Reference(set.spec(i), rows);
    if (set.spec(i).kind == AggKind::kApproxCountDistinct) {
      // Small sets: linear counting is close to exact.
      const int64_t exact = std::get<int64_t>(*want);
      ASSERT_FALSE(out[i].null);
      EXPECT_NEAR(static_cast<double>(out[i].i64), static_cast<double>(exact), 2 + 0.05 * static_cast<double>(exact))
          << what;
      continue;
    }
    ExpectSame(want, FromValue(out[i], rt->first),
               what + " agg " + std::to_string(i) + " " + std::string(AggKindName(set.spec(i).kind)));
  }
}

// A state block with its lifetime (Init in the constructor, Destroy in the destructor).
class State {
 public:
  explicit State(const AggregateSet& set) : set_(set), mem_((set.state_size() + 7) / 8 + 1) { set_.Init(data()); }
  ~State() { set_.Destroy(data()); }
  uint8_t* data() { return reinterpret_cast<uint8_t*>(mem_.data()); }

 private:
  const AggregateSet& set_;
  std::vector<uint64_t> mem_;
};

}  // namespace impulse::agg::testing
