// `impulse delete STREAM`: deletes a stream's stored records, in two forms (docs/OPERATIONS.md).
//
// Offline, `--data-dir DIR [--spec SPEC.yaml]`: every record of every partition, with the engine
// stopped (the command takes the data directory's lock, as `impulse reset` does).
//   How: each partition's log is emptied the way retention deletes (PartitionLog::
//   DeleteRecordsBefore past the end: the active segment is sealed, then the segments are
//   unlinked oldest first and the directory fsynced). Offsets are not reused: the empty log
//   starts at its old end offset, so no position anywhere points past it. Every checkpoint's
//   input cursors (at most the old end) stay valid without rewriting them: a pipeline reading
//   the stream resumes at the new start, skipping what it had not processed yet exactly as
//   after retention (counted in impulse_errors_total{kind="retention_skipped_events"}); a
//   pipeline-written stream's checkpointed end is below the new start, which recovery already
//   takes as the end (EngineImpl::Recover: max(checkpointed end, start)). A stream the spec
//   still declares therefore comes back empty; one it no longer declares (left over from an
//   older spec; needs --spec to know) is then removed with its directory.
//   Crash in the middle: each step leaves a valid log missing a prefix (what retention leaves),
//   so the engine opens it and recovers as after retention, and running the command again
//   finishes the deletion; an undeclared stream's directory removal starts only once every
//   partition is empty, so a half-removed one holds empty logs only.
//
// Online, `--records-before OFFSET [--partition P] --url URL`: the records below OFFSET while the
// engine runs, through DELETE /v1/streams/{s}/records (Engine::DeleteRecords), in whole segments.
//
// Streams whose name starts with '_' (dead letters, late events, the outbox) are refused unless
// --internal is given. Both forms print what they delete and ask first (y/N on a terminal;
// --yes in scripts; no terminal and no --yes: refused, exit 2).
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "common/dir_lock.h"
#include "common/suggest.h"
#include "impulse/env.h"
#include "log/partition_log.h"
#include "runtime/spec_fingerprint.h"
#include "spec/spec.h"
#include "tools/impulse/commands.h"
#include "tools/impulse/http_client.h"

namespace impulse::tools {
namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

constexpr const char* kUsage =
    "impulse delete STREAM --data-dir DIR [--spec SPEC.yaml] [--internal] [--yes]\n"
    "    offline (stop the engine first): every record of the stream\n"
    "  impulse delete STREAM --records-before OFFSET [--partition P] [--url URL] [--token T] [--internal] [--yes]\n"
    "    online: the records below OFFSET, in whole log segments";

// Asks on a terminal; refuses (exit code 2) without one unless --yes. 0 = go on, else the exit code.
int Confirm(bool yes, const std::string& question) {
  if (yes) return 0;
  std::fflush(stdout);  // what would be deleted, before the refusal
  if (isatty(STDIN_FILENO) == 0) {
    std::fprintf(stderr, "impulse: delete: not a terminal: pass --yes to confirm; nothing deleted\n");
    return 2;
  }
  std::printf("%s [y/N] ", question.c_str());
  std::fflush(stdout);
  std::string answer;
  std::getline(std::cin, answer);
  if (answer != "y" && answer != "Y" && answer != "yes") {
    std::printf("not confirmed: nothing deleted\n");
    return 1;
  }
  return 0;
}

// An unsigned member of the engine's answer; 0 when absent.
uint64_t U(simdjson::simdjson_result<simdjson::dom::element> e) {
  uint64_t v = 0;
  return e.get(v) == simdjson::SUCCESS ? v : 0;
}

std::string Plural(uint64_t n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

struct PartitionPlan {
  uint32_t partition = 0;
  std::string dir;
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t bytes = 0;  // segment files on disk
};

int Offline(const std::string& stream, const std::string& data_dir, const std::string& spec, bool yes) {
  const fs::path streams_dir = fs::path(data_dir) / "streams";
  std::error_code ec;
  if (!fs::is_directory(streams_dir, ec)) {
    std::fprintf(stderr, "impulse: delete: %s has no streams directory: not an engine's data directory\n",
                 data_dir.c_str());
    return 1;
  }
  std::optional<plan::LogicalPlan> compiled;
  if (!spec.empty()) {
    std::vector<plan::SpecError> errors;
    auto c = plan::CompileSpecFile(spec, &errors);
    if (!c.ok()) {
      std::fprintf(stderr, "impulse: %s\n", c.status().ToString().c_str());
      for (const auto& e : errors) std::fprintf(stderr, "  %s\n", e.ToString().c_str());
      return 1;
    }
    compiled = std::move(*c);
  }
  const fs::path stream_dir = streams_dir / stream;
  if (!fs::is_directory(stream_dir, ec)) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(streams_dir, ec)) {
      if (e.is_directory()) names.push_back(e.path().filename().string());
    }
    if (compiled) {
      for (const StreamDef& d : compiled->streams) names.push_back(d.name);
    }
    std::vector<std::string_view> views(names.begin(), names.end());
    std::fprintf(stderr, "impulse: delete: no stream '%s' in %s%s\n", stream.c_str(), data_dir.c_str(),
                 DidYouMean(stream, views).c_str());
    return 1;
  }
  auto lock = DirLock::Acquire(data_dir);
  if (!lock.ok()) {
    std::fprintf(stderr, "impulse: delete: %s; stop the engine first (or delete online: --records-before)\n",
                 lock.status().message().c_str());
    return 1;
  }
  Env* env = Env::Default();
  if (compiled) {
    // "No longer declared" is only true of the spec the directory runs.
    bool unused_record = false;
    if (Status fp = runtime::CheckSpecFingerprint(env, data_dir, *compiled, /*accept_change=*/false, &unused_record);
        !fp.ok()) {
      std::fprintf(stderr,
                   "impulse: delete: %s\nimpulse: delete: give --spec the spec the directory runs; nothing deleted\n",
                   fp.message().c_str());
      return 1;
    }
  }
  // Internal streams are always declared (the engine creates them); without --spec, a stream is
  // taken as declared: emptied, never removed.
  const bool declared = !compiled || stream.starts_with("_") || compiled->FindStream(stream) != nullptr;

