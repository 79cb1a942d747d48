// Stateful operators (window, dedup, join): the interface the pipeline instance drives, and the
// factory. One instance per task (pipeline x source partition), used by one thread.
//
// Event time: every input row carries meta.watermark_ms, the input watermark in effect before
// it (the runtime derives it from the input order: docs/EVENT_TIME.md). An operator first
// advances to that watermark (firing what it completes), then handles the row, so its output
// depends on the input order only, not on batching. A row behind the watermark beyond the
// operator's allowed lateness is late: it goes to the late-events output with the reason.
//
// Output rows carry meta.event_time_ms (window results: window_end - 1) and meta.watermark_ms
// (the operator's watermark when emitted), so a following stateful operator sees them in order.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "impulse/row.h"
#include "impulse/status.h"
#include "plan/logical_plan.h"
#include "state/async_file.h"
#include "state/state_options.h"

namespace impulse::plan {

// One firing of a trigger step: the rule and the source record of the row that fired (its
// RowMeta partition and offset, which the rows the pipeline outputs for it carry too). Lets the
// runtime tell a caller waiting for that event which rules fired (Engine::IngestAndDecide).
struct Firing {
  const std::string* rule = nullptr;  // TriggerDef::rule; lives as long as the plan
  uint32_t partition = 0;
  uint64_t offset = 0;
};

// Where an operator writes. `late` has the schema of LateEventsStreamDef().
struct OpOutput {
  RowBatch* rows = nullptr;
  RowBatch* late = nullptr;
  // Rows for the pipeline's side streams (LogicalPipeline::side_streams), one batch each, of
  // their schemas: decision records, published events, outbox firings. Null for a bare instance.
  std::vector<RowBatch>* side = nullptr;
  // Trigger firings of this call, appended (one small record per firing). May be null.
  std::vector<Firing>* fired = nullptr;
};

struct OperatorStats {
  uint64_t entries = 0;        // live state entries (groups, keys, buffered rows)
  uint64_t state_bytes = 0;    // approximate memory of the state
  uint64_t late_events = 0;    // rows sent to the late-events output as late or out_of_range
  uint64_t limit_dropped = 0;  // rows refused by a state bound (late output, reason state_limit)
  uint64_t duplicates = 0;     // dedup: rows dropped as duplicates
  uint64_t expired = 0;        // entries removed by TTL
  uint64_t scored = 0;         // predict: rows scored
  uint64_t unscored = 0;       // predict: rows passed on with null scores (no usable version)
  uint64_t fired = 0;          // trigger: firings (rows that fired, cooldown passed)
  uint64_t reordered = 0;      // features on arrival: rows older than an earlier-arrived row of their entity

