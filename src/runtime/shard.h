// A shard: one thread that owns partitions (p % shards == id) of every stream. Its loop:
//   1. drain the inbound rings (producers and other shards) and append to owned logs;
//   2. sync the touched logs and acknowledge the requests whose records are now durable;
//   3. run pipeline tasks over newly durable input, appending outputs locally or handing them
//      to the owning shard through the exchange ring;
//   4. sleep on a futex when there is nothing to do (no busy polling).
// Everything here runs on the shard's thread except Signal(), the metric reads and Start/Join.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "impulse/row.h"
#include "log/partition_log.h"
#include "plan/physical.h"
#include "runtime/engine_impl.h"
#include "runtime/metrics.h"
#include "runtime/waker.h"

namespace impulse::runtime {

struct ShardMetrics {
  std::vector<Counter> events_appended;  // per stream
  std::vector<Counter> pipeline_in;      // per pipeline
  std::vector<Counter> pipeline_out;     // per pipeline
  Counter cycles;
  Counter sync_errors;
  Counter append_errors;
  Counter rollbacks;                   // a partition's records of refused requests dropped (Shard::RollBackFailedBatch)
  Counter rollback_errors;             // ... and the drop failed: they may be stored at the next start
  Counter retention_skipped;           // input removed by retention before a pipeline read it
  Counter retention_errors;            // EnforceRetention failed (the segment stays; retried later)
  Counter decode_errors;               // a checksummed record that does not decode: skipped, counted
  Counter task_errors;                 // pipeline read or cursor-write failures (retried)
  Counter checkpoint_errors;           // a task state that could not be written (the checkpoint fails)
  std::vector<Counter> late_events;    // per pipeline: rows sent to _late_events
  std::vector<Counter> tasks_failed;   // per pipeline: tasks stopped by an operator error
  LatencyHistogram ingest_to_durable;  // request receipt -> ack
  LatencyHistogram ingest_to_output;   // request receipt -> pipeline output durable
  LatencyHistogram pipeline_batch;     // one pipeline batch: read, process, emit
  LatencyHistogram log_fsync;          // one partition's flush + fdatasync in the group commit
  explicit ShardMetrics(size_t streams, size_t pipelines)
      : events_appended(streams),
        pipeline_in(pipelines),
        pipeline_out(pipelines),
        late_events(pipelines),
        tasks_failed(pipelines) {}
};

class Shard {
 public:
  Shard(EngineImpl* engine, uint32_t id);
  ~Shard();

  // Builds pipeline tasks for owned partitions, loading their cursors.
  Status Init();
  void Start();
  void Signal() { waker_.Signal(); }
  // True while the shard sleeps with nothing queued (any thread).
  bool idle() const { return waker_.sleeping(); }
  // True while the shard sleeps with no inbound work, no pipeline lag, no pending acks and
  // nothing unsynced (any thread). Cleared as soon as it wakes.
  bool quiescent() const { return quiescent_.load(std::memory_order_seq_cst); }
  // The engine's end_epoch() as of the last cycle whose watermark tick reached every task.
  uint64_t applied_end_epoch() const { return applied_end_epoch_.load(std::memory_order_acquire); }
  // Commands received from shard `src` through the exchange ring that are now durable here
  // (any thread): lets `src` persist its cursors only past outputs that are safe.
  uint64_t exchange_durable_from(uint32_t src) const {
    return exchange_durable_from_[src].load(std::memory_order_acquire);
  }
  void Join();

  uint32_t id() const { return id_; }
  const ShardMetrics& metrics() const { return metrics_; }
  // Lag of every task: source end offset - cursor, summed per pipeline (any thread; approximate).
  uint64_t PipelineLag(size_t pipeline) const;
  // Any thread: whether a running task reads a broadcast input (another shard's partition) that
  // has records it has not processed. Such input does not wake this shard by itself (its
  // writer is another shard), so Quiescent asks (approximate, as PipelineLag).
  bool BroadcastInputPending() const;
  // Each input of this shard's tasks of `pipeline`: its cursor and processable end (any
  // thread; approximate, as PipelineLag).
  struct InputProgress {
    uint32_t stream = 0;
    uint32_t partition = 0;
    uint64_t cursor = 0;
    uint64_t end = 0;
  };
  void PipelineInputs(size_t pipeline, std::vector<InputProgress>* out) const;
  // The smallest cursor of this shard's tasks reading stream/partition (any thread); false if
  // none reads it.
  bool MinCursor(uint32_t stream, uint32_t partition, uint64_t* cursor) const;

