#include "runtime/shard.h"
#include "common/logger.h"

#include <algorithm>
#include <charconv>

#include "event/json_writer.h"
#include "event/key_hash.h"
#include "event/row_codec.h"
#include "event/table_file.h"

namespace impulse::runtime {

namespace {
constexpr size_t kMaxArrivals = 4096;  // per partition, bounds the latency tracker
constexpr int64_t kHousekeepingIntervalMs = 10'000;
constexpr int64_t kPersistIntervalMs = 1'000;
constexpr int64_t kIdleSleepMs = 1'000;
// A shard whose tasks read a stream with `idle_advance: wall_clock` wakes this often while
// idle, so windows close within this long of their time (docs/EVENT_TIME.md).
constexpr int64_t kWallClockTickMs = 2;
constexpr int64_t kBacklogRetryMs = 100;  // retry of pipeline output after a failed write
}  // namespace

Shard::Shard(EngineImpl* engine, uint32_t id)
    : engine_(engine), id_(id), metrics_(engine->stream_count(), engine->pipelines().size()) {}

Shard::~Shard() {
  Join();
  RunDeleteJobs(/*exiting=*/true);  // a shard that never ran
}

void Shard::RequestDeleteRecords(DeleteRecordsJob job) {
  std::unique_lock<std::mutex> lock(delete_mu_);
  if (delete_closed_) {
    lock.unlock();
    return job.done(Unavailable("the engine is stopping"), 0, 0, 0);
  }
  delete_jobs_.push_back(std::move(job));
  delete_pending_.store(true, std::memory_order_release);
  lock.unlock();
  Signal();
}

void Shard::RunDeleteJobs(bool exiting) {
  std::vector<DeleteRecordsJob> jobs;
  {
    std::lock_guard<std::mutex> lock(delete_mu_);
    delete_closed_ = delete_closed_ || exiting;
    jobs.swap(delete_jobs_);
    delete_pending_.store(false, std::memory_order_relaxed);
  }
  std::vector<DeleteRecordsJob> later;
  for (DeleteRecordsJob& job : jobs) {
    log::PartitionLog* l = engine_->stream(job.stream).partitions[job.partition].get();
    const uint64_t old_start = l->start_offset();
    if (exiting) {
      job.done(Unavailable("the engine is stopping"), old_start, old_start, l->end_offset());
    } else if (pending_rollback_[job.stream][job.partition] != UINT64_MAX) {
      job.done(Unavailable("partition " + std::to_string(job.partition) +
                           " has a failed write not rolled back yet; retry later"),
               old_start, old_start, l->end_offset());
    } else if (dirty_flag_[job.stream][job.partition] != 0) {
      later.push_back(std::move(job));  // its batch is synced (or rolled back) first
    } else {
      Result<uint64_t> r = l->DeleteRecordsBefore(job.before);
      if (r.ok()) {
        LogInfo("delete_records",
                "stream " + engine_->stream(job.stream).def.name + " partition " + std::to_string(job.partition) +
                    ": start offset " + std::to_string(old_start) + " -> " + std::to_string(*r) + ", " +
                    std::to_string(*r - old_start) + " records deleted (asked: below " + std::to_string(job.before) +
                    ", whole segments only)",
                {{"stream", engine_->stream(job.stream).def.name},
                 {"partition", job.partition},
                 {"old_start", old_start},
                 {"new_start", *r}});
        job.done(Status::OK(), old_start, *r, l->end_offset());
      } else {
        job.done(r.status(), old_start, l->start_offset(), l->end_offset());
      }
    }
  }
  if (later.empty()) return;
  std::lock_guard<std::mutex> lock(delete_mu_);
  for (DeleteRecordsJob& job : later) delete_jobs_.push_back(std::move(job));
  delete_pending_.store(true, std::memory_order_release);
}

Status Shard::Init() {
  const uint32_t n = engine_->shard_count();
  for (uint32_t p = 0; p < engine_->producer_count(); ++p) {
    inbound_.push_back(&engine_->ingest_ring(p, id_));
  }
  for (uint32_t s = 0; s < n; ++s) inbound_.push_back(&engine_->exchange_ring(s, id_));
  dirty_flag_.resize(engine_->stream_count());
  batch_base_.resize(engine_->stream_count());
  pending_rollback_.resize(engine_->stream_count());
  arrivals_.resize(engine_->stream_count());
  for (uint32_t s = 0; s < engine_->stream_count(); ++s) {
    dirty_flag_[s].assign(engine_->stream(s).partitions.size(), 0);
    batch_base_[s].assign(engine_->stream(s).partitions.size(), 0);
    pending_rollback_[s].assign(engine_->stream(s).partitions.size(), UINT64_MAX);
    arrivals_[s].resize(engine_->stream(s).partitions.size());
  }
  outgoing_.resize(n);
  exchange_sent_to_.assign(n, 0);
  exchange_popped_from_.assign(n, 0);
  exchange_durable_from_ = std::make_unique<std::atomic<uint64_t>[]>(n);
  for (uint32_t s = 0; s < n; ++s) exchange_durable_from_[s].store(0, std::memory_order_relaxed);

  const auto& pipes = engine_->pipelines();
  op_stats.resize(pipes.size());
  pipeline_watermark = std::vector<std::atomic<int64_t>>(pipes.size());
  for (auto& w : pipeline_watermark) w.store(INT64_MIN, std::memory_order_relaxed);
  const int64_t now_ns = engine_->clock()->NowNs();
  for (size_t i = 0; i < pipes.size(); ++i) {
    const plan::LogicalPipeline& lp = pipes[i]->logical();
    const int src = engine_->StreamIndex(lp.source);
    if (src < 0) return Internal("pipeline " + lp.name + ": source stream missing");
    int second = -1;
    if (!lp.second_source.empty()) {
      second = engine_->StreamIndex(lp.second_source);
      if (second < 0) return Internal("pipeline " + lp.name + ": join stream missing");
    }
    const StreamState& ss = engine_->stream(static_cast<uint32_t>(src));
    for (uint32_t part = 0; part < ss.partitions.size(); ++part) {
      if (engine_->OwnerOf(part) != id_) continue;
      auto t = std::make_unique<Task>();
      t->pipeline = i;
      ASSIGN_OR_RETURN(t->instance, engine_->NewTaskInstance(i, part));
      // Inputs: this source partition; for a join, the same partition of the right stream, or,
      // broadcast, each of its partitions.
      t->broadcast = second >= 0 && lp.second_broadcast;
      const uint32_t right_parts =
          second < 0
              ? 0
              : (t->broadcast ? static_cast<uint32_t>(engine_->stream(static_cast<uint32_t>(second)).partitions.size())
                              : 1);
      t->sides = 1 + static_cast<int>(right_parts);
      for (int side = 0; side < t->sides; ++side) {
        Input& in = t->in.emplace_back();
        in.stream = static_cast<uint32_t>(side == 0 ? src : second);
        in.partition = t->broadcast && side > 0 ? static_cast<uint32_t>(side - 1) : part;
        const StreamState& is = engine_->stream(in.stream);
        // A repartitioned stream is read like a pipeline-written one: its watermark is its
        // writers' (remote members), from their markers.
        in.derived = is.def.derived || is.def.marker_writers > 0;
        if (in.derived) {
          in.writer_wm.assign(is.def.derived ? engine_->writer_count(in.stream) : is.def.marker_writers, INT64_MIN);
        }
        in.cursor.store(is.partitions[in.partition]->start_offset(), std::memory_order_relaxed);
        in.last_progress_ns = now_ns;
      }
      if (lp.sink.kind == plan::SinkDef::Kind::kStream) {
        const int sink = engine_->StreamIndex(lp.sink.target);
        if (sink < 0) return Internal("pipeline " + lp.name + ": sink stream missing");
        t->sink = static_cast<uint32_t>(sink);
        t->writer_id = engine_->writer_base(i) + part;
      }
      t->cursor_path = engine_->CursorPath(lp.name, part);
      if (engine_->checkpoints_enabled()) {
        RETURN_IF_ERROR(RestoreTask(*t));
        if (!engine_->restored_dir().empty()) engine_->NoteTaskRestored();
      } else if (engine_->env()->FileExists(t->cursor_path)) {
        ASSIGN_OR_RETURN(std::string text, engine_->env()->ReadFile(t->cursor_path));
        uint64_t v = 0;
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc()) return DataLoss("unreadable pipeline cursor " + t->cursor_path);
        t->cursor().store(std::max(v, t->cursor().load(std::memory_order_relaxed)), std::memory_order_relaxed);
      }
      for (int side = 0; side < t->sides; ++side) {
        Input& in = t->in[side];
        const uint64_t end = engine_->stream(in.stream).partitions[in.partition]->end_offset();
        if (in.cursor.load(std::memory_order_relaxed) > end) {
          // The log is shorter than the cursor (repaired, or lost unsynced writes with
          // --durability none): process what is there rather than skip future records.
          const uint64_t cursor = in.cursor.load(std::memory_order_relaxed);
          LogWarn("recovery",
                  "pipeline " + lp.name + " partition " + std::to_string(part) + ": cursor " + std::to_string(cursor) +
                      " past the log end " + std::to_string(end) + "; reset",
                  {{"pipeline", lp.name}, {"partition", part}, {"cursor", cursor}, {"end", end}});
          in.cursor.store(end, std::memory_order_relaxed);
        }
      }
      t->persisted = t->cursor().load(std::memory_order_relaxed);
      RETURN_IF_ERROR(LoadLookupTable(*t, lp));
      tasks_.push_back(std::move(t));
    }
  }
  return Status::OK();
}

