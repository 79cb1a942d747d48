// Decisions in the response (Engine::IngestAndDecide): callers waiting for what one pipeline
// outputs for the events they ingested, matched by the value of an id field the pipeline
// carries from its input stream to its output.
//
// Hot path: a shard that emits a pipeline's output rows checks waiting(pipeline), one relaxed
// load; only while some caller waits on that pipeline does it look the rows' ids up, in one of
// kStripes lock-striped maps per pipeline (no engine-wide lock per event). Waiters are
// registered before the events are queued, so a fast pipeline cannot output before its waiter
// exists. A call completes (its callback runs exactly once) when its events are acknowledged and
// either every accepted event has an output row or the call's timeout has passed since the
// acknowledgement (one timer thread per engine, started at the first call).
//
// Bounds: at most waiters_max events waited for at once (Register refuses beyond, counted);
// memory per call: its output rows and one small record per event. Waiters are in memory only:
// a crash forgets them, the log keeps the outcome.
// Threads: every method is thread-safe. Deliver runs on shard threads. A call's callback runs
// on the thread that completes it: a shard (its last decision, or the acknowledgement), the
// timer thread (its timeout), the caller of IngestDone (a body without events is acknowledged
// inline), or the destructor's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "event/ndjson.h"
#include "impulse/engine.h"
#include "ops/operator.h"
#include "plan/logical_plan.h"

namespace impulse::runtime {

// Where a call's decision comes from: resolved from DecideOptions against the plan.
struct DecideTarget {
  uint32_t pipeline = 0;
  int input_field = -1;   // the id field in the ingested stream's schema
  int output_field = -1;  // ... and in the pipeline's output schema
  FieldType type = FieldType::kInt64;
  std::string id_field;
};

// Checks `options` for an ingest into `stream`: the pipeline exists and reads the
// stream directly or through the streams of pipelines before it, the id field (given or
// inferred from the pipeline's trigger, else predict, event_id) is in both schemas with one
// type, the timeout is within bounds (kInvalidArgument, each naming what and why).
Result<DecideTarget> ResolveDecideTarget(const plan::LogicalPlan& plan, const StreamDef& stream,
                                         const DecideOptions& options);

// Where the events a pipeline P sends to _late_events are answered `late`, per pipeline:
struct LateRoute {
  // The pipelines D whose waiters they answer: P itself, and the pipelines it alone feeds (D's
  // input stream written by no other pipeline, and so on down). A join is never among them: its
  // output for an event may come through the other side.
  std::vector<uint32_t> targets;
  // The steps of P whose late rows mean the event went no further: a feature view, dedup or
  // window (not a trigger, whose late firing lets its row go on, nor a sink's refused row), and
  // only up to the first step that makes new rows (a window, a join), so that the late row's
  // source partition and offset are those of P's input event.
  std::vector<std::string> drop_labels;
};
std::vector<LateRoute> LateRoutes(const plan::LogicalPlan& plan);

// An id value as text: a string as is, a double in JSON form, a bool as true/false, other
// types (int64, timestamp in ms) in decimal.
void AppendIdText(const Value& v, FieldType type, std::string* out);

struct DecideCall;

class DecisionWaiters {
 public:
  static constexpr size_t kStripes = 16;

  // `outputs`: per pipeline, its output schema (read at construction only). `late_routes`
  // (LateRoutes): per pipeline, which of its late events answer which waiters.
  DecisionWaiters(const std::vector<const Schema*>& outputs, uint64_t waiters_max,
                  std::vector<LateRoute> late_routes = {});
  ~DecisionWaiters();  // Shutdown()
  // Expires the calls still waiting (their callbacks run here, with what is known) and joins the
  // timer; a call whose ingest completes later expires at once. Idempotent.
  void Shutdown();
  DecisionWaiters(const DecisionWaiters&) = delete;
  DecisionWaiters& operator=(const DecisionWaiters&) = delete;

  // Whether some caller waits for `pipeline`'s output: the shards' check, one relaxed load.
  bool waiting(size_t pipeline) const { return pipelines_[pipeline].count.load(std::memory_order_relaxed) != 0; }

