// RateLimiter: the requests-per-minute and tokens-per-minute budgets of one agent action, as two
// token buckets driven by the injected Clock (monotonic NowNs). Each bucket holds at most one
// minute's budget and refills continuously at budget/60 s, so an idle action may burst up to one
// minute's budget and then proceeds at the steady rate.
//
// Input: the estimated token cost of a request (EstimateTokens: prompt bytes / 4 + max_tokens);
// output: "go now" (both budgets taken) or how long to wait before asking again. After the answer
// arrives, Correct() replaces the estimate with the usage the endpoint reported.
// Bounds: a request costing more than the whole token budget is charged the whole budget (it
// waits for a full bucket instead of forever); corrections can put the token bucket into debt of
// at most one minute's budget.
// Thread: not thread-safe; the owning executor calls it from its single I/O strand.
#pragma once

#include <cstddef>
#include <cstdint>

#include "impulse/env.h"

namespace impulse::action {

struct RateLimiterOptions {
  uint32_t requests_per_minute = 60;     // 0: unlimited
  uint32_t tokens_per_minute = 100'000;  // 0: unlimited
};

class RateLimiter {
 public:
  // `clock` must outlive the limiter. Both buckets start full.
  RateLimiter(const RateLimiterOptions& options, const Clock* clock);

  // The estimate charged before the answer is known: prompt bytes / 4 + max_tokens.
  static uint64_t EstimateTokens(size_t prompt_bytes, uint32_t max_tokens);

  // If both budgets allow one request costing `tokens` now, takes them and returns 0. Otherwise
  // takes nothing and returns the milliseconds (>= 1) after which both would allow it.
  int64_t TryAcquire(uint64_t tokens);

  // Gives back (or takes more of) the token budget once the real usage is known.
  void Correct(uint64_t estimated_tokens, uint64_t actual_tokens);

  // Current levels, for tests and metrics.
  double requests_available() const;
  double tokens_available() const;

 private:
  // One bucket: capacity = the per-minute budget; level refilled lazily from the clock.
  struct Bucket {
    double capacity = 0;  // 0: unlimited
    double level = 0;
    int64_t refilled_ns = 0;
  };
  void Refill(Bucket* b, int64_t now_ns) const;
  // Milliseconds until `b` holds `cost` (0 if it does now).
  static int64_t WaitMs(const Bucket& b, double cost);

  const Clock* clock_;
  mutable Bucket requests_;
  mutable Bucket tokens_;
};

}  // namespace impulse::action
