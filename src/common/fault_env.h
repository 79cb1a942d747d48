// FaultInjectionEnv: an Env wrapping another Env that can simulate a full disk and failing
// fsyncs, for tests of the durable paths (log, checkpoints, outbox).
//
// - Write budget: after `bytes` more bytes have been appended (across all files opened through
//   this Env), an Append that does not fit fails with kResourceExhausted and writes nothing of
//   that call. -1 = unlimited (the default).
// - Sync failure switch: while on, WritableFile::Sync and SyncDir fail with kIOError (EIO-like)
//   and the data is not synced.
// - Operation budget (a simulated crash point): after `n` more file-system operations
//   (WritableFile Append/Sync/Truncate, CreateDirs, DeleteFile, DeleteDir, RenameFile, SyncDir)
//   every further one fails with kIOError and does nothing. Reopening the files through the
//   wrapped Env then shows the state a crash at that point would have left (short of lost
//   page-cache data). -1 = unlimited (the default).
// - Random faults (seeded): each Append fails with kResourceExhausted (writing nothing) with
//   probability `write_fail`, each Sync/SyncDir with kIOError with probability `sync_fail`.
// - Sync delay: each file Sync sleeps this long first (a slow disk).
// - Path filter: when set, the write budget, the sync failure switch, the random faults and the
//   sync delay apply only to paths containing the substring (one partition, the checkpoint
//   directory...).
// - Counters: successful syncs (file and directory) and bytes appended; injected faults.
// Knobs and counters are atomics: tests may flip them from any thread while a writer runs.
// The wrapped Env must outlive this one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "impulse/env.h"

namespace impulse {

class FaultInjectionEnv final : public Env {
 public:
  explicit FaultInjectionEnv(Env* base) : base_(base) {}

  // Bytes that may still be appended before Append fails; -1 = unlimited.
  void SetWriteBudget(int64_t bytes) { budget_bytes_.store(bytes); }
  int64_t write_budget() const { return budget_bytes_.load(); }
  void SetSyncFails(bool fail) { sync_fails_.store(fail); }
  void SetOpBudget(int64_t ops) { op_budget_.store(ops); }
  // Operations performed so far (counted whether or not a budget is set).
  uint64_t ops() const { return ops_.load(); }
  uint64_t syncs() const { return syncs_.load(); }
  uint64_t bytes_appended() const { return bytes_appended_.load(); }
  // Probabilities in [0, 1]; 0 and 0 turns random faults off (the default).
  void SetRandomFaults(uint64_t seed, double write_fail, double sync_fail);
  void SetPathFilter(std::string substring);
  // Each WritableFile::Sync of a path the filter admits sleeps this long first (a slow disk).
  void SetSyncDelayMs(uint32_t ms) { sync_delay_ms_.store(ms); }
  uint64_t injected_write_faults() const { return injected_writes_.load(); }
  uint64_t injected_sync_faults() const { return injected_syncs_.load(); }

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> OpenRandomAccess(const std::string& path) override {
    return base_->OpenRandomAccess(path);
  }
  Status CreateDirs(const std::string& path) override {
    RETURN_IF_ERROR(TakeOp("mkdir", path));
    return base_->CreateDirs(path);
  }
  Result<std::vector<std::string>> ListDir(const std::string& path) override { return base_->ListDir(path); }
  Status DeleteFile(const std::string& path) override {
    RETURN_IF_ERROR(TakeOp("unlink", path));
    return base_->DeleteFile(path);
  }
  Status DeleteDir(const std::string& path) override {
    RETURN_IF_ERROR(TakeOp("rmdir", path));
    return base_->DeleteDir(path);
  }
  Result<bool> IsDirectory(const std::string& path) override { return base_->IsDirectory(path); }
  Status RenameFile(const std::string& from, const std::string& to) override {
    RETURN_IF_ERROR(TakeOp("rename", from));
    return base_->RenameFile(from, to);
  }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Status SyncDir(const std::string& path) override;

 private:
  friend class FaultWritableFile;
  // Takes n bytes from the budget; false (and nothing taken) if they do not fit.
  bool TakeBudget(uint64_t n);
  Status WriteAllowed(const std::string& path, uint64_t n);
  Status SyncAllowed(const std::string& path);
  bool Filtered(const std::string& path);  // true: faults do not apply to `path`
  bool Draw(bool sync);                    // a random fault for this call
  // Counts one operation; kIOError (and nothing done) once the op budget is used up.
  Status TakeOp(const char* op, const std::string& path);

  Env* const base_;
  std::atomic<int64_t> budget_bytes_{-1};
  std::atomic<bool> sync_fails_{false};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> bytes_appended_{0};
  std::atomic<int64_t> op_budget_{-1};
  std::atomic<uint64_t> ops_{0};
  std::atomic<uint64_t> injected_writes_{0};
  std::atomic<uint64_t> injected_syncs_{0};
  std::atomic<bool> random_on_{false};
  std::atomic<bool> filter_on_{false};
  std::atomic<uint32_t> sync_delay_ms_{0};
  std::mutex mu_;  // guards the fields below
  std::mt19937_64 rng_;
  double write_fail_ = 0;
  double sync_fail_ = 0;
  std::string filter_;
};

}  // namespace impulse
