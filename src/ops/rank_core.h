// Candidate ranking, the parts that do not depend on where the candidates' features come from:
// reading an event's candidate list, scoring (event, candidate) rows with a model in bounded
// batches, and keeping the best k. The `rank` step (rank_op.cc) drives them. Stateless
// functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/status.h"
#include "model/model.h"

namespace impulse::plan {

struct RankLimits {
  size_t candidates_max = 1000;   // candidates per event; more: kResourceExhausted
  size_t batch_rows_max = 65536;  // rows per Model::Predict call (bounds the float matrix)
};

// Reads a candidate list: a JSON array of integer ids (`[3,17]`) or the output of the top_k
// aggregate (`[{"value":3,"count":9},...]`); duplicates are kept once, in first-seen order, so a
// candidate's 1-based position is its index in `ids` + 1. `counts` (parallel to `ids`): the
// element's "count" (top_k's), nullopt for a plain id or an object without one (or a null one).
// kInvalidArgument for anything else (a count that is not an integer included), saying where
// (the element's index) and why; kResourceExhausted when it holds more than `candidates_max`
// distinct ids.
Status ParseCandidates(std::string_view json, size_t candidates_max, std::vector<int64_t>* ids,
                       std::vector<std::optional<int64_t>>* counts);

// Scores `n` rows of `model.num_features()` floats (row-major, NaN = missing) into out[0..n)
// (the model's first output), calling Predict on at most `batch_rows_max` rows at a time.
// kInvalidArgument if batch_rows_max is 0.
Status ScoreInBatches(const model::Model& model, const float* rows, size_t n, size_t batch_rows_max,
                      std::vector<float>* scratch, float* out);

struct RankedCandidate {
  int64_t id = 0;
  float score = 0;
};

// The best `k` of the candidates: score descending, ties by id ascending, NaN scores after every
// number (by id); deterministic whatever the input order.
void KeepTopK(std::span<const int64_t> ids, std::span<const float> scores, size_t k, std::vector<RankedCandidate>* out);

// `[id,...]` and `[score,...]` (shortest float32 text; null for NaN) of `ranked`, best first.
void AppendRankedIdsJson(std::span<const RankedCandidate> ranked, std::string* out);
void AppendRankedScoresJson(std::span<const RankedCandidate> ranked, std::string* out);

}  // namespace impulse::plan
