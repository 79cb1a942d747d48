// The engine: streams backed by the embedded log, pipelines on a shard-per-core runtime.
// Thread-safe entry points for front ends (HTTP server, demo, tests) and for applications that
// embed it (docs/EMBEDDING.md); everything on the per-event path runs on shard threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "impulse/env.h"
#include "impulse/models.h"
#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse {

enum class Durability : uint8_t {
  // Default: a request is acknowledged only after its events are fsynced. Concurrent requests
  // share one fsync per partition per shard cycle (group commit), so this is also fast.
  kSync = 0,
  // fsync at most every group_commit_ms; acks wait for the covering fsync. Fewer fsyncs,
  // higher latency, equally safe.
  kGroupCommit = 1,
  // Acknowledge after the write() only: survives a process crash, not a power loss.
  kNone = 2,
};

// A member engine's state at one checkpoint, as the files a new owner writes into an empty data
// directory (WriteMemberSnapshot) to continue from that checkpoint: the checkpoint itself and the
// log segments still needed after it (unread inputs, outputs not yet exported, the last source
// position).
struct MemberSnapshot {
  uint64_t checkpoint_id = 0;
  std::vector<std::pair<std::string, std::string>> files;  // (path under data_dir, bytes)
  uint64_t bytes() const {
    uint64_t n = 0;
    for (const auto& f : files) n += f.second.size();
    return n;
  }
};

struct EngineOptions {
  std::string data_dir = "./impulse-data";
  uint32_t shards = 0;         // 0 = number of cores
  uint32_t max_producers = 4;  // threads that may call Ingest concurrently
  Durability durability = Durability::kSync;
  uint32_t group_commit_ms = 5;                        // only for kGroupCommit
  uint32_t ring_capacity = 256;                        // commands per (producer, shard) ring
  uint64_t max_inflight_events_per_shard = 1'000'000;  // beyond: Ingest returns kUnavailable; a request
                                                       // that alone exceeds it: kOutOfRange
  uint64_t max_line_bytes = 1 << 20;                   // an NDJSON line longer than this is rejected
  uint32_t max_line_errors_reported = 1000;            // per request; all bad lines still dead-lettered
  uint32_t stop_drain_timeout_ms = 30'000;             // Stop() waits this long for queued work to drain
  // Checkpoints (docs/CHECKPOINTS.md): every this many ms the pipelines pause, and their input
  // positions, operator state and the ends of the streams they write are committed together.
  // A restart restores the newest one, truncates pipeline-written streams back to it and
  // replays: outputs to embedded streams and files are exactly-once. 0 = no checkpoints:
  // pipelines persist per-partition cursors instead and outputs are at-least-once.
  int64_t checkpoint_interval_ms = 10'000;
  int checkpoints_retained = 3;            // complete checkpoints kept on disk (>= 2)
  int64_t checkpoint_timeout_ms = 60'000;  // a checkpoint not done by then is abandoned
  int64_t restore_checkpoint_id = -1;      // >= 0: start from this checkpoint, not the newest
  // Called on Open's thread while it restores a checkpoint's pipeline tasks (one per pipeline and
  // partition: operator state, positions, watermarks), after each, with the tasks done and their
  // total. Not called without a checkpoint to restore. `impulse run` draws a progress bar with it.
  std::function<void(uint64_t tasks_done, uint64_t tasks_total)> on_restore_progress;
  // true: operators write and sync their whole state while the pipelines wait (the previous
  // scheme, kept to compare). false: the state is captured in O(1) in the pause and written in
  // the background before the checkpoint commits (docs/CHECKPOINTS.md).
  bool checkpoint_state_in_pause = false;
  // Keyed state of stateful operators: in memory (default) or RocksDB under data_dir/state.
  bool state_rocksdb = false;
  uint64_t state_cache_entries = 100'000;  // RocksDB: decoded entries cached per operator
  // Feature views keep each entity's latest values for LookupFeatures. false: computed into
  // the pipelines' outputs only (a backfill, which nobody queries, saves the copy per event).
  bool serve_features = true;
  // Trigger steps' webhook and agent actions are called (docs/ACTIONS.md). false: their firings
  // are written to the outbox but never sent (a backfill replays history: calling a team's
  // webhook or an agent for past events would act on them a second time).
  bool dispatch_actions = true;
  // The model repository `predict` steps score with (docs/INFERENCE.md); shared with the HTTP
  // server's model routes. Required when the spec has predict steps: Open fails without it, or
  // when a step's model has no ready version or its inputs do not resolve. Only repositories
  // from ModelRepository::Open (include/impulse/models.h) are accepted (else kInvalidArgument).
  std::shared_ptr<ModelRepository> models;
  // Decisions in the response (IngestAndDecide): events waited for at once, over all calls. A
  // call that would exceed it is refused with kUnavailable (nothing queued; counted in
  // impulse_decide_refused_total{reason="waiters_full"}).
  uint64_t decide_waiters_max = 100'000;
  // A member of a group of instances (docs/SCALE_OUT.md; set by the group runner): the one
  // partition of the spec's Kafka topics this engine handles, every stream then having one
  // partition. Needs the spec's kafka state_topic and checkpoints. -1: not a member.
  int32_t kafka_member_partition = -1;
  // Members only: the source topic's partition count (the writers of each repartition topic).
  int32_t kafka_group_partitions = 0;
  // Members only: called on the checkpoint thread after each committed checkpoint with what a new
  // owner of the partition needs to continue from it (the engine keeps nothing of it). Kafka sinks
  // export a checkpoint's outputs only after ReleaseExports(its id), so that no output reaches a
  // topic before the state that produced it has moved to the broker.
  std::function<void(MemberSnapshot)> on_member_snapshot;
  // A larger snapshot is not taken (counted in impulse_member_snapshots_failed_total, said): the
  // previous one stays the partition's.
  uint64_t member_snapshot_bytes_max = 1ull << 30;
  // data_dir/SPEC records the spec the directory was created with; Open refuses another spec,
  // naming what differs (kFailedPrecondition), unless this is set: then the new spec is
  // recorded and runs on the directory's logs, cursors and checkpoints (docs/OPERATIONS.md).
  bool accept_spec_change = false;
  Clock* clock = nullptr;  // nullptr = Clock::Real()
  Env* env = nullptr;      // nullptr = Env::Default()
};

