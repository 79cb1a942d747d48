#include "model/predict_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace impulse::model {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

const std::vector<std::string> kOneOutput = {"score"};
const std::vector<int> kFirstOutput = {0};

TEST(ScoreBucket, BoundsAreInclusiveUpperBounds) {
  EXPECT_EQ(ScoreBucket(-3.0f), 0u);
  EXPECT_EQ(ScoreBucket(0.0f), 0u);
  EXPECT_EQ(ScoreBucket(-0.0f), 0u);
  EXPECT_EQ(ScoreBucket(1e-30f), 1u);
  EXPECT_EQ(ScoreBucket(0.5f), 10u);  // exactly 0.5: le="0.5"
  EXPECT_EQ(ScoreBucket(0.25f), 5u);
  EXPECT_EQ(ScoreBucket(0.26f), 6u);
  // 0.05f is 0.0500000007...: above the bound 0.05, so in le="0.1".
  EXPECT_EQ(ScoreBucket(0.05f), 2u);
  EXPECT_EQ(ScoreBucket(1.0f), 20u);
  EXPECT_EQ(ScoreBucket(1.0000001f), kScoreBounds);
  EXPECT_EQ(ScoreBucket(250.0f), kScoreBounds);
  EXPECT_EQ(ScoreBucket(std::numeric_limits<float>::infinity()), kScoreBounds);
  EXPECT_EQ(ScoreBucket(-std::numeric_limits<float>::infinity()), 0u);
  EXPECT_EQ(ScoreBucket(std::nanf("")), kScoreBuckets);
}

TEST(PredictMetrics, ForReturnsTheSameSeriesForTheSameKey) {
  PredictMetrics m;
  auto* a = m.For("p", "predict#1", "fraud", 1, PredictRole::kServing, kOneOutput);
  auto* b = m.For("p", "predict#1", "fraud", 1, PredictRole::kShadow, kOneOutput);
  auto* c = m.For("p", "predict#2", "fraud", 1, PredictRole::kServing, kOneOutput);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(m.For("p", "predict#1", "fraud", 1, PredictRole::kServing, kOneOutput), a);
  EXPECT_EQ(m.series_count(), 3u);
}

TEST(PredictMetrics, RowsAndScoreBucketsInTextFormat) {
  PredictMetrics m;
  const std::vector<std::string> outputs = {"p", "margin"};
  auto* s = m.For("score", "predict#1", "fraud", 2, PredictRole::kCanary, outputs);
  // Three outputs per row; the step writes output 2 as "p" and output 0 as "margin".
  const std::vector<int> index = {2, 0};
  const float rows[] = {
      -1.5f, 9, 0.0625f,  //
      0.0f,  9, 0.5f,     //
      3.0f,  9, 0.51f,    //
      7.0f,  9, std::nanf(""),
  };
  PredictMetrics::Record(s, 4, rows, 3, index);
  std::string text;
  m.AppendPrometheusText(&text);
  const std::string l = "pipeline=\"score\",operator=\"predict#1\",model=\"fraud\",version=\"2\",role=\"canary\"";
  EXPECT_TRUE(Has(text, "impulse_predict_version_rows_total{" + l + "} 4")) << text;
  // "p": 0.0625 (le 0.1), 0.5 (le 0.5), 0.51 (le 0.55); NaN not observed.
  EXPECT_TRUE(Has(text, "impulse_predict_score_bucket{" + l + ",output=\"p\",le=\"0.05\"} 0")) << text;
  EXPECT_TRUE(Has(text, "impulse_predict_score_bucket{" + l + ",output=\"p\",le=\"0.1\"} 1")) << text;
  EXPECT_TRUE(Has(text, "impulse_predict_score_bucket{" + l + ",output=\"p\",le=\"0.45\"} 1")) << text;
  EXPECT_TRUE(Has(text, "impulse_predict_score_bucket{" + l + ",output=\"p\",le=\"0.5\"} 2")) << text;
  EXPECT_TRUE(Has(text, "impulse_predict_score_bucket{" + l + ",output=\"p\",le=\"0.55\"} 3")) << text;
  EXPECT_TRUE(Has(text, "impulse_predict_score_bucket{" + l + ",output=\"p\",le=\"+Inf\"} 3")) << text;
  EXPECT_TRUE(Has(text, "impulse_predict_score_count{" + l + ",output=\"p\"} 3")) << text;
  // "margin": -1.5 and 0 at most 0, 3 and 7 above 1.
  EXPECT_TRUE(Has(text, "impulse_predict_score_bucket{" + l + ",output=\"margin\",le=\"0\"} 2")) << text;
  EXPECT_TRUE(Has(text, "impulse_predict_score_bucket{" + l + ",output=\"margin\",le=\"1\"} 2")) << text;
  EXPECT_TRUE(Has(text, "impulse_predict_score_bucket{" + l + ",output=\"margin\",le=\"+Inf\"} 4")) << text;
  EXPECT_TRUE(Has(text, "impulse_predict_score_sum{" + l + ",output=\"margin\"} 8.5")) << text;
  EXPECT_TRUE(Has(text, "# TYPE impulse_predict_score histogram")) << text;
}

