// `impulse-bench fsync-probe`: the disk's own floor for a durable ack. Appends `--bytes` to a
// file and fdatasyncs it, `--count` times, the way a partition log commits a group (append to
// the active segment, then fdatasync), and prints the latency percentiles of one append+sync.
// Run beside an engine measurement so both see the same disk at the same time.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/command_line.h"

namespace impulse::bench {

namespace po = boost::program_options;

int FsyncProbeCommand(const std::vector<std::string>& args) {
  po::options_description opts("fsync-probe options");
  std::string dir = ".";
  uint32_t bytes = 4096, count = 1000;
  bool json = false;
  opts.add_options()("dir", po::value(&dir)->default_value(dir), "directory of the probe file (the engine's disk)")(
      "bytes", po::value(&bytes)->default_value(bytes), "bytes appended per sync (a group commit's size)")(
      "count", po::value(&count)->default_value(count), "appends+syncs")("json", po::bool_switch(&json),
                                                                         "one JSON line instead of text");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse-bench fsync-probe [options]", opts, &vm); rc >= 0) return rc;
  if (bytes == 0 || count == 0) {
    std::fprintf(stderr, "impulse-bench fsync-probe: --bytes and --count must be > 0\n");
    return 2;
  }
  const std::string path = dir + "/impulse-fsync-probe." + std::to_string(::getpid());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "impulse-bench fsync-probe: open %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  const std::string block(bytes, 'x');
  std::vector<double> us;
  us.reserve(count);
  int rc = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) || ::fdatasync(fd) != 0) {
      std::fprintf(stderr, "impulse-bench fsync-probe: write+fdatasync %s: %s\n", path.c_str(), std::strerror(errno));
      rc = 1;
      break;
    }
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  ::close(fd);
  ::unlink(path.c_str());
  if (rc != 0 || us.empty()) return 1;
  std::sort(us.begin(), us.end());
  auto q = [&](double p) {
    return us[std::min(us.size() - 1, static_cast<size_t>(p * static_cast<double>(us.size())))];
  };
  if (json) {
    std::printf("{\"bytes\":%u,\"count\":%zu,\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f}\n", bytes, us.size(),
                q(0.50), q(0.99), us.back());
  } else {
    std::printf("fsync probe: %u bytes appended + fdatasync, %zu times: p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", bytes,
                us.size(), q(0.50) / 1e3, q(0.99) / 1e3, us.back() / 1e3);
  }
  return 0;
}

}  // namespace impulse::bench
