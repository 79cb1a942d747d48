#include "state/flat_map.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace impulse::state::internal {
namespace {

// Random inserts and erases over a small key space (many collisions, clusters that wrap around
// the array, growth) must match std::map after every step.
TEST(FlatStringMap, MatchesReferenceUnderRandomInsertErase) {
  std::mt19937 rng(7);
  FlatStringMap<int> map;
  std::map<std::string, int> ref;
  for (int step = 0; step < 200'000; ++step) {
    const int k = static_cast<int>(rng() % 3000);
    // Every third key is long enough to live on the heap.
    const std::string key = k % 3 == 0 ? "a-long-key-that-is-not-inline-" + std::to_string(k) : std::to_string(k);
    if (rng() % 3 == 0) {
      EXPECT_EQ(map.Erase(key), ref.erase(key) == 1) << step;
    } else if (int* v = map.Find(key)) {
      ASSERT_TRUE(ref.count(key)) << step;
      EXPECT_EQ(*v, ref[key]) << step;
      *v += 1;
      ref[key] += 1;
    } else {
      ASSERT_FALSE(ref.count(key)) << step;
      *map.Insert(key) = step;
      ref[key] = step;
    }
    ASSERT_EQ(map.size(), ref.size()) << step;
  }
  std::map<std::string, int> seen;
  map.ForEachUntil([&](const std::string& key, int& v) {
    EXPECT_TRUE(seen.emplace(key, v).second);
    return true;
  });
  EXPECT_EQ(seen, ref);
  for (const auto& [key, v] : ref) {
    const int* found = map.Find(key);
    ASSERT_NE(found, nullptr) << key;
    EXPECT_EQ(*found, v);
  }
  EXPECT_LE(map.size() * 10, map.capacity() * 7);
}

// A full small table (11 keys in 16 slots): clusters wrap around the end of the array all the
// time, which is where the backward-shift condition has its second case.
TEST(FlatStringMap, WrappingClustersSurviveErase) {
  std::mt19937 rng(11);
  FlatStringMap<int> map;
  std::map<std::string, int> ref;
  for (int step = 0; step < 100'000; ++step) {
    const std::string key = "w" + std::to_string(rng() % 11);
    if (rng() % 2 == 0) {
      ASSERT_EQ(map.Erase(key), ref.erase(key) == 1) << step;
    } else if (map.Find(key) == nullptr) {
      ASSERT_FALSE(ref.count(key)) << step;
      *map.Insert(key) = step;
      ref[key] = step;
    }
    for (const auto& [k, v] : ref) {
      const int* found = map.Find(k);
      ASSERT_NE(found, nullptr) << step << " " << k;
      ASSERT_EQ(*found, v) << step;
    }
  }
  EXPECT_EQ(map.capacity(), 16u);
}

TEST(FlatStringMap, EraseEverythingLeavesItEmptyAndUsable) {
  FlatStringMap<std::string> map;
  for (int i = 0; i < 1000; ++i) *map.Insert("k" + std::to_string(i)) = std::to_string(i);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(map.Erase("k" + std::to_string(i)));
  EXPECT_EQ(map.size(), 0u);
  EXPECT_FALSE(map.Erase("k1"));
  EXPECT_EQ(map.Find("k1"), nullptr);
  int visited = 0;
  map.ForEachUntil([&](const std::string&, std::string&) { return ++visited, true; });
  EXPECT_EQ(visited, 0);
  *map.Insert("again") = "x";
  ASSERT_NE(map.Find("again"), nullptr);
  EXPECT_EQ(*map.Find("again"), "x");
}

}  // namespace
}  // namespace impulse::state::internal
