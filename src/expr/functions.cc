// Evaluator nodes for casts and built-in functions.
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "event/timestamp.h"
#include "expr/nodes.h"

namespace impulse::plan {
namespace {

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kMsPerDay = 86'400'000;
// Doubles in [-2^63, 2^63) convert to int64 exactly by truncation; others are out of range.
constexpr double kTwo63 = 9223372036854775808.0;

Value StringIn(Arena* arena, const char* data, size_t n) {
  if (n == 0) return Value::String(std::string_view());
  if (!ChargeComputedBytes(n)) return Value::Null();
  return Value::String(arena->Copy(std::string_view(data, n)));
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

// UTF-8 code points in s (continuation bytes are not counted).
int64_t CodePoints(std::string_view s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Byte offset of code point `cp` (0-based) in s, or s.size().
size_t ByteOffsetOf(std::string_view s, int64_t cp) {
  int64_t seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (seen == cp) return i;
      ++seen;
    }
  }
  return s.size();
}

Value DoubleOrNull(double d) { return std::isfinite(d) ? Value::Double(d) : Value::Null(); }

template <ExprType From, ExprType To>
class CastNode final : public EvalNode {
 public:
  explicit CastNode(EvalPtr x) : x_(std::move(x)) {}
  Value Eval(const Value* row, Arena* arena) const override {
    Value v = x_->Eval(row, arena);
    if (v.null) return v;
    return CastValue(v, From, To, arena);
  }

 private:
  EvalPtr x_;
};

template <ExprType From>
EvalPtr MakeCastFrom(ExprType to, EvalPtr x) {
  switch (to) {
    case ExprType::kInt64: return std::make_unique<CastNode<From, ExprType::kInt64>>(std::move(x));
    case ExprType::kDouble: return std::make_unique<CastNode<From, ExprType::kDouble>>(std::move(x));
    case ExprType::kBool: return std::make_unique<CastNode<From, ExprType::kBool>>(std::move(x));
    case ExprType::kString: return std::make_unique<CastNode<From, ExprType::kString>>(std::move(x));
    default: return std::make_unique<CastNode<From, ExprType::kTimestamp>>(std::move(x));
  }
}

// Variadic and fixed-arity built-ins. One class, switch on the function id: these are not on
// the hot path of typical filters, and the switch is a predictable branch.
class FunctionNode final : public EvalNode {
 public:
  FunctionNode(Func f, ExprType type, std::vector<EvalPtr> args) : f_(f), type_(type), args_(std::move(args)) {}

