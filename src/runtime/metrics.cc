#include "runtime/metrics.h"

namespace impulse::runtime {

double LatencyHistogram::Snapshot::QuantileUs(double q) const {
  const uint64_t n = total();
  if (n == 0) return 0;
  const double rank = q * static_cast<double>(n);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (static_cast<double>(seen) >= rank) {
      return i < kBoundsUs.size() ? kBoundsUs[i] : kBoundsUs.back();
    }
  }
  return kBoundsUs.back();
}

}  // namespace impulse::runtime
