// AsyncFile: a file whose bytes one thread produces (a shard capturing operator state) while
// another writes them and makes them durable (the checkpoint writer), so the producer never
// waits for the disk. The file is written to `path` + ".tmp", synced, renamed to `path`, and its
// directory synced; the parent directories are created by the writer.
// Thread-safe between exactly one producer and one consumer.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/env.h"
#include "impulse/status.h"

namespace impulse::state {

// Bytes a producer may have queued ahead of the writer before it stops producing for a while
// (the capture then waits; writes of the owner still capture what they touch).
inline constexpr uint64_t kAsyncFileQueueMax = uint64_t{64} << 20;

class AsyncFile {
 public:
  explicit AsyncFile(std::string path) : path_(std::move(path)) {}
  ~AsyncFile();
  AsyncFile(const AsyncFile&) = delete;
  AsyncFile& operator=(const AsyncFile&) = delete;

  // A file whose whole content is known now (operator metadata).
  static std::shared_ptr<AsyncFile> Whole(std::string path, std::string data);

  const std::string& path() const { return path_; }

  // Producer. Push queues bytes (in order); Close says no more will come; Fail abandons the file
  // with an error the consumer reports.
  void Push(std::string bytes);
  void Close();
  void Fail(Status status);
  // Set by the consumer when the checkpoint was abandoned: the producer stops producing.
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // Bytes queued and not yet written by the consumer (lets a producer pace itself).
  uint64_t queued_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }

  // Consumer. Writes what is queued; once closed and written: sync, rename, sync the directory.
  // Returns true when the file is complete and durable; an error is the producer's or the disk's.
  Result<bool> WriteQueued(Env* env);
  void Cancel();
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  const std::string path_;
  std::mutex mu_;
  std::deque<std::string> chunks_;  // guarded by mu_
  bool closed_ = false;             // guarded by mu_
  Status error_;                    // guarded by mu_
  std::atomic<bool> cancelled_{false};
  std::atomic<uint64_t> queued_bytes_{0};
  // Consumer only.
  std::unique_ptr<WritableFile> file_;
  bool done_ = false;
  uint64_t bytes_written_ = 0;
  Env* env_ = nullptr;
};

using AsyncFiles = std::vector<std::shared_ptr<AsyncFile>>;

}  // namespace impulse::state
