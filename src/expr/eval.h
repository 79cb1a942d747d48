// Compiled expressions: a checked AST turned into a tree of typed evaluator nodes (one class
// per operation and operand type, so the per-row work is a virtual call and the operation
// itself, with no type dispatch, name lookup or heap allocation). A field read is an index
// load from the row. Strings produced by functions are allocated in the caller's arena.
//
// Immutable after Compile(); Eval is const and may run on many threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "expr/ast.h"
#include "impulse/row.h"
#include "impulse/status.h"

namespace impulse::plan {

// Bounds on what evaluation computes for one event, independent of the event's values. Every
// string an expression makes (concat, lower/upper, casts to string) is charged to the event's
// budget: one string at most kComputedStringMaxBytes (the log's record bound: it could never be
// stored), all of one event's at most kEventComputedBytesMax. Whoever evaluates expressions for
// an event calls BeginEventEval first. A string over either bound evaluates to null and notes an
// error for the thread: the stateless steps of a pipeline then send the event to the dead letters
// (docs/OPERATIONS.md, "One event cannot stop the engine"); inside an operator the value stays
// null.
inline constexpr size_t kComputedStringMaxBytes = size_t{16} << 20;
inline constexpr size_t kEventComputedBytesMax = size_t{32} << 20;
namespace eval_internal {
// Inline and constant-initialized: each access is a plain TLS load.
inline thread_local bool error_pending = false;
inline thread_local size_t bytes_left = kEventComputedBytesMax;
void NoteOverBudget(size_t bytes);
}  // namespace eval_internal
// Starts one event's evaluation: the whole budget, and no error pending from an earlier one.
inline void BeginEventEval() {
  eval_internal::bytes_left = kEventComputedBytesMax;
  eval_internal::error_pending = false;
}
// Charges `bytes` about to be allocated for a computed string; false (and an error noted) when
// they exceed either bound.
inline bool ChargeComputedBytes(size_t bytes) {
  if (bytes <= eval_internal::bytes_left && bytes <= kComputedStringMaxBytes) [[likely]] {
    eval_internal::bytes_left -= bytes;
    return true;
  }
  eval_internal::NoteOverBudget(bytes);
  return false;
}
// Records an error unless one is pending (the first one explains the event).
void NoteEvalError(std::string_view what);
// True when an error was noted since the last TakeEvalError.
inline bool EvalErrorPending() { return eval_internal::error_pending; }
// The pending error's message, clearing it ("" when none).
std::string TakeEvalError();

class EvalNode {
 public:
  virtual ~EvalNode() = default;
  // Evaluates on `row` (the values of the input schema, by field index). Strings in the
  // result point into `row`'s strings, into this node tree's constants, or into `arena`.
  virtual Value Eval(const Value* row, Arena* arena) const = 0;
};
using EvalPtr = std::unique_ptr<EvalNode>;

class CompiledExpr {
 public:
  CompiledExpr() = default;
  CompiledExpr(CompiledExpr&&) = default;
  CompiledExpr& operator=(CompiledExpr&&) = default;

  // `e` must have passed CheckExpr (kInvalidArgument for unchecked or untyped trees, e.g. a
  // bare `null` whose type nothing determines).
  static Result<CompiledExpr> Compile(const Expr& e);

  Value Eval(const Value* row, Arena* arena) const { return root_->Eval(row, arena); }
  // Filter semantics: only a non-null true passes.
  bool EvalPredicate(const Value* row, Arena* arena) const {
    Value v = root_->Eval(row, arena);
    return !v.null && v.b;
  }
  ExprType type() const { return type_; }
  bool nullable() const { return nullable_; }

 private:
  std::unique_ptr<EvalNode> root_;
  ExprType type_ = ExprType::kNull;
  bool nullable_ = true;
};

}  // namespace impulse::plan
