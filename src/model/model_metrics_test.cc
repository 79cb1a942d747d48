#include "model/model_metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "model/repository.h"

namespace impulse::model {
namespace {

// The lines of `text` that start with `prefix`.
std::vector<std::string> Lines(const std::string& text, std::string_view prefix) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.starts_with(prefix)) out.push_back(line);
    start = end + 1;
  }
  return out;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(ModelMetrics, ForReturnsTheSameSeriesForTheSameKey) {
  ModelMetrics m;
  ModelMetrics::Series* a = m.For("fraud", 1);
  ModelMetrics::Series* b = m.For("fraud", 2);
  EXPECT_NE(a, b);
  EXPECT_EQ(m.For("fraud", 1), a);
  EXPECT_EQ(m.For("fraud", 2), b);
  EXPECT_EQ(a->version, "1");
  EXPECT_EQ(m.series_count(), 2u);
}

TEST(ModelMetrics, CountersAndHistogramsInTextFormat) {
  ModelMetrics m;
  ModelMetrics::Series* s = m.For("fraud", 3);
  ModelMetrics::Record(s, /*rows=*/3, /*queue_ns=*/2'000, /*compute_ns=*/4'000'000);
  ModelMetrics::Record(s, /*rows=*/1, /*queue_ns=*/-1, /*compute_ns=*/500);
  ModelMetrics::RecordError(s, /*rows=*/7);
  std::string text;
  m.AppendPrometheusText(&text);

  EXPECT_TRUE(Has(text, "# TYPE impulse_model_requests_total counter"));
  EXPECT_TRUE(Has(text, "impulse_model_requests_total{model=\"fraud\",version=\"3\"} 3"));
  EXPECT_TRUE(Has(text, "impulse_model_rows_total{model=\"fraud\",version=\"3\"} 4"));
  EXPECT_TRUE(Has(text, "impulse_model_errors_total{model=\"fraud\",version=\"3\"} 1"));

  // Rows 3 and 1: buckets le=1 holds 1, le=2 still 1, le=4 and beyond 2.
  EXPECT_TRUE(Has(text, "# TYPE impulse_model_batch_rows histogram"));
  const auto rows = Lines(text, "impulse_model_batch_rows_bucket{");
  ASSERT_EQ(rows.size(), 12u);
  EXPECT_EQ(rows[0], "impulse_model_batch_rows_bucket{model=\"fraud\",version=\"3\",le=\"1\"} 1");
  EXPECT_EQ(rows[1], "impulse_model_batch_rows_bucket{model=\"fraud\",version=\"3\",le=\"2\"} 1");
  EXPECT_EQ(rows[2], "impulse_model_batch_rows_bucket{model=\"fraud\",version=\"3\",le=\"4\"} 2");
  EXPECT_EQ(rows[10], "impulse_model_batch_rows_bucket{model=\"fraud\",version=\"3\",le=\"1024\"} 2");
  EXPECT_EQ(rows[11], "impulse_model_batch_rows_bucket{model=\"fraud\",version=\"3\",le=\"+Inf\"} 2");
  EXPECT_TRUE(Has(text, "impulse_model_batch_rows_sum{model=\"fraud\",version=\"3\"} 4"));
  EXPECT_TRUE(Has(text, "impulse_model_batch_rows_count{model=\"fraud\",version=\"3\"} 2"));

  // The negative queue time was not observed: one observation of 2 us.
  const auto queue = Lines(text, "impulse_model_queue_seconds_bucket{");
  ASSERT_EQ(queue.size(), 23u);
  EXPECT_EQ(queue[0], "impulse_model_queue_seconds_bucket{model=\"fraud\",version=\"3\",le=\"0.000001\"} 0");
  EXPECT_EQ(queue[1], "impulse_model_queue_seconds_bucket{model=\"fraud\",version=\"3\",le=\"0.0000025\"} 1");
  EXPECT_EQ(queue[21], "impulse_model_queue_seconds_bucket{model=\"fraud\",version=\"3\",le=\"10\"} 1");
  EXPECT_TRUE(Has(text, "impulse_model_queue_seconds_sum{model=\"fraud\",version=\"3\"} 0.000002"));
  EXPECT_TRUE(Has(text, "impulse_model_queue_seconds_count{model=\"fraud\",version=\"3\"} 1"));

  // Compute 500 ns (le=1us) and 4 ms (le=5ms).
  const auto compute = Lines(text, "impulse_model_compute_seconds_bucket{");
  ASSERT_EQ(compute.size(), 23u);
  EXPECT_EQ(compute[0], "impulse_model_compute_seconds_bucket{model=\"fraud\",version=\"3\",le=\"0.000001\"} 1");
  EXPECT_EQ(compute[10], "impulse_model_compute_seconds_bucket{model=\"fraud\",version=\"3\",le=\"0.0025\"} 1");
  EXPECT_EQ(compute[11], "impulse_model_compute_seconds_bucket{model=\"fraud\",version=\"3\",le=\"0.005\"} 2");
  EXPECT_TRUE(Has(text, "impulse_model_compute_seconds_sum{model=\"fraud\",version=\"3\"} 0.0040005"));
}

TEST(ModelMetrics, SeriesOrderedByModelThenNumericVersion) {
  ModelMetrics m;
  m.For("b", 1);
  m.For("a", 10);
  m.For("a", 2);
  std::string text;
  m.AppendPrometheusText(&text);
  const auto lines = Lines(text, "impulse_model_requests_total{");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "impulse_model_requests_total{model=\"a\",version=\"2\"} 0");
  EXPECT_EQ(lines[1], "impulse_model_requests_total{model=\"a\",version=\"10\"} 0");
  EXPECT_EQ(lines[2], "impulse_model_requests_total{model=\"b\",version=\"1\"} 0");
}

