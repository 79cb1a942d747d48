// CachedRocksDbTable<V>: the RocksDB StateTable backend (internal; use StateTable<V>).
//
// A bounded cache of decoded values (StateOptions::cache_entries_max; a FlatStringMap) in front
// of a RocksDbStore.
// Every cached entry handed out is marked dirty (the caller may have changed it through the
// pointer) and is written back when CLOCK evicts it, or at ForEach/Checkpoint. Evictions are done
// in groups of cache_entries_max/64 (at least 1) so their write-back is one WriteBatch. A group
// is removed from the cache only after its batch was written, so a failed write loses nothing.
// Misses read RocksDB (Get) and cache the result. size() is exact: a miss that finds nothing in
// RocksDB is a new key; Erase checks RocksDB for keys not cached. One thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "state/flat_map.h"
#include "state/rocksdb_store.h"
#include "state/snapshot_file.h"
#include "state/state_options.h"

namespace impulse::state::internal {

template <typename V>
class CachedRocksDbTable {
 public:
  static Result<std::unique_ptr<CachedRocksDbTable>> Open(const StateOptions& options, Env* env) {
    ASSIGN_OR_RETURN(std::unique_ptr<RocksDbStore> store, RocksDbStore::Open(options, env));
    return std::unique_ptr<CachedRocksDbTable>(new CachedRocksDbTable(options, std::move(store)));
  }

  // *refused_by_bound (optional): set when entries_max refuses the insert, never by a RocksDB error.
  Result<V*> Lookup(std::string_view key, bool insert, bool* inserted, bool* refused_by_bound) {
    if (inserted != nullptr) *inserted = false;
    if (Entry* hit = cache_.Find(key)) {
      ++stats_.cache_hits;
      hit->referenced = true;
      hit->dirty = true;
      return &hit->value;
    }
    ++stats_.cache_misses;
    ASSIGN_OR_RETURN(bool stored, store_->Get(key, &scratch_));
    if (!stored && !insert) return static_cast<V*>(nullptr);
    if (!stored && size_ >= options_.entries_max) {
      ++stats_.entries_max_rejections;
      if (refused_by_bound != nullptr) *refused_by_bound = true;
      return ResourceExhausted("state table full: entries_max " + std::to_string(options_.entries_max));
    }
    V value;
    if (stored) {
      Status s = StateCodec<V>::Deserialize(scratch_, &value);
      if (!s.ok()) return DataLoss("state value in " + options_.rocksdb_dir + ": " + s.message());
    }
    RETURN_IF_ERROR(MakeRoom());
    Entry* entry = cache_.Insert(key);
    entry->value = std::move(value);
    entry->dirty = entry->referenced = true;
    entry->stored = stored;
    key_bytes_ += HeapKeyBytes(key);
    if (!stored) {
      ++size_;
      if (inserted != nullptr) *inserted = true;
    }
    return &entry->value;
  }

  Status Erase(std::string_view key) {
    Entry* cached = cache_.Find(key);
    bool stored;
    if (cached != nullptr) {
      stored = cached->stored;
    } else {
      ASSIGN_OR_RETURN(stored, store_->Get(key, &scratch_));
      if (!stored) return Status::OK();
    }
    if (stored) {
      // Delete from RocksDB first: if that fails the entry is still live and still cached.
      store_->BatchDelete(key);
      RETURN_IF_ERROR(store_->CommitBatch());
    }
    if (cached != nullptr) Drop(key);
    --size_;
    return Status::OK();
  }

  size_t size() const { return size_; }

  Status ForEach(const std::function<Status(std::string_view key, V& value)>& fn) {
    RETURN_IF_ERROR(WriteBackAll());
    // Every live entry is now in RocksDB exactly once; cached ones are visited in their cached
    // (authoritative) form, others decoded and written back only if fn changed their encoding.
    V value;
    std::string encoded;
    Status walked = store_->ForEach([&](std::string_view key, std::string_view bytes) -> Status {
      if (Entry* cached = cache_.Find(key)) {
        cached->dirty = true;
        return fn(key, cached->value);
      }
      value = V();
      Status s = StateCodec<V>::Deserialize(bytes, &value);
      if (!s.ok()) return DataLoss("state value in " + options_.rocksdb_dir + ": " + s.message());
      Status visited = fn(key, value);  // a change made before an error is kept too
      encoded.clear();
      StateCodec<V>::Serialize(value, &encoded);
      if (encoded != bytes) store_->BatchPut(key, encoded);
      if (!visited.ok()) return visited;
      if (store_->batch_count() >= kSweepBatchEntries) return store_->CommitBatch();
      return Status::OK();
    });
    // Keep what fn changed before a stop, and never leave a batch pending.
    Status committed = store_->CommitBatch();
    return walked.ok() ? committed : walked;
  }

