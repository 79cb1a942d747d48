// The embedded durable event log: one partition of one stream, stored as a directory of
// segment files (format: docs/LOG_FORMAT.md).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "impulse/env.h"
#include "impulse/status.h"

namespace impulse::log {

class Segment;

struct LogOptions {
  // A segment is sealed and a new one started when an append would take the active segment
  // past this size (a single record larger than it gets a segment of its own).
  uint64_t segment_bytes_max = 64ull << 20;
  // One sparse index entry per this many bytes of records; Read scans at most about this
  // much before reaching the requested offset.
  uint32_t index_interval_bytes = 4096;
  // Retention: sealed segments are deleted, oldest first, while the log without them is
  // still at least this large. -1 = keep regardless of size.
  int64_t retention_bytes = -1;
  // Retention: sealed segments whose newest record timestamp is older than now - this are
  // deleted (oldest first). -1 = keep regardless of age.
  int64_t retention_ms = -1;
  // Append rejects larger payloads with kInvalidArgument. At most 1 GiB (format limit).
  uint32_t max_record_bytes = 16u << 20;
  // Appended records are buffered in memory up to this size; an Append that would overflow
  // the buffer flushes it first (making the earlier records visible early).
  uint32_t write_buffer_bytes_max = 1u << 20;
};

// One record returned by Read. `payload` points into the caller's storage string.
struct Record {
  uint64_t offset;
  int64_t timestamp_ms;
  std::string_view payload;
};

// PartitionLog: an append-only, checksummed sequence of records with dense offsets.
//
// Threads: exactly one writer thread calls Append/Flush/Sync/EnforceRetention (and owns the
// object's lifetime); any number of reader threads may concurrently call Read, the offset
// getters and the counters. The append path takes no lock; a mutex guards only the segment
// list (held by readers for a lookup, by the writer when rolling or deleting segments).
//
// Visibility: Append buffers in memory; Flush writes the buffer to the file and makes the
// records visible to readers (end_offset); Sync makes them durable (durable_offset).
//
// Failures: a failed write (e.g. disk full, kResourceExhausted) truncates the file back to
// the last visible record and keeps the buffered records, so a later Flush retries them and
// offsets already returned by Append stay valid. A failed fsync is sticky: the kernel may
// have dropped the dirty pages, so every later write call fails (kFailedPrecondition) until
// the log is reopened, which re-reads what really is on disk. A writer that must not let the
// failed records be written later (they were refused to their client) calls Rollback, which
// drops them and makes the log writable again.
//
// Reads that follow the writer: once a Read has gone to the active segment's file (any reader,
// for the log's lifetime), Flush also keeps a copy of the frames it wrote (up to kTailBytesMax),
// and a Read of those offsets is served from memory. A pipeline reading what its shard wrote in the same cycle then
// costs no pread (one per batch and hop otherwise, which is most of a 1-event request's log cost).
//
// Bounds: memory = write buffer (<= max(write_buffer_bytes_max, one frame)) + the tail copy
// (<= kTailBytesMax, only for a followed log or one its writer Publishes) + per segment an index of segment_bytes_max /
// index_interval_bytes entries (16 bytes each) + one open file per segment.
class PartitionLog {
 public:
  // The most bytes of recently flushed frames kept for readers that follow the writer. A
  // flush larger than this is not kept (its readers pread, as without the copy).
  static constexpr size_t kTailBytesMax = 256 << 10;
  static constexpr uint64_t kTailMarkFrames = 64;  // a tail read walks at most this many frames
  // Opens (or creates) the partition in `dir`. Recovery: every segment is scanned (CRC of
  // every record, index rebuilt); a torn tail of the last segment is truncated (see
  // recovered_truncated_bytes); any damage in a sealed segment returns kDataLoss naming the
  // file and byte offset (RepairPartition fixes it by dropping the damaged suffix).
  // `env` and `clock` must outlive the log.
  static Result<std::unique_ptr<PartitionLog>> Open(Env* env, Clock* clock, std::string dir, LogOptions options);
  // The largest payload Append takes.
  uint32_t max_record_bytes() const { return options_.max_record_bytes; }
  ~PartitionLog();
  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;

