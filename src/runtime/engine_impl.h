// The engine's internals: streams and their partition logs, the shards that own them, and the
// rings between producers (front-end threads) and shards and between shards.
//
// Ownership: partition p of every stream belongs to shard p % shards. Only that shard appends
// to it, runs pipeline tasks whose source it is, and syncs it. Producers parse and encode in
// their own thread and hand pre-encoded records to owners through single-producer rings.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "checkpoint/checkpoint_store.h"
#include "connect/host.h"
#include "event/ndjson.h"
#include "features/online_store.h"
#include "impulse/engine.h"
#include "impulse/row.h"
#include "log/partition_log.h"
#include "model/repository.h"
#include "plan/logical_plan.h"
#include "plan/physical.h"
#include "runtime/metrics.h"
#include "runtime/outbox.h"
#include "runtime/read_waiters.h"
#include "runtime/spsc_ring.h"
#include "runtime/waker.h"

namespace impulse {
class DirLock;  // common/dir_lock.h
}  // namespace impulse

namespace impulse::runtime {

// The end recorded by a source partition's last copied batch (engine_connect.cc); false if none.
bool ReadSourceHint(const log::PartitionLog& l, uint64_t* end);

class DecisionWaiters;  // decide.h
struct DecideTarget;    // decide.h
class EngineImpl;
class Shard;
struct SubscriptionState;  // engine_subscribe.cc

// The engine's live subscriptions, shared with their handles (which may outlive the engine):
// the engine joins every subscription thread before its logs go away.
struct SubscriptionRegistry {
  std::mutex mu;
  bool closed = false;  // the engine is being destroyed: no new subscription
  std::vector<std::shared_ptr<SubscriptionState>> live;
};

struct AppendCommand;

// One front-end request's progress across the shards it touched.
struct IngestRequest {
  std::atomic<uint32_t> pending{0};
  std::mutex mu;  // guards status (per request, never per event)
  Status status;
  IngestResult result;
  Engine::IngestCallback done;
  int64_t start_ns = 0;
  uint32_t parts = 0;  // commands the request was split into (one per shard, plus dead letters)
  // Guarded by mu: with parts > 1, the commands whose shard made them durable; if the
  // request fails elsewhere their lines become result.stored_lines.
  std::vector<std::unique_ptr<AppendCommand>> stored_parts;
};

// Counts one ingest call in the engine's active_ingests_ for the call's lifetime. Taken before
// the stopping check (both seq_cst), so Stop() either sees the call and waits for it, or the
// call sees the stop and queues nothing.
class ActiveIngest {
 public:
  explicit ActiveIngest(std::atomic<uint32_t>* n) : n_(n) { n_->fetch_add(1, std::memory_order_seq_cst); }
  ~ActiveIngest() { n_->fetch_sub(1, std::memory_order_seq_cst); }
  ActiveIngest(const ActiveIngest&) = delete;
  ActiveIngest& operator=(const ActiveIngest&) = delete;

 private:
  std::atomic<uint32_t>* n_;
};

// Holds a producer's busy flag for a call. held() is false when another thread holds it (two
// threads misusing one producer index); the flag is then left as it is.
class ProducerClaim {
 public:
  explicit ProducerClaim(std::atomic<bool>* busy)
      : busy_(busy), held_(!busy->exchange(true, std::memory_order_acquire)) {}
  ~ProducerClaim() {
    if (held_) busy_->store(false, std::memory_order_release);
  }
  ProducerClaim(const ProducerClaim&) = delete;
  ProducerClaim& operator=(const ProducerClaim&) = delete;
  bool held() const { return held_; }

 private:
  std::atomic<bool>* busy_;
  bool held_;
};

// Pre-encoded records for partitions of one stream owned by one shard.
struct AppendCommand {
  struct Rec {
    uint32_t partition;
    uint32_t begin;  // into data
    uint32_t len;
    int64_t timestamp_ms;          // the record's ingest time (log retention by age)
    uint32_t stream = UINT32_MAX;  // UINT32_MAX: the command's stream (pipelines mix streams)
    uint32_t line = 0;             // ingest: the request line (or row) it came from
  };
  uint32_t stream = 0;
  std::string data;
  std::vector<Rec> recs;
  std::shared_ptr<IngestRequest> request;  // null for shard-to-shard exchange
  int64_t arrival_ns = 0;
};
using CommandPtr = std::unique_ptr<AppendCommand>;
using Ring = SpscRing<CommandPtr>;

struct StreamState {
  StreamDef def;
  uint32_t index = 0;
  std::vector<std::unique_ptr<log::PartitionLog>> partitions;
  std::atomic<uint64_t> events_rejected{0};  // by producers, per request
  std::atomic<uint64_t> requests{0};
};

// A per-shard sink for NDJSON files or stdout: lines are buffered per batch and written under
// the sink's mutex, once per batch.
class LineSink {
 public:
  static Result<std::unique_ptr<LineSink>> Open(const plan::SinkDef& def);
  ~LineSink();
  Status Write(std::string_view lines);
  Status Flush();