  // Adds every field of `o` (the stats of one operator over several tasks, or shards). The one
  // place that knows the fields: a new one is added here, not at each caller.
  OperatorStats& operator+=(const OperatorStats& o) {
    entries += o.entries;
    state_bytes += o.state_bytes;
    late_events += o.late_events;
    limit_dropped += o.limit_dropped;
    duplicates += o.duplicates;
    expired += o.expired;
    scored += o.scored;
    unscored += o.unscored;
    fired += o.fired;
    reordered += o.reordered;
    return *this;
  }
};

// Why an operator did not take a row: the `reason` field of its _late_events row, one of a fixed
// set of values users filter on (docs/EVENT_TIME.md). Not every value means "late".
enum class LateReason {
  kLate,            // "late": behind the watermark beyond the operator's allowed lateness
  kStateLimit,      // "state_limit": on time, refused by a state bound (groups_max, keys_max,
                    // rows_max, entities_max, rows_per_entity_max, key_bytes_max)
  kOutOfRange,      // "out_of_range": an event time the operator's time arithmetic cannot hold
  kTooLarge,        // "too_large": a value computed for it (kComputedStringMaxBytes) or the record
                    // it makes (the log's max_record_bytes) exceeds its size bound; a rank step's
                    // candidate list longer than candidates_max
  kInvalid,         // "invalid": a value the step must read is malformed (a rank step's candidate
                    // list that is not a JSON list of integer ids; a null as-of time)
  kAsOfAfterEvent,  // "as_of_after_event": its as-of time (a lookup's or rank step's
                    // as_of_time) is after its own event time: the future is not read
  kAsOfTooOld,      // "as_of_too_old": its as-of time is earlier than its event time minus
                    // as_of_lag_max (the versions it needs may be pruned already)
};
// An event's JSON in a late-events row is cut beyond this many bytes (the row must fit a log
// record whatever the event's size): see AppendLateRow.
inline constexpr size_t kLateEventJsonMaxBytes = size_t{64} << 10;
// The value written in the `reason` field.
std::string_view LateReasonName(LateReason reason);

class OnlineStore;
}  // namespace impulse::plan
namespace impulse {
class Clock;
}
namespace impulse::model {
class ModelRepository;
}
namespace impulse::plan {

struct OperatorContext {
  std::string pipeline;
  std::string label;                         // "window#2"
  state::StateOptions state;                 // backend; rocksdb_dir is this operator's own directory
  OnlineStore* online_store = nullptr;       // features: where the view's online values go (may be null)
  model::ModelRepository* models = nullptr;  // predict: the repository it scores with
  Clock* clock = nullptr;                    // wall clock of decision records; null: Clock::Real()
};

// Errors. Process and AdvanceWatermark return a status. OK: every input row was handled (passed
// on, emitted, dropped as a duplicate, or sent to `out->late` with its reason). Per-row outcomes
// are never errors: a late row, a row whose event time is out of range, a row refused by a state
// bound (entries_max, key_bytes_max: StateTable::FindOrInsert's refused_by_bound; groups_max, rows_max) go to the
// late-events output and the call still returns OK. An error means the operator cannot go on:
// its state backend failed (RocksDB I/O, kDataLoss on a value it cannot decode). Then the
// operator's state is unspecified (some rows of the call may have been applied), the caller
// discards everything appended to `out` (rows, late, side) by this call, and makes no further
// call but Stats() and destruction; the task stops and a restart restores the last checkpoint.
class StatefulOperator {
 public:
  virtual ~StatefulOperator() = default;
  // side 0: rows of the op's input schema; side 1: rows of a join's right stream.
  [[nodiscard]] virtual Status Process(int side, const RowBatch& in, OpOutput* out) = 0;
  // Advances the input watermark (never backwards) and fires what it completes.
  [[nodiscard]] virtual Status AdvanceWatermark(int64_t watermark_ms, OpOutput* out) = 0;
  virtual int64_t watermark() const = 0;
  // AdvanceWatermark that may stop short once about rows_soft_max rows are released (a join
  // counts the rows waiting for each as-of time), between two release times (the rows waiting
  // for one as-of time leave in one call). Returns the
  // watermark reached; the caller calls again until it is watermark_ms. Default: all at once.
  [[nodiscard]] virtual Result<int64_t> AdvanceWatermarkPartly(int64_t watermark_ms, size_t rows_soft_max,
                                                               OpOutput* out) {
    (void)rows_soft_max;
    RETURN_IF_ERROR(AdvanceWatermark(watermark_ms, out));
    return watermark_ms;
  }
  // Writes the whole state into the empty directory `dir`; restores from one such directory.
  virtual Status Checkpoint(const std::string& dir) = 0;
  virtual Status Restore(const std::string& dir) = 0;
  // The same checkpoint in two phases, so that the task pauses for the first only
  // (docs/CHECKPOINTS.md). BeginCheckpoint runs while the task is paused: it encodes what is
  // small (watermarks, buffered rows, counters) and starts capturing its tables
  // (StateTable::BeginCapture), touching no file: every file of `dir` is appended to `files`,
  // which the checkpoint writer writes and syncs. Then ContinueCheckpoint runs between batches
  // (the task processes meanwhile) until it returns true. The files are those Checkpoint
  // writes. Default: Checkpoint, synchronously.
  virtual Status BeginCheckpoint(const std::string& dir, state::AsyncFiles* files) {
    (void)files;
    return Checkpoint(dir);
  }
  virtual bool ContinueCheckpoint(std::chrono::steady_clock::time_point deadline) {
    (void)deadline;
    return true;
  }
  virtual OperatorStats stats() const = 0;
};

Result<std::unique_ptr<StatefulOperator>> NewWindowOperator(const LogicalOp& op, const OperatorContext& ctx);
Result<std::unique_ptr<StatefulOperator>> NewDedupOperator(const LogicalOp& op, const OperatorContext& ctx);
Result<std::unique_ptr<StatefulOperator>> NewJoinOperator(const LogicalOp& op, const OperatorContext& ctx);
// Writes the late-events row of a left row the join refuses (at its arrival: the join never drops a
// left row it holds). Set by the rank step, whose join holds slim candidate rows: each refused one
// is written as the whole candidate row (the event's fields included), as if the join held that.
using LeftLateWriter =
    std::function<void(const Value* row, const RowMeta& meta, LateReason reason, int64_t watermark_ms, RowBatch* late)>;
Result<std::unique_ptr<StatefulOperator>> NewJoinOperator(const LogicalOp& op, const OperatorContext& ctx,
                                                          LeftLateWriter left_late);
Result<std::unique_ptr<StatefulOperator>> NewFeaturesOperator(const LogicalOp& op, const OperatorContext& ctx);
Result<std::unique_ptr<StatefulOperator>> NewPredictOperator(const LogicalOp& op, const OperatorContext& ctx);
Result<std::unique_ptr<StatefulOperator>> NewTriggerOperator(const LogicalOp& op, const OperatorContext& ctx);
// A kJoin op with `rank` set (the `rank` step).
Result<std::unique_ptr<StatefulOperator>> NewRankOperator(const LogicalOp& op, const OperatorContext& ctx);
// Checks that a predict step can score now: a repository, a ready version of its model (and of
// its canary and shadow versions), inputs that resolve against the step's input. The message
// names the step, the model, the version and why.
Status CheckPredictStep(const LogicalOp& op, model::ModelRepository* models);
// The same for a rank step (its serving version, inputs resolved among its candidate rows).
Status CheckRankStep(const LogicalOp& op, model::ModelRepository* models);

// Appends a late-events row for input row `row` (schema `schema`) to `late`. An event whose JSON
// exceeds kLateEventJsonMaxBytes is written as {"_truncated":true,"_bytes":N,"_prefix":"..."}
// (still JSON); the whole event stays in its stream at (partition, offset).
void AppendRefusedRow(std::string_view pipeline, std::string_view step, const Schema& schema, const Value* row,
                      const RowMeta& meta, LateReason reason, int64_t watermark_ms, RowBatch* late);
void AppendLateRow(const OperatorContext& ctx, const Schema& schema, const Value* row, const RowMeta& meta,
                   LateReason reason, int64_t watermark_ms, RowBatch* late);

// AppendLateRow, counting the row in `stats` (kStateLimit: limit_dropped, else late_events).
void RecordLateRow(const OperatorContext& ctx, const Schema& schema, const Value* row, const RowMeta& meta,
                   LateReason reason, int64_t watermark_ms, OperatorStats* stats, RowBatch* late);

// The counters a checkpoint carries (late, limit-dropped, expired): appended to / read from an
// operator's checkpoint blob; false if `in` is too short.
void PutCheckpointedStats(const OperatorStats& stats, std::string* out);
bool GetCheckpointedStats(std::string_view* in, OperatorStats* stats);

class EventTimeBuffer;
// The tail of the checkpoint blob of an operator that holds rows for the watermark (window,
// features): the buffered rows, then the checkpointed stats. GetBufferedTail reads it and
// requires it to end the blob; kDataLoss otherwise, the message led by `what` (the blob's name).
void PutBufferedTail(const EventTimeBuffer& pending, const OperatorStats& stats, std::string* out);
Status GetBufferedTail(std::string_view* in, const std::string& what, EventTimeBuffer* pending, OperatorStats* stats);

// Encodes key fields of `row` into `out` (appended), for state keys: unambiguous (type-tagged,
// length-prefixed strings) so distinct keys never collide.
void AppendKeyBytes(const Schema& schema, const std::vector<int>& fields, const Value* row, std::string* out);

}  // namespace impulse::plan