  Result<uint64_t> Checkpoint(const std::string& dir) {
    RETURN_IF_ERROR(WriteBackAll());
    return store_->Checkpoint(dir, size_);
  }

  // `dir` holds this backend's snapshot or, when from_memory, a memory backend snapshot file.
  Status Restore(const std::string& dir, bool from_memory) {
    ASSIGN_OR_RETURN(
        uint64_t entries,
        from_memory ? store_->RestoreFromSnapshotFile(dir + "/" + std::string(kSnapshotFileName), options_.entries_max)
                    : store_->Restore(dir, options_.entries_max));
    // The cache described the old content: drop it without writing back.
    Cache empty;
    cache_.Swap(empty);
    hand_ = 0;
    key_bytes_ = 0;
    size_ = entries;
    return Status::OK();
  }

  StateStats stats() const {
    StateStats s = stats_;
    s.entries = size_;
    s.memory_bytes = cache_.capacity() * sizeof(typename Cache::Slot) + key_bytes_ + store_->ApproximateMemoryBytes();
    return s;
  }

 private:
  static constexpr size_t kSweepBatchEntries = 1000;

  struct Entry {
    V value{};
    bool dirty = false;       // may differ from RocksDB
    bool referenced = false;  // CLOCK bit
    bool stored = false;      // RocksDB holds a version of this key
  };
  using Cache = FlatStringMap<Entry>;

  CachedRocksDbTable(const StateOptions& options, std::unique_ptr<RocksDbStore> store)
      : options_(options), store_(std::move(store)) {
    evict_group_ = std::max<size_t>(1, options_.cache_entries_max / 64);
  }

  static size_t HeapKeyBytes(std::string_view key) { return key.size() > 15 ? key.size() + 1 : 0; }

  void Drop(std::string_view key) {
    key_bytes_ -= HeapKeyBytes(key);
    cache_.Erase(key);
  }

  // Evicts a group when the cache is full. CLOCK over the cache's slot array: a referenced entry
  // gets a second chance. The group is written back in one batch, then removed.
  Status MakeRoom() {
    if (cache_.size() < options_.cache_entries_max) return Status::OK();
    victims_.clear();
    const size_t want = std::min(evict_group_, cache_.size());
    const size_t capacity = cache_.capacity();
    // Two sweeps clear every reference bit, so the loop ends.
    for (size_t steps = 0; victims_.size() < want && steps < 2 * capacity + 1; ++steps) {
      if (hand_ >= capacity) hand_ = 0;
      auto& slot = cache_.SlotAt(hand_++);
      if (slot.hash == 0) continue;
      if (slot.value.referenced) {
        slot.value.referenced = false;
        continue;
      }
      victims_.push_back(slot.key);
      if (slot.value.dirty) {
        scratch_.clear();
        StateCodec<V>::Serialize(slot.value.value, &scratch_);
        store_->BatchPut(slot.key, scratch_);
      }
    }
    IMPULSE_CHECK(!victims_.empty());
    const size_t written = store_->batch_count();
    RETURN_IF_ERROR(store_->CommitBatch());
    stats_.writebacks += written;
    stats_.evictions += victims_.size();
    for (const std::string& key : victims_) Drop(key);
    return Status::OK();
  }

  // Writes every dirty cached entry to RocksDB; they stay cached, clean. No insert or erase
  // happens meanwhile, so slot positions are stable.
  Status WriteBackAll() {
    std::vector<size_t> written;
    for (size_t i = 0; i < cache_.capacity(); ++i) {
      auto& slot = cache_.SlotAt(i);
      if (slot.hash == 0 || !slot.value.dirty) continue;
      scratch_.clear();
      StateCodec<V>::Serialize(slot.value.value, &scratch_);
      store_->BatchPut(slot.key, scratch_);
      written.push_back(i);
      if (store_->batch_count() >= kSweepBatchEntries) RETURN_IF_ERROR(MarkWritten(&written));
    }
    return MarkWritten(&written);
  }

  Status MarkWritten(std::vector<size_t>* written) {
    RETURN_IF_ERROR(store_->CommitBatch());
    stats_.writebacks += written->size();
    for (size_t i : *written) {
      Entry& entry = cache_.SlotAt(i).value;
      entry.dirty = false;
      entry.stored = true;
    }
    written->clear();
    return Status::OK();
  }

  StateOptions options_;
  std::unique_ptr<RocksDbStore> store_;
  Cache cache_;
  std::vector<std::string> victims_;
  size_t hand_ = 0;
  size_t evict_group_ = 1;
  size_t size_ = 0;
  size_t key_bytes_ = 0;
  std::string scratch_;
  StateStats stats_;
};

}  // namespace impulse::state::internal
