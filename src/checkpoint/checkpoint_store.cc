#include "checkpoint/checkpoint_store.h"

#include <algorithm>
#include <charconv>

#include "checkpoint/manifest.h"
#include "common/crc32c.h"

namespace impulse::checkpoint {
namespace {

constexpr std::string_view kPendingSuffix = ".pending";
constexpr size_t kVerifyChunkBytes = 1 << 20;

struct DirName {
  uint64_t id = 0;
  bool pending = false;
};

// "<id>" or "<id>.pending", id decimal without leading zeros; anything else is not ours.
std::optional<DirName> ParseDirName(std::string_view name) {
  DirName d;
  if (name.ends_with(kPendingSuffix)) {
    d.pending = true;
    name.remove_suffix(kPendingSuffix.size());
  }
  if (name.empty() || name.size() > 20 || (name.size() > 1 && name[0] == '0')) return std::nullopt;
  const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), d.id);
  if (ec != std::errc() || ptr != name.data() + name.size()) return std::nullopt;
  return d;
}

// Deletes `path` and everything below it (symbolic links are unlinked, never followed).
Status RemoveTree(Env* env, const std::string& path, int depth = 0) {
  if (depth > kTreeDepthMax) return FailedPrecondition(path + ": nested deeper than " + std::to_string(kTreeDepthMax));
  Result<bool> is_dir = env->IsDirectory(path);
  if (!is_dir.ok()) return is_dir.status().code() == StatusCode::kNotFound ? Status::OK() : is_dir.status();
  if (!*is_dir) return env->DeleteFile(path);
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(path));
  for (const std::string& name : names) RETURN_IF_ERROR(RemoveTree(env, path + "/" + name, depth + 1));
  return env->DeleteDir(path);
}

// fsyncs `path` and every directory below it, so the entries of the tree are durable.
Status SyncTree(Env* env, const std::string& path, int depth = 0) {
  if (depth > kTreeDepthMax) return FailedPrecondition(path + ": nested deeper than " + std::to_string(kTreeDepthMax));
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(path));
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(bool is_dir, env->IsDirectory(path + "/" + name));
    if (is_dir) RETURN_IF_ERROR(SyncTree(env, path + "/" + name, depth + 1));
  }
  return env->SyncDir(path);
}

// Total bytes of the files below `path`.
Result<uint64_t> TreeBytes(Env* env, const std::string& path, int depth = 0) {
  if (depth > kTreeDepthMax) return uint64_t{0};
  ASSIGN_OR_RETURN(bool is_dir, env->IsDirectory(path));
  if (!is_dir) {
    ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> f, env->OpenRandomAccess(path));
    return f->Size();
  }
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(path));
  uint64_t total = 0;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(uint64_t n, TreeBytes(env, path + "/" + name, depth + 1));
    total += n;
  }
  return total;
}

// Checks one state file against the manifest: its size, and its CRC when `check_crc`.
Status VerifyFile(Env* env, const std::string& dir, const CheckpointManifest::File& f, bool check_crc) {
  const std::string path = dir + "/" + f.name;
  Result<std::unique_ptr<RandomAccessFile>> file = env->OpenRandomAccess(path);
  if (!file.ok()) {
    if (file.status().code() == StatusCode::kNotFound) return DataLoss("state file " + f.name + " is missing");
    return file.status();
  }
  ASSIGN_OR_RETURN(uint64_t size, (*file)->Size());
  if (size != f.bytes) {
    return DataLoss("state file " + f.name + " has " + std::to_string(size) + " bytes, the manifest says " +
                    std::to_string(f.bytes));
  }
  if (!check_crc) return Status::OK();
  std::string buf(static_cast<size_t>(std::min<uint64_t>(kVerifyChunkBytes, size)), '\0');
  uint32_t crc = 0;
  for (uint64_t pos = 0; pos < size;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - pos));
    ASSIGN_OR_RETURN(size_t got, (*file)->Read(pos, want, buf.data()));
    if (got == 0) return DataLoss("state file " + f.name + " shrank while being read");
    crc = Crc32c(buf.data(), got, crc);
    pos += got;
  }
  if (crc != f.crc32c) return DataLoss("state file " + f.name + " fails its checksum");
  return Status::OK();
}

