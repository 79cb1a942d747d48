// One segment file of a partition: its identity, what readers may see of it, and its sparse
// offset index. Shared (shared_ptr) between the writer and readers so a segment deleted by
// retention stays readable by a Read already in progress (POSIX keeps the unlinked file).
//
// Threading: exactly one writer thread (PartitionLog's) appends index entries and publishes
// progress with release stores; any number of readers use acquire loads and pread. Index
// entries are written before the count that covers them is published, and readers only look
// below the published count, so no entry is ever read while being written.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "impulse/env.h"
#include "impulse/status.h"

namespace impulse::log {

struct IndexEntry {
  uint64_t offset;    // record offset
  uint64_t position;  // byte position of that record's frame in the segment file
};

class Segment {
 public:
  // `index_capacity` bounds the index (entries beyond it are not recorded: the index just
  // gets sparser, reads stay correct).
  Segment(uint64_t base_offset, std::string path, std::unique_ptr<RandomAccessFile> file, uint32_t index_capacity);

  uint64_t base_offset() const { return base_offset_; }
  const std::string& path() const { return path_; }
  const RandomAccessFile& file() const { return *file_; }

  // Visible progress: bytes of complete records and the offset after the last one.
  uint64_t visible_bytes() const { return visible_bytes_.load(std::memory_order_acquire); }
  uint64_t end_offset() const { return end_offset_.load(std::memory_order_acquire); }

  // The indexed position to start scanning from for `offset` (>= base): the last entry at or
  // before it, or the first record of the segment.
  IndexEntry Seek(uint64_t offset) const;

  // --- writer thread only ---
  // Stages an index entry for a record at `position` if it is index_interval past the last
  // one. Not visible to readers until Publish.
  void MaybeStageIndex(uint64_t offset, uint64_t position, uint32_t index_interval_bytes) {
    if (position - last_indexed_position_ < index_interval_bytes || staged_ >= capacity_) return;
    entries_[staged_++] = IndexEntry{offset, position};
    last_indexed_position_ = position;
  }
  // Makes staged index entries and records up to (bytes, end_offset) visible. Entries of records
  // at or past end_offset stay staged (their records are not in the file yet, and may be dropped).
  void Publish(uint64_t bytes, uint64_t end_offset) {
    uint32_t n = staged_;
    while (n > index_count_.load(std::memory_order_relaxed) && entries_[n - 1].offset >= end_offset) --n;
    index_count_.store(n, std::memory_order_release);
    visible_bytes_.store(bytes, std::memory_order_release);
    end_offset_.store(end_offset, std::memory_order_release);
  }
  // Forgets staged, unpublished index entries (after their records were dropped).
  void DropStagedIndex(uint64_t last_indexed_position) {
    staged_ = index_count_.load(std::memory_order_relaxed);
    last_indexed_position_ = last_indexed_position;
  }
  uint64_t last_indexed_position() const { return last_indexed_position_; }
  int64_t max_timestamp_ms() const { return max_timestamp_ms_; }
  void NoteTimestamp(int64_t ts) {
    if (ts > max_timestamp_ms_) max_timestamp_ms_ = ts;
  }

 private:
  const uint64_t base_offset_;
  const std::string path_;
  const std::unique_ptr<RandomAccessFile> file_;
  const uint32_t capacity_;
  const std::unique_ptr<IndexEntry[]> entries_;
  std::atomic<uint32_t> index_count_{0};
  std::atomic<uint64_t> visible_bytes_;
  std::atomic<uint64_t> end_offset_;
  // Writer-only.
  uint32_t staged_ = 0;
  uint64_t last_indexed_position_;
  int64_t max_timestamp_ms_ = INT64_MIN;
};

// What a sequential scan of a segment file found. The scan stops at the first problem.
struct ScanResult {
  uint64_t valid_bytes = 0;  // header + complete, checksummed records
  uint64_t records = 0;
  int64_t max_timestamp_ms = INT64_MIN;
  bool clean = true;           // false: a problem at byte valid_bytes, described by `problem`
  bool header_ok = true;       // false: the header itself is missing or invalid
  bool all_zero_tail = false;  // the bytes from valid_bytes to the end are all zero
  std::string problem;
};

// Reads `file` (of `size` bytes) from the start, validating the header (its base offset must
// equal `expected_base`) and every frame's length and CRC. Records index entries into
// `segment` (may be null) every `index_interval_bytes`. I/O errors are returned as a Status;
// format problems are reported in the ScanResult.
Result<ScanResult> ScanSegment(const RandomAccessFile& file, uint64_t size, uint64_t expected_base, Segment* segment,
                               uint32_t index_interval_bytes);

}  // namespace impulse::log
