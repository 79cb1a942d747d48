// Checkpoints and recovery (docs/CHECKPOINTS.md).
//
// A checkpoint is aligned by pausing: the coordinator asks every shard to pause its pipeline
// tasks (ingest goes on). Each shard, between two batches, records its tasks' input positions
// and begins capturing their operator state (O(1) per table: a copy-on-write freeze, see
// state/memory_table.h), then reports paused. Once all are paused, nothing produces pipeline
// output any more, so when every shard has also drained its inbound exchange rings and synced,
// the ends of the pipeline-written partitions are exactly the outputs of the recorded
// positions. The coordinator resumes the tasks, then writes and syncs the captured state as
// the shards serialize it between batches, and commits the manifest (written last, so a crash
// before it leaves no checkpoint). Recovery truncates pipeline-written streams and file sinks
// back to the checkpoint and replays the sources from its positions with its state: no output
// is lost or duplicated.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/logger.h"
#include "runtime/engine_impl.h"
#include "runtime/shard.h"

namespace impulse::runtime {

namespace {

// Waits until pred() or the deadline; polls (the shards' steps are microseconds apart).
template <typename Pred>
bool WaitFor(Clock* clock, int64_t deadline_ns, Pred pred) {
  while (!pred()) {
    if (clock->NowNs() > deadline_ns) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return true;
}

// Test hook (docs/CHECKPOINTS.md, "Testing"): the checkpoint writer sleeps this many ms after
// it has written the first state bytes of a checkpoint, so that a test can kill the process
// with the state captured and its write in flight, before the manifest.
int64_t WriterDelayForTestMs() {
  static const int64_t ms = [] {
    const char* v = std::getenv("IMPULSE_TEST_CHECKPOINT_WRITER_DELAY_MS");
    return v == nullptr ? 0 : std::max<int64_t>(0, std::atoll(v));
  }();
  return ms;
}

uint64_t FileSize(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return 0;
  std::fseek(f, 0, SEEK_END);
  const long n = std::ftell(f);
  std::fclose(f);
  return n < 0 ? 0 : static_cast<uint64_t>(n);
}

}  // namespace

int64_t EngineImpl::ActiveSiblingWatermark(size_t pipeline, int side) const {
  // The non-idle partitions bound the stream's progress. When every partition is idle (all
  // caught up and quiet), the furthest one is the best knowledge: under the stream's bounded
  // disorder, later events anywhere are no older than it.
  int64_t active_min = INT64_MAX, idle_max = INT64_MIN;
  bool any_active = false;
  const uint32_t n = wm_slot_counts_[pipeline][static_cast<size_t>(side)];
  const WatermarkSlot* slots = wm_slots_[pipeline][static_cast<size_t>(side)].get();
  for (uint32_t p = 0; p < n; ++p) {
    const int64_t w = slots[p].wm.load(std::memory_order_relaxed);
    if (slots[p].idle.load(std::memory_order_relaxed)) {
      idle_max = std::max(idle_max, w);
    } else {
      any_active = true;
      active_min = std::min(active_min, w);
    }
  }
  if (any_active) return active_min;
  return idle_max == INT64_MIN ? INT64_MAX : idle_max;
}

Status EngineImpl::EndOfInput(std::string_view stream) {
  const int si = StreamIndex(stream);
  if (si < 0) return NotFound("unknown stream '" + std::string(stream) + "'");
  if (streams_[static_cast<size_t>(si)]->def.derived) {
    return InvalidArgument("stream '" + std::string(stream) + "' is written by pipelines; end its sources instead");
  }
  ended_[static_cast<size_t>(si)].store(true, std::memory_order_release);
  end_epoch_.fetch_add(1, std::memory_order_acq_rel);
  for (auto& sh : shards_) sh->Signal();
  return Status::OK();
}

Status EngineImpl::Recover() {
  if (!checkpoints_enabled()) return Status::OK();
  if (options_.checkpoints_retained < 2) return InvalidArgument("checkpoints_retained must be >= 2");
  ASSIGN_OR_RETURN(store_, checkpoint::CheckpointStore::Open(env_, options_.data_dir + "/checkpoints",
                                                             options_.checkpoints_retained, clock_));
  std::optional<checkpoint::CheckpointManifest> m;
  if (options_.restore_checkpoint_id >= 0) {
    ASSIGN_OR_RETURN(checkpoint::CheckpointManifest chosen,
                     store_->Load(static_cast<uint64_t>(options_.restore_checkpoint_id)));
    m = std::move(chosen);
  } else {
    std::vector<std::string> skipped;
    ASSIGN_OR_RETURN(m, store_->LoadLatest(&skipped));
    for (const std::string& s : skipped) LogWarn("recovery", "skipped checkpoint: " + s, {{"skipped", s}});
  }
  if (m) {
    LogInfo(
        "recovery",
        "restoring checkpoint " + std::to_string(m->id) + " (" + std::to_string(m->positions.size()) + " positions)",
        {{"checkpoint", m->id}, {"positions", m->positions.size()}});
    for (const auto& [name, value] : m->positions) restored_positions_[name] = value;
    restored_dir_ = store_->DirOf(m->id);
    last_checkpoint_id.store(static_cast<int64_t>(m->id), std::memory_order_relaxed);
  }
  // Pipeline-written streams hold exactly the outputs of the restored positions; without a
  // checkpoint they are recomputed from their sources, so they start empty.
  for (auto& ss : streams_) {
    if (!ss->def.derived) continue;
    for (uint32_t p = 0; p < ss->partitions.size(); ++p) {
      log::PartitionLog* l = ss->partitions[p].get();
      auto it = restored_positions_.find("end/" + ss->def.name + "/" + std::to_string(p));
      const uint64_t target = std::max(it == restored_positions_.end() ? 0 : it->second, l->start_offset());
      if (target > l->end_offset()) {
        return DataLoss("stream " + ss->def.name + " partition " + std::to_string(p) + " ends at " +
                        std::to_string(l->end_offset()) + ", before the checkpoint's " + std::to_string(target) +
                        ": acknowledged pipeline output was lost; restore an older checkpoint (--from-checkpoint)");
      }
      if (target < l->end_offset()) {
        LogWarn("recovery",
                "stream " + ss->def.name + " partition " + std::to_string(p) + ": rolled back from " +
                    std::to_string(l->end_offset()) + " to " + std::to_string(target) + " (checkpoint)",
                {{"stream", ss->def.name}, {"partition", p}, {"from", l->end_offset()}, {"to", target}});
        RETURN_IF_ERROR(l->TruncateTo(target).WithContext("rolling back stream " + ss->def.name));
      }
    }
  }
  for (size_t i = 0; i < plan_.pipelines.size(); ++i) {
    const plan::LogicalPipeline& lp = plan_.pipelines[i];
    if (lp.sink.kind != plan::SinkDef::Kind::kFile) continue;
    auto it = restored_positions_.find("file/" + lp.name);
    const uint64_t target = it == restored_positions_.end() ? 0 : it->second;
    const uint64_t size = FileSize(lp.sink.target);
    if (size < target) {
      return DataLoss("file sink " + lp.sink.target + " of pipeline " + lp.name + " has " + std::to_string(size) +
                      " bytes, fewer than the checkpoint's " + std::to_string(target) +
                      ": output was lost; restore it or start from an older checkpoint");
    }
    if (size > target && ::truncate(lp.sink.target.c_str(), static_cast<off_t>(target)) != 0) {
      return IOError("cannot roll back file sink " + lp.sink.target + " of pipeline " + lp.name);
    }
  }
  return Status::OK();
}

Status EngineImpl::RunCheckpoint(uint64_t* id, bool final, ResetPlan* reset, ResetOutcome* outcome) {
  std::lock_guard<std::mutex> lock(ckpt_mu_);
  if (!store_) return Unavailable("checkpoints are disabled");
  for (size_t s = 0; s < streams_.size(); ++s) {
    if (ended_[s].load(std::memory_order_acquire)) {
      // End of input moved watermarks to +infinity; persisting that would make every later
      // event late after a restart. A bounded run's last checkpoint is the one before.
      return FailedPrecondition("end of input was declared for stream " + streams_[s]->def.name +
                                "; no further checkpoints in this run");
    }
  }
  const int64_t t0 = clock_->NowNs();
  const int64_t deadline = t0 + options_.checkpoint_timeout_ms * 1'000'000;
  // A shard still writing the state of an abandoned checkpoint reads its directory: wait for
  // it before naming the next one.
  const uint64_t previous = ckpt_pause_epoch.load(std::memory_order_relaxed);
  if (!WaitFor(clock_, deadline, [&] {
        for (auto& sh : shards_) {
          if (sh->paused_epoch.load(std::memory_order_acquire) < previous) return false;
        }
        return true;
      })) {
    return Unavailable("checkpoint: a shard is still busy with the previous checkpoint");
  }
  ASSIGN_OR_RETURN(checkpoint::PendingCheckpoint pending, store_->Begin());
  ckpt_pending_dir_ = pending.dir;
  // Every shard has paused for the previous epoch, so none reads the previous plan any more.
  ckpt_reset_ = reset != nullptr ? std::move(*reset) : ResetPlan{};
  const uint64_t epoch = ckpt_pause_epoch.load(std::memory_order_relaxed) + 1;
  auto signal_all = [this] {
    for (auto& sh : shards_) sh->Signal();
  };
  auto fail = [&](Status st) {
    // Captures begun for this checkpoint stop producing (only shards that paused have any).
    for (auto& sh : shards_) {
      if (sh->paused_epoch.load(std::memory_order_acquire) < epoch) continue;
      for (const auto& f : sh->ckpt_files) f->Cancel();
    }
    ckpt_resume_epoch.store(epoch, std::memory_order_release);
    signal_all();
    (void)store_->Abort(pending);
    checkpoints_failed.Add(1);
    return st;
  };
  // Prepare: every shard finishes its batch in flight and runs small ones from then on (no
  // task waits here), so that each meets the pause request soon.
  ckpt_prepare_epoch.store(epoch, std::memory_order_release);
  signal_all();
  if (!WaitFor(clock_, deadline, [&] {
        for (auto& sh : shards_) {
          if (sh->prepared_epoch.load(std::memory_order_acquire) < epoch) return false;
        }
        return true;
      })) {
    // Nothing paused yet: no resume (the next checkpoint reuses this epoch).
    (void)store_->Abort(pending);
    checkpoints_failed.Add(1);
    return Unavailable("checkpoint: shards did not prepare in time");
  }
  // The pause starts when the shards can see the request.
  const int64_t pause_start = clock_->NowNs();
  if (outcome != nullptr) outcome->requested = ckpt_reset_.pipeline != SIZE_MAX;
  ckpt_pause_epoch.store(epoch, std::memory_order_release);
  signal_all();
  const auto all_paused = [&] {
    for (auto& sh : shards_) {
      if (sh->paused_epoch.load(std::memory_order_acquire) < epoch) return false;
    }
    return true;
  };
  bool ok = WaitFor(clock_, deadline, all_paused);
  Status pause_failed;
  if (!ok) {
    pause_failed = Unavailable("checkpoint: shards did not pause in time");
    if (ckpt_reset_.pipeline == SIZE_MAX) return fail(pause_failed);
    // A late shard still applies the reset when it pauses (Shard::CheckpointStep), so the reset
    // is in effect whatever this checkpoint becomes: wait for the late shards (bounded again) so
    // that the view's online store is emptied after the last old instance stopped and before
    // any fresh one runs, and the answer lists every moved input.
    if (!WaitFor(clock_, clock_->NowNs() + options_.checkpoint_timeout_ms * 1'000'000, all_paused)) {
      LogError("pipeline_reset",
               "pipeline " + pipelines_[ckpt_reset_.pipeline]->logical().name +
                   ": a shard did not pause within twice checkpoint_timeout_ms; it applies the reset when it "
                   "pauses, and view values it publishes before that stay online until overwritten",
               {{"pipeline", pipelines_[ckpt_reset_.pipeline]->logical().name}});
    }
  }
  if (ckpt_reset_.pipeline != SIZE_MAX) {
    // Every task of the pipeline has its fresh instance and moved inputs, and none runs: the
    // view values its old state published go too (a restore of this checkpoint has none).
    for (const plan::LogicalOp& op : pipelines_[ckpt_reset_.pipeline]->logical().ops) {
      if (op.features == nullptr) continue;
      if (plan::OnlineStore* store = online_store(op.features->name)) store->Clear();
    }
    for (auto& sh : shards_) {
      if (sh->paused_epoch.load(std::memory_order_acquire) < epoch) continue;  // still writing its list
      for (const Shard::ResetInput& in : sh->reset_inputs) {
        if (outcome != nullptr)
          outcome->inputs.push_back({streams_[in.stream]->def.name, in.partition, in.before, in.after});
      }
    }
  }
  if (!pause_failed.ok()) return fail(pause_failed);
  ckpt_drain_epoch.store(epoch, std::memory_order_release);
  signal_all();
  ok = WaitFor(clock_, deadline, [&] {
    for (auto& sh : shards_) {
      if (sh->drained_epoch.load(std::memory_order_acquire) < epoch) return false;
    }
    return true;
  });
  if (!ok) return fail(Unavailable("checkpoint: exchange did not drain in time"));
  checkpoint::CheckpointManifest manifest;
  state::AsyncFiles files;
  std::vector<std::pair<log::PartitionLog*, uint64_t>> durable_waits;
  for (auto& sh : shards_) {
    if (!sh->ckpt_status.ok()) return fail(sh->ckpt_status);
    manifest.positions.insert(manifest.positions.end(), sh->ckpt_positions.begin(), sh->ckpt_positions.end());
    files.insert(files.end(), sh->ckpt_files.begin(), sh->ckpt_files.end());
    durable_waits.insert(durable_waits.end(), sh->ckpt_durable_waits.begin(), sh->ckpt_durable_waits.end());
  }
  for (size_t i = 0; i < pipelines_.size(); ++i) {
    LineSink* ls = line_sinks_[i].get();
    const plan::LogicalPipeline& lp = pipelines_[i]->logical();
    if (ls == nullptr || lp.sink.kind != plan::SinkDef::Kind::kFile) continue;
    Status fs = ls->Flush();
    if (!fs.ok()) return fail(fs);
    manifest.positions.emplace_back("file/" + lp.name, FileSize(lp.sink.target));
  }
  // Outputs are pinned and the state captured; the tasks go on while their state is written
  // and the manifest made durable.
  ckpt_resume_epoch.store(epoch, std::memory_order_release);
  signal_all();
  const int64_t t1 = clock_->NowNs();
  auto abandon = [&](Status st) {
    for (const auto& f : files) f->Cancel();  // the shards stop serializing for it
    (void)store_->Abort(pending);
    checkpoints_failed.Add(1);
    return st;
  };
  Status ws = WriteCapturedState(files, deadline);
  if (!ws.ok()) return abandon(ws.WithContext("checkpoint state"));
  uint64_t state_bytes = 0;
  for (const auto& f : files) state_bytes += f->bytes_written();
  // The recorded ends of pipeline-written partitions, synced in the background.
  const bool durable = WaitFor(clock_, deadline, [&] {
    for (const auto& [plog, end] : durable_waits) {
      if (plog->durable_offset() < end) return false;
    }
    return true;
  });
  if (!durable) return abandon(Unavailable("checkpoint: pipeline-written partitions not durable in time"));
  manifest.pause_us = (t1 - pause_start) / 1000;
  manifest.spec_fingerprint = plan_.ToString().substr(0, 256);
  Status cs = store_->Commit(pending, manifest);
  if (!cs.ok()) return abandon(cs);
  *id = pending.id;
  std::vector<std::pair<std::string, uint64_t>> ends = manifest.positions;
  if (member()) {
    // A copied stream's end after its last complete batch, read before the snapshot (which then
    // holds at least that much): what its sinks may export once released. A new owner copies
    // the rest again, in other batches, so at other offsets.
    for (const auto& ss : streams_) {
      if (ss->index >= source_slot_.size() || source_slot_[ss->index] < 0) continue;
      for (uint32_t p = 0; p < ss->partitions.size(); ++p) {
        uint64_t hint = 0;
        if (ReadSourceHint(*ss->partitions[p], &hint)) {
          ends.emplace_back("end/" + ss->def.name + "/" + std::to_string(p), hint);
        }
      }
    }
  }
  NoteCommittedEnds(ends, pending.id, /*released=*/!member());
  if (member() && options_.on_member_snapshot) {
    MemberSnapshot snap;
    Status ss = BuildMemberSnapshot(pending.id, manifest.positions, &snap);
    if (ss.ok()) {
      options_.on_member_snapshot(std::move(snap));
    } else {
      member_snapshots_failed.Add(1);
      LogError("checkpoint_failed", "checkpoint " + std::to_string(pending.id) + ": member snapshot: " + ss.ToString(),
               {{"checkpoint", pending.id}, {"error", ss.ToString()}});
    }
  }
  const int64_t duration_ns = clock_->NowNs() - t0;
  checkpoint_pause.Record(t1 - pause_start);
  checkpoint_duration.Record(duration_ns);
  last_checkpoint_bytes.store(state_bytes, std::memory_order_relaxed);
  last_checkpoint_duration_ns.store(duration_ns, std::memory_order_relaxed);
  last_checkpoint_pause_ns.store(t1 - pause_start, std::memory_order_relaxed);
  last_checkpoint_unix_ms.store(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count(),
      std::memory_order_relaxed);
  LogCheckpoint(pending.id, final, duration_ns, t1 - pause_start, state_bytes);
  checkpoints_completed.Add(1);
  last_checkpoint_id.store(static_cast<int64_t>(pending.id), std::memory_order_relaxed);
  return Status::OK();
}

// Writes every file as its bytes arrive (the shards serialize between batches), then syncs
// and renames it; returns once all are durable. Polls: a slice comes every shard cycle.
Status EngineImpl::WriteCapturedState(const state::AsyncFiles& files, int64_t deadline_ns) {
  std::vector<bool> done(files.size(), false);
  size_t remaining = files.size();
  bool delayed = WriterDelayForTestMs() == 0;
  while (remaining > 0) {
    uint64_t before = 0, after = 0;
    for (size_t i = 0; i < files.size(); ++i) {
      if (done[i]) continue;
      before += files[i]->bytes_written();
      ASSIGN_OR_RETURN(bool complete, files[i]->WriteQueued(env_));
      after += files[i]->bytes_written();
      if (complete) {
        done[i] = true;
        --remaining;
      }
    }
    if (!delayed && after > 0) {
      delayed = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(WriterDelayForTestMs()));
    }
    if (remaining == 0) break;
    if (exiting()) return Unavailable("engine stopped while the state was being written");
    if (clock_->NowNs() > deadline_ns) return Unavailable("state not written in time (checkpoint_timeout_ms)");
    if (after == before) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return Status::OK();
}

void EngineImpl::LogCheckpoint(uint64_t id, bool final, int64_t duration_ns, int64_t pause_ns, uint64_t state_bytes) {
  // A checkpoint every few seconds is routine: at info it would drown the lines that matter.
  // The first says checkpoints work, the final one where a restart resumes; a slow one
  // (kCheckpointSlowMs) is worth a look.
  constexpr int64_t kCheckpointSlowMs = 1000;
  const int64_t duration_ms = duration_ns / 1'000'000;
  const bool slow = duration_ms >= kCheckpointSlowMs;
  const LogLevel level = !checkpoint_logged_ || final || slow ? LogLevel::kInfo : LogLevel::kDebug;
  checkpoint_logged_ = true;
  if (!LogEnabled(level)) return;
  const double pause_ms = std::round(static_cast<double>(pause_ns) / 1e3) / 1e3;  // to the microsecond
  char pause_text[32];
  std::snprintf(pause_text, sizeof pause_text, "%.2f", pause_ms);
  Log(level, "checkpoint",
      std::string(final ? "final checkpoint " : "checkpoint ") + std::to_string(id) + " written in " +
          std::to_string(duration_ms) + " ms (pipelines paused " + pause_text + " ms, state " +
          std::to_string(state_bytes) + " bytes)" + (slow ? ": slow" : ""),
      {{"checkpoint", id},
       {"duration_ms", duration_ms},
       {"pause_ms", pause_ms},
       {"state_bytes", state_bytes},
       {"slow", slow},
       {"final", final}});
}

Result<uint64_t> EngineImpl::CheckpointNow() {
  if (!checkpoints_enabled()) return Unavailable("checkpoints are disabled (checkpoint_interval_ms = 0)");
  if (stopping()) return FailedPrecondition("engine is stopping");
  uint64_t id = 0;
  RETURN_IF_ERROR(RunCheckpoint(&id));
  return id;
}

// Events appended anywhere plus events read by pipelines: unchanged means a checkpoint would
// record exactly the previous one (an idle engine then writes nothing).
uint64_t EngineImpl::ProgressCount() const {
  uint64_t n = 0;
  for (const auto& sh : shards_) {
    for (const Counter& c : sh->metrics().events_appended) n += c.Get();
    for (const Counter& c : sh->metrics().pipeline_in) n += c.Get();
  }
  return n;
}

void EngineImpl::CheckpointLoop() {
  std::unique_lock<std::mutex> lock(ckpt_wait_mu_);
  uint64_t last_progress = UINT64_MAX;
  bool precondition_reported = false;
  while (!ckpt_thread_exit_) {
    ckpt_wait_cv_.wait_for(lock, std::chrono::milliseconds(options_.checkpoint_interval_ms),
                           [this] { return ckpt_thread_exit_ || !reset_jobs_.empty(); });
    if (ckpt_thread_exit_) break;
    if (!reset_jobs_.empty()) {
      // A reset is a checkpoint too (with the pipeline's tasks reset at its pause); the
      // periodic one waits for the next interval.
      ResetJob job = std::move(reset_jobs_.front());
      reset_jobs_.pop_front();
      lock.unlock();
      if (stopping()) {
        job.done(Unavailable("the engine is stopping; the pipeline was not reset"), {});
      } else {
        RunReset(job);
      }
      lock.lock();
      continue;
    }
    const uint64_t progress = ProgressCount();
    if (progress == last_progress) continue;
    bool ended = false;  // a bounded run: no periodic checkpoint after its end (nothing to report)
    for (size_t i = 0; i < streams_.size(); ++i) ended |= ended_[i].load(std::memory_order_acquire);
    if (ended) continue;
    lock.unlock();
    uint64_t id = 0;
    Status st = RunCheckpoint(&id);
    if (st.ok()) {
      last_progress = progress;
    } else if (st.code() == StatusCode::kFailedPrecondition) {
      // Not retryable until a restart (end of input, lost output): say it once.
      if (!precondition_reported) {
        LogWarn("checkpoint_stopped", "checkpoints stopped: " + st.ToString(), {{"error", st.ToString()}});
      }
      precondition_reported = true;
      last_progress = progress;
    } else {
      LogError("checkpoint_failed", "checkpoint failed: " + st.ToString(), {{"error", st.ToString()}});
    }
    lock.lock();
  }
  // Stopping: resets still queued are refused (ResetPipeline queues none once exit is set).
  std::deque<ResetJob> refused;
  refused.swap(reset_jobs_);
  lock.unlock();
  for (ResetJob& job : refused) job.done(Unavailable("the engine is stopping; the pipeline was not reset"), {});
}

}  // namespace impulse::runtime
