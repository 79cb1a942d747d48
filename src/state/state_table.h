// StateTable<V>: the keyed state of one stateful operator instance (window aggregates, joins,
// dedup). Keys are opaque bytes (the operator encodes key fields and window); values are V.
// The same operator code runs with state in memory (StateOptions::Backend::kMemory, the default
// and fastest) or in RocksDB behind a bounded decoded cache (kRocksDb, for state larger than
// memory). Both are bounded by entries_max. One thread: the shard that owns the operator.
//
// V: default-constructible, movable, and encodable through StateCodec<V> (state_options.h):
// members `void Serialize(std::string* out) const` + `Status Deserialize(std::string_view)`, or
// trivially copyable. Layouts, costs and the snapshot formats: docs/STATE.md.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "state/cached_rocksdb_table.h"
#include "state/memory_table.h"
#include "state/snapshot_file.h"
#include "state/state_options.h"

namespace impulse::state {

template <typename V>
class StateTable {
 public:
  static Result<std::unique_ptr<StateTable<V>>> Open(const StateOptions& options) {
    if (options.entries_max == 0) return InvalidArgument("state: entries_max must be > 0");
    if (options.key_bytes_max == 0) return InvalidArgument("state: key_bytes_max must be > 0");
    std::unique_ptr<StateTable<V>> table(new StateTable<V>(options));
    if (options.backend == StateOptions::Backend::kRocksDb) {
      if (options.cache_entries_max == 0 || options.cache_entries_max > kCacheEntriesLimit) {
        return InvalidArgument("state: cache_entries_max must be in [1, " + std::to_string(kCacheEntriesLimit) + "]");
      }
      ASSIGN_OR_RETURN(table->rocks_, internal::CachedRocksDbTable<V>::Open(options, table->env_));
    } else {
      table->memory_ = std::make_unique<internal::MemoryTable<V>>(options);
    }
    return table;
  }

  // The value for key or nullptr. The pointer is valid until the next Find/FindOrInsert/Erase/
  // ForEach/Checkpoint/Restore call (RocksDB: eviction). Any value returned is treated as
  // modified (written back when evicted or checkpointed). kDataLoss if RocksDB holds bytes V
  // cannot decode.
  Result<V*> Find(std::string_view key) {
    if (InjectedFailureDue()) [[unlikely]] {
      return InjectedFailure();
    }
    if (memory_) return memory_->Find(key);
    if (key.size() > options_.key_bytes_max) return static_cast<V*>(nullptr);  // never inserted
    return rocks_->Lookup(key, /*insert=*/false, nullptr, nullptr);
  }

  // Inserts a default V when absent (*inserted says which). A bound refusing the insert:
  // kResourceExhausted when entries_max is reached (counted in stats().entries_max_rejections),
  // kInvalidArgument for a key longer than key_bytes_max, and *refused_by_bound set. Only a bound
  // sets *refused_by_bound: a backend failure (RocksDB's NoSpace is kResourceExhausted too) leaves
  // it false, so callers tell "drop this row" from "the state is broken" by the flag, never by
  // the code.
  Result<V*> FindOrInsert(std::string_view key, bool* inserted = nullptr, bool* refused_by_bound = nullptr) {
    if (refused_by_bound != nullptr) *refused_by_bound = false;
    if (InjectedFailureDue()) [[unlikely]] {
      return InjectedFailure();
    }
    if (key.size() > options_.key_bytes_max) {
      if (refused_by_bound != nullptr) *refused_by_bound = true;
      return InvalidArgument("state key of " + std::to_string(key.size()) + " bytes exceeds key_bytes_max " +
                             std::to_string(options_.key_bytes_max));
    }
    if (memory_) return memory_->FindOrInsert(key, inserted, refused_by_bound);
    return rocks_->Lookup(key, /*insert=*/true, inserted, refused_by_bound);
  }

  // Removes key if present (absent is OK).
  Status Erase(std::string_view key) {
    if (InjectedFailureDue()) [[unlikely]] {
      return InjectedFailure();
    }
    if (memory_) {
      memory_->Erase(key);
      return Status::OK();
    }
    if (key.size() > options_.key_bytes_max) return Status::OK();
    return rocks_->Erase(key);
  }

  size_t size() const { return memory_ ? memory_->size() : rocks_->size(); }

  // Visits every live entry once, in unspecified order. fn may change the value it is given
  // (the change is kept) but must not call into the table. A non-OK status from fn stops the
  // walk and is returned.
  Status ForEach(const std::function<Status(std::string_view key, V& value)>& fn) {
    if (InjectedFailureDue()) [[unlikely]] {
      return InjectedFailure();
    }
    return memory_ ? memory_->ForEach(fn) : rocks_->ForEach(fn);
  }

