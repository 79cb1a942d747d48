// Checks the allocation promises of src/agg: Add on fixed-size aggregates allocates nothing,
// and a SlidingWindow in steady state (rows in range no longer growing) allocates nothing per
// event. Counts calls to the global operator new, which this test binary replaces (the counter
// is only read around the measured calls).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "agg/aggregates.h"
#include "agg/sliding.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// Every non-aligned form is replaced, so allocation and deallocation always pair up.
namespace {
void* CountedAlloc(std::size_t n) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = CountedAlloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = CountedAlloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return CountedAlloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return CountedAlloc(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

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
  return {Value::Null(), Value::Null(), Value::Double(i * 0.5), Value::Null(), Value::Int(i), Value::Null(),
          Value::Double(-i * 1.0), Value::Null(), Value::Int(i * 1000), Value::Null(), Value::Int(i), Value::Null(),
          Value::Bool(i % 2 == 0), Value::Null(), Value::Double(i % 7), Value::Null()};
}

TEST(AggAllocations, TheCounterSeesAStringAggregateAllocate) {
  auto set = AggregateSet::Create({{.kind = AggKind::kMax, .arg_type = FieldType::kString}});
  ASSERT_TRUE(set.ok());
  std::vector<uint64_t> mem(set->state_size() / 8 + 1);
  auto* state = reinterpret_cast<uint8_t*>(mem.data());
  set->Init(state);
  const std::string big(100, 'x');
  Value args[2] = {Value::String(big), {}};
  const long before = g_allocations.load();
  set->Add(state, 0, args);
  EXPECT_GT(g_allocations.load() - before, 0);
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
  const long before = g_allocations.load();
  for (int64_t i = 0; i < 1000; ++i) set.Add(state, i, rows[i].data());
  set.Result(state, out.data(), &arena);
  EXPECT_EQ(g_allocations.load() - before, 0);
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
  const long before = g_allocations.load();
  for (int64_t i = 2000; i < 4000; ++i) w.Add(set, range_ms, i, rows[i].data(), out.data(), &arena);
  EXPECT_EQ(g_allocations.load() - before, 0);
  EXPECT_EQ(w.rows(), 500u);
  EXPECT_EQ(out[0].i64, 500);
  w.Destroy(set);
}

}  // namespace
}  // namespace impulse::agg
