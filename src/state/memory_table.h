// MemoryTable<V>: the in-memory StateTable backend (internal; use StateTable<V>).
// A hash map from key bytes to V with heterogeneous lookup (no std::string built per Find).
// Node-based, so a V* stays valid until its own key is erased or the table restored.
// Bounded by StateOptions::entries_max. One thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "state/rocksdb_store.h"
#include "state/snapshot_file.h"
#include "state/state_options.h"

namespace impulse::state::internal {

template <typename V>
class MemoryTable {
 public:
  explicit MemoryTable(const StateOptions& options) : options_(options) {}

  V* Find(std::string_view key) {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }

  Result<V*> FindOrInsert(std::string_view key, bool* inserted) {
    auto it = map_.find(key);
    if (it != map_.end()) {
      if (inserted != nullptr) *inserted = false;
      return &it->second;
    }
    if (map_.size() >= options_.entries_max) {
      ++stats_.entries_max_rejections;
      return ResourceExhausted("state table full: entries_max " + std::to_string(options_.entries_max));
    }
    it = map_.try_emplace(std::string(key)).first;
    key_bytes_ += key.size();
    if (inserted != nullptr) *inserted = true;
    return &it->second;
  }

  void Erase(std::string_view key) {
    auto it = map_.find(key);
    if (it == map_.end()) return;
    key_bytes_ -= it->first.size();
    map_.erase(it);
  }

  size_t size() const { return map_.size(); }

  Status ForEach(const std::function<Status(std::string_view key, V& value)>& fn) {
    for (auto& [key, value] : map_) RETURN_IF_ERROR(fn(key, value));
    return Status::OK();
  }

  // `dir` exists and is empty (checked by StateTable).
  Result<uint64_t> Checkpoint(Env* env, const std::string& dir) {
    ASSIGN_OR_RETURN(std::unique_ptr<SnapshotWriter> writer,
                     SnapshotWriter::Create(env, dir + "/" + std::string(kSnapshotFileName)));
    std::string value;
    for (const auto& [key, v] : map_) {
      value.clear();
      StateCodec<V>::Serialize(v, &value);
      RETURN_IF_ERROR(writer->Add(key, value));
    }
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
      auto [it, fresh] = restored.try_emplace(std::string(key));
      if (!fresh) return DataLoss("state snapshot " + dir + ": duplicate key");
      key_bytes += key.size();
      Status s = StateCodec<V>::Deserialize(bytes, &it->second);
      return s.ok() ? s : DataLoss("state snapshot " + dir + ": " + s.message());
    };
    if (from_rocksdb) {
      RETURN_IF_ERROR(RocksDbStore::ReadCheckpoint(dir, env, options_.entries_max, add));
    } else {
      RETURN_IF_ERROR(ReadSnapshotFile(env, path, add));
    }
    map_.swap(restored);
    key_bytes_ = key_bytes;
    return Status::OK();
  }

  StateStats stats() const {
    StateStats s = stats_;
    s.entries = map_.size();
    // Per node: next pointer, cached hash, key, value; plus the bucket array; plus long keys.
    constexpr size_t kNodeBytes = sizeof(void*) + sizeof(size_t) + sizeof(std::string) + sizeof(V);
    s.memory_bytes = map_.size() * kNodeBytes + map_.bucket_count() * sizeof(void*) + key_bytes_;
    return s;
  }

 private:
  using Map = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  StateOptions options_;
  Map map_;
  size_t key_bytes_ = 0;
  StateStats stats_;
};

}  // namespace impulse::state::internal
