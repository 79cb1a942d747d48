#include "action/rate_limiter.h"

#include <atomic>

#include <gtest/gtest.h>

namespace impulse::action {
namespace {

class StepClock final : public Clock {
 public:
  int64_t NowMs() const override { return now_ms_.load(); }
  int64_t NowNs() const override { return now_ms_.load() * 1'000'000; }
  void Advance(int64_t ms) { now_ms_ += ms; }

 private:
  std::atomic<int64_t> now_ms_{1'000'000};
};

TEST(RateLimiter, EstimateIsPromptQuarterPlusMaxTokens) {
  EXPECT_EQ(RateLimiter::EstimateTokens(400, 512), 612u);
  EXPECT_EQ(RateLimiter::EstimateTokens(3, 0), 0u);
}

TEST(RateLimiter, RequestsPerMinuteAllowsBurstThenSteadyRate) {
  StepClock clock;
  RateLimiter limiter({.requests_per_minute = 6, .tokens_per_minute = 0}, &clock);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(limiter.TryAcquire(10), 0) << i;
  // Empty: one request refills every 10 s.
  EXPECT_EQ(limiter.TryAcquire(10), 10'000);
  clock.Advance(9'999);
  EXPECT_EQ(limiter.TryAcquire(10), 1);
  clock.Advance(1);
  EXPECT_EQ(limiter.TryAcquire(10), 0);
  EXPECT_GT(limiter.TryAcquire(10), 0);
}

TEST(RateLimiter, TokensPerMinuteBlocksUntilRefilled) {
  StepClock clock;
  RateLimiter limiter({.requests_per_minute = 0, .tokens_per_minute = 6'000}, &clock);
  EXPECT_EQ(limiter.TryAcquire(5'000), 0);
  // 1000 left; 3000 needs 2000 more at 100 tokens/s = 20 s.
  EXPECT_EQ(limiter.TryAcquire(3'000), 20'000);
  EXPECT_DOUBLE_EQ(limiter.tokens_available(), 1'000);  // a refusal takes nothing
  clock.Advance(20'000);
  EXPECT_EQ(limiter.TryAcquire(3'000), 0);
  EXPECT_NEAR(limiter.tokens_available(), 0, 1e-6);
}

TEST(RateLimiter, BothBudgetsMustAllow) {
  StepClock clock;
  RateLimiter limiter({.requests_per_minute = 60, .tokens_per_minute = 600}, &clock);
  EXPECT_EQ(limiter.TryAcquire(600), 0);
  // Plenty of requests left, but the tokens need a full minute.
  EXPECT_EQ(limiter.TryAcquire(600), 60'000);
  EXPECT_DOUBLE_EQ(limiter.requests_available(), 59);
}

TEST(RateLimiter, RequestLargerThanBudgetWaitsForFullBucket) {
  StepClock clock;
  RateLimiter limiter({.requests_per_minute = 0, .tokens_per_minute = 100}, &clock);
  EXPECT_EQ(limiter.TryAcquire(1'000'000), 0);  // charged 100, not refused forever
  EXPECT_EQ(limiter.TryAcquire(1'000'000), 60'000);
}

TEST(RateLimiter, CorrectionRefundsOverestimate) {
  StepClock clock;
  RateLimiter limiter({.requests_per_minute = 0, .tokens_per_minute = 1'000}, &clock);
  EXPECT_EQ(limiter.TryAcquire(800), 0);
  EXPECT_GT(limiter.TryAcquire(800), 0);
  limiter.Correct(/*estimated_tokens=*/800, /*actual_tokens=*/100);
  EXPECT_DOUBLE_EQ(limiter.tokens_available(), 900);
  EXPECT_EQ(limiter.TryAcquire(800), 0);
}

TEST(RateLimiter, CorrectionChargesUnderestimateAsBoundedDebt) {
  StepClock clock;
  RateLimiter limiter({.requests_per_minute = 0, .tokens_per_minute = 1'000}, &clock);
  EXPECT_EQ(limiter.TryAcquire(1'000), 0);
  limiter.Correct(/*estimated_tokens=*/1'000, /*actual_tokens=*/5'000);
  // Usage above the budget counts as at most one budget, so the debt is bounded.
  EXPECT_DOUBLE_EQ(limiter.tokens_available(), 0);
  limiter.Correct(/*estimated_tokens=*/0, /*actual_tokens=*/5'000);
  EXPECT_DOUBLE_EQ(limiter.tokens_available(), -1'000);
  EXPECT_EQ(limiter.TryAcquire(1), 60'060);
}

TEST(RateLimiter, UnlimitedNeverWaits) {
  StepClock clock;
  RateLimiter limiter({.requests_per_minute = 0, .tokens_per_minute = 0}, &clock);
  for (int i = 0; i < 10'000; ++i) ASSERT_EQ(limiter.TryAcquire(1'000'000), 0);
}

}  // namespace
}  // namespace impulse::action