  std::vector<PartitionPlan> parts;
  for (const auto& e : fs::directory_iterator(stream_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    parts.push_back({static_cast<uint32_t>(std::stoul(name)), e.path().string(), 0, 0, 0});
  }
  if (ec) return std::fprintf(stderr, "impulse: delete: reading %s: %s\n", stream_dir.c_str(), ec.message().c_str()), 1;
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.partition < b.partition; });
  uint64_t records = 0, bytes = 0;
  for (PartitionPlan& p : parts) {
    // Opening recovers the partition as the engine would (a torn tail is cut).
    auto log = log::PartitionLog::Open(env, Clock::Real(), p.dir, {});
    if (!log.ok()) {
      std::fprintf(stderr, "impulse: delete: stream %s partition %u: %s; nothing deleted (see `impulse repair`)\n",
                   stream.c_str(), p.partition, log.status().ToString().c_str());
      return 1;
    }
    p.start = (*log)->start_offset();
    p.end = (*log)->end_offset();
    for (const auto& f : fs::directory_iterator(p.dir, ec)) {
      if (f.path().extension() == ".log") p.bytes += f.file_size(ec);
    }
    records += p.end - p.start;
    bytes += p.bytes;
  }

  // What it does, before asking.
  std::printf("delete stream %s in %s: %s, %s, %s on disk\n", stream.c_str(), data_dir.c_str(),
              Plural(parts.size(), "partition").c_str(), Plural(records, "record").c_str(),
              Plural(bytes, "byte").c_str());
  for (const PartitionPlan& p : parts) {
    std::printf("  partition %u: offsets %llu..%llu (%s, %s)\n", p.partition, static_cast<unsigned long long>(p.start),
                static_cast<unsigned long long>(p.end), Plural(p.end - p.start, "record").c_str(),
                Plural(p.bytes, "byte").c_str());
  }
  if (!declared) {
    std::printf("  %s does not declare it (left over from an older spec): its directory is removed\n", spec.c_str());
  } else {
    std::printf("  the stream stays, empty: its offsets go on from each partition's end (never reused)\n");
    if (!compiled) std::printf("  (give --spec to list the pipelines that read or write it)\n");
  }
  if (compiled && declared) {
    for (const plan::LogicalPipeline& lp : compiled->pipelines) {
      if (lp.source == stream || lp.second_source == stream) {
        std::printf(
            "  pipeline %s reads it: resumes at the new start of the empty stream; input it had not processed is "
            "skipped (impulse_errors_total{kind=\"retention_skipped_events\"}); its state is kept (`impulse reset "
            "%s` clears it)\n",
            lp.name.c_str(), lp.name.c_str());
      }
      const bool side = std::find(lp.side_streams.begin(), lp.side_streams.end(), stream) != lp.side_streams.end();
      if ((lp.sink.kind == plan::SinkDef::Kind::kStream && lp.sink.target == stream) || side) {
        std::printf("  pipeline %s writes it: its next outputs follow, the deleted ones are not written again\n",
                    lp.name.c_str());
      }
    }
    for (const std::string& s : compiled->ConnectorSourceStreams()) {
      if (s == stream) {
        std::printf("  its broker source's resume position was in this log: the source starts as on a first run\n");
      }
    }
  }
  std::printf("  readers holding offsets below the new start skip ahead (GET .../events counts them in skipped)\n");
  if (int rc = Confirm(yes, "delete " + Plural(records, "record") + " of " + stream + "?"); rc != 0) return rc;

  for (const PartitionPlan& p : parts) {
    auto log = log::PartitionLog::Open(env, Clock::Real(), p.dir, {});
    Result<uint64_t> start = log.ok() ? (*log)->DeleteRecordsBefore(UINT64_MAX) : Result<uint64_t>(log.status());
    Status closed = log.ok() ? (*log)->Close() : Status::OK();
    if (!start.ok() || !closed.ok()) {
      std::fprintf(stderr,
                   "impulse: delete: stream %s partition %u: %s\nimpulse: delete: the earlier partitions are done; "
                   "the log is valid (a prefix deleted): run the command again to finish\n",
                   stream.c_str(), p.partition, (!start.ok() ? start.status() : closed).ToString().c_str());
      return 1;
    }
  }
  if (!declared) {
    fs::remove_all(stream_dir, ec);
    if (ec) {
      std::fprintf(stderr, "impulse: delete: removing %s: %s (its logs are empty; run the command again)\n",
                   stream_dir.c_str(), ec.message().c_str());
      return 1;
    }
    (void)env->SyncDir(streams_dir.string());
    std::printf("done: stream %s removed from %s\n", stream.c_str(), data_dir.c_str());
  } else {
    std::printf("done: stream %s is empty; the next `impulse run` reads it from there\n", stream.c_str());
  }
  return 0;
}

