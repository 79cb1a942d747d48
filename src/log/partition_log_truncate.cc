// PartitionLog::TruncateTo and the completion of an interrupted truncation at open.
//
// Crash safety: the target end offset is first written to a TRUNCATE intent file (atomically:
// temp file, fsync, rename, directory fsync). Then later segments are deleted newest first and
// the segment holding the target is cut and fsynced; the intent is deleted last. A crash at
// any point leaves either no intent (nothing changed yet: the old end) or an intent that Open
// completes before it scans the segments (the new end).
#include <algorithm>
#include <cstring>
#include <vector>

#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/segment.h"

namespace impulse::log {
namespace {

constexpr const char* kTruncateIntentName = "TRUNCATE";
constexpr size_t kWalkChunkBytes = 1 << 20;
constexpr size_t kIntentBytesMax = 64;

struct FramePos {
  uint64_t offset;    // offset of the record at `position` (or the end reached)
  uint64_t position;  // byte position of that record's frame
};

// Walks frame headers from the first record of a segment until the record `target` (or the
// end of the well-formed frames). Does not verify CRCs: the caller scans the kept part.
Result<FramePos> WalkTo(const RandomAccessFile& file, uint64_t size, uint64_t base, uint64_t target) {
  FramePos at{base, kSegmentHeaderBytes};
  std::vector<char> buf(kWalkChunkBytes);
  uint64_t buf_pos = 0;
  size_t buf_len = 0;
  while (at.offset < target && at.position + kFrameHeaderBytes <= size) {
    if (at.position < buf_pos || at.position + kFrameHeaderBytes > buf_pos + buf_len) {
      ASSIGN_OR_RETURN(buf_len, file.Read(at.position, buf.size(), buf.data()));
      buf_pos = at.position;
      if (buf_len < kFrameHeaderBytes) break;
    }
    const FrameHeader h = DecodeFrameHeader(buf.data() + (at.position - buf_pos));
    const uint64_t next = at.position + kFrameHeaderBytes + h.payload_bytes;
    if (h.payload_bytes > kMaxPayloadBytesFormat || next > size) break;
    at.position = next;
    ++at.offset;
  }
  return at;
}

struct CutResult {
  uint64_t keep_base = 0;   // base offset of the segment now last (active)
  uint64_t keep_bytes = 0;  // its size after the cut
};

// Cuts the partition in `dir` so that no record at offset >= end remains: deletes every
// segment after the one holding `end` (newest first), truncates that one at the record's
// frame and fsyncs it and the directory. Idempotent, so a crash during it is finished by
// running it again.
Result<CutResult> CutPartition(Env* env, const std::string& dir, uint64_t end) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(dir));
  std::vector<uint64_t> bases;
  for (const std::string& name : names) {
    if (auto base = ParseSegmentFileName(name)) bases.push_back(*base);
  }
  std::sort(bases.begin(), bases.end());
  if (bases.empty() || bases.front() > end) {
    return DataLoss(dir + ": truncation to offset " + std::to_string(end) + " is before the first segment");
  }
  // The segment holding `end` is the last one based at or before it (a segment based exactly
  // at `end` is kept, empty, so earlier segments stay sealed).
  const size_t keep = static_cast<size_t>(std::upper_bound(bases.begin(), bases.end(), end) - bases.begin()) - 1;
  CutResult cut;
  cut.keep_base = bases[keep];
  const std::string keep_path = dir + "/" + SegmentFileName(cut.keep_base);
  {
    ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file, env->OpenRandomAccess(keep_path));
    ASSIGN_OR_RETURN(uint64_t size, file->Size());
    ASSIGN_OR_RETURN(FramePos at, WalkTo(*file, size, cut.keep_base, end));
    cut.keep_bytes = std::min(at.position, size);
  }
  for (size_t i = bases.size(); i-- > keep + 1;) {
    RETURN_IF_ERROR(env->DeleteFile(dir + "/" + SegmentFileName(bases[i])));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> w, env->OpenWritable(keep_path));
  Status s = w->Size() != cut.keep_bytes ? w->Truncate(cut.keep_bytes) : Status::OK();
  if (s.ok()) s = w->Sync();
  const Status c = w->Close();
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(c);
  RETURN_IF_ERROR(env->SyncDir(dir));
  return cut;
}

}  // namespace

std::string PartitionLog::TruncateIntentPath() const { return dir_ + "/" + kTruncateIntentName; }

