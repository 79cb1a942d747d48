// The YAML pipeline spec front end: parses a spec (see docs/PIPELINE_SPEC.md), validates it
// completely and compiles it to a LogicalPlan. Every problem found is reported (not just the
// first), each with its file, 1-based line and column (inside expression strings: the column
// of the offending token) and a message, e.g.
//   pipeline.yaml:12:17: unknown field 'amout' in stream 'clicks' (did you mean 'amount'?)
// Load time only; no yaml-cpp exception escapes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "impulse/status.h"
#include "plan/logical_plan.h"

namespace impulse::plan {

struct SpecError {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string message;
  // "file:line:column: message"
  std::string ToString() const;
};

// Limits on spec size (a spec is operator-written, but bound everything anyway).
inline constexpr size_t kSpecBytesMax = 4 << 20;
inline constexpr size_t kSpecStreamsMax = 1000;
inline constexpr size_t kSpecPipelinesMax = 1000;
inline constexpr size_t kSpecFieldsMax = 1000;  // per stream and per pipeline stage
inline constexpr size_t kSpecStepsMax = 256;    // per pipeline
inline constexpr uint32_t kSpecPartitionsMax = 4096;
inline constexpr size_t kSpecErrorsMax = 1000;  // further errors are counted, not listed

// On failure returns kInvalidArgument whose message lists every error, one per line; `errors`
// (when non-null) receives them too.
Result<LogicalPlan> CompileSpec(std::string_view yaml_text, std::string_view file_name, std::vector<SpecError>* errors);
// Reads `path` (kNotFound / kIOError if unreadable) and compiles it, naming errors by `path`.
Result<LogicalPlan> CompileSpecFile(const std::string& path, std::vector<SpecError>* errors);

// Name rules: stream and pipeline names are [A-Za-z0-9_.-]{1,128} and do not start with '_'
// (reserved for built-ins like _dead_letter); field names are identifiers
// [A-Za-z_][A-Za-z0-9_]{0,127}.
bool IsValidStreamName(std::string_view name);
bool IsValidFieldName(std::string_view name);

}  // namespace impulse::plan
