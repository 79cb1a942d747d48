#include "runtime/shard.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "event/json_writer.h"
#include "event/key_hash.h"
#include "event/row_codec.h"

namespace impulse::runtime {

namespace {
constexpr uint32_t kTaskBatchRecords = 1024;
constexpr uint64_t kTaskBatchBytes = 4u << 20;
constexpr int kMaxBatchesPerTaskPerCycle = 16;  // fairness between tasks and inbound work
constexpr size_t kMaxArrivals = 4096;           // per partition, bounds the latency tracker
constexpr int64_t kHousekeepingIntervalMs = 10'000;
constexpr int64_t kPersistIntervalMs = 1'000;
constexpr int64_t kIdleSleepMs = 1'000;
}  // namespace

Shard::Shard(EngineImpl* engine, uint32_t id)
    : engine_(engine), id_(id), metrics_(engine->stream_count(), engine->pipelines().size()) {}

Shard::~Shard() { Join(); }

Status Shard::Init() {
  const uint32_t n = engine_->shard_count();
  for (uint32_t p = 0; p < engine_->options().max_producers; ++p) {
    inbound_.push_back(&engine_->ingest_ring(p, id_));
  }
  for (uint32_t s = 0; s < n; ++s) inbound_.push_back(&engine_->exchange_ring(s, id_));
  dirty_flag_.resize(engine_->stream_count());
  arrivals_.resize(engine_->stream_count());
  for (uint32_t s = 0; s < engine_->stream_count(); ++s) {
    dirty_flag_[s].assign(engine_->stream(s).partitions.size(), 0);
    arrivals_[s].resize(engine_->stream(s).partitions.size());
  }
  outgoing_.resize(n);
  exchange_sent_to_.assign(n, 0);
  exchange_popped_from_.assign(n, 0);
  exchange_durable_from_ = std::make_unique<std::atomic<uint64_t>[]>(n);
  for (uint32_t s = 0; s < n; ++s) exchange_durable_from_[s].store(0, std::memory_order_relaxed);

  const auto& pipes = engine_->pipelines();
  for (size_t i = 0; i < pipes.size(); ++i) {
    const plan::LogicalPipeline& lp = pipes[i]->logical();
    const int src = engine_->StreamIndex(lp.source);
    if (src < 0) return Internal("pipeline " + lp.name + ": source stream missing");
    const StreamState& ss = engine_->stream(static_cast<uint32_t>(src));
    for (uint32_t part = 0; part < ss.partitions.size(); ++part) {
      if (engine_->OwnerOf(part) != id_) continue;
      auto t = std::make_unique<Task>();
      t->pipeline = i;
      t->instance = pipes[i]->NewInstance();
      t->source = static_cast<uint32_t>(src);
      t->partition = part;
      if (lp.sink.kind == plan::SinkDef::Kind::kStream) {
        const int sink = engine_->StreamIndex(lp.sink.target);
        if (sink < 0) return Internal("pipeline " + lp.name + ": sink stream missing");
        t->sink = static_cast<uint32_t>(sink);
      }
      t->cursor_path = engine_->CursorPath(lp.name, part);
      uint64_t cursor = ss.partitions[part]->start_offset();
      if (engine_->env()->FileExists(t->cursor_path)) {
        ASSIGN_OR_RETURN(std::string text, engine_->env()->ReadFile(t->cursor_path));
        uint64_t v = 0;
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc()) return DataLoss("unreadable pipeline cursor " + t->cursor_path);
        cursor = std::max(v, cursor);
      }
      const uint64_t end = ss.partitions[part]->end_offset();
      if (cursor > end) {
        // The log is shorter than the cursor (repaired, or lost unsynced writes with
        // --durability none): process what is there rather than skip future records.
        std::fprintf(stderr, "impulse: pipeline %s partition %u: cursor %llu past the log end %llu; reset\n",
                     lp.name.c_str(), part, static_cast<unsigned long long>(cursor),
                     static_cast<unsigned long long>(end));
        cursor = end;
      }
      t->cursor.store(cursor, std::memory_order_relaxed);
      t->persisted = cursor;
      tasks_.push_back(std::move(t));
    }
  }
  return Status::OK();
}

void Shard::Start() { thread_ = std::thread([this] { Run(); }); }

void Shard::Join() {
  if (thread_.joinable()) thread_.join();
}

uint64_t Shard::PipelineLag(size_t pipeline) const {
  uint64_t lag = 0;
  for (const auto& t : tasks_) {
    if (t->pipeline != pipeline) continue;
    const uint64_t end = ProcessableEnd(*engine_->stream(t->source).partitions[t->partition]);
    const uint64_t c = t->cursor.load(std::memory_order_relaxed);
    if (end > c) lag += end - c;
  }
  return lag;
}

