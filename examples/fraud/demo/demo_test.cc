// The fraud demo's bookkeeping: alert quality, latency quantiles, the open-loop send schedule
// and the batch job's decision times.
#include <gtest/gtest.h>

#include "examples/fraud/demo/demo.h"

namespace impulse::examples::fraud_demo {
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

TEST(BatchDecisions, EachEventIsDecidedByTheFirstRunStartedAfterItsSend) {
  const std::vector<BatchRun> runs = {{.events = 2, .started_ns = 100, .finished_ns = 400},
                                      {.events = 2, .started_ns = 500, .finished_ns = 700},
                                      {.events = 5, .started_ns = 700, .finished_ns = 1200}};
  // Sent out of id order (one sender per partition), one at a run's start, one never sent, one
  // after the last run.
  const std::vector<int64_t> sent = {0, 100, 450, 30, 650, kNotSeen, 701};
  auto d = BatchDecisions(runs, sent);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, (std::vector<int64_t>{400, 400, 700, 400, 1200, kNotSeen, kNotSeen}));
  auto s = SummarizeLatency(sent, *d);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->count, 5u);
  EXPECT_EQ(s->missing, 1u);  // sent at 701, after the last run started
  EXPECT_DOUBLE_EQ(s->max_ms, 550 / 1e6);
}

TEST(BatchDecisions, OverlappingOrBackwardRunsAreAnError) {
  const std::vector<BatchRun> overlapping = {{.events = 1, .started_ns = 0, .finished_ns = 10},
                                             {.events = 2, .started_ns = 5, .finished_ns = 20}};
  EXPECT_EQ(BatchDecisions(overlapping, std::vector<int64_t>{1}).status().code(), StatusCode::kInvalidArgument);
  const std::vector<BatchRun> backward = {{.events = 1, .started_ns = 10, .finished_ns = 5}};
  EXPECT_EQ(BatchDecisions(backward, std::vector<int64_t>{1}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace impulse::examples::fraud_demo
