#include "action/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace impulse::action {

namespace {
constexpr double kMinuteNs = 60e9;
constexpr double kMinuteMs = 60e3;
}  // namespace

RateLimiter::RateLimiter(const RateLimiterOptions& options, const Clock* clock) : clock_(clock) {
  const int64_t now = clock_->NowNs();
  requests_ = {static_cast<double>(options.requests_per_minute), static_cast<double>(options.requests_per_minute), now};
  tokens_ = {static_cast<double>(options.tokens_per_minute), static_cast<double>(options.tokens_per_minute), now};
}

uint64_t RateLimiter::EstimateTokens(size_t prompt_bytes, uint32_t max_tokens) { return prompt_bytes / 4 + max_tokens; }

void RateLimiter::Refill(Bucket* b, int64_t now_ns) const {
  if (b->capacity == 0) return;
  // A clock that steps back (a test, or a broken monotonic source) refills nothing.
  if (now_ns > b->refilled_ns) {
    const double add = static_cast<double>(now_ns - b->refilled_ns) * b->capacity / kMinuteNs;
    b->level = std::min(b->capacity, b->level + add);
  }
  b->refilled_ns = now_ns;
}

int64_t RateLimiter::WaitMs(const Bucket& b, double cost) {
  if (b.capacity == 0 || b.level >= cost) return 0;
  const double ms = (cost - b.level) * kMinuteMs / b.capacity;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(ms)));
}

int64_t RateLimiter::TryAcquire(uint64_t tokens) {
  const int64_t now = clock_->NowNs();
  Refill(&requests_, now);
  Refill(&tokens_, now);
  const double token_cost = std::min(static_cast<double>(tokens), tokens_.capacity);
  const int64_t wait = std::max(WaitMs(requests_, 1), WaitMs(tokens_, token_cost));
  if (wait > 0) return wait;
  if (requests_.capacity > 0) requests_.level -= 1;
  if (tokens_.capacity > 0) tokens_.level -= token_cost;
  return 0;
}

void RateLimiter::Correct(uint64_t estimated_tokens, uint64_t actual_tokens) {
  if (tokens_.capacity == 0) return;
  Refill(&tokens_, clock_->NowNs());
  // The acquire charged at most the capacity, so the refund is bounded the same way.
  const double charged = std::min(static_cast<double>(estimated_tokens), tokens_.capacity);
  const double actual = std::min(static_cast<double>(actual_tokens), tokens_.capacity);
  tokens_.level = std::clamp(tokens_.level + charged - actual, -tokens_.capacity, tokens_.capacity);
}

double RateLimiter::requests_available() const {
  Refill(&requests_, clock_->NowNs());
  return requests_.level;
}

double RateLimiter::tokens_available() const {
  Refill(&tokens_, clock_->NowNs());
  return tokens_.level;
}

}  // namespace impulse::action
