// The memory backend's snapshot file (docs/STATE.md, "Snapshot file"):
//   "IMPSNAP1" | records: u32 key_len, u32 value_len, key, value | u64 record_count | u32 crc32c
// Little-endian; the CRC32C covers every byte before it. Written to a temp name, synced, renamed.
// Non-template so the format lives in one .cc; StateTable<V> encodes values and calls these.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "impulse/env.h"
#include "impulse/status.h"
#include "state/async_file.h"

namespace impulse::state {

inline constexpr std::string_view kSnapshotFileName = "state.snap";

// Streams records into one snapshot file through a 1 MiB buffer. One thread.
class SnapshotWriter {
 public:
  // Creates `path` + ".tmp"; Finish renames it to `path`.
  static Result<std::unique_ptr<SnapshotWriter>> Create(Env* env, const std::string& path);
  ~SnapshotWriter();
  Status Add(std::string_view key, std::string_view value);
  // Appends the trailer, syncs, renames; returns the file's size in bytes.
  Result<uint64_t> Finish();

 private:
  SnapshotWriter(Env* env, std::string path, std::unique_ptr<WritableFile> file);
  Status FlushBuffer();

  Env* env_;
  std::string path_;
  std::unique_ptr<WritableFile> file_;
  std::string buffer_;
  uint32_t crc_ = 0;
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;
  bool finished_ = false;
};

// The same file, encoded by the thread that owns the table and written by another (AsyncFile):
// records are framed and checksummed here, 1 MiB at a time, and handed over. One thread.
class SnapshotEncoder {
 public:
  explicit SnapshotEncoder(std::shared_ptr<AsyncFile> file);
  Status Add(std::string_view key, std::string_view value);
  // Appends the trailer and closes the file (the consumer syncs and renames it).
  void Finish();
  AsyncFile& file() { return *file_; }

 private:
  void Hand();

  std::shared_ptr<AsyncFile> file_;
  std::string buffer_;
  uint32_t crc_ = 0;
  uint64_t records_ = 0;
};

// Reads `path`, checks its size, framing and CRC, then calls fn for every record in file order.
// Any defect is kDataLoss naming the file; fn is not called at all unless the CRC matched.
// The views passed to fn are valid during the call only. Reads the file whole (bounded by its size).
Status ReadSnapshotFile(Env* env, const std::string& path,
                        const std::function<Status(std::string_view key, std::string_view value)>& fn);

}  // namespace impulse::state
