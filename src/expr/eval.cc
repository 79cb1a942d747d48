#include "expr/eval.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "expr/nodes.h"

namespace impulse::plan {
namespace {

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

class ConstNode final : public EvalNode {
 public:
  explicit ConstNode(Value v) : v_(v) {}
  explicit ConstNode(std::string s) : s_(std::move(s)) { v_ = Value::String(s_); }
  Value Eval(const Value*, Arena*) const override { return v_; }

 private:
  std::string s_;  // storage for string constants
  Value v_;
};

class FieldNode final : public EvalNode {
 public:
  explicit FieldNode(int index) : index_(index) {}
  Value Eval(const Value* row, Arena*) const override { return row[index_]; }

 private:
  int index_;
};

class IntToDoubleNode final : public EvalNode {
 public:
  explicit IntToDoubleNode(EvalPtr x) : x_(std::move(x)) {}
  Value Eval(const Value* row, Arena* arena) const override {
    Value v = x_->Eval(row, arena);
    return v.null ? v : Value::Double(static_cast<double>(v.i64));
  }

 private:
  EvalPtr x_;
};

// --- Arithmetic -------------------------------------------------------------------------------

template <BinOp Op>
class IntArithNode final : public EvalNode {
 public:
  IntArithNode(EvalPtr l, EvalPtr r) : l_(std::move(l)), r_(std::move(r)) {}
  Value Eval(const Value* row, Arena* arena) const override {
    Value a = l_->Eval(row, arena);
    if (a.null) return a;
    Value b = r_->Eval(row, arena);
    if (b.null) return b;
    int64_t out = 0;
    if constexpr (Op == BinOp::kAdd) {
      if (__builtin_add_overflow(a.i64, b.i64, &out)) return Value::Null();
    } else if constexpr (Op == BinOp::kSub) {
      if (__builtin_sub_overflow(a.i64, b.i64, &out)) return Value::Null();
    } else if constexpr (Op == BinOp::kMul) {
      if (__builtin_mul_overflow(a.i64, b.i64, &out)) return Value::Null();
    } else if constexpr (Op == BinOp::kDiv) {
      if (b.i64 == 0 || (a.i64 == kInt64Min && b.i64 == -1)) return Value::Null();
      out = a.i64 / b.i64;  // truncates toward zero, like SQL
    } else {
      if (b.i64 == 0) return Value::Null();
      out = b.i64 == -1 ? 0 : a.i64 % b.i64;
    }
    return Value::Int(out);
  }

 private:
  EvalPtr l_, r_;
};

template <BinOp Op>
class DoubleArithNode final : public EvalNode {
 public:
  DoubleArithNode(EvalPtr l, EvalPtr r) : l_(std::move(l)), r_(std::move(r)) {}
  Value Eval(const Value* row, Arena* arena) const override {
    Value a = l_->Eval(row, arena);
    if (a.null) return a;
    Value b = r_->Eval(row, arena);
    if (b.null) return b;
    if constexpr (Op == BinOp::kAdd) return Value::Double(a.f64 + b.f64);
    if constexpr (Op == BinOp::kSub) return Value::Double(a.f64 - b.f64);
    if constexpr (Op == BinOp::kMul) return Value::Double(a.f64 * b.f64);
    if constexpr (Op == BinOp::kDiv) return b.f64 == 0 ? Value::Null() : Value::Double(a.f64 / b.f64);
    if constexpr (Op == BinOp::kMod) return b.f64 == 0 ? Value::Null() : Value::Double(std::fmod(a.f64, b.f64));
    return Value::Null();
  }

 private:
  EvalPtr l_, r_;
};

class NegNode final : public EvalNode {
 public:
  NegNode(EvalPtr x, bool is_double) : x_(std::move(x)), double_(is_double) {}
  Value Eval(const Value* row, Arena* arena) const override {
    Value v = x_->Eval(row, arena);
    if (v.null) return v;
    if (double_) return Value::Double(-v.f64);
    return v.i64 == kInt64Min ? Value::Null() : Value::Int(-v.i64);
  }

