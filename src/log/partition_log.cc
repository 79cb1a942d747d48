#include "log/partition_log.h"

#include <algorithm>
#include <cstring>

#include "common/crc32c.h"
#include "log/log_format.h"
#include "log/segment.h"

namespace impulse::log {
namespace {

constexpr uint32_t kIndexCapacityMax = 1u << 20;  // 16 MiB of index per segment at most

Status ValidateOptions(const LogOptions& o) {
  if (o.segment_bytes_max < kSegmentHeaderBytes + kFrameHeaderBytes) {
    return InvalidArgument("segment_bytes_max must be at least " +
                           std::to_string(kSegmentHeaderBytes + kFrameHeaderBytes));
  }
  if (o.index_interval_bytes == 0) return InvalidArgument("index_interval_bytes must be > 0");
  if (o.max_record_bytes > kMaxPayloadBytesFormat) {
    return InvalidArgument("max_record_bytes must be at most " + std::to_string(kMaxPayloadBytesFormat));
  }
  return Status::OK();
}

}  // namespace

PartitionLog::PartitionLog(Env* env, Clock* clock, std::string dir, LogOptions options)
    : env_(env), clock_(clock), dir_(std::move(dir)), options_(options) {
  buf_capacity_ = std::max<size_t>(options_.write_buffer_bytes_max, kFrameHeaderBytes);
  buf_ = std::make_unique_for_overwrite<char[]>(buf_capacity_);
}

PartitionLog::~PartitionLog() { (void)Close(); }

Result<std::unique_ptr<PartitionLog>> PartitionLog::Open(Env* env, Clock* clock, std::string dir, LogOptions options) {
  if (env == nullptr || clock == nullptr) return InvalidArgument("PartitionLog::Open: null env or clock");
  if (dir.empty()) return InvalidArgument("PartitionLog::Open: empty dir");
  RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<PartitionLog> log(new PartitionLog(env, clock, std::move(dir), options));
  const Status s = log->Recover();
  if (!s.ok()) {
    log->closed_ = true;  // nothing to flush or sync on the way out
    log->writable_ = false;
    return s.WithContext("open log " + log->dir_);
  }
  return log;
}

std::string PartitionLog::SegmentPath(uint64_t base_offset) const { return dir_ + "/" + SegmentFileName(base_offset); }

uint32_t PartitionLog::IndexCapacity(uint64_t segment_bytes) const {
  const uint64_t bytes = std::max(segment_bytes, options_.segment_bytes_max);
  return static_cast<uint32_t>(std::min<uint64_t>(bytes / options_.index_interval_bytes + 2, kIndexCapacityMax));
}

Status PartitionLog::Recover() {
  RETURN_IF_ERROR(env_->CreateDirs(dir_));
  RETURN_IF_ERROR(FinishInterruptedTruncate());
  ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(dir_));
  std::vector<uint64_t> bases;
  for (const std::string& name : names) {
    if (auto base = ParseSegmentFileName(name)) bases.push_back(*base);
  }
  std::sort(bases.begin(), bases.end());
  if (bases.empty()) {
    RETURN_IF_ERROR(CreateActiveSegment(0));
    return Sync();
  }

  uint64_t expected_base = bases.front();
  uint64_t last_valid_bytes = 0;
  bool rewrite_header = false;
  for (size_t i = 0; i < bases.size(); ++i) {
    const uint64_t base = bases[i];
    const bool last = i + 1 == bases.size();
    const std::string path = SegmentPath(base);
    if (base != expected_base) {
      return DataLoss(path + ": base offset " + std::to_string(base) +
                      " does not follow the previous segment, which ends at offset " + std::to_string(expected_base));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file, env_->OpenRandomAccess(path));
    ASSIGN_OR_RETURN(uint64_t size, file->Size());
    auto seg = std::make_shared<Segment>(base, path, std::move(file), IndexCapacity(size));
    ASSIGN_OR_RETURN(ScanResult scan, ScanSegment(seg->file(), size, base, seg.get(), options_.index_interval_bytes));
    if (!scan.clean) {
      // Only the last segment can have been torn by a crash: sealed ones were synced before
      // the next segment was created. A bad header is torn only if it is short or all zero.
      const bool torn = last && (scan.header_ok || size < kSegmentHeaderBytes || scan.all_zero_tail);
      if (!torn) return DataLoss(path + ": " + scan.problem + " (byte " + std::to_string(scan.valid_bytes) + ")");
      recovered_truncated_bytes_ = size - scan.valid_bytes;
      if (!scan.header_ok) {
        rewrite_header = true;
        scan.valid_bytes = kSegmentHeaderBytes;
        recovered_truncated_bytes_ = size;
      }
    }
    seg->Publish(scan.valid_bytes, base + scan.records);
    expected_base = base + scan.records;
    last_valid_bytes = scan.valid_bytes;
    segments_.push_back(std::move(seg));
  }
  active_ = segments_.back().get();
  RETURN_IF_ERROR(OpenActiveAfterRecovery(active_->path(), last_valid_bytes, rewrite_header));
  next_offset_ = expected_base;
  start_offset_.store(segments_.front()->base_offset(), std::memory_order_release);
  end_offset_.store(next_offset_, std::memory_order_release);
  SwapSyncFile(active_file_.get());
  // What is in the file now may not have been synced by the previous process; sync it so
  // durable_offset is true from the start.
  RETURN_IF_ERROR(active_file_->Sync());
  durable_offset_.store(next_offset_, std::memory_order_release);
  return Status::OK();
}

