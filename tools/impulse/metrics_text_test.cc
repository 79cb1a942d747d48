#include "tools/impulse/metrics_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace impulse::tools {
namespace {

// As the engine's exposition writes it (prometheus-cpp's text serializer).
constexpr std::string_view kText = R"(# HELP impulse_stage_latency_seconds Latency per stage.
# TYPE impulse_stage_latency_seconds histogram
impulse_stage_latency_seconds_count{stage="ingest_to_durable"} 100
impulse_stage_latency_seconds_sum{stage="ingest_to_durable"} 0.15
impulse_stage_latency_seconds_bucket{stage="ingest_to_durable",le="0.001"} 40
impulse_stage_latency_seconds_bucket{stage="ingest_to_durable",le="0.002"} 90
impulse_stage_latency_seconds_bucket{stage="ingest_to_durable",le="0.004"} 100
impulse_stage_latency_seconds_bucket{stage="ingest_to_durable",le="+Inf"} 100
impulse_stage_latency_seconds_count{stage="checkpoint_pause"} 0
impulse_stage_latency_seconds_sum{stage="checkpoint_pause"} 0
impulse_stage_latency_seconds_bucket{stage="checkpoint_pause",le="0.001"} 0
impulse_stage_latency_seconds_bucket{stage="checkpoint_pause",le="+Inf"} 0
process_cpu_seconds_total 2.5
impulse_checkpoints_total{result="completed"} 3
impulse_checkpoints_total{result="failed"} 1
impulse_checkpoints_total_extra 7
)";

TEST(MetricsText, SumOfAFamilyOrOneSeries) {
  EXPECT_DOUBLE_EQ(MetricSum(kText, "process_cpu_seconds_total"), 2.5);
  EXPECT_DOUBLE_EQ(MetricSum(kText, "impulse_checkpoints_total"), 4);  // not the _extra family
  EXPECT_DOUBLE_EQ(MetricSum(kText, "impulse_checkpoints_total{result=\"failed\"}"), 1);
  EXPECT_DOUBLE_EQ(MetricSum(kText, "absent_total"), 0);
}

TEST(MetricsText, StagesInOrderOfAppearance) {
  EXPECT_EQ(HistogramLabelValues(kText, "impulse_stage_latency_seconds", "stage"),
            (std::vector<std::string>{"ingest_to_durable", "checkpoint_pause"}));
}

TEST(MetricsText, QuantilesInterpolateInsideTheirBucket) {
  const auto b = HistogramBuckets(kText, "impulse_stage_latency_seconds", "stage", "ingest_to_durable");
  ASSERT_EQ(b.size(), 4u);
  EXPECT_TRUE(std::isinf(b.back().le));
  // Rank 50 lies 10 of the 50 observations into (0.001, 0.002].
  EXPECT_NEAR(*HistogramQuantile(b, 0.5), 0.0012, 1e-12);
  // Rank 99 lies 9 of the 10 into (0.002, 0.004].
  EXPECT_NEAR(*HistogramQuantile(b, 0.99), 0.0038, 1e-12);
  // Rank 20 in the first bucket, from 0.
  EXPECT_NEAR(*HistogramQuantile(b, 0.2), 0.0005, 1e-12);
}

TEST(MetricsText, NoObservationsHaveNoQuantile) {
  const auto b = HistogramBuckets(kText, "impulse_stage_latency_seconds", "stage", "checkpoint_pause");
  EXPECT_EQ(b.size(), 2u);
  EXPECT_FALSE(HistogramQuantile(b, 0.5).has_value());
  EXPECT_TRUE(HistogramBuckets(kText, "impulse_stage_latency_seconds", "stage", "nope").empty());
}

TEST(MetricsText, QuantileBeyondTheLastBoundIsThatBound) {
  const std::vector<HistogramBucket> b = {{0.001, 1}, {0.002, 1}, {std::numeric_limits<double>::infinity(), 10}};
  EXPECT_DOUBLE_EQ(*HistogramQuantile(b, 0.99), 0.002);
}

}  // namespace
}  // namespace impulse::tools
