#include "expr/check.h"

#include <string>

#include "common/suggest.h"
#include "expr/parser.h"

namespace impulse::plan {
namespace {

struct FuncInfo {
  std::string_view name;
  Func func;
  int min_args;
  int max_args;  // -1 = variadic (bounded by kExprArgsMax)
};

constexpr FuncInfo kFuncs[] = {
    {"lower", Func::kLower, 1, 1},
    {"upper", Func::kUpper, 1, 1},
    {"concat", Func::kConcat, 1, -1},
    {"substr", Func::kSubstr, 2, 3},
    {"starts_with", Func::kStartsWith, 2, 2},
    {"ends_with", Func::kEndsWith, 2, 2},
    {"contains", Func::kContains, 2, 2},
    {"length", Func::kLength, 1, 1},
    {"abs", Func::kAbs, 1, 1},
    {"min", Func::kMin, 1, -1},
    {"max", Func::kMax, 1, -1},
    {"round", Func::kRound, 1, 2},
    {"floor", Func::kFloor, 1, 1},
    {"ceil", Func::kCeil, 1, 1},
    {"log", Func::kLog, 1, 1},
    {"log10", Func::kLog10, 1, 1},
    {"exp", Func::kExp, 1, 1},
    {"sqrt", Func::kSqrt, 1, 1},
    {"pow", Func::kPow, 2, 2},
    {"coalesce", Func::kCoalesce, 1, -1},
    {"hour", Func::kHour, 1, 1},
    {"minute", Func::kMinute, 1, 1},
    {"second", Func::kSecond, 1, 1},
    {"day_of_week", Func::kDayOfWeek, 1, 1},
    {"day_of_month", Func::kDayOfMonth, 1, 1},
    {"month", Func::kMonth, 1, 1},
    {"year", Func::kYear, 1, 1},
    {"date_trunc_day", Func::kDateTruncDay, 1, 1},
};

bool IsNumeric(ExprType t) { return t == ExprType::kInt64 || t == ExprType::kDouble; }

// The common type of two branch/argument types: equal types, int64+double -> double, null
// unifies with anything. nullopt when incompatible.
std::optional<ExprType> Unify(ExprType a, ExprType b) {
  if (a == ExprType::kNull) return b;
  if (b == ExprType::kNull) return a;
  if (a == b) return a;
  if (IsNumeric(a) && IsNumeric(b)) return ExprType::kDouble;
  return std::nullopt;
}

bool Comparable(ExprType a, ExprType b) {
  if (a == ExprType::kNull || b == ExprType::kNull || a == b) return true;
  if (IsNumeric(a) && IsNumeric(b)) return true;
  // Timestamps compare with integer milliseconds.
  return (a == ExprType::kTimestamp && b == ExprType::kInt64) || (a == ExprType::kInt64 && b == ExprType::kTimestamp);
}

class Checker {
 public:
  Checker(const Schema& schema, std::vector<ExprDiag>* diags) : schema_(schema), diags_(diags) {}

  bool ok() const { return errors_ == 0; }

  void Check(Expr* e) {
    for (auto& c : e->children) Check(c.get());
    e->type = ExprType::kError;
    e->nullable = true;
    for (auto& c : e->children) {
      if (c->type == ExprType::kError) return;  // already reported
    }
    switch (e->kind) {
      case ExprKind::kLiteral:
        e->type = e->literal_type;
        e->nullable = e->literal_type == ExprType::kNull;
        return;
      case ExprKind::kField: return CheckField(e);
      case ExprKind::kUnary: return CheckUnary(e);
      case ExprKind::kBinary: return CheckBinary(e);
      case ExprKind::kIsNull:
        e->type = ExprType::kBool;
        e->nullable = false;
        return;
      case ExprKind::kBetween:
      case ExprKind::kIn: return CheckMembership(e);
      case ExprKind::kCall: return CheckCall(e);
      case ExprKind::kCast: return CheckCast(e);
      case ExprKind::kIf:
      case ExprKind::kCase: return CheckConditional(e);
    }
  }

 private:
  void Error(uint32_t pos, std::string message) {
    ++errors_;
    diags_->push_back({pos, std::move(message)});
  }
  static bool AnyNullable(const Expr& e) {
    for (auto& c : e.children) {
      if (c->nullable) return true;
    }
    return false;
  }
  static std::string TypeName(ExprType t) { return std::string(ExprTypeName(t)); }

