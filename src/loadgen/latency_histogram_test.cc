#include "loadgen/latency_histogram.h"

#include <gtest/gtest.h>

namespace impulse::loadgen {
namespace {

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.Quantile(0.5), 0u);
  EXPECT_EQ(h.count(), 0u);
}

TEST(LatencyHistogram, BucketsCoverEveryValueContiguously) {
  for (int i = 0; i + 1 < LatencyHistogram::kBuckets; ++i) {
    ASSERT_EQ(LatencyHistogram::BucketHigh(i) + 1, LatencyHistogram::BucketLow(i + 1)) << i;
  }
  for (uint64_t v : {0ull, 1ull, 63ull, 64ull, 65ull, 1000ull, 123456789ull, ~0ull}) {
    const int b = LatencyHistogram::BucketIndex(v);
    EXPECT_LE(LatencyHistogram::BucketLow(b), v);
    EXPECT_GE(LatencyHistogram::BucketHigh(b), v);
  }
  EXPECT_EQ(LatencyHistogram::BucketIndex(~0ull), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogram, QuantilesWithinThreePercent) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.Record(v * 1000);  // 1 us .. 100 ms
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.max_ns(), 100000u * 1000);
  auto near = [](uint64_t got, double want) { return std::abs(static_cast<double>(got) - want) <= 0.031 * want; };
  EXPECT_TRUE(near(h.Quantile(0.5), 50000e3)) << h.Quantile(0.5);
  EXPECT_TRUE(near(h.Quantile(0.99), 99000e3)) << h.Quantile(0.99);
  EXPECT_TRUE(near(h.Quantile(0.999), 99900e3)) << h.Quantile(0.999);
  EXPECT_EQ(h.Quantile(1.0), 100000u * 1000);
}

}  // namespace
}  // namespace impulse::loadgen