// Replaces everything under `data_dir` with the snapshot's files (Engine::Open then restores its
// checkpoint). kInvalidArgument for a path that leaves the directory; kFailedPrecondition while
// an engine (or another writer) holds the directory's lock, DATA/LOCK, which stays.
Status WriteMemberSnapshot(const std::string& data_dir, const MemberSnapshot& snapshot, Env* env = nullptr);

struct LineError {
  uint32_t line = 0;   // 1-based line number in the request body
  std::string reason;  // "field amount: expected double, got string"
};

struct IngestResult {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  std::vector<LineError> errors;  // at most max_line_errors_reported
  bool errors_truncated = false;
  // Only with a failed request whose events went to several shards and some of them were
  // stored before another failed (a full disk there): the lines (1-based; rows for InsertRows)
  // whose event or dead-letter record is stored all the same, ascending. Resend only the
  // others. Empty otherwise: a failed request stored nothing.
  std::vector<uint32_t> stored_lines;
};

// What IngestAndDecide waits for (docs/EMBEDDING.md, docs/HTTP_API.md "Decisions in the
// response").
struct DecideOptions {
  // The pipeline whose output is the decision. It must read the ingested stream, directly or
  // through the streams of the pipelines before it.
  std::string pipeline;
  // The field that identifies an event: in the ingested stream's schema and in the pipeline's
  // output, of the same type, carried through the chain. Every event of the call must have a
  // non-null, distinct value. "": the event_id field of the pipeline's trigger step, else of its
  // predict step, when the stream has it (else kInvalidArgument naming the candidates).
  std::string id_field;
  // How long to wait for the decisions once the events are acknowledged, 0..kDecideTimeoutMaxMs.
  uint32_t timeout_ms = 1000;
  static constexpr uint32_t kDecideTimeoutMaxMs = 60'000;
  static constexpr uint32_t kDecideEventsMax = 10'000;  // lines (or rows) per call
};