 private:
  std::mutex mu_;
  int fd_ = -1;
  bool owns_fd_ = false;
  std::string path_;
};

class EngineImpl final : public Engine, public connect::Host {
 public:
  static Result<std::unique_ptr<EngineImpl>> Create(plan::LogicalPlan plan, EngineOptions options);
  // Tests only: faults injected into every task, to drive the error paths through a whole engine.
  struct TestHooks {
    uint64_t state_fail_after_ops = 0;  // state::StateOptions::fail_after_ops_for_test of every operator
    StatusCode state_fail_code = StatusCode::kIOError;  // ... and its fail_code_for_test
    std::string state_fail_pipeline;                    // only this pipeline's operators; empty: all
    // This shard sleeps pause_stall_ms before each checkpoint pause: a shard late to pause.
    uint32_t pause_stall_shard = UINT32_MAX;
    int64_t pause_stall_ms = 0;
  };
  static Result<std::unique_ptr<EngineImpl>> Create(plan::LogicalPlan plan, EngineOptions options, TestHooks hooks);
  ~EngineImpl() override;

  Status Ingest(std::string_view stream, std::string_view ndjson, uint32_t producer, IngestCallback done) override;
  Status IngestRows(std::string_view stream, const RowBatch& rows, uint32_t producer, IngestCallback done) override;
  Status IngestAndDecide(std::string_view stream, std::string_view ndjson, uint32_t producer,
                         const DecideOptions& options, DecideCallback done) override;
  Status IngestRowsAndDecide(std::string_view stream, const RowBatch& rows, uint32_t producer,
                             const DecideOptions& options, DecideCallback done) override;
  std::vector<StreamInfo> ListStreams() const override;
  Status ReadEvents(std::string_view stream, uint32_t partition, uint64_t from, uint32_t limit,
                    std::string* out) const override;
  std::string MetricsText() const override;
  std::vector<StageLatency> StageLatencies() const override;
  // Also returns the error of a task an operator failure stopped (Shard::task_failure), rather
  // than waiting for a pipeline that cannot catch up.
  Status WaitForPipelines(int64_t timeout_ms) const override;
  Status Stop() override;
  Status Abandon() override;
  uint32_t shard_count() const override { return static_cast<uint32_t>(shards_.size()); }
  Status EndOfInput(std::string_view stream) override;
  Result<uint64_t> CheckpointNow() override;
  void ResetPipeline(std::string_view pipeline, ResetTo to, ResetCallback done) override;
  void ReleaseExports(uint64_t id) override;
  Status LookupFeatures(std::string_view view, const std::vector<std::string_view>& entities, std::string* out,
                        size_t* found) const override;
  std::vector<std::string> FeatureViews() const override;
  Result<FeatureRows> LookupFeatureRows(std::string_view view,
                                        const std::vector<std::string_view>& entities) const override;
  Result<RowsRead> ReadRows(std::string_view stream, uint32_t partition, uint64_t from, uint32_t limit) const override;
  void DeleteRecords(std::string_view stream, std::optional<uint32_t> partition, uint64_t before,
                     DeleteRecordsCallback done) override;
  Result<std::unique_ptr<Subscription>> Subscribe(std::string_view stream, SubscribeOptions options,
                                                  SubscribeCallback callback) override;
  Status WaitReadable(std::string_view stream, std::vector<uint64_t> positions, uint32_t timeout_ms,
                      ReadableCallback done) override;
  std::vector<PipelineInfo> ListPipelines() const override;
  void StopReadWaits() override { read_waiters_.Close(); }
  // Shards, once per cycle: records may have become readable (wakes WaitReadable callers).
  void NotifyReadWaiters() { read_waiters_.Notify(); }

