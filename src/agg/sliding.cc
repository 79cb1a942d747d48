#include "agg/sliding.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "agg/agg_state.h"
#include "agg/codec.h"

namespace impulse::agg {
namespace {

using namespace detail;

enum class Strategy { kRetract, kMinDeque, kMaxDeque, kEdge, kRecompute };

Strategy StrategyOf(const CompiledAgg& c) {
  switch (static_cast<Op>(c.op)) {
    case kOpMinInt:
    case kOpMinDouble:
    case kOpMinString: return Strategy::kMinDeque;
    case kOpMaxInt:
    case kOpMaxDouble:
    case kOpMaxString: return Strategy::kMaxDeque;
    case kOpFirst:
    case kOpLast: return Strategy::kEdge;
    case kOpArgMax:
    case kOpArgMin:
    case kOpApprox:
    case kOpTopK: return Strategy::kRecompute;
    default: return Strategy::kRetract;
  }
}

// Which of an aggregate's two argument Values the window keeps (0 = not used).
bool KeepsArg(const CompiledAgg& c, int j) {
  if (j == 0) return c.op != kOpCountRows;
  return c.op == kOpArgMax || c.op == kOpArgMin;
}
FieldType ArgType(const CompiledAgg& c, int j) { return j == 0 ? c.spec.arg_type : c.spec.arg2_type; }

Value CopyToArena(const Value& v, FieldType t, Arena* arena) {
  if (v.null || t != FieldType::kString) return v;
  return Value::String(arena->Copy(v.sv()));
}

// The largest state of one aggregate (first/last, arg_max/arg_min), in 8-byte words.
constexpr size_t kMaxStateWords = 3;
static_assert(sizeof(EdgeState) <= 8 * kMaxStateWords && sizeof(ArgState) <= 8 * kMaxStateWords);

int64_t Cutoff(int64_t range_ms, int64_t t) {
  range_ms = std::max<int64_t>(range_ms, 1);
  return t < INT64_MIN + range_ms ? INT64_MIN : t - range_ms;
}

}  // namespace

SlidingWindow::SlidingWindow(SlidingWindow&& o) noexcept
    : state_(std::move(o.state_)),
      set_(std::exchange(o.set_, nullptr)),
      width_(std::exchange(o.width_, 0)),
      ts_(std::move(o.ts_)),
      vals_(std::move(o.vals_)),
      blobs_(std::move(o.blobs_)),
      head_slot_(std::exchange(o.head_slot_, 0)),
      count_(std::exchange(o.count_, 0)),
      cap_rows_(std::exchange(o.cap_rows_, 0)),
      head_seq_(std::exchange(o.head_seq_, 0)),
      seqs_(std::move(o.seqs_)),
      has_strings_(std::exchange(o.has_strings_, false)) {
  o.ts_.clear();
  o.vals_.clear();
  o.blobs_.clear();
  o.seqs_.clear();
}

SlidingWindow& SlidingWindow::operator=(SlidingWindow&& o) noexcept {
  if (this != &o) {
    this->~SlidingWindow();
    new (this) SlidingWindow(std::move(o));
  }
  return *this;
}

void SlidingWindow::InitFor(const AggregateSet& set) {
  set_ = &set;
  state_ = std::make_unique<uint64_t[]>((set.state_size() + 7) / 8 + 1);
  set.Init(reinterpret_cast<uint8_t*>(state_.get()));
  width_ = 2 * set.size();
  seqs_.assign(set.size(), {});
  has_strings_ = false;
  for (size_t i = 0; i < set.size(); ++i)
    for (int j = 0; j < 2; ++j)
      has_strings_ =
          has_strings_ || (KeepsArg(set.compiled(i), j) && ArgType(set.compiled(i), j) == FieldType::kString);
}

void SlidingWindow::GrowRows() {
  const size_t cap = cap_rows_ == 0 ? 8 : cap_rows_ * 2;
  std::vector<int64_t> ts(cap);
  std::vector<Value> vals(cap * width_);
  std::vector<Blob> blobs(cap);
  for (size_t i = 0; i < count_; ++i) {
    const size_t s = Slot(i);
    ts[i] = ts_[s];
    std::copy_n(vals_.data() + s * width_, width_, vals.data() + i * width_);
    blobs[i] = std::move(blobs_[s]);  // the heap bytes stay put, so the Values stay valid
  }
  // Free slots keep their blobs for reuse.
  for (size_t i = count_, j = 0; i < cap && j < cap_rows_; ++j) {
    if (blobs_[j].data) blobs[i++] = std::move(blobs_[j]);
  }
  ts_ = std::move(ts);
  vals_ = std::move(vals);
  blobs_ = std::move(blobs);
  head_slot_ = 0;
  cap_rows_ = cap;
}

void SlidingWindow::Push(const AggregateSet& set, int64_t ts, const Value* args, bool add_to_state) {
  if (count_ == cap_rows_) GrowRows();
  const size_t slot = (head_slot_ + count_) & (cap_rows_ - 1);
  Value* row = vals_.data() + slot * width_;
  // Copy the kept arguments; string bytes go into this slot's blob.
  size_t string_bytes = 0;
  for (size_t i = 0; has_strings_ && i < set.size(); ++i) {
    const CompiledAgg& c = set.compiled(i);
    for (int j = 0; j < 2; ++j) {
      const Value& v = args[2 * i + j];
      if (KeepsArg(c, j) && !v.null && ArgType(c, j) == FieldType::kString) string_bytes += v.len;
    }
  }
  Blob& blob = blobs_[slot];
  if (string_bytes > blob.capacity) {
    blob.capacity = std::max(string_bytes, 2 * blob.capacity);
    blob.data = std::make_unique<char[]>(blob.capacity);
  }
  size_t pos = 0;
  for (size_t i = 0; i < set.size(); ++i) {
    const CompiledAgg& c = set.compiled(i);
    for (int j = 0; j < 2; ++j) {
      const Value& v = args[2 * i + j];
      Value& dst = row[2 * i + j];
      if (!KeepsArg(c, j) || v.null) {
        dst = Value::Null();
      } else if (ArgType(c, j) == FieldType::kString) {
        if (v.len > 0) std::memcpy(blob.data.get() + pos, v.str, v.len);
        dst = Value::String({blob.data ? blob.data.get() + pos : "", v.len});
        pos += v.len;
      } else {
        dst = v;
      }
    }
  }
  ts_[slot] = ts;
  const uint64_t seq = head_seq_ + count_;
  ++count_;

  uint8_t* state = reinterpret_cast<uint8_t*>(state_.get());
  for (size_t i = 0; i < set.size(); ++i) {
    const CompiledAgg& c = set.compiled(i);
    const Value& x = row[2 * i];
    const FieldType t = c.spec.arg_type;
    Ring<uint64_t>& q = seqs_[i];
    switch (StrategyOf(c)) {
      case Strategy::kRetract:
        if (add_to_state) AddOne(c, state + c.offset, ts, row + 2 * i);
        break;
      case Strategy::kMinDeque:
      case Strategy::kMaxDeque: {
        if (x.null || IsNaN(x, t)) break;
        const int sign = StrategyOf(c) == Strategy::kMinDeque ? 1 : -1;
        // Rows that can never be the extreme again (an equal or better newer row exists) go.
        while (!q.empty() && sign * CompareValues(t, RowOfSeq(q.back())[2 * i], x) >= 0) q.pop_back();
        q.push_back(seq);
        break;
      }
      case Strategy::kEdge:
        if (!x.null) q.push_back(seq);
        break;
      case Strategy::kRecompute: break;
    }
  }
}

void SlidingWindow::Evict(const AggregateSet& set, int64_t cutoff_ms) {
  uint8_t* state = reinterpret_cast<uint8_t*>(state_.get());
  const uint64_t old_head = head_seq_;
  while (count_ > 0 && ts_[head_slot_] <= cutoff_ms) {
    const Value* row = Row(0);
    for (size_t i = 0; i < set.size(); ++i) {
      const CompiledAgg& c = set.compiled(i);
      if (StrategyOf(c) == Strategy::kRetract) RetractOne(c, state + c.offset, row + 2 * i);
    }
    head_slot_ = (head_slot_ + 1) & (cap_rows_ - 1);
    --count_;
    ++head_seq_;
  }
  if (head_seq_ == old_head) return;
  for (auto& q : seqs_)
    while (!q.empty() && q.front() < head_seq_) q.pop_front();
}

void SlidingWindow::Results(const AggregateSet& set, Value* out, Arena* arena) {
  const uint8_t* state = reinterpret_cast<const uint8_t*>(state_.get());
  for (size_t i = 0; i < set.size(); ++i) {
    const CompiledAgg& c = set.compiled(i);
    Ring<uint64_t>& q = seqs_[i];
    const FieldType t = c.spec.arg_type;
    switch (StrategyOf(c)) {
      case Strategy::kRetract: ResultOne(c, state + c.offset, out + i, arena); break;
      case Strategy::kMinDeque:
      case Strategy::kMaxDeque:
        out[i] = q.empty() ? Value::Null() : CopyToArena(RowOfSeq(q.front())[2 * i], t, arena);
        break;
      case Strategy::kEdge: {
        const bool first = c.op == kOpFirst;
        out[i] = q.empty() ? Value::Null() : CopyToArena(RowOfSeq(first ? q.front() : q.back())[2 * i], t, arena);
        break;
      }
      case Strategy::kRecompute: {
        uint64_t mem[kMaxStateWords] = {};
        uint8_t* tmp = reinterpret_cast<uint8_t*>(mem);
        for (size_t r = 0; r < count_; ++r) AddOne(c, tmp, ts_[Slot(r)], Row(r) + 2 * i);
        ResultOne(c, tmp, out + i, arena);
        DestroyOne(c, tmp);
        break;
      }
    }
  }
}

void SlidingWindow::Add(const AggregateSet& set, int64_t range_ms, int64_t event_time_ms, const Value* args, Value* out,
                        Arena* arena) {
  if (!state_) InitFor(set);
  Evict(set, Cutoff(range_ms, event_time_ms));
  Push(set, event_time_ms, args, /*add_to_state=*/true);
  Results(set, out, arena);
}

void SlidingWindow::Insert(const AggregateSet& set, int64_t range_ms, int64_t event_time_ms, const Value* args) {
  if (!state_) InitFor(set);
  Evict(set, Cutoff(range_ms, event_time_ms));
  Push(set, event_time_ms, args, /*add_to_state=*/true);
}

void SlidingWindow::ResultsAt(const AggregateSet& set, int64_t range_ms, int64_t t, Value* out, Arena* arena) {
  if (!state_) InitFor(set);
  Evict(set, Cutoff(range_ms, t));
  Results(set, out, arena);
}

void SlidingWindow::InsertAnyOrder(const AggregateSet& set, int64_t range_ms, int64_t event_time_ms,
                                   const Value* args) {
  if (count_ == 0 || ts_[Slot(count_ - 1)] <= event_time_ms) return Insert(set, range_ms, event_time_ms, args);
  // Copy the rows out (their strings too: Destroy frees the blobs), then push them back in order.
  struct Kept {
    int64_t ts;
    std::vector<Value> vals;
    std::vector<std::string> strings;
  };
  std::vector<Kept> rows;
  rows.reserve(count_ + 1);
  auto is_string = [&](size_t i) {
    const CompiledAgg& c = set.compiled(i / 2);
    const int j = static_cast<int>(i % 2);
    return KeepsArg(c, j) && ArgType(c, j) == FieldType::kString;
  };
  auto keep = [&](int64_t ts, const Value* vals) {
    Kept k;
    k.ts = ts;
    k.vals.assign(vals, vals + width_);
    for (size_t i = 0; i < k.vals.size(); ++i) {
      if (!k.vals[i].null && is_string(i)) k.strings.emplace_back(k.vals[i].sv());
    }
    rows.push_back(std::move(k));
  };
  bool placed = false;
  for (size_t i = 0; i < count_; ++i) {
    const int64_t ts = ts_[Slot(i)];
    if (!placed && ts > event_time_ms) {
      keep(event_time_ms, args);
      placed = true;
    }
    keep(ts, Row(i));
  }
  Destroy(set);
  InitFor(set);
  for (Kept& k : rows) {
    // Point string Values at this row's own copies (taken in the same order).
    size_t s = 0;
    for (size_t i = 0; i < k.vals.size(); ++i) {
      if (!k.vals[i].null && is_string(i)) k.vals[i] = Value::String(k.strings[s++]);
    }
    Push(set, k.ts, k.vals.data(), /*add_to_state=*/true);
  }
  // Nothing newer arrived, so the range still ends at the newest row.
  Evict(set, Cutoff(range_ms, ts_[Slot(count_ - 1)]));
}

void SlidingWindow::ResultsOver(const AggregateSet& set, int64_t lo, int64_t hi, Value* out, Arena* arena) const {
  thread_local std::vector<uint64_t> block;
  block.assign(std::max<size_t>((set.state_size() + 7) / 8, 1), 0);
  uint8_t* state = reinterpret_cast<uint8_t*>(block.data());
  set.Init(state);
  for (size_t i = 0; i < count_; ++i) {
    const int64_t ts = ts_[Slot(i)];
    if (ts > lo && ts <= hi) set.Add(state, ts, Row(i));
  }
  set.Result(state, out, arena);
  set.Destroy(state);
}

bool SlidingWindow::Expire(const AggregateSet& set, int64_t range_ms, int64_t t) {
  if (!state_) return true;
  Evict(set, Cutoff(range_ms, t));
  return count_ == 0;
}

size_t SlidingWindow::HeapBytes() const {
  size_t b = ts_.capacity() * sizeof(int64_t) + vals_.capacity() * sizeof(Value) + blobs_.capacity() * sizeof(Blob) +
             seqs_.capacity() * sizeof(Ring<uint64_t>);
  for (const Blob& blob : blobs_) b += blob.capacity;
  for (const auto& q : seqs_) b += q.capacity() * sizeof(uint64_t);
  if (state_) b += set_->HeapBytes(reinterpret_cast<const uint8_t*>(state_.get()));
  return b;
}

void SlidingWindow::Destroy(const AggregateSet& set) {
  if (state_) set.Destroy(reinterpret_cast<uint8_t*>(state_.get()));
  *this = SlidingWindow();
}

// Checkpoint form: varint rows; per row: fixed64 event time, then per kept argument a byte
// (0 null, 1 value) and the value (strings length-prefixed, others 8 bytes); then the
// AggregateSet's own encoding of the state.
void SlidingWindow::Serialize(const AggregateSet& set, std::string* out) const {
  PutVarint64(count_, out);
  for (size_t r = 0; r < count_; ++r) {
    PutFixed64(static_cast<uint64_t>(ts_[Slot(r)]), out);
    const Value* row = Row(r);
    for (size_t i = 0; i < set.size(); ++i) {
      const CompiledAgg& c = set.compiled(i);
      for (int j = 0; j < 2; ++j) {
        if (!KeepsArg(c, j)) continue;
        const Value& v = row[2 * i + j];
        PutU8(out, v.null ? 0 : 1);
        if (v.null) continue;
        const FieldType t = ArgType(c, j);
        if (t == FieldType::kString)
          PutBytes(out, v.sv());
        else if (t == FieldType::kBool)
          PutFixed64(v.b ? 1 : 0, out);
        else
          PutFixed64(static_cast<uint64_t>(v.i64), out);
      }
    }
  }
  if (state_) {
    set.Serialize(reinterpret_cast<const uint8_t*>(state_.get()), out);
  } else {
    std::vector<uint64_t> empty((set.state_size() + 7) / 8 + 1, 0);
    set.Serialize(reinterpret_cast<const uint8_t*>(empty.data()), out);
  }
}

Status SlidingWindow::Deserialize(const AggregateSet& set, std::string_view* in) {
  Destroy(set);
  InitFor(set);
  uint64_t rows;
  if (!GetVarint64(in, &rows) || rows > in->size() / 8) return DataLoss("sliding window: bad row count");
  std::vector<Value> args(width_);
  int64_t prev_ts = INT64_MIN;
  for (uint64_t r = 0; r < rows; ++r) {
    int64_t ts;
    if (!GetI64(in, &ts) || ts < prev_ts) return DataLoss("sliding window: bad row time");
    prev_ts = ts;
    for (size_t i = 0; i < set.size(); ++i) {
      const CompiledAgg& c = set.compiled(i);
      for (int j = 0; j < 2; ++j) {
        Value& v = args[2 * i + j];
        v = Value::Null();
        if (!KeepsArg(c, j)) continue;
        uint8_t present;
        if (!GetU8(in, &present) || present > 1) return DataLoss("sliding window: bad value flag");
        if (!present) continue;
        const FieldType t = ArgType(c, j);
        if (t == FieldType::kString) {
          std::string_view s;
          if (!GetBytes(in, &s)) return DataLoss("sliding window: truncated string");
          v = Value::String(s);  // Push copies it before *in moves on
        } else {
          int64_t x;
          if (!GetI64(in, &x)) return DataLoss("sliding window: truncated value");
          if (t == FieldType::kBool) {
            if (x != 0 && x != 1) return DataLoss("sliding window: bad bool");
            v = Value::Bool(x == 1);
          } else {
            v = Value::Int(x);  // the 8 bytes of an int64, timestamp or double
          }
        }
      }
    }
    Push(set, ts, args.data(), /*add_to_state=*/false);
  }
  return set.Deserialize(in, reinterpret_cast<uint8_t*>(state_.get()));
}

}  // namespace impulse::agg