  // Events accepted by producers and not yet acknowledged: the backpressure bound
  // (EngineOptions::max_inflight_events_per_shard).
  std::atomic<uint64_t> inflight_events{0};

  // Checkpoint protocol (see EngineImpl::RunCheckpoint). prepared_epoch: this shard is between
  // two cycles and runs small batches until it pauses. paused_epoch: this shard stopped its
  // tasks and wrote their positions (ckpt_positions) and state for that epoch. drained_epoch:
  // also nothing left in its inbound exchange rings and everything appended is synced; the
  // ends of the pipeline-written partitions it owns are in ckpt_positions.
  std::atomic<uint64_t> prepared_epoch{0};
  std::atomic<uint64_t> paused_epoch{0};
  std::atomic<uint64_t> drained_epoch{0};
  std::vector<std::pair<std::string, uint64_t>> ckpt_positions;  // read after the epochs (acquire)
  Status ckpt_status;
  // The state files of the checkpoint of paused_epoch, produced by this shard's tasks after
  // they resume (StepCaptures) and written by the checkpoint writer. Read after paused_epoch.
  state::AsyncFiles ckpt_files;
  // Pipeline-written partitions whose recorded end (drained_epoch) must be durable before the
  // manifest commits: (log, end). Read after drained_epoch.
  std::vector<std::pair<log::PartitionLog*, uint64_t>> ckpt_durable_waits;
  // The inputs a reset moved at the pause of paused_epoch (EngineImpl::ResetPlan): written
  // before paused_epoch, read after it (acquire).
  struct ResetInput {
    uint32_t stream = 0;
    uint32_t partition = 0;
    uint64_t before = 0;
    uint64_t after = 0;
  };
  std::vector<ResetInput> reset_inputs;
  // Per pipeline: stats of its stateful operators summed over this shard's tasks, refreshed
  // at checkpoints and housekeeping (read by metrics under stats_mu).
  std::mutex stats_mu;
  std::vector<std::vector<std::pair<std::string, plan::OperatorStats>>> op_stats;
  // Smallest task watermark per pipeline (INT64_MIN when none yet), for metrics.
  std::vector<std::atomic<int64_t>> pipeline_watermark;
  // The first operator error that stopped a task of this shard (OK while none), with the
  // pipeline and partition as context. Any thread (WaitForPipelines).
  Status task_failure() const;

  // A deletion of the records of an owned partition below `before` (Engine::DeleteRecords),
  // run on the shard's thread, the log's writer. `done` gets the status, the start offsets
  // before and after and the end offset, from the shard's thread (or the caller's, once the
  // shard has exited).
  struct DeleteRecordsJob {
    uint32_t stream = 0;
    uint32_t partition = 0;
    uint64_t before = 0;
    std::function<void(Status, uint64_t old_start, uint64_t new_start, uint64_t end)> done;
  };
  // Any thread. Run between two cycles, once the partition's last batch is synced (a failed
  // batch is rolled back to where it started, which must still be in the log).
  void RequestDeleteRecords(DeleteRecordsJob job);

 private:
  // One input of a task: a partition of a stream, and its event-time progress.
  struct Input {
    uint32_t stream = 0;
    uint32_t partition = 0;
    std::atomic<uint64_t> cursor{0};   // next offset to process (read by metrics)
    bool derived = false;              // written by pipelines: watermark from their markers
    std::vector<int64_t> writer_wm;    // derived: per writer, INT64_MIN until its first marker
    int64_t max_ts = INT64_MIN;        // declared streams: largest event time read
    int64_t own_wm = INT64_MIN;        // from the input alone (markers or max_ts - bound)
    int64_t effective_wm = INT64_MIN;  // own_wm, raised by idleness or the end of input
    uint64_t seen_end = 0;             // processable end at the last check
    int64_t last_progress_ns = 0;      // when new input last appeared
  };
  // A pipeline reading one owned source partition (and, for a join, the same partition of the
  // right stream; for a broadcast lookup, every partition of it).
  struct Task {
    size_t pipeline;
    std::unique_ptr<plan::PipelineInstance> instance;
    // Input 0: the source partition (the operators' side 0); inputs 1..: the right stream's
    // partitions (side 1). A deque: Input holds an atomic and must not move.
    std::deque<Input> in;
    int sides = 1;           // inputs in `in` (not operator sides: see SideOf)
    bool broadcast = false;  // inputs 1.. are every partition of the right stream
    int next_side = 0;
    uint32_t sink = UINT32_MAX;     // stream index for stream sinks
    uint32_t writer_id = 0;         // this task's id among the writers of `sink` (markers)
    int64_t wm = INT64_MIN;         // watermark the instance has been advanced to
    int64_t marker_wm = INT64_MIN;  // last watermark written downstream as a marker
    int64_t marker_ns = INT64_MIN;  // when (clock ns) that marker was written
    bool wall_clock = false;        // reads a stream whose idle watermark follows the wall clock
    uint64_t persisted = 0;
    std::string cursor_path;
    // An output could not be written, or an operator failed: stopped until a restart. Atomic:
    // read by BroadcastInputPending from other threads.
    std::atomic<bool> failed{false};
    bool restored = false;  // state came from a checkpoint
    std::atomic<uint64_t>& cursor() { return in[0].cursor; }
    // The operators' input side of input `i`: 0 for the source, 1 for the right stream.
    static int SideOf(int i) { return i == 0 ? 0 : 1; }
  };
  // Arrival time of appended ingest records, to measure ingest-to-output latency.
  struct Arrival {
    uint64_t end_offset;
    int64_t arrival_ns;
  };