  void CheckField(Expr* e) {
    int idx = schema_.FieldIndex(e->text);
    if (idx < 0) {
      std::vector<std::string_view> names;
      for (const Field& f : schema_.fields()) names.push_back(f.name);
      Error(e->pos, "unknown field '" + e->text + "'" + DidYouMean(e->text, names));
      return;
    }
    const Field& f = schema_.field(static_cast<size_t>(idx));
    e->field_index = idx;
    e->type = FromFieldType(f.type);
    e->nullable = f.nullable;
  }

  void CheckUnary(Expr* e) {
    ExprType t = e->children[0]->type;
    if (e->un == UnOp::kNot) {
      if (t != ExprType::kBool && t != ExprType::kNull) return Error(e->pos, "NOT expects bool, got " + TypeName(t));
      e->type = ExprType::kBool;
      e->nullable = e->children[0]->nullable;
      return;
    }
    if (!IsNumeric(t) && t != ExprType::kNull) return Error(e->pos, "cannot negate " + TypeName(t));
    e->type = t == ExprType::kNull ? ExprType::kInt64 : t;
    e->nullable = e->children[0]->nullable || t == ExprType::kInt64;  // -INT64_MIN overflows
  }

  void CheckBinary(Expr* e) {
    ExprType a = e->children[0]->type, b = e->children[1]->type;
    std::string op(BinOpName(e->bin));
    e->nullable = AnyNullable(*e);
    switch (e->bin) {
      case BinOp::kAnd:
      case BinOp::kOr:
        for (auto& c : e->children) {
          if (c->type != ExprType::kBool && c->type != ExprType::kNull) {
            return Error(c->pos, (e->bin == BinOp::kAnd ? "AND" : "OR") + std::string(" expects bool operands, got ") +
                                     TypeName(c->type));
          }
        }
        e->type = ExprType::kBool;
        return;
      case BinOp::kEq:
      case BinOp::kNe:
      case BinOp::kLt:
      case BinOp::kLe:
      case BinOp::kGt:
      case BinOp::kGe:
        if (!Comparable(a, b)) return Error(e->pos, "cannot compare " + TypeName(a) + " with " + TypeName(b));
        e->type = ExprType::kBool;
        return;
      default: break;
    }
    // Arithmetic.
    if (a == ExprType::kNull) a = b == ExprType::kNull ? ExprType::kInt64 : b;
    if (b == ExprType::kNull) b = a;
    bool ts_arith = false;
    if (IsNumeric(a) && IsNumeric(b)) {
      e->type = (a == ExprType::kDouble || b == ExprType::kDouble) ? ExprType::kDouble : ExprType::kInt64;
    } else if ((a == ExprType::kTimestamp && b == ExprType::kInt64 &&
                (e->bin == BinOp::kAdd || e->bin == BinOp::kSub)) ||
               (a == ExprType::kInt64 && b == ExprType::kTimestamp && e->bin == BinOp::kAdd)) {
      e->type = ExprType::kTimestamp;  // timestamp +- ms, ms + timestamp
      ts_arith = true;
    } else if (a == ExprType::kTimestamp && b == ExprType::kTimestamp && e->bin == BinOp::kSub) {
      e->type = ExprType::kInt64;  // difference in ms
      ts_arith = true;
    } else {
      std::string hint = (a == ExprType::kString || b == ExprType::kString) ? " (use concat() for strings)" : "";
      return Error(e->pos, "cannot apply '" + op + "' to " + TypeName(a) + " and " + TypeName(b) + hint);
    }
    // int64 overflow and division/modulo by zero produce null.
    if (e->type != ExprType::kDouble || ts_arith || e->bin == BinOp::kDiv || e->bin == BinOp::kMod) e->nullable = true;
  }

  void CheckMembership(Expr* e) {
    ExprType x = e->children[0]->type;
    for (size_t i = 1; i < e->children.size(); ++i) {
      const Expr& item = *e->children[i];
      if (!Comparable(x, item.type)) {
        return Error(item.pos, "cannot compare " + TypeName(x) + " with " + TypeName(item.type));
      }
    }
    e->type = ExprType::kBool;
    e->nullable = AnyNullable(*e);
  }

