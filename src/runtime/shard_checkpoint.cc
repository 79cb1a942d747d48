// A shard's part of the checkpoint protocol (EngineImpl::RunCheckpoint) and of recovery.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/fixed_codec.h"
#include "runtime/shard.h"

namespace impulse::runtime {

namespace {

// One slice of state serialization per shard cycle while a checkpoint captures (between
// batches): bounds the delay it adds to the events behind it.
constexpr int64_t kCaptureSliceUs = 200;

std::string CursorName(const std::string& pipeline, int side, uint32_t partition) {
  return "cursor/" + pipeline + "/" + std::to_string(side) + "/" + std::to_string(partition);
}

// Input `input` of a task of source partition `task_partition`. A broadcast lookup's tasks each
// read every partition q of the right stream: cursor/<pipeline>/1/<q>/<task partition>, one
// per reader (the plain name would say one cursor per partition, which recovery and members
// read as what a partition's only reader has processed).
std::string InputCursorName(const std::string& pipeline, bool broadcast, int input, uint32_t task_partition,
                            uint32_t input_partition) {
  if (!broadcast || input == 0) return CursorName(pipeline, input, task_partition);
  return CursorName(pipeline, 1, input_partition) + "/" + std::to_string(task_partition);
}

}  // namespace

void Shard::CheckpointStep() {
  const uint64_t pre = engine_->ckpt_prepare_epoch.load(std::memory_order_acquire);
  if (pre > prepared_epoch.load(std::memory_order_relaxed)) prepared_epoch.store(pre, std::memory_order_release);
  const uint64_t pe = engine_->ckpt_pause_epoch.load(std::memory_order_acquire);
  if (pe > paused_epoch.load(std::memory_order_relaxed)) {
    if (engine_->test_hooks().pause_stall_shard == id_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(engine_->test_hooks().pause_stall_ms));
    }
    ckpt_positions.clear();
    ckpt_durable_waits.clear();
    reset_inputs.clear();
    // First, whatever this shard's checkpoint status: every shard applies a reset it pauses
    // for, so that the running engine never holds a pipeline reset on some partitions only.
    ResetTasks();
    ckpt_status = output_error_.ok() ? SnapshotTasks(pe)
                                     : FailedPrecondition("pipeline output was lost (" + output_error_.ToString() +
                                                          "); restart to recover from the last checkpoint");
    if (!ckpt_status.ok()) metrics_.checkpoint_errors.Add(1);
    paused_epoch.store(pe, std::memory_order_release);
  }
  const uint64_t de = engine_->ckpt_drain_epoch.load(std::memory_order_acquire);
  if (de > drained_epoch.load(std::memory_order_relaxed) && de == paused_epoch.load(std::memory_order_relaxed)) {
    // Every task is paused, so once the rings into this shard are empty and what they carried
    // is synced, the pipeline-written partitions here stop moving: record their ends.
    const size_t producers = engine_->producer_count();
    for (size_t ri = producers; ri < inbound_.size(); ++ri) {
      if (!inbound_[ri]->Empty()) return;
    }
    if (!dirty_.empty()) return;
    for (uint32_t s = 0; s < engine_->stream_count(); ++s) {
      const StreamState& ss = engine_->stream(s);
      if (!ss.def.derived) continue;
      for (uint32_t p = 0; p < ss.partitions.size(); ++p) {
        if (engine_->OwnerOf(p) != id_) continue;
        // Only flushed per cycle: the end a restore truncates back to must be on disk before
        // the manifest commits, not before the tasks resume: synced in the background, and
        // the coordinator waits for it (ckpt_durable_waits).
        log::PartitionLog* plog = ss.partitions[p].get();
        if (engine_->sync_at_checkpoint(s) && engine_->options().durability != Durability::kNone) {
          Status st = engine_->options().checkpoint_state_in_pause ? plog->Sync() : plog->SyncAsync();
          if (!st.ok()) {
            metrics_.sync_errors.Add(1);
            if (ckpt_status.ok()) ckpt_status = st.WithContext(ss.def.name + " at checkpoint");
          }
          ckpt_durable_waits.emplace_back(plog, plog->end_offset());
        } else if (engine_->sync_at_checkpoint(s)) {
          // Published from memory (PartitionLog::Publish): the end a restore truncates back
          // to must at least be in the file, which a process crash keeps.
          if (Status st = plog->Flush(); !st.ok()) {
            metrics_.append_errors.Add(1);
            if (ckpt_status.ok()) ckpt_status = st.WithContext(ss.def.name + " at checkpoint");
          }
        }
        ckpt_positions.emplace_back("end/" + ss.def.name + "/" + std::to_string(p), plog->end_offset());
      }
    }
    drained_epoch.store(de, std::memory_order_release);
  }
}

