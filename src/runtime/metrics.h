// Hot-path metrics: plain counters and fixed-bucket latency histograms, each written by one
// thread (its shard) with relaxed atomics and read by the exposition at scrape time. Nothing
// here locks or allocates after construction.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace impulse::runtime {

// Latency histogram with fixed upper bounds in microseconds (Prometheus "le" buckets).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 18> kBoundsUs = {
      5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000};

  // Single writer.
  void Record(int64_t ns) {
    const double us = static_cast<double>(ns) / 1000.0;
    size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(ns > 0 ? ns : 0), std::memory_order_relaxed);
  }

  struct Snapshot {
    std::array<uint64_t, kBoundsUs.size() + 1> counts{};  // last = +Inf overflow
    uint64_t sum_ns = 0;
    void Add(const Snapshot& o) {
      for (size_t i = 0; i < counts.size(); ++i) counts[i] += o.counts[i];
      sum_ns += o.sum_ns;
    }
    uint64_t total() const {
      uint64_t t = 0;
      for (uint64_t c : counts) t += c;
      return t;
    }
    // Upper bound (us) of the bucket holding quantile q; +Inf reported as the last bound.
    double QuantileUs(double q) const;
  };
  Snapshot Read() const {
    Snapshot s;
    for (size_t i = 0; i < counts_.size(); ++i) s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::atomic<uint64_t>, kBoundsUs.size() + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

// A counter written by one thread.
struct Counter {
  std::atomic<uint64_t> v{0};
  void Add(uint64_t n) { v.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Get() const { return v.load(std::memory_order_relaxed); }
};

}  // namespace impulse::runtime