 private:
  EvalPtr x_;
  bool double_;
};

// --- Comparison -------------------------------------------------------------------------------

enum class CmpKind : uint8_t { kInt, kDouble, kBool, kString };

template <CmpKind K>
inline int Compare3(const Value& a, const Value& b) {
  if constexpr (K == CmpKind::kInt) return (a.i64 > b.i64) - (a.i64 < b.i64);
  if constexpr (K == CmpKind::kDouble) return (a.f64 > b.f64) - (a.f64 < b.f64);
  if constexpr (K == CmpKind::kBool) return static_cast<int>(a.b) - static_cast<int>(b.b);
  if constexpr (K == CmpKind::kString) {
    int c = a.sv().compare(b.sv());
    return (c > 0) - (c < 0);
  }
  return 0;
}

template <BinOp Op, CmpKind K>
inline bool CompareOp(const Value& a, const Value& b) {
  if constexpr (K == CmpKind::kInt) {
    if constexpr (Op == BinOp::kEq) return a.i64 == b.i64;
    if constexpr (Op == BinOp::kNe) return a.i64 != b.i64;
    if constexpr (Op == BinOp::kLt) return a.i64 < b.i64;
    if constexpr (Op == BinOp::kLe) return a.i64 <= b.i64;
    if constexpr (Op == BinOp::kGt) return a.i64 > b.i64;
    return a.i64 >= b.i64;
  } else if constexpr (K == CmpKind::kDouble) {
    if constexpr (Op == BinOp::kEq) return a.f64 == b.f64;
    if constexpr (Op == BinOp::kNe) return a.f64 != b.f64;
    if constexpr (Op == BinOp::kLt) return a.f64 < b.f64;
    if constexpr (Op == BinOp::kLe) return a.f64 <= b.f64;
    if constexpr (Op == BinOp::kGt) return a.f64 > b.f64;
    return a.f64 >= b.f64;
  } else {
    int c = Compare3<K>(a, b);
    if constexpr (Op == BinOp::kEq) return c == 0;
    if constexpr (Op == BinOp::kNe) return c != 0;
    if constexpr (Op == BinOp::kLt) return c < 0;
    if constexpr (Op == BinOp::kLe) return c <= 0;
    if constexpr (Op == BinOp::kGt) return c > 0;
    return c >= 0;
  }
}

template <BinOp Op, CmpKind K>
class CompareNode final : public EvalNode {
 public:
  CompareNode(EvalPtr l, EvalPtr r) : l_(std::move(l)), r_(std::move(r)) {}
  Value Eval(const Value* row, Arena* arena) const override {
    Value a = l_->Eval(row, arena);
    if (a.null) return a;
    Value b = r_->Eval(row, arena);
    if (b.null) return b;
    return Value::Bool(CompareOp<Op, K>(a, b));
  }

 private:
  EvalPtr l_, r_;
};

// `x op constant`: the common filter shape, one virtual call fewer.
template <BinOp Op, CmpKind K>
class CompareConstNode final : public EvalNode {
 public:
  CompareConstNode(EvalPtr l, Value c, std::string storage) : l_(std::move(l)), storage_(std::move(storage)), c_(c) {
    if (K == CmpKind::kString) c_ = Value::String(storage_);
  }
  Value Eval(const Value* row, Arena* arena) const override {
    Value a = l_->Eval(row, arena);
    if (a.null) return a;
    return Value::Bool(CompareOp<Op, K>(a, c_));
  }

