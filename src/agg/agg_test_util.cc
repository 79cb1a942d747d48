#include "agg/agg_test_util.h"

#include "event/json_writer.h"
#include "event/timestamp.h"

namespace impulse::agg::testing {
namespace {

using V = std::variant<int64_t, double, std::string, bool>;

std::string JsonOf(const V& v, FieldType t) {
  std::string out;
  switch (t) {
    case FieldType::kString: AppendJsonString(std::get<std::string>(v), &out); break;
    case FieldType::kDouble: AppendJsonDouble(std::get<double>(v), &out); break;
    case FieldType::kBool: out = std::get<bool>(v) ? "true" : "false"; break;
    case FieldType::kInt64: out = std::to_string(std::get<int64_t>(v)); break;
    case FieldType::kTimestamp:
      out = "\"";
      AppendTimestampIso(std::get<int64_t>(v), &out);
      out += "\"";
      break;
  }
  return out;
}

}  // namespace

Plain Reference(const AggSpec& spec, const std::vector<TestRow>& rows) {
  const FieldType t = spec.arg_type;
  std::vector<size_t> nn;  // rows with a non-null x
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].x) nn.push_back(i);
  const bool samp = spec.kind == AggKind::kVarSamp || spec.kind == AggKind::kStddevSamp;
  switch (spec.kind) {
    case AggKind::kCount: return static_cast<int64_t>(spec.arity == 0 ? rows.size() : nn.size());
    case AggKind::kSum:
    case AggKind::kAvg: {
      if (nn.empty()) return std::nullopt;
      if (t == FieldType::kInt64) {
        uint64_t sum = 0;
        for (size_t i : nn) sum += static_cast<uint64_t>(std::get<int64_t>(*rows[i].x));
        if (spec.kind == AggKind::kSum) return static_cast<int64_t>(sum);
        return static_cast<double>(static_cast<int64_t>(sum)) / static_cast<double>(nn.size());
      }
      double sum = 0;
      for (size_t i : nn) sum += std::get<double>(*rows[i].x);
      if (spec.kind == AggKind::kSum) return sum;
      return sum / static_cast<double>(nn.size());
    }
    case AggKind::kMin:
    case AggKind::kMax: {
      Plain best;
      for (size_t i : nn) {
        const V& x = *rows[i].x;
        if (std::holds_alternative<double>(x) && std::isnan(std::get<double>(x))) continue;
        if (!best || (spec.kind == AggKind::kMin ? x < *best : *best < x)) best = x;
      }
      return best;
    }
    case AggKind::kFirst:
    case AggKind::kLast: {
      Plain best;
      int64_t best_ts = 0;
      for (size_t i : nn) {
        const bool take = !best || (spec.kind == AggKind::kFirst ? rows[i].ts < best_ts : rows[i].ts >= best_ts);
        if (take) best = *rows[i].x, best_ts = rows[i].ts;
      }
      return best;
    }
    case AggKind::kVarPop:
    case AggKind::kVarSamp:
    case AggKind::kStddevPop:
    case AggKind::kStddevSamp: {
      const size_t n = nn.size();
      if (n == 0 || (samp && n < 2)) return std::nullopt;
      double mean = 0;
      for (size_t i : nn) mean += AsDouble(*rows[i].x);
      mean /= static_cast<double>(n);
      double ss = 0;
      for (size_t i : nn) ss += (AsDouble(*rows[i].x) - mean) * (AsDouble(*rows[i].x) - mean);
      const double var = ss / static_cast<double>(samp ? n - 1 : n);
      return spec.kind == AggKind::kVarPop || spec.kind == AggKind::kVarSamp ? var : std::sqrt(var);
    }
    case AggKind::kCountDistinct:
    case AggKind::kApproxCountDistinct: {
      std::set<V> distinct;
      for (size_t i : nn) distinct.insert(*rows[i].x);
      return static_cast<int64_t>(distinct.size());
    }
    case AggKind::kArgMax:
    case AggKind::kArgMin: {
      const bool ys = spec.arg2_type == FieldType::kString;
      std::optional<V> bx, by;
      for (size_t i : nn) {
        if (ys ? !rows[i].ys : !rows[i].yi) continue;
        const V x = *rows[i].x;
        const V y = ys ? V(*rows[i].ys) : V(*rows[i].yi);
        const bool better = !bx || (spec.kind == AggKind::kArgMax ? *bx < x : x < *bx) || (x == *bx && y < *by);
        if (better) bx = x, by = y;
      }
      if (!by) return std::nullopt;
      return *by;
    }
    case AggKind::kTopK: {
      std::map<V, int64_t> counts;
      for (size_t i : nn) ++counts[*rows[i].x];
      if (counts.empty()) return std::nullopt;
      std::vector<std::pair<V, int64_t>> e(counts.begin(), counts.end());
      std::stable_sort(e.begin(), e.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      std::string json = "[";
      for (size_t i = 0; i < e.size() && i < static_cast<size_t>(spec.k); ++i) {
        if (i > 0) json += ",";
        json += "{\"value\":" + JsonOf(e[i].first, t) + ",\"count\":" + std::to_string(e[i].second) + "}";
      }
      return json + "]";
    }
  }
  return std::nullopt;
}

}  // namespace impulse::agg::testing