// One event of an IngestAndDecide call, in request order.
struct EventDecision {
  enum class State : uint8_t {
    kDecided = 0,   // the pipeline output a row for it: DecideResult::rows.row(row)
    kPending = 1,   // nothing yet when the call answered (still processed: read the log later)
    kRejected = 2,  // refused by validation (dead-lettered): `reason`
    kLate = 3,      // dropped by a step on the way (a feature view, dedup or window: behind its
                    // allowed lateness, or over a state bound), in _late_events: `reason`; its
                    // decision will never come, so it is answered at once
  };
  State state = State::kPending;
  uint32_t line = 0;               // 1-based line of the body (row index + 1 for rows)
  std::string id;                  // the id value as text (a string as is, numbers in decimal); "" if rejected
  int32_t row = -1;                // kDecided: its row in DecideResult::rows
  std::vector<std::string> rules;  // kDecided: the pipeline's trigger rules that fired for it
  std::string reason;              // kRejected, kLate
};

// The answer of IngestAndDecide: the ingest's result and a decision per event.
struct DecideResult {
  IngestResult ingest;
  std::string pipeline;
  std::string id_field;
  Schema schema;                      // the pipeline's output schema
  RowBatch rows;                      // one row per decided event (owned)
  std::vector<EventDecision> events;  // one per line (row), in request order
  uint32_t pending = 0;               // events in state kPending
};

struct PartitionInfo {
  uint32_t partition = 0;
  uint64_t start_offset = 0;
  uint64_t end_offset = 0;
};

// Latency quantiles of one stage, from the engine's histograms (bucket upper bounds).
struct StageLatency {
  std::string stage;  // ingest_to_durable, ingest_to_output, pipeline_batch, checkpoint_pause, log_fsync
  uint64_t count = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
};

struct StreamInfo {
  std::string name;
  StreamDef def;
  std::vector<PartitionInfo> partitions;
  // Lines of this stream refused by validation since the engine started (each dead-lettered to
  // _dead_letter with its reason); the counter behind impulse_events_rejected_total.
  uint64_t events_rejected = 0;
};

// One source partition of a pipeline (Engine::ListPipelines).
struct PipelineInputInfo {
  std::string stream;
  uint32_t partition = 0;
  uint64_t processed_offset = 0;  // the next offset the pipeline processes
  uint64_t end_offset = 0;        // the partition's end as the pipeline may read it
  uint64_t lag = 0;               // end_offset - processed_offset (0 when ahead)
};

// A pipeline's topology and progress (Engine::ListPipelines); a snapshot, each value read
// without stopping the pipeline.
struct PipelineInfo {
  std::string name;
  std::vector<std::string> sources;       // streams read: the source, then a join's right stream
  std::string sink_kind;                  // "stream", "file" or "stdout"
  std::string sink;                       // the sink stream's name or the file's path; "" for stdout
  std::vector<std::string> side_streams;  // written besides the sink: decision logs, publish streams, the outbox
  std::vector<PipelineInputInfo> inputs;  // per source partition (a join: both sides), in stream order
  uint64_t lag = 0;                       // sum of the inputs' lag
  // Smallest event-time watermark of the pipeline's tasks (ms since the epoch); INT64_MIN
  // while no task has one (no event read yet).
  int64_t watermark_ms = INT64_MIN;
  uint64_t events_in = 0;
  uint64_t events_out = 0;
  // Stateful operators' live entries and approximate bytes, summed (refreshed at checkpoints
  // and every 10 s, as impulse_operator_state_*).
  uint64_t state_entries = 0;
  uint64_t state_bytes = 0;
  uint32_t tasks_failed = 0;  // tasks stopped by an operator error until a restart
};

// Where Engine::ResetPipeline moves a pipeline's inputs.
enum class ResetTo : uint8_t {
  kBeginning,  // the start of each source partition's retained log: that input is processed again
  kEnd,        // each source partition's readable end: the input not processed yet is skipped
};

