// Internal to src/agg: the state block layouts, value slots and the heap objects behind the
// pointer-sized states (distinct sets, HLL registers, top-k counters). Not a public API.
#pragma once

#include <xxhash.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agg/aggregates.h"
#include "common/fixed_codec.h"

namespace impulse::agg::detail {

// The operation of one compiled aggregate: kind specialised by argument type.
enum Op : uint8_t {
  kOpCountRows,
  kOpCountNonNull,
  kOpSumInt,
  kOpSumDouble,
  kOpAvgInt,
  kOpAvgDouble,
  kOpMinInt,  // int64, timestamp, bool (as 0/1)
  kOpMinDouble,
  kOpMinString,
  kOpMaxInt,
  kOpMaxDouble,
  kOpMaxString,
  kOpFirst,
  kOpLast,
  kOpVar,  // all four var/stddev kinds
  kOpCountDistinct,
  kOpApprox,
  kOpArgMax,
  kOpArgMin,
  kOpTopK,
};

// A kept value: int64/timestamp/bool (0/1) in i, double in d, string in an owned heap string
// (allocated on first store, reused after).
union Slot {
  int64_t i;
  double d;
  std::string* s;
};
static_assert(sizeof(Slot) == 8);

// The state of type S stored at `p` (an aggregate's offset in a state block).
template <typename S>
S* As(uint8_t* p) {
  return reinterpret_cast<S*>(p);
}
template <typename S>
const S* As(const uint8_t* p) {
  return reinterpret_cast<const S*>(p);
}

// State layouts. All fields zero = empty.
struct CountState {
  int64_t n;
};
struct SumState {
  int64_t n;
  Slot sum;
};  // sum and avg; int sums wrap around
struct ExtremeState {
  uint64_t has;
  Slot v;
};
struct EdgeState {
  uint64_t has;
  int64_t ts;
  Slot v;
};  // first, last
struct VarState {
  int64_t n;
  double mean;
  double m2;
};  // Welford
struct ArgState {
  uint64_t has;
  Slot x;
  Slot y;
};
struct PtrState {
  void* p;
};  // count_distinct, approx, top_k

size_t StateBytes(Op op);

inline bool IsNaN(const Value& v, FieldType t) { return t == FieldType::kDouble && std::isnan(v.f64); }

inline int64_t IntOf(const Value& v, FieldType t) { return t == FieldType::kBool ? (v.b ? 1 : 0) : v.i64; }

inline void StoreSlot(Slot* s, FieldType t, const Value& v) {
  switch (t) {
    case FieldType::kString:
      if (s->s == nullptr) s->s = new std::string();
      s->s->assign(v.len == 0 ? "" : v.str, v.len);
      break;
    case FieldType::kDouble: s->d = v.f64; break;
    default: s->i = IntOf(v, t); break;
  }
}

inline void CopySlot(Slot* dst, const Slot& src, FieldType t) {
  if (t == FieldType::kString) {
    if (dst->s == nullptr) dst->s = new std::string();
    *dst->s = *src.s;
  } else {
    *dst = src;
  }
}

inline void FreeSlot(Slot* s, FieldType t) {
  if (t == FieldType::kString) {
    delete s->s;
    s->s = nullptr;
  }
}

// The value a slot holds; strings point into the slot's own string.
inline Value LoadSlot(const Slot& s, FieldType t) {
  switch (t) {
    case FieldType::kString: return Value::String(*s.s);
    case FieldType::kDouble: return Value::Double(s.d);
    case FieldType::kBool: return Value::Bool(s.i != 0);
    default: return Value::Int(s.i);
  }
}

template <typename T>
inline int Cmp3(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// Compares a value with a kept slot of the same type: <0, 0, >0. No NaN here (callers drop it).
inline int CompareToSlot(FieldType t, const Value& v, const Slot& s) {
  switch (t) {
    case FieldType::kString: return Cmp3(v.sv(), std::string_view(*s.s));
    case FieldType::kDouble: return Cmp3(v.f64, s.d);
    default: return Cmp3(IntOf(v, t), s.i);
  }
}
inline int CompareValues(FieldType t, const Value& a, const Value& b) {
  switch (t) {
    case FieldType::kString: return Cmp3(a.sv(), b.sv());
    case FieldType::kDouble: return Cmp3(a.f64, b.f64);
    default: return Cmp3(IntOf(a, t), IntOf(b, t));
  }
}
inline int CompareSlots(FieldType t, const Slot& a, const Slot& b) { return CompareToSlot(t, LoadSlot(a, t), b); }

inline size_t SlotHeapBytes(const Slot& s, FieldType t) {
  if (t != FieldType::kString || s.s == nullptr) return 0;
  return sizeof(std::string) + (s.s->capacity() > 15 ? s.s->capacity() + 1 : 0);
}

// Canonical key bytes of a value for distinct sets and top-k: strings as their bytes, other
// types as 8 little-endian bytes (-0.0 as 0.0, every NaN as one NaN, bool as 0/1).
inline std::string_view KeyOf(const Value& v, FieldType t, char (&buf)[8]) {
  if (t == FieldType::kString) return v.len == 0 ? std::string_view() : v.sv();
  uint64_t bits = 0;
  if (t == FieldType::kDouble) {
    double d = v.f64;
    if (d == 0) d = 0.0;
    if (std::isnan(d))
      bits = 0x7FF8000000000000ull;
    else
      std::memcpy(&bits, &d, 8);
  } else {
    bits = static_cast<uint64_t>(IntOf(v, t));
  }
  EncodeFixed64(buf, bits);
  return {buf, 8};
}
// The inverse of KeyOf for a non-string type (key must be 8 bytes).
inline Value ValueOfKey(std::string_view key, FieldType t) {
  if (t == FieldType::kString) return Value::String(key);
  const uint64_t bits = DecodeFixed64(key.data());
  if (t == FieldType::kDouble) {
    double d;
    std::memcpy(&d, &bits, 8);
    return Value::Double(d);
  }
  if (t == FieldType::kBool) return Value::Bool(bits != 0);
  return Value::Int(static_cast<int64_t>(bits));
}

struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return XXH3_64bits(s.data(), s.size()); }
};
// value key -> number of rows with it (count_distinct: for retraction; top_k: the counter).
using CountMap = std::unordered_map<std::string, int64_t, KeyHash, std::equal_to<>>;

