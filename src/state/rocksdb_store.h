// RocksDbStore: the byte-level half of the RocksDB state backend (StateTable<V> keeps the decoded
// cache in front of it). Keeps RocksDB headers out of state_table.h.
//
// Layout under `dir` (StateOptions::rocksdb_dir): one DB per generation, `db-<n>`. Open discards
// older generations and starts an empty one; Restore builds generation n+1 from a checkpoint and,
// only once it has opened and passed VerifyChecksum, drops generation n. So a corrupt snapshot
// leaves the current content untouched.
//
// Writes go through a WriteBatch with the write-ahead log disabled: the working DB is scratch
// space, durability comes from Checkpoint (which flushes the memtable first), and recovery is
// Restore from the last checkpoint followed by log replay. The WAL would double write volume
// for nothing.
//
// One thread (the owning operator's shard). RocksDB's own background threads flush and compact.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "impulse/env.h"
#include "impulse/status.h"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace impulse::state {

inline constexpr std::string_view kRocksDbCheckpointSubdir = "rocksdb";
inline constexpr std::string_view kManifestFileName = "state.manifest";

class RocksDbStore {
 public:
  static Result<std::unique_ptr<RocksDbStore>> Open(const std::string& dir, Env* env);
  ~RocksDbStore();
  RocksDbStore(const RocksDbStore&) = delete;
  RocksDbStore& operator=(const RocksDbStore&) = delete;

  // *value = the stored bytes; false when the key is absent.
  Result<bool> Get(std::string_view key, std::string* value);

  // Pending batch: applied by CommitBatch (reads do not see it before).
  void BatchPut(std::string_view key, std::string_view value);
  void BatchDelete(std::string_view key);
  size_t batch_count() const;
  Status CommitBatch();

  // Visits every stored pair in key order from one consistent view. Views valid during the call.
  Status ForEach(const std::function<Status(std::string_view key, std::string_view value)>& fn);

  // Writes `dir`/rocksdb (rocksdb::Checkpoint: flush, then hard links) and `dir`/state.manifest
  // (file list with sizes, `entries`, CRC32C). `dir` must not exist or be empty. The pending
  // batch must be committed first. Returns the bytes of the snapshot's files.
  Result<uint64_t> Checkpoint(const std::string& dir, uint64_t entries);

  // Validates the snapshot in `dir`, loads it as the new generation and returns its entry count.
  // kDataLoss naming the file when the manifest, a file's size or a block checksum is wrong;
  // the current content is kept on any error.
  // kResourceExhausted when the snapshot holds more than entries_max entries.
  Result<uint64_t> Restore(const std::string& dir, uint64_t entries_max);

  // RocksDB memtables + table readers, approximate.
  uint64_t ApproximateMemoryBytes() const;

 private:
  RocksDbStore(std::string dir, Env* env);
  Status OpenGeneration(uint64_t generation, bool fresh);

  std::string dir_;
  Env* env_;
  uint64_t generation_ = 0;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
};

}  // namespace impulse::state