// What Engine::ResetPipeline did.
struct PipelineReset {
  std::string pipeline;
  ResetTo to = ResetTo::kBeginning;
  uint64_t checkpoint_id = 0;  // the checkpoint that holds the reset (a restart resumes from it)
  struct Input {
    std::string stream;
    uint32_t partition = 0;
    uint64_t before = 0;  // the next offset the pipeline would have processed
    uint64_t after = 0;   // ... and the one it processes now
  };
  std::vector<Input> inputs;  // per source partition (a join: both sides), in stream order
};

// Rows read back from one partition of a stream (Engine::ReadRows): an owned batch.
struct RowsRead {
  // The stream's schema (StreamInfo::def.schema) wide; row i's meta carries its offset,
  // partition, event_time_ms and ingest_time_ms (the time the log record was written).
  RowBatch rows;
  // Where to continue: one past the last record read. Offsets of pipeline-written streams are
  // not dense (watermark markers sit between rows), so continue from here, not from
  // from + rows.size().
  uint64_t next_offset = 0;
  // The partition's visible end when it was read (its real end, never made up from `from`):
  // next_offset == end_offset means caught up.
  uint64_t end_offset = 0;
};

// Where and how a subscription reads (Engine::Subscribe).
struct SubscribeOptions {
  enum class Start : uint8_t {
    kEnd = 0,        // rows appended after Subscribe returned (the partitions' visible ends)
    kBeginning = 1,  // every row still in the log (the partitions' start offsets)
  };
  // Where each partition starts when from_offsets is empty.
  Start start = Start::kEnd;
  // One start offset per partition of the stream (size = its partition count), e.g. the
  // next_offsets of an earlier subscription; empty = `start`. An offset past a partition's
  // visible end makes Subscribe return kOutOfRange; one below a partition's start (removed by
  // retention) makes the subscription fail with kOutOfRange.
  std::vector<uint64_t> from_offsets;
  // Rows per callback, 1..65536.
  uint32_t batch_rows_max = 1024;
  // How long the subscription thread sleeps when it found nothing new, 1..1000 ms: the bound
  // on the delay between a row becoming visible and its callback when the subscriber is idle.
  uint32_t poll_interval_ms = 5;
};

// A live subscription to one stream (Engine::Subscribe). One thread of its own reads every
// partition from its position to the log's visible end, a bounded batch at a time, and hands
// each batch to the callback; when every partition is caught up it sleeps poll_interval_ms.
// Each row is delivered once, in offset order within its partition; partitions interleave.
// The callback never runs on a shard thread, so it may block (that only delays this
// subscription) and may call the engine (ReadRows, Ingest, LookupFeatures...).
//
// Threads: Cancel, the destructor and the getters may be called from any thread, including
// the subscription's own (inside its callback). The subscription's thread is always joined,
// never detached, so no callback runs after the engine is destroyed:
//  - Cancel or the destructor called on another thread joins it (waits for a callback in
//    progress to return);
//  - called inside the callback, they cannot wait for the thread they run on: Cancel only
//    flags it (the callback may go on using the engine until it returns; no other callback
//    starts), and the destructor leaves the thread for the engine to join (when it is
//    destroyed, or earlier, at a later Subscribe, once the thread has returned);
//  - the engine's destructor cancels every subscription and joins every thread not joined
//    yet, waiting for callbacks in progress to return. So the engine must not be destroyed
//    from inside a callback, and a callback must not wait for the engine to be destroyed.
// Bounds: one thread, one batch of at most batch_rows_max rows (plus its strings) in memory.
// A handle that outlives its engine is inert.
class Subscription {
 public:
  // Cancels; waits for a callback in progress to return unless called inside the callback
  // (see above).
  virtual ~Subscription() = default;

  // Stops delivering: no callback starts after Cancel returns, and one in progress has
  // returned (called from inside the callback: none starts after that callback returns).
  // Idempotent.
  virtual void Cancel() = 0;

  // Waits until every row visible in the stream's partitions when it was called has been
  // delivered (its callback has returned). kUnavailable on timeout; the subscription's error
  // if it failed; kFailedPrecondition if it was cancelled first.
  virtual Status WaitCaughtUp(int64_t timeout_ms) = 0;

  // OK while running (or cancelled); the read error that stopped it otherwise (kOutOfRange:
  // its position was removed by retention; kDataLoss: a corrupt record).
  virtual Status status() const = 0;

