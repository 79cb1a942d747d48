// `impulse-bench fsync-probe`: the disk's own floor for a durable ack. Appends `--bytes` to a
// file and fdatasyncs it, `--count` times, the way a partition log commits a group (append to
// the active segment, then fdatasync), and prints the latency percentiles of one append+sync.
// Run beside an engine measurement so both see the same disk at the same time.

#include <boost/program_options.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "common/fsync_probe.h"

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
  auto probe = ProbeFsync(dir, bytes, count);
  if (!probe.ok()) {
    std::fprintf(stderr, "impulse-bench fsync-probe: %s\n", probe.status().ToString().c_str());
    return 1;
  }
  const std::vector<double>& us = probe->us;
  auto q = [&](double p) { return probe->Quantile(p); };
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
