// State values of the window operator, with their checkpoint codecs. Private to window_op.cc
// and its tests.
//
// A value needs its AggregateSet to be built, copied into bytes or freed, but a StateTable
// creates and decodes values on its own (RocksDB cache misses, Restore). The operator therefore
// installs its set for the current thread (AggScope) around every call into its tables; one
// operator runs on one thread at a time.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agg/aggregates.h"
#include "state/state_options.h"

namespace impulse::plan::window_internal {

const agg::AggregateSet* CurrentAggSet();

// Installs the operator's set (and its pane width, which the dense pane form of older
// checkpoints needs to decode) for the current thread.
class AggScope {
 public:
  explicit AggScope(const agg::AggregateSet* set, int64_t slide = 0);
  ~AggScope();
  AggScope(const AggScope&) = delete;
  AggScope& operator=(const AggScope&) = delete;

 private:
  const agg::AggregateSet* previous_;
  int64_t previous_slide_;
};

// One aggregate state block (agg::AggregateSet layout), 8-byte aligned, owned.
class AggBlock {
 public:
  AggBlock() = default;  // empty: allocated (from the current set) on first data()
  ~AggBlock() { Reset(); }
  AggBlock(AggBlock&& o) noexcept : set_(o.set_), data_(std::move(o.data_)) { o.set_ = nullptr; }
  AggBlock& operator=(AggBlock&& o) noexcept {
    if (this != &o) {
      Reset();
      set_ = o.set_;
      data_ = std::move(o.data_);
      o.set_ = nullptr;
    }
    return *this;
  }
  uint8_t* data() {
    if (!data_) Allocate();
    return reinterpret_cast<uint8_t*>(data_.get());
  }
  void Serialize(std::string* out) const;
  Status Deserialize(std::string_view* in);
  size_t HeapBytes() const;
  bool empty() const { return !data_; }

 private:
  void Reset();
  void Allocate();
  const agg::AggregateSet* set_ = nullptr;
  std::unique_ptr<uint64_t[]> data_;
};

// The open panes of one key (tumbling: one pane per window; hopping: panes of `slide`), in
// one state entry so a window is merged from one lookup. Sparse, by start: only panes that hold
// data exist, so a far jump in event time costs one pane, not one per slide in between.
struct KeyPanes {
  struct Pane {
    int64_t start = 0;  // covers [start, start + slide)
    AggBlock agg;
  };
  std::vector<Pane> panes;
  int64_t last_emitted_end = INT64_MIN;  // dedups a key listed in several panes of a window
  // The pane starting at ps, created if absent (*created). Null when creating it would make
  // more than max_panes: the caller refuses the row (a per-key memory bound).
  AggBlock* PaneAt(int64_t ps, size_t max_panes, bool* created);
  // Drops panes starting before `start`; true when none is left.
  bool DropBefore(int64_t start);
  void Serialize(std::string* out) const;
  // Also reads the dense form older checkpoints wrote (one slot per slide from a base).
  Status Deserialize(std::string_view in);
};

// The open sessions of one key, disjoint, by start.
struct Session {
  int64_t start = 0;
  int64_t end = 0;  // last event time + gap (exclusive)
  AggBlock agg;
};
struct SessionList {
  std::vector<Session> sessions;
  void Serialize(std::string* out) const;
  Status Deserialize(std::string_view in);
};

}  // namespace impulse::plan::window_internal