 private:
  EvalPtr l_;
  std::string storage_;
  Value c_;
};

template <CmpKind K>
EvalPtr MakeCompare(BinOp op, EvalPtr l, EvalPtr r, const Expr* const_rhs) {
  if (const_rhs != nullptr) {
    Value c = const_rhs->literal;
    if (K == CmpKind::kDouble && const_rhs->literal_type == ExprType::kInt64)
      c = Value::Double(static_cast<double>(c.i64));
    switch (op) {
      case BinOp::kEq: return std::make_unique<CompareConstNode<BinOp::kEq, K>>(std::move(l), c, const_rhs->text);
      case BinOp::kNe: return std::make_unique<CompareConstNode<BinOp::kNe, K>>(std::move(l), c, const_rhs->text);
      case BinOp::kLt: return std::make_unique<CompareConstNode<BinOp::kLt, K>>(std::move(l), c, const_rhs->text);
      case BinOp::kLe: return std::make_unique<CompareConstNode<BinOp::kLe, K>>(std::move(l), c, const_rhs->text);
      case BinOp::kGt: return std::make_unique<CompareConstNode<BinOp::kGt, K>>(std::move(l), c, const_rhs->text);
      default: return std::make_unique<CompareConstNode<BinOp::kGe, K>>(std::move(l), c, const_rhs->text);
    }
  }
  switch (op) {
    case BinOp::kEq: return std::make_unique<CompareNode<BinOp::kEq, K>>(std::move(l), std::move(r));
    case BinOp::kNe: return std::make_unique<CompareNode<BinOp::kNe, K>>(std::move(l), std::move(r));
    case BinOp::kLt: return std::make_unique<CompareNode<BinOp::kLt, K>>(std::move(l), std::move(r));
    case BinOp::kLe: return std::make_unique<CompareNode<BinOp::kLe, K>>(std::move(l), std::move(r));
    case BinOp::kGt: return std::make_unique<CompareNode<BinOp::kGt, K>>(std::move(l), std::move(r));
    default: return std::make_unique<CompareNode<BinOp::kGe, K>>(std::move(l), std::move(r));
  }
}

// x [NOT] BETWEEN lo AND hi == (x >= lo AND x <= hi), three-valued; x evaluated once.
template <CmpKind K>
class BetweenNode final : public EvalNode {
 public:
  BetweenNode(EvalPtr x, EvalPtr lo, EvalPtr hi, bool negated)
      : x_(std::move(x)), lo_(std::move(lo)), hi_(std::move(hi)), negated_(negated) {}
  Value Eval(const Value* row, Arena* arena) const override {
    Value x = x_->Eval(row, arena);
    if (x.null) return x;
    Value lo = lo_->Eval(row, arena), hi = hi_->Eval(row, arena);
    bool ge_false = !lo.null && Compare3<K>(x, lo) < 0;
    bool le_false = !hi.null && Compare3<K>(x, hi) > 0;
    if (ge_false || le_false) return Value::Bool(negated_);
    if (lo.null || hi.null) return Value::Null();
    return Value::Bool(!negated_);
  }

 private:
  EvalPtr x_, lo_, hi_;
  bool negated_;
};

template <CmpKind K>
class InNode final : public EvalNode {
 public:
  InNode(EvalPtr x, std::vector<EvalPtr> items, bool negated)
      : x_(std::move(x)), items_(std::move(items)), negated_(negated) {}
  Value Eval(const Value* row, Arena* arena) const override {
    Value x = x_->Eval(row, arena);
    if (x.null) return x;
    bool saw_null = false;
    for (const EvalPtr& item : items_) {
      Value v = item->Eval(row, arena);
      if (v.null) {
        saw_null = true;
      } else if (Compare3<K>(x, v) == 0) {
        return Value::Bool(!negated_);
      }
    }
    return saw_null ? Value::Null() : Value::Bool(negated_);
  }

 private:
  EvalPtr x_;
  std::vector<EvalPtr> items_;
  bool negated_;
};

// --- Logic ------------------------------------------------------------------------------------

// SQL three-valued AND/OR: false AND null = false, true OR null = true, otherwise null wins.
template <bool kIsAnd>
class LogicNode final : public EvalNode {
 public:
  LogicNode(EvalPtr l, EvalPtr r) : l_(std::move(l)), r_(std::move(r)) {}
  Value Eval(const Value* row, Arena* arena) const override {
    Value a = l_->Eval(row, arena);
    if (!a.null && a.b != kIsAnd) return Value::Bool(!kIsAnd);  // short circuit
    Value b = r_->Eval(row, arena);
    if (!b.null && b.b != kIsAnd) return Value::Bool(!kIsAnd);
    if (a.null || b.null) return Value::Null();
    return Value::Bool(kIsAnd);
  }

