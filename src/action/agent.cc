// The agent executor: one chat completion per firing, with a concurrency limit, a bounded queue,
// the requests/tokens-per-minute budgets, retries with backoff (Retry-After honoured) and the
// maximum event age. The wire format is in agent_wire.cc.
//
// Shape: the Executor object is a thin handle on a shared State; every Asio handler holds a
// shared_ptr to the State and to the Call it serves, and owns its own timer, so destroying the
// io_context at Stop() frees everything. State is guarded by one mutex because the runtime may
// run several I/O threads; `done` callbacks always run outside it.
#include <utility>  // before Asio with g++ 12 / C++20

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "action/agent.h"
#include "action/http_client.h"
#include "action/internal.h"
#include "action/rate_limiter.h"

namespace impulse::action {

namespace {

// A Retry-After longer than this is capped (a misbehaving endpoint must not park a slot for days).
constexpr int64_t kRetryAfterMaxMs = 300'000;
// While a call waits for the rate budget it re-checks at least this often, so a budget freed by a
// usage correction (or a test's manual clock) is noticed without waiting for the full estimate.
constexpr int64_t kRateRecheckMsMax = 1'000;

// One firing between Submit and its outcome.
struct Call {
  Firing firing;
  std::function<void(Outcome)> done;
  int64_t submitted_ns = 0;
  uint64_t estimated_tokens = 0;
  int attempts = 0;
  int http_status = 0;
  std::string last_error;
  bool finished = false;      // set once, under State::mu; later results are dropped
  bool inflight = false;      // holds a concurrency slot (is in State::inflight_)
  bool rate_waiting = false;  // this attempt already waited for the rate budget (counted once)
  std::list<std::shared_ptr<Call>>::iterator inflight_it;
};

struct Completion {
  std::function<void(Outcome)> done;
  Outcome outcome;
};

class State : public std::enable_shared_from_this<State> {
 public:
  State(std::shared_ptr<RuntimeInternals> rt, AgentOptions options, std::string api_key)
      : rt_(std::move(rt)),
        options_(std::move(options)),
        api_key_(std::move(api_key)),
        url_(options_.base_url + "/v1/chat/completions"),
        limiter_({.requests_per_minute = options_.requests_per_minute, .tokens_per_minute = options_.tokens_per_minute},
                 rt_->clock()) {}

  bool Submit(Firing firing, std::function<void(Outcome)> done) {
    auto call = std::make_shared<Call>();
    call->submitted_ns = rt_->clock()->NowNs();
    call->estimated_tokens =
        RateLimiter::EstimateTokens(options_.system_prompt.size() + firing.payload.size(), options_.max_tokens);
    call->firing = std::move(firing);
    call->done = std::move(done);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_ || queue_.size() >= options_.queue_max) return false;
      queue_.push_back(std::move(call));
      ++stats_.submitted;
    }
    // Refused only when Stop() has begun; its hook then skips what is queued.
    (void)rt_->Post([self = shared_from_this()] { self->Pump(); });
    return true;
  }

  ExecutorStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    ExecutorStats s = stats_;
    s.inflight = inflight_.size();
    s.queued = queue_.size();
    return s;
  }

  // The stop hook and the executor's destructor: every pending firing ends kSkipped `why`.
  void StopAll(const std::string& why) {
    std::vector<Completion> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      for (auto& call : queue_) out.push_back(FinishLocked(*call, Outcome::Kind::kSkipped, why));
      queue_.clear();
      while (!inflight_.empty()) {
        auto call = inflight_.front();
        out.push_back(FinishLocked(*call, Outcome::Kind::kSkipped, why));
      }
    }
    Deliver(out);
  }

 private:
  // On an I/O thread: starts queued firings while slots are free.
  void Pump() {
    std::vector<Completion> out;
    std::vector<std::shared_ptr<Call>> start;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (!stopped_ && !queue_.empty() && inflight_.size() < options_.concurrency_max) {
        std::shared_ptr<Call> call = std::move(queue_.front());
        queue_.pop_front();
        const int64_t age_ms = rt_->clock()->NowMs() - call->firing.fired_at_ms;
        if (age_ms > options_.max_event_age_ms) {
          out.push_back(FinishLocked(*call, Outcome::Kind::kSkipped, StaleReason(age_ms, options_.max_event_age_ms)));
          continue;
        }
        inflight_.push_back(call);
        call->inflight = true;
        call->inflight_it = std::prev(inflight_.end());
        start.push_back(std::move(call));
      }
    }
    Deliver(out);
    for (auto& call : start) Attempt(call);
  }

  // On an I/O thread: one attempt, once the rate budget allows it.
  void Attempt(const std::shared_ptr<Call>& call) {
    HttpRequest req;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (call->finished) return;
      const int64_t wait_ms = limiter_.TryAcquire(call->estimated_tokens);
      if (wait_ms > 0) {
        if (!call->rate_waiting) ++stats_.rate_limited;
        call->rate_waiting = true;
        After(std::min(wait_ms, kRateRecheckMsMax), call);
        return;
      }
      call->rate_waiting = false;
      ++stats_.attempts;
      if (call->attempts > 0) ++stats_.retries;
      ++call->attempts;
    }
    req.method = "POST";
    req.url = url_;
    req.headers["Content-Type"] = "application/json";
    if (!api_key_.empty()) req.headers["Authorization"] = "Bearer " + api_key_;
    req.headers["Idempotency-Key"] = call->firing.id;
    req.body = BuildChatRequest(options_, call->firing.payload);
    req.timeout_ms = options_.timeout_ms;
    req.response_bytes_max = options_.response_bytes_max;
    AsyncRequest(rt_->io(), std::move(req),
                 [self = shared_from_this(), call](const HttpResponse& resp) { self->OnResponse(call, resp); });
  }

  void OnResponse(const std::shared_ptr<Call>& call, const HttpResponse& resp) {
    // Classify outside the lock (parsing can take a while on a large answer).
    enum class Next { kDelivered, kRetry, kDeadLetter } next = Next::kRetry;
    std::string error;
    ChatAnswer answer;
    int64_t retry_after_ms = -1;
    if (!resp.error.ok()) {
      error = resp.timed_out ? "timeout: " + resp.error.message() : resp.error.ToString();
      // A malformed request or an answer over the size limit will not get better by retrying.
      const StatusCode code = resp.error.code();
      if (!resp.timed_out && (code == StatusCode::kInvalidArgument || code == StatusCode::kResourceExhausted)) {
        next = Next::kDeadLetter;
      }
    } else if (resp.status >= 200 && resp.status < 300) {
      auto parsed = ParseChatResponse(resp.body, options_.json);
      if (parsed.ok()) {
        answer = std::move(parsed).value();
        next = Next::kDelivered;
      } else {
        error = parsed.status().message();  // a failed attempt: the model may answer better next time
      }
    } else {
      error = "HTTP " + std::to_string(resp.status) + ": " + SummarizeErrorBody(resp.body);
      if (!IsRetryableHttpStatus(resp.status)) next = Next::kDeadLetter;
      if (auto ra = ParseRetryAfterMs(resp.Header("retry-after"), rt_->clock()->NowMs())) {
        retry_after_ms = std::min(*ra, kRetryAfterMaxMs);
      }
    }

    std::vector<Completion> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (call->finished) return;
      call->http_status = resp.status;
      if (answer.has_usage) limiter_.Correct(call->estimated_tokens, answer.total_tokens);
      if (next == Next::kDelivered) {
        out.push_back(FinishLocked(*call, Outcome::Kind::kDelivered, "", std::move(answer.content)));
      } else {
        ++stats_.failures;
        call->last_error = error;
        if (next == Next::kRetry && call->attempts > options_.retries_max) next = Next::kDeadLetter;
        if (next == Next::kDeadLetter) {
          out.push_back(FinishLocked(*call, Outcome::Kind::kDeadLetter, error));
        } else {
          const int64_t delay_ms =
              retry_after_ms >= 0
                  ? retry_after_ms
                  : FullJitterBackoffMs(*rt_, call->attempts, options_.backoff_initial_ms, options_.backoff_max_ms);
          After(delay_ms, call);
        }
      }
    }
    Deliver(out);
    if (!out.empty()) Pump();  // a slot was freed
  }

  // Calls Attempt(call) after `ms` on an I/O thread. The timer is owned by its handler.
  void After(int64_t ms, const std::shared_ptr<Call>& call) {
    auto timer = std::make_shared<boost::asio::steady_timer>(rt_->io(), std::chrono::milliseconds(ms));
    timer->async_wait([self = shared_from_this(), call, timer](const boost::system::error_code& ec) {
      if (!ec) self->Attempt(call);
    });
  }

  // Marks `call` finished, updates the counters and returns what to deliver outside the lock.
  Completion FinishLocked(Call& call, Outcome::Kind kind, std::string error, std::string response = {}) {
    call.finished = true;
    if (call.inflight) {
      inflight_.erase(call.inflight_it);
      call.inflight = false;
    }
    switch (kind) {
      case Outcome::Kind::kDelivered: ++stats_.delivered; break;
      case Outcome::Kind::kDeadLetter: ++stats_.dead_lettered; break;
      case Outcome::Kind::kSkipped: ++stats_.skipped; break;
    }
    Outcome o;
    o.kind = kind;
    o.attempts = call.attempts;
    o.http_status = call.http_status;
    o.error = std::move(error);
    o.response = std::move(response);
    o.latency_ns = rt_->clock()->NowNs() - call.submitted_ns;
    return {std::move(call.done), std::move(o)};
  }

  static void Deliver(std::vector<Completion>& out) {
    for (auto& c : out) {
      if (c.done) c.done(std::move(c.outcome));
    }
  }

  const std::shared_ptr<RuntimeInternals> rt_;
  const AgentOptions options_;
  const std::string api_key_;
  const std::string url_;

  mutable std::mutex mu_;
  bool stopped_ = false;
  RateLimiter limiter_;                        // guarded by mu_
  std::deque<std::shared_ptr<Call>> queue_;    // at most options_.queue_max
  std::list<std::shared_ptr<Call>> inflight_;  // at most options_.concurrency_max
  ExecutorStats stats_;                        // inflight/queued filled in by stats()
};

