#include "state/rocksdb_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <vector>

#include "common/crc32c.h"
#include "state/snapshot_file.h"

namespace impulse::state {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kManifestHeader = "impulse-state-rocksdb v1";

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return DataLoss(std::move(msg));
  if (s.IsNotFound()) return NotFound(std::move(msg));
  if (s.IsNoSpace()) return ResourceExhausted(std::move(msg));
  if (s.IsIOError()) return IOError(std::move(msg));
  if (s.IsInvalidArgument()) return InvalidArgument(std::move(msg));
  return Internal(std::move(msg));
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

std::string GenerationDir(const std::string& dir, uint64_t generation) {
  return dir + "/db-" + std::to_string(generation);
}

// std::filesystem with error codes only: nothing throws out of this file except bad_alloc.
Status RemoveAll(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return IOError("remove " + path + ": " + ec.message());
  return Status::OK();
}

// The manifest: header line, "entries N", one "file NAME SIZE" per file, then "crc HEX" over
// every byte before that line.
std::string EncodeManifest(uint64_t entries, const std::vector<std::pair<std::string, uint64_t>>& files) {
  std::string text(kManifestHeader);
  text += "\nentries " + std::to_string(entries) + "\n";
  for (const auto& [name, size] : files) text += "file " + name + " " + std::to_string(size) + "\n";
  char crc[32];
  std::snprintf(crc, sizeof(crc), "crc %08x\n", Crc32c(text.data(), text.size()));
  return text + crc;
}

struct Manifest {
  uint64_t entries = 0;
  std::vector<std::pair<std::string, uint64_t>> files;
};

Result<Manifest> DecodeManifest(std::string_view text, const std::string& path) {
  auto corrupt = [&path](const std::string& why) { return DataLoss("state manifest " + path + ": " + why); };
  const size_t crc_pos = text.rfind("crc ");
  if (crc_pos == std::string_view::npos || crc_pos == 0 || text[crc_pos - 1] != '\n')
    return corrupt("no checksum line");
  unsigned stored = 0;
  const std::string crc_line(text.substr(crc_pos));
  if (std::sscanf(crc_line.c_str(), "crc %8x", &stored) != 1) return corrupt("bad checksum line");
  if (Crc32c(text.data(), crc_pos) != stored) return corrupt("checksum mismatch");
  Manifest m;
  size_t pos = 0;
  bool header = true;
  while (pos < crc_pos) {
    const size_t nl = text.find('\n', pos);
    const std::string line(text.substr(pos, nl - pos));
    pos = nl + 1;
    if (header) {
      if (line != kManifestHeader) return corrupt("unknown format '" + line + "'");
      header = false;
      continue;
    }
    char name[256];
    uint64_t n = 0;
    if (std::sscanf(line.c_str(), "entries %" SCNu64, &n) == 1) {
      m.entries = n;
    } else if (std::sscanf(line.c_str(), "file %255s %" SCNu64, name, &n) == 2) {
      if (std::string_view(name).find('/') != std::string_view::npos || name[0] == '.') return corrupt("bad file name");
      m.files.emplace_back(name, n);
    } else {
      return corrupt("bad line '" + line + "'");
    }
  }
  return m;
}

// Reads and checks the manifest of the snapshot in `dir` and the sizes of the files it lists.
Result<Manifest> ValidateCheckpoint(const std::string& dir, Env* env, uint64_t entries_max) {
  const std::string manifest_path = dir + "/" + std::string(kManifestFileName);
  ASSIGN_OR_RETURN(std::string text, env->ReadFile(manifest_path));
  ASSIGN_OR_RETURN(Manifest manifest, DecodeManifest(text, manifest_path));
  if (manifest.entries > entries_max) {
    return ResourceExhausted("state snapshot " + dir + " holds " + std::to_string(manifest.entries) +
                             " entries, more than entries_max " + std::to_string(entries_max));
  }
  const std::string src = dir + "/" + std::string(kRocksDbCheckpointSubdir);
  for (const auto& [name, size] : manifest.files) {
    std::error_code ec;
    const uint64_t actual = fs::file_size(src + "/" + name, ec);
    if (ec) return DataLoss("state snapshot file " + src + "/" + name + ": " + ec.message());
    if (actual != size) {
      return DataLoss("state snapshot file " + src + "/" + name + ": size " + std::to_string(actual) + " != manifest " +
                      std::to_string(size));
    }
  }
  return manifest;
}

// A snapshot RocksDB cannot open or verify is a corrupt snapshot.
Status AsDataLoss(Status s) {
  if (s.ok() || s.code() == StatusCode::kDataLoss || s.code() == StatusCode::kResourceExhausted) return s;
  return DataLoss(s.message());
}

}  // namespace

RocksDbStore::RocksDbStore(std::string dir, Env* env, size_t block_cache_bytes)
    : dir_(std::move(dir)),
      env_(env),
      block_cache_(rocksdb::NewLRUCache(block_cache_bytes)),
      batch_(std::make_unique<rocksdb::WriteBatch>()) {}