  // The next offset per partition: where a new subscription resumes without gap or repeat.
  virtual std::vector<uint64_t> next_offsets() const = 0;

  // Rows delivered so far.
  virtual uint64_t rows_delivered() const = 0;
};

// Why an entity's features did or did not come back (Engine::LookupFeatureRows).
enum class FeatureLookupState : uint8_t {
  kFound = 0,          // values present
  kUnknownEntity = 1,  // no event seen for it, or idle beyond the view's state ttl
  kInvalidKey = 2,     // the text is not a valid value of the entity's type
  kExpired = 3,        // values older than the view's ttl (as_of_ms is still set)
};

// Typed online features of several entities of one view (Engine::LookupFeatureRows).
struct FeatureRows {
  Schema schema;  // the view's features, in order
  // One row per entity asked for, in the order asked; all values null unless kFound.
  // meta(i).event_time_ms: the event time the values are as of (0 when unknown).
  RowBatch rows;
  std::vector<FeatureLookupState> states;  // per entity
};

class Engine {
 public:
  // The embedding calls (ReadRows, Subscribe, LookupFeatureRows) have defaults returning
  // kFailedPrecondition, so engines implemented outside the library (test fakes) need not
  // provide them; the library's engine does. Everything is defined inline here, so a fake
  // links without the engine's libraries.
  // Completion of an ingest call; runs on a shard thread, so it must be quick (post to the
  // caller's own executor).
  using IngestCallback = std::function<void(Status, IngestResult)>;
  // Completion of IngestAndDecide; runs on a shard thread or the engine's decide timer thread
  // (inline for a body without events), so it must be quick too.
  using DecideCallback = std::function<void(Status, DecideResult)>;

  virtual ~Engine() = default;

  // Loads the spec at `spec_path`, opens (and recovers) the logs under options.data_dir and
  // starts the shards. kInvalidArgument for a bad spec, kDataLoss for a corrupt sealed segment,
  // kFailedPrecondition for a predict step that cannot score (no repository, no ready version,
  // an input that names no field).
  static Result<std::unique_ptr<Engine>> Open(const std::string& spec_path, EngineOptions options);

  // As Open, from the spec's YAML text (docs/PIPELINE_SPEC.md); errors name it "<spec>".
  // kInvalidArgument listing every problem for a bad spec.
  static Result<std::unique_ptr<Engine>> OpenSpec(std::string_view spec_yaml, EngineOptions options);

  // Parses and validates an NDJSON body for `stream` in the calling thread, routes the valid
  // events to the shards owning their partitions and dead-letters the bad lines. `done` runs
  // once the accepted events and dead letters are durable (see Durability). Returns
  // immediately with an error (and `done` is not called) for: kNotFound (unknown stream),
  // kUnavailable (backpressure: queues or in-flight limit full; nothing was accepted),
  // kOutOfRange (the request alone holds more events for one shard than
  // max_inflight_events_per_shard: it can never be admitted; nothing was accepted),
  // kInvalidArgument (a stream written by pipelines or by the engine: not ingestible),
  // kFailedPrecondition (stopping). `producer` is the caller's index < max_producers: each
  // producer owns its own single-producer rings.
  virtual Status Ingest(std::string_view stream, std::string_view ndjson, uint32_t producer, IngestCallback done) = 0;

  // The embedded form of Ingest: typed rows of the stream's schema (width and field types as
  // declared; strings only need to live for the call), no parsing. The event time is the time
  // field's value (else the ingest time). kInvalidArgument, naming the row and field, for a
  // null in a non-nullable field or a width mismatch: nothing is queued then. Otherwise as
  // Ingest.
  virtual Status IngestRows(std::string_view stream, const RowBatch& rows, uint32_t producer, IngestCallback done) = 0;

