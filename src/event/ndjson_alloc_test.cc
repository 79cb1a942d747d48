// Checks the steady-state promise of NdjsonParser: once the parser and the batch have seen a
// body, parsing it again allocates nothing. Counts calls to the global operator new, which
// this test binary replaces (the counter is only read around the measured call).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "event/ndjson.h"

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

namespace impulse {
namespace {

TEST(NdjsonParserAllocations, ReparsingAValidBodyAllocatesNothing) {
  StreamDef def;
  def.name = "clicks";
  def.schema = Schema({{"user_id", FieldType::kString, false},
                       {"url", FieldType::kString, false},
                       {"amount", FieldType::kDouble, false},
                       {"ts", FieldType::kTimestamp, false}});
  def.key_field = 0;
  def.time_field = 3;
  std::string body;
  for (int i = 0; i < 500; ++i) {
    body += R"({"user_id":"user-)" + std::to_string(i) +
            R"(","url":"https://example.com/a/b/c","amount":)" + std::to_string(i) +
            R"(.25,"ts":"2024-03-01T12:34:56.789Z"})" + "\n";
  }
  NdjsonParser parser(def, {});
  RowBatch rows(4);
  std::vector<BadLine> bad;
  const long first_before = g_allocations.load();
  ASSERT_TRUE(parser.Parse(body, 1, &rows, &bad).ok());
  ASSERT_EQ(rows.size(), 500u);
  EXPECT_GT(g_allocations.load() - first_before, 0);  // the counter sees the warm-up

  rows.Clear();
  const long before = g_allocations.load();
  Status st = parser.Parse(body, 2, &rows, &bad);
  const long allocations = g_allocations.load() - before;
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(rows.size(), 500u);
  EXPECT_TRUE(bad.empty());
  EXPECT_EQ(allocations, 0);
}

}  // namespace
}  // namespace impulse