  // Appends the rows (not the watermark markers) of stream/partition from offset `from` to
  // `out` (the schema's width), at most `limit` of them, each with its offset, partition, event
  // and ingest time; *next receives one past the last record read. Any thread.
  // With writer_wm, the watermark markers read raise writer_wm[writer] (markers of writers
  // beyond its size are ignored).
  Status ReadPartitionRows(uint32_t stream, uint32_t partition, uint64_t from, uint32_t limit, RowBatch* out,
                           uint64_t* next, uint64_t until = UINT64_MAX,
                           std::vector<int64_t>* writer_wm = nullptr) const;

  // connect::Host (engine_connect.cc): what the Kafka connectors use.
  const StreamDef* FindStream(std::string_view name, uint32_t* index) const override;
  int64_t SourceResumePosition(uint32_t stream, uint32_t partition) const override;
  Status AppendSourceBatch(uint32_t stream, uint32_t partition, const RowBatch& rows, std::vector<BadLine>* bad,
                           std::string_view trailer, uint64_t* end) override;
  NdjsonLimits SourceLimits() const override {
    NdjsonLimits l;
    l.max_line_bytes = options_.max_line_bytes;
    return l;
  }
  uint64_t SourceBatchMax() const override { return options_.max_inflight_events_per_shard; }
  uint64_t FirstOffset(uint32_t stream, uint32_t partition) const override {
    return streams_[stream]->partitions[partition]->start_offset();
  }
  uint64_t ProcessedOffset(uint32_t stream, uint32_t partition) const override;
  uint64_t CommittedEnd(uint32_t stream, uint32_t partition) const override;
  Status ReadRows(uint32_t stream, uint32_t partition, uint64_t from, uint64_t end, uint32_t limit, RowBatch* out,
                  uint64_t* next) const override;
  Status ReadRowsAndMarks(uint32_t stream, uint32_t partition, uint64_t from, uint64_t end, uint32_t limit,
                          RowBatch* out, uint64_t* next, std::vector<int64_t>* writer_wm) const override {
    return ReadPartitionRows(stream, partition, from, limit, out, next, end, writer_wm);
  }
  uint32_t WriterCount(uint32_t stream) const override { return writer_count(stream); }

  // Shard-facing.
  // The repository predict steps score with (options().models as the library's type), or null.
  model::ModelRepository* models() const { return models_; }
  const EngineOptions& options() const { return options_; }
  const TestHooks& test_hooks() const { return test_hooks_; }
  // Producer slots: the callers' max_producers, then one for the engine's own writes (the
  // outbox dispatcher's dead letters and agent answers).
  // Then one per connector source, Kafka and NATS (connect::Host::AppendSourceBatch).
  uint32_t producer_count() const {
    return options_.max_producers + 1 + static_cast<uint32_t>(plan_.ConnectorSourceStreams().size());
  }
  // The engine's own writes to a stream that is not pipeline-written (dispatcher thread only).
  // As IngestRows otherwise.
  Status IngestInternal(uint32_t stream, const RowBatch& rows, IngestCallback done);
  // A pipeline-written stream that is fsynced at checkpoints rather than every shard cycle
  // (checkpoints on, except the outbox, whose firings are attempted only once durable). A
  // restore truncates such a stream to its checkpointed end and recomputes the rest from durable
  // inputs, so per-cycle fsyncs bought nothing but one disk flush per pipeline hop of latency.
  bool sync_at_checkpoint(uint32_t stream) const { return sync_at_checkpoint_[stream] != 0; }
  // How far a partition may be read, by pipeline tasks and by readers (ReadEvents, ReadRows,
  // Subscribe, ListStreams): its durable end. Written records past it belong to requests not yet
  // answered, whose failed fsync rolls them back and gives their offsets to later events. The
  // written end where durability does not gate acknowledgement (durability none) or the stream
  // is fsynced at checkpoints (a crash recomputes it: not read-committed, docs/ARCHITECTURE.md).
  uint64_t ReadableEnd(uint32_t stream, uint32_t partition) const override {
    const log::PartitionLog& l = *streams_[stream]->partitions[partition];
    return options_.durability == Durability::kNone || sync_at_checkpoint(stream) ? l.end_offset() : l.durable_offset();
  }
  // The outbox's index, or UINT32_MAX without one; shards call NotifyOutbox after syncing it.
  uint32_t outbox_stream() const { return outbox_stream_; }
  void NotifyOutbox() {
    if (dispatcher_) dispatcher_->Notify();
  }
  // Callers waiting for pipeline outputs (IngestAndDecide); shards call Deliver when waiting().
  DecisionWaiters& decisions() { return *decide_; }
  StreamState& stream(uint32_t i) { return *streams_[i]; }
  uint32_t stream_count() const { return static_cast<uint32_t>(streams_.size()); }
  uint32_t OwnerOf(uint32_t partition) const { return partition % shard_count(); }
  Ring& exchange_ring(uint32_t src, uint32_t dst) { return *exchange_[dst][src]; }
  Ring& ingest_ring(uint32_t producer, uint32_t shard) { return *ingest_[shard][producer]; }
  Shard& shard(uint32_t i) { return *shards_[i]; }
  const std::vector<std::unique_ptr<plan::PhysicalPipeline>>& pipelines() const { return pipelines_; }
  // The online store of feature view `view`, or null.
  plan::OnlineStore* online_store(const std::string& view) const;
  LineSink* line_sink(size_t pipeline) { return line_sinks_[pipeline].get(); }
  Clock* clock() const { return clock_; }
  Env* env() const { return env_; }
  bool stopping() const { return stopping_.load(std::memory_order_seq_cst); }
  // Set by Stop() once every shard is quiescent and every ring is empty: shards leave their loop.
  bool exiting() const { return exiting_.load(std::memory_order_acquire); }
  // Whether Stop() saw the engine drained before asking shards to exit (read after exiting()).
  bool drained() const { return drained_.load(std::memory_order_acquire); }
  // Bumped by a shard whenever it wakes or does work; Stop() uses it to see a quiet engine.
  std::atomic<uint64_t> activity{0};
  int StreamIndex(std::string_view name) const;
  std::string CursorPath(const std::string& pipeline, uint32_t partition) const;

