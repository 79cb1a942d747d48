#include "model/predict_metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "model/model_metrics.h"

namespace impulse::model {
namespace {

// The bounds as written in "le": the shortest decimal of i/20.
constexpr std::array<std::string_view, kScoreBounds> kScoreLe = {"0",    "0.05", "0.1",  "0.15", "0.2",  "0.25", "0.3",
                                                                 "0.35", "0.4",  "0.45", "0.5",  "0.55", "0.6",  "0.65",
                                                                 "0.7",  "0.75", "0.8",  "0.85", "0.9",  "0.95", "1"};

void AppendLabel(std::string_view key, std::string_view value, std::string* out) {
  out->append(key).append("=\"");
  AppendLabelValue(value, out);
  out->push_back('"');
}

// {pipeline=..,operator=..,model=..,version=..,role=.. without the closing brace.
void AppendLabels(const PredictMetrics::Series& s, std::string* out) {
  out->push_back('{');
  AppendLabel("pipeline", s.pipeline, out);
  out->push_back(',');
  AppendLabel("operator", s.op, out);
  out->push_back(',');
  AppendLabel("model", s.model, out);
  out->push_back(',');
  AppendLabel("version", s.version, out);
  out->push_back(',');
  AppendLabel("role", s.overflow ? "other" : PredictRoleName(s.role), out);
}

void AppendHeader(std::string_view name, std::string_view type, std::string_view help, std::string* out) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void AppendDouble(double v, std::string* out) {
  if (std::isnan(v)) {  // +Inf and -Inf scores summed
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace

std::string_view PredictRoleName(PredictRole role) {
  switch (role) {
    case PredictRole::kServing: return "serving";
    case PredictRole::kCanary: return "canary";
    case PredictRole::kShadow: return "shadow";
  }
  return "unknown";
}

PredictMetrics::Series::Series(std::string pipeline_name, std::string op_label, std::string model_name,
                               std::string version_label, PredictRole r, std::vector<std::string> output_names,
                               bool is_overflow)
    : pipeline(std::move(pipeline_name)),
      op(std::move(op_label)),
      model(std::move(model_name)),
      version(std::move(version_label)),
      role(r),
      outputs(std::move(output_names)),
      scores(std::make_unique<Scores[]>(outputs.size())),
      overflow(is_overflow) {}

PredictMetrics::PredictMetrics()
    : overflow_("other", "other", "other", "other", PredictRole::kServing, std::vector<std::string>{"other"},
                /*overflow=*/true) {}

PredictMetrics::~PredictMetrics() = default;

PredictMetrics::Series* PredictMetrics::For(std::string_view pipeline, std::string_view op, std::string_view model,
                                            uint64_t version, PredictRole role, std::span<const std::string> outputs) {
  Key key(std::string(pipeline), std::string(op), std::string(model), version, role);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(key);
  if (it != series_.end()) return it->second.get();
  if (series_.size() >= kSeriesMax) return &overflow_;
  auto s = std::make_unique<Series>(std::get<0>(key), std::get<1>(key), std::get<2>(key), std::to_string(version), role,
                                    std::vector<std::string>(outputs.begin(), outputs.end()));
  Series* p = s.get();
  series_.emplace(std::move(key), std::move(s));
  return p;
}

void PredictMetrics::Record(Series* series, size_t rows, const float* scores, size_t stride,
                            std::span<const int> output_index) {
  series->rows.fetch_add(rows, std::memory_order_relaxed);
  // The overflow series has one histogram for every output.
  const size_t n_out = series->overflow ? output_index.size() : std::min(output_index.size(), series->outputs.size());
  for (size_t o = 0; o < n_out; ++o) {
    std::array<uint64_t, kScoreBuckets + 1> tally{};  // + a slot for NaN, not exported
    double sum = 0.0;
    const float* s = scores + output_index[o];
    for (size_t j = 0; j < rows; ++j, s += stride) {
      const size_t b = ScoreBucket(*s);
      ++tally[b];
      if (b != kScoreBuckets) sum += static_cast<double>(*s);
    }
    Scores& h = series->scores[series->overflow ? 0 : o];
    for (size_t b = 0; b < kScoreBuckets; ++b) {
      if (tally[b] != 0) h.counts[b].fetch_add(tally[b], std::memory_order_relaxed);
    }
    if (tally[kScoreBuckets] != rows) h.sum.fetch_add(sum, std::memory_order_relaxed);
  }
}

size_t PredictMetrics::series_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return series_.size();
}

void PredictMetrics::AppendPrometheusText(std::string* out) const {
  std::lock_guard<std::mutex> lock(mu_);  // scrapes only; For() is called when a step binds
  std::vector<const Series*> all;
  all.reserve(series_.size() + 1);
  for (const auto& [key, s] : series_) all.push_back(s.get());
  if (series_.size() >= kSeriesMax) all.push_back(&overflow_);

  AppendHeader("impulse_predict_version_rows_total", "counter",
               "Rows a predict step scored with a model version, by the version's role (serving, canary, shadow)", out);
  for (const Series* s : all) {
    out->append("impulse_predict_version_rows_total");
    AppendLabels(*s, out);
    out->append("} ").append(std::to_string(s->rows.load(std::memory_order_relaxed))).append("\n");
  }
  AppendHeader("impulse_predict_score", "histogram",
               "Scores a predict step's model version produced, per output (buckets of 0.05 over [0, 1]; NaN not "
               "observed)",
               out);
  for (const Series* s : all) {
    for (size_t o = 0; o < s->outputs.size(); ++o) {
      const Scores& h = s->scores[o];
      auto labels = [&](std::string* to) {
        AppendLabels(*s, to);
        to->push_back(',');
        AppendLabel("output", s->outputs[o], to);
      };
      uint64_t cumulative = 0;
      for (size_t b = 0; b < kScoreBuckets; ++b) {
        cumulative += h.counts[b].load(std::memory_order_relaxed);
        out->append("impulse_predict_score_bucket");
        labels(out);
        out->append(",le=\"").append(b < kScoreBounds ? kScoreLe[b] : "+Inf").append("\"} ");
        out->append(std::to_string(cumulative)).append("\n");
      }
      out->append("impulse_predict_score_sum");
      labels(out);
      out->append("} ");
      AppendDouble(h.sum.load(std::memory_order_relaxed), out);
      out->append("\n");
      out->append("impulse_predict_score_count");
      labels(out);
      out->append("} ").append(std::to_string(cumulative)).append("\n");
    }
  }
}

}  // namespace impulse::model
