#include "ops/event_buffer.h"

#include <algorithm>

#include "common/fixed_codec.h"
#include "event/row_codec.h"

namespace impulse::plan {

void EventTimeBuffer::Add(const Value* row, const RowMeta& m) {
  encoded_.clear();
  EncodeRow(schema_, row, m, &encoded_);
  PutI64(m.ingest_time_ms, &encoded_);
  PutI64(static_cast<int64_t>(m.offset), &encoded_);
  bytes_ += encoded_.size();
  const uint64_t seq = next_seq_++;
  if (fifo_size_ == 0 || m.event_time_ms >= fifo_last_ts_) {
    PushFifo(m.event_time_ms, seq, encoded_);
  } else {
    rows_.emplace(std::make_pair(m.event_time_ms, seq), encoded_);
  }
}

void EventTimeBuffer::PushFifo(int64_t ts, uint64_t seq, std::string_view row) {
  if (fifo_size_ == fifo_.size()) {
    std::vector<Slot> next(fifo_.empty() ? 64 : fifo_.size() * 2);
    for (size_t i = 0; i < fifo_size_; ++i) next[i] = std::move(fifo_[(fifo_head_ + i) & (fifo_.size() - 1)]);
    fifo_ = std::move(next);
    fifo_head_ = 0;
  }
  Slot& s = fifo_[(fifo_head_ + fifo_size_) & (fifo_.size() - 1)];
  s.ts = ts;
  s.seq = seq;
  s.row.assign(row.data(), row.size());  // keeps the slot's buffer
  ++fifo_size_;
  fifo_last_ts_ = ts;
}

bool EventTimeBuffer::FifoFirst() const {
  if (fifo_size_ == 0) return false;
  if (rows_.empty()) return true;
  const Slot& f = fifo_[fifo_head_];
  return std::make_pair(f.ts, f.seq) < rows_.begin()->first;
}

void EventTimeBuffer::PopInto(RowBatch* out, std::string* raw) {
  std::string taken;
  std::string_view row_bytes;
  if (FifoFirst()) {
    Slot& s = fifo_[fifo_head_];
    row_bytes = s.row;  // valid until the slot is reused by a later Add
    fifo_head_ = (fifo_head_ + 1) & (fifo_.size() - 1);
    --fifo_size_;
  } else {
    auto it = rows_.begin();
    taken = std::move(it->second);
    rows_.erase(it);
    row_bytes = taken;
  }
  if (raw != nullptr) raw->assign(row_bytes);
  bytes_ -= row_bytes.size();
  std::string_view body(row_bytes);
  // Written by Add: cannot be malformed.
  IMPULSE_CHECK(body.size() >= 16);
  std::string_view tail = body.substr(body.size() - 16);
  body.remove_suffix(16);
  IMPULSE_CHECK(DecodeRow(schema_, body, out).ok());
  RowMeta& dm = out->meta(out->size() - 1);
  int64_t ingest = 0, offset = 0;
  GetI64(&tail, &ingest);
  GetI64(&tail, &offset);
  dm.ingest_time_ms = ingest;
  dm.offset = static_cast<uint64_t>(offset);
}

void EventTimeBuffer::Serialize(std::string* out) const {
  // Both parts, merged in (time, seq) order.
  PutI64(static_cast<int64_t>(size()), out);
  auto put = [out](int64_t ts, uint64_t seq, const std::string& row) {
    PutI64(ts, out);
    PutI64(static_cast<int64_t>(seq), out);
    PutI64(static_cast<int64_t>(row.size()), out);
    *out += row;
  };
  auto it = rows_.begin();
  for (size_t i = 0; i < fifo_size_; ++i) {
    const Slot& f = fifo_[(fifo_head_ + i) & (fifo_.size() - 1)];
    for (; it != rows_.end() && it->first < std::make_pair(f.ts, f.seq); ++it)
      put(it->first.first, it->first.second, it->second);
    put(f.ts, f.seq, f.row);
  }
  for (; it != rows_.end(); ++it) put(it->first.first, it->first.second, it->second);
}

Status EventTimeBuffer::Deserialize(std::string_view* in) {
  rows_.clear();
  fifo_head_ = fifo_size_ = 0;
  fifo_last_ts_ = INT64_MIN;
  bytes_ = 0;
  int64_t n = 0;
  if (!GetI64(in, &n) || n < 0) return DataLoss("event-time buffer: truncated");
  for (int64_t i = 0; i < n; ++i) {
    int64_t ts = 0, seq = 0, len = 0;
    if (!GetI64(in, &ts) || !GetI64(in, &seq) || !GetI64(in, &len) || len < 16 ||
        static_cast<uint64_t>(len) > in->size()) {
      return DataLoss("event-time buffer: bad row");
    }
    std::string row(in->substr(0, static_cast<size_t>(len)));
    in->remove_prefix(static_cast<size_t>(len));
    RowBatch probe(schema_.size());
    if (!DecodeRow(schema_, std::string_view(row).substr(0, row.size() - 16), &probe).ok()) {
      return DataLoss("event-time buffer: undecodable row");
    }
    bytes_ += row.size();
    if (fifo_size_ == 0 || ts >= fifo_last_ts_) {
      PushFifo(ts, static_cast<uint64_t>(seq), row);
    } else {
      rows_.emplace(std::make_pair(ts, static_cast<uint64_t>(seq)), std::move(row));
    }
    next_seq_ = std::max(next_seq_, static_cast<uint64_t>(seq) + 1);
  }
  return Status::OK();
}

}  // namespace impulse::plan
