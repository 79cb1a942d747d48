// The engine's view of the outside world: the wall clock and the file system. Injected, so
// tests can run on a manual clock and a fault-injecting file system (full disk, failed fsync).
// Event-time code never reads the wall clock directly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/status.h"

namespace impulse {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;  // wall clock, ms since the Unix epoch
  virtual int64_t NowNs() const = 0;  // monotonic, for latency measurement
  static Clock* Real();               // process-wide real clock
};

// A file opened for appending. Single writer.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual Status Sync() = 0;                   // fdatasync
  virtual Status Truncate(uint64_t size) = 0;  // also moves the append position
  virtual Status Close() = 0;
  virtual uint64_t Size() const = 0;
};

// A file read at arbitrary offsets; safe for concurrent readers.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset into scratch; returns the bytes read (fewer at EOF).
  virtual Result<size_t> Read(uint64_t offset, size_t n, char* scratch) const = 0;
  virtual Result<uint64_t> Size() const = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  static Env* Default();  // POSIX

  // Opens for append, creating it if missing; the append position is the end of the file.
  virtual Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> OpenRandomAccess(const std::string& path) = 0;
  virtual Status CreateDirs(const std::string& path) = 0;
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;  // names only
  virtual Status DeleteFile(const std::string& path) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  virtual Status SyncDir(const std::string& path) = 0;
  // Removes an empty directory (rmdir). kNotFound if it does not exist. The default
  // implementation fails (kFailedPrecondition): Envs without directories need not support it.
  virtual Status DeleteDir(const std::string& path);
  // Whether `path` is a directory (false for any other kind of file, including a symbolic
  // link to a directory); kNotFound if missing.
  // The default implementation fails (kFailedPrecondition).
  virtual Result<bool> IsDirectory(const std::string& path);
  // Writes `data` to `path` atomically (temp file, fsync, rename, fsync dir).
  virtual Status WriteFileAtomic(const std::string& path, std::string_view data);
  virtual Result<std::string> ReadFile(const std::string& path);
};

}  // namespace impulse