  // --- writer thread ---
  // Buffers one record; returns its offset. kInvalidArgument if the payload is larger than
  // max_record_bytes. May flush (buffer full) or roll the segment, and return their errors;
  // then the record was not appended.
  Result<uint64_t> Append(std::string_view payload, int64_t timestamp_ms);
  // Writes buffered records to the file; readers can see them afterwards.
  Status Flush();
  // Makes the buffered records visible to readers without writing them, when the tail copy
  // (below; a log published this way always keeps one) has room for them; otherwise the same
  // as Flush. The records reach the file at the next Flush (or Sync, SyncAsync, a segment roll,
  // Close), which any writer call that needs them there makes first. For streams a process
  // crash may lose past a known point (a pipeline's output, which a restore truncates and
  // recomputes): one write per tail copy's worth of records instead of one per cycle.
  Status Publish();
  // Flush + fdatasync: everything appended so far is durable when it returns. Blocks for
  // the device flush (milliseconds on many disks).
  Status Sync();
  // Group commit without blocking: Flush, then ask a background thread (started on first
  // use) to fdatasync. Returns without waiting for the disk; durable_offset() advances (and
  // the durable callback runs) when the fdatasync completes. Requests made while one runs
  // coalesce into the next. A background failure is sticky and reported by the next writer
  // call. This is how a shard keeps appending while the previous batch becomes durable.
  Status SyncAsync();
  // Called with the new durable_offset each time it advances, on the syncer thread (or the
  // writer's, for Sync/roll). Must be cheap and thread-safe (e.g. wake an event loop).
  // Set it before the first SyncAsync.
  void SetDurableCallback(std::function<void(uint64_t durable_offset)> callback);
  // Removes every record at offset >= end_offset, durably (file and directory fsync), so the
  // next Append gets offset end_offset. end_offset must be in [start_offset(), end_offset()]
  // (buffered records are flushed first): else kInvalidArgument. Deletes later segments,
  // truncates the segment holding end_offset at that record's boundary and rebuilds its
  // sparse index. Atomic across crashes: a TRUNCATE intent file (docs/LOG_FORMAT.md) is
  // written first and Open completes an interrupted truncation, so the log recovers to the
  // old or the new end, nothing in between. A failure after the intent was written is sticky
  // (reopen to finish). Everything kept is fsynced, so durable_offset() becomes end_offset
  // (<= the old one). Used by checkpoint recovery on derived streams. Writer thread, with no
  // concurrent Append/Read.
  Status TruncateTo(uint64_t end_offset);
  // Drops every record at offset >= end_offset: buffered ones are discarded (no later Flush
  // writes them), written ones are cut from the files (segments after the one holding
  // end_offset deleted newest first, that one truncated at the record, file and directory
  // fsynced), so neither a reader nor a reopen sees them again. For records their writer never
  // acknowledged, after a failed write or fsync. Unlike TruncateTo it writes no new data (no
  // intent file), so it works on a full disk, and it clears a sticky write or fsync error; it
  // refuses (kFailedPrecondition) after Close, while a TruncateTo intent is pending, and after
  // a failed fsync when end_offset > durable_offset() (what the failed fsync covered may be
  // lost however later fsyncs answer). end_offset must be in [start_offset(), next_offset()]
  // (else kInvalidArgument). durable_offset() becomes end_offset (unless the target is past the
  // file's end, with records only published from memory: then the rollback cuts the copy and the
  // buffer and leaves the file and durable_offset() alone). If it fails the log stays
  // sticky, but end_offset() and durable_offset() already are end_offset (readers no longer see
  // the dropped records); call it again to retry. A crash before it succeeded may leave some
  // of the dropped records. Writer thread; a concurrent Read of a dropped record may fail
  // (kDataLoss, the file is shorter) or return it.
  Status Rollback(uint64_t end_offset);
  // Offset the next Append gets (buffered records included). Writer thread.
  uint64_t next_offset() const { return next_offset_; }
  // False after a sticky error or Close: writer calls fail until Rollback or a reopen.
  // Writer thread.
  bool writable() const { return writable_ && !async_failed_.load(std::memory_order_acquire); }
  // Deletes sealed segments past retention by size or age (never the active one).
  Status EnforceRetention(int64_t now_ms);
  // The same at the injected clock's NowMs().
  Status EnforceRetention() { return EnforceRetention(clock_->NowMs()); }
  // Deletes the records below `before` the way retention does, in whole segments: every
  // segment whose records all have offsets < before goes, oldest first. When `before` is at or
  // past next_offset() (every record appended so far, buffered ones included) and the active
  // segment holds records, it is sealed first (as when it fills up), so all records go and
  // the log is empty. Offsets are never reused: the next Append still gets next_offset().
  // Returns the new start_offset(). The deletion is made durable (directory fsynced) before
  // it returns; a crash part way leaves a shorter prefix deleted, which is a valid log.
  // kFailedPrecondition if the log is not writable. Writer thread; readers holding a deleted
  // segment keep reading it, later reads below the new start get kOutOfRange.
  Result<uint64_t> DeleteRecordsBefore(uint64_t before);
  // Flushes, syncs and closes; later writer calls fail. Called by the destructor (which
  // ignores the status); call it explicitly to see errors.
  Status Close();

