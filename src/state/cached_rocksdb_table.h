// CachedRocksDbTable<V>: the RocksDB StateTable backend (internal; use StateTable<V>).
//
// A bounded cache of decoded values (StateOptions::cache_entries_max) in front of a RocksDbStore.
// Every cached entry handed out is marked dirty (the caller may have changed it through the
// pointer) and is written back when CLOCK evicts it, or at ForEach/Checkpoint. Evictions are done
// in groups of cache_entries_max/64 (at least 1) so their write-back is one WriteBatch. A group
// is removed from the cache only after its batch was written, so a failed write loses nothing.
// Misses read RocksDB (Get) and cache the result. size() is exact: a miss that finds nothing in
// RocksDB is a new key; Erase checks RocksDB for keys not cached. One thread.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

  Result<V*> Lookup(std::string_view key, bool insert, bool* inserted) {
    if (inserted != nullptr) *inserted = false;
    auto it = index_.find(key);
    if (it != index_.end()) {
      ++stats_.cache_hits;
      Slot& slot = slots_[it->second];
      slot.referenced = true;
      slot.dirty = true;
      return &slot.value;
    }
    ++stats_.cache_misses;
    ASSIGN_OR_RETURN(bool stored, store_->Get(key, &scratch_));
    if (!stored && !insert) return static_cast<V*>(nullptr);
    if (!stored && size_ >= options_.entries_max) {
      ++stats_.entries_max_rejections;
      return ResourceExhausted("state table full: entries_max " + std::to_string(options_.entries_max));
    }
    V value;
    if (stored) {
      Status s = StateCodec<V>::Deserialize(scratch_, &value);
      if (!s.ok()) return DataLoss("state value in " + options_.rocksdb_dir + ": " + s.message());
    }
    RETURN_IF_ERROR(MakeRoom());
    uint32_t index;
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      index = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    Slot& slot = slots_[index];
    slot.key.assign(key);
    slot.value = std::move(value);
    slot.used = slot.dirty = slot.referenced = true;
    slot.stored = stored;
    index_.emplace(std::string_view(slot.key), index);
    key_bytes_ += slot.key.size();
    if (!stored) {
      ++size_;
      if (inserted != nullptr) *inserted = true;
    }
    return &slot.value;
  }

  Status Erase(std::string_view key) {
    auto it = index_.find(key);
    const bool cached = it != index_.end();
    bool stored;
    if (cached) {
      stored = slots_[it->second].stored;
    } else {
      ASSIGN_OR_RETURN(stored, store_->Get(key, &scratch_));
      if (!stored) return Status::OK();
    }
    if (stored) {
      // Delete from RocksDB first: if that fails the entry is still live and still cached.
      store_->BatchDelete(key);
      RETURN_IF_ERROR(store_->CommitBatch());
    }
    if (cached) Drop(it->second);
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
      auto it = index_.find(key);
      if (it != index_.end()) {
        Slot& slot = slots_[it->second];
        slot.dirty = true;
        return fn(key, slot.value);
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
    ASSIGN_OR_RETURN(uint64_t entries,
                     from_memory ? store_->RestoreFromSnapshotFile(dir + "/" + std::string(kSnapshotFileName),
                                                                   options_.entries_max)
                                 : store_->Restore(dir, options_.entries_max));
    // The cache described the old content: drop it without writing back.
    index_.clear();
    slots_.clear();
    free_.clear();
    hand_ = 0;
    key_bytes_ = 0;
    size_ = entries;
    return Status::OK();
  }

  StateStats stats() const {
    StateStats s = stats_;
    s.entries = size_;
    constexpr size_t kCachedBytes = sizeof(Slot) + 3 * sizeof(void*) + sizeof(std::string_view) + sizeof(uint32_t);
    s.memory_bytes = slots_.size() * kCachedBytes + index_.bucket_count() * sizeof(void*) + key_bytes_ +
                     store_->ApproximateMemoryBytes();
    return s;
  }

 private:
  static constexpr size_t kSweepBatchEntries = 1000;

  struct Slot {
    std::string key;  // index_ holds a view of it; deque elements never move
    V value{};
    bool used = false;
    bool dirty = false;       // may differ from RocksDB
    bool referenced = false;  // CLOCK bit
    bool stored = false;      // RocksDB holds a version of this key
  };

  CachedRocksDbTable(const StateOptions& options, std::unique_ptr<RocksDbStore> store)
      : options_(options), store_(std::move(store)) {
    evict_group_ = std::max<size_t>(1, options_.cache_entries_max / 64);
  }

  void Drop(uint32_t index) {
    Slot& slot = slots_[index];
    index_.erase(std::string_view(slot.key));
    key_bytes_ -= slot.key.size();
    slot.key.clear();
    slot.value = V();  // release what V holds now, not when the slot is reused
    slot.used = slot.dirty = slot.referenced = slot.stored = false;
    free_.push_back(index);
  }

  // Evicts a group when the cache is full (CLOCK: a referenced slot gets a second chance).
  Status MakeRoom() {
    if (index_.size() < options_.cache_entries_max) return Status::OK();
    victims_.clear();
    const size_t want = std::min(evict_group_, index_.size());
    // Two sweeps clear every reference bit, so the loop ends.
    for (size_t steps = 0; victims_.size() < want && steps < 2 * slots_.size() + 1; ++steps) {
      if (hand_ >= slots_.size()) hand_ = 0;
      Slot& slot = slots_[hand_];
      if (slot.used) {
        if (slot.referenced) {
          slot.referenced = false;
        } else {
          victims_.push_back(static_cast<uint32_t>(hand_));
          if (slot.dirty) {
            scratch_.clear();
            StateCodec<V>::Serialize(slot.value, &scratch_);
            store_->BatchPut(slot.key, scratch_);
          }
        }
      }
      ++hand_;
    }
    IMPULSE_CHECK(!victims_.empty());
    const size_t written = store_->batch_count();
    RETURN_IF_ERROR(store_->CommitBatch());
    stats_.writebacks += written;
    stats_.evictions += victims_.size();
    for (uint32_t index : victims_) Drop(index);
    return Status::OK();
  }

  // Writes every dirty cached entry to RocksDB; they stay cached, clean.
  Status WriteBackAll() {
    std::vector<uint32_t> written;
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (!slot.used || !slot.dirty) continue;
      scratch_.clear();
      StateCodec<V>::Serialize(slot.value, &scratch_);
      store_->BatchPut(slot.key, scratch_);
      written.push_back(static_cast<uint32_t>(i));
      if (store_->batch_count() >= kSweepBatchEntries) {
        RETURN_IF_ERROR(MarkWritten(&written));
      }
    }
    return MarkWritten(&written);
  }

  Status MarkWritten(std::vector<uint32_t>* written) {
    RETURN_IF_ERROR(store_->CommitBatch());
    stats_.writebacks += written->size();
    for (uint32_t i : *written) {
      slots_[i].dirty = false;
      slots_[i].stored = true;
    }
    written->clear();
    return Status::OK();
  }

  StateOptions options_;
  std::unique_ptr<RocksDbStore> store_;
  std::deque<Slot> slots_;
  std::vector<uint32_t> free_;
  std::unordered_map<std::string_view, uint32_t, StringHash, std::equal_to<>> index_;
  std::vector<uint32_t> victims_;
  size_t hand_ = 0;
  size_t evict_group_ = 1;
  size_t size_ = 0;
  size_t key_bytes_ = 0;
  std::string scratch_;
  StateStats stats_;
};

}  // namespace impulse::state::internal
