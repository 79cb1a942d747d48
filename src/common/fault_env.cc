#include "common/fault_env.h"

#include <chrono>
#include <thread>

namespace impulse {

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectionEnv* env, std::string path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  Status Append(std::string_view data) override {
    RETURN_IF_ERROR(env_->TakeOp("write", path_));
    RETURN_IF_ERROR(env_->WriteAllowed(path_, data.size()));
    env_->bytes_appended_.fetch_add(data.size());
    return base_->Append(data);
  }
  Status Sync() override {
    RETURN_IF_ERROR(env_->TakeOp("fdatasync", path_));
    RETURN_IF_ERROR(env_->SyncAllowed(path_));
    if (const uint32_t ms = env_->sync_delay_ms_.load(); ms > 0 && !env_->Filtered(path_)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    RETURN_IF_ERROR(base_->Sync());
    env_->syncs_.fetch_add(1);
    return Status::OK();
  }
  Status Truncate(uint64_t size) override {
    RETURN_IF_ERROR(env_->TakeOp("ftruncate", path_));
    return base_->Truncate(size);
  }
  Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  FaultInjectionEnv* const env_;
  const std::string path_;
  const std::unique_ptr<WritableFile> base_;
};

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::OpenWritable(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, base_->OpenWritable(path));
  return std::unique_ptr<WritableFile>(std::make_unique<FaultWritableFile>(this, path, std::move(f)));
}

Status FaultInjectionEnv::SyncDir(const std::string& path) {
  RETURN_IF_ERROR(TakeOp("fsync dir", path));
  RETURN_IF_ERROR(SyncAllowed(path));
  RETURN_IF_ERROR(base_->SyncDir(path));
  syncs_.fetch_add(1);
  return Status::OK();
}

void FaultInjectionEnv::SetRandomFaults(uint64_t seed, double write_fail, double sync_fail) {
  std::lock_guard<std::mutex> lock(mu_);
  rng_.seed(seed);
  write_fail_ = write_fail;
  sync_fail_ = sync_fail;
  random_on_.store(write_fail > 0 || sync_fail > 0);
}

void FaultInjectionEnv::SetPathFilter(std::string substring) {
  std::lock_guard<std::mutex> lock(mu_);
  filter_ = std::move(substring);
  filter_on_.store(!filter_.empty());
}

bool FaultInjectionEnv::Filtered(const std::string& path) {
  if (!filter_on_.load()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return !filter_.empty() && path.find(filter_) == std::string::npos;
}

bool FaultInjectionEnv::Draw(bool sync) {
  if (!random_on_.load()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  const double p = sync ? sync_fail_ : write_fail_;
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < p;
}

Status FaultInjectionEnv::WriteAllowed(const std::string& path, uint64_t n) {
  if (Filtered(path)) return Status::OK();
  if (Draw(/*sync=*/false) || !TakeBudget(n)) {
    injected_writes_.fetch_add(1);
    return ResourceExhausted("write " + path + ": No space left on device (injected)");
  }
  return Status::OK();
}

bool FaultInjectionEnv::TakeBudget(uint64_t n) {
  int64_t cur = budget_bytes_.load();
  while (true) {
    if (cur < 0) return true;  // unlimited
    if (static_cast<uint64_t>(cur) < n) return false;
    if (budget_bytes_.compare_exchange_weak(cur, cur - static_cast<int64_t>(n))) return true;
  }
}

Status FaultInjectionEnv::SyncAllowed(const std::string& path) {
  if (Filtered(path)) return Status::OK();
  if (sync_fails_.load() || Draw(/*sync=*/true)) {
    injected_syncs_.fetch_add(1);
    return IOError("fdatasync " + path + ": Input/output error (injected)");
  }
  return Status::OK();
}

Status FaultInjectionEnv::TakeOp(const char* op, const std::string& path) {
  ops_.fetch_add(1);
  int64_t cur = op_budget_.load();
  while (true) {
    if (cur < 0) return Status::OK();  // unlimited
    if (cur == 0) return IOError(std::string(op) + " " + path + ": operation budget used up (injected crash point)");
    if (op_budget_.compare_exchange_weak(cur, cur - 1)) return Status::OK();
  }
}

}  // namespace impulse
