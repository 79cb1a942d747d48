// Private to the evaluator: factories for node families defined in separate files.
#pragma once

#include <vector>

#include "expr/eval.h"

namespace impulse::plan {

// cast(x as to), x of type `from`.
EvalPtr MakeCastNode(ExprType from, ExprType to, EvalPtr x);
// Built-in function `e.func` over compiled arguments (already promoted to the types the
// function computes in: for min/max/coalesce/abs/round... the call's result type).
EvalPtr MakeFunctionNode(const Expr& e, std::vector<EvalPtr> args);
// Converts a string-typed Value `v` to `to` (used by casts); strings go into `arena`.
Value CastValue(Value v, ExprType from, ExprType to, Arena* arena);

}  // namespace impulse::plan
