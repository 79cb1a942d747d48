// Fuzzes the checkpoint readers: AggregateSet::Deserialize and SlidingWindow::Deserialize get
// arbitrary bytes for a set of every kind over one argument type (chosen by the first byte).
// Whatever they accept must give results, re-serialize and read back to an equal encoding
// length; whatever they reject must leave a state that can be used and destroyed. Aborts on
// any mismatch; ASan/UBSan catch the rest.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "agg/aggregates.h"
#include "agg/sliding.h"

namespace {

using namespace impulse;
using namespace impulse::agg;

AggregateSet SetFor(FieldType t) {
  const bool numeric = t == FieldType::kInt64 || t == FieldType::kDouble;
  std::vector<AggSpec> s;
  s.push_back({.kind = AggKind::kCount, .arity = 0, .arg_type = t});
  if (numeric)
    for (AggKind k : {AggKind::kSum, AggKind::kAvg, AggKind::kVarSamp}) s.push_back({.kind = k, .arg_type = t});
  for (AggKind k : {AggKind::kMin, AggKind::kMax, AggKind::kFirst, AggKind::kLast, AggKind::kCountDistinct,
                    AggKind::kApproxCountDistinct})
    s.push_back({.kind = k, .arg_type = t});
  s.push_back({.kind = AggKind::kArgMax, .arity = 2, .arg_type = t, .arg2_type = FieldType::kString});
  s.push_back({.kind = AggKind::kTopK, .arity = 2, .arg_type = t, .k = 3});
  auto set = AggregateSet::Create(std::move(s));
  if (!set.ok()) std::abort();
  return std::move(set).value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const AggregateSet kSets[5] = {SetFor(FieldType::kInt64), SetFor(FieldType::kDouble), SetFor(FieldType::kBool),
                                        SetFor(FieldType::kString), SetFor(FieldType::kTimestamp)};
  const AggregateSet& set = kSets[data[0] % 5];
  const bool sliding = (data[0] / 5) % 2 == 1;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  Arena arena;
  std::vector<Value> out(set.size());
  if (!sliding) {
    std::vector<uint64_t> mem(set.state_size() / 8 + 1);
    auto* state = reinterpret_cast<uint8_t*>(mem.data());
    set.Init(state);
    const bool ok = set.Deserialize(&in, state).ok();
    set.Result(state, out.data(), &arena);
    if (ok) {
      std::string enc;
      set.Serialize(state, &enc);
      std::vector<uint64_t> mem2(mem.size());
      auto* state2 = reinterpret_cast<uint8_t*>(mem2.data());
      set.Init(state2);
      std::string_view in2 = enc;
      if (!set.Deserialize(&in2, state2).ok() || !in2.empty()) std::abort();
      std::string enc2;
      set.Serialize(state2, &enc2);
      if (enc2.size() != enc.size()) std::abort();
      set.Destroy(state2);
    }
    set.Destroy(state);
  } else {
    SlidingWindow w;
    const bool ok = w.Deserialize(set, &in).ok();
    (void)w.HeapBytes();
    if (ok) {
      Value args[64];
      w.Add(set, 1000, INT64_MAX / 2, args, out.data(), &arena);
    }
    w.Destroy(set);
  }
  return 0;
}