  // Ingest, then the decision of `options.pipeline` for each event in the same answer. Waiters
  // are registered before the events are queued; `done` runs once the events are acknowledged
  // (as Ingest's callback would) and either every accepted event has an output row of the
  // pipeline or options.timeout_ms has passed since the acknowledgement: events without one
  // are kPending (they are still processed; the log is the record). Waiters live in memory
  // only: after a crash the log holds the outcome. Returns at once, `done` not called, with
  // Ingest's errors and: kInvalidArgument (an unknown pipeline, or one that does not read the
  // stream; an id field missing, of another type, null or repeated in the call; a timeout over
  // the maximum), kOutOfRange (more than kDecideEventsMax lines), kUnavailable
  // (decide_waiters_max reached). A failed ingest completes `done` with its error. The
  // library's engine implements it; the default refuses (kFailedPrecondition).
  // NOLINTBEGIN(performance-unnecessary-value-param): by value because implementations keep them.
  virtual Status IngestAndDecide(std::string_view stream, std::string_view ndjson, uint32_t producer,
                                 const DecideOptions& options, DecideCallback done) {
    (void)stream, (void)ndjson, (void)producer, (void)options, (void)done;
    return FailedPrecondition("IngestAndDecide is not supported by this engine");
  }
  // The typed form (rows as IngestRows takes them).
  virtual Status IngestRowsAndDecide(std::string_view stream, const RowBatch& rows, uint32_t producer,
                                     const DecideOptions& options, DecideCallback done) {
    (void)stream, (void)rows, (void)producer, (void)options, (void)done;
    return FailedPrecondition("IngestRowsAndDecide is not supported by this engine");
  }
  // NOLINTEND(performance-unnecessary-value-param)

  virtual std::vector<StreamInfo> ListStreams() const = 0;

  // Appends up to `limit` events of stream/partition starting at `from` as NDJSON lines,
  // each an object with "_offset", "_partition", "_event_time" and the fields. At or past the
  // end: appends nothing and returns OK (ReadRows refuses past the end: kOutOfRange). Readers
  // (ReadEvents, ReadRows, Subscribe, ListStreams' end_offset) see acknowledged events only:
  // durable ones, except with Durability::kNone and for pipeline-written streams fsynced at
  // checkpoints (docs/HTTP_API.md).
  virtual Status ReadEvents(std::string_view stream, uint32_t partition, uint64_t from, uint32_t limit,
                            std::string* out) const = 0;

  // One partition's part of DeleteRecords.
  struct DeletedRecords {
    uint32_t partition = 0;
    uint64_t old_start_offset = 0;  // the partition's first offset before
    uint64_t new_start_offset = 0;  // ... and after: records below it are gone
    uint64_t end_offset = 0;        // the offset the next record gets (unchanged)
  };
  using DeleteRecordsCallback = std::function<void(Status, std::vector<DeletedRecords>)>;
  // Deletes the records of stream (one partition, or all when `partition` is nullopt) below
  // offset `before`, online, as retention does (log::PartitionLog::DeleteRecordsBefore): in
  // whole segments, so the new start may stay below `before`; `before` at or past a
  // partition's end deletes all its records. Offsets are never reused. Pipelines and readers
  // behind the new start skip ahead (counted like retention). `done` is called once, from a
  // shard thread (or inline on refusal), with the partitions in order. Refusals: kNotFound
  // (unknown stream), kOutOfRange (no such partition), kUnavailable (the engine is stopping, or
  // a partition's failed write is not rolled back yet: retry); a partition's deletion that
  // fails reports the first error (partitions already done stay done).
  virtual void DeleteRecords(std::string_view stream, std::optional<uint32_t> partition, uint64_t before,
                             DeleteRecordsCallback done) {
    (void)stream, (void)partition, (void)before;
    const DeleteRecordsCallback callback = std::move(done);
    callback(FailedPrecondition("DeleteRecords is not supported by this engine"), {});
  }

  // The typed form of ReadEvents: up to `limit` rows (at most kReadRowsMax; a larger limit reads
  // that many, continue from next_offset) of stream/partition from offset `from`, copied into
  // an owned batch. At the end (from == end_offset): no rows, OK. Unlike ReadEvents, `from`
  // past the visible end is kOutOfRange: no read returns such an offset (the end only grows),
  // so it is a stale or made-up position, and treating it as caught up would skip rows.
  // kNotFound (unknown stream), kOutOfRange (no such partition, `from` below the partition's
  // start or past its end), kDataLoss (corrupt record).
  static constexpr uint32_t kReadRowsMax = 100'000;
  virtual Result<RowsRead> ReadRows(std::string_view stream, uint32_t partition, uint64_t from, uint32_t limit) const {
    (void)stream, (void)partition, (void)from, (void)limit;
    return FailedPrecondition("ReadRows is not supported by this engine");
  }