  std::atomic<uint64_t> backpressure_rejections{0};
  std::atomic<uint64_t> oversized_rejections{0};  // requests over max_inflight_events_per_shard alone

  // Event time (see Shard::TaskWatermark).
  bool ended(uint32_t stream) const { return ended_[stream].load(std::memory_order_acquire); }
  // Bumped by every EndOfInput; a shard publishes the value it has applied to all its tasks'
  // watermarks (Shard::applied_end_epoch), so WaitForPipelines can wait for that too.
  uint64_t end_epoch() const { return end_epoch_.load(std::memory_order_acquire); }
  // Writers of a pipeline-written stream: one per source partition of each pipeline writing
  // it; the task of pipeline p on partition q has id writer_base(p) + q.
  uint32_t writer_count(uint32_t stream) const { return writers_of_stream_[stream]; }
  uint32_t writer_base(size_t pipeline) const { return writer_base_[pipeline]; }
  uint32_t late_stream() const { return late_stream_; }
  // The streams a pipeline's side outputs go to (LogicalPipeline::side_streams order).
  const std::vector<uint32_t>& side_streams(size_t pipeline) const { return side_streams_[pipeline]; }
  // Published per task input so idle partitions can follow their siblings.
  struct WatermarkSlot {
    std::atomic<int64_t> wm{INT64_MIN};
    std::atomic<bool> idle{false};
  };
  WatermarkSlot& watermark_slot(size_t pipeline, int side, uint32_t partition) {
    return wm_slots_[pipeline][side][partition];
  }
  // The smallest published watermark of the non-idle inputs of (pipeline, side); when all are
  // idle, the largest; INT64_MAX when none has one.
  int64_t ActiveSiblingWatermark(size_t pipeline, int side) const;

