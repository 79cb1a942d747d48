// RocksDbStore: the byte-level half of the RocksDB state backend (StateTable<V> keeps the decoded
// cache in front of it). Keeps RocksDB headers out of state_table.h.
//
// Layout under `dir` (StateOptions::rocksdb_dir): one DB per generation, `db-<n>`. Open discards
// older generations and starts an empty one; Restore builds generation n+1 from a checkpoint and,
// only once it has opened and passed VerifyChecksum, drops generation n. So a corrupt snapshot
// leaves the current content untouched. `dir`/LOCK is flock'ed while the store is open, so two
// tables configured with the same directory fail to open instead of deleting each other's DB.
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
#include "state/state_options.h"

namespace rocksdb {
class Cache;
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace impulse::state {

inline constexpr std::string_view kRocksDbCheckpointSubdir = "rocksdb";
inline constexpr std::string_view kManifestFileName = "state.manifest";

class RocksDbStore {
 public:
  // Uses options.rocksdb_dir and options.block_cache_bytes.
  static Result<std::unique_ptr<RocksDbStore>> Open(const StateOptions& options, Env* env);
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

  // Loads a memory-backend snapshot file (snapshot_file.h) as the new generation: same
  // guarantees as Restore. Returns its entry count.
  Result<uint64_t> RestoreFromSnapshotFile(const std::string& path, uint64_t entries_max);

  // Validates the RocksDB snapshot in `dir` (manifest, sizes, block checksums), then calls fn for
  // every pair, in key order, without opening it for writing. For restoring into another backend.
  // kResourceExhausted when it holds more than entries_max entries.
  static Status ReadCheckpoint(const std::string& dir, Env* env, uint64_t entries_max,
                               const std::function<Status(std::string_view key, std::string_view value)>& fn);

  // RocksDB memtables + table readers + block cache, approximate.
  uint64_t ApproximateMemoryBytes() const;

 private:
  RocksDbStore(std::string dir, Env* env, size_t block_cache_bytes);
  Status OpenGeneration(uint64_t generation, bool fresh);
  // Generation n+1 is open in db_ and verified: drop generation n (held in `old`).
  Status RetireGeneration(std::unique_ptr<rocksdb::DB> old, uint64_t old_generation);

  std::string dir_;
  Env* env_;
  int lock_fd_ = -1;
  std::shared_ptr<rocksdb::Cache> block_cache_;
  uint64_t generation_ = 0;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
};

}  // namespace impulse::state
