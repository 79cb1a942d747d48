// The outbox dispatcher (docs/ACTIONS.md): delivers the webhook and agent firings that trigger
// steps write to the `_outbox` stream.
//
// A firing is attempted only once it is durable in the outbox (the log's durable end, or its
// visible end with durability none), so a crash never loses one: after a restart every firing
// at or after an action's persisted cursor is handed to its executor again, with the same id
// (the Idempotency-Key). Delivery is at least once.
//
// Per action (a lane): its own read position in the outbox, so a dead endpoint never stalls
// another action. The lane hands firings to the action's executor in outbox order and stops
// reading while the executor's bounded queue is full: what is not in flight waits on disk, so
// memory is bounded by each executor's concurrency + queue, however slow the endpoint. The
// cursor persisted under data_dir/outbox/<action>.cursor is the lane's low-water mark: every
// firing before it has its outcome recorded (delivered, or its dead letter / agent answer
// durable in its stream).
//
// Threads: one dispatcher thread owns the lanes; executors complete on the ActionRuntime's I/O
// thread and shards acknowledge the dead-letter/answer writes on theirs; both only queue a note
// and wake the dispatcher. No timers while idle: it sleeps until a shard syncs the outbox, an
// outcome arrives or a cursor is due to be persisted.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "action/action.h"
#include "impulse/row.h"
#include "impulse/status.h"
#include "log/partition_log.h"
#include "plan/logical_plan.h"
#include "runtime/metrics.h"

namespace impulse::runtime {

class EngineImpl;
class Exposition;

class OutboxDispatcher {
 public:
  // Bounds and pacing; defaults documented in docs/ACTIONS.md.
  struct Options {
    uint32_t read_batch_records = 256;  // outbox records read per log read
    int64_t persist_interval_ms = 200;  // cursors are written at most this often (and at stop)
    int64_t stop_timeout_ms = 5'000;    // Stop waits this long for outcome records to be durable
    int64_t write_retry_ms = 10;        // a refused dead-letter/answer write is retried after this
    uint32_t lane_writes_max = 256;     // outcome records in flight per action before it stops reading
  };

  // `outbox` is the index of the `_outbox` stream. Creates one executor per action of `plan`.
  static Result<std::unique_ptr<OutboxDispatcher>> Create(EngineImpl* engine, const plan::LogicalPlan& plan,
                                                          uint32_t outbox, Options options);
  ~OutboxDispatcher();

  // Reads each action's cursor, clamped to the outbox as recovered: call after recovery and
  // before the shards start (replay appends to the outbox; offsets past the checkpoint are not
  // stable across a replay, so a cursor past the recovered end must restart at that end).
  Status LoadCursors();
  // Starts the thread (after the shards: it writes outcome records through them).
  void Start();
  // The outbox's durable end may have advanced (shard thread, after its sync). Cheap.
  void Notify();
  // Stops reading, cancels calls in flight (they stay pending: re-sent at the next start),
  // records the outcomes already known, persists the cursors and joins. Must run while the
  // engine still accepts internal writes (before Engine::Stop drains the shards). Idempotent.
  void Stop();

  void AppendMetrics(Exposition* ex) const;

 private:
  struct Lane;
  // What a completion needs of its firing besides the outcome.
  struct FiringInfo {
    std::string id, rule, event_id, payload;
    int64_t event_time_ms = 0;
  };
  struct Completion {
    size_t lane;
    uint64_t offset;
    std::shared_ptr<FiringInfo> info;
    action::Outcome outcome;
  };
  // A dead letter or agent answer to make durable before its firing counts as done.
  // Both target schemas are string fields followed by int64/timestamp fields.
  struct Write {
    size_t lane;
    uint64_t offset;
    uint32_t stream;
    std::vector<std::string> strings;
    std::vector<int64_t> ints;
    int64_t event_time_ms = 0;
  };
  struct Ack {
    Status status;
    std::shared_ptr<Write> write;
  };

  OutboxDispatcher(EngineImpl* engine, uint32_t outbox, Options options);
  void Run();
  void Pump(Lane& lane, size_t index);
  void HandleCompletion(const Completion& c);
  bool HasLane(std::string_view action) const;
  void IssueWrite(std::shared_ptr<Write> w);
  void Done(Lane& lane, uint64_t offset);
  void PersistCursors(bool force);
  uint64_t LowWater(const Lane& lane) const;
  uint64_t ProcessableEnd() const;

  EngineImpl* engine_;
  uint32_t outbox_;
  Options options_;
  std::unique_ptr<action::ActionRuntime> runtime_;  // destroyed after the lanes' executors
  std::vector<std::unique_ptr<Lane>> lanes_;
  uint32_t dead_letter_stream_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
  bool stop_ = false;
  std::vector<Completion> completions_;  // guarded by mu_
  std::vector<Ack> acks_;                // guarded by mu_
  std::thread thread_;
  bool stopped_ = false;

  // Dispatcher thread only.
  std::deque<std::shared_ptr<Write>> retry_writes_;
  uint64_t writes_outstanding_ = 0;
  int64_t last_persist_ms_ = 0;
  std::vector<log::Record> records_;
  std::string storage_;
  RowBatch row_;

  Counter record_errors_;   // outbox records that could not be decoded (skipped, counted)
  Counter unknown_action_;  // outbox records naming no action of the spec (skipped, counted)
  Counter write_failures_;  // dead-letter/answer writes that failed and were retried
  Counter read_errors_;
};

}  // namespace impulse::runtime