  // Calls `callback` with every row of `stream` from the options' start on, on the
  // subscription's own thread (see Subscription), until the handle is cancelled or destroyed.
  // `next_offset` is where the subscription continues in `partition` after this batch.
  // kNotFound (unknown stream), kInvalidArgument (options out of range, from_offsets of the
  // wrong size), kOutOfRange (a from_offsets entry past its partition's visible end),
  // kFailedPrecondition (the engine is stopping).
  using SubscribeCallback = std::function<void(const RowBatch& rows, uint32_t partition, uint64_t next_offset)>;
  // NOLINTBEGIN(performance-unnecessary-value-param): by value because implementations keep them.
  virtual Result<std::unique_ptr<Subscription>> Subscribe(std::string_view stream, SubscribeOptions options,
                                                          SubscribeCallback callback) {
    (void)stream, (void)options, (void)callback;
    return FailedPrecondition("Subscribe is not supported by this engine");
  }
  // NOLINTEND(performance-unnecessary-value-param)

  // Calls `done` once, when some partition p of `stream` has a record readable at positions[p]
  // or beyond (its readable end, as ListStreams reports it, passed positions[p]): done(true);
  // or when timeout_ms has passed first, or the engine stops: done(false). Records only: a
  // pipeline-written stream's watermark marker counts, so a read afterwards may return no row
  // (continue from its next_offset). Inline when already readable (or timeout_ms is 0),
  // otherwise on the engine's reader-waiter thread, woken by the shards as records become
  // readable (no polling); `done` must be quick. Returns at once, `done` not called, with:
  // kNotFound (unknown stream), kInvalidArgument (positions not one per partition, timeout_ms
  // over kWaitReadableMaxMs), kUnavailable (kReadWaitersMax calls already waiting),
  // kFailedPrecondition (stopping).
  static constexpr uint32_t kWaitReadableMaxMs = 30'000;
  static constexpr uint32_t kReadWaitersMax = 1024;
  using ReadableCallback = std::function<void(bool readable)>;
  // NOLINTBEGIN(performance-unnecessary-value-param): by value because implementations keep them.
  virtual Status WaitReadable(std::string_view stream, std::vector<uint64_t> positions, uint32_t timeout_ms,
                              ReadableCallback done) {
    (void)stream, (void)positions, (void)timeout_ms, (void)done;
    return FailedPrecondition("WaitReadable is not supported by this engine");
  }
  // NOLINTEND(performance-unnecessary-value-param)
  // Answers every WaitReadable call still waiting now (done(false)) and refuses new ones
  // (kFailedPrecondition), as Stop does: for a front end that stops before the engine.
  virtual void StopReadWaits() {}

  // Every pipeline of the loaded spec, in spec order, with its sources, sinks and progress.
  // Empty for engines that do not provide it.
  virtual std::vector<PipelineInfo> ListPipelines() const { return {}; }

  // Prometheus text exposition of all engine metrics.
  virtual std::string MetricsText() const = 0;
  virtual std::vector<StageLatency> StageLatencies() const = 0;

  // Waits until every pipeline has processed all durable input (lag 0). kUnavailable on
  // timeout; the error of a pipeline task that stopped on a failure (its state backend failed:
  // the task waits for a restart, counted in impulse_pipeline_tasks_failed). For tests, the demo
  // and orderly shutdown; not for the per-event path.
  virtual Status WaitForPipelines(int64_t timeout_ms) const = 0;

  // Stops accepting, drains queued work, flushes and syncs, stops the shards. Idempotent.
  virtual Status Stop() = 0;

  // Stops as Stop does, for a front end whose own start failed after Open returned (its port
  // taken, its input unreadable): the start did not happen, so it leaves no trace a retry would
  // trip on. No final checkpoint is taken, and the spec fingerprint Open recorded (DATA_DIR/SPEC)
  // is put back as it was (removed from a fresh directory), so that the directory can be started
  // with another spec. After Stop, does nothing.
  virtual Status Abandon() { return Stop(); }