  // Checkpoints: the restored manifest (positions by name) and where its state lives.
  bool checkpoints_enabled() const { return options_.checkpoint_interval_ms > 0; }
  // A pipeline's tasks read every partition of a stream (a broadcast lookup), so shards read
  // partitions that other shards write.
  bool broadcast_readers() const { return broadcast_readers_; }
  const std::unordered_map<std::string, uint64_t>& restored_positions() const { return restored_positions_; }
  const std::string& restored_dir() const { return restored_dir_; }
  // Open's thread, by the shards' Init: one more task restored (EngineOptions::on_restore_progress).
  void NoteTaskRestored() {
    ++restore_tasks_done_;
    if (options_.on_restore_progress) options_.on_restore_progress(restore_tasks_done_, restore_tasks_total_);
  }
  // Set before ckpt_pause_epoch: shards acknowledge between two cycles (Shard::prepared_epoch)
  // and run small batches until they pause, so that the pause request finds them soon.
  std::atomic<uint64_t> ckpt_prepare_epoch{0};
  std::atomic<uint64_t> ckpt_pause_epoch{0};
  std::atomic<uint64_t> ckpt_drain_epoch{0};
  std::atomic<uint64_t> ckpt_resume_epoch{0};
  const std::string& ckpt_pending_dir() const { return ckpt_pending_dir_; }  // after pause_epoch (acquire)
  std::string StateDir(const std::string& base, const std::string& pipeline, uint32_t partition) const {
    return base + "/state/" + pipeline + "/" + std::to_string(partition);
  }
  // A new instance of pipeline `pipeline` for its task on source partition `partition`, as the
  // shards' Init and a reset build it (state backend, models, online stores, test hooks). Any
  // thread: the instance is not shared until a shard takes it.
  Result<std::unique_ptr<plan::PipelineInstance>> NewTaskInstance(size_t pipeline, uint32_t partition) const;
  // Loads the rows of a lookup join's table file that belong to `partition` into a fresh
  // instance (nothing without such a join). Not after a restore: the restored state has them.
  Status LoadLookupTable(size_t pipeline, uint32_t partition, plan::PipelineInstance* instance) const;
  // The reset a checkpoint applies at its pause (ResetPipeline), set by the coordinator before it
  // publishes ckpt_pause_epoch and read by each shard once it sees that epoch (acquire): the
  // tasks of `pipeline` take a fresh instance from `instances` (by source partition; each
  // partition's owner takes its own) and move their inputs. Replaced only once every shard has
  // paused for the previous epoch (RunCheckpoint), so a shard that pauses late still finds it.
  struct ResetPlan {
    size_t pipeline = SIZE_MAX;  // SIZE_MAX: this checkpoint resets nothing
    bool to_end = false;
    std::vector<std::unique_ptr<plan::PipelineInstance>> instances;
  };
  ResetPlan& ckpt_reset() { return ckpt_reset_; }
  // Checkpoint metrics.
  Counter checkpoints_completed;
  Counter checkpoints_failed;
  Counter member_snapshots_failed;       // members: a committed checkpoint whose snapshot could not be read
  LatencyHistogram checkpoint_pause;     // pipelines paused, per checkpoint
  LatencyHistogram checkpoint_duration;  // begin to commit
  std::atomic<int64_t> last_checkpoint_id{-1};
  // The newest complete checkpoint: state bytes written, when it committed (wall clock, ms since
  // the epoch; 0: none), its duration and pause.
  std::atomic<uint64_t> last_checkpoint_bytes{0};
  std::atomic<int64_t> last_checkpoint_unix_ms{0};
  std::atomic<int64_t> last_checkpoint_duration_ns{0};
  std::atomic<int64_t> last_checkpoint_pause_ns{0};

 private:
  EngineImpl(plan::LogicalPlan plan, EngineOptions options);
  Status OpenStreams();
  Status Start();
  // Loads the checkpoint to start from and rolls pipeline-written streams and file sinks back to
  // it (or, with none, to empty, since they are recomputed from their sources).
  Status Recover();
  // `final`: the one Stop takes (logged at info). `reset`: a pipeline reset applied at this
  // checkpoint's pause (moved from). outcome->requested is set once the shards may apply it
  // (the pause was requested), after which an error leaves the reset in effect but not
  // durable; outcome->inputs holds the moved positions once every shard paused.
  struct ResetOutcome {
    bool requested = false;
    std::vector<PipelineReset::Input> inputs;
  };
  Status RunCheckpoint(uint64_t* id, bool final = false, ResetPlan* reset = nullptr, ResetOutcome* outcome = nullptr);
  // A queued ResetPipeline, run by the checkpoint thread.
  struct ResetJob {
    size_t pipeline = 0;
    ResetTo to = ResetTo::kBeginning;
    ResetCallback done;
  };
  void RunReset(ResetJob& job);
  Status WriteCapturedState(const state::AsyncFiles& files, int64_t deadline_ns);
  // The log line of a completed checkpoint: info for the run's first, the final one and slow
  // ones, debug for the others (docs/OPERATIONS.md, "Logs"). Under ckpt_mu_.
  void LogCheckpoint(uint64_t id, bool final, int64_t duration_ns, int64_t pause_ns, uint64_t state_bytes);
  void CheckpointLoop();
  uint64_t ProgressCount() const;