// A lookup join's table file is loaded at a fresh start only: after a restore its rows are
// already in the restored state (with the upserts received since).
Status Shard::LoadLookupTable(Task& t, const plan::LogicalPipeline& lp) {
  if (t.restored) return Status::OK();
  (void)lp;
  return engine_->LoadLookupTable(t.pipeline, t.in[0].partition, t.instance.get());
}

void Shard::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Shard::Join() {
  if (thread_.joinable()) thread_.join();
}

bool Shard::MinCursor(uint32_t stream, uint32_t partition, uint64_t* cursor) const {
  bool found = false;
  for (const auto& t : tasks_) {
    for (int side = 0; side < t->sides; ++side) {
      const Input& in = t->in[side];
      if (in.stream != stream || in.partition != partition) continue;
      const uint64_t c = in.cursor.load(std::memory_order_relaxed);
      *cursor = found ? std::min(*cursor, c) : c;
      found = true;
    }
  }
  return found;
}

uint64_t Shard::PipelineLag(size_t pipeline) const {
  uint64_t lag = 0;
  for (const auto& t : tasks_) {
    if (t->pipeline != pipeline) continue;
    for (int side = 0; side < t->sides; ++side) {
      const Input& in = t->in[side];
      const uint64_t end = ProcessableEnd(in.stream, in.partition);
      const uint64_t c = in.cursor.load(std::memory_order_relaxed);
      if (end > c) lag += end - c;
    }
  }
  return lag;
}

