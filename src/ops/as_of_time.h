// The as-of time of a row read by an as-of join (JoinDef::Type::kAsOf: the `lookup` and `rank`
// steps): the row's event time plus the fixed as_of_ms, or the value of the step's as_of_time
// expression checked against its bounds (docs/PIPELINE_SPEC.md, "lookup"). Shared by the join
// and the rank operator, which refuses an event before making its candidate rows.
#pragma once

#include <cstdint>
#include <optional>

#include "expr/eval.h"
#include "impulse/row.h"
#include "impulse/status.h"
#include "ops/operator.h"
#include "plan/logical_plan.h"

namespace impulse::plan {

// Contract: built from a checked JoinDef; Compute is called by one thread (scratch arena).
class AsOfTime {
 public:
  // kInvalidArgument when as_of_ms > 0, as_of_lag_max_ms < 0, or the expression is not a
  // checked timestamp expression.
  static Result<AsOfTime> Create(const JoinDef& def);

  // Every row the step takes at event time ts asks for a time at or after ts + this (<= 0):
  // versions older than the last one at or before W + this are never read again.
  int64_t floor_offset_ms() const { return floor_offset_ms_; }

  // The as-of time of `row` (its event time `ts`), or why the row is refused: kInvalid (the
  // expression is null), kAsOfAfterEvent (later than ts), kAsOfTooOld (before
  // ts - as_of_lag_max_ms).
  std::optional<LateReason> Compute(const Value* row, int64_t ts, int64_t* as_of);

 private:
  std::optional<CompiledExpr> expr_;
  int64_t as_of_ms_ = 0;
  int64_t lag_max_ms_ = 0;
  int64_t floor_offset_ms_ = 0;
  Arena arena_;
};

}  // namespace impulse::plan