  struct Producer {
    std::vector<std::unique_ptr<NdjsonParser>> parsers;  // per stream
    RowBatch rows;
    std::vector<BadLine> bad;
    std::vector<CommandPtr> per_shard;
    std::atomic<bool> busy{false};  // detects two threads misusing one producer index
  };

  plan::LogicalPlan plan_;
  EngineOptions options_;
  TestHooks test_hooks_;
  model::ModelRepository* models_ = nullptr;  // options_.models, downcast once at Create
  std::shared_ptr<SubscriptionRegistry> subscriptions_ = std::make_shared<SubscriptionRegistry>();
  ReadWaiters read_waiters_{[this](uint32_t s, uint32_t p) { return ReadableEnd(s, p); }, kReadWaitersMax};
  // Cancels and joins every live subscription, including those whose last handle was destroyed
  // inside their own callback (the destructor, before the logs close).
  void CancelSubscriptions();
  // Joins and forgets the subscriptions whose last handle went away inside their own callback
  // and whose thread has returned (Subscribe), so they do not pile up until the engine closes.
  void ReapOrphanedSubscriptions();
  Clock* clock_;
  Env* env_;
  std::vector<std::unique_ptr<StreamState>> streams_;
  std::unordered_map<std::string, uint32_t> stream_index_;
  std::vector<std::unique_ptr<plan::PhysicalPipeline>> pipelines_;
  // Before shards_: destroyed after the shards that deliver to it.
  std::unique_ptr<DecisionWaiters> decide_;
  std::vector<std::unique_ptr<LineSink>> line_sinks_;  // per pipeline; null for stream sinks
  std::unordered_map<std::string, std::unique_ptr<plan::OnlineStore>> online_stores_;  // by view
  mutable std::atomic<uint64_t> feature_lookups_[3] = {};                              // hit, miss, expired
  std::vector<std::vector<std::unique_ptr<Ring>>> ingest_;                             // [shard][producer]
  std::vector<std::vector<std::unique_ptr<Ring>>> exchange_;                           // [dst][src]
  std::vector<std::unique_ptr<Producer>> producers_;
  Status CheckIngestTarget(std::string_view stream_name, uint32_t producer, int* si) const;
  // The index of the stream a read names, checked with its partition: kNotFound for an unknown
  // stream, kOutOfRange for a partition the stream does not have.
  Result<int> CheckReadTarget(std::string_view stream_name, uint32_t partition) const;
  // A connector's batch: every row to one partition, then a control record after them.
  struct AdmitExtras {
    uint32_t partition = 0;
    std::string_view trailer;
  };
  Status Admit(Producer& prod, int si, const RowBatch& rows, uint32_t producer, int64_t start_ns, int64_t now_ms,
               IngestCallback done, const AdmitExtras* extras = nullptr);
  // Connectors (engine_connect.cc): sources' partitions rolled back to their last source
  // position and resume positions read (before the shards start); started after them.
  Status RecoverSources();
  Status StartConnectors();
  // released = false (members): kept until ReleaseExports names the checkpoint.
  void NoteCommittedEnds(const std::vector<std::pair<std::string, uint64_t>>& positions, uint64_t checkpoint_id = 0,
                         bool released = true);
  // Members (engine_member.cc): the files a new owner needs to continue from checkpoint `id`.
  Status BuildMemberSnapshot(uint64_t id, const std::vector<std::pair<std::string, uint64_t>>& positions,
                             MemberSnapshot* out) const;
  bool member() const { return options_.kafka_member_partition >= 0; }
  // Members: checkpoint id -> its "end/..." positions, not yet released to the sinks (bounded:
  // the oldest are dropped beyond kUnreleasedMax, the sinks then wait for a newer release).
  std::map<uint64_t, std::vector<std::pair<std::string, uint64_t>>> unreleased_ends_;
  static constexpr size_t kUnreleasedMax = 16;
  std::vector<int> source_slot_;                     // per stream: its Kafka source's producer slot, or -1
  std::vector<std::vector<int64_t>> source_resume_;  // per stream, per partition
  mutable std::mutex committed_mu_;
  std::unordered_map<std::string, uint64_t> committed_ends_;  // "end/<stream>/<p>" of the newest checkpoint
  // Registers the decide waiters of `rows` and prod.bad, then Admit; unregisters if refused.
  // `target` is ResolveDecideTarget's for the stream and `options` (resolved once per call).
  Status AdmitDecide(Producer& prod, int si, const RowBatch& rows, uint32_t producer, int64_t start_ns, int64_t now_ms,
                     const DecideTarget& target, const DecideOptions& options, DecideCallback done);
  std::vector<std::unique_ptr<Shard>> shards_;
  uint32_t dead_letter_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> exiting_{false};
  std::atomic<bool> drained_{false};
  std::atomic<uint32_t> active_ingests_{0};  // Ingest calls in progress; Stop waits for 0
  // True when no shard has work, no ring holds a command and nothing changed meanwhile.
  bool Quiescent() const;
  std::mutex stop_mu_;
  bool stopped_ = false;
  // Set when Start() returned OK. A refused start never ran: Stop() takes no final checkpoint
  // for it (there is nothing to record, and its failure would hide the reason for the refusal).
  bool started_ = false;
  // Start returned an error after starting the shards, or the front end abandoned the start
  // (Abandon): no final checkpoint, and DATA/SPEC is put back as it was before Open.
  bool start_failed_ = false;