bool Shard::BroadcastInputPending() const {
  for (const auto& t : tasks_) {
    if (!t->broadcast || t->failed.load(std::memory_order_relaxed)) continue;
    for (int side = 1; side < t->sides; ++side) {
      const Input& in = t->in[side];
      if (in.cursor.load(std::memory_order_relaxed) < ProcessableEnd(in.stream, in.partition)) return true;
    }
  }
  return false;
}

void Shard::PipelineInputs(size_t pipeline, std::vector<InputProgress>* out) const {
  for (const auto& t : tasks_) {
    if (t->pipeline != pipeline) continue;
    for (int side = 0; side < t->sides; ++side) {
      const Input& in = t->in[side];
      out->push_back({in.stream, in.partition, in.cursor.load(std::memory_order_relaxed),
                      ProcessableEnd(in.stream, in.partition)});
    }
  }
}

void Shard::Run() {
  while (!engine_->exiting()) {
    metrics_.cycles.Add(1);
    bool did = DrainInbound();
    did |= RunTasksBeforeSync();
    SyncAndAck();
    CheckpointStep();
    // Tasks pause while a checkpoint is being taken (ingest goes on), and while their output
    // waits for a failed write to be retried (a full disk: more output would be lost).
    if (TasksMayRun()) {
      const uint64_t end_epoch = engine_->end_epoch();
      did |= RunTasks();
      did |= TickWatermarks();
      if (tick_complete_) applied_end_epoch_.store(end_epoch, std::memory_order_release);
      if (capturing_) did |= StepCaptures();
    }
    SyncAndAck();
    CheckpointStep();
    if (delete_pending_.load(std::memory_order_acquire)) RunDeleteJobs(/*exiting=*/false);
    // Whatever this cycle made readable (synced requests, pipeline output) wakes long-polling
    // readers; one fence and load when nobody waits.
    engine_->NotifyReadWaiters();
    const int64_t now_ms = engine_->clock()->NowMs();
    if (now_ms - last_persist_ms_ >= kPersistIntervalMs) PersistCursors(/*force=*/false);
    if (now_ms - last_housekeeping_ms_ >= kHousekeepingIntervalMs) Housekeeping(now_ms);
    if (did) {
      engine_->activity.fetch_add(1, std::memory_order_seq_cst);
      // What this cycle made readable may be a partition that broadcast tasks on other shards
      // read: nothing else wakes them.
      if (engine_->broadcast_readers()) {
        for (uint32_t s = 0; s < engine_->shard_count(); ++s) {
          if (s != id_) engine_->shard(s).Signal();
        }
      }
      continue;
    }
    const int64_t now_ns = engine_->clock()->NowNs();
    int64_t sleep_ms = wall_clock_inputs_ ? kWallClockTickMs : kIdleSleepMs;
    if (output_backlog_) sleep_ms = std::clamp<int64_t>((backlog_retry_ns_ - now_ns) / 1'000'000, 1, kBacklogRetryMs);
    if (capturing_) sleep_ms = 1;  // the checkpoint writer is behind: the next slice when it has caught up
    if (sync_deadline_ns_ != 0) {
      sleep_ms = std::clamp<int64_t>((sync_deadline_ns_ - now_ns) / 1'000'000, 0, sleep_ms);
      if (sleep_ms == 0) continue;
    }
    const uint32_t token = waker_.PrepareWait();
    const bool work = HasWork();
    // Tasks paused by a checkpoint may hold unread input: not quiet until it resumes.
    const bool checkpointing = engine_->ckpt_pause_epoch.load(std::memory_order_acquire) >
                               engine_->ckpt_resume_epoch.load(std::memory_order_acquire);
    quiescent_.store(!work && pending_acks_.empty() && dirty_.empty() && !checkpointing, std::memory_order_seq_cst);
    if (!work && !engine_->exiting())
      waker_.Wait(token, engine_->stopping() ? std::min<int64_t>(sleep_ms, 5) : sleep_ms);
    waker_.CancelWait();
    // Cleared before anything is popped, so Stop() never sees a quiet shard holding work. A wake
    // is not activity by itself: whatever the next cycle does (pops, runs, emits) counts when it
    // ends, and a shard woken by a timer every kWallClockTickMs must not look busy forever.
    quiescent_.store(false, std::memory_order_seq_cst);
  }
  backlog_retry_ns_ = 0;  // a last attempt at waiting output, whenever the previous one was
  SyncAndAck();
  RetryPendingRollbacks();  // last chance before the next start would read those records
  // After a drained stop every shard is quiet and synced, so the current cursors are safe;
  // otherwise only a candidate whose outputs are known durable may be written.
  PersistCursors(/*force=*/engine_->drained());
  RunDeleteJobs(/*exiting=*/true);
}