TEST(ModelMetrics, LabelValuesAreEscaped) {
  ModelMetrics m;
  ModelMetrics::Record(m.For("a\"b\\c\nd", 1), 1, 0, 0);
  std::string text;
  m.AppendPrometheusText(&text);
  EXPECT_TRUE(Has(text, "impulse_model_requests_total{model=\"a\\\"b\\\\c\\nd\",version=\"1\"} 1"));
}

TEST(ModelMetrics, BeyondTheSeriesLimitOneOverflowSeries) {
  ModelMetrics m;
  for (uint64_t v = 1; v <= ModelMetrics::kSeriesMax; ++v) m.For("m", v);
  EXPECT_EQ(m.series_count(), ModelMetrics::kSeriesMax);
  ModelMetrics::Series* over = m.For("m", ModelMetrics::kSeriesMax + 1);
  EXPECT_EQ(over->version, "other");
  EXPECT_EQ(m.For("other-model", 7), over);
  EXPECT_EQ(m.series_count(), ModelMetrics::kSeriesMax);
  // Existing series are still found.
  EXPECT_EQ(m.For("m", 17)->version, "17");
  ModelMetrics::Record(over, 5, 0, 0);
  std::string text;
  m.AppendPrometheusText(&text);
  EXPECT_TRUE(Has(text, "impulse_model_rows_total{model=\"other\",version=\"other\"} 5"));
}

TEST(ModelMetrics, ConcurrentForAndRecordCountEverything) {
  ModelMetrics m;
  constexpr int kThreads = 4;
  constexpr int kCalls = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < kCalls; ++i) ModelMetrics::Record(m.For("m", static_cast<uint64_t>(i % 8)), 2, 0, 0);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.series_count(), 8u);
  uint64_t rows = 0;
  for (uint64_t v = 0; v < 8; ++v) rows += m.For("m", v)->rows.load();
  EXPECT_EQ(rows, 2u * kThreads * kCalls);
}

TEST(ModelMetrics, LoadedGaugeFromList) {
  std::vector<ModelVersionStatus> list(4);
  list[0] = {"bad", 0, "", VersionState::kFailed, 0, "config"};
  list[1] = {"bad", 0, "", VersionState::kFailed, 0, "another problem"};
  list[2] = {"fraud", 1, "linear", VersionState::kUnavailable, 3, ""};
  list[3] = {"fraud", 2, "linear", VersionState::kReady, 3, ""};
  std::string text;
  ModelMetrics::AppendLoadedText(list, &text);
  const auto lines = Lines(text, "impulse_model_loaded{");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "impulse_model_loaded{model=\"bad\",version=\"none\",state=\"failed\"} 1");
  EXPECT_EQ(lines[1], "impulse_model_loaded{model=\"fraud\",version=\"1\",state=\"unavailable\"} 1");
  EXPECT_EQ(lines[2], "impulse_model_loaded{model=\"fraud\",version=\"2\",state=\"ready\"} 1");
}

}  // namespace
}  // namespace impulse::model
