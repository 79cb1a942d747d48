// What executors need from the ActionRuntime (private to src/action): the I/O context, the
// clock, a random source for jitter, and a hook that Stop() calls so an executor can finish its
// queued and in-flight firings with kSkipped "stopped". Also the retry helpers that the webhook
// and agent executors share (backoff with full jitter, Retry-After, which HTTP answers retry).
//
// Lifetime: executors keep a std::shared_ptr<RuntimeInternals> (Share()), so the object outlives
// the ActionRuntime. After Stop() the io_context is gone: code off the I/O threads reaches it only
// through Post(), which refuses once stopped; code on the I/O threads (inside posted functions and
// Asio handlers) may use io() directly. Asio objects (sockets, timers) must be owned by handlers
// (shared_ptr captured in the completion), never by an executor's long-lived state, so that
// destroying the io_context at Stop() frees them.
#pragma once

#include <utility>  // before Asio with g++ 12 / C++20

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "action/action.h"

namespace impulse::action {

class RuntimeInternals : public std::enable_shared_from_this<RuntimeInternals> {
 public:
  // `clock` null: Clock::Real(). `seed` 0: seeded from std::random_device.
  static std::shared_ptr<RuntimeInternals> Make(Clock* clock, uint64_t seed);
  ~RuntimeInternals();

  // Runs `fn` on an I/O thread. False (and `fn` is dropped unrun) once Stop() has begun.
  // Thread-safe.
  bool Post(std::function<void()> fn);
  // Only on an I/O thread (inside a posted function or an Asio handler).
  boost::asio::io_context& io() { return *io_; }
  Clock* clock() const { return clock_; }
  // Uniform in [0, bound] (inclusive). Thread-safe.
  uint64_t RandomUpTo(uint64_t bound);
  bool stopped() const;

  // `hook` runs once, on the thread calling Stop(), before the I/O threads are stopped; it must
  // complete the executor's pending firings (kSkipped "stopped") and make later results no-ops.
  // Returns an id for RemoveStopHook (an executor's destructor). Adding after Stop: the hook
  // is not kept and 0 is returned.
  uint64_t AddStopHook(std::function<void()> hook);
  void RemoveStopHook(uint64_t id);

  // A reference that keeps this object alive (executors hold one).
  std::shared_ptr<RuntimeInternals> Share() const {
    return std::const_pointer_cast<RuntimeInternals>(shared_from_this());
  }

  // Starts `threads` I/O threads (the ActionRuntime calls it once).
  void Start(uint32_t threads);
  // Runs the stop hooks, stops and joins the I/O threads, destroys the io_context (and with it
  // every handler not yet run). Idempotent. Never from an I/O thread.
  void Stop();

 private:
  RuntimeInternals(Clock* clock, uint64_t seed);

  Clock* const clock_;
  mutable std::mutex mu_;  // guards stopped_, hooks_, io_ (pointer) for Post
  bool stopped_ = false;
  uint64_t next_hook_id_ = 1;
  std::map<uint64_t, std::function<void()>> hooks_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::mutex stop_mu_;  // serialises Stop()
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

// Exponential backoff with full jitter: uniform in [0, min(max_ms, initial_ms * 2^(retry-1))],
// retry counted from 1.
int64_t FullJitterBackoffMs(RuntimeInternals& rt, int retry, int64_t initial_ms, int64_t max_ms);

// Retry-After: delta-seconds or an HTTP date (IMF-fixdate, RFC 850, asctime), as a delay from
// `now_ms` (wall clock), at least 0. nullopt when the value is neither.
std::optional<int64_t> ParseRetryAfterMs(std::string_view value, int64_t now_ms);

// 408, 429 and 5xx are worth retrying; other non-2xx answers are permanent.
inline bool IsRetryableHttpStatus(int status) { return status == 408 || status == 429 || status >= 500; }

// Defined in agent.cc (another engineer's); agent_pending.cc returns kFailedPrecondition
// (the status codes have no Unimplemented) until then.
Result<std::unique_ptr<Executor>> NewAgentExecutor(const RuntimeInternals& internals, const AgentOptions& options);

// Defined in webhook.cc.
Result<std::unique_ptr<Executor>> NewWebhookExecutor(const RuntimeInternals& internals, const WebhookOptions& options);

}  // namespace impulse::action
