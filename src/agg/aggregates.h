// Aggregate functions for windows, group-bys and per-event features: count, sum, avg, min, max,
// first, last, count_distinct, approx_count_distinct (HyperLogLog), var/stddev, arg_max/arg_min
// and top_k. See docs/AGGREGATES.md for each function's types, null rules and costs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse::agg {

enum class AggKind : uint8_t {
  kCount,  // count(x): non-null x; count() (arity 0) counts rows
  kSum,
  kAvg,
  kMin,
  kMax,
  kFirst,
  kLast,
  kCountDistinct,
  kApproxCountDistinct,
  kVarPop,
  kVarSamp,
  kStddevPop,
  kStddevSamp,
  kArgMax,
  kArgMin,
  kTopK,
};

// "count","sum","avg","min","max","first","last","count_distinct","approx_count_distinct",
// "var_pop","var_samp","stddev_pop","stddev_samp" (aliases "stddev" = "stddev_samp",
// "variance" = "var_samp"),"arg_max","arg_min","top_k". The error lists the valid names.
Result<AggKind> ParseAggKind(std::string_view name);
// The canonical name of `kind` ("count", ..., "top_k").
std::string_view AggKindName(AggKind kind);

// Limits.
inline constexpr size_t kMaxAggregates = 256;  // per AggregateSet
inline constexpr int kTopKCounters = 10000;    // exact below, Space-Saving above
inline constexpr int kHllPrecision = 12;       // 4096 one-byte registers

struct AggSpec {
  AggKind kind = AggKind::kCount;
  int arity = 1;                            // 0 only for count(); 2 for arg_max(x, y)/arg_min(x, y);
                                            // top_k(x, k): 1 or 2 (k is the constant below)
  FieldType arg_type = FieldType::kInt64;   // type of x
  FieldType arg2_type = FieldType::kInt64;  // arg_max/arg_min: type of y (the returned value)
  int k = 0;                                // top_k: entries returned, 1..kTopKCounters
};

// Checks the kind against its argument types and returns the result type and nullability:
// count/count_distinct/approx_count_distinct -> int64 not null; sum int64 -> int64,
// double -> double; avg/var/stddev -> double; min/max/first/last -> arg_type;
// arg_max/arg_min -> arg2_type; top_k -> string (JSON array [{"value":v,"count":n},...],
// descending count, ties by value ascending). All others are nullable: a group with no
// non-null input gives null. kInvalidArgument for a bad kind/type/arity/k combination.
Result<std::pair<FieldType, bool /*nullable*/>> ResultType(const AggSpec& spec);

namespace detail {
// One compiled aggregate: its spec, where its state lives in the block, and the operation
// selected for its kind and argument type (so the per-event path switches once).
struct CompiledAgg {
  AggSpec spec;
  uint32_t offset = 0;  // bytes from the start of the state block
  uint8_t op = 0;       // detail::Op
};
}  // namespace detail

// The compiled aggregates of one operator. A group's state is a block of state_size() bytes
// (8-byte aligned; the caller allocates it, e.g. inline in a hash map value) with a fixed
// layout; variable-size parts (strings kept by min/max/first/last/arg_*, distinct sets, HLL
// registers, top-k counters) live in heap objects owned through pointers inside the block:
// always Init before use and Destroy after. An all-zero block is a valid empty state.
// Immutable after Create; const methods are thread-safe (each state has one writer).
class AggregateSet {
 public:
  // kInvalidArgument if a spec fails ResultType or there are more than kMaxAggregates.
  static impulse::Result<AggregateSet> Create(std::vector<AggSpec> specs);

  size_t size() const { return aggs_.size(); }
  size_t state_size() const { return state_size_; }
  const AggSpec& spec(size_t i) const { return aggs_[i].spec; }
  const detail::CompiledAgg& compiled(size_t i) const { return aggs_[i]; }

  void Init(uint8_t* state) const;
  void Destroy(uint8_t* state) const;  // leaves an empty (Init'ed) block behind

  // args: 2 Values per aggregate (args[2*i], args[2*i+1]); event_time_ms orders first/last
  // (first = the value at the smallest event time, ties: the first added; last = the largest,
  // ties: the last added) and is otherwise unused. Strings in args are copied when kept.
  // No heap allocation for count/sum/avg/min/max (non-string)/var/first/last (non-string).
  void Add(uint8_t* state, int64_t event_time_ms, const Value* args) const;

  // Only count, sum, avg, var*, stddev*, count_distinct can retract.
  bool Retractable() const { return retractable_; }
  // Removes a previously added row (same args). Returns false, changing nothing, if some
  // aggregate of the set cannot retract.
  bool Retract(uint8_t* state, int64_t event_time_ms, const Value* args) const;

  // into += from (hopping-window panes into a window; partial aggregates). Both initialized.
  // first/last ties (equal event times) keep `into`'s value for first and take `from`'s for
  // last: `into` is taken to hold the earlier rows.
  void Merge(uint8_t* into, const uint8_t* from) const;

  // One Value per aggregate into out[0..size()); strings are copied into `arena`.
  void Result(const uint8_t* state, Value* out, Arena* arena) const;

  // Checkpoint form (docs/AGGREGATES.md): appends a self-delimiting encoding. Deserialize
  // reads one from the front of *in and advances it; the target must be Init'ed and is
  // replaced. kDataLoss on malformed input (the target is then a valid but unspecified state).
  void Serialize(const uint8_t* state, std::string* out) const;
  Status Deserialize(std::string_view* in, uint8_t* state) const;

  // Heap bytes owned by this state (an estimate, for the memory bounds of the operator).
  size_t HeapBytes(const uint8_t* state) const;

 private:
  std::vector<detail::CompiledAgg> aggs_;
  size_t state_size_ = 0;
  bool retractable_ = true;
};

}  // namespace impulse::agg