 private:
  EvalPtr l_, r_;
};

class NotNode final : public EvalNode {
 public:
  explicit NotNode(EvalPtr x) : x_(std::move(x)) {}
  Value Eval(const Value* row, Arena* arena) const override {
    Value v = x_->Eval(row, arena);
    return v.null ? v : Value::Bool(!v.b);
  }

 private:
  EvalPtr x_;
};

class IsNullNode final : public EvalNode {
 public:
  IsNullNode(EvalPtr x, bool negated) : x_(std::move(x)), negated_(negated) {}
  Value Eval(const Value* row, Arena* arena) const override {
    return Value::Bool(x_->Eval(row, arena).null != negated_);
  }

 private:
  EvalPtr x_;
  bool negated_;
};

// CASE WHEN c1 THEN v1 ... [ELSE v] END; if(c, a, b) is a one-arm CASE. A null condition
// counts as not true.
class CaseNode final : public EvalNode {
 public:
  CaseNode(std::vector<EvalPtr> conds, std::vector<EvalPtr> values, EvalPtr otherwise)
      : conds_(std::move(conds)), values_(std::move(values)), else_(std::move(otherwise)) {}
  Value Eval(const Value* row, Arena* arena) const override {
    for (size_t i = 0; i < conds_.size(); ++i) {
      Value c = conds_[i]->Eval(row, arena);
      if (!c.null && c.b) return values_[i]->Eval(row, arena);
    }
    return else_ ? else_->Eval(row, arena) : Value::Null();
  }

 private:
  std::vector<EvalPtr> conds_, values_;
  EvalPtr else_;
};

// --- Compiler ---------------------------------------------------------------------------------

class Compiler {
 public:
  Status status;

  // Compiles `e`, converting an int64 result to double when `want` is double.
  EvalPtr CompileAs(const Expr& e, ExprType want) {
    EvalPtr n = Compile(e);
    if (n && want == ExprType::kDouble && e.type == ExprType::kInt64)
      return std::make_unique<IntToDoubleNode>(std::move(n));
    return n;
  }

  EvalPtr Compile(const Expr& e) {
    if (!status.ok()) return nullptr;
    if (e.type == ExprType::kError) {
      status = InvalidArgument("expression was not type-checked");
      return nullptr;
    }
    switch (e.kind) {
      case ExprKind::kLiteral:
        if (e.literal_type == ExprType::kString) return std::make_unique<ConstNode>(e.text);
        return std::make_unique<ConstNode>(e.literal);
      case ExprKind::kField: return std::make_unique<FieldNode>(e.field_index);
      case ExprKind::kUnary:
        if (e.un == UnOp::kNot) return std::make_unique<NotNode>(Compile(*e.children[0]));
        return std::make_unique<NegNode>(CompileAs(*e.children[0], e.type), e.type == ExprType::kDouble);
      case ExprKind::kBinary: return CompileBinary(e);
      case ExprKind::kIsNull: return std::make_unique<IsNullNode>(Compile(*e.children[0]), e.negated);
      case ExprKind::kBetween:
      case ExprKind::kIn: return CompileMembership(e);
      case ExprKind::kCast:
        if (e.children[0]->type == ExprType::kNull) return std::make_unique<ConstNode>(Value::Null());
        return MakeCastNode(e.children[0]->type, e.cast_to, Compile(*e.children[0]));
      case ExprKind::kIf:
      case ExprKind::kCase: return CompileCase(e);
      case ExprKind::kCall: {
        std::vector<EvalPtr> args;
        ExprType want = ExprType::kNull;
        switch (e.func) {
          case Func::kMin:
          case Func::kMax:
          case Func::kCoalesce: want = e.type; break;
          case Func::kLog:
          case Func::kLog10:
          case Func::kExp:
          case Func::kSqrt:
          case Func::kPow: want = ExprType::kDouble; break;
          default: break;
        }
        for (size_t i = 0; i < e.children.size(); ++i) args.push_back(CompileAs(*e.children[i], want));
        if (!status.ok()) return nullptr;
        return MakeFunctionNode(e, std::move(args));
      }
    }
    status = Internal("unknown expression kind");
    return nullptr;
  }

