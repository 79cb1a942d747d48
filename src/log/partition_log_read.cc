// PartitionLog::Read: the reader side, any thread.
#include <algorithm>

#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/segment.h"

namespace impulse::log {
namespace {

constexpr uint64_t kReadChunkMin = 64 << 10;
constexpr uint64_t kReadChunkMax = 8 << 20;

struct Pending {
  uint64_t offset;
  int64_t timestamp_ms;
  size_t begin;  // payload position in storage
  uint32_t bytes;
};

}  // namespace

bool PartitionLog::ReadTail(uint64_t from, uint32_t max_records, uint64_t max_bytes, std::vector<Record>* out,
                            std::string* storage) const {
  std::lock_guard<std::mutex> lock(tail_mu_);
  // end_offset() bounds it too: a failed Rollback lowers it before the tail is rebuilt.
  const uint64_t end = std::min(tail_end_, end_offset());
  if (from < tail_offset_ || from >= end) return false;
  auto mark = std::upper_bound(tail_marks_.begin(), tail_marks_.end(), from,
                               [](uint64_t o, const std::pair<uint64_t, size_t>& m) { return o < m.first; });
  --mark;  // from >= tail_offset_ == tail_marks_.front().first
  uint64_t off = mark->first;
  size_t pos = mark->second;
  while (off < from) {
    pos += kFrameHeaderBytes + DecodeFrameHeader(tail_.data() + pos).payload_bytes;
    ++off;
  }
  // The frames were encoded by this log's Append: no checksum to verify. One pass finds the
  // span, the copy, then the records point into it.
  const size_t first = pos;
  uint64_t payload_bytes = 0;
  uint32_t n = 0;
  while (off + n < end && n < max_records) {
    const uint32_t bytes = DecodeFrameHeader(tail_.data() + pos).payload_bytes;
    if (n > 0 && payload_bytes + bytes > max_bytes) break;
    payload_bytes += bytes;
    pos += kFrameHeaderBytes + bytes;
    ++n;
  }
  storage->assign(tail_.data() + first, pos - first);
  out->reserve(n);
  for (size_t at = 0; out->size() < n;) {
    const FrameHeader h = DecodeFrameHeader(storage->data() + at);
    out->push_back(Record{off + out->size(), h.timestamp_ms,
                          std::string_view(storage->data() + at + kFrameHeaderBytes, h.payload_bytes)});
    at += kFrameHeaderBytes + h.payload_bytes;
  }
  tail_reads_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

Status PartitionLog::Read(uint64_t from, uint32_t max_records, uint64_t max_bytes, std::vector<Record>* out,
                          std::string* storage) const {
  out->clear();
  storage->clear();
  if (max_records == 0 || from >= end_offset()) return Status::OK();

  std::shared_ptr<Segment> seg;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t start = start_offset_.load(std::memory_order_acquire);
    if (from < start) {
      return OutOfRange("offset " + std::to_string(from) + " is before the start of log " + dir_ + " (" +
                        std::to_string(start) + ")");
    }
    auto it = std::upper_bound(segments_.begin(), segments_.end(), from,
                               [](uint64_t o, const std::shared_ptr<Segment>& s) { return o < s->base_offset(); });
    seg = *(it - 1);  // from >= start == segments_.front()->base_offset()
    if (it == segments_.end()) tail_wanted_.store(true, std::memory_order_relaxed);  // the active segment
  }
  if (ReadTail(from, max_records, max_bytes, out, storage)) return Status::OK();
  // end before bytes: the writer publishes bytes first, so `visible` covers `seg_end`. The
  // log's end can be lower than the segment's: a failed Rollback hides the dropped records.
  const uint64_t seg_end = std::min(seg->end_offset(), end_offset());
  const uint64_t visible = seg->visible_bytes();
  if (from >= seg_end) return Status::OK();

  const IndexEntry start = seg->Seek(from);
  uint64_t pos = start.position;
  uint64_t off = start.offset;
  const uint64_t chunk = std::clamp<uint64_t>(max_bytes + kFrameHeaderBytes, kReadChunkMin, kReadChunkMax);
  std::vector<Pending> pending;
  uint64_t payload_bytes = 0;
  uint64_t buf_pos = pos;  // file position of (*storage)[0]

  // Makes file bytes [pos, pos + n) resident in storage.
  auto ensure = [&](uint64_t n) -> Status {
    if (pos + n <= buf_pos + storage->size()) return Status::OK();
    if (pos + n > visible) {
      return DataLoss(seg->path() + ": frame at byte " + std::to_string(pos) + " extends past the end of its records");
    }
    if (pending.empty()) {  // nothing kept yet: drop the skipped bytes
      storage->clear();
      buf_pos = pos;
    }
    const uint64_t read_from = buf_pos + storage->size();
    const uint64_t want = std::max(pos + n - read_from, std::min(chunk, visible - read_from));
    const size_t old = storage->size();
    storage->resize(old + want);
    Result<size_t> got = seg->file().Read(read_from, want, storage->data() + old);
    if (!got.ok()) return got.status();
    storage->resize(old + *got);
    if (pos + n > buf_pos + storage->size()) {
      return DataLoss(seg->path() + ": file is shorter than its visible records (byte " + std::to_string(pos) + ")");
    }
    return Status::OK();
  };

  while (off < seg_end && pos < visible && pending.size() < max_records) {
    RETURN_IF_ERROR(ensure(kFrameHeaderBytes));
    const FrameHeader h = DecodeFrameHeader(storage->data() + (pos - buf_pos));
    if (h.payload_bytes > kMaxPayloadBytesFormat) {
      return DataLoss(seg->path() + ": bad frame length at byte " + std::to_string(pos));
    }
    if (off >= from) {
      if (!pending.empty() && payload_bytes + h.payload_bytes > max_bytes) break;
      RETURN_IF_ERROR(ensure(kFrameHeaderBytes + h.payload_bytes));
      const char* frame = storage->data() + (pos - buf_pos);
      if (!FrameCrcMatches(frame, h)) {
        return DataLoss(seg->path() + ": checksum mismatch in frame at byte " + std::to_string(pos));
      }
      pending.push_back(
          Pending{off, h.timestamp_ms, static_cast<size_t>(pos - buf_pos) + kFrameHeaderBytes, h.payload_bytes});
      payload_bytes += h.payload_bytes;
    }
    pos += kFrameHeaderBytes + h.payload_bytes;
    ++off;
  }
  out->reserve(pending.size());
  for (const Pending& p : pending) {
    out->push_back(Record{p.offset, p.timestamp_ms, std::string_view(storage->data() + p.begin, p.bytes)});
  }
  return Status::OK();
}

}  // namespace impulse::log
