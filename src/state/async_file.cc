#include "state/async_file.h"

namespace impulse::state {

AsyncFile::~AsyncFile() {
  if (file_ != nullptr && !done_) {
    (void)file_->Close();  // abandoned: best effort cleanup; the checkpoint directory is discarded anyway
    (void)env_->DeleteFile(path_ + ".tmp");
  }
}

std::shared_ptr<AsyncFile> AsyncFile::Whole(std::string path, std::string data) {
  auto f = std::make_shared<AsyncFile>(std::move(path));
  f->Push(std::move(data));
  f->Close();
  return f;
}

void AsyncFile::Push(std::string bytes) {
  if (bytes.empty()) return;
  queued_bytes_.fetch_add(bytes.size(), std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  chunks_.push_back(std::move(bytes));
}

void AsyncFile::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
}

void AsyncFile::Fail(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.ok()) error_ = std::move(status);
  closed_ = true;
}

void AsyncFile::Cancel() { cancelled_.store(true, std::memory_order_release); }

Result<bool> AsyncFile::WriteQueued(Env* env) {
  if (done_) return true;
  env_ = env;
  for (;;) {
    std::string chunk;
    bool closed = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_.ok()) return error_;
      closed = closed_;
      if (!chunks_.empty()) {
        chunk = std::move(chunks_.front());
        chunks_.pop_front();
      }
    }
    if (file_ == nullptr) {
      const size_t slash = path_.rfind('/');
      if (slash != std::string::npos) RETURN_IF_ERROR(env->CreateDirs(path_.substr(0, slash)));
      ASSIGN_OR_RETURN(file_, env->OpenWritable(path_ + ".tmp"));
      RETURN_IF_ERROR(file_->Truncate(0));  // a leftover temp file
    }
    if (chunk.empty()) {
      if (!closed) return false;  // the producer has more to come
      RETURN_IF_ERROR(file_->Sync());
      RETURN_IF_ERROR(file_->Close());
      RETURN_IF_ERROR(env->RenameFile(path_ + ".tmp", path_));
      done_ = true;
      const size_t slash = path_.rfind('/');
      if (slash != std::string::npos) RETURN_IF_ERROR(env->SyncDir(path_.substr(0, slash)));
      return true;
    }
    queued_bytes_.fetch_sub(chunk.size(), std::memory_order_relaxed);
    RETURN_IF_ERROR(file_->Append(chunk));
    bytes_written_ += chunk.size();
  }
}

}  // namespace impulse::state
