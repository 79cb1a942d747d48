// The webhook executor: POSTs each firing's payload to one endpoint with retries (exponential
// backoff, full jitter, Retry-After), a concurrency limit, a bounded queue and a circuit breaker.
//
// A firing holds one of `concurrency_max` slots from its first attempt to its outcome (backoff
// waits included), so at most that many requests are ever in flight; others wait in the queue
// (at most `queue_max`), then Submit refuses.
//
// Circuit breaker (one per executor, i.e. per endpoint):
//   closed    attempts go out. `breaker_failures` consecutive failed attempts (connection error,
//             timeout, 408, 429, 5xx) -> open.
//   open      no attempt goes out for `breaker_open_ms`; firings that want to try wait (holding
//             their slot, using no retry budget) -> then half-open.
//   half-open exactly one waiting attempt goes out as the probe. Success (any answer that is not
//             a failure) -> closed, waiters go; failure -> open again for `breaker_open_ms`.
// Any non-failure answer resets the consecutive count. breaker_failures = 0 disables it.
//
// Threads: Submit and stats from any thread; everything else on the runtime's I/O threads under
// `mu_`; `done` is called with no lock held.
#include <utility>  // before Asio with g++ 12 / C++20

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "action/http_client.h"
#include "action/internal.h"

namespace impulse::action {
namespace {

constexpr size_t kErrorBodyBytes = 200;  // of the response body quoted in a dead letter's error
constexpr int kRetriesMaxLimit = 1'000;

struct Job {
  uint64_t id = 0;
  Firing firing;
  std::function<void(Outcome)> done;
  int attempts = 0;
  int last_status = 0;
  std::string last_error;
  int64_t submit_ns = 0;
  bool finished = false;
  bool probe = false;  // its current attempt is the half-open probe
};
using JobPtr = std::shared_ptr<Job>;

using Completions = std::vector<std::pair<std::function<void(Outcome)>, Outcome>>;

void RunCompletions(Completions& completions) {
  for (auto& [done, outcome] : completions) done(std::move(outcome));
  completions.clear();
}

class WebhookState : public std::enable_shared_from_this<WebhookState> {
 public:
  WebhookState(std::shared_ptr<RuntimeInternals> rt, WebhookOptions options)
      : rt_(std::move(rt)), options_(std::move(options)) {}

  bool Submit(Firing firing, std::function<void(Outcome)> done) {
    auto job = std::make_shared<Job>();
    job->firing = std::move(firing);
    job->done = std::move(done);
    job->submit_ns = rt_->clock()->NowNs();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return false;
      if (active_.size() < options_.concurrency_max) {
        job->id = next_id_++;
        active_.emplace(job->id, job);
        StartLocked(job);
      } else if (queue_.size() < options_.queue_max) {
        job->id = next_id_++;
        queue_.push_back(job);
      } else {
        return false;
      }
      ++stats_.submitted;
    }
    return true;
  }

  ExecutorStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    ExecutorStats s = stats_;
    s.inflight = active_.size();
    s.queued = queue_.size();
    s.breaker_open = breaker_ != BreakerState::kClosed;
    return s;
  }

