// The expression AST: what the parser builds and the type checker annotates. Nodes carry the
// byte offset of their token in the source text so errors point at the right column. A checked
// tree (every node's `type` set, field references resolved to indexes, functions to ids) is the
// "typed expression" a LogicalOp holds; the evaluator compiler (expr_eval.h) consumes it.
// Immutable once checked; safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "impulse/row.h"
#include "impulse/schema.h"

namespace impulse::plan {

// Static type of an expression. kNull is the type of the bare `null` literal (it unifies with
// any other type); kError marks a subtree that already produced an error (no cascades).
enum class ExprType : uint8_t { kInt64, kDouble, kBool, kString, kTimestamp, kNull, kError };

std::string_view ExprTypeName(ExprType t);
ExprType FromFieldType(FieldType t);
// kNull and kError have no field type; callers check first.
FieldType ToFieldType(ExprType t);

// Bounds that keep parsing, checking and evaluation recursion and memory bounded.
inline constexpr size_t kExprTextBytesMax = size_t{64} * 1024;
// Nesting the parser recurses on: parentheses, unary operators, function calls, CASE arms.
inline constexpr int kExprDepthMax = 128;
// Height of the operator tree. A flat chain `a + b + c ...` is parsed in a loop (not nesting),
// but it builds a left-deep tree that the checker, compiler and evaluator walk recursively, so
// its height gets its own, larger bound (1024 levels stay well inside a thread's stack, even
// with sanitizer-sized frames).
inline constexpr int kExprHeightMax = 1024;
inline constexpr size_t kExprArgsMax = 1024;  // function arguments, IN list items, CASE arms

enum class ExprKind : uint8_t {
  kLiteral,  // value in `literal` (+ `text` for strings); type from the literal
  kField,    // `name`; checker sets `field_index`
  kUnary,    // op: kNeg or kNot; children[0]
  kBinary,   // op in BinOp; children[0], children[1]
  kIsNull,   // children[0]; `negated` for IS NOT NULL
  kBetween,  // children: x, lo, hi; `negated`
  kIn,       // children: x, items...; `negated`
  kCall,     // `name` (lower-cased); children = args; checker sets `func`
  kCast,     // children[0]; `cast_to`
  kIf,       // children: cond, then, else
  kCase,     // children: c1, v1, c2, v2, ..., [else]; `has_else`
};

enum class BinOp : uint8_t { kAdd, kSub, kMul, kDiv, kMod, kEq, kNe, kLt, kLe, kGt, kGe, kAnd, kOr };
enum class UnOp : uint8_t { kNeg, kNot };

// Built-in functions, resolved by name at check time.
enum class Func : uint8_t {
  kNone,
  kLower,
  kUpper,
  kConcat,
  kSubstr,
  kStartsWith,
  kEndsWith,
  kContains,
  kLength,
  kAbs,
  kMin,
  kMax,
  kRound,
  kFloor,
  kCeil,
  kLog,
  kLog10,
  kExp,
  kSqrt,
  kPow,
  kCoalesce,
  kHour,
  kMinute,
  kSecond,
  kDayOfWeek,
  kDayOfMonth,
  kMonth,
  kYear,
  kDateTruncDay,
};

std::string_view BinOpName(BinOp op);

// One problem found in an expression: `pos` is the byte offset in the expression text.
struct ExprDiag {
  uint32_t pos = 0;
  std::string message;
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  int depth = 1;     // height of the subtree (bounded by kExprDepthMax)
  uint32_t pos = 0;  // byte offset of the node's leading token in the expression text
  // Literal payload: numbers and bools in `literal`, strings in `text`; `literal_type` says
  // which (kNull for the null literal).
  Value literal;
  ExprType literal_type = ExprType::kNull;
  std::string text;  // string literal contents, or field/function name
  BinOp bin = BinOp::kAdd;
  UnOp un = UnOp::kNeg;
  bool negated = false;
  bool has_else = false;
  ExprType cast_to = ExprType::kNull;
  std::vector<std::unique_ptr<Expr>> children;

  // Set by the checker.
  ExprType type = ExprType::kError;
  bool nullable = true;
  int field_index = -1;
  Func func = Func::kNone;
};

using ExprPtr = std::unique_ptr<Expr>;

// Renders the tree back to text (for plan printing and tests).
std::string ExprToString(const Expr& e);

}  // namespace impulse::plan