  std::unique_ptr<std::atomic<bool>[]> ended_;
  std::atomic<uint64_t> end_epoch_{0};
  std::vector<uint32_t> writers_of_stream_;
  std::vector<uint32_t> writer_base_;
  std::vector<std::vector<uint32_t>> side_streams_;  // per pipeline
  uint32_t late_stream_ = 0;
  uint32_t outbox_stream_ = UINT32_MAX;
  std::vector<uint8_t> sync_at_checkpoint_;  // per stream
  std::unique_ptr<OutboxDispatcher> dispatcher_;
  std::vector<std::vector<std::unique_ptr<WatermarkSlot[]>>> wm_slots_;  // [pipeline][side][partition]
  std::vector<std::vector<uint32_t>> wm_slot_counts_;
  std::unique_ptr<checkpoint::CheckpointStore> store_;
  std::unique_ptr<DirLock> data_dir_lock_;  // held from OpenStreams until Stop() returns
  bool record_spec_ = false;                // DATA/SPEC is written once Start succeeded (CheckSpecFingerprint)
  bool spec_recorded_ = false;              // Open wrote DATA/SPEC; spec_before_ is what it replaced
  std::optional<std::string> spec_before_;  // nullopt: there was no DATA/SPEC (a fresh directory)
  // Streams whose STREAM file this Open wrote: a failed start removes those still empty, so that
  // a retry may declare them with another schema.
  std::vector<uint32_t> stream_files_written_;
  std::unordered_map<std::string, uint64_t> restored_positions_;
  bool broadcast_readers_ = false;
  std::string restored_dir_;
  uint64_t restore_tasks_total_ = 0, restore_tasks_done_ = 0;  // Open's thread (NoteTaskRestored)
  std::string ckpt_pending_dir_;
  ResetPlan ckpt_reset_;  // under ckpt_mu_ (coordinator); read by shards after ckpt_pause_epoch
  // Per pipeline (plan_ is initialized before it): resets committed (RunReset).
  std::unique_ptr<Counter[]> pipeline_resets_ = std::make_unique<Counter[]>(plan_.pipelines.size());
  std::mutex ckpt_mu_;              // one checkpoint at a time (timer thread or CheckpointNow)
  bool checkpoint_logged_ = false;  // under ckpt_mu_: the run's first checkpoint was logged at info
  std::thread checkpointer_;
  std::mutex ckpt_wait_mu_;
  std::condition_variable ckpt_wait_cv_;
  bool ckpt_thread_exit_ = false;
  std::deque<ResetJob> reset_jobs_;  // under ckpt_wait_mu_: resets waiting for the checkpoint thread
  // Last member: destroyed first, while the streams it reads and writes are open.
  std::unique_ptr<connect::Connectors> connectors_;
};

}  // namespace impulse::runtime
