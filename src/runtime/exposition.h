// Builds Prometheus metric families (prometheus-cpp's data model) from the engine's per-shard
// counters at scrape time, and serializes them in text format 0.0.4.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

#include "runtime/metrics.h"

namespace impulse::runtime {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  // Starts a family; subsequent Add* calls add samples to it.
  void Family(std::string name, std::string help, prometheus::MetricType type);
  void AddValue(const Labels& labels, double value);
  void AddHistogram(const Labels& labels, const LatencyHistogram::Snapshot& snap);
  std::string Serialize() const;

 private:
  std::vector<prometheus::MetricFamily> families_;
};

}  // namespace impulse::runtime
