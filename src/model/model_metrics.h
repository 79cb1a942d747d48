// Per-model, per-version metrics (docs/INFERENCE.md, "Metrics"): calls, rows, errors, rows per
// call, queue and compute latency. Written by the predict path and the KServe infer route,
// read by /metrics.
//
// Thread safety: every method may be called from any thread. Recording is lock-free (relaxed
// atomic adds on a Series). For() takes a mutex only when it creates a series; finding an
// existing one is a lock-free probe, and callers on the per-event path keep the pointer anyway.
// Bounds: kSeriesMax series; beyond, For() returns one shared overflow series labelled
// model="other", version="other" (so a flood of versions cannot grow memory). A series lives as
// long as the ModelMetrics (never freed on unload: counters of a version stay readable).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/models.h"

namespace impulse::model {

using impulse::ModelVersionStatus;

// Appends a Prometheus label value with backslash, double quote and newline escaped.
void AppendLabelValue(std::string_view v, std::string* out);

// A fixed-bucket histogram of non-negative integer observations (rows, nanoseconds): one
// atomic counter per bucket plus a sum. Bounds are inclusive upper bounds (Prometheus "le").
template <size_t N>
class AtomicHistogram {
 public:
  explicit constexpr AtomicHistogram(const std::array<uint64_t, N>* bounds) : bounds_(bounds) {}

  void Observe(uint64_t value) {
    size_t i = 0;
    while (i < N && value > (*bounds_)[i]) ++i;  // N <= 32: a scan beats a search
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }
  const std::array<uint64_t, N>& bounds() const { return *bounds_; }
  // Bucket i < N: observations <= bounds()[i] and > bounds()[i-1]; bucket N: above the last.
  uint64_t bucket(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::array<uint64_t, N>* bounds_;
  std::array<std::atomic<uint64_t>, N + 1> counts_{};
  std::atomic<uint64_t> sum_{0};
};

// Rows per call: 1, 2, 4, ..., 1024.
inline constexpr size_t kBatchRowsBuckets = 11;
// Latency in ns: 1 us, 2.5 us, 5 us, 10 us, ..., 5 s, 10 s (1-2.5-5 per decade).
inline constexpr size_t kLatencyBuckets = 22;

class ModelMetrics {
 public:
  static constexpr size_t kSeriesMax = 4096;

  // The counters of one (model, version). Written with Record/RecordError.
  struct Series {
    Series(std::string model_name, uint64_t version_number, std::string version_label);
    const std::string model;
    const uint64_t version_number;
    const std::string version;          // decimal, or "other" for the overflow series
    std::atomic<uint64_t> requests{0};  // Predict calls (and infer requests), failed ones too
    std::atomic<uint64_t> rows{0};      // rows of successful calls
    std::atomic<uint64_t> errors{0};    // failed calls
    AtomicHistogram<kBatchRowsBuckets> batch_rows;
    AtomicHistogram<kLatencyBuckets> queue_ns;
    AtomicHistogram<kLatencyBuckets> compute_ns;
  };

  ModelMetrics();
  ~ModelMetrics();
  ModelMetrics(const ModelMetrics&) = delete;
  ModelMetrics& operator=(const ModelMetrics&) = delete;

  // The series of (model, version), created on first use. Never null; the pointer stays valid
  // for the life of this object.
  Series* For(std::string_view model, uint64_t version);

  // One successful call of `rows` rows. queue_ns: time the rows waited for a batch before
  // Predict (a negative value means "no queue on this path" and is not observed; the HTTP
  // infer route calls Predict inline). compute_ns: time inside Predict.
  static void Record(Series* series, size_t rows, int64_t queue_ns, int64_t compute_ns);
  // One failed call (bad input, model unavailable mid-call): counted as a request and an error.
  static void RecordError(Series* series, size_t rows);

  // Appends the families impulse_model_{requests,rows,errors}_total and the histograms
  // impulse_model_{batch_rows,queue_seconds,compute_seconds}, in text format 0.0.4, series
  // ordered by model then version. Nothing is appended before the first series exists
  // except the HELP/TYPE lines.
  void AppendPrometheusText(std::string* out) const;

  // Appends impulse_model_loaded{model,version,state} (a gauge: 1 per listed version; a model
  // problem with version 0 is labelled version="none").
  static void AppendLoadedText(std::span<const ModelVersionStatus> list, std::string* out);

  size_t series_count() const;  // overflow series excluded

 private:
  static constexpr size_t kSlots = 2 * kSeriesMax;  // open addressing: at most half full

  std::atomic<Series*> slots_[kSlots];  // lock-free lookup; written under mu_
  mutable std::mutex mu_;               // guards owned_ (and serializes inserts)
  std::vector<std::unique_ptr<Series>> owned_;
  Series overflow_;
};

}  // namespace impulse::model
