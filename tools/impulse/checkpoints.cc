// `impulse checkpoints list --data-dir DIR [--json]`: the checkpoints of a data directory, newest
// first (reads only; safe while an engine runs on the same directory).
#include <boost/program_options.hpp>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.h"
#include "common/command_line.h"
#include "common/json_string.h"
#include "impulse/env.h"

namespace impulse::tools {

namespace po = boost::program_options;

namespace {

std::string IsoTime(int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int the compiler can imagine in each field
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

int CheckpointsCommand(const std::vector<std::string>& args) {
  const char* usage = "impulse checkpoints list --data-dir DIR [--json]";
  po::options_description opts("checkpoints options");
  std::string action;
  std::string data;
  opts.add_options()("action", po::value(&action), "what to do: list")(
      "data-dir", po::value(&data), "the engine's data directory (checkpoints are in DIR/checkpoints)")(
      "json", "print a JSON array instead of one line per checkpoint");
  po::variables_map vm;
  HiddenOptions hidden;
  hidden.aliases = {{"data", "data-dir"}};
  if (int rc = ParseCommandLine(args, usage, opts, &vm, "action", Positional::kOptional, hidden); rc >= 0) return rc;
  if (action != "list" || data.empty()) {
    return UsageError(usage, "checkpoints: expected 'list --data-dir DIR'");
  }
  // A mistyped path must not look like a directory without checkpoints.
  if (!Env::Default()->FileExists(data)) {
    std::fprintf(stderr, "impulse: checkpoints list: no data directory %s\n", data.c_str());
    return 1;
  }
  const bool json = vm.count("json") > 0;
  const std::string dir = data + "/checkpoints";
  std::vector<checkpoint::CheckpointInfo> infos;
  // Listing must not create anything: a data dir without checkpoints has none to show.
  if (Env::Default()->FileExists(dir)) {
    auto store = checkpoint::CheckpointStore::Open(Env::Default(), dir);
    Result<std::vector<checkpoint::CheckpointInfo>> list =
        store.ok() ? (*store)->List() : Result<std::vector<checkpoint::CheckpointInfo>>(store.status());
    if (!list.ok()) {
      std::fprintf(stderr, "impulse: checkpoints list %s: %s\n", dir.c_str(), list.status().ToString().c_str());
      return 1;
    }
    infos = std::move(list).value();
  }
  if (json) {
    std::string out = "[";
    for (size_t i = 0; i < infos.size(); ++i) {
      const checkpoint::CheckpointInfo& c = infos[i];
      out += i == 0 ? "\n" : ",\n";
      out += "  {\"id\": " + std::to_string(c.id) + ", \"created_ms\": " + std::to_string(c.created_ms) +
             ", \"created\": " + JsonString(IsoTime(c.created_ms)) +
             ", \"complete\": " + (c.complete ? "true" : "false") + ", \"problem\": " + JsonString(c.problem) +
             ", \"bytes\": " + std::to_string(c.bytes) + ", \"pause_us\": " + std::to_string(c.pause_us) +
             ", \"positions\": " + std::to_string(c.positions) + ", \"files\": " + std::to_string(c.files) +
             ", \"spec_fingerprint\": " + JsonString(c.spec_fingerprint) + "}";
    }
    out += infos.empty() ? "]\n" : "\n]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  if (infos.empty()) {
    std::printf("no checkpoints in %s\n", dir.c_str());
    return 0;
  }
  for (const checkpoint::CheckpointInfo& c : infos) {
    std::printf("%llu  %s  %s  bytes=%llu  pause_us=%lld  positions=%zu\n", static_cast<unsigned long long>(c.id),
                IsoTime(c.created_ms).c_str(), c.complete ? "complete" : c.problem.c_str(),
                static_cast<unsigned long long>(c.bytes), static_cast<long long>(c.pause_us), c.positions);
  }
  return 0;
}

}  // namespace impulse::tools
