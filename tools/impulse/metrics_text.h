// Reading the engine's /metrics (Prometheus text exposition) for `impulse status` and `impulse top`:
// sums of a family, one histogram's buckets and their quantiles. Pure functions over the text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace impulse::tools {

// The sum of a family's samples (every label set) whose line starts with `prefix` (a family name,
// or a name with the opening of its label set), 0 when absent.
double MetricSum(std::string_view text, std::string_view prefix);

// One cumulative bucket of a histogram: observations <= le (le may be +infinity).
struct HistogramBucket {
  double le = 0;
  double count = 0;
};

// The cumulative buckets of histogram `family` for the series with label `label`="value",
// ascending by le; empty when the series is absent.
std::vector<HistogramBucket> HistogramBuckets(std::string_view text, std::string_view family, std::string_view label,
                                              std::string_view value);

// The values of `label` over the series of `family`'s _count samples, in the order they appear.
std::vector<std::string> HistogramLabelValues(std::string_view text, std::string_view family, std::string_view label);

// The q-quantile (0..1) of cumulative buckets, interpolated linearly inside its bucket (as
// Prometheus' histogram_quantile); nullopt with no observations. A quantile in the +Inf bucket is
// the last finite bound (a lower bound of the truth).
std::optional<double> HistogramQuantile(const std::vector<HistogramBucket>& buckets, double q);

}  // namespace impulse::tools
