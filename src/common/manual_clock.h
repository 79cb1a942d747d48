// A Clock for tests: time moves only when the test says so; the wall and monotonic readings move
// together. Thread-safe (the engine and executors read it from their own threads).
#pragma once

#include <atomic>
#include <cstdint>

#include "impulse/env.h"

namespace impulse {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = 1'700'000'000'000) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  int64_t NowNs() const override { return now_ms_.load() * 1'000'000; }
  void Advance(int64_t ms) { now_ms_ += ms; }
  void Set(int64_t now_ms) { now_ms_.store(now_ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace impulse