  // Unifies children [first, first+step, ...] (or `indexes`) into e->type; `what` names them.
  bool UnifyChildren(Expr* e, const std::vector<size_t>& indexes, std::string_view what) {
    ExprType t = ExprType::kNull;
    for (size_t i : indexes) {
      const Expr& c = *e->children[i];
      std::optional<ExprType> u = Unify(t, c.type);
      if (!u) {
        Error(c.pos, std::string(what) + " have different types: " + TypeName(t) + " and " + TypeName(c.type));
        return false;
      }
      t = *u;
    }
    e->type = t;
    return true;
  }

  void CheckConditional(Expr* e) {
    std::vector<size_t> conds, values;
    if (e->kind == ExprKind::kIf) {
      if (e->children.size() != 3) {
        return Error(e->pos, "function 'if' expects 3 arguments, got " + std::to_string(e->children.size()));
      }
      conds = {0};
      values = {1, 2};
    } else {
      size_t arms = (e->children.size() - (e->has_else ? 1 : 0)) / 2;
      for (size_t i = 0; i < arms; ++i) {
        conds.push_back(2 * i);
        values.push_back(2 * i + 1);
      }
      if (e->has_else) values.push_back(e->children.size() - 1);
    }
    for (size_t i : conds) {
      const Expr& c = *e->children[i];
      if (c.type != ExprType::kBool && c.type != ExprType::kNull) {
        return Error(c.pos, "condition must be bool, got " + TypeName(c.type));
      }
    }
    if (!UnifyChildren(e, values, e->kind == ExprKind::kIf ? "if() branches" : "CASE branches")) {
      e->type = ExprType::kError;
      return;
    }
    e->nullable = e->kind == ExprKind::kCase && !e->has_else;
    for (size_t i : values) e->nullable |= e->children[i]->nullable;
  }

  void CheckCast(Expr* e) {
    ExprType from = e->children[0]->type, to = e->cast_to;
    bool ok = from == ExprType::kNull || from == to || to == ExprType::kString || from == ExprType::kString ||
              (IsNumeric(from) && IsNumeric(to)) ||
              ((from == ExprType::kInt64 || from == ExprType::kDouble) && to == ExprType::kTimestamp) ||
              (from == ExprType::kTimestamp && IsNumeric(to)) || (from == ExprType::kBool && IsNumeric(to)) ||
              (IsNumeric(from) && to == ExprType::kBool);
    if (!ok) return Error(e->pos, "cannot cast " + TypeName(from) + " to " + TypeName(to));
    e->type = to;
    bool may_fail = (from == ExprType::kString && to != ExprType::kString) ||
                    (from == ExprType::kDouble && (to == ExprType::kInt64 || to == ExprType::kTimestamp));
    e->nullable = e->children[0]->nullable || may_fail;
  }

  // Checks that argument `i` has one of the accepted types (null always accepted).
  bool ExpectArg(Expr* e, size_t i, std::initializer_list<ExprType> accepted, std::string_view what) {
    ExprType t = e->children[i]->type;
    if (t == ExprType::kNull) return true;
    for (ExprType a : accepted) {
      if (t == a) return true;
    }
    Error(e->children[i]->pos, "function '" + e->text + "' expects " + std::string(what) + " for argument " +
                                   std::to_string(i + 1) + ", got " + TypeName(t));
    return false;
  }

