// `impulse reset PIPELINE --spec SPEC.yaml --data-dir DIR [--to beginning|end] [--yes]`: makes a
// pipeline start over from its sources' beginning or end at the next `impulse run`, offline
// (the engine must be stopped: the command takes the data directory's lock).
// `impulse reset PIPELINE --url URL [--token T] [--to beginning|end] [--yes]`: the same on the
// running engine (POST /v1/pipelines/{p}/reset: the engine resets the pipeline at a checkpoint
// and answers once that checkpoint is committed).
//
// How: a new checkpoint, committed atomically like the engine's own, equal to the newest one
// except that the pipeline's input positions are moved and its operator state is left out (a
// task without state in a checkpoint starts empty). A crash during the command leaves the
// newest checkpoint as it was. Consequences (printed before asking): with `beginning` the
// pipeline processes its retained input again and writes its outputs again after those already
// in its sink (readers of the sink see them twice; triggers fire again); with `end` the input not
// yet processed is skipped. Either way windows and feature values restart empty.
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.h"
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

// Hard-links (or copies, across file systems) the tree under `from` into `to`, skipping the
// relative paths in `skip` and everything under them.
Status LinkTree(const fs::path& from, const fs::path& to, const std::vector<fs::path>& skip) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(from, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const fs::path rel = fs::relative(it->path(), from, ec);
    if (ec) break;
    bool skipped = false;
    for (const fs::path& s : skip) {
      const auto [a, b] = std::mismatch(s.begin(), s.end(), rel.begin(), rel.end());
      skipped = skipped || a == s.end();
    }
    if (skipped) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    const fs::path dst = to / rel;
    if (it->is_directory(ec)) {
      fs::create_directories(dst, ec);
    } else {
      fs::create_hard_link(it->path(), dst, ec);
      if (ec) {
        ec.clear();
        fs::copy_file(it->path(), dst, ec);
      }
    }
    if (ec) return IOError("copying " + it->path().string() + " to " + dst.string() + ": " + ec.message());
  }
  if (ec) return IOError("reading " + from.string() + ": " + ec.message());
  return Status::OK();
}

uint64_t U(simdjson::simdjson_result<simdjson::dom::element> e) {
  uint64_t v = 0;
  return e.get(v) == simdjson::SUCCESS ? v : 0;
}