  // --- any thread ---
  uint64_t start_offset() const { return start_offset_.load(std::memory_order_acquire); }
  uint64_t end_offset() const { return end_offset_.load(std::memory_order_acquire); }
  uint64_t durable_offset() const { return durable_offset_.load(std::memory_order_acquire); }

  // Reads records with offsets >= from, at most max_records of them and about max_bytes of
  // payload (at least one record if any is available, even if larger). Records come from one
  // segment (or, served from the tail copy, from consecutive ones), so fewer than asked does
  // not mean the end: continue from the last offset + 1.
  // `out` and `storage` are replaced; out's payloads point into storage.
  // from >= end_offset: OK, nothing. from < start_offset: kOutOfRange. A checksum mismatch
  // found while reading: kDataLoss naming the file and byte offset.
  Status Read(uint64_t from, uint32_t max_records, uint64_t max_bytes, std::vector<Record>* out,
              std::string* storage) const;

  // Counters for metrics.
  uint64_t bytes_written() const { return bytes_written_.load(std::memory_order_relaxed); }
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  uint64_t appends() const { return appends_.load(std::memory_order_relaxed); }
  uint64_t segments_deleted() const { return segments_deleted_.load(std::memory_order_relaxed); }
  // Reads served from the in-memory tail rather than the file.
  uint64_t tail_reads() const { return tail_reads_.load(std::memory_order_relaxed); }
  size_t segment_count() const;
  // Bytes dropped from the last segment's torn tail when this log was opened.
  uint64_t recovered_truncated_bytes() const { return recovered_truncated_bytes_; }
  const std::string& dir() const { return dir_; }

 private:
  PartitionLog(Env* env, Clock* clock, std::string dir, LogOptions options);
  Status Recover();
  // Completes a TruncateTo interrupted by a crash (its intent file exists); before the scan.
  Status FinishInterruptedTruncate();
  // TruncateTo after validation, with the syncer held off: intent, cut, in-memory rebuild.
  Status TruncateSegments(uint64_t end_offset);
  // Cuts the files at end_offset (no intent) and rebuilds the in-memory segment list; the
  // active file must be closed. Used by TruncateSegments and Rollback.
  Status CutAndReload(uint64_t end_offset);
  // Rollback to a target past the file's end while published records are unwritten: cuts the
  // tail copy and the buffer, leaves the file alone.
  void RollbackInMemory(uint64_t end_offset);
  std::string TruncateIntentPath() const;
  Status OpenActiveAfterRecovery(const std::string& path, uint64_t valid_bytes, bool rewrite_header);
  Status CreateActiveSegment(uint64_t base_offset);
  Status Roll();
  // Deletes the `count` oldest segments (never the active one) and moves start_offset.
  Status DropOldestSegments(size_t count);
  Status NotWritable() const;
  // fdatasync of `file` (and the directory), serialized with the background syncer;
  // advances durable_offset to `target` on success.
  Status RunSync(WritableFile* file, uint64_t target, bool sync_dir);
  void SyncerLoop();
  void StopSyncer();
  // Makes a background sync failure this writer's sticky error; true if there was one.
  bool AdoptAsyncError();
  // Points the syncer at a new active file once no sync of the old one is running.
  void SwapSyncFile(WritableFile* file);
  void SetSticky(const Status& s);
  void GrowBuffer(size_t need);
  // Flush: keeps a copy of the frames just written ([first, next_offset_)) for followers.
  void KeepTail(uint64_t first);
  // Writes the frames Publish made visible from the tail copy only (the last unwritten_bytes_
  // of tail_); on failure the file is cut back and they stay unwritten.
  Status WriteUnwritten();
  // Appends frames at the file's end; on failure cuts the file back (nothing partial stays).
  Status WriteFrames(std::string_view frames);
  // Forgets the tail (before records are dropped, so no read serves them afterwards).
  void DropTail();
  // Read from the tail copy; false when `from` is not in it.
  bool ReadTail(uint64_t from, uint32_t max_records, uint64_t max_bytes, std::vector<Record>* out,
                std::string* storage) const;
  uint32_t IndexCapacity(uint64_t segment_bytes) const;
  std::string SegmentPath(uint64_t base_offset) const;

