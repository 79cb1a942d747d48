// Actions (docs/ACTIONS.md): what a trigger's firing does outside the engine. A firing is
// written to the durable outbox before it is attempted (the runtime's dispatcher does that and
// tracks completion); an Executor only delivers: HTTP calls with retries, backoff, rate limits
// and a circuit breaker, then exactly one Outcome per firing.
//
// Thread safety: Submit may be called from any thread; `done` runs on the ActionRuntime's I/O
// thread and must be quick (the dispatcher records the outcome and returns).
// Bounds: each executor runs at most `concurrency_max` calls at once and queues at most
// `queue_max` more; Submit beyond that is refused (the dispatcher keeps the rest in the outbox
// on disk, so memory stays bounded however slow or dead an endpoint is).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "impulse/env.h"
#include "impulse/status.h"

namespace impulse::action {

// One firing to deliver. Immutable once in the outbox.
struct Firing {
  std::string id;       // "<rule>/<event id>": stable across replays; the Idempotency-Key
  std::string action;   // the action's name (spec)
  std::string payload;  // webhook: the JSON body; agent: the filled-in user prompt
  int64_t event_time_ms = 0;
  int64_t fired_at_ms = 0;  // wall clock when the trigger fired (an agent's max_event_age)
};

struct Outcome {
  enum class Kind {
    kDelivered,   // a 2xx answer (agent: the answer is in `response`)
    kDeadLetter,  // retry budget spent, or a permanent error (4xx other than 408/429): `error`
    kSkipped,     // not attempted: stale (older than max_event_age) or the executor stopped
  };
  Kind kind = Kind::kDelivered;
  int attempts = 0;
  int http_status = 0;     // of the last attempt (0: no HTTP answer)
  std::string error;       // the last error, or why skipped
  std::string response;    // agent: the answer text (or the JSON it returned, when JSON was asked)
  int64_t latency_ns = 0;  // Submit to outcome
};

// Counters of one executor (for /metrics).
struct ExecutorStats {
  uint64_t submitted = 0, delivered = 0, dead_lettered = 0, skipped = 0;
  uint64_t attempts = 0, retries = 0, failures = 0;  // failures: attempts that did not succeed
  uint64_t inflight = 0, queued = 0;
  uint64_t breaker_opens = 0;
  bool breaker_open = false;
  uint64_t rate_limited = 0;  // agent: waits for the requests/tokens per minute budget
};

struct WebhookOptions {
  std::string url;  // http://host[:port]/path (https: not supported yet)
  std::map<std::string, std::string> headers;
  int64_t timeout_ms = 5'000;        // per attempt (connect + request + response)
  int retries_max = 5;               // attempts = 1 + retries_max
  int64_t backoff_initial_ms = 100;  // doubled per retry, full jitter
  int64_t backoff_max_ms = 30'000;
  int64_t retry_after_max_ms = 300'000;  // a longer Retry-After is capped to this
  uint32_t concurrency_max = 16;         // calls in flight at once
  uint32_t queue_max = 1'000;            // accepted, waiting for a slot
  uint32_t breaker_failures = 5;         // consecutive failures that open the breaker
  int64_t breaker_open_ms = 10'000;      // then one probe call is let through
  uint64_t response_bytes_max = 1 << 20;
};

struct AgentOptions {
  std::string base_url;  // http://host[:port]; POST {base_url}/v1/chat/completions
  std::string model;
  std::string api_key_env;  // the API key is read from this environment variable
  std::string system_prompt;
  double temperature = 0;
  uint32_t max_tokens = 512;
  bool json = false;  // response_format json_object; the answer must parse
  int64_t timeout_ms = 60'000;
  int retries_max = 3;
  int64_t backoff_initial_ms = 500;
  int64_t backoff_max_ms = 30'000;
  uint32_t concurrency_max = 4;
  uint32_t queue_max = 1'000;
  uint32_t requests_per_minute = 60;
  uint32_t tokens_per_minute = 100'000;  // estimated from the prompt + max_tokens, corrected by usage
  int64_t max_event_age_ms = 300'000;    // older firings are skipped with the reason
  uint64_t response_bytes_max = 1 << 20;
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Starts delivering; `done` is called exactly once. Returns false (and never calls `done`)
  // when the executor's queue is full.
  virtual bool Submit(Firing firing, std::function<void(Outcome)> done) = 0;
  virtual ExecutorStats stats() const = 0;
};

// The I/O thread(s) every executor runs on. Stop() cancels what is in flight (outcomes kSkipped
// "stopped") and joins; the destructor stops.
class ActionRuntime {
 public:
  static Result<std::unique_ptr<ActionRuntime>> Create(uint32_t threads = 1, Clock* clock = nullptr);
  virtual ~ActionRuntime() = default;
  virtual void Stop() = 0;
  virtual Result<std::unique_ptr<Executor>> NewWebhook(const WebhookOptions& options) = 0;
  virtual Result<std::unique_ptr<Executor>> NewAgent(const AgentOptions& options) = 0;
};

}  // namespace impulse::action