Status PartitionLog::FinishInterruptedTruncate() {
  const std::string intent = TruncateIntentPath();
  // A temp file means the intent never became durable: the truncation had not started.
  if (env_->FileExists(intent + ".tmp")) RETURN_IF_ERROR(env_->DeleteFile(intent + ".tmp"));
  if (!env_->FileExists(intent)) return Status::OK();
  ASSIGN_OR_RETURN(std::string text, env_->ReadFile(intent));
  uint64_t end = 0;
  bool digits = !text.empty() && text.size() <= kIntentBytesMax && text.back() == '\n' && text.size() <= 21;
  for (size_t i = 0; digits && i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9')
      digits = false;
    else
      end = end * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (!digits || text.size() < 2) return DataLoss(intent + ": not a truncation intent (expected a decimal offset)");
  RETURN_IF_ERROR(CutPartition(env_, dir_, end).status().WithContext("finish interrupted truncation"));
  RETURN_IF_ERROR(env_->DeleteFile(intent));
  return env_->SyncDir(dir_);
}

Status PartitionLog::TruncateTo(uint64_t end_offset) {
  if (async_failed_.load(std::memory_order_relaxed)) AdoptAsyncError();
  if (!writable_) return NotWritable();
  RETURN_IF_ERROR(Flush());
  const uint64_t start = start_offset();
  if (end_offset < start || end_offset > next_offset_) {
    return InvalidArgument("truncate log " + dir_ + " to offset " + std::to_string(end_offset) + ": outside [" +
                           std::to_string(start) + ", " + std::to_string(next_offset_) + "]");
  }
  if (end_offset == next_offset_) return Status::OK();
  DropTail();
  // Everything that stays must be durable before the intent exists: recovery relies on the
  // records before the target being on disk.
  RETURN_IF_ERROR(Sync());
  {
    // Hold the background syncer off the files while they change (as RunSync does).
    std::unique_lock<std::mutex> lock(sync_mu_);
    sync_cv_.wait(lock, [&] { return !sync_in_flight_; });
    sync_in_flight_ = true;
  }
  Status s = TruncateSegments(end_offset);
  {
    std::lock_guard<std::mutex> lock(sync_mu_);
    sync_in_flight_ = false;
    sync_file_ = active_file_.get();
    sync_requested_ = std::min(sync_requested_, end_offset);
    sync_dir_requested_ = false;
    if (s.ok()) durable_offset_.store(end_offset, std::memory_order_release);
  }
  sync_cv_.notify_all();
  if (!s.ok()) {
    // The files may be half cut; the intent (if written) makes a reopen finish the job.
    SetSticky(s.WithContext("truncate"));
    return s;
  }
  return Status::OK();
}

Status PartitionLog::TruncateSegments(uint64_t end_offset) {
  RETURN_IF_ERROR(env_->WriteFileAtomic(TruncateIntentPath(), std::to_string(end_offset) + "\n"));
  // The active segment may be deleted or cut through another handle: close it first (it was
  // synced by the caller).
  Status closed = active_file_->Close();
  active_file_.reset();
  RETURN_IF_ERROR(closed);
  RETURN_IF_ERROR(CutAndReload(end_offset));
  // The intent must be gone durably before anything is appended: a leftover one would cut
  // the new records at the next open.
  RETURN_IF_ERROR(env_->DeleteFile(TruncateIntentPath()));
  return env_->SyncDir(dir_);
}

Status PartitionLog::Rollback(uint64_t end_offset) {
  if (closed_) return NotWritable();
  if (end_offset < start_offset() || end_offset > next_offset_) {
    return InvalidArgument("roll back log " + dir_ + " to offset " + std::to_string(end_offset) + ": outside [" +
                           std::to_string(start_offset()) + ", " + std::to_string(next_offset_) + "]");
  }
  if (end_offset == next_offset_ && buf_size_ == 0 && writable()) return Status::OK();  // nothing to drop
  if (env_->FileExists(TruncateIntentPath())) {
    return FailedPrecondition("roll back log " + dir_ + ": an interrupted truncation must be finished by a reopen");
  }
  {
    // Hold the background syncer off the files while they change (as RunSync does).
    std::unique_lock<std::mutex> lock(sync_mu_);
    sync_cv_.wait(lock, [&] { return !sync_in_flight_; });
    sync_in_flight_ = true;
  }
  if (async_failed_.load(std::memory_order_acquire)) sync_failed_ = true;
  Status s;
  if (sync_failed_ && end_offset > durable_offset_.load(std::memory_order_acquire)) {
    s = FailedPrecondition("roll back log " + dir_ + " to offset " + std::to_string(end_offset) +
                           ": records from offset " + std::to_string(durable_offset()) +
                           " were covered by a failed fsync; reopen the log");
  }
  // Records published from the tail copy but not yet written (Publish). When the target is past
  // the file's end, the file keeps all it has and the rollback happens in memory only: the copy
  // and the buffer are cut at the target, nothing is written (so it works on a full disk too).
  // (A target inside the unpublished buffer is not supported, published or not: it goes the
  // file's way below and fails.)
  const uint64_t file_end = active_->end_offset();
  if (s.ok() && unwritten_bytes_ > 0 && end_offset > file_end &&
      end_offset <= end_offset_.load(std::memory_order_relaxed)) {
    if (!writable_) {
      s = FailedPrecondition("roll back log " + dir_ + " to offset " + std::to_string(end_offset) +
                             ": records from offset " + std::to_string(file_end) +
                             " are only in memory and the log failed (" + sticky_error_.ToString() +
                             "); reopen the log");
      // Readers stop at the target; the records below it stay readable from the copy.
      end_offset_.store(end_offset, std::memory_order_release);
      std::lock_guard<std::mutex> lock(sync_mu_);
      sync_in_flight_ = false;
    } else {
      RollbackInMemory(end_offset);
      std::lock_guard<std::mutex> lock(sync_mu_);
      sync_in_flight_ = false;
      sync_requested_ = std::min(sync_requested_, end_offset);
    }
    sync_cv_.notify_all();
    return s;
  }
  // What only the copy held is gone with it (all of it past the target, unless the rollback was
  // refused). Readers must not look for dropped records, in the copy or the file, from now on.
  const uint64_t readable_end = unwritten_bytes_ > 0 ? file_end : UINT64_MAX;
  const uint64_t visible_end = std::min(end_offset, readable_end);
  if (end_offset_.load(std::memory_order_relaxed) > visible_end) {
    end_offset_.store(visible_end, std::memory_order_release);
  }
  unwritten_bytes_ = 0;
  buf_size_ = 0;  // the dropped records must never reach the file
  DropTail();
  if (s.ok() && active_file_ != nullptr) {
    s = active_file_->Close();
    active_file_.reset();
  }
  if (s.ok()) s = CutAndReload(end_offset);
  {
    std::lock_guard<std::mutex> lock(sync_mu_);
    sync_in_flight_ = false;
    sync_file_ = active_file_.get();
    sync_requested_ = std::min(sync_requested_, end_offset);
    sync_dir_requested_ = false;
    if (s.ok()) {
      // The cut fsynced the kept segment and the directory.
      durable_offset_.store(end_offset, std::memory_order_release);
      async_error_ = Status::OK();
      async_failed_.store(false, std::memory_order_release);
    } else if (durable_offset_.load(std::memory_order_relaxed) > end_offset) {
      durable_offset_.store(end_offset, std::memory_order_release);
    }
  }
  sync_cv_.notify_all();
  if (!s.ok()) {
    // Readers must not see the records being dropped while the cut waits for a retry.
    const uint64_t end = std::min(end_offset, readable_end);
    if (end_offset_.load(std::memory_order_relaxed) > end) end_offset_.store(end, std::memory_order_release);
    SetSticky(s.WithContext("roll back"));
    return s;
  }
  writable_ = true;
  sticky_error_ = Status::OK();
  sync_failed_ = false;
  return Status::OK();
}

void PartitionLog::RollbackInMemory(uint64_t end_offset) {
  {
    std::lock_guard<std::mutex> lock(tail_mu_);
    // The unwritten frames are the copy's last ones and [file_end, end_offset) is among them.
    auto mark = std::upper_bound(tail_marks_.begin(), tail_marks_.end(), end_offset,
                                 [](uint64_t o, const std::pair<uint64_t, size_t>& m) { return o < m.first; });
    --mark;  // tail_offset_ <= file_end < end_offset
    uint64_t off = mark->first;
    size_t pos = mark->second;
    while (off < end_offset) {
      pos += kFrameHeaderBytes + DecodeFrameHeader(tail_.data() + pos).payload_bytes;
      ++off;
    }
    unwritten_bytes_ -= tail_.size() - pos;
    tail_.resize(pos);
    tail_marks_.erase(mark + (mark->first < end_offset ? 1 : 0), tail_marks_.end());
    tail_end_ = end_offset;
    end_offset_.store(end_offset, std::memory_order_release);
  }
  buf_size_ = 0;
  next_offset_ = end_offset;
  // Index entries staged for the dropped records must never be published; the kept ones are
  // only missing from a sparse index (a read scans from an earlier entry).
  active_->DropStagedIndex(active_flushed_bytes_ + unwritten_bytes_);
}

Status PartitionLog::CutAndReload(uint64_t end_offset) {
  ASSIGN_OR_RETURN(CutResult cut, CutPartition(env_, dir_, end_offset));

  size_t keep = segments_.size();
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (segments_[i]->base_offset() == cut.keep_base) keep = i;
  }
  if (keep == segments_.size()) return Internal("truncate: kept segment " + std::to_string(cut.keep_base) + " unknown");
  const std::string path = segments_[keep]->path();
  ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file, env_->OpenRandomAccess(path));
  auto seg = std::make_shared<Segment>(cut.keep_base, path, std::move(file), IndexCapacity(cut.keep_bytes));
  ASSIGN_OR_RETURN(ScanResult scan,
                   ScanSegment(seg->file(), cut.keep_bytes, cut.keep_base, seg.get(), options_.index_interval_bytes));
  if (!scan.clean || cut.keep_base + scan.records != end_offset) {
    return DataLoss(path + ": after truncation to offset " + std::to_string(end_offset) + " the segment holds " +
                    std::to_string(scan.records) + " records" + (scan.clean ? "" : ": " + scan.problem));
  }
  seg->Publish(cut.keep_bytes, end_offset);
  ASSIGN_OR_RETURN(active_file_, env_->OpenWritable(path));
  {
    std::lock_guard<std::mutex> lock(mu_);
    segments_.resize(keep + 1);
    segments_[keep] = seg;
  }
  active_ = seg.get();
  active_flushed_bytes_ = cut.keep_bytes;
  next_offset_ = end_offset;
  end_offset_.store(end_offset, std::memory_order_release);
  dir_sync_needed_ = false;
  return Status::OK();
}

}  // namespace impulse::log