void Shard::Run() {
  while (!engine_->exiting()) {
    metrics_.cycles.Add(1);
    bool did = DrainInbound();
    SyncAndAck();
    did |= RunTasks();
    SyncAndAck();
    const int64_t now_ms = engine_->clock()->NowMs();
    if (now_ms - last_persist_ms_ >= kPersistIntervalMs) PersistCursors(/*force=*/false);
    if (now_ms - last_housekeeping_ms_ >= kHousekeepingIntervalMs) Housekeeping(now_ms);
    if (did) {
      engine_->activity.fetch_add(1, std::memory_order_seq_cst);
      continue;
    }
    int64_t sleep_ms = kIdleSleepMs;
    if (sync_deadline_ns_ != 0) {
      const int64_t left_ns = sync_deadline_ns_ - engine_->clock()->NowNs();
      sleep_ms = std::clamp<int64_t>(left_ns / 1'000'000, 0, kIdleSleepMs);
      if (sleep_ms == 0) continue;
    }
    const uint32_t token = waker_.PrepareWait();
    const bool work = HasWork();
    quiescent_.store(!work && pending_acks_.empty() && dirty_.empty(), std::memory_order_seq_cst);
    if (!work && !engine_->exiting()) waker_.Wait(token, engine_->stopping() ? std::min<int64_t>(sleep_ms, 5) : sleep_ms);
    waker_.CancelWait();
    // Cleared before anything is popped, so Stop() never sees a quiet shard holding work.
    quiescent_.store(false, std::memory_order_seq_cst);
    engine_->activity.fetch_add(1, std::memory_order_seq_cst);
  }
  SyncAndAck();
  // After a drained stop every shard is quiet and synced, so the current cursors are safe;
  // otherwise only a candidate whose outputs are known durable may be written.
  PersistCursors(/*force=*/engine_->drained());
}

bool Shard::HasWork() {
  for (Ring* r : inbound_) {
    if (!r->Empty()) return true;
  }
  for (const auto& t : tasks_) {
    if (t->cursor.load(std::memory_order_relaxed) <
        ProcessableEnd(*engine_->stream(t->source).partitions[t->partition])) {
      // A task whose outputs cannot be handed over (a full exchange ring) is not work: the
      // shard sleeps until the destination drains the ring and signals it.
      if (t->sink != UINT32_MAX && ExchangeBlocked()) continue;
      return true;
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

uint64_t Shard::ProcessableEnd(const log::PartitionLog& l) const {
  return engine_->options().durability == Durability::kNone ? l.end_offset() : l.durable_offset();
}

void Shard::MarkDirty(uint32_t stream, uint32_t partition) {
  uint8_t& f = dirty_flag_[stream][partition];
  if (!f) {
    f = 1;
    dirty_.emplace_back(stream, partition);
  }
}

bool Shard::DrainInbound() {
  bool did = false;
  CommandPtr cmd;
  const size_t producers = engine_->options().max_producers;
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
        pending_acks_.push_back(std::move(cmd->request));
        pending_ack_events_.push_back(cmd->recs.size());
      }
      cmd.reset();
    }
    // The source may be asleep waiting for room in this ring.
    if (drained_exchange && ri - producers != id_) engine_->shard(static_cast<uint32_t>(ri - producers)).Signal();
  }
  return did;
}

void Shard::AppendCommandRecords(AppendCommand& cmd) {
  StreamState& ss = engine_->stream(cmd.stream);
  uint64_t appended = 0;
  for (const AppendCommand::Rec& r : cmd.recs) {
    log::PartitionLog* plog = ss.partitions[r.partition].get();
    auto off = plog->Append(std::string_view(cmd.data).substr(r.begin, r.len), r.timestamp_ms);
    if (!off.ok()) {
      metrics_.append_errors.Add(1);
      if (cycle_error_.ok()) cycle_error_ = off.status().WithContext(ss.def.name);
      continue;
    }
    ++appended;
    MarkDirty(cmd.stream, r.partition);
    if (cmd.request) {
      auto& q = arrivals_[cmd.stream][r.partition];
      if (!q.empty() && q.back().arrival_ns == cmd.arrival_ns) {
        q.back().end_offset = *off + 1;
      } else if (q.size() < kMaxArrivals) {
        q.push_back({*off + 1, cmd.arrival_ns});
      }
    }
  }
  metrics_.events_appended[cmd.stream].Add(appended);
}

