// FeatureWindow: several time ranges of one entity's events over one shared row buffer, for the
// features operator (docs/FEATURES.md).
//
// A feature view usually asks for the same aggregates over nested ranges (count and average over
// 1, 7 and 30 days), possibly read `delay` before the event (labels known later). Separate
// sliding windows would each keep a copy of the rows and cost a cache miss each per event; here
// the rows are kept once, with only the argument columns the aggregates read, and each range has
// its own aggregate state and head (its oldest row), added to when a row becomes older than the
// delay and retracted from when it leaves the range. So per event: one append, then O(1)
// amortized Add/Retract per range.
//
// Only for aggregates that retract exactly (AggregateSet::Retractable) over non-string columns;
// the operator uses per-range SlidingWindows otherwise. One thread at a time; the Layout is
// shared by every entity of an operator and must outlive its windows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agg/aggregates.h"
#include "impulse/row.h"

namespace impulse::plan {

struct FeatureWindowLayout {
  struct Range {
    int64_t size_ms = 1;
    const agg::AggregateSet* set = nullptr;
    std::vector<int> arg_cols;  // 2 per aggregate: the column each argument reads, or -1 (null)
    size_t state_offset = 0;    // in the window's state block (bytes, 8-aligned)
  };
  int64_t delay_ms = 0;
  std::vector<FieldType> cols;  // the argument columns kept per row (never strings)
  std::vector<Range> ranges;
  size_t state_bytes = 0;
  size_t args_max = 0;  // largest 2 * aggregates of a range
};

class FeatureWindow {
 public:
  FeatureWindow() = default;
  FeatureWindow(FeatureWindow&&) noexcept = default;
  FeatureWindow& operator=(FeatureWindow&&) noexcept = default;
  FeatureWindow(const FeatureWindow&) = delete;
  FeatureWindow& operator=(const FeatureWindow&) = delete;

  // Appends a row (event time non-decreasing across calls; cols: layout.cols.size() values).
  void Push(const FeatureWindowLayout& l, int64_t ts, const Value* cols);
  // Brings every range to event time t: rows with ts <= t - delay enter, rows with
  // ts <= t - delay - size leave. t must not decrease across calls. Rows a later read at
  // `horizon` (< t) may still need stay buffered (outside the ranges' state): an event arriving
  // late, at or after the watermark, reads its windows by ResultsAt.
  void Advance(const FeatureWindowLayout& l, int64_t t, int64_t horizon);
  void Advance(const FeatureWindowLayout& l, int64_t t) { Advance(l, t, t); }
  // Results of range r as of the last Advance (out: its set's size()).
  void Results(const FeatureWindowLayout& l, size_t r, Value* out, Arena* arena) const;

  // For events that arrive out of order (ts below the last pushed time). `advanced` is the time
  // of the last Advance. InsertLate puts the row in time order (after rows of equal time) and into
  // the state of every range that holds it as of `advanced`; ResultsAt computes range r over
  // (t - delay - size, t - delay] from the buffered rows (O(rows in range)).
  void InsertLate(const FeatureWindowLayout& l, int64_t advanced, int64_t ts, const Value* cols);
  void ResultsAt(const FeatureWindowLayout& l, size_t r, int64_t t, Value* out, Arena* arena) const;

  size_t rows() const { return size_; }
  size_t HeapBytes(const FeatureWindowLayout& l) const;
  void Serialize(const FeatureWindowLayout& l, std::string* out) const;
  Status Deserialize(const FeatureWindowLayout& l, std::string_view* in);
  // Frees aggregate state (the destructor cannot: it has no layout).
  void Destroy(const FeatureWindowLayout& l);

 private:
  size_t Stride(const FeatureWindowLayout& l) const { return 1 + 2 * l.cols.size(); }
  uint64_t* RowAt(const FeatureWindowLayout& l, uint64_t seq) {
    return words_.data() + ((head_ + static_cast<size_t>(seq - first_seq_)) & (cap_ - 1)) * Stride(l);
  }
  const uint64_t* RowAt(const FeatureWindowLayout& l, uint64_t seq) const {
    return words_.data() + ((head_ + static_cast<size_t>(seq - first_seq_)) & (cap_ - 1)) * Stride(l);
  }
  void InitState(const FeatureWindowLayout& l);
  void Grow(const FeatureWindowLayout& l);
  void ArgsOf(const FeatureWindowLayout::Range& r, const uint64_t* row, Value* args) const;

  std::vector<uint64_t> words_;  // ring of cap_ rows: [ts, col0 (2 words), col1, ...]
  size_t cap_ = 0;               // rows, a power of two
  size_t head_ = 0;              // slot of the oldest row
  size_t size_ = 0;
  uint64_t first_seq_ = 0;             // number of the oldest row
  uint64_t entered_ = 0;               // rows numbered below entered_ are in every range's state
  std::vector<uint64_t> heads_;        // per range: rows numbered below it have left the range
  std::unique_ptr<uint64_t[]> state_;  // all ranges' aggregate states; null until first use
};

}  // namespace impulse::plan