int Online(const std::string& stream, const std::string& url, std::string token, uint64_t before,
           std::optional<uint32_t> partition, bool yes) {
  if (token.empty()) {
    if (const char* t = std::getenv("IMPULSE_TOKEN")) token = t;
  }
  auto client = EngineClient::Create(url, token);
  if (!client.ok()) return std::fprintf(stderr, "impulse: delete: %s\n", client.status().message().c_str()), 2;
  const std::string path = "/v1/streams/" + EncodeSegment(stream);
  auto described = (*client)->Get(path);
  if (!described.ok()) return std::fprintf(stderr, "impulse: delete: %s\n", described.status().message().c_str()), 1;
  if (described->status != 200) {
    std::fprintf(stderr, "impulse: delete: %s\n", ErrorMessage(*described).c_str());
    return 1;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::array parts;
  if (parser.parse(described->body).get(doc) != simdjson::SUCCESS || doc["partitions"].get(parts)) {
    return std::fprintf(stderr, "impulse: delete: unreadable answer from %s\n", url.c_str()), 1;
  }
  if (partition && *partition >= parts.size()) {
    std::fprintf(stderr, "impulse: delete: --partition %u: stream %s has %zu partitions\n", *partition, stream.c_str(),
                 parts.size());
    return 2;
  }
  std::printf("delete the records of stream %s below offset %llu at %s, in whole log segments:\n", stream.c_str(),
              static_cast<unsigned long long>(before), url.c_str());
  uint64_t at_most = 0;
  for (simdjson::dom::element p : parts) {
    const uint64_t n = U(p["partition"]);
    if (partition && n != *partition) continue;
    const uint64_t start = U(p["start_offset"]);
    const uint64_t end = U(p["end_offset"]);
    const uint64_t upto = std::clamp(before, start, end);
    at_most += upto - start;
    std::printf("  partition %llu: offsets %llu..%llu: up to %s (%s)\n", static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(start), static_cast<unsigned long long>(end),
                Plural(upto - start, "record").c_str(),
                before >= end ? "all: its active segment is sealed first" : "those in segments wholly below it");
  }
  std::printf("  in all: up to %s\n", Plural(at_most, "record").c_str());
  std::printf("  pipelines and readers behind the new start skip ahead (counted as after retention)\n");
  if (int rc = Confirm(yes, "delete up to " + Plural(at_most, "record") + " of " + stream + "?"); rc != 0) return rc;

  std::string target = path + "/records?before=" + std::to_string(before);
  if (stream.starts_with("_")) target += "&internal=true";  // checked against --internal above
  if (partition) target += "&partition=" + std::to_string(*partition);
  auto r = (*client)->Delete(target);
  if (!r.ok()) return std::fprintf(stderr, "impulse: delete: %s\n", r.status().message().c_str()), 1;
  if (r->status != 200) {
    std::fprintf(stderr, "impulse: delete: HTTP %d: %s\n", r->status, ErrorMessage(*r).c_str());
    return 1;
  }
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS || doc["partitions"].get(parts)) {
    return std::fprintf(stderr, "impulse: delete: unreadable answer: %s\n", r->body.c_str()), 1;
  }
  for (simdjson::dom::element p : parts) {
    std::printf(
        "  partition %llu: start %llu -> %llu (%llu deleted)\n", static_cast<unsigned long long>(U(p["partition"])),
        static_cast<unsigned long long>(U(p["old_start_offset"])),
        static_cast<unsigned long long>(U(p["new_start_offset"])), static_cast<unsigned long long>(U(p["deleted"])));
  }
  std::printf("done: %s deleted\n", Plural(U(doc["deleted"]), "record").c_str());
  return 0;
}

}  // namespace

