// MemoryTable<V>: the in-memory StateTable backend (internal; use StateTable<V>).
// A FlatStringMap (open addressing, no std::string built per lookup). A V* is valid until the
// next FindOrInsert/Erase/Restore (growth and backward shifts move values).
// Bounded by StateOptions::entries_max. One thread.
//
// Incremental snapshot (BeginCapture, docs/CHECKPOINTS.md): BeginCapture freezes the table's
// content as of now in O(1) by unmarking every entry (FlatStringMap::FlipMarks). From then on,
// an unmarked entry is serialized into the snapshot, and marked, before anything can change or
// erase it (every Find/FindOrInsert hit, Erase and ForEach visit: a returned V* may be written);
// entries inserted meanwhile are born marked and are not part of it. CaptureStep serializes the
// remaining unmarked entries in slices between batches. No other thread touches the table: the
// encoded bytes are handed to an AsyncFile that the checkpoint writer writes and syncs.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
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

  V* Find(std::string_view key) {
    if (capture_pending_ != 0) [[unlikely]] {
      Slot* slot = map_.FindSlot(key);
      if (slot == nullptr) return nullptr;
      CaptureBeforeWrite(*slot);
      return &slot->value;
    }
    return map_.Find(key);
  }

  // *refused_by_bound (optional): set when entries_max refuses the insert.
  Result<V*> FindOrInsert(std::string_view key, bool* inserted, bool* refused_by_bound = nullptr) {
    if (V* v = Find(key)) {
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
    if (capture_pending_ != 0) [[unlikely]] {
      Slot* slot = map_.FindSlot(key);
      if (slot == nullptr) return;
      CaptureBeforeWrite(*slot);
    }
    if (map_.Erase(key)) key_bytes_ -= HeapKeyBytes(key);
  }

  size_t size() const { return map_.size(); }

  Status ForEach(const std::function<Status(std::string_view key, V& value)>& fn) {
    Status status;
    if (capture_pending_ != 0) [[unlikely]] {
      for (size_t i = 0; i < map_.capacity() && status.ok(); ++i) {
        Slot& slot = map_.SlotAt(i);
        if (slot.hash == 0) continue;
        CaptureBeforeWrite(slot);
        status = fn(slot.key, slot.value);
      }
      return status;
    }
    map_.ForEachUntil([&](const std::string& key, V& value) {
      status = fn(key, value);
      return status.ok();
    });
    return status;
  }

  // A walk that does not change values: an entry not yet captured stays so.
  Status ForEachRead(const std::function<Status(std::string_view key, const V& value)>& fn) {
    Status status;
    map_.ForEachUntil([&](const std::string& key, V& value) {
      status = fn(key, value);
      return status.ok();
    });
    return status;
  }

  // Starts an incremental snapshot of the current content into the snapshot file `path`
  // (state.snap format), appended to `files` for the checkpoint writer. O(1). A capture still
  // in progress (its checkpoint was abandoned) is first ended: its file fails, and its remaining
  // entries are marked here (O(entries), only after a failed checkpoint).
  void BeginCapture(const std::string& path, AsyncFiles* files) {
    if (capture_pending_ != 0) {
      if (!discarding_) capture_->file().Fail(Unavailable("state snapshot superseded by a newer checkpoint"));
      discarding_ = true;
      for (size_t i = 0; i < map_.capacity() && capture_pending_ != 0; ++i) {
        Slot& slot = map_.SlotAt(i);
        if (slot.hash != 0) CaptureBeforeWrite(slot);
      }
    }
    auto file = std::make_shared<AsyncFile>(path);
    files->push_back(file);
    capture_ = std::make_unique<SnapshotEncoder>(std::move(file));
    discarding_ = false;
    map_.FlipMarks();
    capture_pending_ = map_.size();
    scan_pos_ = 0;
    if (capture_pending_ == 0) EndCapture();
  }

  // Serializes unmarked entries until `deadline`; true when no capture is in progress. Does
  // nothing while the writer is behind by more than kAsyncFileQueueMax bytes (the owner's own
  // writes still capture what they touch), so the queued bytes stay bounded.
  bool CaptureStep(std::chrono::steady_clock::time_point deadline) {
    if (capture_pending_ == 0) return true;
    if (!discarding_ && capture_->file().cancelled()) discarding_ = true;  // abandoned: only mark
    if (!discarding_ && capture_->file().queued_bytes() > kAsyncFileQueueMax) return false;
    size_t visited = 0;
    while (capture_pending_ != 0) {
      // Erase's backward shift and growth may move an unmarked entry behind the scan: wrap.
      if (scan_pos_ >= map_.capacity()) scan_pos_ = 0;
      Slot& slot = map_.SlotAt(scan_pos_++);
      if (slot.hash != 0 && !map_.Marked(slot)) CaptureBeforeWrite(slot);
      if ((++visited & 63) == 0 && std::chrono::steady_clock::now() >= deadline) break;
    }
    return capture_pending_ == 0;
  }

  bool capturing() const { return capture_pending_ != 0; }

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
    if (capture_pending_ != 0) {
      if (!discarding_) capture_->file().Fail(Unavailable("state restored during a snapshot"));
      capture_.reset();
      capture_pending_ = 0;
    }
    map_.Swap(restored);  // the restored entries are all marked under their own map's mark
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
  using Slot = typename Map::Slot;

  // The entry is about to be read for writing, erased or visited: an unmarked entry belongs to
  // the snapshot in progress and is serialized first.
  void CaptureBeforeWrite(Slot& slot) {
    if (map_.Marked(slot)) return;
    map_.Mark(slot);
    if (!discarding_) {
      capture_value_.clear();
      StateCodec<V>::Serialize(slot.value, &capture_value_);
      Status st = capture_->Add(slot.key, capture_value_);
      if (!st.ok()) {
        capture_->file().Fail(std::move(st));
        discarding_ = true;
      }
    }
    if (--capture_pending_ == 0) EndCapture();
  }

  void EndCapture() {
    if (!discarding_) capture_->Finish();
    capture_.reset();
    discarding_ = false;
  }

  // Keys longer than the std::string small-buffer (15 bytes in libstdc++) own a heap block.
  static size_t HeapKeyBytes(std::string_view key) { return key.size() > 15 ? key.size() + 1 : 0; }

  StateOptions options_;
  Map map_;
  size_t key_bytes_ = 0;
  StateStats stats_;
  // Incremental snapshot in progress when capture_pending_ (unmarked entries) > 0.
  std::unique_ptr<SnapshotEncoder> capture_;
  size_t capture_pending_ = 0;
  size_t scan_pos_ = 0;
  bool discarding_ = false;  // the snapshot was abandoned or failed: entries are marked, not written
  std::string capture_value_;
};

}  // namespace impulse::state::internal