  void Run();
  bool DrainInbound();
  void AppendCommandRecords(AppendCommand& cmd);
  void SyncAndAck();
  bool RunTasks();
  // Returns false when outputs could not be handed over (exchange ring full): retry later.
  bool RunTaskBatch(Task& t, bool* progressed);
  void PersistCursors(bool force);
  // Decodes `records_` of input `side` into in_ (markers update the input's watermark; rows get
  // meta.watermark_ms).
  void DecodeInput(Task& t, int side);
  // Recomputes each input's effective watermark (idleness, end of input); returns the task's.
  int64_t TaskWatermark(Task& t, int64_t now_ns);
  void UpdateOwnWatermark(Task& t, int side);
  // Appends out_/late_ rows and, when the watermark moved, markers. False: retry the batch.
  bool EmitOutputs(Task& t);
  // Stops task `t` after its instance returned `status` (an operator's error): logged on stderr
  // with the pipeline, partition and operator, counted in tasks_failed, kept for task_failure().
  void FailTask(Task& t, const Status& status);
  void RefuseOversize(const Task& t, const StreamDef& target, const Value* row, const RowMeta& meta);
  // Advances idle or ended tasks' watermarks without input (fires windows). True if any moved.
  bool TickWatermarks();
  void CheckpointStep();
  // At a checkpoint's pause that carries a reset: the pipeline's tasks here take their fresh
  // instance from the plan, forget their event-time progress and move their cursors.
  void ResetTasks();
  Status SnapshotTasks(uint64_t epoch);
  // Advances the state captures begun by SnapshotTasks by one slice (kCaptureSliceUs); false
  // when there was nothing to do (none in progress, or the writer is behind).
  bool StepCaptures();
  bool capturing_ = false;      // ckpt_files still has state to produce
  uint32_t batch_records_ = 0;  // records per task batch this cycle (RunTasks)
  Status RestoreTask(Task& t);
  Status LoadLookupTable(Task& t, const plan::LogicalPipeline& lp);
  void RefreshOpStats();
  void Housekeeping(int64_t now_ms);
  // Runs the queued DeleteRecordsJobs whose partition is clean; `exiting`: refuses them all.
  void RunDeleteJobs(bool exiting);
  bool HasWork();
  bool TasksMayRun() const;  // not paused by a checkpoint or by output waiting for a retry
  bool RunTasksBeforeSync();
  bool FlushCheckpointSynced();
  // Makes a partition's appended records readable without an fsync: published from memory for a
  // stream that checkpoints make durable (a crash recomputes it), written otherwise.
  Status MakeVisible(uint32_t stream, log::PartitionLog* plog);
  // Whether some exchange ring from this shard is full (a stream-sink task must wait).
  bool ExchangeBlocked();
  // Marks (stream, partition) as written in the current batch, before the append: the first
  // touch records where the batch starts in that log, so a refused batch can be rolled back.
  // `kind` is kRequestRecords or kOutputRecords.
  void MarkDirty(uint32_t stream, uint32_t partition, uint8_t kind);
  // After a failed append, write or sync: drops every record of the refused requests from
  // their logs (so no later flush or restart stores them) and keeps pipeline-output-only
  // partitions whose log still holds the records dirty, to be written again.
  // `refuse_requests`: a write holding request records failed, so every pending request is
  // refused; otherwise only pipeline output failed.
  void RollBackFailedBatch(bool refuse_requests);
  // Records a failed flush or sync of (stream, partition) in cycle_error_, and in
  // request_error_ if the partition holds records of pending requests.
  void NoteWriteError(uint32_t stream, uint32_t partition, const Status& st);
  // Retries the roll-backs that failed (pending_rollback_) of partitions not written since:
  // from Housekeeping and at exit, so an idle partition does not keep refused records.
  void RetryPendingRollbacks();
  // Pipelines read up to the durable end (or the written end without fsync durability).
  // What a task may read of an input: durable records, or visible ones where durability does
  // not gate reading (durability none; derived streams synced at checkpoints).
  uint64_t ProcessableEnd(uint32_t stream, uint32_t partition) const;

