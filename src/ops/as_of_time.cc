#include "ops/as_of_time.h"

namespace impulse::plan {

Result<AsOfTime> AsOfTime::Create(const JoinDef& def) {
  AsOfTime t;
  if (def.as_of_ms > 0) return InvalidArgument("as-of join: as_of_ms must be <= 0");
  t.as_of_ms_ = def.as_of_ms;
  t.floor_offset_ms_ = def.as_of_ms;
  if (def.as_of_expr != nullptr) {
    if (def.as_of_lag_max_ms < 0) return InvalidArgument("as-of join: as_of_lag_max_ms must be >= 0");
    ASSIGN_OR_RETURN(CompiledExpr c, CompiledExpr::Compile(*def.as_of_expr));
    if (c.type() != ExprType::kTimestamp) return InvalidArgument("as-of join: as_of_time is not a timestamp");
    t.expr_ = std::move(c);
    t.lag_max_ms_ = def.as_of_lag_max_ms;
    t.floor_offset_ms_ = -def.as_of_lag_max_ms;
  }
  return t;
}

std::optional<LateReason> AsOfTime::Compute(const Value* row, int64_t ts, int64_t* as_of) {
  if (!expr_) {
    int64_t r;
    // An event time so early that ts + as_of underflows asks for the earliest time there is.
    *as_of = __builtin_add_overflow(ts, as_of_ms_, &r) ? INT64_MIN : r;
    return std::nullopt;
  }
  arena_.Clear();
  BeginEventEval();
  const Value v = expr_->Eval(row, &arena_);
  (void)TakeEvalError();  // an over-budget intermediate string makes the value null: invalid
  if (v.null) return LateReason::kInvalid;
  if (v.i64 > ts) return LateReason::kAsOfAfterEvent;
  int64_t oldest;
  if (!__builtin_sub_overflow(ts, lag_max_ms_, &oldest) && v.i64 < oldest) return LateReason::kAsOfTooOld;
  *as_of = v.i64;
  return std::nullopt;
}

}  // namespace impulse::plan
