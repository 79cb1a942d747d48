#include "runtime/read_waiters.h"

#include <chrono>

namespace impulse::runtime {
namespace {
int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

bool ReadWaiters::Readable(const Waiter& w) const {
  for (uint32_t p = 0; p < w.positions.size(); ++p) {
    if (end_(w.stream, p) > w.positions[p]) return true;
  }
  return false;
}

Status ReadWaiters::Add(uint32_t stream, std::vector<uint64_t> positions, int64_t deadline_ns,
                        std::function<void(bool)> done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return FailedPrecondition("the engine is stopping");
  if (waiters_.size() >= max_) {
    return Unavailable("already " + std::to_string(max_) + " reads waiting for events (the bound); retry later");
  }
  waiters_.push_back({stream, std::move(positions), deadline_ns, std::move(done)});
  // Raised before the thread's next check of the ends (under mu_), so a shard making records
  // readable after that check sees it and notifies.
  waiting_.store(waiters_.size(), std::memory_order_seq_cst);
  signalled_ = true;  // the new waiter is checked at once
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { Run(); });
  } else {
    cv_.notify_one();
  }
  return Status::OK();
}

void ReadWaiters::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!closed_) {
    signalled_ = false;
    // Dekker with Notify: this thread raises waiting_ and, after a seq_cst fence, reads the
    // ends; a shard writes the ends and, after its fence, reads waiting_. Both on this thread,
    // so the fence orders them (Add's store is on another thread).
    waiting_.store(waiters_.size(), std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const int64_t now = SteadyNowNs();
    std::vector<std::pair<std::function<void(bool)>, bool>> answers;
    int64_t next_deadline = INT64_MAX;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      const bool readable = Readable(*it);
      if (readable || it->deadline_ns <= now) {
        answers.emplace_back(std::move(it->done), readable);
        it = waiters_.erase(it);
      } else {
        next_deadline = std::min(next_deadline, it->deadline_ns);
        ++it;
      }
    }
    waiting_.store(waiters_.size(), std::memory_order_seq_cst);
    if (!answers.empty()) {
      // Outside the lock: a callback may register a new waiter.
      lock.unlock();
      for (auto& [done, readable] : answers) done(readable);
      lock.lock();
      continue;
    }
    if (signalled_ || closed_) continue;
    if (next_deadline == INT64_MAX) {
      cv_.wait(lock, [&] { return signalled_ || closed_; });
    } else {
      cv_.wait_for(lock, std::chrono::nanoseconds(next_deadline - now), [&] { return signalled_ || closed_; });
    }
  }
}

void ReadWaiters::Close() {
  std::list<Waiter> left;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_) {
      // Only the first caller joins and answers; the others return once it has, so that no
      // caller (Stop, then the engine's destructor) outlives a callback still running.
      close_done_cv_.wait(lock, [&] { return close_done_; });
      return;
    }
    closed_ = true;
    left.swap(waiters_);
    waiting_.store(0, std::memory_order_seq_cst);
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  for (Waiter& w : left) w.done(false);
  {
    std::lock_guard<std::mutex> lock(mu_);
    close_done_ = true;
  }
  close_done_cv_.notify_all();
}

}  // namespace impulse::runtime
