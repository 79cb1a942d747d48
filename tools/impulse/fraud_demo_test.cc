// The fraud demo's bookkeeping: alert quality, latency quantiles, the open-loop send schedule
// and the batch job's decision times.
#include <gtest/gtest.h>

#include "tools/impulse/fraud_demo.h"

namespace impulse::tools::fraud_demo {
namespace {

TEST(ScoreAlerts, PrecisionAndRecallCountEachIdOnce) {
  const std::vector<uint8_t> labels = {0, 1, 1, 0, 1, 0};
  // 1 and 2 are frauds caught, 3 is a false alarm, 4 is missed; 2 alerted twice; 9 unknown.
  const std::vector<uint64_t> alerted = {2, 1, 3, 2, 9};
  const AlertQuality q = ScoreAlerts(labels, alerted);
  EXPECT_EQ(q.alerts, 3u);
  EXPECT_EQ(q.duplicates, 1u);
  EXPECT_EQ(q.unknown_ids, 1u);
  EXPECT_EQ(q.true_positives, 2u);
  EXPECT_EQ(q.frauds, 3u);
  EXPECT_DOUBLE_EQ(q.precision(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(q.recall(), 2.0 / 3.0);
}

TEST(ScoreAlerts, NoAlertsNoFraudsIsZeroNotNan) {
  const AlertQuality q = ScoreAlerts(std::vector<uint8_t>{0, 0}, {});
  EXPECT_EQ(q.precision(), 0.0);
  EXPECT_EQ(q.recall(), 0.0);
}

TEST(SummarizeLatency, NearestRankOverDecidedEventsOnly) {
  std::vector<int64_t> sent, decided;
  for (int64_t i = 0; i < 1000; ++i) {
    sent.push_back(i * 10);
    decided.push_back(i * 10 + (i + 1) * 1'000'000);  // latency (i + 1) ms
  }
  sent.push_back(5);
  decided.push_back(kNotSeen);  // sent, never decided
  sent.push_back(kNotSeen);
  decided.push_back(kNotSeen);  // never sent: not counted at all
  auto s = SummarizeLatency(sent, decided);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->count, 1000u);
  EXPECT_EQ(s->missing, 1u);
  EXPECT_DOUBLE_EQ(s->p50_ms, 500);
  EXPECT_DOUBLE_EQ(s->p99_ms, 990);
  EXPECT_DOUBLE_EQ(s->p999_ms, 999);
  EXPECT_DOUBLE_EQ(s->max_ms, 1000);
}

TEST(SummarizeLatency, MismatchedLengthsAreAnError) {
  EXPECT_EQ(SummarizeLatency(std::vector<int64_t>{1}, std::vector<int64_t>{}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(IntendedSendNs, WholeRequestIsDueAtItsFirstEvent) {
  // 1000 events/s, 100 per request: request k is due at k * 100 ms.
  EXPECT_EQ(IntendedSendNs(0, 100, 1000, 7), 7);
  EXPECT_EQ(IntendedSendNs(99, 100, 1000, 7), 7);
  EXPECT_EQ(IntendedSendNs(100, 100, 1000, 7), 7 + 100'000'000);
  EXPECT_EQ(IntendedSendNs(250, 100, 1000, 0), 200'000'000);
}

TEST(BatchSchedule, RunsEveryIntervalUnlessTheLastRanLonger) {
  EXPECT_EQ(NextBatchStartNs({.events = 1, .started_ns = 100, .finished_ns = 150}, 1000), 1100);
  EXPECT_EQ(NextBatchStartNs({.events = 1, .started_ns = 100, .finished_ns = 1500}, 1000), 1500);
}

TEST(BatchSchedule, ArrivedByStopsAtTheFirstLaterOrUnsentEvent) {
  const std::vector<int64_t> sent = {10, 10, 20, 30, kNotSeen};
  EXPECT_EQ(ArrivedBy(sent, 0, 5), 0u);
  EXPECT_EQ(ArrivedBy(sent, 0, 10), 2u);
  EXPECT_EQ(ArrivedBy(sent, 2, 25), 3u);
  EXPECT_EQ(ArrivedBy(sent, 0, 1000), 4u);
  EXPECT_EQ(ArrivedBy(sent, 9, 1000), 5u);  // from past the end: the end
}

TEST(BatchDecisions, EachEventIsDecidedByTheFirstRunThatReadIt) {
  const std::vector<BatchRun> runs = {{.events = 2, .started_ns = 100, .finished_ns = 400},
                                      {.events = 2, .started_ns = 500, .finished_ns = 700},
                                      {.events = 5, .started_ns = 700, .finished_ns = 1200}};
  auto d = BatchDecisions(runs, 6);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, (std::vector<int64_t>{400, 400, 1200, 1200, 1200, kNotSeen}));
  // With send times, the batch latency follows.
  auto s = SummarizeLatency(std::vector<int64_t>{0, 300, 450, 600, 1100, 1150}, *d);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->count, 5u);
  EXPECT_EQ(s->missing, 1u);
  EXPECT_DOUBLE_EQ(s->max_ms, 750 / 1e6);
}

TEST(BatchDecisions, OutOfOrderRunsAreAnError) {
  const std::vector<BatchRun> shrinking = {{.events = 3, .started_ns = 0, .finished_ns = 1},
                                           {.events = 2, .started_ns = 2, .finished_ns = 3}};
  EXPECT_EQ(BatchDecisions(shrinking, 3).status().code(), StatusCode::kInvalidArgument);
  const std::vector<BatchRun> overlapping = {{.events = 1, .started_ns = 0, .finished_ns = 10},
                                             {.events = 2, .started_ns = 5, .finished_ns = 20}};
  EXPECT_EQ(BatchDecisions(overlapping, 3).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BatchDecisions(std::vector<BatchRun>{{.events = 4, .started_ns = 0, .finished_ns = 1}}, 3).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace impulse::tools::fraud_demo