RocksDbStore::~RocksDbStore() {
  if (db_ != nullptr) (void)db_->Close();  // scratch content: nothing to save
  if (lock_fd_ >= 0) ::close(lock_fd_);    // releases the flock
}

Result<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(const StateOptions& state_options, Env* env) {
  const std::string& dir = state_options.rocksdb_dir;
  if (dir.empty()) return InvalidArgument("state: rocksdb_dir is empty");
  RETURN_IF_ERROR(env->CreateDirs(dir));
  std::unique_ptr<RocksDbStore> store(new RocksDbStore(dir, env, state_options.block_cache_bytes));
  const std::string lock_path = dir + "/LOCK";
  store->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (store->lock_fd_ < 0) return ErrnoStatus("open " + lock_path, errno);
  if (::flock(store->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return FailedPrecondition("state: rocksdb_dir " + dir + " is used by another open table");
    return ErrnoStatus("flock " + lock_path, errno);
  }
  // Discard earlier generations: without a WAL they are not a consistent state anyway.
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(dir));
  for (const std::string& name : names) {
    if (name.rfind("db-", 0) == 0) RETURN_IF_ERROR(RemoveAll(dir + "/" + name));
  }
  RETURN_IF_ERROR(store->OpenGeneration(0, /*fresh=*/true));
  return store;
}

Status RocksDbStore::OpenGeneration(uint64_t generation, bool fresh) {
  rocksdb::Options options;
  options.create_if_missing = fresh;
  options.error_if_exists = fresh;
  options.paranoid_checks = true;
  options.avoid_flush_during_shutdown = true;  // the working DB is scratch
  options.max_open_files = 512;                // bound file descriptors per table
  rocksdb::BlockBasedTableOptions table;
  // Most FindOrInsert misses are new keys: a Bloom filter answers them without reading blocks.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = block_cache_;  // shared by the generations of this table, bounded
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* db = nullptr;
  const std::string path = GenerationDir(dir_, generation);
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(options, path, &db), "open " + path));
  db_.reset(db);
  generation_ = generation;
  return Status::OK();
}

Result<bool> RocksDbStore::Get(std::string_view key, std::string* value) {
  rocksdb::PinnableSlice slice;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), ToSlice(key), &slice);
  if (s.IsNotFound()) return false;
  RETURN_IF_ERROR(FromRocks(s, "state get"));
  value->assign(slice.data(), slice.size());
  return true;
}

void RocksDbStore::BatchPut(std::string_view key, std::string_view value) {
  (void)batch_->Put(ToSlice(key), ToSlice(value));  // in-memory append; fails only past 4 GiB
}
void RocksDbStore::BatchDelete(std::string_view key) { (void)batch_->Delete(ToSlice(key)); }
size_t RocksDbStore::batch_count() const { return static_cast<size_t>(batch_->Count()); }

Status RocksDbStore::CommitBatch() {
  if (batch_->Count() == 0) return Status::OK();
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;  // see the class comment
  const rocksdb::Status s = db_->Write(wo, batch_.get());
  batch_->Clear();
  return FromRocks(s, "state write");
}

Status RocksDbStore::ForEach(const std::function<Status(std::string_view key, std::string_view value)>& fn) {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // a sweep should not push the hot blocks out
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    RETURN_IF_ERROR(fn(std::string_view(it->key().data(), it->key().size()),
                       std::string_view(it->value().data(), it->value().size())));
  }
  return FromRocks(it->status(), "state scan");
}

Result<uint64_t> RocksDbStore::Checkpoint(const std::string& dir, uint64_t entries) {
  IMPULSE_CHECK(batch_->Count() == 0);
  RETURN_IF_ERROR(env_->CreateDirs(dir));
  ASSIGN_OR_RETURN(std::vector<std::string> existing, env_->ListDir(dir));
  if (!existing.empty()) return AlreadyExists("state checkpoint directory is not empty: " + dir);
  // Without a WAL the memtable must reach an SST file to be part of the checkpoint.
  RETURN_IF_ERROR(FromRocks(db_->Flush(rocksdb::FlushOptions()), "state flush"));
  rocksdb::Checkpoint* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "state checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  const std::string db_dir = dir + "/" + std::string(kRocksDbCheckpointSubdir);
  RETURN_IF_ERROR(FromRocks(checkpoint->CreateCheckpoint(db_dir), "state checkpoint " + db_dir));
  ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(db_dir));
  std::sort(names.begin(), names.end());
  std::vector<std::pair<std::string, uint64_t>> files;
  uint64_t bytes = 0;
  for (const std::string& name : names) {
    std::error_code ec;
    const uint64_t size = fs::file_size(db_dir + "/" + name, ec);
    if (ec) return IOError("stat " + db_dir + "/" + name + ": " + ec.message());
    files.emplace_back(name, size);
    bytes += size;
  }
  const std::string manifest = EncodeManifest(entries, files);
  RETURN_IF_ERROR(env_->WriteFileAtomic(dir + "/" + std::string(kManifestFileName), manifest));
  return bytes + manifest.size();
}

