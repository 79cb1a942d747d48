// In-memory events: a RowBatch holds rows of Values of one schema, with their strings in the
// batch's arena. Batches are reused (Clear keeps capacity), so steady state allocates nothing
// per event.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "impulse/schema.h"

namespace impulse {

// One field value. The type is known from the schema (or the compiled expression), not stored.
struct Value {
  union {
    int64_t i64;      // kInt64, kTimestamp (ms)
    double f64;       // kDouble
    bool b;           // kBool
    const char* str;  // kString: points into an arena, not NUL-terminated
  };
  uint32_t len = 0;  // kString length
  bool null = true;

  Value() : i64(0) {}
  static Value Null() { return Value(); }
  static Value Int(int64_t v) {
    Value x;
    x.i64 = v;
    x.null = false;
    return x;
  }
  static Value Double(double v) {
    Value x;
    x.f64 = v;
    x.null = false;
    return x;
  }
  static Value Bool(bool v) {
    Value x;
    x.i64 = 0;
    x.b = v;
    x.null = false;
    return x;
  }
  static Value String(std::string_view s) {
    Value x;
    x.str = s.data();
    x.len = static_cast<uint32_t>(s.size());
    x.null = false;
    return x;
  }
  std::string_view sv() const { return {str, len}; }
};
static_assert(sizeof(Value) == 16);

// A bump allocator for strings. Chunks are never moved, so pointers stay valid until Clear().
// Clear() keeps the first chunk to avoid re-allocating in steady state.
class Arena {
 public:
  explicit Arena(size_t chunk_bytes = size_t{64} * 1024) : chunk_bytes_(chunk_bytes) {}
  Arena(Arena&&) = default;
  Arena& operator=(Arena&&) = default;

  char* Allocate(size_t n);
  std::string_view Copy(std::string_view s) {
    if (s.empty()) return {};
    char* p = Allocate(s.size());
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }
  void Clear();
  size_t bytes_used() const { return used_total_; }

 private:
  struct Chunk {
    std::unique_ptr<char[]> data;
    size_t size;
  };
  size_t chunk_bytes_;
  std::vector<Chunk> chunks_;
  size_t chunk_index_ = 0;
  size_t pos_ = 0;
  size_t used_total_ = 0;
};

// Per-row metadata carried beside the values.
struct RowMeta {
  int64_t event_time_ms = 0;
  int64_t ingest_time_ms = 0;
  uint64_t offset = 0;  // offset in its stream partition, once appended
  uint32_t partition = 0;
  uint32_t line = 0;  // 1-based NDJSON line the row came from (0 if none)
  // The input watermark in effect when the row reached its pipeline (set by the runtime,
  // carried through stateless steps): stateful operators advance to it before the row, so
  // lateness depends on the input order only, not on how rows were batched.
  int64_t watermark_ms = INT64_MIN;
};

class RowBatch {
 public:
  RowBatch() = default;
  explicit RowBatch(size_t width) : width_(width) {}
  RowBatch(RowBatch&&) = default;
  RowBatch& operator=(RowBatch&&) = default;

  void Reset(size_t width) {
    Clear();
    width_ = width;
  }
  size_t width() const { return width_; }
  size_t size() const { return meta_.size(); }
  bool empty() const { return meta_.empty(); }

  // Appends a row of null values and returns a pointer to its `width` values. The pointer is
  // valid until the next AppendRow/Clear.
  Value* AppendRow() {
    meta_.emplace_back();
    values_.resize(values_.size() + width_);
    return values_.data() + values_.size() - width_;
  }
  void PopRow() {
    meta_.pop_back();
    values_.resize(values_.size() - width_);
  }
  Value* row(size_t i) { return values_.data() + i * width_; }
  const Value* row(size_t i) const { return values_.data() + i * width_; }
  RowMeta& meta(size_t i) { return meta_[i]; }
  const RowMeta& meta(size_t i) const { return meta_[i]; }
  Arena& arena() { return arena_; }

  void Clear() {
    values_.clear();
    meta_.clear();
    arena_.Clear();
  }

  // Copies row `i` of `src` (same width) into this batch, strings included.
  void AppendCopy(const RowBatch& src, size_t i);

 private:
  size_t width_ = 0;
  std::vector<Value> values_;
  std::vector<RowMeta> meta_;
  Arena arena_;
};

}  // namespace impulse
