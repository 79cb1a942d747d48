#include <algorithm>
#include <cmath>
#include <string>

#include "examples/fraud/demo/demo.h"

namespace impulse::examples::fraud_demo {

double AlertQuality::precision() const {
  return alerts == 0 ? 0.0 : static_cast<double>(true_positives) / static_cast<double>(alerts);
}

double AlertQuality::recall() const {
  return frauds == 0 ? 0.0 : static_cast<double>(true_positives) / static_cast<double>(frauds);
}

AlertQuality ScoreAlerts(std::span<const uint8_t> labels, std::span<const uint64_t> alerted) {
  AlertQuality q;
  for (uint8_t l : labels) q.frauds += l != 0 ? 1 : 0;
  std::vector<uint8_t> seen(labels.size(), 0);
  for (uint64_t id : alerted) {
    if (id >= labels.size()) {
      ++q.unknown_ids;
      continue;
    }
    if (seen[id] != 0) {
      ++q.duplicates;
      continue;
    }
    seen[id] = 1;
    ++q.alerts;
    if (labels[id] != 0) ++q.true_positives;
  }
  return q;
}

Result<LatencySummary> SummarizeLatency(std::span<const int64_t> sent_ns, std::span<const int64_t> decided_ns) {
  if (sent_ns.size() != decided_ns.size()) {
    return InvalidArgument("latency: " + std::to_string(sent_ns.size()) + " send times but " +
                           std::to_string(decided_ns.size()) + " decision times");
  }
  LatencySummary s;
  std::vector<int64_t> d;
  d.reserve(sent_ns.size());
  for (size_t i = 0; i < sent_ns.size(); ++i) {
    if (sent_ns[i] == kNotSeen) continue;
    if (decided_ns[i] == kNotSeen) {
      ++s.missing;
      continue;
    }
    d.push_back(std::max<int64_t>(0, decided_ns[i] - sent_ns[i]));
  }
  s.count = d.size();
  if (d.empty()) return s;
  std::sort(d.begin(), d.end());
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  auto at = [&](double q) {
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(d.size())));
    return static_cast<double>(d[std::clamp<size_t>(rank, 1, d.size()) - 1]) / 1e6;
  };
  s.p50_ms = at(0.50);
  s.p99_ms = at(0.99);
  s.p999_ms = at(0.999);
  s.max_ms = static_cast<double>(d.back()) / 1e6;
  return s;
}

int64_t IntendedSendNs(uint64_t seq, uint32_t lines_per_request, double rate_events_per_s, int64_t start_ns) {
  const uint64_t first = seq / lines_per_request * lines_per_request;
  return start_ns + static_cast<int64_t>(static_cast<double>(first) / rate_events_per_s * 1e9);
}

int64_t NextBatchStartNs(const BatchRun& previous, int64_t interval_ns) {
  return std::max(previous.started_ns + interval_ns, previous.finished_ns);
}

Result<std::vector<int64_t>> BatchDecisions(std::span<const BatchRun> runs, std::span<const int64_t> sent_ns) {
  for (size_t k = 0; k < runs.size(); ++k) {
    if (runs[k].finished_ns < runs[k].started_ns) {
      return InvalidArgument("batch run " + std::to_string(k) + " finished before it started");
    }
    if (k > 0 && runs[k].started_ns < runs[k - 1].finished_ns) {
      return InvalidArgument("batch run " + std::to_string(k) + " started before the run before it finished");
    }
  }
  std::vector<int64_t> decided(sent_ns.size(), kNotSeen);
  for (size_t i = 0; i < sent_ns.size(); ++i) {
    if (sent_ns[i] == kNotSeen) continue;
    // Runs are in start order: the first whose start is not before the send.
    auto it = std::lower_bound(runs.begin(), runs.end(), sent_ns[i],
                               [](const BatchRun& r, int64_t t) { return r.started_ns < t; });
    if (it != runs.end()) decided[i] = it->finished_ns;
  }
  return decided;
}

}  // namespace impulse::examples::fraud_demo
