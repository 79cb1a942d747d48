// An exclusive advisory lock on a data directory (flock on DIR/LOCK), held by a running engine
// and by the offline commands that rewrite the directory (impulse reset, impulse repair), so
// that neither runs while the other has the directory. Released when the DirLock is destroyed or the process
// dies (the kernel drops flock locks), so a crash never leaves a stale lock.
#pragma once

#include <memory>
#include <string>

#include "impulse/status.h"

namespace impulse {

// The lock's file name in the directory. Whatever empties a data directory keeps this file: a
// new file would be a new lock, not excluding a holder of the old one.
inline constexpr const char* kLockFile = "LOCK";

class DirLock {
 public:
  // kFailedPrecondition naming the directory when another process (or another DirLock in this
  // one) holds it; kIOError when DIR/LOCK cannot be created.
  static Result<std::unique_ptr<DirLock>> Acquire(const std::string& dir);
  // Empties `dir` (creating it if absent) for a fresh start (the demos' data directories) and
  // returns its lock, held: kFailedPrecondition, nothing removed, while an engine or an offline
  // command has it. DIR/LOCK stays. An engine opening `dir` itself needs the lock released first.
  static Result<std::unique_ptr<DirLock>> AcquireEmptied(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace impulse
