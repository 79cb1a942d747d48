// Per-event sliding windows: "count and average amount of this customer over
// (t - 7 days, t], this event included", one result per event.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agg/aggregates.h"

namespace impulse::agg {

namespace detail {
// A growable ring buffer (power-of-two capacity); steady state allocates nothing.
template <typename T>
class Ring {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return buf_[(head_ + i) & (buf_.size() - 1)]; }
  const T& operator[](size_t i) const { return buf_[(head_ + i) & (buf_.size() - 1)]; }
  T& front() { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }
  void push_back(T v) {
    if (size_ == buf_.size()) Grow();
    buf_[(head_ + size_) & (buf_.size() - 1)] = std::move(v);
    ++size_;
  }
  void pop_front() {
    head_ = (head_ + 1) & (buf_.size() - 1);
    --size_;
  }
  void pop_back() { --size_; }
  void clear() { head_ = size_ = 0; }
  size_t capacity() const { return buf_.size(); }

 private:
  void Grow() {
    std::vector<T> next(buf_.empty() ? 8 : buf_.size() * 2);
    for (size_t i = 0; i < size_; ++i) next[i] = std::move((*this)[i]);
    buf_ = std::move(next);
    head_ = 0;
  }
  std::vector<T> buf_;
  size_t head_ = 0;
  size_t size_ = 0;
};
}  // namespace detail

// One key's rows within the range, fed in non-decreasing event time (the operator sorts
// before feeding). Keeps a copy of each row in range (strings copied into a per-row block that
// is reused as rows cycle) and per-aggregate structures:
//  - count, sum, avg, var*, stddev*, count_distinct: the aggregate state, retracted on
//    eviction: O(1) amortized per event (count_distinct: one hash lookup);
//  - min, max: a monotonic deque of row numbers: O(1) amortized;
//  - first / last: the row numbers of non-null rows: the oldest / the newest in range;
//  - arg_max, arg_min, approx_count_distinct, top_k: recomputed from the buffered rows at
//    every Add: O(rows in range) per event.
// The caller bounds memory with HeapBytes() (and rows()). Must be given the same AggregateSet
// on every call (it must outlive the window), and Destroy(set) before it is dropped (the destructor cannot free the
// aggregate state without the set). One thread at a time.
class SlidingWindow {
 public:
  SlidingWindow() = default;
  // A moved-from window is empty. Assigning over a window that holds state leaks it: Destroy first.
  SlidingWindow(SlidingWindow&& other) noexcept;
  SlidingWindow& operator=(SlidingWindow&& other) noexcept;
  SlidingWindow(const SlidingWindow&) = delete;
  SlidingWindow& operator=(const SlidingWindow&) = delete;

  // Evicts rows with ts <= event_time_ms - range_ms, adds this row, writes one result per
  // aggregate into out[0..set.size()) (strings copied into `arena`). range_ms < 1 counts as 1.
  void Add(const AggregateSet& set, int64_t range_ms, int64_t event_time_ms, const Value* args, Value* out,
           Arena* arena);
  // The two halves of Add, for windows read at another time than they are fed (a range that
  // ends `delay` before the event: rows enter once they are older than the delay):
  // Insert evicts rows with ts <= event_time_ms - range_ms and adds this row;
  // ResultsAt evicts rows with ts <= t - range_ms and writes the results over the rest (an
  // empty window: count 0, the others null).
  void Insert(const AggregateSet& set, int64_t range_ms, int64_t event_time_ms, const Value* args);
  void ResultsAt(const AggregateSet& set, int64_t range_ms, int64_t t, Value* out, Arena* arena);
  // Evicts rows with ts <= t - range_ms; true when nothing is left (the key's state can be
  // dropped, after Destroy).
  bool Expire(const AggregateSet& set, int64_t range_ms, int64_t t);

  size_t rows() const { return count_; }
  size_t HeapBytes() const;

  // For rows that arrive out of time order (features computed on arrival). InsertAnyOrder is
  // Insert for a row at or after the newest; an older row rebuilds the window in time order
  // (O(rows)). ResultsOver aggregates the buffered rows with lo < ts <= hi by a scan, leaving the
  // window's own state alone.
  void InsertAnyOrder(const AggregateSet& set, int64_t range_ms, int64_t event_time_ms, const Value* args);
  void ResultsOver(const AggregateSet& set, int64_t lo, int64_t hi, Value* out, Arena* arena) const;

  // Checkpoint form: the buffered rows, then the aggregate state (so recovery is bit-exact).
  // Deserialize replaces the window's content; kDataLoss on malformed input.
  void Serialize(const AggregateSet& set, std::string* out) const;
  Status Deserialize(const AggregateSet& set, std::string_view* in);

  void Destroy(const AggregateSet& set);  // frees the aggregate state and the rows

 private:
  // A row's string bytes; heap storage so pointers survive ring growth.
  struct Blob {
    std::unique_ptr<char[]> data;
    size_t capacity = 0;
  };
  void InitFor(const AggregateSet& set);
  void Evict(const AggregateSet& set, int64_t cutoff_ms);
  // Copies the kept arguments of one row and updates every per-aggregate structure
  // (aggregate states too when `add_to_state`).
  void Push(const AggregateSet& set, int64_t ts, const Value* args, bool add_to_state);
  size_t Slot(size_t i) const { return (head_slot_ + i) & (cap_rows_ - 1); }
  const Value* Row(size_t i) const { return vals_.data() + Slot(i) * width_; }
  const Value* RowOfSeq(uint64_t seq) const { return Row(static_cast<size_t>(seq - head_seq_)); }
  void GrowRows();
  void Results(const AggregateSet& set, Value* out, Arena* arena);

  std::unique_ptr<uint64_t[]> state_;  // the AggregateSet block; null until first use
  const AggregateSet* set_ = nullptr;  // the set of the first call (for HeapBytes)
  size_t width_ = 0;                   // 2 Values per aggregate
  // The rows: a ring of cap_rows_ slots (a power of two), count_ used from head_slot_.
  std::vector<int64_t> ts_;  // per slot: event time
  std::vector<Value> vals_;  // per slot: width_ Values
  std::vector<Blob> blobs_;  // per slot: the string bytes its Values point to
  size_t head_slot_ = 0;
  size_t count_ = 0;
  size_t cap_rows_ = 0;
  uint64_t head_seq_ = 0;                     // row number of the oldest row
  std::vector<detail::Ring<uint64_t>> seqs_;  // per aggregate: deque (min/max) or non-null rows
  bool has_strings_ = false;                  // some kept argument is a string
};

}  // namespace impulse::agg
