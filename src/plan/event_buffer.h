// EventTimeBuffer: rows held until the watermark reaches their event time, then released in
// (event time, arrival) order. Used by the operators that emit one row per input row in
// event-time order (per-event sliding windows, feature views), so their results do not depend
// on the arrival order within the allowed out-of-orderness.
//
// Rows are stored encoded with the row codec plus their ingest time and offset; the caller
// bounds size() (a state limit) and owns the partition. One thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse::plan {

class EventTimeBuffer {
 public:
  explicit EventTimeBuffer(const Schema& schema) : schema_(schema) {}

  void Add(const Value* row, const RowMeta& m);
  size_t size() const { return rows_.size(); }
  uint64_t bytes() const { return bytes_; }
  bool empty() const { return rows_.empty(); }
  // Event time of the oldest row (the buffer must not be empty).
  int64_t NextTime() const { return rows_.begin()->first.first; }
  // Appends the oldest row to `out` (meta: event time, ingest time, offset) and removes it.
  // `raw` (if not null) receives its encoded form, which orders equal-time rows by content.
  void PopInto(RowBatch* out, std::string* raw = nullptr);

  // Checkpoint form, appended to / read from a larger blob. Deserialize replaces the content.
  void Serialize(std::string* out) const;
  Status Deserialize(std::string_view* in);

 private:
  const Schema& schema_;
  std::map<std::pair<int64_t, uint64_t>, std::string> rows_;  // (event time, seq) -> row
  uint64_t bytes_ = 0;
  uint64_t next_seq_ = 0;
  std::string encoded_;
};

}  // namespace impulse::plan
