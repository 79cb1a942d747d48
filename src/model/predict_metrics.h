// Per predict step metrics by model version and role (docs/INFERENCE.md, "Metrics"): rows each
// version scored as the serving, canary or shadow version of a step, and a histogram of the
// scores it produced per output. Written by the predict step, read by /metrics; the console's
// Models tab draws them.
//
// Thread safety: every method may be called from any thread. For() takes a mutex (a step calls
// it when a newly bound version first scores, not per batch). Record() is lock-free and
// allocation-free: one relaxed add for the rows, and per output one relaxed add per non-empty
// bucket plus a compare-and-swap for the sum, the per-row work being a tally on the stack.
// Bounds: kSeriesMax series; beyond, For() returns one shared overflow series whose labels are
// all "other" and whose one histogram takes the scores of every output. A series lives as long as
// the PredictMetrics (never freed when a version is unloaded: its counters stay readable).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace impulse::model {

// What a version is to a predict step: it scores the rows not sent to the canary (serving), a
// stable share of entities (canary), or every row for the decision log only (shadow).
enum class PredictRole : uint8_t { kServing = 0, kCanary = 1, kShadow = 2 };
std::string_view PredictRoleName(PredictRole role);

// Score histogram buckets, upper bounds inclusive (Prometheus "le"): 0, 0.05, 0.1, ..., 1, then
// +Inf. Made for probabilities; a score outside [0, 1] (a regression or margin output) is not
// lost: at most 0 falls in the first bucket, above 1 in the +Inf bucket. NaN scores are not
// observed (the histogram's count is then below the rows counter).
inline constexpr size_t kScoreBounds = 21;
inline constexpr size_t kScoreBuckets = kScoreBounds + 1;  // + the +Inf bucket

// The bucket of one score: 0 for <= 0, i for (i-1)/20 < s <= i/20, kScoreBounds for > 1;
// kScoreBuckets for NaN. Exact at the bounds: a float times 20 is exact in double.
inline size_t ScoreBucket(float score) {
  const double d = static_cast<double>(score) * 20.0;
  if (!(d > 0.0)) return d <= 0.0 ? 0 : kScoreBuckets;  // NaN fails both comparisons
  if (d > 20.0) return kScoreBounds;
  const auto i = static_cast<size_t>(d);
  return static_cast<double>(i) == d ? i : i + 1;  // the ceiling
}

class PredictMetrics {
 public:
  static constexpr size_t kSeriesMax = 1024;

  // One score histogram: per-bucket counts (not cumulative) and the sum of the observed scores.
  struct Scores {
    std::array<std::atomic<uint64_t>, kScoreBuckets> counts{};
    std::atomic<double> sum{0.0};
  };

  // The counters of one (pipeline, step, model, version, role).
  struct Series {
    Series(std::string pipeline, std::string op, std::string model, std::string version, PredictRole role,
           std::vector<std::string> outputs, bool overflow = false);
    const std::string pipeline, op, model, version;  // version: decimal, or "other"
    const PredictRole role;
    const std::vector<std::string> outputs;  // the step's output fields, one histogram each
    std::atomic<uint64_t> rows{0};           // rows this version scored in this role
    const std::unique_ptr<Scores[]> scores;  // outputs.size() histograms
    const bool overflow;                     // the shared series past kSeriesMax: one histogram
  };

  PredictMetrics();
  ~PredictMetrics();
  PredictMetrics(const PredictMetrics&) = delete;
  PredictMetrics& operator=(const PredictMetrics&) = delete;

  // The series of (pipeline, op, model, version, role), created on first use with one histogram
  // per name in `outputs` (the step's output fields; later calls for the same key must pass the
  // same list). Never null; the pointer stays valid for the life of this object.
  Series* For(std::string_view pipeline, std::string_view op, std::string_view model, uint64_t version,
              PredictRole role, std::span<const std::string> outputs);

  // `rows` rows scored by the series' version: scores[j * stride + output_index[o]] is output o
  // of row j (o < outputs.size()).
  static void Record(Series* series, size_t rows, const float* scores, size_t stride,
                     std::span<const int> output_index);

  // Appends impulse_predict_version_rows_total{pipeline,operator,model,version,role} and the
  // histogram impulse_predict_score{...,output}, text format 0.0.4, series ordered by pipeline,
  // operator, model, version, role. Only the HELP/TYPE lines before the first series.
  void AppendPrometheusText(std::string* out) const;

  size_t series_count() const;  // overflow series excluded

 private:
  using Key = std::tuple<std::string, std::string, std::string, uint64_t, PredictRole>;
  mutable std::mutex mu_;  // guards series_
  std::map<Key, std::unique_ptr<Series>, std::less<>> series_;
  Series overflow_;
};

}  // namespace impulse::model