  // ForEach for a walk that only reads: the same visit, but a value it sees is not treated as
  // modified, so a capture in progress (BeginCapture) need not serialize it first. Memory: no
  // copy, no write-back; RocksDB: ForEach.
  Status ForEachRead(const std::function<Status(std::string_view key, const V& value)>& fn) {
    if (InjectedFailureDue()) [[unlikely]] {
      return InjectedFailure();
    }
    if (memory_) return memory_->ForEachRead(fn);
    return rocks_->ForEach([&](std::string_view key, V& value) { return fn(key, value); });
  }

  // Writes a consistent snapshot of the whole table into `dir` (created; must not exist or be
  // empty, else kAlreadyExists). Memory: one file `state.snap`. RocksDB: dirty entries written
  // back, then `rocksdb/` (rocksdb::Checkpoint, hard links) and `state.manifest`. Returns the
  // bytes of the snapshot's files.
  Result<uint64_t> Checkpoint(const std::string& dir) {
    if (memory_) {
      RETURN_IF_ERROR(env_->CreateDirs(dir));
      ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir));
      if (!names.empty()) return AlreadyExists("state checkpoint directory is not empty: " + dir);
      return memory_->Checkpoint(env_, dir);
    }
    return rocks_->Checkpoint(dir);
  }

  // The incremental form of Checkpoint, for checkpoints taken while the owner keeps working
  // (docs/CHECKPOINTS.md). Memory: O(1) now; the snapshot of the content as of this call is
  // serialized by the owner thread (entries it is about to change, and CaptureStep's slices) into
  // `dir`/state.snap, an AsyncFile appended to `files` that another thread writes and syncs.
  // The same file as Checkpoint writes. RocksDB: Checkpoint now (write-back of dirty cached
  // entries, then hard links), nothing appended.
  Status BeginCapture(const std::string& dir, AsyncFiles* files) {
    if (memory_) {
      memory_->BeginCapture(dir + "/" + std::string(kSnapshotFileName), files);
      return Status::OK();
    }
    return rocks_->Checkpoint(dir).status();
  }
  // Advances a capture until `deadline`; true when none is in progress.
  bool CaptureStep(std::chrono::steady_clock::time_point deadline) {
    return memory_ ? memory_->CaptureStep(deadline) : true;
  }
  bool capturing() const { return memory_ && memory_->capturing(); }

  // Replaces the content with the snapshot in `dir`, written by either backend (so a job can
  // switch backend across a restart). A corrupt snapshot is kDataLoss naming the file or
  // directory; kResourceExhausted beyond entries_max; on any error the table keeps its content.
  // RocksDB from RocksDB: the checkpoint's files are linked/copied into a new DB generation and
  // verified (VerifyChecksum reads it all once); from a memory snapshot: the records are loaded.
  // Values are decoded when read, so a value V cannot decode is kDataLoss from Find then.
  Status Restore(const std::string& dir) {
    const bool has_file = env_->FileExists(dir + "/" + std::string(kSnapshotFileName));
    const bool has_manifest = env_->FileExists(dir + "/" + std::string(kManifestFileName));
    if (!has_file && !has_manifest) return NotFound("no state snapshot in " + dir);
    if (memory_) return memory_->Restore(env_, dir, /*from_rocksdb=*/!has_file);
    return rocks_->Restore(dir, /*from_memory=*/!has_manifest);
  }

  StateStats stats() const { return memory_ ? memory_->stats() : rocks_->stats(); }

  const StateOptions& options() const { return options_; }

 private:
  static constexpr size_t kCacheEntriesLimit = size_t{1} << 26;

  // StateOptions::fail_after_ops_for_test.
  // One predictable branch per operation when off; no Status is built on the hot path.
  bool InjectedFailureDue() {
    return options_.fail_after_ops_for_test != 0 && ops_++ >= options_.fail_after_ops_for_test;
  }
  Status InjectedFailure() const {
    return Status(options_.fail_code_for_test, "state: injected backend failure (fail_after_ops_for_test)");
  }

  explicit StateTable(const StateOptions& options)
      : options_(options), env_(options.env != nullptr ? options.env : Env::Default()) {}

  StateOptions options_;
  Env* env_;
  uint64_t ops_ = 0;                                        // operations so far, for fail_after_ops_for_test
  std::unique_ptr<internal::MemoryTable<V>> memory_;        // kMemory
  std::unique_ptr<internal::CachedRocksDbTable<V>> rocks_;  // kRocksDb
};

}  // namespace impulse::state