  Value Eval(const Value* row, Arena* arena) const override {
    switch (f_) {
      case Func::kCoalesce:
        for (const EvalPtr& a : args_) {
          Value v = a->Eval(row, arena);
          if (!v.null) return v;
        }
        return Value::Null();
      case Func::kConcat: return Concat(row, arena);
      case Func::kMin:
      case Func::kMax: return MinMax(row, arena);
      default: break;
    }
    // Fixed arity (<= 3): evaluate all, null in -> null out.
    Value v[3];
    for (size_t i = 0; i < args_.size() && i < 3; ++i) {
      v[i] = args_[i]->Eval(row, arena);
      if (v[i].null) return Value::Null();
    }
    const bool is_double = type_ == ExprType::kDouble;
    switch (f_) {
      case Func::kLower:
      case Func::kUpper: {
        std::string_view s = v[0].sv();
        if (s.empty()) return v[0];
        if (!ChargeComputedBytes(s.size())) return Value::Null();
        char* out = arena->Allocate(s.size());
        for (size_t i = 0; i < s.size(); ++i) {
          char c = s[i];
          if (f_ == Func::kLower && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
          if (f_ == Func::kUpper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
          out[i] = c;
        }
        return Value::String(std::string_view(out, s.size()));
      }
      case Func::kSubstr: return Substr(v[0].sv(), v[1].i64, args_.size() == 3 ? &v[2].i64 : nullptr);
      case Func::kStartsWith: return Value::Bool(v[0].sv().starts_with(v[1].sv()));
      case Func::kEndsWith: return Value::Bool(v[0].sv().ends_with(v[1].sv()));
      case Func::kContains: return Value::Bool(v[0].sv().find(v[1].sv()) != std::string_view::npos);
      case Func::kLength: return Value::Int(CodePoints(v[0].sv()));
      case Func::kAbs:
        if (is_double) return Value::Double(std::fabs(v[0].f64));
        return v[0].i64 == kInt64Min ? Value::Null() : Value::Int(v[0].i64 < 0 ? -v[0].i64 : v[0].i64);
      case Func::kFloor: return is_double ? Value::Double(std::floor(v[0].f64)) : v[0];
      case Func::kCeil: return is_double ? Value::Double(std::ceil(v[0].f64)) : v[0];
      case Func::kRound: {
        if (!is_double) return v[0];
        int64_t digits = args_.size() == 2 ? v[1].i64 : 0;
        if (digits == 0) return Value::Double(std::round(v[0].f64));
        if (digits > 15 || digits < -15) return digits > 0 ? v[0] : Value::Double(0.0);
        double scale = std::pow(10.0, static_cast<double>(digits));
        return DoubleOrNull(std::round(v[0].f64 * scale) / scale);
      }
      case Func::kLog: return v[0].f64 > 0 ? DoubleOrNull(std::log(v[0].f64)) : Value::Null();
      case Func::kLog10: return v[0].f64 > 0 ? DoubleOrNull(std::log10(v[0].f64)) : Value::Null();
      case Func::kExp: return DoubleOrNull(std::exp(v[0].f64));
      case Func::kSqrt: return v[0].f64 >= 0 ? DoubleOrNull(std::sqrt(v[0].f64)) : Value::Null();
      case Func::kPow: return DoubleOrNull(std::pow(v[0].f64, v[1].f64));
      case Func::kHour: return Value::Int(HourOfDayUtc(v[0].i64));
      case Func::kMinute: return Value::Int(MinuteUtc(v[0].i64));
      case Func::kSecond: return Value::Int(SecondUtc(v[0].i64));
      case Func::kDayOfWeek: return Value::Int(DayOfWeekUtc(v[0].i64));
      case Func::kDayOfMonth: return Value::Int(DayOfMonthUtc(v[0].i64));
      case Func::kMonth: return Value::Int(MonthUtc(v[0].i64));
      case Func::kYear: return Value::Int(YearUtc(v[0].i64));
      case Func::kDateTruncDay: {
        int64_t ms = v[0].i64;
        int64_t days = ms / kMsPerDay - (ms % kMsPerDay < 0 ? 1 : 0);
        return Value::Int(days * kMsPerDay);
      }
      default: return Value::Null();
    }
  }

 private:
  // SQL substr: characters [start, start + len) intersected with [1, length].
  static Value Substr(std::string_view s, int64_t start, const int64_t* len) {
    if (len != nullptr && *len < 0) return Value::Null();
    int64_t first = std::max<int64_t>(start, 1);
    int64_t end = std::numeric_limits<int64_t>::max();  // exclusive, in code points (1-based)
    if (len != nullptr && __builtin_add_overflow(start, *len, &end)) end = std::numeric_limits<int64_t>::max();
    if (end <= first) return Value::String(std::string_view());
    size_t b0 = ByteOffsetOf(s, first - 1);
    size_t b1 = end == std::numeric_limits<int64_t>::max() ? s.size() : ByteOffsetOf(s, end - 1);
    if (b1 < b0) b1 = b0;
    return Value::String(s.substr(b0, b1 - b0));  // a view of the input: no copy
  }

  Value Concat(const Value* row, Arena* arena) const {
    // Each argument is evaluated once: evaluation charges the event's budget, so a second pass
    // would charge it twice (and could come back shorter than the first).
    constexpr size_t kStackArgs = 16;
    Value on_stack[kStackArgs];
    std::vector<Value> on_heap;
    Value* v = on_stack;
    if (args_.size() > kStackArgs) {
      on_heap.resize(args_.size());
      v = on_heap.data();
    }
    size_t total = 0;
    for (size_t i = 0; i < args_.size(); ++i) {
      v[i] = args_[i]->Eval(row, arena);
      if (v[i].null) return Value::Null();
      total += v[i].len;
    }
    if (!ChargeComputedBytes(total)) return Value::Null();
    if (total == 0) return Value::String(std::string_view());
    char* out = arena->Allocate(total);
    size_t pos = 0;
    for (size_t i = 0; i < args_.size(); ++i) {
      if (v[i].len > 0) std::memcpy(out + pos, v[i].str, v[i].len);
      pos += v[i].len;
    }
    return Value::String(std::string_view(out, total));
  }

  Value MinMax(const Value* row, Arena* arena) const {
    Value best;
    for (size_t i = 0; i < args_.size(); ++i) {
      Value a = args_[i]->Eval(row, arena);
      if (a.null) return Value::Null();
      if (i == 0) {
        best = a;
        continue;
      }
      bool better = f_ == Func::kMin ? Less(a, best) : Less(best, a);
      if (better) best = a;
    }
    return best;
  }

  bool Less(const Value& a, const Value& b) const {
    switch (type_) {
      case ExprType::kDouble: return a.f64 < b.f64;
      case ExprType::kString: return a.sv() < b.sv();
      default: return a.i64 < b.i64;
    }
  }

  Func f_;
  ExprType type_;
  std::vector<EvalPtr> args_;
};

}  // namespace

Value CastValue(Value v, ExprType from, ExprType to, Arena* arena) {
  if (from == to) return v;
  char buf[64];
  switch (from) {
    case ExprType::kInt64:
    case ExprType::kTimestamp:
      switch (to) {
        case ExprType::kInt64:
        case ExprType::kTimestamp: return Value::Int(v.i64);
        case ExprType::kDouble: return Value::Double(static_cast<double>(v.i64));
        case ExprType::kBool: return Value::Bool(v.i64 != 0);
        case ExprType::kString: {
          if (from == ExprType::kTimestamp) {
            // One formatter for timestamps everywhere (readback, sinks, casts); the scratch
            // string keeps its capacity, so this does not allocate per event.
            static thread_local std::string text;
            text.clear();
            AppendTimestampIso(v.i64, &text);
            return StringIn(arena, text.data(), text.size());
          }
          auto r = std::to_chars(buf, buf + sizeof(buf), v.i64);
          return StringIn(arena, buf, static_cast<size_t>(r.ptr - buf));
        }
        default: return Value::Null();
      }
    case ExprType::kDouble:
      switch (to) {
        case ExprType::kInt64:
        case ExprType::kTimestamp:
          if (!(v.f64 >= -kTwo63 && v.f64 < kTwo63)) return Value::Null();  // also NaN
          return Value::Int(static_cast<int64_t>(v.f64));                   // truncates toward zero
        case ExprType::kBool: return Value::Bool(v.f64 != 0);
        case ExprType::kString: {
          auto r = std::to_chars(buf, buf + sizeof(buf), v.f64);
          return StringIn(arena, buf, static_cast<size_t>(r.ptr - buf));
        }
        default: return Value::Null();
      }
    case ExprType::kBool:
      switch (to) {
        case ExprType::kInt64: return Value::Int(v.b ? 1 : 0);
        case ExprType::kDouble: return Value::Double(v.b ? 1.0 : 0.0);
        case ExprType::kString: return Value::String(v.b ? "true" : "false");
        default: return Value::Null();
      }
    case ExprType::kString: {
      std::string_view s = v.sv();
      const char* end = s.data() + s.size();
      switch (to) {
        case ExprType::kInt64: {
          int64_t out = 0;
          auto r = std::from_chars(s.data(), end, out);
          return (r.ec == std::errc() && r.ptr == end && !s.empty()) ? Value::Int(out) : Value::Null();
        }
        case ExprType::kDouble: {
          double out = 0;
          auto r = std::from_chars(s.data(), end, out);
          return (r.ec == std::errc() && r.ptr == end && !s.empty()) ? Value::Double(out) : Value::Null();
        }
        case ExprType::kBool:
          if (EqualsNoCase(s, "true")) return Value::Bool(true);
          if (EqualsNoCase(s, "false")) return Value::Bool(false);
          return Value::Null();
        case ExprType::kTimestamp: {
          Result<int64_t> ms = ParseTimestampMs(s);
          return ms.ok() ? Value::Int(*ms) : Value::Null();
        }
        default: return Value::Null();
      }
    }
    default: return Value::Null();
  }
}

EvalPtr MakeCastNode(ExprType from, ExprType to, EvalPtr x) {
  switch (from) {
    case ExprType::kInt64: return MakeCastFrom<ExprType::kInt64>(to, std::move(x));
    case ExprType::kDouble: return MakeCastFrom<ExprType::kDouble>(to, std::move(x));
    case ExprType::kBool: return MakeCastFrom<ExprType::kBool>(to, std::move(x));
    case ExprType::kString: return MakeCastFrom<ExprType::kString>(to, std::move(x));
    default: return MakeCastFrom<ExprType::kTimestamp>(to, std::move(x));
  }
}

EvalPtr MakeFunctionNode(const Expr& e, std::vector<EvalPtr> args) {
  return std::make_unique<FunctionNode>(e.func, e.type, std::move(args));
}

}  // namespace impulse::plan
