// Pipeline tasks on a shard: reading durable input, event-time watermarks, running the
// instance, and routing outputs, late events and watermark markers to their partitions.
#include <algorithm>
#include <cstdio>

#include "common/logger.h"
#include "event/json_writer.h"
#include "event/key_hash.h"
#include "event/row_codec.h"
#include "runtime/decide.h"
#include "runtime/shard.h"

namespace impulse::runtime {
namespace {

// The width of _late_events rows, built once: LateEventsStreamDef() allocates a schema per call
// and RunTaskBatch needs the width per batch.
size_t LateWidth() {
  static const size_t width = LateEventsStreamDef().schema.size();
  return width;
}

constexpr uint32_t kTaskBatchRecords = 1024;
constexpr uint64_t kTaskBatchBytes = 4u << 20;
constexpr int kMaxBatchesPerTaskPerCycle = 16;  // fairness between tasks and inbound work
// Markers of a watermark moved by the wall clock alone (docs/EVENT_TIME.md, idle_advance).
constexpr int64_t kIdleMarkerIntervalMs = 100;
// Between a checkpoint's prepare and its pause: a pause request waits for the batch in flight.
constexpr uint32_t kCheckpointBatchRecords = 64;
}  // namespace

bool Shard::RunTasks() {
  bool did = false;
  batch_records_ =
      engine_->ckpt_prepare_epoch.load(std::memory_order_acquire) > paused_epoch.load(std::memory_order_relaxed)
          ? kCheckpointBatchRecords
          : kTaskBatchRecords;
  for (auto& t : tasks_) {
    for (int b = 0; b < kMaxBatchesPerTaskPerCycle; ++b) {
      // A requested checkpoint waits for this shard to pause: stop between batches.
      if (engine_->ckpt_pause_epoch.load(std::memory_order_acquire) > paused_epoch.load(std::memory_order_relaxed)) {
        return true;
      }
      bool progressed = false;
      if (!RunTaskBatch(*t, &progressed) || !progressed) break;
      did = true;
    }
  }
  return did;
}

void Shard::UpdateOwnWatermark(Task& t, int side) {
  Input& in = t.in[side];
  if (in.derived) {
    int64_t m = INT64_MAX;
    for (int64_t w : in.writer_wm) m = std::min(m, w);
    in.own_wm = in.writer_wm.empty() ? INT64_MIN : m;
  } else if (in.max_ts != INT64_MIN) {
    const int64_t bound = engine_->stream(in.stream).def.watermark.max_out_of_orderness_ms;
    in.own_wm = std::max(in.own_wm, in.max_ts - bound);
  }
}

// An input's effective watermark: its own, +infinity once its stream ended and it is read to
// the end, or, when it has been caught up and silent for idle_timeout_ms, at least the
// smallest watermark of its non-idle siblings (the other partitions of the same input), so one
// quiet partition does not hold every window back.
int64_t Shard::TaskWatermark(Task& t, int64_t now_ns) {
  int64_t w = INT64_MAX;
  for (int side = 0; side < t.sides; ++side) {
    Input& in = t.in[side];
    const StreamState& ss = engine_->stream(in.stream);
    const uint64_t end = ProcessableEnd(in.stream, in.partition);
    const uint64_t cursor = in.cursor.load(std::memory_order_relaxed);
    if (end != in.seen_end) {
      in.seen_end = end;
      in.last_progress_ns = now_ns;
    }
    const bool caught_up = cursor >= end;
    int64_t eff = std::max(in.effective_wm, in.own_wm);
    bool idle = false;
    if (caught_up && !in.derived && engine_->ended(in.stream)) {
      eff = INT64_MAX;
    } else if (caught_up && !in.derived) {
      const int64_t timeout = ss.def.watermark.idle_timeout_ms;
      idle = timeout >= 0 && now_ns - in.last_progress_ns >= timeout * 1'000'000;
      if (idle) {
        const int64_t sib = engine_->ActiveSiblingWatermark(t.pipeline, Task::SideOf(side));
        if (sib != INT64_MAX) eff = std::max(eff, sib);
        if (ss.def.watermark.idle_advance_wall_clock && in.own_wm != INT64_MIN) {
          // Event time flows with the wall clock since the partition's last event: an event
          // arriving later is late only if it is older than a live partition would allow.
          int64_t moved = 0;
          if (__builtin_add_overflow(in.own_wm, (now_ns - in.last_progress_ns) / 1'000'000, &moved))
            moved = INT64_MAX - 1;
          eff = std::max(eff, moved);
        } else if (ss.def.watermark.idle_advance_wall_clock && in.max_ts == INT64_MIN) {
          // Never an event: as if one of the current wall-clock time had just arrived (a group
          // member has no sibling to follow, and its watermark gates every re-keyed stream).
          eff = std::max(eff, engine_->clock()->NowMs() - ss.def.watermark.max_out_of_orderness_ms);
        }
      }
      if (ss.def.watermark.idle_advance_wall_clock) wall_clock_inputs_ = t.wall_clock = true;
    }
    in.effective_wm = eff;
    // A broadcast input's partition is read by every task of the pipeline: one of them (that of
    // source partition q % source partitions) publishes it, so the slot follows one reader.
    const uint32_t source_parts = static_cast<uint32_t>(engine_->stream(t.in[0].stream).partitions.size());
    if (!t.broadcast || side == 0 || in.partition % source_parts == t.in[0].partition) {
      EngineImpl::WatermarkSlot& slot = engine_->watermark_slot(t.pipeline, Task::SideOf(side), in.partition);
      slot.wm.store(in.own_wm, std::memory_order_relaxed);
      slot.idle.store(idle, std::memory_order_relaxed);
    }
    w = std::min(w, eff);
  }
  return w;
}

void Shard::DecodeInput(Task& t, int side) {
  Input& in = t.in[side];
  const StreamState& src = engine_->stream(in.stream);
  const Schema& schema = src.def.schema;
  in_.Reset(schema.size());
  // The other inputs' watermarks bound this one's (a join sees the smallest).
  int64_t other = INT64_MAX;
  for (int k = 0; k < t.sides; ++k) {
    if (k != side) other = std::min(other, t.in[k].effective_wm);
  }
  for (const log::Record& r : records_) {
    if (IsSourcePosition(r.payload)) continue;  // a connector's bookkeeping, not a row
    if (IsWatermarkMarker(r.payload)) {
      uint32_t writer = 0;
      int64_t wm = 0;
      if (!in.derived || !DecodeWatermarkMarker(r.payload, &writer, &wm).ok() || writer >= in.writer_wm.size()) {
        metrics_.decode_errors.Add(1);
        continue;
      }
      in.writer_wm[writer] = std::max(in.writer_wm[writer], wm);
      UpdateOwnWatermark(t, side);
      in.effective_wm = std::max(in.effective_wm, in.own_wm);
      continue;
    }
    if (!DecodeRow(schema, r.payload, &in_).ok()) {
      // A record that passed its checksum but does not decode is a bug or a schema change;
      // skip it visibly (impulse_errors_total{kind="decode"}) rather than wedge the pipeline.
      metrics_.decode_errors.Add(1);
      continue;
    }
    RowMeta& m = in_.meta(in_.size() - 1);
    m.offset = r.offset;
    m.partition = in.partition;
    m.ingest_time_ms = r.timestamp_ms;
    m.watermark_ms = std::min(std::max(in.effective_wm, in.own_wm), other);
    if (!in.derived) {
      in.max_ts = std::max(in.max_ts, m.event_time_ms);
      UpdateOwnWatermark(t, side);
    }
  }
  in.effective_wm = std::max(in.effective_wm, in.own_wm);
}

bool Shard::RunTaskBatch(Task& t, bool* progressed) {
  *progressed = false;
  if (t.failed) return false;
  // Alternate between the inputs of a join (round robin over a broadcast's partitions); a
  // single input is side 0.
  int side = -1;
  for (int k = 0; k < t.sides && side < 0; ++k) {
    const int s = (t.next_side + k) % t.sides;
    Input& in = t.in[s];
    log::PartitionLog* l = engine_->stream(in.stream).partitions[in.partition].get();
    uint64_t cursor = in.cursor.load(std::memory_order_relaxed);
    if (cursor < l->start_offset()) {
      // Retention removed input this pipeline had not processed yet: skip it, visibly.
      metrics_.retention_skipped.Add(l->start_offset() - cursor);
      in.cursor.store(l->start_offset(), std::memory_order_relaxed);
      cursor = l->start_offset();
    }
    // Only durable input is processed (derived streams: see sync_at_checkpoint), so an output
    // never exists without its input.
    if (cursor < ProcessableEnd(in.stream, in.partition)) side = s;
  }
  if (side < 0) return true;
  t.next_side = (side + 1) % t.sides;
  if (ExchangeBlocked()) return false;
  Input& in = t.in[side];
  log::PartitionLog* in_log = engine_->stream(in.stream).partitions[in.partition].get();
  const int64_t t0 = engine_->clock()->NowNs();
  records_.clear();
  storage_.clear();
  // Not past the processable end: records written but not yet durable (group commit flushes
  // before its fsync) may still be refused and rolled back.
  const uint64_t from = in.cursor.load(std::memory_order_relaxed);
  const uint64_t max_records = std::min<uint64_t>(batch_records_, ProcessableEnd(in.stream, in.partition) - from);
  Status st = in_log->Read(from, static_cast<uint32_t>(max_records), kTaskBatchBytes, &records_, &storage_);
  if (!st.ok() || records_.empty()) {
    // Not the ingest path's error: count it and retry the batch later.
    if (!st.ok()) metrics_.task_errors.Add(1);
    return false;
  }
  DecodeInput(t, side);
  const int64_t end_wm = TaskWatermark(t, t0);
  const plan::PhysicalPipeline& pipe = *engine_->pipelines()[t.pipeline];
  out_.Reset(pipe.output_schema().size());
  late_.Reset(LateWidth());
  if (Status run = t.instance->Run(Task::SideOf(side), in_, end_wm, &out_, &late_); !run.ok()) {
    FailTask(t, run);  // nothing of this batch is written; the cursor stays before it
    return false;
  }
  t.wm = std::max(t.wm, end_wm);
  metrics_.pipeline_in[t.pipeline].Add(in_.size());
  metrics_.pipeline_out[t.pipeline].Add(out_.size());
  if (!EmitOutputs(t)) {
    // Without checkpoints the cursor stays and the batch is retried (at-least-once). With
    // them, or with operator state, a retry would apply the batch twice: the task stops until
    // a restart restores the last checkpoint (impulse_errors_total{kind="task"}).
    if (engine_->checkpoints_enabled() || t.instance->stateful()) t.failed = true;
    metrics_.task_errors.Add(1);
    return false;
  }

  // Events sent to _late_events never get a decision: their callers are answered now.
  if (!late_.empty() && engine_->decisions().any_waiting()) {
    engine_->decisions().DeliverLate(t.pipeline, engine_->stream(in.stream).def.schema, in_, late_);
  }
  const uint64_t next = records_.back().offset + 1;
  in.cursor.store(next, std::memory_order_relaxed);
  *progressed = true;
  const int64_t t1 = engine_->clock()->NowNs();
  metrics_.pipeline_batch.Record(t1 - t0);
  auto& q = arrivals_[in.stream][in.partition];
  while (!q.empty() && q.front().end_offset <= next) {
    metrics_.ingest_to_output.Record(t1 - q.front().arrival_ns);
    q.pop_front();
  }
  return true;
}

bool Shard::TickWatermarks() {
  bool did = false;
  bool blocked = false;
  const int64_t now_ns = engine_->clock()->NowNs();
  for (auto& tp : tasks_) {
    Task& t = *tp;
    if (t.failed) continue;
    const int64_t w = TaskWatermark(t, now_ns);
    if (w <= t.wm && (t.sink == UINT32_MAX || t.marker_wm >= t.wm)) continue;
    if (ExchangeBlocked()) {
      blocked = true;
      break;
    }
    const plan::PhysicalPipeline& pipe = *engine_->pipelines()[t.pipeline];
    out_.Reset(pipe.output_schema().size());
    late_.Reset(LateWidth());
    in_.Reset(engine_->stream(t.in[0].stream).def.schema.size());
    const int64_t before = t.wm;
    const int64_t marker_before = t.marker_wm;
    if (w > t.wm) {
      if (Status run = t.instance->Run(0, in_, w, &out_, &late_); !run.ok()) {
        FailTask(t, run);
        continue;
      }
      t.wm = w;
    }
    if (!EmitOutputs(t)) {
      t.wm = before;
      t.failed = true;  // the instance moved on: see RunTaskBatch
      metrics_.task_errors.Add(1);
      continue;
    }
    metrics_.pipeline_out[t.pipeline].Add(out_.size());
    // A marker is work for the readers of the sink even without rows (Stop's drain waits for it).
    did = did || !out_.empty() || t.marker_wm != marker_before;
  }
  tick_complete_ = !blocked;
  for (size_t p = 0; p < pipeline_watermark.size(); ++p) {
    int64_t m = INT64_MAX;
    for (const auto& tp : tasks_) {
      if (tp->pipeline == p) m = std::min(m, tp->wm);
    }
    pipeline_watermark[p].store(m == INT64_MAX ? INT64_MIN : m, std::memory_order_relaxed);
  }
  return did;
}

void Shard::FailTask(Task& t, const Status& status) {
  t.failed = true;
  const std::string& name = engine_->pipelines()[t.pipeline]->logical().name;
  const uint32_t part = t.in[0].partition;
  const Status failure = status.WithContext("pipeline '" + name + "' partition " + std::to_string(part));
  // The status carries the operator's label ("window#1: ..."): see PipelineInstance::Run.
  LogError("task_failed", "task stopped until a restart: " + failure.ToString(),
           {{"pipeline", name}, {"partition", part}, {"error", failure.ToString()}});
  metrics_.tasks_failed[t.pipeline].Add(1);
  std::lock_guard<std::mutex> lock(failure_mu_);
  if (task_failure_.ok()) task_failure_ = failure;
}

// A row whose record would exceed the log's bound can never be stored: it goes to _late_events
// (reason too_large, step "sink <stream>") and the task continues.
void Shard::RefuseOversize(const Task& t, const StreamDef& target, const Value* row, const RowMeta& meta) {
  const std::string& name = engine_->pipelines()[t.pipeline]->logical().name;
  plan::AppendRefusedRow(name, "sink " + target.name, target.schema, row, meta, plan::LateReason::kTooLarge, t.wm,
                         &late_);
}

Status Shard::task_failure() const {
  std::lock_guard<std::mutex> lock(failure_mu_);
  return task_failure_;
}

bool Shard::EmitOutputs(Task& t) {
  const uint32_t n_shards = engine_->shard_count();
  const plan::PhysicalPipeline& pipe = *engine_->pipelines()[t.pipeline];
  const StreamDef& out_def = pipe.logical().output;
  // Appends one encoded record to (stream, part): locally or through the owner's ring.
  auto route = [&](uint32_t stream, uint32_t part, const std::string& payload, int64_t ts_ms) -> bool {
    const uint32_t owner = engine_->OwnerOf(part);
    StreamState& ss = engine_->stream(stream);
    if (owner == id_) {
      MarkDirty(stream, part, kOutputRecords);
      auto off = ss.partitions[part]->Append(payload, ts_ms);
      if (!off.ok()) {
        metrics_.append_errors.Add(1);
        return false;
      }
      metrics_.events_appended[stream].Add(1);
      return true;
    }
    CommandPtr& cmd = outgoing_[owner];
    if (!cmd) {
      cmd = std::make_unique<AppendCommand>();
      cmd->stream = stream;
    }
    const uint32_t begin = static_cast<uint32_t>(cmd->data.size());
    cmd->data += payload;
    cmd->recs.push_back({part, begin, static_cast<uint32_t>(payload.size()), ts_ms, stream});
    return true;
  };
  bool ok = true;
  if (t.sink != UINT32_MAX) {
    StreamState& sink = engine_->stream(t.sink);
    const uint32_t parts = static_cast<uint32_t>(sink.partitions.size());
    const int key = sink.def.key_field;
    for (size_t i = 0; ok && i < out_.size(); ++i) {
      const Value* row = out_.row(i);
      uint32_t part = t.in[0].partition % parts;
      if (key >= 0) part = PartitionFor(HashValue(row[key], sink.def.schema.field(key).type), parts);
      const RowMeta& meta = out_.meta(i);
      encoded_.clear();
      EncodeRow(sink.def.schema, row, meta, &encoded_);
      if (encoded_.size() > sink.partitions[part]->max_record_bytes()) [[unlikely]] {
        RefuseOversize(t, sink.def, row, meta);
        continue;
      }
      ok = route(t.sink, part, encoded_, meta.ingest_time_ms);
    }
    // The watermark follows the rows it covers, to every partition of the sink. A watermark that
    // moves with the wall clock while nothing happens (idle_advance) would write a marker every
    // tick: without rows, at most one per kIdleMarkerIntervalMs.
    const int64_t now_ns = t.wall_clock ? engine_->clock()->NowNs() : 0;  // the clock only where it matters
    const bool throttled = t.wall_clock && out_.empty() && t.marker_ns != INT64_MIN &&
                           now_ns - t.marker_ns < kIdleMarkerIntervalMs * 1'000'000;
    if (ok && t.wm > t.marker_wm && !throttled) {
      marker_.clear();
      EncodeWatermarkMarker(t.writer_id, t.wm, &marker_);
      const int64_t now_ms = engine_->clock()->NowMs();
      for (uint32_t p = 0; ok && p < parts; ++p) ok = route(t.sink, p, marker_, now_ms);
      if (ok) {
        t.marker_wm = t.wm;
        t.marker_ns = now_ns;
      }
    }
  } else if (LineSink* ls = engine_->line_sink(t.pipeline)) {
    lines_.clear();
    for (size_t i = 0; i < out_.size(); ++i) {
      AppendRowJson(out_def.schema, out_.row(i), &lines_);
      lines_.push_back('\n');
    }
    if (!lines_.empty()) {
      Status ws = ls->Write(lines_);
      if (!ws.ok()) {
        metrics_.append_errors.Add(1);
        ok = false;
      }
    }
  }
  std::vector<RowBatch>& side = t.instance->side_outputs();
  const std::vector<uint32_t>& side_streams = engine_->side_streams(t.pipeline);
  for (size_t k = 0; ok && k < side.size(); ++k) {
    RowBatch& rows = side[k];
    if (rows.empty()) continue;
    // By the target's key (decision logs: the event id, so a lookup reads one partition).
    const StreamState& ss = engine_->stream(side_streams[k]);
    const uint32_t parts = static_cast<uint32_t>(ss.partitions.size());
    const int key = ss.def.key_field;
    for (size_t i = 0; ok && i < rows.size(); ++i) {
      const Value* row = rows.row(i);
      uint32_t part = t.in[0].partition % parts;
      if (key >= 0) part = PartitionFor(HashValue(row[key], ss.def.schema.field(static_cast<size_t>(key)).type), parts);
      encoded_.clear();
      EncodeRow(ss.def.schema, row, rows.meta(i), &encoded_);
      if (encoded_.size() > ss.partitions[part]->max_record_bytes()) [[unlikely]] {
        RefuseOversize(t, ss.def, row, rows.meta(i));
        continue;
      }
      ok = route(side_streams[k], part, encoded_, rows.meta(i).ingest_time_ms);
    }
    if (ok) rows.Reset(rows.width());  // a watermark tick re-emits without a Run
  }
  // Last, so rows refused above as too large are among them.
  if (ok && !late_.empty()) {
    const StreamDef& late_def = engine_->stream(engine_->late_stream()).def;
    for (size_t i = 0; ok && i < late_.size(); ++i) {
      encoded_.clear();
      EncodeRow(late_def.schema, late_.row(i), late_.meta(i), &encoded_);
      ok = route(engine_->late_stream(), 0, encoded_, engine_->clock()->NowMs());
    }
    if (ok) metrics_.late_events[t.pipeline].Add(late_.size());
  }
  for (uint32_t s = 0; s < n_shards; ++s) {
    if (!outgoing_[s]) continue;
    // FreeSlots was checked before the batch and only this shard produces into the ring.
    IMPULSE_CHECK(engine_->exchange_ring(id_, s).TryPush(outgoing_[s]));
    outgoing_[s].reset();
    ++exchange_sent_to_[s];
    engine_->shard(s).Signal();
  }
  // Callers waiting for this pipeline's decisions (IngestAndDecide); one relaxed load otherwise.
  if (ok && engine_->decisions().waiting(t.pipeline)) [[unlikely]] {
    engine_->decisions().Deliver(t.pipeline, out_, t.instance->firings());
  }
  return ok;
}

}  // namespace impulse::runtime