void Shard::SyncAndAck() {
  const Durability d = engine_->options().durability;
  if (d == Durability::kGroupCommit && !dirty_.empty() && !engine_->stopping()) {
    const int64_t interval_ns = int64_t{engine_->options().group_commit_ms} * 1'000'000;
    const int64_t now_ns = engine_->clock()->NowNs();
    if (now_ns - last_sync_ns_ < interval_ns) {
      // Not yet: make the writes visible and keep the acks until the covering fsync.
      for (auto [s, p] : dirty_) {
        Status st = engine_->stream(s).partitions[p]->Flush();
        if (!st.ok() && cycle_error_.ok()) cycle_error_ = st.WithContext(engine_->stream(s).def.name);
      }
      sync_deadline_ns_ = last_sync_ns_ + interval_ns;
      return;
    }
    last_sync_ns_ = now_ns;
  }
  sync_deadline_ns_ = 0;
  for (auto [s, p] : dirty_) {
    dirty_flag_[s][p] = 0;
    log::PartitionLog* plog = engine_->stream(s).partitions[p].get();
    Status st = d == Durability::kNone ? plog->Flush() : plog->Sync();
    if (!st.ok()) {
      metrics_.sync_errors.Add(1);
      if (cycle_error_.ok()) cycle_error_ = st.WithContext(engine_->stream(s).def.name);
    }
  }
  dirty_.clear();
  if (cycle_error_.ok()) {
    // Everything appended so far (including what arrived through exchange rings) is durable.
    ++local_durable_epoch_;
    for (size_t src = 0; src < exchange_popped_from_.size(); ++src) {
      exchange_durable_from_[src].store(exchange_popped_from_[src], std::memory_order_release);
    }
  }
  if (pending_acks_.empty()) {
    cycle_error_ = Status::OK();
    return;
  }
  const int64_t now_ns = engine_->clock()->NowNs();
  for (size_t i = 0; i < pending_acks_.size(); ++i) {
    std::shared_ptr<IngestRequest>& req = pending_acks_[i];
    if (!cycle_error_.ok()) {
      std::lock_guard<std::mutex> lock(req->mu);
      if (req->status.ok()) req->status = cycle_error_;
    }
    inflight_events.fetch_sub(pending_ack_events_[i], std::memory_order_relaxed);
    if (req->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      metrics_.ingest_to_durable.Record(now_ns - req->start_ns);
      Status st;
      {
        std::lock_guard<std::mutex> lock(req->mu);
        st = req->status;
      }
      req->done(st, std::move(req->result));
    }
  }
  pending_acks_.clear();
  pending_ack_events_.clear();
  cycle_error_ = Status::OK();
}

bool Shard::RunTasks() {
  bool did = false;
  for (auto& t : tasks_) {
    for (int b = 0; b < kMaxBatchesPerTaskPerCycle; ++b) {
      bool progressed = false;
      if (!RunTaskBatch(*t, &progressed) || !progressed) break;
      did = true;
    }
  }
  return did;
}