  EngineImpl* engine_;
  uint32_t id_;
  Waker waker_;
  std::thread thread_;
  ShardMetrics metrics_;
  std::vector<std::unique_ptr<Task>> tasks_;
  std::vector<Ring*> inbound_;                        // ingest rings then exchange rings addressed to this shard
  std::vector<std::pair<uint32_t, uint32_t>> dirty_;  // (stream, partition) to sync
  static constexpr uint8_t kDirty = 1;
  static constexpr uint8_t kRequestRecords = 2;    // the batch holds records of ingest requests
  static constexpr uint8_t kOutputRecords = 4;     // ... and/or pipeline output
  std::vector<std::vector<uint8_t>> dirty_flag_;   // [stream][partition]: k* bits, 0 = clean
  std::vector<std::vector<uint64_t>> batch_base_;  // [stream][partition]: log offset where the batch starts
  // [stream][partition]: a roll-back that failed (UINT64_MAX: none), retried at the next write
  // there; until it succeeds the log refuses writes.
  std::vector<std::vector<uint64_t>> pending_rollback_;
  bool output_backlog_ = false;   // pipeline output waits for a failed write to be retried: tasks pause
  int64_t backlog_retry_ns_ = 0;  // with output_backlog_: when SyncAndAck writes it again
  std::vector<std::shared_ptr<IngestRequest>> pending_acks_;
  std::vector<uint64_t> pending_ack_events_;
  std::vector<CommandPtr> pending_ack_parts_;  // per pending ack: its command if the request is split
  Status cycle_error_;                         // any append, write or sync failure this cycle (outputs not durable)
  Status request_error_;                       // ... of records of pending requests: they are all refused with it
  Status output_error_;  // sticky: pipeline output really lost (dropped, unwritable log); fails checkpoints
  mutable std::mutex failure_mu_;
  Status task_failure_;                                     // guarded by failure_mu_: see task_failure()
  std::vector<std::vector<std::deque<Arrival>>> arrivals_;  // [stream][partition], bounded
  // Scratch, reused every batch.
  std::vector<log::Record> records_;
  std::string storage_;
  RowBatch in_;
  RowBatch out_;
  RowBatch late_;
  std::string marker_;
  std::string encoded_;
  std::string lines_;
  std::vector<CommandPtr> outgoing_;  // per destination shard
  std::mutex delete_mu_;
  std::vector<DeleteRecordsJob> delete_jobs_;  // guarded by delete_mu_
  bool delete_closed_ = false;                 // guarded by delete_mu_: the loop has exited
  std::atomic<bool> delete_pending_{false};    // delete_jobs_ may be non-empty (HasWork)
  int64_t last_housekeeping_ms_ = 0;
  int64_t last_persist_ms_ = 0;
  int64_t last_sync_ns_ = 0;
  std::atomic<bool> quiescent_{false};
  std::atomic<uint64_t> applied_end_epoch_{0};
  bool tick_complete_ = false;      // the last TickWatermarks reached every task
  bool wall_clock_inputs_ = false;  // some task reads a stream whose idle watermark follows the wall clock
  // Cursor safety across shards (see PersistCursors).
  std::vector<uint64_t> exchange_sent_to_;                          // per destination shard
  std::vector<uint64_t> exchange_popped_from_;                      // per source shard
  std::unique_ptr<std::atomic<uint64_t>[]> exchange_durable_from_;  // per source shard
  uint64_t local_durable_epoch_ = 0;                                // bumped when everything appended so far is durable
  struct CursorCandidate {
    bool valid = false;
    std::vector<uint64_t> cursors;  // per task
    std::vector<uint64_t> sent;     // exchange_sent_to_ at the snapshot
    uint64_t local_epoch = 0;       // local_durable_epoch_ at the snapshot
  };
  CursorCandidate candidate_;
  void WriteCursors(const std::vector<uint64_t>& cursors);
  int64_t sync_deadline_ns_ = 0;  // kGroupCommit: when the pending writes must be synced
};

}  // namespace impulse::runtime