Status PartitionLog::OpenActiveAfterRecovery(const std::string& path, uint64_t valid_bytes, bool rewrite_header) {
  ASSIGN_OR_RETURN(active_file_, env_->OpenWritable(path));
  if (rewrite_header) {
    RETURN_IF_ERROR(active_file_->Truncate(0));
    char header[kSegmentHeaderBytes];
    EncodeSegmentHeader(active_->base_offset(), header);
    RETURN_IF_ERROR(active_file_->Append(std::string_view(header, sizeof(header))));
  } else if (active_file_->Size() != valid_bytes) {
    RETURN_IF_ERROR(active_file_->Truncate(valid_bytes));
  }
  active_flushed_bytes_ = valid_bytes;
  return Status::OK();
}

Status PartitionLog::CreateActiveSegment(uint64_t base_offset) {
  const std::string path = SegmentPath(base_offset);
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> w, env_->OpenWritable(path));
  char header[kSegmentHeaderBytes];
  EncodeSegmentHeader(base_offset, header);
  Status s = w->Truncate(0);  // a leftover from an earlier failed attempt
  if (s.ok()) s = w->Append(std::string_view(header, sizeof(header)));
  Result<std::unique_ptr<RandomAccessFile>> r =
      s.ok() ? env_->OpenRandomAccess(path) : Result<std::unique_ptr<RandomAccessFile>>(s);
  if (!r.ok()) {
    (void)w->Close();
    (void)env_->DeleteFile(path);  // best effort: a header-only file is harmless anyway
    return r.status();
  }
  auto seg =
      std::make_shared<Segment>(base_offset, path, std::move(r).value(), IndexCapacity(options_.segment_bytes_max));
  seg->Publish(kSegmentHeaderBytes, base_offset);
  SwapSyncFile(w.get());
  if (active_file_ != nullptr) (void)active_file_->Close();  // already synced by Roll
  active_file_ = std::move(w);
  active_flushed_bytes_ = kSegmentHeaderBytes;
  active_ = seg.get();
  dir_sync_needed_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    segments_.push_back(std::move(seg));
  }
  return Status::OK();
}

Status PartitionLog::NotWritable() const {
  if (closed_) return FailedPrecondition("log " + dir_ + " is closed");
  return FailedPrecondition("log " + dir_ + " failed earlier and must be reopened: " + sticky_error_.ToString());
}

void PartitionLog::SetSticky(const Status& s) {
  sticky_error_ = s;
  writable_ = false;
}

void PartitionLog::GrowBuffer(size_t need) {
  auto bigger = std::make_unique_for_overwrite<char[]>(need);
  std::memcpy(bigger.get(), buf_.get(), buf_size_);
  buf_ = std::move(bigger);
  buf_capacity_ = need;
}