bool Shard::TasksMayRun() const {
  return !output_backlog_ && engine_->ckpt_pause_epoch.load(std::memory_order_acquire) <=
                                 engine_->ckpt_resume_epoch.load(std::memory_order_acquire);
}

// Pipeline-written streams that a checkpoint syncs are readable once written, without their
// own fsync. Records that came through the exchange rings this cycle are written and their
// readers run here, before the cycle's fsync of ingested requests, so that a hop between
// pipelines does not wait for an fsync of records it does not read. The fsync follows, then the
// tasks run again for the newly durable requests.
bool Shard::RunTasksBeforeSync() {
  if (engine_->options().durability == Durability::kNone || !engine_->checkpoints_enabled() || !TasksMayRun()) {
    return false;  // everything is readable after the flush, or pipeline output needs its fsync
  }
  // Before: the records that came through the exchange rings; after: the tasks' own outputs,
  // so that the next hop (or a reader) sees them before the fsync too.
  if (!FlushCheckpointSynced()) return false;
  const bool did = RunTasks();
  (void)FlushCheckpointSynced();
  return did;
}

Status Shard::MakeVisible(uint32_t stream, log::PartitionLog* plog) {
  return engine_->sync_at_checkpoint(stream) ? plog->Publish() : plog->Flush();
}

