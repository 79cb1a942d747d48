// Aggregate kinds, type checking, compilation and the per-row operations add and retract.
// Results are in agg_result.cc, merge in agg_merge.cc, the checkpoint form in
// agg_serialize.cc, HLL and top-k in sketches.cc.
#include "agg/aggregates.h"

#include <array>
#include <cmath>

#include "agg/agg_state.h"

namespace impulse::agg {
namespace {

struct KindName {
  std::string_view name;
  AggKind kind;
};
constexpr std::array<KindName, 18> kKindNames = {{
    {"count", AggKind::kCount},
    {"sum", AggKind::kSum},
    {"avg", AggKind::kAvg},
    {"min", AggKind::kMin},
    {"max", AggKind::kMax},
    {"first", AggKind::kFirst},
    {"last", AggKind::kLast},
    {"count_distinct", AggKind::kCountDistinct},
    {"approx_count_distinct", AggKind::kApproxCountDistinct},
    {"var_pop", AggKind::kVarPop},
    {"var_samp", AggKind::kVarSamp},
    {"stddev_pop", AggKind::kStddevPop},
    {"stddev_samp", AggKind::kStddevSamp},
    {"arg_max", AggKind::kArgMax},
    {"arg_min", AggKind::kArgMin},
    {"top_k", AggKind::kTopK},
    {"stddev", AggKind::kStddevSamp},  // aliases last, so AggKindName finds the canonical name
    {"variance", AggKind::kVarSamp},
}};

bool IsNumeric(FieldType t) { return t == FieldType::kInt64 || t == FieldType::kDouble; }

Status TypeError(const AggSpec& s, std::string_view what) {
  return InvalidArgument(std::string(AggKindName(s.kind)) + ": " + std::string(what) + ", got " +
                         std::string(FieldTypeName(s.arg_type)));
}

detail::Op SelectOp(const AggSpec& s) {
  using namespace detail;
  const bool dbl = s.arg_type == FieldType::kDouble;
  const bool str = s.arg_type == FieldType::kString;
  switch (s.kind) {
    case AggKind::kCount: return s.arity == 0 ? kOpCountRows : kOpCountNonNull;
    case AggKind::kSum: return dbl ? kOpSumDouble : kOpSumInt;
    case AggKind::kAvg: return dbl ? kOpAvgDouble : kOpAvgInt;
    case AggKind::kMin: return dbl ? kOpMinDouble : (str ? kOpMinString : kOpMinInt);
    case AggKind::kMax: return dbl ? kOpMaxDouble : (str ? kOpMaxString : kOpMaxInt);
    case AggKind::kFirst: return kOpFirst;
    case AggKind::kLast: return kOpLast;
    case AggKind::kCountDistinct: return kOpCountDistinct;
    case AggKind::kApproxCountDistinct: return kOpApprox;
    case AggKind::kVarPop:
    case AggKind::kVarSamp:
    case AggKind::kStddevPop:
    case AggKind::kStddevSamp: return kOpVar;
    case AggKind::kArgMax: return kOpArgMax;
    case AggKind::kArgMin: return kOpArgMin;
    case AggKind::kTopK: return kOpTopK;
  }
  return kOpCountRows;
}

}  // namespace

Result<AggKind> ParseAggKind(std::string_view name) {
  for (const KindName& k : kKindNames)
    if (k.name == name) return k.kind;
  std::string valid;
  for (const KindName& k : kKindNames) {
    if (!valid.empty()) valid += ", ";
    valid += k.name;
  }
  return InvalidArgument("unknown aggregate '" + std::string(name) + "'; valid: " + valid);
}

std::string_view AggKindName(AggKind kind) {
  for (const KindName& k : kKindNames)
    if (k.kind == kind) return k.name;
  return "?";
}

Result<std::pair<FieldType, bool>> ResultType(const AggSpec& s) {
  const int expected_arity = s.kind == AggKind::kArgMax || s.kind == AggKind::kArgMin ? 2 : 1;
  if (s.kind == AggKind::kCount) {
    if (s.arity != 0 && s.arity != 1) return InvalidArgument("count takes 0 or 1 arguments");
  } else if (s.kind == AggKind::kTopK) {
    if (s.arity != 1 && s.arity != 2) return InvalidArgument("top_k takes (x, k)");
    if (s.k < 1 || s.k > kTopKCounters)
      return InvalidArgument("top_k: k must be in [1, " + std::to_string(kTopKCounters) + "], got " +
                             std::to_string(s.k));
  } else if (s.arity != expected_arity) {
    return InvalidArgument(std::string(AggKindName(s.kind)) + " takes " + std::to_string(expected_arity) +
                           " argument(s), got " + std::to_string(s.arity));
  }
  switch (s.kind) {
    case AggKind::kCount:
    case AggKind::kCountDistinct:
    case AggKind::kApproxCountDistinct: return std::pair{FieldType::kInt64, false};
    case AggKind::kSum:
      if (!IsNumeric(s.arg_type)) return TypeError(s, "needs int64 or double");
      return std::pair{s.arg_type, true};
    case AggKind::kAvg:
    case AggKind::kVarPop:
    case AggKind::kVarSamp:
    case AggKind::kStddevPop:
    case AggKind::kStddevSamp:
      if (!IsNumeric(s.arg_type)) return TypeError(s, "needs int64 or double");
      return std::pair{FieldType::kDouble, true};
    case AggKind::kMin:
    case AggKind::kMax:
    case AggKind::kFirst:
    case AggKind::kLast: return std::pair{s.arg_type, true};
    case AggKind::kArgMax:
    case AggKind::kArgMin: return std::pair{s.arg2_type, true};
    case AggKind::kTopK: return std::pair{FieldType::kString, true};
  }
  return InvalidArgument("unknown aggregate kind " + std::to_string(static_cast<int>(s.kind)));
}

impulse::Result<AggregateSet> AggregateSet::Create(std::vector<AggSpec> specs) {
  if (specs.size() > kMaxAggregates)
    return InvalidArgument("too many aggregates: " + std::to_string(specs.size()) + " > " +
                           std::to_string(kMaxAggregates));
  AggregateSet set;
  size_t offset = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    auto rt = ResultType(specs[i]);
    if (!rt.ok()) return rt.status().WithContext("aggregate " + std::to_string(i));
    detail::CompiledAgg c;
    c.spec = specs[i];
    c.op = SelectOp(specs[i]);
    c.offset = static_cast<uint32_t>(offset);
    offset += detail::StateBytes(static_cast<detail::Op>(c.op));
    set.retractable_ = set.retractable_ && detail::OpRetractable(static_cast<detail::Op>(c.op));
    set.aggs_.push_back(c);
  }
  set.state_size_ = offset;
  return set;
}

