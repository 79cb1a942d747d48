// A fixed-size log-linear histogram of latencies in nanoseconds: 32 linear sub-buckets per
// power of two, so a reported percentile is within about 3% of the true value. 1920 buckets
// (15 KiB) whatever the number of samples. Single-threaded.
#pragma once

#include <array>
#include <cstdint>

namespace impulse::loadgen {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr int kBuckets = 64 + (64 - 6) * 32;

  void Record(uint64_t ns);
  uint64_t count() const { return count_; }
  uint64_t max_ns() const { return max_ns_; }
  // The value at quantile q in [0, 1] (nearest rank): the midpoint of its bucket, capped at
  // max; exactly max for the top rank; 0 if empty.
  uint64_t Quantile(double q) const;

  static int BucketIndex(uint64_t ns);
  static uint64_t BucketLow(int index);   // smallest value in the bucket
  static uint64_t BucketHigh(int index);  // largest value in the bucket

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ns_ = 0;
};

}  // namespace impulse::loadgen