// A failed write is left to SyncAndAck, which fails or retries the batch as usual.
bool Shard::FlushCheckpointSynced() {
  for (auto [s, p] : dirty_) {
    if (engine_->sync_at_checkpoint(s) && !engine_->stream(s).partitions[p]->Publish().ok()) return false;
  }
  return true;
}

bool Shard::HasWork() {
  if (delete_pending_.load(std::memory_order_acquire)) return true;
  for (Ring* r : inbound_) {
    if (!r->Empty()) return true;
  }
  if (engine_->ckpt_pause_epoch.load(std::memory_order_acquire) >
      engine_->ckpt_resume_epoch.load(std::memory_order_acquire)) {
    // Checkpoint in progress: tasks wait; the protocol's own steps count as work. The drain
    // step also waits for unsynced partitions (dirty_): their sync comes at a time (the group
    // commit deadline, the retry of waiting output), which Run sleeps until rather than spin.
    return engine_->ckpt_pause_epoch.load(std::memory_order_acquire) > paused_epoch.load(std::memory_order_relaxed) ||
           (engine_->ckpt_drain_epoch.load(std::memory_order_acquire) > drained_epoch.load(std::memory_order_relaxed) &&
            dirty_.empty());
  }
  if (output_backlog_) return false;  // tasks wait for the retry (Run sleeps briefly)
  for (const auto& t : tasks_) {
    if (t->failed) continue;
    for (int side = 0; side < t->sides; ++side) {
      const Input& in = t->in[side];
      if (in.cursor.load(std::memory_order_relaxed) < ProcessableEnd(in.stream, in.partition)) {
        // A task whose outputs cannot be handed over (a full exchange ring) is not work: the
        // shard sleeps until the destination drains the ring and signals it.
        if (ExchangeBlocked()) continue;
        return true;
      }
    }
  }
  return false;
}

bool Shard::ExchangeBlocked() {
  for (uint32_t s = 0; s < engine_->shard_count(); ++s) {
    if (s != id_ && engine_->exchange_ring(id_, s).FreeSlots() == 0) return true;
  }
  return false;
}

uint64_t Shard::ProcessableEnd(uint32_t stream, uint32_t partition) const {
  return engine_->ReadableEnd(stream, partition);
}

void Shard::MarkDirty(uint32_t stream, uint32_t partition, uint8_t kind) {
  uint8_t& f = dirty_flag_[stream][partition];
  if (f == 0) {
    log::PartitionLog* plog = engine_->stream(stream).partitions[partition].get();
    uint64_t& pending = pending_rollback_[stream][partition];
    if (pending != UINT64_MAX && plog->Rollback(pending).ok()) pending = UINT64_MAX;
    batch_base_[stream][partition] = std::min(pending, plog->next_offset());
    dirty_.emplace_back(stream, partition);
  }
  f |= kDirty | kind;
}

bool Shard::DrainInbound() {
  bool did = false;
  CommandPtr cmd;
  const size_t producers = engine_->producer_count();
  for (size_t ri = 0; ri < inbound_.size(); ++ri) {
    Ring* r = inbound_[ri];
    bool drained_exchange = false;
    // Bounded per ring per cycle so one busy producer cannot starve acks of others.
    for (int i = 0; i < 64 && r->TryPop(&cmd); ++i) {
      did = true;
      if (ri >= producers) {
        ++exchange_popped_from_[ri - producers];
        drained_exchange = true;
      }
      AppendCommandRecords(*cmd);
      if (cmd->request) {
        pending_ack_events_.push_back(cmd->recs.size());
        // A part of a split request is kept until its ack: if another part fails, the answer
        // lists what this one stored.
        const bool split = cmd->request->parts > 1;
        pending_acks_.push_back(std::move(cmd->request));
        pending_ack_parts_.push_back(split ? std::move(cmd) : nullptr);
      }
      cmd.reset();
    }
    // The source may be asleep waiting for room in this ring.
    if (drained_exchange && ri - producers != id_) engine_->shard(static_cast<uint32_t>(ri - producers)).Signal();
  }
  return did;
}

