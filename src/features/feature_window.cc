#include "features/feature_window.h"

#include <algorithm>
#include <cstring>

#include "common/fixed_codec.h"

namespace impulse::plan {

namespace {

void StoreValue(const Value& v, uint64_t* w) { std::memcpy(w, &v, sizeof(Value)); }
Value LoadValue(const uint64_t* w) {
  Value v;
  std::memcpy(static_cast<void*>(&v), w, sizeof(Value));
  return v;
}

}  // namespace

void FeatureWindow::InitState(const FeatureWindowLayout& l) {
  state_ = std::make_unique<uint64_t[]>(std::max<size_t>(l.state_bytes / 8, 1));
  for (const auto& r : l.ranges) r.set->Init(reinterpret_cast<uint8_t*>(state_.get()) + r.state_offset);
  heads_.assign(l.ranges.size(), first_seq_);
  entered_ = first_seq_;
}

void FeatureWindow::Grow(const FeatureWindowLayout& l) {
  const size_t stride = Stride(l);
  const size_t next_cap = cap_ == 0 ? 4 : cap_ * 2;
  std::vector<uint64_t> next(next_cap * stride);
  for (size_t i = 0; i < size_; ++i) {
    const uint64_t* src = words_.data() + ((head_ + i) & (cap_ - 1)) * stride;
    std::copy(src, src + stride, next.data() + i * stride);
  }
  words_ = std::move(next);
  cap_ = next_cap;
  head_ = 0;
}

void FeatureWindow::Push(const FeatureWindowLayout& l, int64_t ts, const Value* cols) {
  if (!state_) InitState(l);
  if (size_ == cap_) Grow(l);
  ++size_;
  uint64_t* row = RowAt(l, first_seq_ + size_ - 1);
  row[0] = static_cast<uint64_t>(ts);
  for (size_t c = 0; c < l.cols.size(); ++c) StoreValue(cols[c], row + 1 + 2 * c);
}

void FeatureWindow::ArgsOf(const FeatureWindowLayout::Range& r, const uint64_t* row, Value* args) const {
  for (size_t i = 0; i < r.arg_cols.size(); ++i) {
    args[i] = r.arg_cols[i] < 0 ? Value::Null() : LoadValue(row + 1 + 2 * static_cast<size_t>(r.arg_cols[i]));
  }
}

void FeatureWindow::Advance(const FeatureWindowLayout& l, int64_t t, int64_t horizon) {
  if (!state_) InitState(l);
  uint8_t* state = reinterpret_cast<uint8_t*>(state_.get());
  // Argument scratch shared by every window of the thread (sized once; a local array would be
  // constructed on every call).
  thread_local std::vector<Value> scratch;
  if (scratch.size() < l.args_max) scratch.resize(l.args_max);
  Value* args = scratch.data();
  const int64_t until = t - l.delay_ms;
  const uint64_t end = first_seq_ + size_;
  for (; entered_ < end; ++entered_) {
    const uint64_t* row = RowAt(l, entered_);
    const int64_t ts = static_cast<int64_t>(row[0]);
    if (ts > until) break;
    for (const auto& r : l.ranges) {
      ArgsOf(r, row, args);
      r.set->Add(state + r.state_offset, ts, args);
    }
  }
  uint64_t oldest_needed = entered_;
  for (size_t k = 0; k < l.ranges.size(); ++k) {
    const auto& r = l.ranges[k];
    const int64_t cutoff = until - r.size_ms;
    uint64_t& h = heads_[k];
    for (; h < entered_; ++h) {
      const uint64_t* row = RowAt(l, h);
      const int64_t ts = static_cast<int64_t>(row[0]);
      if (ts > cutoff) break;
      ArgsOf(r, row, args);
      r.set->Retract(state + r.state_offset, ts, args);
    }
    oldest_needed = std::min(oldest_needed, h);
  }
  // Rows a read at `horizon` may see stay: those newer than horizon - delay - the longest range.
  int64_t longest = 0;
  for (const auto& r : l.ranges) longest = std::max(longest, r.size_ms);
  int64_t keep_after = 0;
  if (__builtin_sub_overflow(std::min(horizon, t), l.delay_ms + longest, &keep_after)) keep_after = INT64_MIN;
  while (first_seq_ < oldest_needed && static_cast<int64_t>(RowAt(l, first_seq_)[0]) <= keep_after) {
    head_ = (head_ + 1) & (cap_ - 1);
    --size_;
    ++first_seq_;
  }
}

void FeatureWindow::Results(const FeatureWindowLayout& l, size_t r, Value* out, Arena* arena) const {
  const auto& range = l.ranges[r];
  if (!state_) {
    // Never fed: the results of an empty window.
    std::vector<uint64_t> empty(std::max<size_t>(range.set->state_size() / 8, 1));
    range.set->Init(reinterpret_cast<uint8_t*>(empty.data()));
    range.set->Result(reinterpret_cast<const uint8_t*>(empty.data()), out, arena);
    return;
  }
  range.set->Result(reinterpret_cast<const uint8_t*>(state_.get()) + range.state_offset, out, arena);
}

void FeatureWindow::InsertLate(const FeatureWindowLayout& l, int64_t advanced, int64_t ts, const Value* cols) {
  if (!state_) InitState(l);
  if (size_ == cap_) Grow(l);
  const size_t stride = Stride(l);
  // Its place: after every row of a time <= ts (late rows land near the end: scan back).
  uint64_t p = first_seq_ + size_;
  while (p > first_seq_ && static_cast<int64_t>(RowAt(l, p - 1)[0]) > ts) --p;
  ++size_;
  for (uint64_t q = first_seq_ + size_ - 1; q > p; --q) {
    const uint64_t* from = RowAt(l, q - 1);
    std::copy(from, from + stride, RowAt(l, q));
  }
  uint64_t* row = RowAt(l, p);
  row[0] = static_cast<uint64_t>(ts);
  for (size_t c = 0; c < l.cols.size(); ++c) StoreValue(cols[c], row + 1 + 2 * c);
  // Renumber: rows from p on moved one up. The new row is in the ranges' state if it has
  // entered (ts <= advanced - delay) and not left range k (ts > advanced - delay - size).
  int64_t until = 0;
  if (__builtin_sub_overflow(advanced, l.delay_ms, &until)) until = INT64_MIN;
  const bool entered = ts <= until;
  if (entered_ > p || (entered_ == p && entered)) ++entered_;
  thread_local std::vector<Value> scratch;
  if (scratch.size() < l.args_max) scratch.resize(l.args_max);
  uint8_t* state = reinterpret_cast<uint8_t*>(state_.get());
  for (size_t k = 0; k < l.ranges.size(); ++k) {
    const auto& r = l.ranges[k];
    uint64_t& h = heads_[k];
    // A row that has entered and is older than the range has left it (it sits before the head);
    // one that has not entered yet stays after the head, like every newer row.
    int64_t cutoff = 0;
    if (__builtin_sub_overflow(until, r.size_ms, &cutoff)) cutoff = INT64_MIN;
    const bool left = entered && ts <= cutoff;
    if (h > p || (h == p && left)) {
      ++h;
    } else if (entered && !left) {
      ArgsOf(r, row, scratch.data());
      r.set->Add(state + r.state_offset, ts, scratch.data());
    }
  }
}

void FeatureWindow::ResultsAt(const FeatureWindowLayout& l, size_t r, int64_t t, Value* out, Arena* arena) const {
  const auto& range = l.ranges[r];
  thread_local std::vector<uint64_t> block;
  block.assign(std::max<size_t>((range.set->state_size() + 7) / 8, 1), 0);
  uint8_t* state = reinterpret_cast<uint8_t*>(block.data());
  range.set->Init(state);
  thread_local std::vector<Value> scratch;
  if (scratch.size() < l.args_max) scratch.resize(l.args_max);
  int64_t until = 0, after = 0;
  if (__builtin_sub_overflow(t, l.delay_ms, &until)) until = INT64_MIN;
  if (__builtin_sub_overflow(until, range.size_ms, &after)) after = INT64_MIN;
  for (uint64_t q = first_seq_; q < first_seq_ + size_; ++q) {
    const uint64_t* row = RowAt(l, q);
    const int64_t ts = static_cast<int64_t>(row[0]);
    if (ts > until) break;
    if (ts <= after) continue;
    ArgsOf(range, row, scratch.data());
    range.set->Add(state, ts, scratch.data());
  }
  range.set->Result(state, out, arena);
  range.set->Destroy(state);
}

size_t FeatureWindow::HeapBytes(const FeatureWindowLayout& l) const {
  size_t b = words_.capacity() * sizeof(uint64_t) + heads_.capacity() * sizeof(uint64_t);
  if (state_) {
    b += l.state_bytes;
    for (const auto& r : l.ranges)
      b += r.set->HeapBytes(reinterpret_cast<const uint8_t*>(state_.get()) + r.state_offset);
  }
  return b;
}

void FeatureWindow::Serialize(const FeatureWindowLayout& l, std::string* out) const {
  PutI64(state_ ? 1 : 0, out);
  if (!state_) return;
  PutI64(static_cast<int64_t>(size_), out);
  PutI64(static_cast<int64_t>(entered_ - first_seq_), out);
  for (uint64_t h : heads_) PutI64(static_cast<int64_t>(h - first_seq_), out);
  for (size_t i = 0; i < size_; ++i) {
    const uint64_t* row = RowAt(l, first_seq_ + i);
    PutI64(static_cast<int64_t>(row[0]), out);
    for (size_t c = 0; c < l.cols.size(); ++c) {
      const Value v = LoadValue(row + 1 + 2 * c);
      out->push_back(v.null ? 1 : 0);
      PutI64(v.null ? 0 : v.i64, out);  // int64, timestamp, double (bits) and bool share the word
    }
  }
  for (const auto& r : l.ranges) r.set->Serialize(reinterpret_cast<const uint8_t*>(state_.get()) + r.state_offset, out);
}

Status FeatureWindow::Deserialize(const FeatureWindowLayout& l, std::string_view* in) {
  Destroy(l);
  int64_t has = 0;
  if (!GetI64(in, &has)) return DataLoss("feature window: truncated");
  if (has == 0) return Status::OK();
  first_seq_ = 0;
  InitState(l);
  int64_t n = 0, entered = 0;
  if (!GetI64(in, &n) || !GetI64(in, &entered) || n < 0 || entered < 0 || entered > n || n > (int64_t{1} << 32)) {
    return DataLoss("feature window: bad header");
  }
  for (auto& h : heads_) {
    int64_t x = 0;
    if (!GetI64(in, &x) || x < 0 || x > entered) return DataLoss("feature window: bad range head");
    h = static_cast<uint64_t>(x);
  }
  entered_ = static_cast<uint64_t>(entered);
  for (int64_t i = 0; i < n; ++i) {
    int64_t ts = 0;
    if (!GetI64(in, &ts)) return DataLoss("feature window: truncated row");
    if (size_ == cap_) Grow(l);
    ++size_;
    uint64_t* row = RowAt(l, first_seq_ + size_ - 1);
    row[0] = static_cast<uint64_t>(ts);
    for (size_t c = 0; c < l.cols.size(); ++c) {
      int64_t bits = 0;
      if (in->empty()) return DataLoss("feature window: truncated value");
      const bool null = (*in)[0] != 0;
      in->remove_prefix(1);
      if (!GetI64(in, &bits)) return DataLoss("feature window: truncated value");
      Value v;
      v.null = null;
      v.i64 = bits;
      if (!null && l.cols[c] == FieldType::kBool) v.b = bits != 0;
      StoreValue(v, row + 1 + 2 * c);
    }
  }
  for (const auto& r : l.ranges) {
    RETURN_IF_ERROR(r.set->Deserialize(in, reinterpret_cast<uint8_t*>(state_.get()) + r.state_offset));
  }
  return Status::OK();
}

void FeatureWindow::Destroy(const FeatureWindowLayout& l) {
  if (state_) {
    for (const auto& r : l.ranges) r.set->Destroy(reinterpret_cast<uint8_t*>(state_.get()) + r.state_offset);
  }
  *this = FeatureWindow();
}

}  // namespace impulse::plan
