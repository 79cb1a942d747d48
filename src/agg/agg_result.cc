// Per-aggregate results and destruction of the heap parts of a state.
#include <cmath>

#include "agg/agg_state.h"

namespace impulse::agg {
namespace detail {

void ResultOne(const CompiledAgg& c, const uint8_t* p, Value* out, Arena* arena) {
  const FieldType t = c.spec.arg_type;
  *out = Value::Null();
  auto load = [&](const Slot& s, FieldType ty) {
    Value v = LoadSlot(s, ty);
    if (ty == FieldType::kString) v = Value::String(arena->Copy(v.sv()));
    return v;
  };
  switch (static_cast<Op>(c.op)) {
    case kOpCountRows:
    case kOpCountNonNull: *out = Value::Int(As<CountState>(p)->n); break;
    case kOpSumInt:
    case kOpSumDouble: {
      const auto* s = As<SumState>(p);
      if (s->n > 0) *out = c.op == kOpSumInt ? Value::Int(s->sum.i) : Value::Double(s->sum.d);
      break;
    }
    case kOpAvgInt:
    case kOpAvgDouble: {
      const auto* s = As<SumState>(p);
      if (s->n > 0) {
        const double sum = c.op == kOpAvgInt ? static_cast<double>(s->sum.i) : s->sum.d;
        *out = Value::Double(sum / static_cast<double>(s->n));
      }
      break;
    }
    case kOpMinInt:
    case kOpMaxInt:
    case kOpMinDouble:
    case kOpMaxDouble:
    case kOpMinString:
    case kOpMaxString: {
      const auto* s = As<ExtremeState>(p);
      if (s->has) *out = load(s->v, t);
      break;
    }
    case kOpFirst:
    case kOpLast: {
      const auto* s = As<EdgeState>(p);
      if (s->has) *out = load(s->v, t);
      break;
    }
    case kOpVar: {
      const auto* s = As<VarState>(p);
      const bool samp = c.spec.kind == AggKind::kVarSamp || c.spec.kind == AggKind::kStddevSamp;
      const bool sd = c.spec.kind == AggKind::kStddevPop || c.spec.kind == AggKind::kStddevSamp;
      if (s->n == 0 || (samp && s->n < 2)) break;
      double var = s->m2 / static_cast<double>(samp ? s->n - 1 : s->n);
      if (var < 0) var = 0;
      *out = Value::Double(sd ? std::sqrt(var) : var);
      break;
    }
    case kOpCountDistinct: {
      const auto* m = static_cast<const CountMap*>(As<PtrState>(p)->p);
      *out = Value::Int(m == nullptr ? 0 : static_cast<int64_t>(m->size()));
      break;
    }
    case kOpApprox: {
      const auto* regs = static_cast<const uint8_t*>(As<PtrState>(p)->p);
      *out = Value::Int(regs == nullptr ? 0 : HllEstimate(regs));
      break;
    }
    case kOpArgMax:
    case kOpArgMin: {
      const auto* s = As<ArgState>(p);
      if (s->has) *out = load(s->y, c.spec.arg2_type);
      break;
    }
    case kOpTopK: {
      const auto* tk = static_cast<const TopK*>(As<PtrState>(p)->p);
      if (tk == nullptr || tk->counts.empty()) break;
      std::string json;
      TopKJson(*tk, t, c.spec.k, &json);
      *out = Value::String(arena->Copy(json));
      break;
    }
  }
}

void DestroyOne(const CompiledAgg& c, uint8_t* p) {
  const FieldType t = c.spec.arg_type;
  switch (static_cast<Op>(c.op)) {
    case kOpMinString:
    case kOpMaxString: FreeSlot(&As<ExtremeState>(p)->v, t); break;
    case kOpFirst:
    case kOpLast: FreeSlot(&As<EdgeState>(p)->v, t); break;
    case kOpArgMax:
    case kOpArgMin:
      FreeSlot(&As<ArgState>(p)->x, t);
      FreeSlot(&As<ArgState>(p)->y, c.spec.arg2_type);
      break;
    case kOpCountDistinct: delete static_cast<CountMap*>(As<PtrState>(p)->p); break;
    case kOpApprox: delete[] static_cast<uint8_t*>(As<PtrState>(p)->p); break;
    case kOpTopK: delete static_cast<TopK*>(As<PtrState>(p)->p); break;
    default: break;
  }
}

}  // namespace detail
}  // namespace impulse::agg