Result<uint64_t> PartitionLog::Append(std::string_view payload, int64_t timestamp_ms) {
  if (!writable_) return NotWritable();
  const size_t n = payload.size();
  if (n > options_.max_record_bytes) {
    return InvalidArgument("record of " + std::to_string(n) + " bytes exceeds max_record_bytes " +
                           std::to_string(options_.max_record_bytes));
  }
  const size_t frame = kFrameHeaderBytes + n;
  if (next_offset_ > active_->base_offset() &&
      active_flushed_bytes_ + unwritten_bytes_ + buf_size_ + frame > options_.segment_bytes_max) {
    RETURN_IF_ERROR(Roll());
  }
  if (buf_size_ > 0 && buf_size_ + frame > options_.write_buffer_bytes_max) RETURN_IF_ERROR(Flush());
  if (buf_size_ + frame > buf_capacity_) GrowBuffer(buf_size_ + frame);

  active_->MaybeStageIndex(next_offset_, active_flushed_bytes_ + unwritten_bytes_ + buf_size_,
                           options_.index_interval_bytes);
  active_->NoteTimestamp(timestamp_ms);
  char* p = buf_.get() + buf_size_;
  EncodeFixed32(p, static_cast<uint32_t>(n));
  EncodeFixed64(p + 8, static_cast<uint64_t>(timestamp_ms));
  if (n > 0) std::memcpy(p + kFrameHeaderBytes, payload.data(), n);
  EncodeFixed32(p + 4, Crc32c(p + 8, 8 + n));
  buf_size_ += frame;
  // Single writer: a plain load + store is enough and avoids a locked RMW per record.
  appends_.store(appends_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return next_offset_++;
}

Status PartitionLog::Flush() {
  if (async_failed_.load(std::memory_order_relaxed)) AdoptAsyncError();
  if (!writable_) return NotWritable();
  if (unwritten_bytes_ > 0) RETURN_IF_ERROR(WriteUnwritten());
  if (buf_size_ == 0) return Status::OK();
  RETURN_IF_ERROR(WriteFrames(std::string_view(buf_.get(), buf_size_)));  // the buffer stays for a retry
  // Kept before the records become visible, so a follower woken by them finds them here.
  if (tail_wanted_.load(std::memory_order_relaxed)) KeepTail(end_offset_.load(std::memory_order_relaxed));
  buf_size_ = 0;
  active_->Publish(active_flushed_bytes_, next_offset_);
  end_offset_.store(next_offset_, std::memory_order_release);
  if (buf_capacity_ > 2 * static_cast<size_t>(options_.write_buffer_bytes_max) + kFrameHeaderBytes) {
    // A huge record grew the buffer; give the memory back.
    buf_capacity_ = std::max<size_t>(options_.write_buffer_bytes_max, kFrameHeaderBytes);
    buf_ = std::make_unique_for_overwrite<char[]>(buf_capacity_);
  }
  return Status::OK();
}

Status PartitionLog::Publish() {
  if (async_failed_.load(std::memory_order_relaxed)) AdoptAsyncError();
  if (!writable_) return NotWritable();
  if (buf_size_ == 0) return Status::OK();
  // A log published from memory keeps the copy whether or not anyone reads it yet: a later
  // reader must find there what is not in the file.
  tail_wanted_.store(true, std::memory_order_relaxed);
  const uint64_t first = end_offset_.load(std::memory_order_relaxed);
  bool fits;
  {
    std::lock_guard<std::mutex> lock(tail_mu_);
    // Only if the copy takes these frames without starting again: every published frame not
    // in the file must stay in it.
    fits = !tail_marks_.empty() && tail_end_ == first && tail_.size() + buf_size_ <= kTailBytesMax;
  }
  if (!fits) return Flush();  // written now (Flush starts the copy again from these frames)
  KeepTail(first);
  unwritten_bytes_ += buf_size_;
  buf_size_ = 0;
  end_offset_.store(next_offset_, std::memory_order_release);
  return Status::OK();
}

Status PartitionLog::WriteFrames(std::string_view frames) {
  Status s = active_file_->Append(frames);
  if (!s.ok()) {
    // Nothing partial may stay in the file: a reader or a reopen would otherwise see it.
    const Status t = active_file_->Truncate(active_flushed_bytes_);
    if (!t.ok()) SetSticky(t.WithContext("truncate after failed write"));
    return s;
  }
  active_flushed_bytes_ += frames.size();
  bytes_written_.store(bytes_written_.load(std::memory_order_relaxed) + frames.size(), std::memory_order_relaxed);
  return Status::OK();
}

Status PartitionLog::WriteUnwritten() {
  // The writer is the copy's only mutator, so reading it here needs no lock.
  RETURN_IF_ERROR(WriteFrames(std::string_view(tail_.data() + tail_.size() - unwritten_bytes_, unwritten_bytes_)));
  unwritten_bytes_ = 0;
  // The file now holds every visible record (index entries of buffered records stay staged).
  active_->Publish(active_flushed_bytes_, end_offset_.load(std::memory_order_relaxed));
  return Status::OK();
}

void PartitionLog::KeepTail(uint64_t first) {
  std::lock_guard<std::mutex> lock(tail_mu_);
  if (tail_end_ != first || tail_.size() + buf_size_ > kTailBytesMax) {
    // Not contiguous with what is kept (a rollback, or the first flush), or over the bound:
    // start again from this flush. Followers read right behind the writer, so the older frames
    // are rarely wanted.
    tail_.clear();
    tail_marks_.clear();
    tail_offset_ = first;
    tail_end_ = first;
  }
  if (buf_size_ > kTailBytesMax) {
    tail_offset_ = tail_end_ = next_offset_;  // too large to keep: its readers pread
    return;
  }
  if (tail_.capacity() < kTailBytesMax) tail_.reserve(kTailBytesMax);  // once: never more
  // A mark every kTailMarkFrames frames, so a read walks at most that many to its offset.
  size_t pos = 0;
  for (uint64_t off = first; pos < buf_size_; ++off) {
    if ((off - first) % kTailMarkFrames == 0) tail_marks_.emplace_back(off, tail_.size() + pos);
    pos += kFrameHeaderBytes + DecodeFrameHeader(buf_.get() + pos).payload_bytes;
  }
  tail_.append(buf_.get(), buf_size_);
  tail_end_ = next_offset_;
}

void PartitionLog::DropTail() {
  std::lock_guard<std::mutex> lock(tail_mu_);
  tail_.clear();
  tail_marks_.clear();
  tail_offset_ = tail_end_ = 0;
}

Status PartitionLog::Roll() {
  RETURN_IF_ERROR(Flush());
  // Seal: the old segment must be durable before a newer one exists, so that recovery may
  // treat damage in any segment but the last as data loss rather than a torn write.
  RETURN_IF_ERROR(RunSync(active_file_.get(), next_offset_, dir_sync_needed_));
  dir_sync_needed_ = false;
  return CreateActiveSegment(next_offset_);
}

Status PartitionLog::EnforceRetention(int64_t now_ms) {
  if (closed_) return NotWritable();
  // segments_ is only modified by this (the writer) thread, so reading it unlocked is safe.
  uint64_t total = active_flushed_bytes_;
  for (size_t i = 0; i + 1 < segments_.size(); ++i) total += segments_[i]->visible_bytes();
  size_t victims = 0;
  for (size_t i = 0; i + 1 < segments_.size(); ++i) {
    const Segment& seg = *segments_[i];
    const uint64_t size = seg.visible_bytes();
    const bool by_size =
        options_.retention_bytes >= 0 && total - size >= static_cast<uint64_t>(options_.retention_bytes);
    const bool by_age = options_.retention_ms >= 0 && seg.max_timestamp_ms() != INT64_MIN &&
                        now_ms - seg.max_timestamp_ms() > options_.retention_ms;
    if (!by_size && !by_age) break;  // only a prefix may go: offsets stay contiguous
    total -= size;
    ++victims;
  }
  return DropOldestSegments(victims);
}

Status PartitionLog::DropOldestSegments(size_t count) {
  if (count == 0) return Status::OK();
  std::vector<std::shared_ptr<Segment>> doomed(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(count));
  {
    std::lock_guard<std::mutex> lock(mu_);
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(count));
    start_offset_.store(segments_.front()->base_offset(), std::memory_order_release);
  }
  segments_deleted_.fetch_add(count, std::memory_order_relaxed);
  // Oldest first, so that a crash in between leaves a log that only misses a prefix. Readers
  // holding a doomed segment keep reading it: unlinking keeps the open file alive.
  for (const auto& seg : doomed) {
    RETURN_IF_ERROR(env_->DeleteFile(seg->path()));
    dir_sync_needed_ = true;
  }
  return Status::OK();
}

Result<uint64_t> PartitionLog::DeleteRecordsBefore(uint64_t before) {
  if (async_failed_.load(std::memory_order_relaxed)) AdoptAsyncError();
  if (!writable_) return NotWritable();
  if (before >= next_offset_ && next_offset_ > active_->base_offset()) RETURN_IF_ERROR(Roll());
  // segments_ is only modified by this (the writer) thread, so reading it unlocked is safe.
  size_t victims = 0;
  while (victims + 1 < segments_.size() && segments_[victims + 1]->base_offset() <= before) ++victims;
  RETURN_IF_ERROR(DropOldestSegments(victims));
  // The unlinks are durable only once the directory is: else a power loss could bring the
  // deleted records back after they were reported gone.
  RETURN_IF_ERROR(Sync());
  return start_offset();
}

Status PartitionLog::Close() {
  if (closed_) return Status::OK();
  StopSyncer();
  AdoptAsyncError();
  Status s = writable_ ? Sync() : Status::OK();
  if (active_file_ != nullptr) {
    const Status c = active_file_->Close();
    if (s.ok()) s = c;
  }
  closed_ = true;
  writable_ = false;
  return s;
}

size_t PartitionLog::segment_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return segments_.size();
}

}  // namespace impulse::log
