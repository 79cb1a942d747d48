// HyperLogLog (approx_count_distinct) and the top-k counters (exact, then Space-Saving).
#include <algorithm>
#include <bit>
#include <cmath>

#include "agg/agg_state.h"
#include "event/json_writer.h"
#include "event/timestamp.h"

namespace impulse::agg::detail {

void HllAdd(uint8_t* regs, uint64_t hash) {
  const size_t idx = hash >> (64 - kHllPrecision);
  const uint64_t w = hash << kHllPrecision;
  // The low kHllPrecision bits of w are zero, so a non-zero w has at most 51 leading zeros.
  const uint8_t rank = w == 0 ? kHllRankMax : static_cast<uint8_t>(std::countl_zero(w) + 1);
  if (rank > regs[idx]) regs[idx] = rank;
}

// Flajolet et al. 2007 with the small-range (linear counting) correction; a 64-bit hash needs
// no large-range correction. Standard error 1.04 / sqrt(4096) = 1.6%.
int64_t HllEstimate(const uint8_t* regs) {
  const double m = static_cast<double>(kHllRegisters);
  double sum = 0;
  size_t zeros = 0;
  for (size_t i = 0; i < kHllRegisters; ++i) {
    sum += std::ldexp(1.0, -static_cast<int>(regs[i]));
    zeros += regs[i] == 0;
  }
  const double alpha = 0.7213 / (1.0 + 1.079 / m);
  double e = alpha * m * m / sum;
  if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / static_cast<double>(zeros));
  return std::llround(e);
}

void TopKAdd(TopK* t, std::string_view key, int64_t n) {
  auto it = t->counts.find(key);
  if (it != t->counts.end()) {
    it->second += n;
    return;
  }
  if (t->counts.size() < static_cast<size_t>(kTopKCounters)) {
    t->counts.emplace(std::string(key), n);
    return;
  }
  // Space-Saving: the new value takes over a counter with the minimum count.
  for (;;) {
    while (!t->victims.empty()) {
      const std::string* v = t->victims.back();
      t->victims.pop_back();
      auto vit = t->counts.find(*v);
      if (vit == t->counts.end() || vit->second != t->victim_count) continue;  // grew since the scan
      const int64_t c = vit->second;
      t->counts.erase(vit);
      t->counts.emplace(std::string(key), c + n);
      return;
    }
    int64_t min = INT64_MAX;
    for (const auto& [k, c] : t->counts) min = std::min(min, c);
    for (const auto& [k, c] : t->counts)
      if (c == min) t->victims.push_back(&k);
    t->victim_count = min;
  }
}

void TopKTrim(TopK* t) {
  t->victims.clear();
  if (t->counts.size() <= static_cast<size_t>(kTopKCounters)) return;
  std::vector<int64_t> counts;
  counts.reserve(t->counts.size());
  for (const auto& [k, c] : t->counts) counts.push_back(c);
  auto nth = counts.begin() + kTopKCounters - 1;
  std::nth_element(counts.begin(), nth, counts.end(), std::greater<>());
  const int64_t threshold = *nth;  // the kTopKCounters-th largest count
  size_t at_threshold_kept = static_cast<size_t>(
      std::count_if(counts.begin(), counts.begin() + kTopKCounters, [&](int64_t c) { return c == threshold; }));
  for (auto it = t->counts.begin(); it != t->counts.end();) {
    if (it->second > threshold || (it->second == threshold && at_threshold_kept > 0)) {
      if (it->second == threshold) --at_threshold_kept;
      ++it;
    } else {
      it = t->counts.erase(it);
    }
  }
}

namespace {

// Ascending value order for ties: numbers numerically (NaN last), strings bytewise.
bool ValueLess(FieldType t, std::string_view a, std::string_view b) {
  if (t == FieldType::kString) return a < b;
  const Value va = ValueOfKey(a, t), vb = ValueOfKey(b, t);
  if (t == FieldType::kDouble) {
    if (std::isnan(va.f64)) return false;
    if (std::isnan(vb.f64)) return true;
    return va.f64 < vb.f64;
  }
  return IntOf(va, t) < IntOf(vb, t);
}

void AppendValueJson(FieldType t, std::string_view key, std::string* out) {
  const Value v = ValueOfKey(key, t);
  switch (t) {
    case FieldType::kString: AppendJsonString(key, out); break;
    case FieldType::kDouble: AppendJsonDouble(v.f64, out); break;
    case FieldType::kBool: *out += v.b ? "true" : "false"; break;
    case FieldType::kInt64: *out += std::to_string(v.i64); break;
    case FieldType::kTimestamp:  // as rows are written: an ISO-8601 string
      *out += '"';
      AppendTimestampIso(v.i64, out);
      *out += '"';
      break;
  }
}

}  // namespace

void TopKJson(const TopK& t, FieldType type, int k, std::string* out) {
  std::vector<std::pair<std::string_view, int64_t>> entries;
  entries.reserve(t.counts.size());
  for (const auto& [key, c] : t.counts) entries.emplace_back(key, c);
  auto before = [&](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    return ValueLess(type, a.first, b.first);
  };
  const size_t n = std::min(entries.size(), static_cast<size_t>(std::max(k, 0)));
  std::partial_sort(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(n), entries.end(), before);
  *out += '[';
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) *out += ',';
    *out += "{\"value\":";
    AppendValueJson(type, entries[i].first, out);
    *out += ",\"count\":";
    *out += std::to_string(entries[i].second);
    *out += '}';
  }
  *out += ']';
}

}  // namespace impulse::agg::detail
