// FlatStringMap<V>: an open-addressing hash map from byte-string keys to V, for the memory state
// backend. Linear probing over one array of slots that hold the full 64-bit hash, the key and
// the value inline, so a hit costs one probe sequence in contiguous memory plus (for keys over
// 15 bytes) the key's own buffer, where a node-based map chases bucket -> node -> key. Erase
// shifts later entries back (no tombstones). The load factor stays in (0.35, 0.7]; growth
// doubles the array and moves every entry.
// Pointers to values are invalidated by Insert (growth) and Erase (backward shift): the state
// table's contract already allows that. Capacity is bounded by the caller (entries_max). One thread.
// Each entry carries a one-bit mark in the top bit of its stored hash, for the incremental
// snapshot (MemoryTable::BeginCapture): FlipMarks() unmarks every entry in O(1) by flipping what
// the bit means, Mark() marks one, and Insert marks the entry it adds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace impulse::state::internal {

template <typename V>
class FlatStringMap {
 public:
  struct Slot {
    uint64_t hash = 0;  // 0: empty; the top bit is the entry's mark
    std::string key;
    V value{};
  };

  FlatStringMap() : slots_(kMinCapacity) {}

  V* Find(std::string_view key) {
    Slot* slot = FindSlot(key);
    return slot == nullptr ? nullptr : &slot->value;
  }

  Slot* FindSlot(std::string_view key) {
    const uint64_t h = Hash(key);
    for (size_t i = h & mask(); slots_[i].hash != 0; i = (i + 1) & mask()) {
      if ((slots_[i].hash & ~kMarkBit) == h && slots_[i].key == key) return &slots_[i];
    }
    return nullptr;
  }

  bool Marked(const Slot& slot) const { return (slot.hash & kMarkBit) == mark_; }
  void Mark(Slot& slot) { slot.hash = (slot.hash & ~kMarkBit) | mark_; }
  void FlipMarks() { mark_ ^= kMarkBit; }

  // Precondition: key is absent (the caller just missed it with Find).
  V* Insert(std::string_view key) {
    if ((size_ + 1) * 10 > slots_.size() * kMaxLoadTenths) Grow();
    const uint64_t h = Hash(key);
    size_t i = h & mask();
    while (slots_[i].hash != 0) i = (i + 1) & mask();
    Slot& slot = slots_[i];
    slot.hash = h | mark_;
    slot.key.assign(key);
    ++size_;
    return &slot.value;
  }

  // Returns whether key was present.
  bool Erase(std::string_view key) {
    const uint64_t h = Hash(key);
    size_t i = h & mask();
    for (;; i = (i + 1) & mask()) {
      if (slots_[i].hash == 0) return false;
      if ((slots_[i].hash & ~kMarkBit) == h && slots_[i].key == key) break;
    }
    // Backward shift: move each later entry of the cluster into the hole if the hole lies
    // between its home slot and its position (cyclically).
    for (size_t j = (i + 1) & mask(); slots_[j].hash != 0; j = (j + 1) & mask()) {
      const size_t home = slots_[j].hash & mask();
      const bool hole_in_path = i <= j ? (home <= i || home > j) : (home <= i && home > j);
      if (hole_in_path) {
        slots_[i] = std::move(slots_[j]);
        i = j;
      }
    }
    Slot& hole = slots_[i];
    hole.hash = 0;
    hole.key = std::string();  // release the key's and the value's memory now
    hole.value = V();
    --size_;
    return true;
  }

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  // Slot i of the array (hash 0: empty), for callers that walk positions (a CLOCK hand). Valid
  // until the next Insert/Erase; an Erase may move a later entry into an earlier position.
  Slot& SlotAt(size_t i) { return slots_[i]; }

  template <typename Fn>  // Fn(const std::string& key, V& value) -> bool (false stops)
  bool ForEachUntil(Fn&& fn) {
    for (Slot& slot : slots_) {
      if (slot.hash != 0 && !fn(slot.key, slot.value)) return false;
    }
    return true;
  }

  void Swap(FlatStringMap& other) noexcept {
    slots_.swap(other.slots_);
    std::swap(size_, other.size_);
    std::swap(mark_, other.mark_);
  }

 private:
  static constexpr size_t kMinCapacity = 16;
  static constexpr size_t kMaxLoadTenths = 7;
  static constexpr uint64_t kMarkBit = uint64_t{1} << 63;

  size_t mask() const { return slots_.size() - 1; }

  // Never 0 (empty) and never uses the mark bit; the home slot uses the low bits only.
  static uint64_t Hash(std::string_view key) {
    const uint64_t h = std::hash<std::string_view>{}(key) & ~kMarkBit;
    return h == 0 ? 1 : h;
  }

  void Grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (Slot& slot : old) {
      if (slot.hash == 0) continue;
      size_t i = slot.hash & mask();
      while (slots_[i].hash != 0) i = (i + 1) & mask();
      slots_[i] = std::move(slot);
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
  uint64_t mark_ = 0;  // the stored top bit that means "marked": 0 or kMarkBit
};

}  // namespace impulse::state::internal
