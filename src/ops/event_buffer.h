// EventTimeBuffer: rows held until the watermark reaches their event time, then released in
// (event time, arrival) order. Used by the operators that emit one row per input row in
// event-time order (per-event sliding windows, feature views), so their results do not depend
// on the arrival order within the allowed out-of-orderness.
//
// Rows are stored encoded with the row codec plus their ingest time and offset; the caller
// bounds size() (a state limit) and owns the partition. Rows that come in time order (the
// common case) go to a FIFO ring whose slots keep their buffers, so they cost no allocation and
// no tree insert; out-of-order rows go to an ordered map; the oldest of the two heads is next.
// One thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse::plan {

class EventTimeBuffer {
 public:
  explicit EventTimeBuffer(const Schema& schema) : schema_(schema) {}

  void Add(const Value* row, const RowMeta& m);
  size_t size() const { return rows_.size() + fifo_size_; }
  uint64_t bytes() const { return bytes_; }
  bool empty() const { return size() == 0; }
  // Event time of the oldest row (the buffer must not be empty).
  int64_t NextTime() const {
    if (fifo_size_ == 0) return rows_.begin()->first.first;
    const int64_t f = fifo_[fifo_head_].ts;
    return rows_.empty() ? f : std::min(f, rows_.begin()->first.first);
  }
  // Appends the oldest row to `out` (meta: event time, ingest time, offset) and removes it.
  // `raw` (if not null) receives its encoded form, which orders equal-time rows by content.
  void PopInto(RowBatch* out, std::string* raw = nullptr);

  // Checkpoint form, appended to / read from a larger blob. Deserialize replaces the content.
  void Serialize(std::string* out) const;
  Status Deserialize(std::string_view* in);

 private:
  struct Slot {
    int64_t ts = 0;
    uint64_t seq = 0;
    std::string row;
  };
  bool FifoFirst() const;  // the FIFO's head is the oldest row
  void PushFifo(int64_t ts, uint64_t seq, std::string_view row);

  const Schema& schema_;
  std::map<std::pair<int64_t, uint64_t>, std::string> rows_;  // out of order: (event time, seq) -> row
  std::vector<Slot> fifo_;                                    // in order: a ring (power-of-two capacity)
  size_t fifo_head_ = 0;
  size_t fifo_size_ = 0;
  int64_t fifo_last_ts_ = INT64_MIN;  // time of the FIFO's newest row
  uint64_t bytes_ = 0;
  uint64_t next_seq_ = 0;
  std::string encoded_;
};

}  // namespace impulse::plan