  // Completes every pending firing with kSkipped `reason`; later results are ignored.
  void Shutdown(const std::string& reason) {
    Completions completions;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      std::vector<JobPtr> jobs;
      for (auto& [id, job] : active_) jobs.push_back(job);
      for (auto& job : queue_) jobs.push_back(job);
      active_.clear();
      queue_.clear();
      waiters_.clear();
      std::sort(jobs.begin(), jobs.end(), [](const JobPtr& a, const JobPtr& b) { return a->id < b->id; });
      for (auto& job : jobs) {
        if (job->finished) continue;
        job->finished = true;
        ++stats_.skipped;
        Outcome o;
        o.kind = Outcome::Kind::kSkipped;
        o.attempts = job->attempts;
        o.http_status = job->last_status;
        o.error = reason;
        o.latency_ns = rt_->clock()->NowNs() - job->submit_ns;
        completions.emplace_back(std::move(job->done), std::move(o));
      }
    }
    RunCompletions(completions);
  }

 private:
  enum class BreakerState { kClosed, kOpen, kHalfOpen };

  // Runs `fn` on an I/O thread after `delay_ms` (dropped if the runtime stops first).
  void After(int64_t delay_ms, std::function<void()> fn) {
    rt_->Post([rt = rt_.get(), delay_ms, fn = std::move(fn)]() mutable {
      auto timer = std::make_shared<boost::asio::steady_timer>(rt->io(), std::chrono::milliseconds(delay_ms));
      timer->async_wait([timer, fn = std::move(fn)](boost::system::error_code ec) {
        if (!ec) fn();
      });
    });
  }

  // The job holds a slot: attempt now, or wait for the breaker.
  void StartLocked(const JobPtr& job) {
    if (options_.breaker_failures > 0) {
      const int64_t now = MonotonicMs();
      if (breaker_ == BreakerState::kOpen && now >= open_until_ms_) breaker_ = BreakerState::kHalfOpen;
      if (breaker_ == BreakerState::kOpen || (breaker_ == BreakerState::kHalfOpen && probe_inflight_)) {
        waiters_.push_back(job);
        if (breaker_ == BreakerState::kOpen) ArmWakeLocked(open_until_ms_ - now);
        return;
      }
      if (breaker_ == BreakerState::kHalfOpen) {
        probe_inflight_ = true;
        job->probe = true;
      }
    }
    auto self = shared_from_this();
    rt_->Post([self, job] { self->Launch(job); });
  }

  // The breaker's time: the injected clock's monotonic reading (tests drive it by hand).
  int64_t MonotonicMs() const { return rt_->clock()->NowNs() / 1'000'000; }

  void ArmWakeLocked(int64_t delay_ms) {
    if (wake_armed_) return;
    wake_armed_ = true;
    std::weak_ptr<WebhookState> weak = weak_from_this();
    After(std::max<int64_t>(0, delay_ms), [weak] {
      if (auto self = weak.lock()) self->Wake();
    });
  }

  // The breaker may let attempts through now: re-evaluate every waiting firing.
  void Wake() {
    std::lock_guard<std::mutex> lock(mu_);
    wake_armed_ = false;
    if (stopped_) return;
    std::vector<JobPtr> waiters;
    waiters.swap(waiters_);
    for (auto& job : waiters) {
      if (!job->finished) StartLocked(job);
    }
  }

  void Launch(const JobPtr& job) {
    HttpRequest req;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (job->finished || stopped_) return;
      ++job->attempts;
      ++stats_.attempts;
      if (job->attempts > 1) ++stats_.retries;
    }
    req.method = "POST";
    req.url = options_.url;
    req.headers["Content-Type"] = "application/json";
    for (const auto& [k, v] : options_.headers) req.headers[k] = v;
    req.headers["Idempotency-Key"] = job->firing.id;
    req.body = job->firing.payload;
    req.timeout_ms = options_.timeout_ms;
    req.response_bytes_max = options_.response_bytes_max;
    auto self = shared_from_this();
    AsyncRequest(rt_->io(), std::move(req), [self, job](const HttpResponse& res) { self->OnResult(job, res); });
  }

  void OnResult(const JobPtr& job, const HttpResponse& res) {
    Completions completions;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (job->finished || stopped_) return;
      job->last_status = res.status;
      // A 2xx whose body is over the limit still delivered the firing.
      bool answered = res.error.ok() || (res.status != 0 && res.error.code() == StatusCode::kResourceExhausted);
      bool success = answered && res.status >= 200 && res.status < 300;
      bool retryable = !answered ? res.error.code() != StatusCode::kInvalidArgument : IsRetryableHttpStatus(res.status);
      if (!answered) {
        job->last_error = res.error.message();
      } else if (!success) {
        job->last_error = "HTTP " + std::to_string(res.status);
        if (!res.body.empty()) job->last_error += ": " + res.body.substr(0, kErrorBodyBytes);
      }
      if (!success) ++stats_.failures;
      UpdateBreakerLocked(job, /*failed=*/!success && retryable);
      if (success) {
        job->last_error.clear();
        FinishLocked(job, Outcome::Kind::kDelivered, "", completions);
      } else if (!retryable) {
        FinishLocked(job, Outcome::Kind::kDeadLetter, job->last_error + " (permanent)", completions);
      } else if (job->attempts > options_.retries_max) {
        std::string what = answered ? "HTTP " + std::to_string(res.status) : res.error.message();
        std::string msg = what + " after " + std::to_string(job->attempts) + " attempts";
        if (answered && !res.body.empty()) msg += ": " + res.body.substr(0, kErrorBodyBytes);
        FinishLocked(job, Outcome::Kind::kDeadLetter, msg, completions);
      } else {
        int64_t delay = FullJitterBackoffMs(*rt_, job->attempts, options_.backoff_initial_ms, options_.backoff_max_ms);
        std::string retry_after = res.Header("retry-after");
        if (answered && !retry_after.empty()) {
          if (auto ms = ParseRetryAfterMs(retry_after, rt_->clock()->NowMs())) {
            delay = std::min(*ms, options_.retry_after_max_ms);
          }
        }
        std::weak_ptr<WebhookState> weak = weak_from_this();
        After(delay, [weak, job] {
          if (auto self = weak.lock()) {
            std::lock_guard<std::mutex> relock(self->mu_);
            if (!job->finished && !self->stopped_) self->StartLocked(job);
          }
        });
      }
    }
    RunCompletions(completions);
  }

  void UpdateBreakerLocked(const JobPtr& job, bool failed) {
    bool was_probe = job->probe;
    job->probe = false;
    if (was_probe) probe_inflight_ = false;
    if (options_.breaker_failures == 0) return;
    if (!failed) {
      consecutive_failures_ = 0;
      if (breaker_ != BreakerState::kClosed) {
        breaker_ = BreakerState::kClosed;
        std::vector<JobPtr> waiters;
        waiters.swap(waiters_);
        for (auto& w : waiters) {
          if (!w->finished) StartLocked(w);
        }
      }
      return;
    }
    ++consecutive_failures_;
    bool open = was_probe || (breaker_ == BreakerState::kClosed && consecutive_failures_ >= options_.breaker_failures);
    if (!open) return;
    breaker_ = BreakerState::kOpen;
    open_until_ms_ = MonotonicMs() + options_.breaker_open_ms;
    ++stats_.breaker_opens;
    if (!waiters_.empty()) ArmWakeLocked(options_.breaker_open_ms);
  }

  // Releases the job's slot, gives it to the oldest queued firing.
  void FinishLocked(const JobPtr& job, Outcome::Kind kind, std::string error, Completions& completions) {
    job->finished = true;
    active_.erase(job->id);
    Outcome o;
    o.kind = kind;
    o.attempts = job->attempts;
    o.http_status = job->last_status;
    o.error = std::move(error);
    o.latency_ns = rt_->clock()->NowNs() - job->submit_ns;
    if (kind == Outcome::Kind::kDelivered) ++stats_.delivered;
    if (kind == Outcome::Kind::kDeadLetter) ++stats_.dead_lettered;
    completions.emplace_back(std::move(job->done), std::move(o));
    while (!queue_.empty() && active_.size() < options_.concurrency_max) {
      JobPtr next = queue_.front();
      queue_.pop_front();
      active_.emplace(next->id, next);
      StartLocked(next);
    }
  }

  const std::shared_ptr<RuntimeInternals> rt_;
  const WebhookOptions options_;
  mutable std::mutex mu_;
  bool stopped_ = false;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, JobPtr> active_;  // holding a slot
  std::deque<JobPtr> queue_;                     // waiting for a slot
  std::vector<JobPtr> waiters_;                  // holding a slot, waiting for the breaker
  ExecutorStats stats_;
  BreakerState breaker_ = BreakerState::kClosed;
  uint32_t consecutive_failures_ = 0;
  int64_t open_until_ms_ = 0;  // MonotonicMs()
  bool probe_inflight_ = false;
  bool wake_armed_ = false;
};