bool Shard::RunTaskBatch(Task& t, bool* progressed) {
  *progressed = false;
  StreamState& src = engine_->stream(t.source);
  log::PartitionLog* in_log = src.partitions[t.partition].get();
  uint64_t cursor = t.cursor.load(std::memory_order_relaxed);
  if (cursor < in_log->start_offset()) {
    // Retention removed input this pipeline had not processed yet: skip it, visibly.
    metrics_.retention_skipped.Add(in_log->start_offset() - cursor);
    cursor = in_log->start_offset();
    t.cursor.store(cursor, std::memory_order_relaxed);
  }
  // Only durable input is processed, so an output never exists without its input.
  if (cursor >= ProcessableEnd(*in_log)) return true;
  const uint32_t n_shards = engine_->shard_count();
  if (t.sink != UINT32_MAX && ExchangeBlocked()) return false;
  const int64_t t0 = engine_->clock()->NowNs();
  records_.clear();
  storage_.clear();
  Status st = in_log->Read(cursor, kTaskBatchRecords, kTaskBatchBytes, &records_, &storage_);
  if (!st.ok() || records_.empty()) {
    // Not the ingest path's error: count it and retry the batch later.
    if (!st.ok()) metrics_.task_errors.Add(1);
    return false;
  }
  const Schema& in_schema = src.def.schema;
  in_.Reset(in_schema.size());
  for (const log::Record& r : records_) {
    if (!DecodeRow(in_schema, r.payload, &in_).ok()) {
      // A record that passed its checksum but does not decode is a bug or a schema change;
      // skip it visibly (impulse_errors_total{kind="decode"}) rather than wedge the pipeline.
      metrics_.decode_errors.Add(1);
      continue;
    }
    RowMeta& m = in_.meta(in_.size() - 1);
    m.offset = r.offset;
    m.partition = t.partition;
  }
  const plan::PhysicalPipeline& pipe = *engine_->pipelines()[t.pipeline];
  const StreamDef& out_def = pipe.logical().output;
  out_.Reset(out_def.schema.size());
  t.instance->Process(in_, &out_);
  metrics_.pipeline_in[t.pipeline].Add(in_.size());
  metrics_.pipeline_out[t.pipeline].Add(out_.size());

  bool output_failed = false;  // a failed output keeps the cursor: the batch is retried
  if (t.sink != UINT32_MAX) {
    StreamState& sink = engine_->stream(t.sink);
    uint64_t appended_local = 0;
    const uint32_t parts = static_cast<uint32_t>(sink.partitions.size());
    const int key = sink.def.key_field;
    for (size_t i = 0; i < out_.size(); ++i) {
      const Value* row = out_.row(i);
      uint32_t part = t.partition % parts;
      if (key >= 0) part = PartitionFor(HashValue(row[key], sink.def.schema.field(key).type), parts);
      RowMeta meta = out_.meta(i);
      const uint32_t owner = engine_->OwnerOf(part);
      if (owner == id_) {
        encoded_.clear();
        EncodeRow(sink.def.schema, row, meta, &encoded_);
        auto off = sink.partitions[part]->Append(encoded_, meta.ingest_time_ms);
        if (!off.ok()) {
          metrics_.append_errors.Add(1);
          output_failed = true;
          break;
        }
        MarkDirty(t.sink, part);
        ++appended_local;
      } else {
        CommandPtr& cmd = outgoing_[owner];
        if (!cmd) {
          cmd = std::make_unique<AppendCommand>();
          cmd->stream = t.sink;
        }
        const uint32_t begin = static_cast<uint32_t>(cmd->data.size());
        EncodeRow(sink.def.schema, row, meta, &cmd->data);
        cmd->recs.push_back({part, begin, static_cast<uint32_t>(cmd->data.size() - begin),
                             meta.ingest_time_ms});
      }
    }
    metrics_.events_appended[t.sink].Add(appended_local);
    for (uint32_t s = 0; s < n_shards; ++s) {
      if (!outgoing_[s]) continue;
      // FreeSlots was checked above and only this shard produces into the ring.
      IMPULSE_CHECK(engine_->exchange_ring(id_, s).TryPush(outgoing_[s]));
      outgoing_[s].reset();
      ++exchange_sent_to_[s];
      engine_->shard(s).Signal();
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
        output_failed = true;
      }
    }
  }
  if (output_failed) return false;

  const uint64_t next = records_.back().offset + 1;
  t.cursor.store(next, std::memory_order_relaxed);
  *progressed = true;
  const int64_t t1 = engine_->clock()->NowNs();
  metrics_.pipeline_batch.Record(t1 - t0);
  auto& q = arrivals_[t.source][t.partition];
  while (!q.empty() && q.front().end_offset <= next) {
    metrics_.ingest_to_output.Record(t1 - q.front().arrival_ns);
    q.pop_front();
  }
  return true;
}

// A cursor may be persisted only once every output of the records before it is durable: the
// local sink appends (a later full sync, local_durable_epoch_) and the commands handed to other
// shards (their exchange_durable_from(id_)). So cursors are snapshotted as a candidate and
// written at a later persist once both have caught up with the snapshot; a crash then replays
// from a cursor whose outputs all exist (at-least-once, never a gap).
void Shard::PersistCursors(bool force) {
  last_persist_ms_ = engine_->clock()->NowMs();
  std::vector<uint64_t> now;
  now.reserve(tasks_.size());
  for (const auto& t : tasks_) now.push_back(t->cursor.load(std::memory_order_relaxed));
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

void Shard::Housekeeping(int64_t now_ms) {
  last_housekeeping_ms_ = now_ms;
  for (uint32_t s = 0; s < engine_->stream_count(); ++s) {
    StreamState& ss = engine_->stream(s);
    for (uint32_t p = 0; p < ss.partitions.size(); ++p) {
      if (engine_->OwnerOf(p) != id_) continue;
      if (!ss.partitions[p]->EnforceRetention(now_ms).ok()) metrics_.retention_errors.Add(1);
    }
  }
}

}  // namespace impulse::runtime
