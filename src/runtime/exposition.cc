#include "runtime/exposition.h"

#include <limits>

#include <prometheus/text_serializer.h>

namespace impulse::runtime {

namespace {
prometheus::ClientMetric NewMetric(const Labels& labels) {
  prometheus::ClientMetric m;
  for (const auto& [k, v] : labels) m.label.push_back({k, v});
  return m;
}
}  // namespace

void Exposition::Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  families_.push_back(std::move(f));
}

void Exposition::AddValue(const Labels& labels, double value) {
  prometheus::MetricFamily& f = families_.back();
  prometheus::ClientMetric m = NewMetric(labels);
  switch (f.type) {
    case prometheus::MetricType::Counter: m.counter.value = value; break;
    case prometheus::MetricType::Gauge: m.gauge.value = value; break;
    default: m.untyped.value = value; break;
  }
  f.metric.push_back(std::move(m));
}

void Exposition::AddHistogram(const Labels& labels, const LatencyHistogram::Snapshot& snap) {
  prometheus::ClientMetric m = NewMetric(labels);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBoundsUs.size(); ++i) {
    cumulative += snap.counts[i];
    prometheus::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = LatencyHistogram::kBoundsUs[i] / 1e6;  // seconds, per Prometheus convention
    m.histogram.bucket.push_back(b);
  }
  cumulative += snap.counts.back();
  prometheus::ClientMetric::Bucket inf;
  inf.cumulative_count = cumulative;
  inf.upper_bound = std::numeric_limits<double>::infinity();
  m.histogram.bucket.push_back(inf);
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = static_cast<double>(snap.sum_ns) / 1e9;
  families_.back().metric.push_back(std::move(m));
}

std::string Exposition::Serialize() const { return prometheus::TextSerializer().Serialize(families_); }

}  // namespace impulse::runtime
