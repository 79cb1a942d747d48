// MemoryTable<V>: the in-memory StateTable backend (internal; use StateTable<V>).
// A FlatStringMap (open addressing, no std::string built per lookup). A V* is valid until the
// next FindOrInsert/Erase/Restore (growth and backward shifts move values).
// Bounded by StateOptions::entries_max. One thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "state/flat_map.h"
#include "state/rocksdb_store.h"
#include "state/snapshot_file.h"
#include "state/state_options.h"

namespace impulse::state::internal {

template <typename V>
class MemoryTable {
 public:
  explicit MemoryTable(const StateOptions& options) : options_(options) {}

  V* Find(std::string_view key) { return map_.Find(key); }

  // *refused_by_bound (optional): set when entries_max refuses the insert.
  Result<V*> FindOrInsert(std::string_view key, bool* inserted, bool* refused_by_bound = nullptr) {
    if (V* v = map_.Find(key)) {
      if (inserted != nullptr) *inserted = false;
      return v;
    }
    if (map_.size() >= options_.entries_max) {
      ++stats_.entries_max_rejections;
      if (refused_by_bound != nullptr) *refused_by_bound = true;
      return ResourceExhausted("state table full: entries_max " + std::to_string(options_.entries_max));
    }
    key_bytes_ += HeapKeyBytes(key);
    if (inserted != nullptr) *inserted = true;
    return map_.Insert(key);
  }

  void Erase(std::string_view key) {
    if (map_.Erase(key)) key_bytes_ -= HeapKeyBytes(key);
  }

  size_t size() const { return map_.size(); }

  Status ForEach(const std::function<Status(std::string_view key, V& value)>& fn) {
    Status status;
    map_.ForEachUntil([&](const std::string& key, V& value) {
      status = fn(key, value);
      return status.ok();
    });
    return status;
  }

  // `dir` exists and is empty (checked by StateTable).
  Result<uint64_t> Checkpoint(Env* env, const std::string& dir) {
    ASSIGN_OR_RETURN(std::unique_ptr<SnapshotWriter> writer,
                     SnapshotWriter::Create(env, dir + "/" + std::string(kSnapshotFileName)));
    std::string value;
    Status status;
    map_.ForEachUntil([&](const std::string& key, V& v) {
      value.clear();
      StateCodec<V>::Serialize(v, &value);
      status = writer->Add(key, value);
      return status.ok();
    });
    RETURN_IF_ERROR(status);
    return writer->Finish();
  }

  // Builds the new content aside and swaps it in only when the whole snapshot was valid.
  // `dir` holds this backend's state.snap or, when from_rocksdb, a RocksDB backend snapshot.
  Status Restore(Env* env, const std::string& dir, bool from_rocksdb) {
    Map restored;
    size_t key_bytes = 0;
    const std::string path = dir + "/" + std::string(kSnapshotFileName);
    auto add = [&](std::string_view key, std::string_view bytes) -> Status {
      if (restored.size() >= options_.entries_max) {
        return ResourceExhausted("state snapshot " + dir + " holds more than entries_max " +
                                 std::to_string(options_.entries_max) + " entries");
      }
      if (restored.Find(key) != nullptr) return DataLoss("state snapshot " + dir + ": duplicate key");
      key_bytes += HeapKeyBytes(key);
      Status s = StateCodec<V>::Deserialize(bytes, restored.Insert(key));
      return s.ok() ? s : DataLoss("state snapshot " + dir + ": " + s.message());
    };
    if (from_rocksdb) {
      RETURN_IF_ERROR(RocksDbStore::ReadCheckpoint(dir, env, options_.entries_max, add));
    } else {
      RETURN_IF_ERROR(ReadSnapshotFile(env, path, add));
    }
    map_.Swap(restored);
    key_bytes_ = key_bytes;
    return Status::OK();
  }

  StateStats stats() const {
    StateStats s = stats_;
    s.entries = map_.size();
    s.memory_bytes = map_.capacity() * sizeof(typename Map::Slot) + key_bytes_;
    return s;
  }

 private:
  using Map = FlatStringMap<V>;

  // Keys longer than the std::string small-buffer (15 bytes in libstdc++) own a heap block.
  static size_t HeapKeyBytes(std::string_view key) { return key.size() > 15 ? key.size() + 1 : 0; }

  StateOptions options_;
  Map map_;
  size_t key_bytes_ = 0;
  StateStats stats_;
};

}  // namespace impulse::state::internal
