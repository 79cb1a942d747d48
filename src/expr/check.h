// Type checker: annotates a parsed expression in place against an input schema (types,
// nullability, field indexes, function ids) and reports every error it finds, each at the
// offset of the offending token. Subtrees that already failed get ExprType::kError and do not
// produce follow-on errors. Load time only.
//
// Nullability is static: a node is nullable if it can produce null for some non-null input
// (nullable fields, null literals, division by zero, int64 overflow, failing casts, math
// domain errors), so derived schemas carry exact `nullable` flags.
#pragma once

#include <string_view>
#include <vector>

#include "expr/ast.h"
#include "impulse/schema.h"

namespace impulse::plan {

// Returns true when `e` type-checks; otherwise appends the errors to `diags`.
bool CheckExpr(Expr* e, const Schema& schema, std::vector<ExprDiag>* diags);

// Parses and checks `text`; nullptr after appending the errors to `diags`.
ExprPtr ParseAndCheck(std::string_view text, const Schema& schema, std::vector<ExprDiag>* diags);

// Names of all built-in functions (for documentation and suggestions).
const std::vector<std::string_view>& BuiltinFunctionNames();

}  // namespace impulse::plan