void Shard::AppendCommandRecords(AppendCommand& cmd) {
  uint64_t appended = 0;
  for (const AppendCommand::Rec& r : cmd.recs) {
    const uint32_t stream = r.stream == UINT32_MAX ? cmd.stream : r.stream;
    StreamState& ss = engine_->stream(stream);
    log::PartitionLog* plog = ss.partitions[r.partition].get();
    MarkDirty(stream, r.partition, cmd.request ? kRequestRecords : kOutputRecords);
    auto off = plog->Append(std::string_view(cmd.data).substr(r.begin, r.len), r.timestamp_ms);
    if (!off.ok()) {
      metrics_.append_errors.Add(1);
      if (cycle_error_.ok()) cycle_error_ = off.status().WithContext(ss.def.name);
      if (cmd.request && request_error_.ok()) request_error_ = off.status().WithContext(ss.def.name);
      // Pipeline output from another shard has no request to fail: checkpoints must not
      // commit past it (a restart then recomputes it from the last good one).
      if (!cmd.request && output_error_.ok()) output_error_ = off.status().WithContext(ss.def.name);
      continue;
    }
    ++appended;
    if (r.stream != UINT32_MAX) metrics_.events_appended[stream].Add(1);
    if (cmd.request) {
      auto& q = arrivals_[cmd.stream][r.partition];
      if (!q.empty() && q.back().arrival_ns == cmd.arrival_ns) {
        q.back().end_offset = *off + 1;
      } else if (q.size() < kMaxArrivals) {
        q.push_back({*off + 1, cmd.arrival_ns});
      }
    }
  }
  uint64_t own = 0;
  for (const AppendCommand::Rec& r : cmd.recs) own += r.stream == UINT32_MAX ? 1 : 0;
  metrics_.events_appended[cmd.stream].Add(std::min(appended, own));
}

void Shard::SyncAndAck() {
  const Durability d = engine_->options().durability;
  // Output waiting for a full disk is written again every kBacklogRetryMs, however often the
  // shard wakes; requests to answer go ahead at once (their records fail or succeed with it).
  if (output_backlog_ && pending_acks_.empty() && engine_->clock()->NowNs() < backlog_retry_ns_) return;
  if (d == Durability::kGroupCommit && !dirty_.empty() && !engine_->stopping()) {
    const int64_t interval_ns = int64_t{engine_->options().group_commit_ms} * 1'000'000;
    const int64_t now_ns = engine_->clock()->NowNs();
    if (now_ns - last_sync_ns_ < interval_ns) {
      // Not yet: make the writes visible and keep the acks until the covering fsync.
      for (auto [s, p] : dirty_) {
        Status st = MakeVisible(s, engine_->stream(s).partitions[p].get());
        if (!st.ok()) NoteWriteError(s, p, st);
      }
      sync_deadline_ns_ = last_sync_ns_ + interval_ns;
      return;
    }
    last_sync_ns_ = now_ns;
  }
  sync_deadline_ns_ = 0;
  bool outbox_synced = false;
  for (auto [s, p] : dirty_) {
    outbox_synced = outbox_synced || s == engine_->outbox_stream();
    log::PartitionLog* plog = engine_->stream(s).partitions[p].get();
    Status st;
    if (d == Durability::kNone || engine_->sync_at_checkpoint(s)) {
      st = MakeVisible(s, plog);
    } else {
      // Timed so that a decision's latency can be set beside what the disk took inside the
      // engine, under its own load (the probe measures the disk alone).
      const int64_t t0 = engine_->clock()->NowNs();
      const uint64_t syncs = plog->syncs();
      st = plog->Sync();
      if (plog->syncs() != syncs) metrics_.log_fsync.Record(engine_->clock()->NowNs() - t0);
    }
    if (!st.ok()) {
      metrics_.sync_errors.Add(1);
      NoteWriteError(s, p, st);
    }
  }
  if (cycle_error_.ok()) {
    for (auto [s, p] : dirty_) dirty_flag_[s][p] = 0;
    dirty_.clear();
    output_backlog_ = false;
  } else {
    RollBackFailedBatch(/*refuse_requests=*/!request_error_.ok());
  }
  if (outbox_synced) engine_->NotifyOutbox();
  if (cycle_error_.ok()) {
    // Everything appended so far (including what arrived through exchange rings) is durable.
    ++local_durable_epoch_;
    for (size_t src = 0; src < exchange_popped_from_.size(); ++src) {
      exchange_durable_from_[src].store(exchange_popped_from_[src], std::memory_order_release);
    }
  }
  if (pending_acks_.empty()) {
    cycle_error_ = Status::OK();
    request_error_ = Status::OK();
    return;
  }
  const int64_t now_ns = engine_->clock()->NowNs();
  for (size_t i = 0; i < pending_acks_.size(); ++i) {
    std::shared_ptr<IngestRequest>& req = pending_acks_[i];
    if (!request_error_.ok()) {
      std::lock_guard<std::mutex> lock(req->mu);
      if (req->status.ok()) req->status = request_error_;
    } else if (pending_ack_parts_[i]) {
      std::lock_guard<std::mutex> lock(req->mu);
      req->stored_parts.push_back(std::move(pending_ack_parts_[i]));
    }
    inflight_events.fetch_sub(pending_ack_events_[i], std::memory_order_relaxed);
    if (req->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      metrics_.ingest_to_durable.Record(now_ns - req->start_ns);
      Status st;
      {
        std::lock_guard<std::mutex> lock(req->mu);
        st = req->status;
        if (!st.ok()) {
          for (const CommandPtr& part : req->stored_parts) {
            for (const AppendCommand::Rec& r : part->recs) req->result.stored_lines.push_back(r.line);
          }
          std::sort(req->result.stored_lines.begin(), req->result.stored_lines.end());
        }
        req->stored_parts.clear();
      }
      req->done(st, std::move(req->result));
    }
  }
  pending_acks_.clear();
  pending_ack_events_.clear();
  pending_ack_parts_.clear();
  cycle_error_ = Status::OK();
  request_error_ = Status::OK();
}

