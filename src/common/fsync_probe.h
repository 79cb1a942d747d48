// The disk's own floor for a durable ack: append `bytes` to a scratch file in `dir` and
// fdatasync it, `count` times, the way a partition log commits a group. Benchmarks run it beside
// an engine measurement so both see the same disk at the same time.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "impulse/status.h"

namespace impulse {

struct FsyncProbeResult {
  std::vector<double> us;           // one append + fdatasync each, in microseconds, sorted
  double Quantile(double q) const;  // 0 when empty
};

// The scratch file is removed afterwards. kIOError naming the file and errno on a failure.
Result<FsyncProbeResult> ProbeFsync(const std::string& dir, size_t bytes, size_t count);

}  // namespace impulse