Result<uint64_t> RocksDbStore::Restore(const std::string& dir, uint64_t entries_max) {
  ASSIGN_OR_RETURN(Manifest manifest, ValidateCheckpoint(dir, env_, entries_max));
  const std::string src = dir + "/" + std::string(kRocksDbCheckpointSubdir);
  // Build the next generation beside the current one.
  const uint64_t next = generation_ + 1;
  const std::string dst = GenerationDir(dir_, next);
  RETURN_IF_ERROR(RemoveAll(dst));
  RETURN_IF_ERROR(env_->CreateDirs(dst));
  auto fail = [&](Status s) {
    (void)RemoveAll(dst);  // best effort; the error to report is `s`
    return s;
  };
  for (const auto& entry : manifest.files) {
    const std::string& name = entry.first;
    const std::string from = src + "/" + name, to = dst + "/" + name;
    std::error_code ec;
    // SST files are immutable: link them (cheap); RocksDB only ever unlinks them. The rest
    // (CURRENT, MANIFEST, OPTIONS) is rewritten by RocksDB, so copy it.
    const bool sst = name.size() > 4 && name.compare(name.size() - 4, 4, ".sst") == 0;
    if (sst) fs::create_hard_link(from, to, ec);
    if (!sst || ec) {
      ec.clear();
      fs::copy_file(from, to, ec);
    }
    if (ec) return fail(IOError("copy " + from + " -> " + to + ": " + ec.message()));
  }
  std::unique_ptr<rocksdb::DB> old = std::move(db_);
  const uint64_t old_generation = generation_;
  Status s = OpenGeneration(next, /*fresh=*/false);
  if (s.ok()) s = FromRocks(db_->VerifyChecksum(), "state snapshot " + src);
  if (!s.ok()) {
    if (db_ != nullptr) (void)db_->Close();
    db_ = std::move(old);
    generation_ = old_generation;
    return fail(AsDataLoss(s));
  }
  RETURN_IF_ERROR(RetireGeneration(std::move(old), old_generation));
  return manifest.entries;
}

Result<uint64_t> RocksDbStore::RestoreFromSnapshotFile(const std::string& path, uint64_t entries_max) {
  IMPULSE_CHECK(batch_->Count() == 0);
  const uint64_t next = generation_ + 1;
  RETURN_IF_ERROR(RemoveAll(GenerationDir(dir_, next)));
  std::unique_ptr<rocksdb::DB> old = std::move(db_);
  const uint64_t old_generation = generation_;
  uint64_t entries = 0;
  Status s = OpenGeneration(next, /*fresh=*/true);
  if (s.ok()) {
    s = ReadSnapshotFile(env_, path, [&](std::string_view key, std::string_view value) -> Status {
      if (++entries > entries_max) {
        return ResourceExhausted("state snapshot " + path + " holds more than entries_max " +
                                 std::to_string(entries_max) + " entries");
      }
      BatchPut(key, value);
      if (batch_count() >= 1000) return CommitBatch();
      return Status::OK();
    });
  }
  if (s.ok()) s = CommitBatch();
  if (!s.ok()) {
    batch_->Clear();
    if (db_ != nullptr) (void)db_->Close();
    db_ = std::move(old);
    generation_ = old_generation;
    (void)RemoveAll(GenerationDir(dir_, next));  // best effort; `s` is the error to report
    return s;
  }
  RETURN_IF_ERROR(RetireGeneration(std::move(old), old_generation));
  return entries;
}

Status RocksDbStore::RetireGeneration(std::unique_ptr<rocksdb::DB> old, uint64_t old_generation) {
  (void)old->Close();  // scratch content: nothing to save
  old.reset();
  return RemoveAll(GenerationDir(dir_, old_generation));
}

Status RocksDbStore::ReadCheckpoint(const std::string& dir, Env* env, uint64_t entries_max,
                                    const std::function<Status(std::string_view key, std::string_view value)>& fn) {
  ASSIGN_OR_RETURN(Manifest manifest, ValidateCheckpoint(dir, env, entries_max));
  const std::string src = dir + "/" + std::string(kRocksDbCheckpointSubdir);
  rocksdb::Options options;
  options.paranoid_checks = true;
  options.max_open_files = 512;
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(AsDataLoss(FromRocks(rocksdb::DB::OpenForReadOnly(options, src, &raw), "open snapshot " + src)));
  std::unique_ptr<rocksdb::DB> db(raw);
  RETURN_IF_ERROR(AsDataLoss(FromRocks(db->VerifyChecksum(), "state snapshot " + src)));
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    RETURN_IF_ERROR(fn(std::string_view(it->key().data(), it->key().size()),
                       std::string_view(it->value().data(), it->value().size())));
  }
  return AsDataLoss(FromRocks(it->status(), "state snapshot " + src));
}

uint64_t RocksDbStore::ApproximateMemoryBytes() const {
  uint64_t memtables = 0, readers = 0;
  db_->GetIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &memtables);
  db_->GetIntProperty(rocksdb::DB::Properties::kEstimateTableReadersMem, &readers);
  return memtables + readers + block_cache_->GetUsage();
}

}  // namespace impulse::state
