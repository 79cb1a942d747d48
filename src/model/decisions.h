// `impulse decisions rescore`: re-scores a stretch of a decision log (docs/INFERENCE.md,
// "Decision log") with another model version and reports where the decisions differ.
//
// Offline and read-only over an engine's data dir (as `impulse backfill --data` reads it): the
// stream's partition logs are opened directly, so run it on a stopped engine's directory or a
// copy. Records are visited partition by partition in offset order, so the report is
// deterministic. One thread; memory is one read window plus `limit` differing rows.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "impulse/status.h"

namespace impulse::model {

struct RescoreOptions {
  std::string data_dir;    // the engine's data dir (holds streams/<stream>/<partition>/)
  std::string stream;      // a stream with the decision record schema
  std::string models_dir;  // the model repository
  std::string model;       // model name in the repository
  uint64_t version = 0;    // the version to re-score with (loaded even if its policy does not select it)
  int64_t from_ms = std::numeric_limits<int64_t>::min();  // event_time window [from_ms, to_ms)
  int64_t to_ms = std::numeric_limits<int64_t>::max();
  double threshold = 0.5;    // decision = score >= threshold
  std::string output = "0";  // the output compared: an index into the config's outputs, or its name
  size_t limit = 10;         // differing rows listed in the report (all are counted)
};

// One record whose decision differs.
struct RescoreRow {
  std::string event_id;
  uint32_t partition = 0;
  uint64_t offset = 0;
  std::string variant;
  int64_t old_version = 0;
  double old_score = 0;
  double new_score = 0;
};

struct RescoreVariantCounts {
  uint64_t records = 0;    // records of this variant in the window
  uint64_t differing = 0;  // of which the decision differs
};

struct RescoreReport {
  std::string stream, model, output;  // output: the compared output's name
  uint64_t version = 0;
  double threshold = 0;
  uint64_t records_read = 0;      // records in [from, to) compared (unscored ones excluded)
  uint64_t records_outside = 0;   // records read but outside [from, to)
  uint64_t records_unscored = 0;  // in [from, to) with variant "unscored" (no version was ready): not compared
  uint64_t differing = 0;
  double mean_abs_diff = 0;  // over records_read (0 when none)
  double max_abs_diff = 0;
  std::vector<RescoreRow> first_differing;               // at most options.limit, in visiting order
  std::map<std::string, RescoreVariantCounts> variants;  // by variant name
};

// kNotFound: no such stream dir, model or version; kInvalidArgument: the stream is not a decision
// log, a record's features lack one of the version's inputs (named), its scores lack the output,
// or a bad --output; kDataLoss/kIOError from the log.
Result<RescoreReport> Rescore(const RescoreOptions& options);

// The report as text (one summary line per fact, then the differing rows) or as one JSON object.
std::string FormatRescoreReport(const RescoreReport& report, bool json);

}  // namespace impulse::model