bool IsCorruption(const Status& s) { return s.code() == StatusCode::kDataLoss || s.code() == StatusCode::kNotFound; }

}  // namespace

Status PendingCheckpoint::WriteFile(std::string_view name, std::string_view data) {
  if (env_ == nullptr)
    return FailedPrecondition("checkpoint " + std::to_string(id) + " is already committed or aborted");
  if (!ValidStateFileName(name)) {
    return InvalidArgument("checkpoint state file name '" + std::string(name.substr(0, 64)) +
                           "': must be a plain file name of 1.." + std::to_string(kFileNameBytesMax) +
                           " bytes, not MANIFEST");
  }
  for (const CheckpointManifest::File& f : files_) {
    if (f.name == name) return AlreadyExists("checkpoint state file " + std::string(name) + " was already written");
  }
  if (files_.size() >= kFilesMax) {
    return ResourceExhausted("checkpoint " + std::to_string(id) + ": more than " + std::to_string(kFilesMax) +
                             " files");
  }
  const std::string path = dir + "/" + std::string(name);
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> w, env_->OpenWritable(path));
  Status s = w->Truncate(0);
  if (s.ok()) s = w->Append(data);
  if (s.ok()) s = w->Sync();
  const Status c = w->Close();
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(c);
  files_.push_back({std::string(name), data.size(), Crc32c(data.data(), data.size())});
  return Status::OK();
}

CheckpointStore::CheckpointStore(Env* env, std::string dir, int retain, Clock* clock)
    : env_(env), dir_(std::move(dir)), retain_(retain), clock_(clock) {}

Result<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(Env* env, std::string dir, int retain, Clock* clock) {
  if (env == nullptr) return InvalidArgument("CheckpointStore::Open: null env");
  if (dir.empty()) return InvalidArgument("CheckpointStore::Open: empty dir");
  if (retain < 1) return InvalidArgument("CheckpointStore::Open: retain must be >= 1, got " + std::to_string(retain));
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  RETURN_IF_ERROR(env->CreateDirs(dir).WithContext("open checkpoint store"));
  std::unique_ptr<CheckpointStore> store(
      new CheckpointStore(env, std::move(dir), retain, clock != nullptr ? clock : Clock::Real()));
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(store->dir_));
  // Ids never repeat: the next one is above every id present, pending and corrupt ones too.
  for (const std::string& name : names) {
    if (auto d = ParseDirName(name); d && d->id >= store->next_id_) store->next_id_ = d->id + 1;
  }
  return store;
}

std::string CheckpointStore::DirOf(uint64_t id) const { return dir_ + "/" + std::to_string(id); }
std::string CheckpointStore::PendingDirOf(uint64_t id) const { return DirOf(id) + std::string(kPendingSuffix); }

Result<PendingCheckpoint> CheckpointStore::Begin() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_));
  for (const std::string& name : names) {
    if (auto d = ParseDirName(name); d && d->pending) RETURN_IF_ERROR(RemoveTree(env_, dir_ + "/" + name));
  }
  if (next_id_ == UINT64_MAX) return ResourceExhausted("checkpoint ids exhausted");
  PendingCheckpoint p;
  p.id = next_id_++;
  p.dir = PendingDirOf(p.id);
  RETURN_IF_ERROR(env_->CreateDirs(p.dir));
  p.env_ = env_;
  return p;
}

