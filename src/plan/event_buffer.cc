#include "plan/event_buffer.h"

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
  rows_.emplace(std::make_pair(m.event_time_ms, next_seq_++), encoded_);
}

void EventTimeBuffer::PopInto(RowBatch* out, std::string* raw) {
  auto it = rows_.begin();
  const std::string row_bytes = std::move(it->second);
  if (raw != nullptr) raw->assign(row_bytes);
  rows_.erase(it);
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
  PutI64(static_cast<int64_t>(rows_.size()), out);
  for (const auto& [k, row] : rows_) {
    PutI64(k.first, out);
    PutI64(static_cast<int64_t>(k.second), out);
    PutI64(static_cast<int64_t>(row.size()), out);
    *out += row;
  }
}

Status EventTimeBuffer::Deserialize(std::string_view* in) {
  rows_.clear();
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
    rows_.emplace(std::make_pair(ts, static_cast<uint64_t>(seq)), std::move(row));
    next_seq_ = std::max(next_seq_, static_cast<uint64_t>(seq) + 1);
  }
  return Status::OK();
}

}  // namespace impulse::plan
