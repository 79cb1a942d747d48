// Expression text -> untyped AST (precedence climbing). Load time only.
//
// Grammar, lowest precedence first:
//   or  <  and  <  not  <  comparison (= == != <> < <= > >=, IS [NOT] NULL, [NOT] BETWEEN,
//   [NOT] IN)  <  + -  <  * / %  <  unary -  <  primary
// primary: literal | field | `quoted field` | func(args) | (expr) | CASE ... END |
//          CAST(x AS type) | TIMESTAMP 'iso-8601'
// Keywords are case-insensitive. Bounded by kExprTextBytesMax, kExprDepthMax, kExprArgsMax.
#pragma once

#include <string_view>
#include <vector>

#include "expr/ast.h"

namespace impulse::plan {

// Returns the AST, or nullptr after appending the first syntax error to `diags`.
ExprPtr ParseExpr(std::string_view text, std::vector<ExprDiag>* diags);

}  // namespace impulse::plan