Status CheckpointStore::Commit(PendingCheckpoint& pending, CheckpointManifest manifest) {
  if (pending.env_ == nullptr) {
    return FailedPrecondition("checkpoint " + std::to_string(pending.id) + " is already committed or aborted");
  }
  if (pending.env_ != env_ || pending.dir != PendingDirOf(pending.id)) {
    return InvalidArgument("checkpoint " + std::to_string(pending.id) + " belongs to another store");
  }
  manifest.id = pending.id;
  manifest.files = pending.files_;
  if (manifest.created_ms == 0) manifest.created_ms = clock_->NowMs();
  ASSIGN_OR_RETURN(std::string encoded, EncodeManifest(manifest));
  const std::string context = "commit checkpoint " + std::to_string(pending.id);
  {
    ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> w, env_->OpenWritable(pending.dir + "/" + kManifestName));
    Status s = w->Truncate(0);
    if (s.ok()) s = w->Append(encoded);
    if (s.ok()) s = w->Sync();
    const Status c = w->Close();
    RETURN_IF_ERROR(s.WithContext(context));
    RETURN_IF_ERROR(c.WithContext(context));
  }
  // Every entry of the tree (state files, backend subdirectories, the manifest) is durable
  // before the rename makes the checkpoint exist.
  RETURN_IF_ERROR(SyncTree(env_, pending.dir).WithContext(context));
  RETURN_IF_ERROR(env_->RenameFile(pending.dir, DirOf(pending.id)).WithContext(context));
  pending.env_ = nullptr;
  pending.dir = DirOf(pending.id);
  RETURN_IF_ERROR(env_->SyncDir(dir_).WithContext(context));
  last_cleanup_error_ = Cleanup();
  return Status::OK();
}

Status CheckpointStore::Abort(PendingCheckpoint& pending) {
  if (pending.env_ == nullptr) return Status::OK();
  if (pending.dir != PendingDirOf(pending.id)) {
    return InvalidArgument("checkpoint " + std::to_string(pending.id) + " belongs to another store");
  }
  pending.env_ = nullptr;
  return RemoveTree(env_, pending.dir).WithContext("abort checkpoint " + std::to_string(pending.id));
}

Status CheckpointStore::Cleanup() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_));
  std::vector<DirName> dirs;
  for (const std::string& name : names) {
    if (auto d = ParseDirName(name)) dirs.push_back(*d);
  }
  std::sort(dirs.begin(), dirs.end(), [](const DirName& a, const DirName& b) { return a.id > b.id; });
  int kept = 0;
  Status first_error;
  for (const DirName& d : dirs) {
    bool remove = d.pending;  // no pending checkpoint is in progress after a commit
    if (!d.pending) {
      const bool complete = ReadManifest(d.id).ok();
      if (complete && kept < retain_) {
        ++kept;
      } else {
        // Beyond retention, or an incomplete one older than a retained one (newer incomplete
        // ones stay for inspection until they age out).
        remove = complete || kept > 0;
      }
    }
    if (!remove) continue;
    const Status s =
        RemoveTree(env_, dir_ + "/" + std::to_string(d.id) + (d.pending ? std::string(kPendingSuffix) : ""));
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  RETURN_IF_ERROR(first_error);
  return env_->SyncDir(dir_);
}

Result<CheckpointManifest> CheckpointStore::ReadManifest(uint64_t id) {
  const std::string path = DirOf(id) + "/" + kManifestName;
  ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> f, env_->OpenRandomAccess(path));
  ASSIGN_OR_RETURN(uint64_t size, f->Size());
  if (size > kManifestBytesMax + 64) return DataLoss(path + ": larger than the manifest limit");
  std::string data(static_cast<size_t>(size), '\0');
  ASSIGN_OR_RETURN(size_t got, f->Read(0, data.size(), data.data()));
  data.resize(got);
  Result<CheckpointManifest> m = DecodeManifest(data);
  if (!m.ok()) return m.status().WithContext(path);
  if (m->id != id) return DataLoss(path + ": manifest id " + std::to_string(m->id) + " does not match the directory");
  return m;
}

