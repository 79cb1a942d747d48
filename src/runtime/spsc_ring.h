// A bounded single-producer/single-consumer ring of T (movable). Lock-free: one atomic store per
// push/pop, indices cached on each side to avoid cross-core traffic. Capacity is a power of two.
// Thread contract: exactly one producer thread calls TryPush/FreeSlots; exactly one consumer
// thread calls TryPop/Size; any thread may call ApproxSize (metrics).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <utility>

#include "impulse/status.h"

namespace impulse::runtime {

inline constexpr size_t kCacheLine = 64;

template <typename T>
class SpscRing {
 public:
  explicit SpscRing(size_t capacity) {
    size_t c = 1;
    while (c < capacity) c <<= 1;
    capacity_ = c;
    mask_ = c - 1;
    slots_ = std::make_unique<std::optional<T>[]>(c);
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return capacity_; }

  // Producer. Returns false (and leaves `v` untouched) when full.
  bool TryPush(T& v) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ >= capacity_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ >= capacity_) return false;
    }
    slots_[tail & mask_].emplace(std::move(v));
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Producer. Free slots now; only grows until the producer pushes again, so a producer may
  // check several rings before pushing to all of them.
  size_t FreeSlots() {
    head_cache_ = head_.load(std::memory_order_acquire);
    return capacity_ - (tail_.load(std::memory_order_relaxed) - head_cache_);
  }

  // Consumer. Returns false when empty.
  bool TryPop(T* out) {
    const size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) return false;
    }
    std::optional<T>& slot = slots_[head & mask_];
    *out = std::move(*slot);
    slot.reset();
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer: whether anything is queued (exact for the consumer).
  bool Empty() const { return head_.load(std::memory_order_relaxed) == tail_.load(std::memory_order_acquire); }

  // Any thread; approximate while others run.
  size_t ApproxSize() const {
    const size_t t = tail_.load(std::memory_order_acquire);
    const size_t h = head_.load(std::memory_order_acquire);
    return t >= h ? t - h : 0;
  }

 private:
  size_t capacity_ = 0;
  size_t mask_ = 0;
  std::unique_ptr<std::optional<T>[]> slots_;
  alignas(kCacheLine) std::atomic<size_t> head_{0};  // consumer-owned
  size_t tail_cache_ = 0;                            // consumer's view of tail_
  alignas(kCacheLine) std::atomic<size_t> tail_{0};  // producer-owned
  size_t head_cache_ = 0;                            // producer's view of head_
};

}  // namespace impulse::runtime