// Contract in action.h (Executor). After the runtime stops, Submit returns false.
class WebhookExecutor final : public Executor {
 public:
  WebhookExecutor(std::shared_ptr<RuntimeInternals> rt, std::shared_ptr<WebhookState> state)
      : rt_(std::move(rt)), state_(std::move(state)) {
    std::weak_ptr<WebhookState> weak = state_;
    hook_id_ = rt_->AddStopHook([weak] {
      if (auto s = weak.lock()) s->Shutdown("stopped");
    });
    if (hook_id_ == 0) state_->Shutdown("stopped");
  }
  ~WebhookExecutor() override {
    rt_->RemoveStopHook(hook_id_);
    state_->Shutdown("executor destroyed");
  }

  bool Submit(Firing firing, std::function<void(Outcome)> done) override {
    return state_->Submit(std::move(firing), std::move(done));
  }
  ExecutorStats stats() const override { return state_->stats(); }

 private:
  std::shared_ptr<RuntimeInternals> rt_;
  std::shared_ptr<WebhookState> state_;
  uint64_t hook_id_ = 0;
};

}  // namespace

Result<std::unique_ptr<Executor>> NewWebhookExecutor(const RuntimeInternals& internals, const WebhookOptions& options) {
  {
    Result<ParsedUrl> url = ParseHttpUrl(options.url);
    if (!url.ok()) return url.status().WithContext("webhook");
  }
  for (const auto& [name, value] : options.headers) {
    Status st = CheckHeaderName(name);
    if (st.ok()) st = CheckHeaderValue(name, value);
    if (!st.ok()) return st.WithContext("webhook");
  }
  if (options.timeout_ms <= 0) return InvalidArgument("webhook timeout_ms must be > 0");
  if (options.retries_max < 0 || options.retries_max > kRetriesMaxLimit) {
    return InvalidArgument("webhook retries_max must be in [0, " + std::to_string(kRetriesMaxLimit) + "]");
  }
  if (options.backoff_initial_ms < 0 || options.backoff_max_ms < options.backoff_initial_ms) {
    return InvalidArgument("webhook backoff: need 0 <= backoff_initial_ms <= backoff_max_ms");
  }
  if (options.retry_after_max_ms < 0 || options.breaker_open_ms < 0) {
    return InvalidArgument("webhook retry_after_max_ms and breaker_open_ms must be >= 0");
  }
  if (options.concurrency_max == 0) return InvalidArgument("webhook concurrency_max must be >= 1");
  if (options.response_bytes_max == 0) return InvalidArgument("webhook response_bytes_max must be >= 1");
  auto rt = internals.Share();
  auto state = std::make_shared<WebhookState>(rt, options);
  return std::unique_ptr<Executor>(new WebhookExecutor(std::move(rt), std::move(state)));
}

}  // namespace impulse::action
