#include "common/fsync_probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace impulse {

double FsyncProbeResult::Quantile(double q) const {
  if (us.empty()) return 0;
  return us[std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())))];
}

Result<FsyncProbeResult> ProbeFsync(const std::string& dir, size_t bytes, size_t count) {
  const std::string path = dir + "/impulse-fsync-probe." + std::to_string(::getpid());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IOError("fsync probe: open " + path + ": " + std::strerror(errno));
  const std::string block(std::max<size_t>(bytes, 1), 'x');
  FsyncProbeResult r;
  r.us.reserve(count);
  Status st;
  for (size_t i = 0; i < count; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) || ::fdatasync(fd) != 0) {
      st = IOError("fsync probe: write+fdatasync " + path + ": " + std::strerror(errno));
      break;
    }
    r.us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  ::close(fd);
  ::unlink(path.c_str());
  RETURN_IF_ERROR(st);
  std::sort(r.us.begin(), r.us.end());
  return r;
}

}  // namespace impulse
