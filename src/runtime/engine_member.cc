// A member of a group of instances (docs/SCALE_OUT.md): what a new owner of the member's
// partition needs, taken after each checkpoint, and the release of outputs to Kafka sinks
// once that has reached the broker.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/dir_lock.h"
#include "log/log_format.h"
#include "runtime/engine_impl.h"

namespace impulse::runtime {
namespace {

// Every file under `rel` (a directory of data_dir), recursively, into out.
Status AddTree(Env* env, const std::string& data_dir, const std::string& rel, MemberSnapshot* out) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(data_dir + "/" + rel));
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    if (n == "." || n == "..") continue;
    const std::string r = rel + "/" + n;
    ASSIGN_OR_RETURN(bool dir, env->IsDirectory(data_dir + "/" + r));
    if (dir) {
      RETURN_IF_ERROR(AddTree(env, data_dir, r, out));
      continue;
    }
    ASSIGN_OR_RETURN(std::string bytes, env->ReadFile(data_dir + "/" + r));
    out->files.emplace_back(r, std::move(bytes));
  }
  return Status::OK();
}

bool SafeRelative(const std::string& path) {
  if (path.empty() || path[0] == '/') return false;
  size_t at = 0;
  while (at <= path.size()) {
    size_t slash = path.find('/', at);
    if (slash == std::string::npos) slash = path.size();
    const std::string part = path.substr(at, slash - at);
    if (part.empty() || part == "." || part == "..") return false;
    at = slash + 1;
  }
  return true;
}

Status RemoveTree(Env* env, const std::string& path) {
  ASSIGN_OR_RETURN(bool dir, env->IsDirectory(path));
  if (!dir) return env->DeleteFile(path);
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(path));
  for (const std::string& n : names) {
    if (n == "." || n == "..") continue;
    RETURN_IF_ERROR(RemoveTree(env, path + "/" + n));
  }
  return env->DeleteDir(path);
}

}  // namespace

Status EngineImpl::BuildMemberSnapshot(uint64_t id, const std::vector<std::pair<std::string, uint64_t>>& positions,
                                       MemberSnapshot* out) const {
  out->checkpoint_id = id;
  out->files.clear();
  const std::string& data_dir = options_.data_dir;
  const std::string ckpt_dir = store_->DirOf(id);
  if (ckpt_dir.rfind(data_dir + "/", 0) != 0) return Internal("checkpoint directory outside the data directory");
  RETURN_IF_ERROR(AddTree(env_, data_dir, ckpt_dir.substr(data_dir.size() + 1), out));
  uint64_t total = out->bytes();
  std::map<std::string, uint64_t> pos(positions.begin(), positions.end());
  // Per partition, the first record a new owner still needs: what a pipeline has not read at
  // the checkpoint, what a sink has not exported, the last source position of a copied stream.
  for (const auto& ssp : streams_) {
    const StreamState& ss = *ssp;
    for (uint32_t p = 0; p < ss.partitions.size(); ++p) {
      const log::PartitionLog& l = *ss.partitions[p];
      const std::string suffix = "/" + std::to_string(p);
      uint64_t need = l.end_offset();
      if (auto it = pos.find("end/" + ss.def.name + suffix); it != pos.end()) need = std::min(need, it->second);
      for (const plan::LogicalPipeline& lp : plan_.pipelines) {
        for (int side = 0; side < 2; ++side) {
          if ((side == 0 ? lp.source : lp.second_source) != ss.def.name) continue;
          auto it = pos.find("cursor/" + lp.name + "/" + std::to_string(side) + suffix);
          if (it != pos.end()) need = std::min(need, it->second);
        }
      }
      uint64_t hint = 0;
      if (source_slot_[ss.index] >= 0 && ReadSourceHint(l, &hint) && hint > 0) need = std::min(need, hint - 1);
      if (connectors_) need = std::min(need, connectors_->ExportedFrom(ss.def.name, p));
      // One segment holding exactly [need, end): a new owner's log starts at `need`, so every
      // offset a checkpoint or a sink recorded stays valid there.
      need = std::max(need, l.start_offset());
      std::string seg(log::kSegmentHeaderBytes, '\0');
      log::EncodeSegmentHeader(need, seg.data());
      std::vector<log::Record> recs;
      std::string storage;
      for (uint64_t at = need; at < l.end_offset();) {
        recs.clear();
        storage.clear();
        RETURN_IF_ERROR(l.Read(at, 65536, 16u << 20, &recs, &storage).WithContext(ss.def.name + suffix));
        if (recs.empty()) break;
        for (const log::Record& r : recs) {
          char h[log::kFrameHeaderBytes];
          log::EncodeFrameHeader(r.payload, r.timestamp_ms, h);
          seg.append(h, sizeof(h));
          seg.append(r.payload);
          at = r.offset + 1;
        }
        if (total + seg.size() > options_.member_snapshot_bytes_max) {
          return ResourceExhausted("member snapshot over member_snapshot_bytes_max (" +
                                   std::to_string(options_.member_snapshot_bytes_max) + " bytes) at stream " +
                                   ss.def.name + suffix + " (a backlog not yet processed travels with it)");
        }
      }
      total += seg.size();
      out->files.emplace_back("streams/" + ss.def.name + suffix + "/" + log::SegmentFileName(need), std::move(seg));
    }
  }
  return Status::OK();
}

void EngineImpl::ReleaseExports(uint64_t id) {
  std::lock_guard<std::mutex> l(committed_mu_);
  auto it = unreleased_ends_.find(id);
  if (it == unreleased_ends_.end()) return;
  for (const auto& [name, value] : it->second) committed_ends_[name] = value;
  unreleased_ends_.erase(unreleased_ends_.begin(), std::next(it));
}

Status WriteMemberSnapshot(const std::string& data_dir, const MemberSnapshot& snapshot, Env* env) {
  if (env == nullptr) env = Env::Default();
  for (const auto& f : snapshot.files) {
    if (!SafeRelative(f.first))
      return InvalidArgument("member snapshot: file path '" + f.first + "' leaves the directory");
    if (f.first == kLockFile) return InvalidArgument("member snapshot: file path 'LOCK' is the directory's lock");
  }
  RETURN_IF_ERROR(env->CreateDirs(data_dir));
  // The engine's lock, held while the directory is rewritten: a member engine still running
  // there (an owner not yet stopped) refuses this. DATA/LOCK itself stays, so an engine opening
  // meanwhile locks the same file and one of the two is refused.
  ASSIGN_OR_RETURN(std::unique_ptr<DirLock> lock, DirLock::Acquire(data_dir));
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(data_dir));
  for (const std::string& n : names) {
    if (n == "." || n == ".." || n == kLockFile) continue;
    RETURN_IF_ERROR(RemoveTree(env, data_dir + "/" + n));
  }
  for (const auto& [rel, bytes] : snapshot.files) {
    const std::string path = data_dir + "/" + rel;
    RETURN_IF_ERROR(env->CreateDirs(path.substr(0, path.rfind('/'))));
    RETURN_IF_ERROR(env->WriteFileAtomic(path, bytes));
  }
  return Status::OK();
}

}  // namespace impulse::runtime

namespace impulse {
Status WriteMemberSnapshot(const std::string& data_dir, const MemberSnapshot& snapshot, Env* env) {
  return runtime::WriteMemberSnapshot(data_dir, snapshot, env);
}
}  // namespace impulse
