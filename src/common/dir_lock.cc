#include "common/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace impulse {

Result<std::unique_ptr<DirLock>> DirLock::Acquire(const std::string& dir) {
  const std::string path = dir + "/" + kLockFile;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IOError("cannot create " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return FailedPrecondition("data directory " + dir +
                                " is in use by another process (a running engine, or an offline command on it)");
    }
    return IOError("cannot lock " + path + ": " + std::strerror(err));
  }
  return std::unique_ptr<DirLock>(new DirLock(fd));
}

Result<std::unique_ptr<DirLock>> DirLock::AcquireEmptied(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IOError("cannot create " + dir + ": " + ec.message());
  ASSIGN_OR_RETURN(std::unique_ptr<DirLock> lock, Acquire(dir));
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() == kLockFile) continue;
    fs::remove_all(it->path(), ec);
    if (ec) return IOError("cannot remove " + it->path().string() + ": " + ec.message());
  }
  if (ec) return IOError("cannot empty " + dir + ": " + ec.message());
  return lock;
}

DirLock::~DirLock() { ::close(fd_); }

}  // namespace impulse