void AggregateSet::Init(uint8_t* state) const {
  if (state_size_ > 0) std::memset(state, 0, state_size_);
}

void AggregateSet::Destroy(uint8_t* state) const {
  for (const auto& c : aggs_) detail::DestroyOne(c, state + c.offset);
  Init(state);
}

bool AggregateSet::Retract(uint8_t* state, int64_t /*event_time_ms*/, const Value* args) const {
  if (!retractable_) return false;
  for (size_t i = 0; i < aggs_.size(); ++i) detail::RetractOne(aggs_[i], state + aggs_[i].offset, args + 2 * i);
  return true;
}

void AggregateSet::Result(const uint8_t* state, Value* out, Arena* arena) const {
  for (size_t i = 0; i < aggs_.size(); ++i) detail::ResultOne(aggs_[i], state + aggs_[i].offset, out + i, arena);
}

namespace detail {

size_t StateBytes(Op op) {
  switch (op) {
    case kOpCountRows:
    case kOpCountNonNull: return sizeof(CountState);
    case kOpSumInt:
    case kOpSumDouble:
    case kOpAvgInt:
    case kOpAvgDouble: return sizeof(SumState);
    case kOpMinInt:
    case kOpMinDouble:
    case kOpMinString:
    case kOpMaxInt:
    case kOpMaxDouble:
    case kOpMaxString: return sizeof(ExtremeState);
    case kOpFirst:
    case kOpLast: return sizeof(EdgeState);
    case kOpVar: return sizeof(VarState);
    case kOpArgMax:
    case kOpArgMin: return sizeof(ArgState);
    case kOpCountDistinct:
    case kOpApprox:
    case kOpTopK: return sizeof(PtrState);
  }
  return 0;
}

bool OpRetractable(Op op) {
  switch (op) {
    case kOpCountRows:
    case kOpCountNonNull:
    case kOpSumInt:
    case kOpSumDouble:
    case kOpAvgInt:
    case kOpAvgDouble:
    case kOpVar:
    case kOpCountDistinct: return true;
    default: return false;
  }
}

namespace {

int64_t WrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// arg_max/arg_min: does (x, y) beat the kept pair? Larger (smaller) x wins; ties keep the
// smaller y, so the result does not depend on arrival order.
bool ArgBeats(const CompiledAgg& c, const ArgState* st, const Value& x, const Value& y) {
  if (!st->has) return true;
  int cx = CompareToSlot(c.spec.arg_type, x, st->x);
  if (c.op == kOpArgMin) cx = -cx;
  if (cx != 0) return cx > 0;
  return CompareToSlot(c.spec.arg2_type, y, st->y) < 0;
}

void StoreArg(const CompiledAgg& c, ArgState* st, const Value& x, const Value& y) {
  StoreSlot(&st->x, c.spec.arg_type, x);
  StoreSlot(&st->y, c.spec.arg2_type, y);
  st->has = 1;
}

}  // namespace

// Inlined into AggregateSet::Add, the per-event path; AddOne is the out-of-line copy.
[[gnu::always_inline]] inline void AddImpl(const CompiledAgg& c, uint8_t* p, int64_t ts, const Value* args) {
  const Value& x = args[0];
  if (c.op == kOpCountRows) {
    ++As<CountState>(p)->n;
    return;
  }
  if (x.null) return;
  const FieldType t = c.spec.arg_type;
  switch (static_cast<Op>(c.op)) {
    case kOpCountRows: break;
    case kOpCountNonNull: ++As<CountState>(p)->n; break;
    case kOpSumInt:
    case kOpAvgInt: {
      auto* s = As<SumState>(p);
      ++s->n;
      s->sum.i = WrapAdd(s->sum.i, x.i64);
      break;
    }
    case kOpSumDouble:
    case kOpAvgDouble: {
      auto* s = As<SumState>(p);
      ++s->n;
      s->sum.d += x.f64;
      break;
    }
    case kOpMinInt: {
      auto* s = As<ExtremeState>(p);
      const int64_t v = IntOf(x, t);
      if (!s->has || v < s->v.i) s->v.i = v, s->has = 1;
      break;
    }
    case kOpMaxInt: {
      auto* s = As<ExtremeState>(p);
      const int64_t v = IntOf(x, t);
      if (!s->has || v > s->v.i) s->v.i = v, s->has = 1;
      break;
    }
    case kOpMinDouble: {
      auto* s = As<ExtremeState>(p);
      if (!std::isnan(x.f64) && (!s->has || x.f64 < s->v.d)) s->v.d = x.f64, s->has = 1;
      break;
    }
    case kOpMaxDouble: {
      auto* s = As<ExtremeState>(p);
      if (!std::isnan(x.f64) && (!s->has || x.f64 > s->v.d)) s->v.d = x.f64, s->has = 1;
      break;
    }
    case kOpMinString:
    case kOpMaxString: {
      auto* s = As<ExtremeState>(p);
      if (s->has) {
        const int cmp = CompareToSlot(t, x, s->v);
        if (c.op == kOpMinString ? cmp >= 0 : cmp <= 0) break;
      }
      StoreSlot(&s->v, t, x);
      s->has = 1;
      break;
    }
    case kOpFirst:
    case kOpLast: {
      // NaN is a value for first/last (kept as is); only min/max/arg_* drop it.
      auto* s = As<EdgeState>(p);
      const bool take = !s->has || (c.op == kOpFirst ? ts < s->ts : ts >= s->ts);
      if (take) {
        StoreSlot(&s->v, t, x);
        s->ts = ts;
        s->has = 1;
      }
      break;
    }
    case kOpVar: {
      auto* s = As<VarState>(p);
      const double v = t == FieldType::kDouble ? x.f64 : static_cast<double>(x.i64);
      ++s->n;
      const double delta = v - s->mean;
      s->mean += delta / static_cast<double>(s->n);
      s->m2 += delta * (v - s->mean);
      break;
    }
    case kOpCountDistinct: {
      auto* s = As<PtrState>(p);
      if (s->p == nullptr) s->p = new CountMap();
      auto* m = static_cast<CountMap*>(s->p);
      char buf[8];
      const std::string_view key = KeyOf(x, t, buf);
      auto it = m->find(key);
      if (it != m->end())
        ++it->second;
      else
        m->emplace(std::string(key), 1);
      break;
    }
    case kOpApprox: {
      auto* s = As<PtrState>(p);
      if (s->p == nullptr) s->p = new uint8_t[kHllRegisters]();
      char buf[8];
      const std::string_view key = KeyOf(x, t, buf);
      HllAdd(static_cast<uint8_t*>(s->p), XXH3_64bits(key.data(), key.size()));
      break;
    }
    case kOpArgMax:
    case kOpArgMin: {
      const Value& y = args[1];
      if (y.null || IsNaN(x, t) || IsNaN(y, c.spec.arg2_type)) break;
      auto* s = As<ArgState>(p);
      if (ArgBeats(c, s, x, y)) StoreArg(c, s, x, y);
      break;
    }
    case kOpTopK: {
      auto* s = As<PtrState>(p);
      if (s->p == nullptr) s->p = new TopK();
      char buf[8];
      TopKAdd(static_cast<TopK*>(s->p), KeyOf(x, t, buf), 1);
      break;
    }
  }
}

void AddOne(const CompiledAgg& c, uint8_t* p, int64_t ts, const Value* args) { AddImpl(c, p, ts, args); }

void RetractOne(const CompiledAgg& c, uint8_t* p, const Value* args) {
  const Value& x = args[0];
  if (c.op == kOpCountRows) {
    --As<CountState>(p)->n;
    return;
  }
  if (x.null) return;
  const FieldType t = c.spec.arg_type;
  switch (static_cast<Op>(c.op)) {
    case kOpCountNonNull: --As<CountState>(p)->n; break;
    case kOpSumInt:
    case kOpAvgInt: {
      auto* s = As<SumState>(p);
      if (--s->n == 0)
        s->sum.i = 0;
      else
        s->sum.i = WrapAdd(s->sum.i, static_cast<int64_t>(0 - static_cast<uint64_t>(x.i64)));
      break;
    }
    case kOpSumDouble:
    case kOpAvgDouble: {
      auto* s = As<SumState>(p);
      // Back to an exact zero when empty, so rounding drift does not outlive the rows.
      if (--s->n == 0)
        s->sum.d = 0;
      else
        s->sum.d -= x.f64;
      break;
    }
    case kOpVar: {
      auto* s = As<VarState>(p);
      const double v = t == FieldType::kDouble ? x.f64 : static_cast<double>(x.i64);
      if (s->n <= 1) {
        *s = VarState{0, 0, 0};
        break;
      }
      const double old_mean = s->mean;
      s->mean = old_mean - (v - old_mean) / static_cast<double>(s->n - 1);
      s->m2 -= (v - old_mean) * (v - s->mean);
      --s->n;
      // One row has no spread; otherwise rounding can leave m2 a hair off (never below 0).
      if (s->m2 < 0 || s->n == 1) s->m2 = 0;
      break;
    }
    case kOpCountDistinct: {
      auto* m = static_cast<CountMap*>(As<PtrState>(p)->p);
      if (m == nullptr) break;
      char buf[8];
      auto it = m->find(KeyOf(x, t, buf));
      if (it != m->end() && --it->second <= 0) m->erase(it);
      break;
    }
    default: break;  // not retractable: callers check Retractable() first
  }
}

}  // namespace detail

void AggregateSet::Add(uint8_t* state, int64_t event_time_ms, const Value* args) const {
  for (const detail::CompiledAgg& c : aggs_) {
    detail::AddImpl(c, state + c.offset, event_time_ms, args);
    args += 2;
  }
}

}  // namespace impulse::agg
