#include "model/model_metrics.h"

#include <algorithm>
#include <functional>

#include "model/repository.h"

namespace impulse::model {
namespace {

constexpr std::array<uint64_t, kBatchRowsBuckets> kBatchRowsBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
constexpr std::array<uint64_t, kLatencyBuckets> kLatencyBoundsNs = {
    1'000,       2'500,       5'000,         10'000,        25'000,        50'000,        100'000,    250'000,
    500'000,     1'000'000,   2'500'000,     5'000'000,     10'000'000,    25'000'000,    50'000'000, 100'000'000,
    250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

size_t HashKey(std::string_view model, uint64_t version) {
  return std::hash<std::string_view>{}(model) ^ (version * 0x9E3779B97F4A7C15ull);
}

// Nanoseconds as exact decimal seconds: 2500 -> "0.0000025", 10'000'000'000 -> "10".
std::string NsToSeconds(uint64_t ns) {
  std::string out = std::to_string(ns / 1'000'000'000);
  uint64_t frac = ns % 1'000'000'000;
  if (frac == 0) return out;
  std::string digits = std::to_string(frac);
  digits.insert(0, 9 - digits.size(), '0');
  while (digits.back() == '0') digits.pop_back();
  return out + "." + digits;
}

void AppendLabels(const ModelMetrics::Series& s, std::string* out) {
  out->append("{model=\"");
  AppendLabelValue(s.model, out);
  out->append("\",version=\"");
  AppendLabelValue(s.version, out);
  out->push_back('"');
}

void AppendHeader(std::string_view name, std::string_view type, std::string_view help, std::string* out) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void AppendCounter(std::string_view name, std::string_view help, const std::vector<const ModelMetrics::Series*>& all,
                   const std::atomic<uint64_t> ModelMetrics::Series::*field, std::string* out) {
  AppendHeader(name, "counter", help, out);
  for (const ModelMetrics::Series* s : all) {
    out->append(name);
    AppendLabels(*s, out);
    out->append("} ").append(std::to_string((s->*field).load(std::memory_order_relaxed))).append("\n");
  }
}

// `seconds`: bounds and sum are nanoseconds, written as seconds.
template <size_t N>
void AppendHistogram(std::string_view name, std::string_view help, const std::vector<const ModelMetrics::Series*>& all,
                     const AtomicHistogram<N> ModelMetrics::Series::*field, bool seconds, std::string* out) {
  AppendHeader(name, "histogram", help, out);
  auto number = [seconds](uint64_t v) { return seconds ? NsToSeconds(v) : std::to_string(v); };
  for (const ModelMetrics::Series* s : all) {
    const AtomicHistogram<N>& h = s->*field;
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= N; ++i) {
      cumulative += h.bucket(i);
      out->append(name).append("_bucket");
      AppendLabels(*s, out);
      out->append(",le=\"").append(i < N ? number(h.bounds()[i]) : "+Inf").append("\"} ");
      out->append(std::to_string(cumulative)).append("\n");
    }
    out->append(name).append("_sum");
    AppendLabels(*s, out);
    out->append("} ").append(number(h.sum())).append("\n");
    out->append(name).append("_count");
    AppendLabels(*s, out);
    out->append("} ").append(std::to_string(cumulative)).append("\n");
  }
}

}  // namespace

ModelMetrics::Series::Series(std::string model_name, uint64_t version_num, std::string version_label)
    : model(std::move(model_name)),
      version_number(version_num),
      version(std::move(version_label)),
      batch_rows(&kBatchRowsBounds),
      queue_ns(&kLatencyBoundsNs),
      compute_ns(&kLatencyBoundsNs) {}

ModelMetrics::ModelMetrics() : overflow_("other", UINT64_MAX, "other") {
  for (auto& slot : slots_) slot.store(nullptr, std::memory_order_relaxed);
}

ModelMetrics::~ModelMetrics() = default;

ModelMetrics::Series* ModelMetrics::For(std::string_view model, uint64_t version) {
  const size_t start = HashKey(model, version) % kSlots;
  // Lock-free probe: slots are only ever filled (release) and never emptied.
  size_t i = start;
  for (size_t n = 0; n < kSlots; ++n, i = (i + 1) % kSlots) {
    Series* s = slots_[i].load(std::memory_order_acquire);
    if (s == nullptr) break;
    if (s->version_number == version && s->model == model) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  // Probe again under the lock: another thread may have inserted it since.
  i = start;
  for (size_t n = 0; n < kSlots; ++n, i = (i + 1) % kSlots) {
    Series* s = slots_[i].load(std::memory_order_acquire);
    if (s == nullptr) break;
    if (s->version_number == version && s->model == model) return s;
  }
  if (owned_.size() >= kSeriesMax) return &overflow_;
  // At most half the slots are full, so the probe above stopped at an empty slot `i`.
  owned_.push_back(std::make_unique<Series>(std::string(model), version, std::to_string(version)));
  slots_[i].store(owned_.back().get(), std::memory_order_release);
  return owned_.back().get();
}

void ModelMetrics::Record(Series* series, size_t rows, int64_t queue_ns, int64_t compute_ns) {
  series->requests.fetch_add(1, std::memory_order_relaxed);
  series->rows.fetch_add(rows, std::memory_order_relaxed);
  series->batch_rows.Observe(rows);
  if (queue_ns >= 0) series->queue_ns.Observe(static_cast<uint64_t>(queue_ns));
  series->compute_ns.Observe(static_cast<uint64_t>(std::max<int64_t>(compute_ns, 0)));
}

void ModelMetrics::RecordError(Series* series, size_t rows) {
  (void)rows;  // failed rows are not added to rows_total (successful rows only)
  series->requests.fetch_add(1, std::memory_order_relaxed);
  series->errors.fetch_add(1, std::memory_order_relaxed);
}

size_t ModelMetrics::series_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return owned_.size();
}

void ModelMetrics::AppendPrometheusText(std::string* out) const {
  std::vector<const Series*> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.reserve(owned_.size() + 1);
    for (const auto& s : owned_) all.push_back(s.get());
    if (owned_.size() >= kSeriesMax) all.push_back(&overflow_);
  }
  std::sort(all.begin(), all.end(), [](const Series* a, const Series* b) {
    return a->model != b->model ? a->model < b->model : a->version_number < b->version_number;
  });
  AppendCounter("impulse_model_requests_total", "Model calls (predict batches, infer requests), failed ones included",
                all, &Series::requests, out);
  AppendCounter("impulse_model_rows_total", "Rows scored by successful model calls", all, &Series::rows, out);
  AppendCounter("impulse_model_errors_total", "Failed model calls", all, &Series::errors, out);
  AppendHistogram("impulse_model_batch_rows", "Rows per successful model call", all, &Series::batch_rows,
                  /*seconds=*/false, out);
  AppendHistogram("impulse_model_queue_seconds", "Time rows waited for a batch before the model call", all,
                  &Series::queue_ns, /*seconds=*/true, out);
  AppendHistogram("impulse_model_compute_seconds", "Time inside the model call", all, &Series::compute_ns,
                  /*seconds=*/true, out);
}

void ModelMetrics::AppendLoadedText(std::span<const ModelVersionStatus> list, std::string* out) {
  AppendHeader("impulse_model_loaded", "gauge", "Model versions of the repository by state (1 per version)", out);
  const ModelVersionStatus* prev = nullptr;
  for (const ModelVersionStatus& s : list) {
    // A model can list several problems under version 0: one series for them.
    if (prev != nullptr && prev->name == s.name && prev->version == s.version) continue;
    prev = &s;
    out->append("impulse_model_loaded{model=\"");
    AppendLabelValue(s.name, out);
    out->append("\",version=\"").append(s.version == 0 ? "none" : std::to_string(s.version));
    out->append("\",state=\"").append(VersionStateName(s.state)).append("\"} 1\n");
  }
}

void AppendLabelValue(std::string_view v, std::string* out) {
  for (char c : v) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

}  // namespace impulse::model