void Shard::ResetTasks() {
  EngineImpl::ResetPlan& plan = engine_->ckpt_reset();
  if (plan.pipeline == SIZE_MAX) return;
  const int64_t now_ns = engine_->clock()->NowNs();
  for (const auto& tp : tasks_) {
    Task& t = *tp;
    if (t.pipeline != plan.pipeline) continue;
    const uint32_t part = t.in[0].partition;
    // Built by the coordinator for every source partition; each owner takes its own.
    if (part >= plan.instances.size() || plan.instances[part] == nullptr) continue;
    t.instance = std::move(plan.instances[part]);  // the old state goes with the old instance
    t.restored = false;
    t.wm = INT64_MIN;
    t.marker_wm = INT64_MIN;
    t.marker_ns = INT64_MIN;
    t.next_side = 0;
    for (int side = 0; side < t.sides; ++side) {
      Input& in = t.in[side];
      const uint64_t before = in.cursor.load(std::memory_order_relaxed);
      // `end`: what a task may read now (a declared stream's durable end, a pipeline-written
      // one's visible end), so the reset never points past a record a failed fsync removes.
      const uint64_t after = plan.to_end ? ProcessableEnd(in.stream, in.partition)
                                         : engine_->stream(in.stream).partitions[in.partition]->start_offset();
      in.cursor.store(after, std::memory_order_relaxed);
      std::fill(in.writer_wm.begin(), in.writer_wm.end(), INT64_MIN);
      in.max_ts = INT64_MIN;
      in.own_wm = INT64_MIN;
      in.effective_wm = INT64_MIN;
      in.seen_end = 0;
      in.last_progress_ns = now_ns;
      reset_inputs.push_back({in.stream, in.partition, before, after});
    }
  }
}

Status Shard::SnapshotTasks(uint64_t) {
  // A copy: the coordinator sets the next checkpoint's directory only after every shard has
  // passed this point for the previous one.
  const std::string dir = engine_->ckpt_pending_dir();
  // Files of an abandoned checkpoint still held are dropped (their tables end that capture
  // when the next one begins).
  ckpt_files.clear();
  capturing_ = false;
  const bool in_pause = engine_->options().checkpoint_state_in_pause;
  for (const auto& tp : tasks_) {
    Task& t = *tp;
    const std::string& name = engine_->pipelines()[t.pipeline]->logical().name;
    if (t.failed)
      return FailedPrecondition("pipeline " + name + " stopped after an output or operator error; restart to recover");
    const uint32_t part = t.in[0].partition;
    for (int side = 0; side < t.sides; ++side) {
      ckpt_positions.emplace_back(InputCursorName(name, t.broadcast, side, part, t.in[side].partition),
                                  t.in[side].cursor.load(std::memory_order_relaxed));
    }
    const std::string sdir = engine_->StateDir(dir, name, part);
    if (in_pause) {
      RETURN_IF_ERROR(engine_->env()->CreateDirs(sdir));
      if (t.instance->stateful()) RETURN_IF_ERROR(t.instance->Checkpoint(sdir).WithContext("pipeline " + name));
    } else if (t.instance->stateful()) {
      // O(1) per table: the state is serialized after the tasks resume (StepCaptures).
      RETURN_IF_ERROR(t.instance->BeginCheckpoint(sdir, &ckpt_files).WithContext("pipeline " + name));
      capturing_ = true;
    }
    // The task's event-time progress, so a restored run judges lateness as the original did.
    std::string wm;
    PutI64(t.wm, &wm);
    PutI64(t.marker_wm, &wm);
    PutI64(t.sides, &wm);
    for (int side = 0; side < t.sides; ++side) {
      const Input& in = t.in[side];
      PutI64(in.max_ts, &wm);
      PutI64(in.own_wm, &wm);
      PutI64(in.effective_wm, &wm);
      PutI64(static_cast<int64_t>(in.writer_wm.size()), &wm);
      for (int64_t w : in.writer_wm) PutI64(w, &wm);
    }
    if (in_pause) {
      RETURN_IF_ERROR(engine_->env()->WriteFileAtomic(sdir + "/task.wm", wm));
    } else {
      ckpt_files.push_back(state::AsyncFile::Whole(sdir + "/task.wm", std::move(wm)));
    }
  }
  RefreshOpStats();
  return Status::OK();
}

