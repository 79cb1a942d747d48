// An exclusive advisory lock on a data directory (flock on DIR/LOCK), held by a running engine
// and by the offline commands that rewrite the directory (impulse reset), so that neither runs
// while the other has the directory. Released when the DirLock is destroyed or the process
// dies (the kernel drops flock locks), so a crash never leaves a stale lock.
#pragma once

#include <memory>
#include <string>

#include "impulse/status.h"

namespace impulse {

class DirLock {
 public:
  // kFailedPrecondition naming the directory when another process (or another DirLock in this
  // one) holds it; kIOError when DIR/LOCK cannot be created.
  static Result<std::unique_ptr<DirLock>> Acquire(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace impulse
