#include "log/segment.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "log/log_format.h"

namespace impulse::log {

Segment::Segment(uint64_t base_offset, std::string path, std::unique_ptr<RandomAccessFile> file,
                 uint32_t index_capacity)
    : base_offset_(base_offset),
      path_(std::move(path)),
      file_(std::move(file)),
      capacity_(index_capacity),
      entries_(std::make_unique<IndexEntry[]>(index_capacity)),
      visible_bytes_(kSegmentHeaderBytes),
      end_offset_(base_offset),
      last_indexed_position_(kSegmentHeaderBytes) {}

IndexEntry Segment::Seek(uint64_t offset) const {
  const uint32_t n = index_count_.load(std::memory_order_acquire);
  const IndexEntry* begin = entries_.get();
  const IndexEntry* it =
      std::upper_bound(begin, begin + n, offset, [](uint64_t o, const IndexEntry& e) { return o < e.offset; });
  if (it == begin) return IndexEntry{base_offset_, kSegmentHeaderBytes};
  return *(it - 1);
}

namespace {

constexpr size_t kScanChunkBytes = 1 << 20;

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// Whether [from, size) of the file is all zero bytes (a crash can leave zero-filled space).
Result<bool> TailAllZero(const RandomAccessFile& file, uint64_t from, uint64_t size) {
  std::vector<char> buf(std::min<uint64_t>(kScanChunkBytes, size - std::min(from, size)) + 1);
  while (from < size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - from));
    ASSIGN_OR_RETURN(size_t got, file.Read(from, want, buf.data()));
    if (got == 0) break;
    if (!AllZero(buf.data(), got)) return false;
    from += got;
  }
  return true;
}

}  // namespace

Result<ScanResult> ScanSegment(const RandomAccessFile& file, uint64_t size, uint64_t expected_base, Segment* segment,
                               uint32_t index_interval_bytes) {
  ScanResult r;
  char header[kSegmentHeaderBytes];
  ASSIGN_OR_RETURN(size_t got, file.Read(0, kSegmentHeaderBytes, header));
  auto fail = [&](std::string problem) -> Result<ScanResult> {
    r.clean = false;
    r.problem = std::move(problem);
    ASSIGN_OR_RETURN(r.all_zero_tail, TailAllZero(file, r.valid_bytes, size));
    return r;
  };
  if (got < kSegmentHeaderBytes) {
    r.header_ok = false;
    return fail("short segment header (" + std::to_string(got) + " bytes)");
  }
  std::string why;
  const std::optional<uint64_t> base = DecodeSegmentHeader(header, &why);
  if (!base) {
    r.header_ok = false;
    return fail(why);
  }
  if (*base != expected_base) {
    r.header_ok = false;
    return fail("header base offset " + std::to_string(*base) + " does not match the file name");
  }
  r.valid_bytes = kSegmentHeaderBytes;

  // buf holds file bytes [buf_pos, buf_pos + buf_len).
  std::vector<char> buf;
  uint64_t buf_pos = r.valid_bytes;
  size_t buf_len = 0;
  while (r.valid_bytes < size) {
    const uint64_t pos = r.valid_bytes;
    // Makes [pos, pos + n) resident in buf; false at EOF.
    auto ensure = [&](uint64_t n) -> Result<bool> {
      if (pos >= buf_pos && pos + n <= buf_pos + buf_len) return true;
      if (pos + n > size) return false;
      const uint64_t want = std::max<uint64_t>(n, std::min<uint64_t>(kScanChunkBytes, size - pos));
      if (buf.size() < want) buf.resize(want);
      ASSIGN_OR_RETURN(size_t n_read, file.Read(pos, want, buf.data()));
      buf_pos = pos;
      buf_len = n_read;
      return n_read >= n;
    };
    ASSIGN_OR_RETURN(bool have_header, ensure(kFrameHeaderBytes));
    if (!have_header) return fail("short frame header at byte " + std::to_string(pos));
    const FrameHeader h = DecodeFrameHeader(buf.data() + (pos - buf_pos));
    if (h.payload_bytes > kMaxPayloadBytesFormat) {
      return fail("bad frame length " + std::to_string(h.payload_bytes) + " at byte " + std::to_string(pos));
    }
    const uint64_t frame_bytes = kFrameHeaderBytes + h.payload_bytes;
    ASSIGN_OR_RETURN(bool have_frame, ensure(frame_bytes));
    if (!have_frame) return fail("short frame at byte " + std::to_string(pos));
    if (!FrameCrcMatches(buf.data() + (pos - buf_pos), h)) {
      return fail("checksum mismatch in frame at byte " + std::to_string(pos));
    }
    if (segment != nullptr) {
      segment->MaybeStageIndex(expected_base + r.records, pos, index_interval_bytes);
      segment->NoteTimestamp(h.timestamp_ms);
    }
    r.max_timestamp_ms = std::max(r.max_timestamp_ms, h.timestamp_ms);
    r.records++;
    r.valid_bytes += frame_bytes;
  }
  return r;
}

}  // namespace impulse::log
