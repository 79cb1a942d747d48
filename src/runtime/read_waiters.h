// Callers waiting for a stream to have records past a position (Engine::WaitReadable): the
// long-poll behind GET /v1/streams/{s}/events?wait_ms=N. One thread, started with the first
// waiter, sleeps until a shard reports that records may have become readable (Notify) or the
// nearest deadline passes; it never polls.
//
// Lost-wakeup protocol: a waiter is registered (waiting_ raised, seq_cst) before the thread
// checks the ends under mu_ and then sleeps on cv_ under mu_. A shard makes records readable,
// then (after a seq_cst fence) loads waiting_: if set it takes mu_ and notifies. Either the
// load sees the waiter, and the notify cannot slip between the check and the sleep (both
// under mu_), or the waiter's check sees the records.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "impulse/status.h"

namespace impulse::runtime {

class ReadWaiters {
 public:
  // readable_end(stream, partition): the records a reader may read (any thread).
  using EndFn = std::function<uint64_t(uint32_t stream, uint32_t partition)>;
  ReadWaiters(EndFn readable_end, size_t max_waiters) : end_(std::move(readable_end)), max_(max_waiters) {}
  ~ReadWaiters() { Close(); }
  ReadWaiters(const ReadWaiters&) = delete;
  ReadWaiters& operator=(const ReadWaiters&) = delete;

  // Registers a waiter (see Engine::WaitReadable); `positions` has one entry per partition.
  // kUnavailable beyond max_waiters, kFailedPrecondition once closed.
  Status Add(uint32_t stream, std::vector<uint64_t> positions, int64_t deadline_ns, std::function<void(bool)> done);

  // From a shard, after records may have become readable: cheap when nobody waits.
  void Notify() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiting_.load(std::memory_order_seq_cst) == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    signalled_ = true;
    cv_.notify_one();
  }

  // Answers every waiter with false, refuses new ones, joins the thread. Idempotent: a
  // concurrent call returns once the first has answered every waiter. Not from a callback.
  void Close();

  size_t waiting() const { return waiting_.load(std::memory_order_relaxed); }

 private:
  struct Waiter {
    uint32_t stream;
    std::vector<uint64_t> positions;
    int64_t deadline_ns;
    std::function<void(bool)> done;
  };
  bool Readable(const Waiter& w) const;
  void Run();

  const EndFn end_;
  const size_t max_;
  std::atomic<size_t> waiting_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool signalled_ = false;   // guarded by mu_: a Notify since the thread last checked
  bool closed_ = false;      // guarded by mu_
  bool close_done_ = false;  // guarded by mu_: the first Close has answered every waiter
  std::condition_variable close_done_cv_;
  std::list<Waiter> waiters_;  // guarded by mu_
  std::thread thread_;         // started with the first waiter
};

}  // namespace impulse::runtime