int DeleteCommand(const std::vector<std::string>& args) {
  po::options_description opts("delete options");
  std::string stream, data_dir, spec, url, token;
  uint64_t before = 0;
  uint32_t partition = 0;
  opts.add_options()("stream", po::value(&stream), "the stream")(
      "data-dir", po::value(&data_dir), "offline: the engine's data directory (every record is deleted)")(
      "spec", po::value(&spec),
      "offline: the spec the engine runs with it (lists its readers; removes a stream it no "
      "longer declares)")("records-before", po::value(&before), "online: delete the records below this offset")(
      "partition", po::value(&partition), "online: only this partition (default: all)")(
      "url", po::value(&url)->default_value("http://127.0.0.1:8470"), "online: the engine's HTTP API")(
      "token", po::value(&token), "online: bearer token (default: $IMPULSE_TOKEN)")(
      "internal", "allow a stream whose name starts with '_' (dead letters, late events, the outbox)")(
      "yes", "do not ask for confirmation");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, kUsage, opts, &vm, "stream", Positional::kRequired); rc >= 0) return rc;
  const bool online = vm.count("records-before") > 0;
  const char* problem = nullptr;
  if (online && !data_dir.empty()) {
    problem = "--records-before deletes online (--url) and --data-dir offline: give one";
  } else if (!online && data_dir.empty()) {
    problem = "give --data-dir (offline, every record) or --records-before (online)";
  } else if (!online && (vm.count("partition") > 0)) {
    problem = "--partition goes with --records-before (offline deletes every partition)";
  } else if (online && !spec.empty()) {
    problem = "--spec goes with --data-dir";
  }
  if (problem != nullptr) return UsageError(kUsage, std::string("delete: ") + problem);
  // The name becomes a directory under DATA/streams: "..", "." or one with a '/' would name the
  // data directory, every stream or a partition, which the undeclared form removes whole.
  if (const std::string_view bare = stream.starts_with("_") ? std::string_view(stream).substr(1) : stream;
      !plan::IsValidStreamName(bare)) {
    std::fprintf(stderr,
                 "impulse: delete: '%s' is not a stream name (letters, digits, '_', '.', '-'; not '.' or '..'); "
                 "nothing deleted\n",
                 stream.c_str());
    return 2;
  }
  if (stream.starts_with("_") && vm.count("internal") == 0) {
    std::fprintf(stderr,
                 "impulse: delete: %s is an internal stream (its name starts with '_'): pass --internal to delete "
                 "it; nothing deleted\n",
                 stream.c_str());
    return 2;
  }
  const bool yes = vm.count("yes") > 0;
  if (online) {
    return Online(stream, url, token, before,
                  vm.count("partition") > 0 ? std::optional<uint32_t>(partition) : std::nullopt, yes);
  }
  return Offline(stream, data_dir, spec, yes);
}

}  // namespace impulse::tools