// Contract in action.h. The handle: Submit and stats from any thread.
class AgentExecutor final : public Executor {
 public:
  AgentExecutor(std::shared_ptr<RuntimeInternals> rt, std::shared_ptr<State> state)
      : rt_(std::move(rt)), state_(std::move(state)) {
    std::weak_ptr<State> weak = state_;
    hook_id_ = rt_->AddStopHook([weak] {
      if (auto s = weak.lock()) s->StopAll("stopped");
    });
    if (hook_id_ == 0) state_->StopAll("stopped");  // the runtime stopped meanwhile
  }
  ~AgentExecutor() override {
    if (hook_id_ != 0) rt_->RemoveStopHook(hook_id_);
    // Results arriving after this are dropped; the dispatcher must not hear from a dead executor.
    state_->StopAll("executor destroyed");
  }

  bool Submit(Firing firing, std::function<void(Outcome)> done) override {
    return state_->Submit(std::move(firing), std::move(done));
  }
  ExecutorStats stats() const override { return state_->stats(); }

 private:
  std::shared_ptr<RuntimeInternals> rt_;
  std::shared_ptr<State> state_;
  uint64_t hook_id_ = 0;
};

}  // namespace

Result<std::unique_ptr<Executor>> NewAgentExecutor(const RuntimeInternals& internals, const AgentOptions& options) {
  ASSIGN_OR_RETURN(std::string api_key, CheckAgentOptions(options));
  auto rt = internals.Share();
  auto state = std::make_shared<State>(rt, options, std::move(api_key));
  return std::unique_ptr<Executor>(std::make_unique<AgentExecutor>(rt, std::move(state)));
}

}  // namespace impulse::action