TEST(PredictMetrics, SumIsAddedPerBatch) {
  PredictMetrics m;
  auto* s = m.For("p", "predict#1", "m", 1, PredictRole::kServing, kOneOutput);
  const float a[] = {0.25f, 0.5f};
  PredictMetrics::Record(s, 2, a, 1, kFirstOutput);
  PredictMetrics::Record(s, 1, a, 1, kFirstOutput);
  EXPECT_EQ(s->rows.load(), 3u);
  EXPECT_DOUBLE_EQ(s->scores[0].sum.load(), 1.0);
  EXPECT_EQ(s->scores[0].counts[5].load(), 2u);
  EXPECT_EQ(s->scores[0].counts[10].load(), 1u);
}

TEST(PredictMetrics, SeriesOrderedAndLabelValuesEscaped) {
  PredictMetrics m;
  m.For("b", "predict#1", "m", 10, PredictRole::kServing, kOneOutput);
  m.For("b", "predict#1", "m", 9, PredictRole::kServing, kOneOutput);
  m.For("a\"x", "predict#1", "m", 1, PredictRole::kServing, kOneOutput);
  std::string text;
  m.AppendPrometheusText(&text);
  const size_t a = text.find("impulse_predict_version_rows_total{pipeline=\"a\\\"x\"");
  const size_t v9 = text.find(
      "impulse_predict_version_rows_total{pipeline=\"b\",operator=\"predict#1\",model=\"m\","
      "version=\"9\"");
  const size_t v10 = text.find(
      "impulse_predict_version_rows_total{pipeline=\"b\",operator=\"predict#1\",model=\"m\","
      "version=\"10\"");
  ASSERT_NE(a, std::string::npos) << text;
  ASSERT_NE(v9, std::string::npos) << text;
  ASSERT_NE(v10, std::string::npos) << text;
  EXPECT_LT(a, v9);
  EXPECT_LT(v9, v10);
}

TEST(PredictMetrics, BeyondTheSeriesLimitOneOverflowSeriesTakesEveryOutput) {
  PredictMetrics m;
  for (size_t i = 0; i < PredictMetrics::kSeriesMax; ++i) {
    m.For("p", "predict#1", "m", i + 1, PredictRole::kServing, kOneOutput);
  }
  const std::vector<std::string> two = {"a", "b"};
  auto* over = m.For("p", "predict#1", "m", PredictMetrics::kSeriesMax + 1, PredictRole::kShadow, two);
  EXPECT_EQ(m.For("q", "predict#9", "n", 1, PredictRole::kCanary, kOneOutput), over);
  EXPECT_EQ(m.series_count(), PredictMetrics::kSeriesMax);
  const float row[] = {0.5f, 2.0f};
  const std::vector<int> index = {0, 1};
  PredictMetrics::Record(over, 1, row, 2, index);
  std::string text;
  m.AppendPrometheusText(&text);
  const std::string l = "pipeline=\"other\",operator=\"other\",model=\"other\",version=\"other\",role=\"other\"";
  EXPECT_TRUE(Has(text, "impulse_predict_version_rows_total{" + l + "} 1")) << l;
  EXPECT_TRUE(Has(text, "impulse_predict_score_bucket{" + l + ",output=\"other\",le=\"1\"} 1"));
  EXPECT_TRUE(Has(text, "impulse_predict_score_count{" + l + ",output=\"other\"} 2"));
}

TEST(PredictMetrics, ConcurrentRecordCountsEverything) {
  PredictMetrics m;
  const float scores[] = {0.1875f, 0.6875f, 1.5f, -1.0f};  // exact in float: buckets 4, 14, +Inf, 0
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto* s = m.For("p", "predict#1", "m", 1, PredictRole::kServing, kOneOutput);
      for (int i = 0; i < 1000; ++i) PredictMetrics::Record(s, 4, scores, 1, kFirstOutput);
    });
  }
  for (auto& t : threads) t.join();
  auto* s = m.For("p", "predict#1", "m", 1, PredictRole::kServing, kOneOutput);
  EXPECT_EQ(s->rows.load(), 16000u);
  EXPECT_EQ(s->scores[0].counts[0].load(), 4000u);
  EXPECT_EQ(s->scores[0].counts[4].load(), 4000u);
  EXPECT_EQ(s->scores[0].counts[14].load(), 4000u);
  EXPECT_EQ(s->scores[0].counts[kScoreBounds].load(), 4000u);
  EXPECT_DOUBLE_EQ(s->scores[0].sum.load(), 4000.0 * (0.1875 + 0.6875 + 1.5 - 1.0));  // exact: multiples of 1/16
}

}  // namespace
}  // namespace impulse::model