void Shard::NoteWriteError(uint32_t stream, uint32_t partition, const Status& st) {
  const Status e = st.WithContext(engine_->stream(stream).def.name);
  if (cycle_error_.ok()) cycle_error_ = e;
  if ((dirty_flag_[stream][partition] & kRequestRecords) != 0 && request_error_.ok()) request_error_ = e;
}

void Shard::RollBackFailedBatch(bool refuse_requests) {
  std::vector<std::pair<uint32_t, uint32_t>> retry;
  for (auto [s, p] : dirty_) {
    const uint8_t flags = dirty_flag_[s][p];
    StreamState& ss = engine_->stream(s);
    log::PartitionLog* plog = ss.partitions[p].get();
    const uint64_t base = batch_base_[s][p];
    const std::string where = ss.def.name + " partition " + std::to_string(p);
    if ((flags & kRequestRecords) == 0) {
      // Pipeline output only: nobody was refused. A log that keeps its buffer writes it at
      // the next attempt; one that cannot write any more (failed fsync) lost it.
      if (plog->writable() && plog->end_offset() < plog->next_offset()) {
        retry.emplace_back(s, p);  // the flag stays set, the batch base too
        continue;
      }
      if (!plog->writable() && output_error_.ok()) {
        output_error_ =
            FailedPrecondition(where + ": pipeline output could not be written (" + cycle_error_.ToString() + ")");
      }
      dirty_flag_[s][p] = 0;
      continue;
    }
    dirty_flag_[s][p] = 0;
    // Only pipeline output failed: the requests' records are durable and acknowledged.
    if (!refuse_requests) continue;
    // The batch's requests are all answered with the error: none of their records may stay,
    // or a later flush (or the next start) would store what the client was told was refused
    // and will resend.
    const Status r = plog->Rollback(base);
    metrics_.rollbacks.Add(1);
    if (!r.ok()) {
      pending_rollback_[s][p] = base;
      metrics_.rollback_errors.Add(1);
      LogError("rollback_failed",
               where + ": could not drop the records of refused requests (" + r.ToString() +
                   "); writes there are refused until a retry succeeds (a crash before then may keep them)",
               {{"where", where}, {"error", r.ToString()}});
      if (output_error_.ok() && (flags & kOutputRecords) != 0) output_error_ = r.WithContext(where);
      continue;
    }
    pending_rollback_[s][p] = UINT64_MAX;
    if ((flags & kOutputRecords) != 0 && output_error_.ok()) {
      output_error_ = FailedPrecondition(where + ": pipeline output written with refused requests was dropped (" +
                                         cycle_error_.ToString() + ")");
    }
    for (auto& t : tasks_) {
      for (int side = 0; side < t->sides; ++side) {
        Input& in = t->in[side];
        if (in.stream != s || in.partition != p || in.cursor.load(std::memory_order_relaxed) <= base) continue;
        // The task already read records that are now gone (they became durable through a
        // segment roll before the batch failed): its state and outputs include them.
        in.cursor.store(base, std::memory_order_relaxed);
        if (output_error_.ok()) {
          output_error_ =
              FailedPrecondition(where + ": pipeline '" + engine_->pipelines()[t->pipeline]->logical().name +
                                 "' read records of refused requests");
        }
      }
    }
  }
  dirty_ = std::move(retry);
  output_backlog_ = !dirty_.empty();
  backlog_retry_ns_ = engine_->clock()->NowNs() + kBacklogRetryMs * 1'000'000;
}

