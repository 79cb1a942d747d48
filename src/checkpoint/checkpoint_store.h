// The checkpoint store: durable, atomic checkpoints of an engine's positions (source cursors,
// derived-stream end offsets, file-sink sizes) and operator state files, for exactly-once
// recovery. Layout and manifest format: docs/CHECKPOINT_FORMAT.md.
//
//   DATA/checkpoints/<id>.pending/   being written (state files, backend subdirectories)
//   DATA/checkpoints/<id>/MANIFEST   complete: the manifest is written last, then the rename
//
// A checkpoint without a valid MANIFEST does not exist for recovery.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "impulse/env.h"
#include "impulse/status.h"

namespace impulse::checkpoint {

// Limits (a manifest or file beyond them is rejected when written and when read).
inline constexpr uint64_t kManifestBytesMax = 64ull << 20;
inline constexpr size_t kPositionsMax = 1u << 20;
inline constexpr size_t kFilesMax = 1u << 16;
inline constexpr size_t kPositionNameBytesMax = 4096;
inline constexpr size_t kFileNameBytesMax = 255;
inline constexpr size_t kFingerprintBytesMax = 4096;
inline constexpr uint64_t kReadFileBytesMax = 1ull << 30;  // CheckpointStore::ReadFile
inline constexpr int kTreeDepthMax = 16;                   // nesting of backend subdirectories

struct CheckpointManifest {
  uint64_t id = 0;               // strictly increasing per data dir (set by Commit)
  int64_t created_ms = 0;        // wall clock; Commit fills it from the store's clock when 0
  std::string spec_fingerprint;  // opaque text the engine sets (a hash of the spec); shown by list
  // Named positions: e.g. "cursor/<pipeline>/<input>/<partition>" = next offset,
  // "end/<stream>/<partition>" = end offset, "file/<pipeline>" = byte size of a file sink.
  // The store does not interpret them. Names: non-empty, at most kPositionNameBytesMax bytes.
  std::vector<std::pair<std::string, uint64_t>> positions;
  struct File {
    std::string name;
    uint64_t bytes = 0;
    uint32_t crc32c = 0;
    bool operator==(const File&) const = default;
  };
  std::vector<File> files;  // state files written through PendingCheckpoint::WriteFile (set by Commit)
  int64_t pause_us = 0;     // how long pipelines were paused (reporting)

  bool operator==(const CheckpointManifest&) const = default;
};

// One checkpoint as seen by List. `complete` means the MANIFEST is valid and every state file
// has its recorded size (CRCs are checked by Load, which reads everything).
struct CheckpointInfo {
  uint64_t id = 0;
  int64_t created_ms = 0;  // 0 when the manifest is unreadable
  bool complete = false;
  uint64_t bytes = 0;   // all files of the checkpoint directory, subdirectories included
  std::string problem;  // why it is not complete; empty when complete
  // From the manifest (zero/empty when it is unreadable).
  int64_t pause_us = 0;
  size_t positions = 0;
  size_t files = 0;
  std::string spec_fingerprint;
};

class CheckpointStore;

// A checkpoint being written: returned by Begin, finished by Commit or Abort. Movable.
// `dir` is the absolute path of the pending directory; state backends may create
// subdirectories there (e.g. a RocksDB checkpoint): they are kept as they are (their files
// are the backend's to make durable; the store fsyncs the directories).
class PendingCheckpoint {
 public:
  uint64_t id = 0;
  std::string dir;

  // Writes DIR/<name> and fsyncs it; records its size and CRC32C for the manifest.
  // name: a plain file name (no '/', not "." / "..", not "MANIFEST", at most
  // kFileNameBytesMax bytes): else kInvalidArgument. kAlreadyExists if written before;
  // kResourceExhausted past kFilesMax files. kFailedPrecondition after Commit/Abort.
  Status WriteFile(std::string_view name, std::string_view data);
  const std::vector<CheckpointManifest::File>& files() const { return files_; }
  bool finished() const { return env_ == nullptr; }

 private:
  friend class CheckpointStore;
  Env* env_ = nullptr;  // null once committed or aborted
  std::vector<CheckpointManifest::File> files_;
};

// CheckpointStore: one per data dir. Not thread-safe: used by one thread at a time (the
// engine serializes calls). One pending checkpoint at a time: Begin discards any other
// pending directory. Readers in another process (`impulse checkpoints list`) only List/Load.
class CheckpointStore {
 public:
  // dir = DATA/checkpoints (created if missing). retain = complete checkpoints kept (older
  // ones are deleted after a commit), >= 1 (else kInvalidArgument); keep at least 2 so a
  // newest checkpoint found corrupt at load still has a predecessor. `clock` (default the
  // real one) fills created_ms; env and clock must outlive the store.
  static Result<std::unique_ptr<CheckpointStore>> Open(Env* env, std::string dir, int retain = 3,
                                                       Clock* clock = nullptr);

  // Starts checkpoint next_id: creates DIR/<id>.pending/ (leftover .pending dirs of a crash
  // are removed first).
  Result<PendingCheckpoint> Begin();
  // Fills manifest.id, files (from pending) and created_ms (when 0), writes MANIFEST
  // (versioned, CRC-protected) last, fsyncs the tree, renames <id>.pending -> <id>, fsyncs the
  // parent. Then deletes complete checkpoints beyond `retain`, older incomplete ones and
  // pending leftovers; a failure of that cleanup does not fail the commit (see
  // last_cleanup_error). kInvalidArgument for a manifest beyond the limits (pending stays
  // open: Abort it). On an I/O error the checkpoint does not exist; Abort the pending one.
  Status Commit(PendingCheckpoint& pending, CheckpointManifest manifest);
  // Removes the pending directory.
  Status Abort(PendingCheckpoint& pending);

  // Every checkpoint directory, newest first; incomplete/corrupt ones carry the problem.
  Result<std::vector<CheckpointInfo>> List();
  // The newest complete checkpoint (nullopt when none), its files verified (size and CRC).
  // A corrupt one is skipped for the previous complete one, with "checkpoint N: reason"
  // appended to *skipped (if not null). Other I/O errors are returned.
  Result<std::optional<CheckpointManifest>> LoadLatest(std::vector<std::string>* skipped = nullptr);
  // A chosen one (for `--from-checkpoint ID`), verified like LoadLatest. kNotFound if there
  // is no such checkpoint, kDataLoss if it is corrupt or incomplete.
  Result<CheckpointManifest> Load(uint64_t id);
  std::string DirOf(uint64_t id) const;  // DIR/<id>
  // One state file of checkpoint `id`, verified against the manifest (size and CRC:
  // kDataLoss on mismatch; kNotFound if the manifest does not list it).
  Result<std::string> ReadFile(uint64_t id, std::string_view name);

  const std::string& dir() const { return dir_; }
  int retain() const { return retain_; }
  uint64_t next_id() const { return next_id_; }
  // The error of the last post-commit cleanup (OK if it succeeded).
  const Status& last_cleanup_error() const { return last_cleanup_error_; }

 private:
  CheckpointStore(Env* env, std::string dir, int retain, Clock* clock);
  std::string PendingDirOf(uint64_t id) const;
  // Reads and decodes DIR/<id>/MANIFEST (kNotFound if missing, kDataLoss if corrupt).
  Result<CheckpointManifest> ReadManifest(uint64_t id);
  // Deletes what retention and crashes left behind.
  Status Cleanup();

  Env* const env_;
  const std::string dir_;
  const int retain_;
  Clock* const clock_;
  uint64_t next_id_ = 1;
  Status last_cleanup_error_;
};

}  // namespace impulse::checkpoint