inline size_t CountMapHeapBytes(const CountMap& m) {
  size_t b = sizeof(CountMap) + m.bucket_count() * sizeof(void*);
  for (const auto& [k, n] : m) b += 48 + (k.capacity() > 15 ? k.capacity() + 1 : 0);
  return b;
}

// HyperLogLog with 2^kHllPrecision one-byte registers over XXH3 of the value's key bytes.
inline constexpr size_t kHllRegisters = size_t{1} << kHllPrecision;
inline constexpr uint8_t kHllRankMax = 64 - kHllPrecision + 1;
void HllAdd(uint8_t* regs, uint64_t hash);
int64_t HllEstimate(const uint8_t* regs);

// top_k counters: exact while fewer than kTopKCounters distinct values, then Space-Saving
// (a new value replaces one with the smallest count c and starts at c + 1, so counts are
// upper bounds, over by at most c).
struct TopK {
  CountMap counts;
  // Keys with count == victim_count, the current minimum, found by the last scan; valid
  // because counts only grow and a replacement starts above the minimum.
  std::vector<const std::string*> victims;
  int64_t victim_count = 0;
};
void TopKAdd(TopK* t, std::string_view key, int64_t n);
void TopKTrim(TopK* t);  // back to kTopKCounters entries after a merge, keeping the largest
// The JSON array of the k largest counts (descending count, ties by value ascending).
void TopKJson(const TopK& t, FieldType type, int k, std::string* out);

// Per-aggregate operations on the aggregate's own state (state = block + offset).
void AddOne(const CompiledAgg& c, uint8_t* state, int64_t event_time_ms, const Value* args);
void RetractOne(const CompiledAgg& c, uint8_t* state, const Value* args);  // retractable ops only
void ResultOne(const CompiledAgg& c, const uint8_t* state, Value* out, Arena* arena);
void DestroyOne(const CompiledAgg& c, uint8_t* state);
bool OpRetractable(Op op);

}  // namespace impulse::agg::detail