bool Shard::StepCaptures() {
  for (const auto& f : ckpt_files) {
    if (f->queued_bytes() > state::kAsyncFileQueueMax) return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(kCaptureSliceUs);
  bool done = true;
  for (const auto& tp : tasks_) {
    Task& t = *tp;
    if (!t.instance->stateful()) continue;
    if (t.failed) {
      // A stopped task's instance is not called again; its capture cannot complete.
      const std::string& name = engine_->pipelines()[t.pipeline]->logical().name;
      for (const auto& f : ckpt_files) {
        f->Fail(FailedPrecondition("pipeline " + name + " stopped during the checkpoint; restart to recover"));
      }
      capturing_ = false;
      return true;
    }
    done &= t.instance->ContinueCheckpoint(deadline);
  }
  if (done) capturing_ = false;
  return true;
}

void Shard::RefreshOpStats() {
  std::lock_guard<std::mutex> lock(stats_mu);
  for (auto& v : op_stats) v.clear();
  for (const auto& tp : tasks_) {
    auto stats = tp->instance->Stats();
    auto& agg = op_stats[tp->pipeline];
    for (auto& [label, st] : stats) {
      bool found = false;
      for (auto& [l2, st2] : agg) {
        if (l2 != label) continue;
        found = true;
        st2 += st;
      }
      if (!found) agg.emplace_back(label, st);
    }
  }
}

Status Shard::RestoreTask(Task& t) {
  const std::string& name = engine_->pipelines()[t.pipeline]->logical().name;
  const uint32_t part = t.in[0].partition;
  const auto& pos = engine_->restored_positions();
  for (int side = 0; side < t.sides; ++side) {
    auto it = pos.find(InputCursorName(name, t.broadcast, side, part, t.in[side].partition));
    if (it != pos.end()) t.in[side].cursor.store(it->second, std::memory_order_relaxed);
  }
  if (engine_->restored_dir().empty()) return Status::OK();
  const std::string sdir = engine_->StateDir(engine_->restored_dir(), name, part);
  if (!engine_->env()->FileExists(sdir + "/task.wm")) return Status::OK();  // a pipeline new since
  t.restored = true;
  if (t.instance->stateful()) {
    RETURN_IF_ERROR(t.instance->Restore(sdir).WithContext("restoring pipeline " + name + " partition " +
                                                          std::to_string(part) + " from " + sdir));
  }
  ASSIGN_OR_RETURN(std::string wm, engine_->env()->ReadFile(sdir + "/task.wm"));
  std::string_view in(wm);
  int64_t sides = 0;
  if (!GetI64(&in, &t.wm) || !GetI64(&in, &t.marker_wm) || !GetI64(&in, &sides) || sides != t.sides) {
    return DataLoss("task watermark file " + sdir + "/task.wm is malformed");
  }
  for (int side = 0; side < t.sides; ++side) {
    Input& x = t.in[side];
    int64_t n = 0;
    if (!GetI64(&in, &x.max_ts) || !GetI64(&in, &x.own_wm) || !GetI64(&in, &x.effective_wm) || !GetI64(&in, &n) ||
        n < 0 || static_cast<uint64_t>(n) * 8 > in.size()) {
      return DataLoss("task watermark file " + sdir + "/task.wm is malformed");
    }
    std::vector<int64_t> writers(static_cast<size_t>(n));
    for (int64_t& w : writers) GetI64(&in, &w);
    // A changed number of writers (a spec change) restarts the marker bookkeeping.
    if (writers.size() == x.writer_wm.size()) x.writer_wm = std::move(writers);
  }
  return Status::OK();
}

}  // namespace impulse::runtime
