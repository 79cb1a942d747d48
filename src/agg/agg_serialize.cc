// The checkpoint form of an aggregate state (docs/AGGREGATES.md, "Checkpoint form"): a format
// byte, then each aggregate's fields in order. Deserialize validates every field and never
// reads past its input.
#include <algorithm>

#include "agg/agg_state.h"
#include "agg/codec.h"

namespace impulse::agg {
namespace {

using namespace detail;

constexpr uint8_t kFormatVersion = 1;
// Counts read from a checkpoint are at most this, so that adds and merges cannot overflow.
constexpr int64_t kCountMax = int64_t{1} << 56;
bool ValidCount(int64_t n) { return n >= 0 && n <= kCountMax; }

void PutSlot(std::string* out, const Slot& s, FieldType t) {
  if (t == FieldType::kString)
    PutBytes(out, *s.s);
  else
    PutFixed64(static_cast<uint64_t>(s.i), out);
}

bool GetSlot(std::string_view* in, Slot* s, FieldType t) {
  if (t == FieldType::kString) {
    std::string_view b;
    if (!GetBytes(in, &b)) return false;
    StoreSlot(s, t, Value::String(b));
    return true;
  }
  if (!GetI64(in, &s->i)) return false;
  return t != FieldType::kBool || s->i == 0 || s->i == 1;
}

bool GetHas(std::string_view* in, uint64_t* has) {
  uint8_t b;
  if (!GetU8(in, &b) || b > 1) return false;
  *has = b;
  return true;
}

void PutCountMap(std::string* out, const CountMap* m) {
  PutVarint64(m == nullptr ? 0 : m->size(), out);
  if (m == nullptr) return;
  for (const auto& [k, n] : *m) {
    PutBytes(out, k);
    PutVarint64(static_cast<uint64_t>(n), out);
  }
}

// Reads entries into *m (created on demand through *slot_p); keys of non-string types must be 8
// bytes, counts positive, no duplicates.
bool GetCountMap(std::string_view* in, FieldType t, CountMap* m, size_t max_entries) {
  uint64_t entries;
  if (!GetVarint64(in, &entries) || entries > in->size() / 2 || entries > max_entries) return false;
  m->reserve(entries);
  for (uint64_t i = 0; i < entries; ++i) {
    std::string_view key;
    uint64_t n;
    if (!GetBytes(in, &key) || !GetVarint64(in, &n)) return false;
    if (n == 0 || n > static_cast<uint64_t>(kCountMax)) return false;
    if (t != FieldType::kString && key.size() != 8) return false;
    if (!m->emplace(std::string(key), static_cast<int64_t>(n)).second) return false;
  }
  return true;
}

void SerializeOne(const CompiledAgg& c, const uint8_t* p, std::string* out) {
  const FieldType t = c.spec.arg_type;
  switch (static_cast<Op>(c.op)) {
    case kOpCountRows:
    case kOpCountNonNull: PutFixed64(static_cast<uint64_t>(As<CountState>(p)->n), out); break;
    case kOpSumInt:
    case kOpSumDouble:
    case kOpAvgInt:
    case kOpAvgDouble:
      PutFixed64(static_cast<uint64_t>(As<SumState>(p)->n), out);
      PutFixed64(static_cast<uint64_t>(As<SumState>(p)->sum.i), out);
      break;
    case kOpMinInt:
    case kOpMinDouble:
    case kOpMinString:
    case kOpMaxInt:
    case kOpMaxDouble:
    case kOpMaxString: {
      const auto* s = As<ExtremeState>(p);
      PutU8(out, s->has ? 1 : 0);
      if (s->has) PutSlot(out, s->v, t);
      break;
    }
    case kOpFirst:
    case kOpLast: {
      const auto* s = As<EdgeState>(p);
      PutU8(out, s->has ? 1 : 0);
      if (s->has) {
        PutFixed64(static_cast<uint64_t>(s->ts), out);
        PutSlot(out, s->v, t);
      }
      break;
    }
    case kOpVar: {
      const auto* s = As<VarState>(p);
      PutFixed64(static_cast<uint64_t>(s->n), out);
      PutDouble(out, s->mean);
      PutDouble(out, s->m2);
      break;
    }
    case kOpCountDistinct: PutCountMap(out, static_cast<const CountMap*>(As<PtrState>(p)->p)); break;
    case kOpApprox: {
      const auto* regs = static_cast<const uint8_t*>(As<PtrState>(p)->p);
      PutU8(out, regs != nullptr ? 1 : 0);
      if (regs != nullptr) out->append(reinterpret_cast<const char*>(regs), kHllRegisters);
      break;
    }
    case kOpArgMax:
    case kOpArgMin: {
      const auto* s = As<ArgState>(p);
      PutU8(out, s->has ? 1 : 0);
      if (s->has) {
        PutSlot(out, s->x, t);
        PutSlot(out, s->y, c.spec.arg2_type);
      }
      break;
    }
    case kOpTopK: {
      const auto* tk = static_cast<const TopK*>(As<PtrState>(p)->p);
      PutCountMap(out, tk == nullptr ? nullptr : &tk->counts);
      break;
    }
  }
}

bool DeserializeOne(const CompiledAgg& c, std::string_view* in, uint8_t* p) {
  const FieldType t = c.spec.arg_type;
  switch (static_cast<Op>(c.op)) {
    case kOpCountRows:
    case kOpCountNonNull: return GetI64(in, &As<CountState>(p)->n) && ValidCount(As<CountState>(p)->n);
    case kOpSumInt:
    case kOpSumDouble:
    case kOpAvgInt:
    case kOpAvgDouble: {
      auto* s = As<SumState>(p);
      return GetI64(in, &s->n) && ValidCount(s->n) && GetI64(in, &s->sum.i);
    }
    case kOpMinInt:
    case kOpMinDouble:
    case kOpMinString:
    case kOpMaxInt:
    case kOpMaxDouble:
    case kOpMaxString: {
      auto* s = As<ExtremeState>(p);
      uint64_t has;
      if (!GetHas(in, &has)) return false;
      if (has && !GetSlot(in, &s->v, t)) return false;
      s->has = has;
      return true;
    }
    case kOpFirst:
    case kOpLast: {
      auto* s = As<EdgeState>(p);
      uint64_t has;
      if (!GetHas(in, &has)) return false;
      if (has && !(GetI64(in, &s->ts) && GetSlot(in, &s->v, t))) return false;
      s->has = has;
      return true;
    }
    case kOpVar: {
      auto* s = As<VarState>(p);
      return GetI64(in, &s->n) && ValidCount(s->n) && GetDouble(in, &s->mean) && GetDouble(in, &s->m2);
    }
    case kOpCountDistinct: {
      auto* s = As<PtrState>(p);
      auto* m = new CountMap();
      s->p = m;  // owned by the state from here, so an error path still frees it
      return GetCountMap(in, t, m, SIZE_MAX);
    }
    case kOpApprox: {
      uint8_t present;
      if (!GetU8(in, &present) || present > 1) return false;
      if (!present) return true;
      if (in->size() < kHllRegisters) return false;
      auto* regs = new uint8_t[kHllRegisters];
      As<PtrState>(p)->p = regs;
      std::memcpy(regs, in->data(), kHllRegisters);
      in->remove_prefix(kHllRegisters);
      return std::all_of(regs, regs + kHllRegisters, [](uint8_t r) { return r <= kHllRankMax; });
    }
    case kOpArgMax:
    case kOpArgMin: {
      auto* s = As<ArgState>(p);
      uint64_t has;
      if (!GetHas(in, &has)) return false;
      if (has && !(GetSlot(in, &s->x, t) && GetSlot(in, &s->y, c.spec.arg2_type))) return false;
      s->has = has;
      return true;
    }
    case kOpTopK: {
      auto* tk = new TopK();
      As<PtrState>(p)->p = tk;
      return GetCountMap(in, t, &tk->counts, kTopKCounters);
    }
  }
  return false;
}

}  // namespace

void AggregateSet::Serialize(const uint8_t* state, std::string* out) const {
  PutU8(out, kFormatVersion);
  for (const auto& c : aggs_) SerializeOne(c, state + c.offset, out);
}

Status AggregateSet::Deserialize(std::string_view* in, uint8_t* state) const {
  Destroy(state);
  uint8_t version;
  if (!GetU8(in, &version)) return DataLoss("aggregate state: empty input");
  if (version != kFormatVersion) return DataLoss("aggregate state: unknown format " + std::to_string(version));
  for (size_t i = 0; i < aggs_.size(); ++i) {
    const auto& c = aggs_[i];
    if (!DeserializeOne(c, in, state + c.offset))
      return DataLoss("aggregate state: malformed " + std::string(AggKindName(c.spec.kind)) + " (aggregate " +
                      std::to_string(i) + ")");
  }
  return Status::OK();
}

}  // namespace impulse::agg
