// Checks the allocation promises of src/agg: Add on fixed-size aggregates allocates nothing,
// and a SlidingWindow in steady state (rows in range no longer growing) allocates nothing per
// event. Counts calls to the global operator new, which this test binary replaces with
// src/common/counting_new.cc (the counter is only read around the measured calls).
#include <gtest/gtest.h>

#include <string>

#include "agg/aggregates.h"
#include "agg/sliding.h"
#include "common/counting_new.h"

namespace impulse::agg {
namespace {

AggregateSet FixedSizeSet() {
  auto set = AggregateSet::Create({{.kind = AggKind::kCount, .arity = 0},
                                   {.kind = AggKind::kSum, .arg_type = FieldType::kDouble},
                                   {.kind = AggKind::kAvg, .arg_type = FieldType::kInt64},
                                   {.kind = AggKind::kMin, .arg_type = FieldType::kDouble},
                                   {.kind = AggKind::kMax, .arg_type = FieldType::kTimestamp},
                                   {.kind = AggKind::kFirst, .arg_type = FieldType::kInt64},
                                   {.kind = AggKind::kLast, .arg_type = FieldType::kBool},
                                   {.kind = AggKind::kStddevSamp, .arg_type = FieldType::kDouble}});
  IMPULSE_CHECK(set.ok());
  return std::move(set).value();
}

std::vector<Value> Args(int64_t i) {
  return {Value::Null(),           Value::Null(), Value::Double(i * 0.5), Value::Null(), Value::Int(i), Value::Null(),
          Value::Double(-i * 1.0), Value::Null(), Value::Int(i * 1000),   Value::Null(), Value::Int(i), Value::Null(),
          Value::Bool(i % 2 == 0), Value::Null(), Value::Double(i % 7),   Value::Null()};
}

TEST(AggAllocations, TheCounterSeesAStringAggregateAllocate) {
  auto set = AggregateSet::Create({{.kind = AggKind::kMax, .arg_type = FieldType::kString}});
  ASSERT_TRUE(set.ok());
  std::vector<uint64_t> mem(set->state_size() / 8 + 1);
  auto* state = reinterpret_cast<uint8_t*>(mem.data());
  set->Init(state);
  const std::string big(100, 'x');
  Value args[2] = {Value::String(big), {}};
  const long before = impulse::testing::AllocationCount();
  set->Add(state, 0, args);
  EXPECT_GT(impulse::testing::AllocationCount() - before, 0);
  set->Destroy(state);
}

TEST(AggAllocations, AddAndResultOfFixedSizeAggregatesAllocateNothing) {
  const AggregateSet set = FixedSizeSet();
  std::vector<uint64_t> mem(set.state_size() / 8 + 1);
  auto* state = reinterpret_cast<uint8_t*>(mem.data());
  set.Init(state);
  std::vector<std::vector<Value>> rows;
  for (int64_t i = 0; i < 1000; ++i) rows.push_back(Args(i));
  std::vector<Value> out(set.size());
  Arena arena;
  const long before = impulse::testing::AllocationCount();
  for (int64_t i = 0; i < 1000; ++i) set.Add(state, i, rows[i].data());
  set.Result(state, out.data(), &arena);
  EXPECT_EQ(impulse::testing::AllocationCount() - before, 0);
  EXPECT_EQ(out[0].i64, 1000);
  set.Destroy(state);
}

TEST(AggAllocations, SlidingWindowInSteadyStateAllocatesNothing) {
  const AggregateSet set = FixedSizeSet();
  std::vector<std::vector<Value>> rows;
  for (int64_t i = 0; i < 4000; ++i) rows.push_back(Args(i));
  SlidingWindow w;
  std::vector<Value> out(set.size());
  Arena arena;
  const int64_t range_ms = 500;  // one row per ms: 500 rows in range
  for (int64_t i = 0; i < 2000; ++i) w.Add(set, range_ms, i, rows[i].data(), out.data(), &arena);
  const long before = impulse::testing::AllocationCount();
  for (int64_t i = 2000; i < 4000; ++i) w.Add(set, range_ms, i, rows[i].data(), out.data(), &arena);
  EXPECT_EQ(impulse::testing::AllocationCount() - before, 0);
  EXPECT_EQ(w.rows(), 500u);
  EXPECT_EQ(out[0].i64, 500);
  w.Destroy(set);
}

}  // namespace
}  // namespace impulse::agg
