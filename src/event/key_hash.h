// Key hashing and partition choice: which partition (and so which shard) owns an event's key.
// The hash is part of the on-disk contract (events are partitioned by it), so it must never
// change for a given value: XXH3_64bits, seed 0, over the string bytes or the value's 8
// little-endian bytes. Pure functions, safe from any thread.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <cstring>

#include "common/fixed_codec.h"
#include "impulse/row.h"
#include "impulse/schema.h"

namespace impulse {

// The hash of a null key (fixed; any value would do, this one is documented).
inline constexpr uint64_t kNullKeyHash = 0x9E3779B97F4A7C15ull;

// Hash of `v` read as type `t`. Equal values hash equally: -0.0 hashes as 0.0, every NaN as
// one canonical NaN, a bool as the 8-byte integer 0 or 1.
inline uint64_t HashValue(const Value& v, FieldType t) {
  if (v.null) return kNullKeyHash;
  uint64_t bits = 0;
  switch (t) {
    case FieldType::kString: return XXH3_64bits(v.len == 0 ? "" : v.str, v.len);
    case FieldType::kInt64:
    case FieldType::kTimestamp: bits = static_cast<uint64_t>(v.i64); break;
    case FieldType::kBool: bits = v.b ? 1 : 0; break;
    case FieldType::kDouble: {
      double d = v.f64;
      if (d == 0) d = 0.0;  // folds -0.0 into 0.0
      if (d != d)
        bits = 0x7FF8000000000000ull;  // canonical quiet NaN
      else
        std::memcpy(&bits, &d, 8);
      break;
    }
  }
  char bytes[8];
  EncodeFixed64(bytes, bits);
  return XXH3_64bits(bytes, 8);
}

// The partition in [0, partitions) for a key hash; 0 when partitions is 0.
inline uint32_t PartitionFor(uint64_t hash, uint32_t partitions) {
  return partitions == 0 ? 0 : static_cast<uint32_t>(hash % partitions);
}

}  // namespace impulse
