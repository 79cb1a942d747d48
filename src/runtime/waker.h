// Sleeps a consumer thread until a producer signals it or a timeout passes, without any cost
// on the producer side while the consumer is awake (one relaxed-ish load). Built on a Linux
// futex so an idle shard uses no CPU.
//
// Protocol (Dekker-style, seq_cst on both sides so a signal is never lost):
//   consumer: token = PrepareWait(); if (nothing queued) Wait(token, timeout); CancelWait();
//   producer: push to a ring; Signal();
#pragma once

#include <atomic>
#include <cstdint>

namespace impulse::runtime {

class Waker {
 public:
  uint32_t PrepareWait() {
    const uint32_t token = seq_.load(std::memory_order_seq_cst);
    sleeping_.store(true, std::memory_order_seq_cst);
    // The consumer's re-check of its rings must not move before the store above.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return token;
  }
  // Returns when Signal() was called after PrepareWait(), on timeout, or spuriously.
  void Wait(uint32_t token, int64_t timeout_ms);
  void CancelWait() { sleeping_.store(false, std::memory_order_relaxed); }

  void Signal() {
    // The producer's ring store (release only) must not move after the load below, or both
    // sides could miss each other (store-load reordering).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Only the first producer to find the consumer asleep wakes it: the others would each pay a
    // futex call for a thread already woken, which drains every ring before it sleeps again
    // (and its next PrepareWait makes their later pushes visible to it or it to them).
    if (sleeping_.load(std::memory_order_seq_cst) && sleeping_.exchange(false, std::memory_order_seq_cst)) {
      seq_.fetch_add(1, std::memory_order_seq_cst);
      Wake();
    }
  }

  // Whether the consumer is between PrepareWait and CancelWait and no Signal woke it yet (any
  // thread).
  bool sleeping() const { return sleeping_.load(std::memory_order_seq_cst); }
  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  void Wake();
  std::atomic<uint32_t> seq_{0};
  std::atomic<bool> sleeping_{false};
  std::atomic<uint64_t> wakeups_{0};
};

}  // namespace impulse::runtime
