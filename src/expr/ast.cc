#include "expr/ast.h"
#include "event/timestamp.h"

#include <charconv>
#include <cstdio>

namespace impulse::plan {

std::string_view ExprTypeName(ExprType t) {
  switch (t) {
    case ExprType::kInt64: return "int64";
    case ExprType::kDouble: return "double";
    case ExprType::kBool: return "bool";
    case ExprType::kString: return "string";
    case ExprType::kTimestamp: return "timestamp";
    case ExprType::kNull: return "null";
    case ExprType::kError: return "error";
  }
  return "unknown";
}

ExprType FromFieldType(FieldType t) {
  switch (t) {
    case FieldType::kInt64: return ExprType::kInt64;
    case FieldType::kDouble: return ExprType::kDouble;
    case FieldType::kBool: return ExprType::kBool;
    case FieldType::kString: return ExprType::kString;
    case FieldType::kTimestamp: return ExprType::kTimestamp;
  }
  return ExprType::kError;
}

FieldType ToFieldType(ExprType t) {
  switch (t) {
    case ExprType::kInt64: return FieldType::kInt64;
    case ExprType::kDouble: return FieldType::kDouble;
    case ExprType::kBool: return FieldType::kBool;
    case ExprType::kTimestamp: return FieldType::kTimestamp;
    default: return FieldType::kString;
  }
}

std::string_view BinOpName(BinOp op) {
  switch (op) {
    case BinOp::kAdd: return "+";
    case BinOp::kSub: return "-";
    case BinOp::kMul: return "*";
    case BinOp::kDiv: return "/";
    case BinOp::kMod: return "%";
    case BinOp::kEq: return "=";
    case BinOp::kNe: return "!=";
    case BinOp::kLt: return "<";
    case BinOp::kLe: return "<=";
    case BinOp::kGt: return ">";
    case BinOp::kGe: return ">=";
    case BinOp::kAnd: return "and";
    case BinOp::kOr: return "or";
  }
  return "?";
}

namespace {

std::string Quote(std::string_view s, char q) {
  std::string out(1, q);
  for (char c : s) {
    if (c == q) out.push_back(q);
    out.push_back(c);
  }
  out.push_back(q);
  return out;
}

void Append(const Expr& e, std::string* out) {
  auto child = [&](size_t i) { Append(*e.children[i], out); };
  switch (e.kind) {
    case ExprKind::kLiteral:
      switch (e.literal_type) {
        case ExprType::kInt64: *out += std::to_string(e.literal.i64); break;
        case ExprType::kDouble: {
          char buf[32];
          auto r = std::to_chars(buf, buf + sizeof(buf), e.literal.f64);
          std::string s(buf, r.ptr);
          if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
          *out += s;
          break;
        }
        case ExprType::kBool: *out += e.literal.b ? "true" : "false"; break;
        case ExprType::kString: *out += Quote(e.text, '\''); break;
        case ExprType::kTimestamp:
          *out += "timestamp '";
          AppendTimestampIso(e.literal.i64, out);
          *out += "'";
          break;
        default: *out += "null"; break;
      }
      return;
    case ExprKind::kField: *out += Quote(e.text, '`'); return;
    case ExprKind::kUnary:
      *out += e.un == UnOp::kNeg ? "(-" : "(not ";
      child(0);
      *out += ")";
      return;
    case ExprKind::kBinary:
      *out += "(";
      child(0);
      *out += " " + std::string(BinOpName(e.bin)) + " ";
      child(1);
      *out += ")";
      return;
    case ExprKind::kIsNull:
      *out += "(";
      child(0);
      *out += e.negated ? " is not null)" : " is null)";
      return;
    case ExprKind::kBetween:
      *out += "(";
      child(0);
      *out += e.negated ? " not between " : " between ";
      child(1);
      *out += " and ";
      child(2);
      *out += ")";
      return;
    case ExprKind::kIn:
      *out += "(";
      child(0);
      *out += e.negated ? " not in (" : " in (";
      for (size_t i = 1; i < e.children.size(); ++i) {
        if (i > 1) *out += ", ";
        child(i);
      }
      *out += "))";
      return;
    case ExprKind::kCall:
    case ExprKind::kIf:
      *out += e.text + "(";
      for (size_t i = 0; i < e.children.size(); ++i) {
        if (i > 0) *out += ", ";
        child(i);
      }
      *out += ")";
      return;
    case ExprKind::kCast:
      *out += "cast(";
      child(0);
      *out += " as " + std::string(ExprTypeName(e.cast_to)) + ")";
      return;
    case ExprKind::kCase: {
      *out += "case";
      size_t arms = (e.children.size() - (e.has_else ? 1 : 0)) / 2;
      for (size_t i = 0; i < arms; ++i) {
        *out += " when ";
        child(2 * i);
        *out += " then ";
        child(2 * i + 1);
      }
      if (e.has_else) {
        *out += " else ";
        child(e.children.size() - 1);
      }
      *out += " end";
      return;
    }
  }
}

}  // namespace

std::string ExprToString(const Expr& e) {
  std::string out;
  Append(e, &out);
  return out;
}

}  // namespace impulse::plan