  // Registers a call for `rows` (accepted events; the id at target.input_field) and `bad` (the
  // lines refused by validation, reported as rejected), before they are queued.
  // kInvalidArgument naming the line for a null or repeated id; kUnavailable when waiters_max
  // would be exceeded. Nothing is registered on error.
  Result<std::shared_ptr<DecideCall>> Register(const DecideTarget& target, const plan::LogicalPipeline& pipe,
                                               const RowBatch& rows, const std::vector<BadLine>& bad,
                                               uint32_t timeout_ms, Engine::DecideCallback done);
  // The call's events were not queued after all (admission refused them): unregisters, no callback.
  void Cancel(const std::shared_ptr<DecideCall>& call);
  // The ingest of the call completed (as Ingest's callback): with an error the call completes
  // with it; otherwise the timeout starts.
  void IngestDone(const std::shared_ptr<DecideCall>& call, Status status, IngestResult result);

  // Shard thread, after `pipeline` emitted `out` (its output schema) in one batch with the
  // trigger firings `fired` (reordered here): completes the waiters of the rows' ids.
  void Deliver(size_t pipeline, const RowBatch& out, std::vector<plan::Firing>& fired);

  // Whether any call waits (one relaxed load): the shards' check before DeliverLate.
  bool any_waiting() const { return total_.load(std::memory_order_relaxed) != 0; }
  // Shard thread, after `pipeline` sent events of its input batch `in` (schema `in_schema`) to
  // _late_events (`late`, rows of that stream naming each event's step, partition, offset and
  // event time): the waiters of those its LateRoute says were dropped, on the pipelines this one
  // alone feeds, are answered late at once (their decision can never come), matched by the id
  // field's name in `in_schema` as Deliver matches ids.
  void DeliverLate(size_t pipeline, const Schema& in_schema, const RowBatch& in, const RowBatch& late);

  // Metrics.
  uint64_t waiters() const { return total_.load(std::memory_order_relaxed); }
  std::atomic<uint64_t> calls_answered{0};   // every accepted event decided
  std::atomic<uint64_t> calls_timed_out{0};  // answered at the timeout with events pending
  std::atomic<uint64_t> calls_failed{0};     // the ingest failed
  std::atomic<uint64_t> refused_full{0};     // Register refused: waiters_max
  std::atomic<uint64_t> events_decided{0};
  std::atomic<uint64_t> events_pending{0};   // reported pending (timed out)
  std::atomic<uint64_t> events_rejected{0};  // dead-lettered lines reported
  std::atomic<uint64_t> events_late{0};      // answered late (beyond the allowed lateness)

 private:
  struct Waiter {
    std::shared_ptr<DecideCall> call;
    uint32_t slot;
  };
  struct Stripe {
    std::mutex mu;
    std::unordered_multimap<std::string, Waiter> map;  // key: output field index + id bytes
  };
  struct PerPipeline {
    std::atomic<uint64_t> count{0};                      // waiters registered
    std::unique_ptr<std::atomic<uint32_t>[]> per_field;  // waiters per output field
    std::vector<FieldType> types;                        // of the output fields
    std::vector<std::string> names;                      // of the output fields
    std::unique_ptr<Stripe[]> stripes;
  };
  using TimePoint = std::chrono::steady_clock::time_point;

  static void AppendKey(int field, const Value& v, FieldType type, std::string* out);
  Stripe& StripeOf(size_t pipeline, const std::string& key);
  // Erases the map entry of (call, slot) if still there; true if this call erased it.
  bool Unregister(DecideCall& call, uint32_t slot);
  // Completes `call` if it is done (call->mu held through `lock`, released here).
  void MaybeFinish(const std::shared_ptr<DecideCall>& call, std::unique_lock<std::mutex>& lock);
  void Expire(const std::shared_ptr<DecideCall>& call);
  void TimerLoop();

  // Locks w's call into `lock` and claims its event: the event to fill in (then MaybeFinish),
  // or null when the call has finished or the event was answered already.
  EventDecision* Claim(const Waiter& w, std::unique_lock<std::mutex>* lock);
  // Takes the waiters of `key` on `pipeline` out of its stripe (none if no one waits).
  void TakeWaiters(size_t pipeline, size_t field, const std::string& key, std::vector<Waiter>* hits);

  std::vector<PerPipeline> pipelines_;
  const std::vector<LateRoute> late_routes_;
  const uint64_t waiters_max_;
  std::atomic<uint64_t> total_{0};

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  std::multimap<TimePoint, std::weak_ptr<DecideCall>> timers_;  // guarded by timer_mu_
  std::thread timer_;
  bool quit_ = false;
};

}  // namespace impulse::runtime
