#include "tools/impulse/metrics_text.h"

#include <algorithm>
#include <cstdlib>
#include <limits>

namespace impulse::tools {
namespace {

// Calls fn(name, labels, value_text) for every sample line (comments and blank lines skipped).
template <typename Fn>
void ForEachSample(std::string_view text, Fn fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.front() == '#') continue;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    if (space == std::string_view::npos) continue;
    std::string_view name, labels;
    if (brace != std::string_view::npos && brace < space) {
      const size_t close = line.rfind('}', space);
      if (close == std::string_view::npos || close < brace) continue;
      name = line.substr(0, brace);
      labels = line.substr(brace + 1, close - brace - 1);
    } else {
      name = line.substr(0, line.find(' '));
    }
    fn(name, labels, line.substr(space + 1));
  }
}

// The value of `label` in a label set (`a="x",b="y"`); nullopt when absent. The engine's label
// values hold no quotes, so no unescaping is needed.
std::optional<std::string_view> LabelValue(std::string_view labels, std::string_view label) {
  size_t pos = 0;
  while (pos < labels.size()) {
    const size_t eq = labels.find("=\"", pos);
    if (eq == std::string_view::npos) return std::nullopt;
    const size_t close = labels.find('"', eq + 2);
    if (close == std::string_view::npos) return std::nullopt;
    if (labels.substr(pos, eq - pos) == label) return labels.substr(eq + 2, close - eq - 2);
    pos = close + 1;
    if (pos < labels.size() && labels[pos] == ',') ++pos;
  }
  return std::nullopt;
}

double ParseValue(std::string_view v) {
  if (v == "+Inf") return std::numeric_limits<double>::infinity();
  return std::strtod(std::string(v).c_str(), nullptr);
}

}  // namespace

double MetricSum(std::string_view text, std::string_view prefix) {
  double sum = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.starts_with(prefix) || line.size() <= prefix.size()) continue;
    // A family name must end there (impulse_x is not impulse_x_total).
    const char next = line[prefix.size()];
    if (next != ' ' && next != '{') continue;
    sum += ParseValue(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

std::vector<HistogramBucket> HistogramBuckets(std::string_view text, std::string_view family, std::string_view label,
                                              std::string_view value) {
  const std::string bucket_name = std::string(family) + "_bucket";
  std::vector<HistogramBucket> out;
  ForEachSample(text, [&](std::string_view name, std::string_view labels, std::string_view v) {
    if (name != bucket_name || LabelValue(labels, label) != value) return;
    const std::optional<std::string_view> le = LabelValue(labels, "le");
    if (!le.has_value()) return;
    out.push_back({ParseValue(*le), ParseValue(v)});
  });
  std::sort(out.begin(), out.end(), [](const HistogramBucket& a, const HistogramBucket& b) { return a.le < b.le; });
  return out;
}

std::vector<std::string> HistogramLabelValues(std::string_view text, std::string_view family, std::string_view label) {
  const std::string count_name = std::string(family) + "_count";
  std::vector<std::string> out;
  ForEachSample(text, [&](std::string_view name, std::string_view labels, std::string_view) {
    if (name != count_name) return;
    const std::optional<std::string_view> v = LabelValue(labels, label);
    if (v.has_value() && std::find(out.begin(), out.end(), *v) == out.end()) out.emplace_back(*v);
  });
  return out;
}

std::optional<double> HistogramQuantile(const std::vector<HistogramBucket>& buckets, double q) {
  if (buckets.empty() || buckets.back().count <= 0) return std::nullopt;
  const double rank = q * buckets.back().count;
  double prev_le = 0, prev_count = 0;
  for (const HistogramBucket& b : buckets) {
    if (b.count >= rank) {
      if (b.le == std::numeric_limits<double>::infinity()) return prev_le;
      const double in_bucket = b.count - prev_count;
      return in_bucket <= 0 ? b.le : prev_le + (b.le - prev_le) * ((rank - prev_count) / in_bucket);
    }
    prev_le = b.le;
    prev_count = b.count;
  }
  return prev_le;
}

}  // namespace impulse::tools