std::string S(simdjson::simdjson_result<simdjson::dom::element> e) {
  std::string_view v;
  return e.get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

std::string S(simdjson::dom::element e) {
  std::string_view v;
  return e.get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

// Asks for the pipeline's name on a terminal; refuses (exit code 2) without one unless --yes.
// 0 = go on, else the exit code.
int ConfirmName(bool yes, const std::string& name) {
  if (yes) return 0;
  if (isatty(STDIN_FILENO) == 0) {
    std::fprintf(stderr, "impulse: reset: not a terminal: pass --yes to confirm\n");
    return 2;
  }
  std::printf("type the pipeline's name to confirm: ");
  std::fflush(stdout);
  std::string answer;
  std::getline(std::cin, answer);
  if (answer != name) {
    std::printf("not confirmed: nothing changed\n");
    return 1;
  }
  return 0;
}

// The online form: what the engine reports of the pipeline (GET /v1/pipelines), the
// confirmation, then POST /v1/pipelines/{p}/reset.
int Online(const std::string& pipeline, const std::string& url, std::string token, const std::string& to, bool yes) {
  if (token.empty()) {
    if (const char* t = std::getenv("IMPULSE_TOKEN")) token = t;
  }
  auto client = EngineClient::Create(url, token);
  if (!client.ok()) return std::fprintf(stderr, "impulse: reset: %s\n", client.status().message().c_str()), 2;
  auto listed = (*client)->Get("/v1/pipelines");
  if (!listed.ok()) return std::fprintf(stderr, "impulse: reset: %s\n", listed.status().message().c_str()), 1;
  if (listed->status != 200) {
    std::fprintf(stderr, "impulse: reset: HTTP %d: %s\n", listed->status, ErrorMessage(*listed).c_str());
    return 1;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::array pipes;
  if (parser.parse(listed->body).get(doc) != simdjson::SUCCESS || doc["pipelines"].get(pipes)) {
    return std::fprintf(stderr, "impulse: reset: unreadable answer from %s\n", url.c_str()), 1;
  }
  std::vector<std::string> names;
  simdjson::dom::element self;
  bool found = false;
  for (simdjson::dom::element p : pipes) {
    names.push_back(S(p["name"]));
    if (names.back() == pipeline) {
      self = p;
      found = true;
    }
  }
  if (!found) {
    std::vector<std::string_view> views(names.begin(), names.end());
    std::fprintf(stderr, "impulse: reset: no pipeline '%s' at %s%s\n", pipeline.c_str(), url.c_str(),
                 DidYouMean(pipeline, views).c_str());
    return 1;
  }
  std::printf("reset pipeline %s of the engine at %s, online:\n", pipeline.c_str(), url.c_str());
  simdjson::dom::array inputs;
  if (!self["inputs"].get(inputs)) {
    for (simdjson::dom::element in : inputs) {
      std::printf("  %s partition %llu: offset %llu -> %s\n", S(in["stream"]).c_str(),
                  static_cast<unsigned long long>(U(in["partition"])),
                  static_cast<unsigned long long>(U(in["processed_offset"])),
                  to == "end" ? "its end at the reset" : "its start");
    }
  }
  std::printf("  its operator state (windows, feature values, dedup and join buffers) starts empty\n");
  std::string outputs = S(self["sink"]["name"]);
  if (outputs.empty()) outputs = "stdout";
  simdjson::dom::array sides;
  if (!self["side_streams"].get(sides)) {
    for (simdjson::dom::element side : sides) outputs += ", " + S(side);
  }
  if (to == "beginning") {
    std::printf(
        "  it processes its retained input again: its outputs are written again after those already in %s\n"
        "  (readers of those see them twice; triggers fire and actions are called again)\n",
        outputs.c_str());
  } else {
    std::printf("  the input it has not processed yet is skipped (never processed)\n");
  }
  std::printf("  pipelines reading its outputs are not reset\n");
  if (int rc = ConfirmName(yes, pipeline); rc != 0) return rc;

  // The engine answers once a checkpoint is committed: up to its checkpoint_timeout_ms (60 s).
  auto r = (*client)->Post("/v1/pipelines/" + EncodeSegment(pipeline) + "/reset?to=" + to, "", 120'000);
  if (!r.ok()) {
    // Sent and unanswered: the engine may still apply it (it is queued behind other checkpoints).
    return std::fprintf(stderr,
                        "impulse: reset: %s\n  the engine may still apply the reset: look at the pipeline's "
                        "positions (impulse status --url %s) before sending it again\n",
                        r.status().message().c_str(), (*client)->url().c_str()),
           1;
  }
  if (r->status != 200) {
    std::fprintf(stderr, "impulse: reset: HTTP %d: %s\n", r->status, ErrorMessage(*r).c_str());
    return 1;
  }
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS || doc["inputs"].get(inputs)) {
    return std::fprintf(stderr, "impulse: reset: unreadable answer: %s\n", r->body.c_str()), 1;
  }
  for (simdjson::dom::element in : inputs) {
    std::printf("  %s partition %llu: offset %llu -> %llu\n", S(in["stream"]).c_str(),
                static_cast<unsigned long long>(U(in["partition"])), static_cast<unsigned long long>(U(in["before"])),
                static_cast<unsigned long long>(U(in["after"])));
  }
  simdjson::dom::array consequences;
  if (!doc["consequences"].get(consequences)) {
    for (simdjson::dom::element c : consequences) std::printf("  %s\n", S(c).c_str());
  }
  std::printf("done: pipeline %s reset to %s (checkpoint %llu)\n", pipeline.c_str(), to.c_str(),
              static_cast<unsigned long long>(U(doc["checkpoint"])));
  return 0;
}

}  // namespace

int ResetCommand(const std::vector<std::string>& args) {
  const char* usage =
      "impulse reset PIPELINE --spec SPEC.yaml --data-dir DIR [--to beginning|end] [--yes]\n"
      "  offline: stop the engine first\n"
      "  impulse reset PIPELINE --url URL [--token T] [--to beginning|end] [--yes]\n"
      "  online: the running engine resets it at a checkpoint";
  po::options_description opts("reset options");
  std::string pipeline, spec, data_dir, url, token, to = "beginning";
  opts.add_options()("pipeline", po::value(&pipeline), "the pipeline to reset")(
      "spec", po::value(&spec), "the spec the engine runs with this data directory")("data-dir", po::value(&data_dir),
                                                                                     "the engine's data directory")(
      "to", po::value(&to)->default_value(to),
      "beginning: process the retained input again; end: skip the input not processed yet")(
      "url", po::value(&url), "online: the running engine's HTTP API (http://HOST:PORT)")(
      "token", po::value(&token), "online: bearer token (default: $IMPULSE_TOKEN)")("yes",
                                                                                    "do not ask for confirmation");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm, "pipeline", Positional::kRequired); rc >= 0) return rc;
  if (!url.empty()) {
    if (!spec.empty() || !data_dir.empty())
      return UsageError(usage, "reset: --url resets online; --spec and --data-dir offline: give one");
    if (to != "beginning" && to != "end")
      return UsageError(usage, "reset: --to '" + to + "': expected beginning or end");
    return Online(pipeline, url, token, to, vm.count("yes") > 0);
  }
  if (vm.count("token") > 0) return UsageError(usage, "reset: --token goes with --url");
  if (spec.empty()) return UsageError(usage, "reset: --spec is required (or --url to reset on the running engine)");
  if (data_dir.empty()) return UsageError(usage, "reset: --data-dir is required");
  if (to != "beginning" && to != "end") return UsageError(usage, "reset: --to '" + to + "': expected beginning or end");
  std::vector<plan::SpecError> errors;
  auto compiled = plan::CompileSpecFile(spec, &errors);
  if (!compiled.ok()) {
    std::fprintf(stderr, "impulse: %s\n", compiled.status().ToString().c_str());
    for (const auto& e : errors) std::fprintf(stderr, "  %s\n", e.ToString().c_str());
    return 1;
  }
  const plan::LogicalPipeline* lp = compiled->FindPipeline(pipeline);
  if (lp == nullptr) {
    std::vector<std::string_view> names;
    for (const auto& p : compiled->pipelines) names.push_back(p.name);
    std::fprintf(stderr, "impulse: reset: no pipeline '%s' in %s%s\n", pipeline.c_str(), spec.c_str(),
                 DidYouMean(pipeline, names).c_str());
    return 1;
  }
  if (!fs::is_directory(data_dir + "/checkpoints")) {
    std::fprintf(stderr,
                 "impulse: reset: %s has no checkpoints directory: reset needs an engine that ran with checkpoints "
                 "(the default); not done\n",
                 data_dir.c_str());
    return 1;
  }
  auto lock = DirLock::Acquire(data_dir);
  if (!lock.ok()) {
    std::fprintf(stderr, "impulse: reset: %s; stop the engine first\n", lock.status().message().c_str());
    return 1;
  }
  Env* env = Env::Default();
  // The positions written are computed from this spec (its pipeline's sources and partitions):
  // from another spec they would be another stream's offsets under the directory's cursor names.
  bool unused_record = false;
  if (Status fp = runtime::CheckSpecFingerprint(env, data_dir, *compiled, /*accept_change=*/false, &unused_record);
      !fp.ok()) {
    std::fprintf(stderr,
                 "impulse: reset: %s\nimpulse: reset: give --spec the spec the directory runs; nothing changed\n",
                 fp.message().c_str());
    return 1;
  }
  // Keep every checkpoint there is: the commit's clean-up must not remove older ones.
  auto store = checkpoint::CheckpointStore::Open(env, data_dir + "/checkpoints", 1 << 20);
  if (!store.ok()) return std::fprintf(stderr, "impulse: reset: %s\n", store.status().ToString().c_str()), 1;
  std::vector<std::string> skipped;
  auto latest = (*store)->LoadLatest(&skipped);
  if (!latest.ok()) return std::fprintf(stderr, "impulse: reset: %s\n", latest.status().ToString().c_str()), 1;
  for (const std::string& s : skipped) std::fprintf(stderr, "impulse: reset: skipped %s\n", s.c_str());
  if (!latest->has_value()) {
    std::fprintf(stderr, "impulse: reset: no complete checkpoint in %s/checkpoints: nothing to reset\n",
                 data_dir.c_str());
    return 1;
  }
  checkpoint::CheckpointManifest manifest = **latest;
  std::map<std::string, uint64_t> positions(manifest.positions.begin(), manifest.positions.end());

  // The new input positions: every partition of each source (a join reads two).
  std::vector<std::string> sources = {lp->source};
  if (!lp->second_source.empty()) sources.push_back(lp->second_source);
  std::map<std::string, uint64_t> moved;
  std::map<std::string, std::string> label;  // position name -> "stream partition p"
  const StreamDef* source_def = compiled->FindStream(lp->source);
  for (size_t side = 0; side < sources.size(); ++side) {
    const StreamDef* def = compiled->FindStream(sources[side]);
    if (def == nullptr || source_def == nullptr) {
      return std::fprintf(stderr, "impulse: reset: unknown stream %s\n", sources[side].c_str()), 1;
    }
    for (uint32_t p = 0; p < def->options.partitions; ++p) {
      // The log's start (beginning: what retention or a deletion left) or end.
      uint64_t value = 0;
      auto end = positions.find("end/" + def->name + "/" + std::to_string(p));
      if (to == "end" && end != positions.end()) {
        value = end->second;  // a pipeline-written stream is cut back to its checkpointed end at restore
      } else {
        const std::string log_dir = data_dir + "/streams/" + def->name + "/" + std::to_string(p);
        // Opening a log creates it: a partition the directory does not have is an error here.
        if (!fs::is_directory(log_dir)) {
          std::fprintf(stderr, "impulse: reset: stream %s partition %u has no log in %s; nothing changed\n",
                       def->name.c_str(), p, data_dir.c_str());
          return 1;
        }
        auto log = log::PartitionLog::Open(env, Clock::Real(), log_dir, {});
        if (!log.ok()) {
          std::fprintf(stderr, "impulse: reset: stream %s partition %u: %s\n", def->name.c_str(), p,
                       log.status().ToString().c_str());
          return 1;
        }
        value = to == "end" ? (*log)->end_offset() : (*log)->start_offset();
      }
      // A broadcast input (lookup, rank) has one position per task (partition of the source)
      // and per partition of the view's stream (as the shards name them).
      const std::string base = "cursor/" + lp->name + "/" + std::to_string(side) + "/" + std::to_string(p);
      if (side == 1 && lp->second_broadcast) {
        for (uint32_t t = 0; t < source_def->options.partitions; ++t) {
          const std::string name = base + "/" + std::to_string(t);
          moved[name] = value;
          label[name] = def->name + " partition " + std::to_string(p) + " (read by task " + std::to_string(t) + ")";
        }
      } else {
        moved[base] = value;
        label[base] = def->name + " partition " + std::to_string(p);
      }
    }
  }

  // What it does, before asking.
  std::printf("reset pipeline %s of %s in %s (from checkpoint %llu):\n", lp->name.c_str(), spec.c_str(),
              data_dir.c_str(), static_cast<unsigned long long>(manifest.id));
  for (const auto& [name, value] : moved) {
    auto it = positions.find(name);
    std::printf("  %s: offset %s -> %llu\n", label[name].c_str(),
                it == positions.end() ? "-" : std::to_string(it->second).c_str(),
                static_cast<unsigned long long>(value));
  }
  std::printf("  its operator state (windows, feature values, dedup and join buffers) starts empty\n");
  if (to == "beginning") {
    std::printf("  it processes its retained input again: its outputs are written again after those already in %s",
                lp->sink.target.empty() ? "stdout" : lp->sink.target.c_str());
    for (const std::string& s : lp->side_streams) std::printf(", %s", s.c_str());
    std::printf("\n  (readers of those see them twice; triggers fire and actions are called again)\n");
  } else {
    std::printf("  the input it has not processed yet is skipped (never processed)\n");
  }
  if (int rc = ConfirmName(vm.count("yes") > 0, lp->name); rc != 0) return rc;

  for (const auto& [name, value] : moved) positions[name] = value;
  checkpoint::CheckpointManifest next = manifest;
  next.positions.clear();
  for (const auto& [name, value] : manifest.positions) {
    next.positions.emplace_back(name, moved.count(name) != 0 ? moved[name] : value);
    moved.erase(name);
  }
  for (const auto& [name, value] : moved) next.positions.emplace_back(name, value);
  next.files.clear();
  next.created_ms = 0;
  next.pause_us = 0;
  auto pending = (*store)->Begin();
  if (!pending.ok()) return std::fprintf(stderr, "impulse: reset: %s\n", pending.status().ToString().c_str()), 1;
  Status st;
  for (const auto& f : manifest.files) {
    auto data = (*store)->ReadFile(manifest.id, f.name);
    st = data.ok() ? pending->WriteFile(f.name, *data) : data.status();
    if (!st.ok()) break;
  }
  // State directories (and backend checkpoints) as they are, but the pipeline's own.
  std::vector<fs::path> skip = {"MANIFEST", fs::path("state") / lp->name};
  for (const auto& f : manifest.files) skip.emplace_back(f.name);
  if (st.ok()) st = LinkTree((*store)->DirOf(manifest.id), pending->dir, skip);
  if (st.ok()) st = (*store)->Commit(*pending, next);
  if (!st.ok()) {
    (void)(*store)->Abort(*pending);
    std::fprintf(stderr, "impulse: reset: %s; nothing changed\n", st.ToString().c_str());
    return 1;
  }
  // A RocksDB state's live copy is rebuilt from the checkpoint at the next start; this one's
  // must not be found there.
  std::error_code ec;
  fs::remove_all(fs::path(data_dir) / "state" / lp->name, ec);
  std::printf("done: checkpoint %llu; the next `impulse run` resumes %s from there\n",
              static_cast<unsigned long long>(pending->id), lp->name.c_str());
  return 0;
}

}  // namespace impulse::tools
