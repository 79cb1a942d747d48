// AggregateSet::Merge (partial aggregates, hopping-window panes) and HeapBytes.
#include <algorithm>

#include "agg/agg_state.h"

namespace impulse::agg {
namespace {

using namespace detail;

void MergeOne(const CompiledAgg& c, uint8_t* into, const uint8_t* from) {
  const FieldType t = c.spec.arg_type;
  switch (static_cast<Op>(c.op)) {
    case kOpCountRows:
    case kOpCountNonNull: As<CountState>(into)->n += As<CountState>(from)->n; break;
    case kOpSumInt:
    case kOpAvgInt: {
      auto* a = As<SumState>(into);
      const auto* b = As<SumState>(from);
      a->n += b->n;
      a->sum.i = static_cast<int64_t>(static_cast<uint64_t>(a->sum.i) + static_cast<uint64_t>(b->sum.i));
      break;
    }
    case kOpSumDouble:
    case kOpAvgDouble: {
      auto* a = As<SumState>(into);
      const auto* b = As<SumState>(from);
      if (b->n == 0) break;
      a->n += b->n;
      a->sum.d += b->sum.d;
      break;
    }
    case kOpMinInt:
    case kOpMinDouble:
    case kOpMinString:
    case kOpMaxInt:
    case kOpMaxDouble:
    case kOpMaxString: {
      auto* a = As<ExtremeState>(into);
      const auto* b = As<ExtremeState>(from);
      if (!b->has) break;
      const bool is_min = c.op == kOpMinInt || c.op == kOpMinDouble || c.op == kOpMinString;
      if (a->has) {
        const int cmp = CompareSlots(t, b->v, a->v);
        if (is_min ? cmp >= 0 : cmp <= 0) break;
      }
      CopySlot(&a->v, b->v, t);
      a->has = 1;
      break;
    }
    case kOpFirst:
    case kOpLast: {
      auto* a = As<EdgeState>(into);
      const auto* b = As<EdgeState>(from);
      if (!b->has) break;
      if (a->has && (c.op == kOpFirst ? b->ts >= a->ts : b->ts < a->ts)) break;
      CopySlot(&a->v, b->v, t);
      a->ts = b->ts;
      a->has = 1;
      break;
    }
    case kOpVar: {  // Chan et al.'s parallel formula
      auto* a = As<VarState>(into);
      const auto* b = As<VarState>(from);
      if (b->n == 0) break;
      if (a->n == 0) {
        *a = *b;
        break;
      }
      const double na = static_cast<double>(a->n), nb = static_cast<double>(b->n), n = na + nb;
      const double delta = b->mean - a->mean;
      a->mean += delta * nb / n;
      a->m2 += b->m2 + delta * delta * na * nb / n;
      a->n += b->n;
      break;
    }
    case kOpCountDistinct: {
      const auto* src = static_cast<const CountMap*>(As<PtrState>(from)->p);
      if (src == nullptr || src->empty()) break;
      auto* s = As<PtrState>(into);
      if (s->p == nullptr) s->p = new CountMap();
      auto* dst = static_cast<CountMap*>(s->p);
      for (const auto& [k, n] : *src) (*dst)[k] += n;
      break;
    }
    case kOpApprox: {
      const auto* src = static_cast<const uint8_t*>(As<PtrState>(from)->p);
      if (src == nullptr) break;
      auto* s = As<PtrState>(into);
      if (s->p == nullptr) s->p = new uint8_t[kHllRegisters]();
      auto* dst = static_cast<uint8_t*>(s->p);
      for (size_t i = 0; i < kHllRegisters; ++i) dst[i] = std::max(dst[i], src[i]);
      break;
    }
    case kOpArgMax:
    case kOpArgMin: {
      auto* a = As<ArgState>(into);
      const auto* b = As<ArgState>(from);
      if (!b->has) break;
      if (a->has) {
        int cx = CompareSlots(t, b->x, a->x);
        if (c.op == kOpArgMin) cx = -cx;
        if (cx < 0) break;
        if (cx == 0 && CompareSlots(c.spec.arg2_type, b->y, a->y) >= 0) break;
      }
      CopySlot(&a->x, b->x, t);
      CopySlot(&a->y, b->y, c.spec.arg2_type);
      a->has = 1;
      break;
    }
    case kOpTopK: {
      const auto* src = static_cast<const TopK*>(As<PtrState>(from)->p);
      if (src == nullptr || src->counts.empty()) break;
      auto* s = As<PtrState>(into);
      if (s->p == nullptr) s->p = new TopK();
      auto* dst = static_cast<TopK*>(s->p);
      // Summing two summaries then keeping the largest counters (counts stay upper bounds).
      for (const auto& [k, n] : src->counts) dst->counts[k] += n;
      TopKTrim(dst);
      break;
    }
  }
}

size_t HeapBytesOne(const CompiledAgg& c, const uint8_t* p) {
  const FieldType t = c.spec.arg_type;
  switch (static_cast<Op>(c.op)) {
    case kOpMinString:
    case kOpMaxString: return SlotHeapBytes(As<ExtremeState>(p)->v, t);
    case kOpFirst:
    case kOpLast: return SlotHeapBytes(As<EdgeState>(p)->v, t);
    case kOpArgMax:
    case kOpArgMin: return SlotHeapBytes(As<ArgState>(p)->x, t) + SlotHeapBytes(As<ArgState>(p)->y, c.spec.arg2_type);
    case kOpCountDistinct: {
      const auto* m = static_cast<const CountMap*>(As<PtrState>(p)->p);
      return m == nullptr ? 0 : CountMapHeapBytes(*m);
    }
    case kOpApprox: return As<PtrState>(p)->p == nullptr ? 0 : kHllRegisters;
    case kOpTopK: {
      const auto* tk = static_cast<const TopK*>(As<PtrState>(p)->p);
      return tk == nullptr ? 0 : sizeof(TopK) + CountMapHeapBytes(tk->counts) + tk->victims.capacity() * sizeof(void*);
    }
    default: return 0;
  }
}

}  // namespace

void AggregateSet::Merge(uint8_t* into, const uint8_t* from) const {
  for (const auto& c : aggs_) MergeOne(c, into + c.offset, from + c.offset);
}

size_t AggregateSet::HeapBytes(const uint8_t* state) const {
  size_t b = 0;
  for (const auto& c : aggs_) b += HeapBytesOne(c, state + c.offset);
  return b;
}

}  // namespace impulse::agg