  void CheckCall(Expr* e) {
    const FuncInfo* info = nullptr;
    for (const FuncInfo& f : kFuncs) {
      if (f.name == e->text) info = &f;
    }
    if (info == nullptr) {
      std::vector<std::string_view> names(BuiltinFunctionNames());
      names.push_back("if");
      names.push_back("cast");
      return Error(e->pos, "unknown function '" + e->text + "'" + DidYouMean(e->text, names));
    }
    int n = static_cast<int>(e->children.size());
    if (n < info->min_args || (info->max_args >= 0 && n > info->max_args)) {
      std::string expected = info->max_args < 0 ? "at least " + std::to_string(info->min_args)
                             : info->min_args == info->max_args
                                 ? std::to_string(info->min_args)
                                 : std::to_string(info->min_args) + " to " + std::to_string(info->max_args);
      return Error(e->pos, "function '" + e->text + "' expects " + expected + " argument" +
                               (expected == "1" ? "" : "s") + ", got " + std::to_string(n));
    }
    e->func = info->func;
    e->nullable = AnyNullable(*e);
    // NOLINTNEXTLINE(readability-identifier-naming): one-letter types keep the signature table readable
    constexpr auto S = ExprType::kString, I = ExprType::kInt64, D = ExprType::kDouble, T = ExprType::kTimestamp;
    bool ok = true;
    switch (info->func) {
      case Func::kLower:
      case Func::kUpper:
      case Func::kConcat:
        for (size_t i = 0; i < e->children.size(); ++i) ok = ExpectArg(e, i, {S}, "string") && ok;
        e->type = S;
        break;
      case Func::kSubstr:
        ok = ExpectArg(e, 0, {S}, "string");
        ok = ExpectArg(e, 1, {I}, "int64") && ok;
        if (n == 3) ok = ExpectArg(e, 2, {I}, "int64") && ok;
        e->type = S;
        break;
      case Func::kStartsWith:
      case Func::kEndsWith:
      case Func::kContains:
        ok = ExpectArg(e, 0, {S}, "string");
        ok = ExpectArg(e, 1, {S}, "string") && ok;
        e->type = ExprType::kBool;
        break;
      case Func::kLength:
        ok = ExpectArg(e, 0, {S}, "string");
        e->type = I;
        break;
      case Func::kAbs:
      case Func::kFloor:
      case Func::kCeil:
      case Func::kRound:
        ok = ExpectArg(e, 0, {I, D}, "a number");
        if (n == 2) ok = ExpectArg(e, 1, {I}, "int64") && ok;
        e->type = e->children[0]->type == ExprType::kNull ? D : e->children[0]->type;
        if (info->func == Func::kAbs && e->type == I) e->nullable = true;  // abs(INT64_MIN)
        break;
      case Func::kLog:
      case Func::kLog10:
      case Func::kExp:
      case Func::kSqrt:
      case Func::kPow:
        for (size_t i = 0; i < e->children.size(); ++i) ok = ExpectArg(e, i, {I, D}, "a number") && ok;
        e->type = D;
        e->nullable = true;  // domain errors and overflow give null
        break;
      case Func::kMin:
      case Func::kMax:
      case Func::kCoalesce: {
        std::vector<size_t> all;
        for (size_t i = 0; i < e->children.size(); ++i) all.push_back(i);
        ok = UnifyChildren(e, all, "arguments of '" + e->text + "'");
        if (ok && info->func != Func::kCoalesce && e->type == ExprType::kBool) {
          ok = false;
          Error(e->pos, "function '" + e->text + "' does not accept bool");
        }
        if (info->func == Func::kCoalesce) {
          e->nullable = true;
          for (auto& c : e->children) e->nullable &= c->nullable;
        }
        break;
      }
      case Func::kHour:
      case Func::kMinute:
      case Func::kSecond:
      case Func::kDayOfWeek:
      case Func::kDayOfMonth:
      case Func::kMonth:
      case Func::kYear:
        ok = ExpectArg(e, 0, {T}, "timestamp");
        e->type = I;
        break;
      case Func::kDateTruncDay:
        ok = ExpectArg(e, 0, {T}, "timestamp");
        e->type = T;
        break;
      case Func::kNone: ok = false; break;
    }
    if (!ok) e->type = ExprType::kError;
  }

  const Schema& schema_;
  std::vector<ExprDiag>* diags_;
  int errors_ = 0;
};

}  // namespace

const std::vector<std::string_view>& BuiltinFunctionNames() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const FuncInfo& f : kFuncs) v.push_back(f.name);
    return v;
  }();
  return names;
}

bool CheckExpr(Expr* e, const Schema& schema, std::vector<ExprDiag>* diags) {
  Checker checker(schema, diags);
  checker.Check(e);
  return checker.ok();
}

ExprPtr ParseAndCheck(std::string_view text, const Schema& schema, std::vector<ExprDiag>* diags) {
  ExprPtr e = ParseExpr(text, diags);
  if (!e || !CheckExpr(e.get(), schema, diags)) return nullptr;
  return e;
}

}  // namespace impulse::plan
