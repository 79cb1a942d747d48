#include "ops/rank_core.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_set>

namespace impulse::plan {

namespace {

namespace dom = simdjson::dom;

std::string Element(size_t i) { return "candidate list element " + std::to_string(i); }

}  // namespace

Status ParseCandidates(std::string_view json, size_t candidates_max, std::vector<int64_t>* ids,
                       std::vector<std::optional<int64_t>>* counts) {
  ids->clear();
  counts->clear();
  dom::parser parser;
  dom::element root;
  if (parser.parse(simdjson::padded_string(json)).get(root) != simdjson::SUCCESS) {
    return InvalidArgument("candidate list is not valid JSON");
  }
  dom::array array;
  if (root.get_array().get(array) != simdjson::SUCCESS) {
    return InvalidArgument("candidate list is not a JSON array (of ids, or top_k's [{\"value\":id,\"count\":n},...])");
  }
  std::unordered_set<int64_t> seen;
  size_t i = 0;
  for (dom::element e : array) {
    dom::element value = e;
    dom::object object;
    std::optional<int64_t> count;
    if (e.get_object().get(object) == simdjson::SUCCESS) {
      if (object["value"].get(value) != simdjson::SUCCESS) {
        return InvalidArgument(Element(i) + " is an object without \"value\" (top_k's form is {\"value\":id,...})");
      }
      dom::element c;
      if (object["count"].get(c) == simdjson::SUCCESS && !c.is_null()) {
        int64_t n = 0;
        if (c.get_int64().get(n) != simdjson::SUCCESS) {
          return InvalidArgument(Element(i) + " has a \"count\" that is not an integer");
        }
        count = n;
      }
    }
    int64_t id = 0;
    if (value.get_int64().get(id) != simdjson::SUCCESS) {
      return InvalidArgument(Element(i) + " is not an integer id");
    }
    if (seen.insert(id).second) {
      if (ids->size() == candidates_max) {
        return ResourceExhausted("candidate list holds more than candidates_max = " + std::to_string(candidates_max) +
                                 " ids");
      }
      ids->push_back(id);
      counts->push_back(count);
    }
    ++i;
  }
  return Status::OK();
}

Status ScoreInBatches(const model::Model& model, const float* rows, size_t n, size_t batch_rows_max,
                      std::vector<float>* scratch, float* out) {
  if (batch_rows_max == 0) return InvalidArgument("batch_rows_max must be > 0");
  const size_t width = model.num_features();
  const size_t outputs = model.num_outputs();
  for (size_t at = 0; at < n; at += batch_rows_max) {
    const size_t m = std::min(batch_rows_max, n - at);
    scratch->resize(m * outputs);
    model.Predict(rows + at * width, m, scratch->data());
    for (size_t r = 0; r < m; ++r) out[at + r] = (*scratch)[r * outputs];
  }
  return Status::OK();
}

void KeepTopK(std::span<const int64_t> ids, std::span<const float> scores, size_t k,
              std::vector<RankedCandidate>* out) {
  out->clear();
  for (size_t i = 0; i < ids.size() && i < scores.size(); ++i) out->push_back({ids[i], scores[i]});
  const auto better = [](const RankedCandidate& a, const RankedCandidate& b) {
    const bool an = std::isnan(a.score), bn = std::isnan(b.score);
    if (an != bn) return bn;  // a number before NaN
    if (!an && a.score != b.score) return a.score > b.score;
    return a.id < b.id;
  };
  const size_t keep = std::min(k, out->size());
  std::partial_sort(out->begin(), out->begin() + static_cast<std::ptrdiff_t>(keep), out->end(), better);
  out->resize(keep);
}

void AppendRankedIdsJson(std::span<const RankedCandidate> ranked, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < ranked.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append(std::to_string(ranked[i].id));
  }
  out->push_back(']');
}

void AppendRankedScoresJson(std::span<const RankedCandidate> ranked, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < ranked.size(); ++i) {
    if (i > 0) out->push_back(',');
    if (!std::isfinite(ranked[i].score)) {
      out->append("null");
      continue;
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof(buf), ranked[i].score);
    out->append(buf, static_cast<size_t>(r.ptr - buf));
  }
  out->push_back(']');
}

}  // namespace impulse::plan