  Env* const env_;
  Clock* const clock_;
  const std::string dir_;
  const LogOptions options_;

  // Segment list, oldest first; the last one is active. Written by the writer under mu_;
  // the writer may read it without mu_.
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Segment>> segments_;

  // Writer-only state.
  std::unique_ptr<WritableFile> active_file_;
  uint64_t active_flushed_bytes_ = 0;  // file size of the active segment
  // Visible records past the file's end (Publish): the last this many bytes of tail_. They
  // follow the file's records in the segment (index positions count them).
  uint64_t unwritten_bytes_ = 0;
  uint64_t next_offset_ = 0;  // offset of the next Append (includes buffered)
  std::unique_ptr<char[]> buf_;
  size_t buf_size_ = 0;
  size_t buf_capacity_ = 0;
  Segment* active_ = nullptr;  // segments_.back()
  bool dir_sync_needed_ = false;
  bool writable_ = true;  // false after Close or a sticky error
  bool closed_ = false;
  Status sticky_error_;
  bool sync_failed_ = false;  // an fsync failed since the last successful Rollback
  uint64_t recovered_truncated_bytes_ = 0;

  // Background group commit. sync_mu_ guards the fields below it; durable_offset_ is
  // written only under it.
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::thread syncer_;  // started by the first SyncAsync
  bool syncer_stop_ = false;
  bool sync_in_flight_ = false;
  uint64_t sync_requested_ = 0;  // offset the syncer should make durable
  bool sync_dir_requested_ = false;
  WritableFile* sync_file_ = nullptr;  // the active file
  Status async_error_;
  std::atomic<bool> async_failed_{false};
  std::function<void(uint64_t)> on_durable_;

  // The tail copy (see the class comment). tail_mu_ guards the fields below it; Flush is the
  // only writer, so the lock is never contended for long.
  mutable std::atomic<bool> tail_wanted_{false};  // a Read went to the active segment's file
  mutable std::mutex tail_mu_;
  std::string tail_;  // frames of offsets [tail_offset_, tail_end_), back to back
  uint64_t tail_offset_ = 0;
  uint64_t tail_end_ = 0;
  // (offset, its frame's index in tail_), ascending, every kTailMarkFrames frames of each flush;
  // a read walks frames from the last mark at or before its offset.
  std::vector<std::pair<uint64_t, size_t>> tail_marks_;
  mutable std::atomic<uint64_t> tail_reads_{0};

  std::atomic<uint64_t> start_offset_{0};
  std::atomic<uint64_t> end_offset_{0};
  std::atomic<uint64_t> durable_offset_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> appends_{0};
  std::atomic<uint64_t> segments_deleted_{0};
};

struct RepairReport {
  uint64_t bytes_truncated = 0;   // dropped from the first damaged segment
  uint32_t segments_deleted = 0;  // whole segments after (or at) the damage
  std::string first_problem;      // "<file>: <problem> at byte N"; empty if nothing was wrong
};

// Explicit repair (an operator command, never automatic): scans the partition in `dir`,
// truncates at the first bad record (the segment's header must be valid, else the segment is
// deleted) and deletes every later segment. Afterwards PartitionLog::Open succeeds; the
// records after the damage are gone (reported in `report`, may be null). `progress`, if set, is
// called after each segment with (segments done, segments in all), for a progress bar.
Status RepairPartition(Env* env, const std::string& dir, RepairReport* report = nullptr,
                       const std::function<void(size_t, size_t)>& progress = {});

}  // namespace impulse::log
