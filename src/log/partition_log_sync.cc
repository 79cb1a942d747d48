// PartitionLog durability: blocking Sync, background group commit (SyncAsync) and the
// syncer thread. All fdatasyncs of a log are serialized through sync_mu_/sync_in_flight_, so
// durable_offset only moves forward and a file is never closed while being synced.
#include "log/partition_log.h"
#include "log/segment.h"

namespace impulse::log {

Status PartitionLog::RunSync(WritableFile* file, uint64_t target, bool sync_dir) {
  {
    std::unique_lock<std::mutex> lock(sync_mu_);
    sync_cv_.wait(lock, [&] { return !sync_in_flight_; });
    sync_in_flight_ = true;
  }
  Status s = file->Sync();
  if (s.ok() && sync_dir) s = env_->SyncDir(dir_);
  std::function<void(uint64_t)> callback;
  {
    std::lock_guard<std::mutex> lock(sync_mu_);
    sync_in_flight_ = false;
    if (s.ok()) {
      if (target > durable_offset_.load(std::memory_order_relaxed)) {
        durable_offset_.store(target, std::memory_order_release);
      }
      syncs_.store(syncs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      callback = on_durable_;
    }
  }
  sync_cv_.notify_all();
  if (!s.ok()) {
    // After a failed fsync the kernel may have dropped the dirty pages and a retry can
    // report success without writing them; only a reopen (re-read from disk) is honest.
    SetSticky(s);
    sync_failed_ = true;
    return s;
  }
  if (callback) callback(target);
  return Status::OK();
}

Status PartitionLog::Sync() {
  RETURN_IF_ERROR(Flush());
  if (durable_offset_.load(std::memory_order_acquire) >= next_offset_ && !dir_sync_needed_) {
    return Status::OK();  // nothing new: no fsync, so an idle log costs nothing
  }
  RETURN_IF_ERROR(RunSync(active_file_.get(), next_offset_, dir_sync_needed_));
  dir_sync_needed_ = false;
  return Status::OK();
}

Status PartitionLog::SyncAsync() {
  RETURN_IF_ERROR(Flush());
  if (durable_offset_.load(std::memory_order_acquire) >= next_offset_ && !dir_sync_needed_) {
    return Status::OK();
  }
  {
    std::lock_guard<std::mutex> lock(sync_mu_);
    if (next_offset_ > sync_requested_) sync_requested_ = next_offset_;
    sync_dir_requested_ = sync_dir_requested_ || dir_sync_needed_;
    if (!syncer_.joinable()) syncer_ = std::thread([this] { SyncerLoop(); });
  }
  dir_sync_needed_ = false;
  sync_cv_.notify_all();
  return Status::OK();
}

void PartitionLog::SetDurableCallback(std::function<void(uint64_t durable_offset)> callback) {
  std::lock_guard<std::mutex> lock(sync_mu_);
  on_durable_ = std::move(callback);
}

void PartitionLog::SyncerLoop() {
  std::unique_lock<std::mutex> lock(sync_mu_);
  while (true) {
    sync_cv_.wait(lock, [&] {
      const bool pending = sync_requested_ > durable_offset_.load(std::memory_order_relaxed) || sync_dir_requested_;
      return syncer_stop_ || (pending && !sync_in_flight_ && !async_failed_.load(std::memory_order_relaxed));
    });
    if (syncer_stop_) return;  // Close() syncs whatever is left, on the writer thread
    const uint64_t target = sync_requested_;
    const bool sync_dir = sync_dir_requested_;
    WritableFile* file = sync_file_;
    sync_dir_requested_ = false;
    sync_in_flight_ = true;
    lock.unlock();
    Status s = file->Sync();
    if (s.ok() && sync_dir) s = env_->SyncDir(dir_);
    lock.lock();
    sync_in_flight_ = false;
    std::function<void(uint64_t)> callback;
    if (s.ok()) {
      if (target > durable_offset_.load(std::memory_order_relaxed)) {
        durable_offset_.store(target, std::memory_order_release);
      }
      syncs_.store(syncs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      callback = on_durable_;
    } else {
      async_error_ = s;
      async_failed_.store(true, std::memory_order_release);
    }
    sync_cv_.notify_all();
    if (callback) {
      lock.unlock();
      callback(target);
      lock.lock();
    }
  }
}

void PartitionLog::StopSyncer() {
  {
    std::lock_guard<std::mutex> lock(sync_mu_);
    syncer_stop_ = true;
  }
  sync_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
}

bool PartitionLog::AdoptAsyncError() {
  if (!async_failed_.load(std::memory_order_acquire)) return false;
  std::lock_guard<std::mutex> lock(sync_mu_);
  if (writable_) SetSticky(async_error_.WithContext("background sync"));
  sync_failed_ = true;
  return true;
}

void PartitionLog::SwapSyncFile(WritableFile* file) {
  std::unique_lock<std::mutex> lock(sync_mu_);
  sync_cv_.wait(lock, [&] { return !sync_in_flight_; });
  sync_file_ = file;
}

}  // namespace impulse::log
