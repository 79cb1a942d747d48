#include "loadgen/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace impulse::loadgen {

int LatencyHistogram::BucketIndex(uint64_t ns) {
  if (ns < 64) return static_cast<int>(ns);
  const int msb = 63 - std::countl_zero(ns);  // >= 6
  const int shift = msb - kSubBits;
  return 64 + (msb - 6) * 32 + static_cast<int>((ns >> shift) & 31);
}

uint64_t LatencyHistogram::BucketLow(int index) {
  if (index < 64) return static_cast<uint64_t>(index);
  const int msb = (index - 64) / 32 + 6;
  const uint64_t sub = static_cast<uint64_t>((index - 64) % 32);
  return (32 + sub) << (msb - kSubBits);
}

uint64_t LatencyHistogram::BucketHigh(int index) {
  if (index < 64) return static_cast<uint64_t>(index);
  const int msb = (index - 64) / 32 + 6;
  return BucketLow(index) + ((uint64_t{1} << (msb - kSubBits)) - 1);
}

void LatencyHistogram::Record(uint64_t ns) {
  ++counts_[static_cast<size_t>(BucketIndex(ns))];
  ++count_;
  max_ns_ = std::max(max_ns_, ns);
}

uint64_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the sample at quantile q (1-based), as in "nearest rank".
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  if (rank == count_) return max_ns_;  // the largest sample is known exactly
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[static_cast<size_t>(i)];
    if (seen >= rank) {
      const uint64_t mid = BucketLow(i) + (BucketHigh(i) - BucketLow(i)) / 2;
      return std::min(mid, max_ns_);
    }
  }
  return max_ns_;
}

}  // namespace impulse::loadgen
