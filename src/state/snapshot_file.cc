#include "state/snapshot_file.h"

#include <cstring>

#include "common/crc32c.h"
#include "common/fixed_codec.h"

namespace impulse::state {
namespace {

constexpr std::string_view kMagic = "IMPSNAP1";
constexpr size_t kTrailerBytes = 8 + 4;
constexpr size_t kBufferBytes = 1 << 20;

}  // namespace

SnapshotWriter::SnapshotWriter(Env* env, std::string path, std::unique_ptr<WritableFile> file)
    : env_(env), path_(std::move(path)), file_(std::move(file)) {
  buffer_.reserve(kBufferBytes + 64);
}

SnapshotWriter::~SnapshotWriter() {
  if (!finished_ && file_ != nullptr) {
    (void)file_->Close();  // abandoned: best effort cleanup, the caller already has the error
    (void)env_->DeleteFile(path_ + ".tmp");
  }
}

Result<std::unique_ptr<SnapshotWriter>> SnapshotWriter::Create(Env* env, const std::string& path) {
  const std::string tmp = path + ".tmp";
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env->OpenWritable(tmp));
  RETURN_IF_ERROR(file->Truncate(0));  // a leftover temp file from a crash
  std::unique_ptr<SnapshotWriter> w(new SnapshotWriter(env, path, std::move(file)));
  w->buffer_.append(kMagic);
  return w;
}

Status SnapshotWriter::Add(std::string_view key, std::string_view value) {
  if (key.size() > UINT32_MAX || value.size() > UINT32_MAX) {
    return ResourceExhausted("snapshot record larger than 4 GiB in " + path_);
  }
  PutFixed32(static_cast<uint32_t>(key.size()), &buffer_);
  PutFixed32(static_cast<uint32_t>(value.size()), &buffer_);
  buffer_.append(key);
  buffer_.append(value);
  ++records_;
  if (buffer_.size() >= kBufferBytes) return FlushBuffer();
  return Status::OK();
}

Status SnapshotWriter::FlushBuffer() {
  crc_ = Crc32c(buffer_.data(), buffer_.size(), crc_);
  RETURN_IF_ERROR(file_->Append(buffer_));
  bytes_ += buffer_.size();
  buffer_.clear();
  return Status::OK();
}

Result<uint64_t> SnapshotWriter::Finish() {
  PutFixed64(records_, &buffer_);
  crc_ = Crc32c(buffer_.data(), buffer_.size(), crc_);
  PutFixed32(crc_, &buffer_);
  RETURN_IF_ERROR(file_->Append(buffer_));
  bytes_ += buffer_.size();
  buffer_.clear();
  RETURN_IF_ERROR(file_->Sync());
  RETURN_IF_ERROR(file_->Close());
  RETURN_IF_ERROR(env_->RenameFile(path_ + ".tmp", path_));
  finished_ = true;
  const size_t slash = path_.rfind('/');
  if (slash != std::string::npos) RETURN_IF_ERROR(env_->SyncDir(path_.substr(0, slash)));
  return bytes_;
}

SnapshotEncoder::SnapshotEncoder(std::shared_ptr<AsyncFile> file) : file_(std::move(file)) {
  buffer_.reserve(kBufferBytes + 64);
  buffer_.append(kMagic);
}

Status SnapshotEncoder::Add(std::string_view key, std::string_view value) {
  if (key.size() > UINT32_MAX || value.size() > UINT32_MAX) {
    return ResourceExhausted("snapshot record larger than 4 GiB in " + file_->path());
  }
  PutFixed32(static_cast<uint32_t>(key.size()), &buffer_);
  PutFixed32(static_cast<uint32_t>(value.size()), &buffer_);
  buffer_.append(key);
  buffer_.append(value);
  ++records_;
  if (buffer_.size() >= kBufferBytes) Hand();
  return Status::OK();
}

void SnapshotEncoder::Hand() {
  crc_ = Crc32c(buffer_.data(), buffer_.size(), crc_);
  std::string full;
  full.reserve(kBufferBytes + 64);
  full.swap(buffer_);
  file_->Push(std::move(full));
}

void SnapshotEncoder::Finish() {
  PutFixed64(records_, &buffer_);
  crc_ = Crc32c(buffer_.data(), buffer_.size(), crc_);
  PutFixed32(crc_, &buffer_);
  file_->Push(std::move(buffer_));
  buffer_.clear();
  file_->Close();
}

Status ReadSnapshotFile(Env* env, const std::string& path,
                        const std::function<Status(std::string_view key, std::string_view value)>& fn) {
  ASSIGN_OR_RETURN(std::string data, env->ReadFile(path));
  auto corrupt = [&path](const std::string& why) { return DataLoss("state snapshot " + path + ": " + why); };
  if (data.size() < kMagic.size() + kTrailerBytes)
    return corrupt("truncated (" + std::to_string(data.size()) + " bytes)");
  if (std::string_view(data).substr(0, kMagic.size()) != kMagic) return corrupt("bad magic");
  const size_t body_end = data.size() - kTrailerBytes;
  const uint64_t records = DecodeFixed64(data.data() + body_end);
  const uint32_t stored_crc = DecodeFixed32(data.data() + body_end + 8);
  if (Crc32c(data.data(), body_end + 8) != stored_crc) return corrupt("checksum mismatch");
  size_t pos = kMagic.size();
  uint64_t seen = 0;
  while (pos < body_end) {
    if (body_end - pos < 8) return corrupt("torn record header at byte " + std::to_string(pos));
    const uint64_t key_len = DecodeFixed32(data.data() + pos);
    const uint64_t value_len = DecodeFixed32(data.data() + pos + 4);
    pos += 8;
    if (key_len + value_len > body_end - pos) return corrupt("record overruns the file at byte " + std::to_string(pos));
    const std::string_view key(data.data() + pos, key_len);
    const std::string_view value(data.data() + pos + key_len, value_len);
    pos += key_len + value_len;
    ++seen;
    RETURN_IF_ERROR(fn(key, value));
  }
  if (seen != records) {
    return corrupt("record count " + std::to_string(seen) + " != trailer " + std::to_string(records));
  }
  return Status::OK();
}

}  // namespace impulse::state