  virtual uint32_t shard_count() const = 0;

  // Declares that `stream` has no more input for this run: once the pipelines have read all of
  // it, its watermark jumps to +infinity, so every window closes (bounded runs, tests,
  // benchmarks). Not persisted. kNotFound for an unknown stream, kInvalidArgument for a stream
  // that pipelines write (its watermark follows its writers).
  virtual Status EndOfInput(std::string_view stream) = 0;

  // Takes a checkpoint now and waits for it (kUnavailable when checkpoints are disabled or it
  // times out). Returns its id.
  virtual Result<uint64_t> CheckpointNow() = 0;
  // Resets pipeline `pipeline` online (docs/OPERATIONS.md, "Resetting a pipeline"): its tasks
  // on every shard are paused at a checkpoint barrier, their operator state is dropped (windows,
  // feature values, dedup and join buffers, trigger cooldowns), their input positions move to the
  // start or the end of every source partition, and that checkpoint is committed before `done`
  // gets OK, so a crash afterwards restarts from the reset. Other pipelines only pause as for
  // any checkpoint. A pipeline reading this one's sink is not reset. Serialized with checkpoints
  // and other resets (one at a time, on the checkpoint thread). `done` is called once, from the
  // engine's checkpoint thread (or inline on a refusal): kNotFound (unknown pipeline, with a
  // did-you-mean), kFailedPrecondition (checkpoints off, end of input declared, a task stopped
  // by an error; not supported: a group member, the RocksDB state backend), kUnavailable
  // (stopping, or the checkpoint could not pause the shards in time: nothing changed). An error
  // after the shards paused (the checkpoint's write failed) says that the reset is in effect in
  // the running engine but becomes durable only with the next checkpoint.
  // At most kResetsQueuedMax resets wait for the checkpoint thread; more are kUnavailable.
  static constexpr size_t kResetsQueuedMax = 8;
  using ResetCallback = std::function<void(Status, PipelineReset)>;
  virtual void ResetPipeline(std::string_view pipeline, ResetTo to, ResetCallback done) {
    (void)pipeline, (void)to;
    const ResetCallback callback = std::move(done);
    callback(FailedPrecondition("ResetPipeline is not supported by this engine"), {});
  }
  // Members of a group (EngineOptions::kafka_member_partition): lets Kafka sinks export the
  // outputs up to checkpoint `id` (and the earlier ones). Others: no effect.
  virtual void ReleaseExports(uint64_t id) { (void)id; }

  // Online features (docs/FEATURES.md): the current values of feature view `view` for each
  // entity in `entities` (the entity key as text: "42" for an int64 entity, the string itself
  // for a string entity). Appends to `out` one JSON object per entity, comma-separated, in
  // order (the caller writes the enclosing array or object):
  //   {"entity":"42","found":true,"as_of":"<RFC 3339>","as_of_ms":N,"age_ms":N,
  //    "features":{"name":value,...}}
  // An unknown entity, a key that is not valid for the entity's type, or values older than the
  // view's ttl come back with "features":null and a "reason". `*found` (if non-null) receives
  // the number of entities returned with values. kNotFound for an unknown view;
  // kInvalidArgument for more than kFeatureLookupBatchMax entities.
  static constexpr size_t kFeatureLookupBatchMax = 1000;
  virtual Status LookupFeatures(std::string_view view, const std::vector<std::string_view>& entities, std::string* out,
                                size_t* found) const = 0;
  // The typed form of LookupFeatures: the view's current values per entity as rows of its
  // feature schema. kNotFound for an unknown view; kInvalidArgument for more than
  // kFeatureLookupBatchMax entities.
  virtual Result<FeatureRows> LookupFeatureRows(std::string_view view,
                                                const std::vector<std::string_view>& entities) const {
    (void)view, (void)entities;
    return FailedPrecondition("LookupFeatureRows is not supported by this engine");
  }
  // Names of the feature views of the loaded spec.
  virtual std::vector<std::string> FeatureViews() const = 0;
};

}  // namespace impulse