Result<std::vector<CheckpointInfo>> CheckpointStore::List() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_));
  std::vector<std::pair<DirName, std::string>> dirs;
  for (const std::string& name : names) {
    if (auto d = ParseDirName(name)) dirs.emplace_back(*d, name);
  }
  std::sort(dirs.begin(), dirs.end(), [](const auto& a, const auto& b) {
    return a.first.id != b.first.id ? a.first.id > b.first.id : a.first.pending < b.first.pending;
  });
  std::vector<CheckpointInfo> out;
  for (const auto& [d, name] : dirs) {
    CheckpointInfo info;
    info.id = d.id;
    const std::string path = dir_ + "/" + name;
    Result<uint64_t> bytes = TreeBytes(env_, path);
    if (!bytes.ok()) {
      if (bytes.status().code() == StatusCode::kNotFound) continue;  // removed while listing
      return bytes.status();
    }
    info.bytes = *bytes;
    if (d.pending) {
      info.problem = "pending: no manifest yet (in progress, or interrupted by a crash)";
      out.push_back(std::move(info));
      continue;
    }
    Result<CheckpointManifest> m = ReadManifest(d.id);
    if (!m.ok()) {
      if (!IsCorruption(m.status())) return m.status();
      info.problem = m.status().code() == StatusCode::kNotFound ? "incomplete: no MANIFEST" : m.status().message();
      out.push_back(std::move(info));
      continue;
    }
    info.created_ms = m->created_ms;
    info.pause_us = m->pause_us;
    info.positions = m->positions.size();
    info.files = m->files.size();
    info.spec_fingerprint = m->spec_fingerprint;
    info.complete = true;
    for (const CheckpointManifest::File& f : m->files) {
      const Status s = VerifyFile(env_, path, f, /*check_crc=*/false);
      if (s.ok()) continue;
      if (!IsCorruption(s)) return s;
      info.complete = false;
      info.problem = s.message();
      break;
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<CheckpointManifest> CheckpointStore::Load(uint64_t id) {
  if (!env_->FileExists(DirOf(id))) {
    if (env_->FileExists(PendingDirOf(id)))
      return DataLoss("checkpoint " + std::to_string(id) + " is incomplete (pending)");
    return NotFound("no checkpoint " + std::to_string(id) + " in " + dir_);
  }
  Result<CheckpointManifest> m = ReadManifest(id);
  if (!m.ok()) {
    if (m.status().code() == StatusCode::kNotFound)
      return DataLoss("checkpoint " + std::to_string(id) + " has no MANIFEST");
    return m.status();
  }
  for (const CheckpointManifest::File& f : m->files) {
    RETURN_IF_ERROR(VerifyFile(env_, DirOf(id), f, /*check_crc=*/true).WithContext("checkpoint " + std::to_string(id)));
  }
  return m;
}

Result<std::optional<CheckpointManifest>> CheckpointStore::LoadLatest(std::vector<std::string>* skipped) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_));
  std::vector<uint64_t> ids;
  for (const std::string& name : names) {
    if (auto d = ParseDirName(name); d && !d->pending) ids.push_back(d->id);
  }
  std::sort(ids.rbegin(), ids.rend());
  for (uint64_t id : ids) {
    Result<CheckpointManifest> m = Load(id);
    if (m.ok()) return std::optional<CheckpointManifest>(std::move(m).value());
    if (!IsCorruption(m.status())) return m.status();
    if (skipped != nullptr) skipped->push_back("checkpoint " + std::to_string(id) + ": " + m.status().message());
  }
  return std::optional<CheckpointManifest>();
}

Result<std::string> CheckpointStore::ReadFile(uint64_t id, std::string_view name) {
  Result<CheckpointManifest> m = ReadManifest(id);
  if (!m.ok()) {
    if (m.status().code() == StatusCode::kNotFound) return NotFound("no complete checkpoint " + std::to_string(id));
    return m.status();
  }
  const auto it =
      std::find_if(m->files.begin(), m->files.end(), [&](const CheckpointManifest::File& f) { return f.name == name; });
  if (it == m->files.end()) {
    return NotFound("checkpoint " + std::to_string(id) + " has no state file " + std::string(name));
  }
  if (it->bytes > kReadFileBytesMax) {
    return ResourceExhausted("checkpoint state file " + it->name + " is larger than kReadFileBytesMax");
  }
  const std::string context = "checkpoint " + std::to_string(id);
  // Size first, so a file grown on disk is never read whole.
  RETURN_IF_ERROR(VerifyFile(env_, DirOf(id), *it, /*check_crc=*/false).WithContext(context));
  ASSIGN_OR_RETURN(std::string data, env_->ReadFile(DirOf(id) + "/" + it->name));
  if (data.size() != it->bytes) return DataLoss(context + ": state file " + it->name + " changed while being read");
  if (Crc32c(data.data(), data.size()) != it->crc32c) {
    return DataLoss(context + ": state file " + it->name + " fails its checksum");
  }
  return data;
}

}  // namespace impulse::checkpoint