 private:
  static CmpKind KindFor(ExprType a, ExprType b) {
    if (a == ExprType::kNull) a = b;
    if (b == ExprType::kNull) b = a;
    if (a == ExprType::kDouble || b == ExprType::kDouble) return CmpKind::kDouble;
    if (a == ExprType::kString) return CmpKind::kString;
    if (a == ExprType::kBool) return CmpKind::kBool;
    return CmpKind::kInt;
  }
  static ExprType WantFor(CmpKind k) { return k == CmpKind::kDouble ? ExprType::kDouble : ExprType::kNull; }

  EvalPtr CompileBinary(const Expr& e) {
    const Expr& a = *e.children[0];
    const Expr& b = *e.children[1];
    switch (e.bin) {
      case BinOp::kAnd: return std::make_unique<LogicNode<true>>(Compile(a), Compile(b));
      case BinOp::kOr: return std::make_unique<LogicNode<false>>(Compile(a), Compile(b));
      case BinOp::kEq:
      case BinOp::kNe:
      case BinOp::kLt:
      case BinOp::kLe:
      case BinOp::kGt:
      case BinOp::kGe: {
        if (a.type == ExprType::kNull || b.type == ExprType::kNull) return std::make_unique<ConstNode>(Value::Null());
        CmpKind k = KindFor(a.type, b.type);
        EvalPtr l = CompileAs(a, WantFor(k));
        const Expr* const_rhs = b.kind == ExprKind::kLiteral ? &b : nullptr;
        EvalPtr r = const_rhs ? nullptr : CompileAs(b, WantFor(k));
        switch (k) {
          case CmpKind::kInt: return MakeCompare<CmpKind::kInt>(e.bin, std::move(l), std::move(r), const_rhs);
          case CmpKind::kDouble: return MakeCompare<CmpKind::kDouble>(e.bin, std::move(l), std::move(r), const_rhs);
          case CmpKind::kBool: return MakeCompare<CmpKind::kBool>(e.bin, std::move(l), std::move(r), const_rhs);
          case CmpKind::kString: return MakeCompare<CmpKind::kString>(e.bin, std::move(l), std::move(r), const_rhs);
        }
        return nullptr;
      }
      default: break;
    }
    if (a.type == ExprType::kNull || b.type == ExprType::kNull) return std::make_unique<ConstNode>(Value::Null());
    // Timestamps do arithmetic as int64 milliseconds.
    ExprType t = e.type == ExprType::kDouble ? ExprType::kDouble : ExprType::kInt64;
    EvalPtr l = CompileAs(a, t), r = CompileAs(b, t);
    if (t == ExprType::kDouble) {
      switch (e.bin) {
        case BinOp::kAdd: return std::make_unique<DoubleArithNode<BinOp::kAdd>>(std::move(l), std::move(r));
        case BinOp::kSub: return std::make_unique<DoubleArithNode<BinOp::kSub>>(std::move(l), std::move(r));
        case BinOp::kMul: return std::make_unique<DoubleArithNode<BinOp::kMul>>(std::move(l), std::move(r));
        case BinOp::kDiv: return std::make_unique<DoubleArithNode<BinOp::kDiv>>(std::move(l), std::move(r));
        default: return std::make_unique<DoubleArithNode<BinOp::kMod>>(std::move(l), std::move(r));
      }
    }
    switch (e.bin) {
      case BinOp::kAdd: return std::make_unique<IntArithNode<BinOp::kAdd>>(std::move(l), std::move(r));
      case BinOp::kSub: return std::make_unique<IntArithNode<BinOp::kSub>>(std::move(l), std::move(r));
      case BinOp::kMul: return std::make_unique<IntArithNode<BinOp::kMul>>(std::move(l), std::move(r));
      case BinOp::kDiv: return std::make_unique<IntArithNode<BinOp::kDiv>>(std::move(l), std::move(r));
      default: return std::make_unique<IntArithNode<BinOp::kMod>>(std::move(l), std::move(r));
    }
  }