// A cursor may be persisted only once every output of the records before it is durable: the
// local sink appends (a later full sync, local_durable_epoch_) and the commands handed to other
// shards (their exchange_durable_from(id_)). So cursors are snapshotted as a candidate and
// written at a later persist once both have caught up with the snapshot; a crash then replays
// from a cursor whose outputs all exist (at-least-once, never a gap).
void Shard::PersistCursors(bool force) {
  last_persist_ms_ = engine_->clock()->NowMs();
  if (engine_->checkpoints_enabled()) return;  // positions live in checkpoints
  std::vector<uint64_t> now;
  now.reserve(tasks_.size());
  for (const auto& t : tasks_) now.push_back(t->cursor().load(std::memory_order_relaxed));
  if (force) {
    // Only at exit, after Stop() saw every shard quiet and synced.
    WriteCursors(now);
    candidate_.valid = false;
    return;
  }
  if (candidate_.valid) {
    bool ready = local_durable_epoch_ > candidate_.local_epoch;
    for (uint32_t s = 0; ready && s < exchange_sent_to_.size(); ++s) {
      if (s != id_ && engine_->shard(s).exchange_durable_from(id_) < candidate_.sent[s]) ready = false;
    }
    if (!ready) return;
    WriteCursors(candidate_.cursors);
    candidate_.valid = false;
  }
  bool changed = false;
  for (size_t i = 0; i < tasks_.size(); ++i) changed = changed || now[i] != tasks_[i]->persisted;
  if (!changed) return;
  candidate_.valid = true;
  candidate_.cursors = std::move(now);
  candidate_.sent = exchange_sent_to_;
  candidate_.local_epoch = local_durable_epoch_;
}

void Shard::WriteCursors(const std::vector<uint64_t>& cursors) {
  for (size_t i = 0; i < tasks_.size(); ++i) {
    Task& t = *tasks_[i];
    const uint64_t c = cursors[i];
    if (c == t.persisted && engine_->env()->FileExists(t.cursor_path)) continue;
    if (LineSink* ls = engine_->line_sink(t.pipeline)) {
      // File sinks are synced before the cursor that covers them is.
      if (!ls->Flush().ok()) {
        metrics_.task_errors.Add(1);
        continue;
      }
    }
    if (engine_->env()->WriteFileAtomic(t.cursor_path, std::to_string(c)).ok()) {
      t.persisted = c;
    } else {
      metrics_.task_errors.Add(1);
    }
  }
}

void Shard::RetryPendingRollbacks() {
  for (uint32_t s = 0; s < pending_rollback_.size(); ++s) {
    for (uint32_t p = 0; p < pending_rollback_[s].size(); ++p) {
      uint64_t& pending = pending_rollback_[s][p];
      if (pending != UINT64_MAX && dirty_flag_[s][p] == 0 && engine_->stream(s).partitions[p]->Rollback(pending).ok()) {
        pending = UINT64_MAX;
      }
    }
  }
}

void Shard::Housekeeping(int64_t now_ms) {
  last_housekeeping_ms_ = now_ms;
  RetryPendingRollbacks();
  RefreshOpStats();
  for (uint32_t s = 0; s < engine_->stream_count(); ++s) {
    StreamState& ss = engine_->stream(s);
    for (uint32_t p = 0; p < ss.partitions.size(); ++p) {
      if (engine_->OwnerOf(p) != id_) continue;
      if (!ss.partitions[p]->EnforceRetention(now_ms).ok()) metrics_.retention_errors.Add(1);
    }
  }
}

}  // namespace impulse::runtime
