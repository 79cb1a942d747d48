// Options, statistics and the value codec shared by every StateTable backend.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "impulse/env.h"
#include "impulse/status.h"

namespace impulse::state {

struct StateOptions {
  enum class Backend { kMemory, kRocksDb };
  // kMemory: a hash map, fastest, bounded by RAM. kRocksDb: a bounded decoded cache in front of an
  // embedded RocksDB, for state larger than memory.
  Backend backend = Backend::kMemory;
  // kRocksDb: working directory of this table's DB (created). Scratch space: Open discards any DB
  // generation left in it (the write-ahead log is off; durability comes from Checkpoint/Restore).
  std::string rocksdb_dir;
  // kRocksDb: entries kept decoded in memory; dirty ones are written back on eviction. 1..1<<26.
  size_t cache_entries_max = 100000;
  // kRocksDb: RocksDB's block cache (encoded blocks, behind the decoded cache above), per table.
  size_t block_cache_bytes = 32 << 20;
  // Hard bound on live entries (both backends); Insert beyond it fails with kResourceExhausted.
  size_t entries_max = 10'000'000;
  // Longest key accepted by FindOrInsert (kInvalidArgument beyond it). Bounds snapshot records.
  size_t key_bytes_max = size_t{64} * 1024;
  // File system for snapshot files (memory backend and the checkpoint manifest); nullptr = Env::Default().
  Env* env = nullptr;
  // Tests only: > 0 makes every Find/FindOrInsert/Erase/ForEach after the first this many fail
  // with fail_code_for_test, as a broken backend would (the operator's error path). 0 (default): off.
  uint64_t fail_after_ops_for_test = 0;
  // Tests only: the code of those failures. A backend can fail with any code (RocksDB's NoSpace is
  // kResourceExhausted), including the codes of a bound refusal: the caller must still see a failure.
  StatusCode fail_code_for_test = StatusCode::kIOError;
};

// Observability counters of one table. Plain values: read on the table's thread.
struct StateStats {
  uint64_t entries = 0;                 // live entries (== size())
  uint64_t memory_bytes = 0;            // approximate: keys + sizeof(V) + container overhead, not V's heap
  uint64_t cache_hits = 0;              // kRocksDb: lookups served by the cache (kMemory: 0)
  uint64_t cache_misses = 0;            // kRocksDb: lookups that went to RocksDB
  uint64_t evictions = 0;               // kRocksDb: entries dropped from the cache
  uint64_t writebacks = 0;              // kRocksDb: dirty entries written to RocksDB
  uint64_t entries_max_rejections = 0;  // FindOrInsert calls refused by entries_max
};

// How a value V becomes bytes. Either V has the members
//   void Serialize(std::string* out) const;   // appends the encoding to *out (the table passes it empty)
//   Status Deserialize(std::string_view in);   // replaces *this; a non-OK status means corrupt bytes
// or V is trivially copyable (integers, doubles, PODs), encoded as its raw bytes (host byte order:
// snapshots are for the same build on the same machine type). Specialize StateCodec for anything else.
template <typename V>
struct StateCodec;

template <typename V>
concept HasMemberCodec = requires(const V& cv, V& v, std::string* out, std::string_view in) {
  { cv.Serialize(out) } -> std::same_as<void>;
  { v.Deserialize(in) } -> std::same_as<Status>;
};

template <typename V>
requires HasMemberCodec<V>
struct StateCodec<V> {
  static void Serialize(const V& v, std::string* out) { v.Serialize(out); }
  static Status Deserialize(std::string_view in, V* v) { return v->Deserialize(in); }
};

// clang-format 14 mangles a parenthesized requires clause; the concept keeps it readable.
template <typename V>
concept TriviallyCodable = !HasMemberCodec<V> && std::is_trivially_copyable_v<V>;

template <typename V>
requires TriviallyCodable<V>
struct StateCodec<V> {
  static void Serialize(const V& v, std::string* out) { out->append(reinterpret_cast<const char*>(&v), sizeof(V)); }
  static Status Deserialize(std::string_view in, V* v) {
    if (in.size() != sizeof(V)) {
      return DataLoss("state value: expected " + std::to_string(sizeof(V)) + " bytes, got " +
                      std::to_string(in.size()));
    }
    std::memcpy(static_cast<void*>(v), in.data(), sizeof(V));
    return Status::OK();
  }
};

// A std::string value is its own encoding (payload blobs, dedup markers).
template <>
struct StateCodec<std::string> {
  static void Serialize(const std::string& v, std::string* out) { out->append(v); }
  static Status Deserialize(std::string_view in, std::string* v) {
    v->assign(in);
    return Status::OK();
  }
};

}  // namespace impulse::state