  EvalPtr CompileMembership(const Expr& e) {
    const Expr& x = *e.children[0];
    if (x.type == ExprType::kNull) return std::make_unique<ConstNode>(Value::Null());
    ExprType t = x.type;
    for (size_t i = 1; i < e.children.size(); ++i) {
      if (e.children[i]->type == ExprType::kDouble) t = ExprType::kDouble;
    }
    CmpKind k = KindFor(t, t);
    std::vector<EvalPtr> rest;
    for (size_t i = 1; i < e.children.size(); ++i) rest.push_back(CompileAs(*e.children[i], WantFor(k)));
    EvalPtr xn = CompileAs(x, WantFor(k));
    if (e.kind == ExprKind::kBetween) {
      switch (k) {
        case CmpKind::kInt:
          return std::make_unique<BetweenNode<CmpKind::kInt>>(std::move(xn), std::move(rest[0]), std::move(rest[1]),
                                                              e.negated);
        case CmpKind::kDouble:
          return std::make_unique<BetweenNode<CmpKind::kDouble>>(std::move(xn), std::move(rest[0]), std::move(rest[1]),
                                                                 e.negated);
        case CmpKind::kBool:
          return std::make_unique<BetweenNode<CmpKind::kBool>>(std::move(xn), std::move(rest[0]), std::move(rest[1]),
                                                               e.negated);
        case CmpKind::kString:
          return std::make_unique<BetweenNode<CmpKind::kString>>(std::move(xn), std::move(rest[0]), std::move(rest[1]),
                                                                 e.negated);
      }
    }
    switch (k) {
      case CmpKind::kInt: return std::make_unique<InNode<CmpKind::kInt>>(std::move(xn), std::move(rest), e.negated);
      case CmpKind::kDouble:
        return std::make_unique<InNode<CmpKind::kDouble>>(std::move(xn), std::move(rest), e.negated);
      case CmpKind::kBool: return std::make_unique<InNode<CmpKind::kBool>>(std::move(xn), std::move(rest), e.negated);
      case CmpKind::kString:
        return std::make_unique<InNode<CmpKind::kString>>(std::move(xn), std::move(rest), e.negated);
    }
    return nullptr;
  }

  EvalPtr CompileCase(const Expr& e) {
    std::vector<EvalPtr> conds, values;
    EvalPtr otherwise;
    size_t n = e.children.size();
    size_t arms = e.kind == ExprKind::kIf ? 1 : (n - (e.has_else ? 1 : 0)) / 2;
    for (size_t i = 0; i < arms; ++i) {
      conds.push_back(Compile(*e.children[2 * i]));
      values.push_back(CompileAs(*e.children[2 * i + 1], e.type));
    }
    if (e.kind == ExprKind::kIf || e.has_else) otherwise = CompileAs(*e.children[n - 1], e.type);
    return std::make_unique<CaseNode>(std::move(conds), std::move(values), std::move(otherwise));
  }
};

}  // namespace

namespace {
thread_local std::string tls_eval_error_text;
}  // namespace

void NoteEvalError(std::string_view what) {
  if (eval_internal::error_pending) return;
  eval_internal::error_pending = true;
  tls_eval_error_text.assign(what);
}

void eval_internal::NoteOverBudget(size_t bytes) {
  if (bytes > kComputedStringMaxBytes) {
    NoteEvalError("a computed string of " + std::to_string(bytes) + " bytes exceeds the bound of " +
                  std::to_string(kComputedStringMaxBytes));
  } else {
    NoteEvalError("the strings computed for one event exceed the bound of " + std::to_string(kEventComputedBytesMax) +
                  " bytes");
  }
}

std::string TakeEvalError() {
  if (!eval_internal::error_pending) return {};
  eval_internal::error_pending = false;
  return std::move(tls_eval_error_text);
}

Result<CompiledExpr> CompiledExpr::Compile(const Expr& e) {
  if (e.type == ExprType::kNull)
    return InvalidArgument("expression has no type (a bare null); use cast(null as <type>)");
  Compiler compiler;
  EvalPtr root = compiler.Compile(e);
  if (!compiler.status.ok()) return compiler.status;
  if (!root) return Internal("expression compiled to nothing");
  CompiledExpr out;
  out.root_ = std::move(root);
  out.type_ = e.type;
  out.nullable_ = e.nullable;
  return out;
}

}  // namespace impulse::plan
