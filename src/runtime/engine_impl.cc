#include "runtime/engine_impl.h"
#include "common/logger.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "common/dir_lock.h"
#include "event/json_writer.h"
#include "event/key_hash.h"
#include "event/row_codec.h"
#include "model/onnx_model.h"
#include "runtime/decide.h"
#include "runtime/shard.h"
#include "runtime/spec_fingerprint.h"

namespace impulse::runtime {

namespace {

// A canonical description of a stream's schema, stored beside its logs so that a restart with
// an incompatible spec is refused instead of misreading old records.
std::string SchemaFingerprint(const StreamDef& def) {
  std::string s = "impulse-stream-v1\n";
  for (const Field& f : def.schema.fields()) {
    s += f.name;
    s += ' ';
    s += FieldTypeName(f.type);
    s += f.nullable ? " nullable\n" : "\n";
  }
  s += "partitions " + std::to_string(def.options.partitions) + "\n";
  return s;
}

constexpr size_t kMaxDeadLetterRawBytes = size_t{64} * 1024;

// Rows for IngestRows: the stream's width, no null in a non-nullable field.
Status CheckRows(const StreamDef& def, const RowBatch& rows) {
  if (rows.width() != def.schema.size()) {
    return InvalidArgument("rows have " + std::to_string(rows.width()) + " fields, stream " + def.name + " has " +
                           std::to_string(def.schema.size()));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const Value* r = rows.row(i);
    for (size_t f = 0; f < def.schema.size(); ++f) {
      if (r[f].null && !def.schema.field(f).nullable) {
        return InvalidArgument("row " + std::to_string(i) + ": field " + def.schema.field(f).name + " is null");
      }
    }
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<LineSink>> LineSink::Open(const plan::SinkDef& def) {
  auto sink = std::unique_ptr<LineSink>(new LineSink());
  if (def.kind == plan::SinkDef::Kind::kStdout) {
    sink->fd_ = STDOUT_FILENO;
    sink->path_ = "stdout";
    return sink;
  }
  sink->path_ = def.target;
  sink->fd_ = ::open(def.target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (sink->fd_ < 0) return ErrnoStatus("open sink file " + def.target, errno);
  sink->owns_fd_ = true;
  return sink;
}

LineSink::~LineSink() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

Status LineSink::Write(std::string_view lines) {
  std::lock_guard<std::mutex> lock(mu_);
  while (!lines.empty()) {
    ssize_t n = ::write(fd_, lines.data(), lines.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write sink " + path_, errno);
    }
    lines.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status LineSink::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  if (owns_fd_ && ::fdatasync(fd_) != 0) return ErrnoStatus("sync sink " + path_, errno);
  return Status::OK();
}

EngineImpl::EngineImpl(plan::LogicalPlan plan, EngineOptions options)
    : plan_(std::move(plan)),
      options_(std::move(options)),
      clock_(options_.clock ? options_.clock : Clock::Real()),
      env_(options_.env ? options_.env : Env::Default()) {}

EngineImpl::~EngineImpl() {
  CancelSubscriptions();
  (void)Stop();
}

Result<std::unique_ptr<EngineImpl>> EngineImpl::Create(plan::LogicalPlan plan, EngineOptions options) {
  return Create(std::move(plan), std::move(options), TestHooks{});
}

Result<std::unique_ptr<EngineImpl>> EngineImpl::Create(plan::LogicalPlan plan, EngineOptions options, TestHooks hooks) {
  if (options.shards == 0) options.shards = std::max(1u, std::thread::hardware_concurrency());
  if (options.shards > 256) return InvalidArgument("shards must be <= 256");
  if (options.max_producers == 0 || options.max_producers > 64) {
    return InvalidArgument("max_producers must be in 1..64");
  }
  if (options.ring_capacity < 2) return InvalidArgument("ring_capacity must be >= 2");
  if (options.max_inflight_events_per_shard == 0) return InvalidArgument("max_inflight_events_per_shard must be > 0");
  model::ModelRepository* models = nullptr;
  if (options.models) {
    models = dynamic_cast<model::ModelRepository*>(options.models.get());
    if (models == nullptr) {
      return InvalidArgument("EngineOptions::models: not a repository from impulse::ModelRepository::Open");
    }
  }
  if (options.kafka_member_partition >= 0) {
    // A member handles one partition of the topics: every stream is that one partition.
    if (!plan.kafka.enabled || plan.kafka.state_topic.empty()) {
      return InvalidArgument("kafka_member_partition: the spec has no kafka state_topic (docs/SCALE_OUT.md)");
    }
    if (options.checkpoint_interval_ms <= 0) return InvalidArgument("a group member needs checkpoints");
    if (options.state_rocksdb) return InvalidArgument("a group member keeps its state in memory (no RocksDB yet)");
    if (options.kafka_group_partitions <= options.kafka_member_partition) {
      return InvalidArgument("kafka_group_partitions: the source topic's partition count is needed");
    }
    for (const plan::LogicalPipeline& lp : plan.pipelines) {
      // A member holds one partition of each stream: it cannot read every partition of a view.
      if (lp.second_broadcast) {
        return InvalidArgument("pipeline '" + lp.name +
                               "': a broadcast lookup is not supported in a group member (docs/SCALE_OUT.md)");
      }
    }
    plan.kafka.member_partition = options.kafka_member_partition;
    plan.kafka.group_partitions = options.kafka_group_partitions;
    (void)plan::PlanRepartitions(&plan);
    for (StreamDef& s : plan.streams) s.options.partitions = 1;
    for (plan::LogicalPipeline& lp : plan.pipelines) lp.output.options.partitions = 1;
  }
  auto e = std::unique_ptr<EngineImpl>(new EngineImpl(std::move(plan), std::move(options)));
  e->test_hooks_ = std::move(hooks);
  e->models_ = models;
  // A start refused here never ran: Stop (from the destructor) then takes back the STREAM files
  // it wrote for streams still empty, so a corrected spec may declare them otherwise.
  for (Status (EngineImpl::*step)() : {&EngineImpl::OpenStreams, &EngineImpl::Start}) {
    if (Status st = (e.get()->*step)(); !st.ok()) {
      e->start_failed_ = true;
      return st;
    }
  }
  // Only a spec that started becomes the directory's: one refused later than the streams'
  // checks (a missing model, a sink that cannot open) never ran, and its corrected version
  // must not be refused as another spec.
  if (e->record_spec_) {
    // Kept for Abandon: a start the front end then fails leaves DATA/SPEC as it found it.
    const std::string spec_path = e->options_.data_dir + "/SPEC";
    if (e->env_->FileExists(spec_path)) {
      ASSIGN_OR_RETURN(e->spec_before_, e->env_->ReadFile(spec_path));
    }
    RETURN_IF_ERROR(RecordSpecFingerprint(e->env_, e->options_.data_dir, e->plan_));
    e->spec_recorded_ = true;
  }
  return e;
}

int EngineImpl::StreamIndex(std::string_view name) const {
  auto it = stream_index_.find(std::string(name));
  return it == stream_index_.end() ? -1 : static_cast<int>(it->second);
}

std::string EngineImpl::CursorPath(const std::string& pipeline, uint32_t partition) const {
  return options_.data_dir + "/pipelines/" + pipeline + "/" + std::to_string(partition) + ".cursor";
}

Status EngineImpl::OpenStreams() {
  RETURN_IF_ERROR(env_->CreateDirs(options_.data_dir + "/streams"));
  // One engine per data directory: a second one (or `impulse reset` meanwhile) would interleave
  // writes to the same logs and checkpoints.
  ASSIGN_OR_RETURN(data_dir_lock_, DirLock::Acquire(options_.data_dir));
  RETURN_IF_ERROR(CheckSpecFingerprint(env_, options_.data_dir, plan_, options_.accept_spec_change, &record_spec_));
  std::vector<StreamDef> defs = plan_.streams;
  defs.push_back(LateEventsStreamDef());
  defs.push_back(DeadLetterStreamDef());
  for (StreamDef& def : defs) {
    auto ss = std::make_unique<StreamState>();
    ss->index = static_cast<uint32_t>(streams_.size());
    const std::string dir = options_.data_dir + "/streams/" + def.name;
    RETURN_IF_ERROR(env_->CreateDirs(dir));
    const std::string fp_path = dir + "/STREAM";
    const std::string fp = SchemaFingerprint(def);
    if (env_->FileExists(fp_path)) {
      ASSIGN_OR_RETURN(std::string stored, env_->ReadFile(fp_path));
      if (stored != fp) {
        // Even an accepted spec change cannot take these over: the log's records would be misread.
        std::string what;
        for (const std::string& d :
             SpecDifferences(StreamFileToSummary(def.name, stored), StreamFileToSummary(def.name, fp))) {
          what += (what.empty() ? "" : "; ") + d;
        }
        return FailedPrecondition("stream " + def.name +
                                  ": the spec's schema or partition count differs from the one stored in " + fp_path +
                                  " (" + what +
                                  "); its log's records would be misread: use a new data dir or "
                                  "restore the old spec");
      }
    } else {
      RETURN_IF_ERROR(env_->WriteFileAtomic(fp_path, fp));
      stream_files_written_.push_back(ss->index);
    }
    log::LogOptions lo;
    lo.segment_bytes_max = def.options.segment_bytes_max;
    lo.retention_bytes = def.options.retention_bytes;
    lo.retention_ms = def.options.retention_ms;
    for (uint32_t p = 0; p < def.options.partitions; ++p) {
      auto pl = log::PartitionLog::Open(env_, clock_, dir + "/" + std::to_string(p), lo);
      if (!pl.ok()) return pl.status().WithContext("stream " + def.name + " partition " + std::to_string(p));
      if (uint64_t dropped = (*pl)->recovered_truncated_bytes(); dropped > 0) {
        // A torn tail from a crash mid-write: never acknowledged, so nothing acknowledged is lost.
        LogWarn("recovery",
                "stream " + def.name + " partition " + std::to_string(p) + ": truncated a torn tail of " +
                    std::to_string(dropped) + " bytes",
                {{"stream", def.name}, {"partition", p}, {"bytes", dropped}});
      }
      ss->partitions.push_back(std::move(pl).value());
    }
    ss->def = std::move(def);
    stream_index_[ss->def.name] = ss->index;
    streams_.push_back(std::move(ss));
  }
  dead_letter_ = static_cast<uint32_t>(streams_.size() - 1);
  late_stream_ = static_cast<uint32_t>(streams_.size() - 2);
  ended_ = std::make_unique<std::atomic<bool>[]>(streams_.size());
  for (size_t i = 0; i < streams_.size(); ++i) ended_[i].store(false, std::memory_order_relaxed);
  // Writers of each pipeline-written stream, for watermark markers.
  writers_of_stream_.assign(streams_.size(), 0);
  for (const plan::LogicalPipeline& lp : plan_.pipelines) {
    uint32_t base = 0;
    if (lp.sink.kind == plan::SinkDef::Kind::kStream) {
      const int sink = StreamIndex(lp.sink.target);
      const int src = StreamIndex(lp.source);
      if (sink < 0 || src < 0) return Internal("pipeline " + lp.name + ": streams missing");
      base = writers_of_stream_[static_cast<size_t>(sink)];
      writers_of_stream_[static_cast<size_t>(sink)] += streams_[static_cast<size_t>(src)]->def.options.partitions;
    }
    writer_base_.push_back(base);
  }

  for (const auto& view : plan_.feature_views) online_stores_[view->name] = std::make_unique<plan::OnlineStore>(view);
  if (plan_.uses_outbox) {
    const int ob = StreamIndex(kOutboxStream);
    if (ob < 0) return Internal("the outbox stream is missing");
    outbox_stream_ = static_cast<uint32_t>(ob);
    if (options_.dispatch_actions) {
      ASSIGN_OR_RETURN(dispatcher_, OutboxDispatcher::Create(this, plan_, outbox_stream_, {}));
    }
  }
  sync_at_checkpoint_.assign(streams_.size(), 0);
  for (uint32_t s = 0; s < streams_.size(); ++s) {
    sync_at_checkpoint_[s] = checkpoints_enabled() && streams_[s]->def.derived && s != outbox_stream_ ? 1 : 0;
  }
  // ONNX nets run on the calling shard's thread (OpenCV's own pool would compete for its cores).
  if (models_ != nullptr) model::SetOnnxThreads(1);
  for (const plan::LogicalPipeline& lp : plan_.pipelines) {
    ASSIGN_OR_RETURN(auto pp, plan::PhysicalPipeline::Create(lp, plan_));
    if (pp->stateful() && !checkpoints_enabled()) {
      return InvalidArgument("pipeline '" + lp.name +
                             "' has stateful steps, which need checkpoints (checkpoint_interval_ms > 0)");
    }
    for (const plan::LogicalOp& op : lp.ops) {
      if (op.kind == plan::LogicalOp::Kind::kPredict) {
        RETURN_IF_ERROR(plan::CheckPredictStep(op, models_).WithContext("pipeline '" + lp.name + "'"));
      }
      if (op.rank != nullptr) {
        RETURN_IF_ERROR(plan::CheckRankStep(op, models_).WithContext("pipeline '" + lp.name + "'"));
      }
    }
    std::vector<uint32_t> side_targets;
    for (const std::string& name : lp.side_streams) {
      const int si = StreamIndex(name);
      if (si < 0) return Internal("pipeline " + lp.name + ": side stream " + name + " missing");
      side_targets.push_back(static_cast<uint32_t>(si));
    }
    side_streams_.push_back(std::move(side_targets));
    pipelines_.push_back(std::move(pp));
    if (lp.sink.kind == plan::SinkDef::Kind::kStream) {
      line_sinks_.push_back(nullptr);
    } else {
      ASSIGN_OR_RETURN(auto ls, LineSink::Open(lp.sink));
      line_sinks_.push_back(std::move(ls));
    }
    RETURN_IF_ERROR(env_->CreateDirs(options_.data_dir + "/pipelines/" + lp.name));
    broadcast_readers_ |= lp.second_broadcast;
    const int src = StreamIndex(lp.source);
    const int second = lp.second_source.empty() ? src : StreamIndex(lp.second_source);
    std::vector<std::unique_ptr<WatermarkSlot[]>> sides;
    std::vector<uint32_t> counts;
    for (int s : {src, second}) {
      const uint32_t parts = streams_[static_cast<size_t>(s)]->def.options.partitions;
      sides.push_back(std::make_unique<WatermarkSlot[]>(parts));
      counts.push_back(parts);
    }
    wm_slots_.push_back(std::move(sides));
    wm_slot_counts_.push_back(std::move(counts));
  }
  return Status::OK();
}

Status EngineImpl::Start() {
  const uint32_t n = options_.shards;
  std::vector<const Schema*> outputs;
  for (const auto& p : pipelines_) outputs.push_back(&p->output_schema());
  decide_ = std::make_unique<DecisionWaiters>(outputs, options_.decide_waiters_max, LateRoutes(plan_));
  ingest_.resize(n);
  exchange_.resize(n);
  for (uint32_t s = 0; s < n; ++s) {
    for (uint32_t p = 0; p < producer_count(); ++p) {
      ingest_[s].push_back(std::make_unique<Ring>(options_.ring_capacity));
    }
    for (uint32_t src = 0; src < n; ++src) {
      exchange_[s].push_back(std::make_unique<Ring>(options_.ring_capacity));
    }
  }
  NdjsonLimits limits;
  limits.max_line_bytes = options_.max_line_bytes;
  for (uint32_t p = 0; p < producer_count(); ++p) {
    auto prod = std::make_unique<Producer>();
    for (const auto& ss : streams_) prod->parsers.push_back(std::make_unique<NdjsonParser>(ss->def, limits));
    prod->per_shard.resize(n);
    producers_.push_back(std::move(prod));
  }
  RETURN_IF_ERROR(Recover());
  RETURN_IF_ERROR(RecoverSources());
  if (dispatcher_) RETURN_IF_ERROR(dispatcher_->LoadCursors());
  for (uint32_t s = 0; s < n; ++s) shards_.push_back(std::make_unique<Shard>(this, s));
  if (!restored_dir_.empty()) {
    // One task per pipeline and partition of its source, each restored by one shard's Init.
    for (const auto& p : pipelines_) {
      const int src = StreamIndex(p->logical().source);
      if (src >= 0) restore_tasks_total_ += streams_[static_cast<uint32_t>(src)]->partitions.size();
    }
  }
  for (auto& sh : shards_) RETURN_IF_ERROR(sh->Init());
  for (auto& sh : shards_) sh->Start();
  if (checkpoints_enabled()) checkpointer_ = std::thread([this] { CheckpointLoop(); });
  if (dispatcher_) dispatcher_->Start();
  started_ = true;
  if (Status cs = StartConnectors(); !cs.ok()) {
    start_failed_ = true;
    return cs;
  }
  return Status::OK();
}

// Checks common to both ingest forms; on success *si is the stream's index.
Status EngineImpl::CheckIngestTarget(std::string_view stream_name, uint32_t producer, int* si) const {
  if (stopping()) return FailedPrecondition("engine is stopping");
  if (producer >= options_.max_producers) return InvalidArgument("producer index out of range");
  *si = StreamIndex(stream_name);
  if (*si < 0) return NotFound("unknown stream '" + std::string(stream_name) + "'");
  if (static_cast<uint32_t>(*si) == dead_letter_ || static_cast<uint32_t>(*si) == late_stream_) {
    return InvalidArgument("stream '" + std::string(stream_name) + "' is written by the engine only (" +
                           (static_cast<uint32_t>(*si) == dead_letter_ ? "rejected lines" : "late events") +
                           "); it can be read, not ingested into");
  }
  if (streams_[static_cast<size_t>(*si)]->def.name == kActionDeadLetterStream) {
    return InvalidArgument("stream '" + std::string(stream_name) + "' is written by the engine's action dispatcher");
  }
  if (source_slot_[static_cast<size_t>(*si)] >= 0) {
    return InvalidArgument(
        "stream '" + std::string(stream_name) +
        "' is copied from a broker (the spec's kafka or nats sources): publish to its topic or subject");
  }
  if (streams_[static_cast<size_t>(*si)]->def.derived) {
    // Not retryable (unlike kFailedPrecondition, which means "stopping": 503).
    return InvalidArgument("stream '" + std::string(stream_name) +
                           "' is written by pipelines and cannot be ingested into (send to its source stream)");
  }
  return Status::OK();
}

Status EngineImpl::Ingest(std::string_view stream_name, std::string_view ndjson, uint32_t producer,
                          IngestCallback done) {
  const ActiveIngest active(&active_ingests_);
  int si = -1;
  RETURN_IF_ERROR(CheckIngestTarget(stream_name, producer, &si));
  Producer& prod = *producers_[producer];
  const ProducerClaim claim(&prod.busy);
  if (!claim.held()) return Internal("producer index used by two threads at once");
  StreamState& ss = *streams_[static_cast<size_t>(si)];
  const int64_t start_ns = clock_->NowNs();
  const int64_t now_ms = clock_->NowMs();
  // Every record (row or dead letter) counts toward one shard's in-flight bound, so a body with
  // more records than all shards' bounds together has a shard over its bound: Admit would refuse
  // it, but only after parsing and encoding it, which costs CPU and memory many times the body.
  // Refused here before parsing; counted only when the body could hold that many (a record
  // takes 2 bytes, its newline included, but the last).
  const uint64_t admissible = uint64_t{shard_count()} * options_.max_inflight_events_per_shard;
  if ((ndjson.size() + 1) / 2 > admissible && CountNdjsonRecords(ndjson, admissible) > admissible) {
    oversized_rejections.fetch_add(1, std::memory_order_relaxed);
    return OutOfRange("request holds more than " + std::to_string(admissible) + " events (lines), over " +
                      std::to_string(shard_count()) + " shards x max_inflight_events_per_shard " +
                      std::to_string(options_.max_inflight_events_per_shard) +
                      ", so it can never be admitted; split it into requests of at most " +
                      std::to_string(options_.max_inflight_events_per_shard) + " lines");
  }
  prod.rows.Reset(ss.def.schema.size());
  prod.bad.clear();
  RETURN_IF_ERROR(prod.parsers[static_cast<size_t>(si)]->Parse(ndjson, now_ms, &prod.rows, &prod.bad));
  return Admit(prod, si, prod.rows, producer, start_ns, now_ms, std::move(done));
}

Status EngineImpl::IngestRows(std::string_view stream_name, const RowBatch& rows, uint32_t producer,
                              IngestCallback done) {
  const ActiveIngest active(&active_ingests_);
  int si = -1;
  RETURN_IF_ERROR(CheckIngestTarget(stream_name, producer, &si));
  RETURN_IF_ERROR(CheckRows(streams_[static_cast<size_t>(si)]->def, rows));
  Producer& prod = *producers_[producer];
  const ProducerClaim claim(&prod.busy);
  if (!claim.held()) return Internal("producer index used by two threads at once");
  prod.bad.clear();
  return Admit(prod, si, rows, producer, clock_->NowNs(), clock_->NowMs(), std::move(done));
}

Status EngineImpl::IngestAndDecide(std::string_view stream_name, std::string_view ndjson, uint32_t producer,
                                   const DecideOptions& options, DecideCallback done) {
  const ActiveIngest active(&active_ingests_);
  int si = -1;
  RETURN_IF_ERROR(CheckIngestTarget(stream_name, producer, &si));
  StreamState& ss = *streams_[static_cast<size_t>(si)];
  // Before parsing: a refused call costs no parse.
  ASSIGN_OR_RETURN(const DecideTarget target, ResolveDecideTarget(plan_, ss.def, options));
  if (CountNdjsonRecords(ndjson, DecideOptions::kDecideEventsMax) > DecideOptions::kDecideEventsMax) {
    oversized_rejections.fetch_add(1, std::memory_order_relaxed);
    return OutOfRange("decide: a request holds at most " + std::to_string(DecideOptions::kDecideEventsMax) +
                      " events (lines); split it");
  }
  Producer& prod = *producers_[producer];
  const ProducerClaim claim(&prod.busy);
  if (!claim.held()) return Internal("producer index used by two threads at once");
  const int64_t start_ns = clock_->NowNs();
  const int64_t now_ms = clock_->NowMs();
  prod.rows.Reset(ss.def.schema.size());
  prod.bad.clear();
  RETURN_IF_ERROR(prod.parsers[static_cast<size_t>(si)]->Parse(ndjson, now_ms, &prod.rows, &prod.bad));
  return AdmitDecide(prod, si, prod.rows, producer, start_ns, now_ms, target, options, std::move(done));
}

Status EngineImpl::IngestRowsAndDecide(std::string_view stream_name, const RowBatch& rows, uint32_t producer,
                                       const DecideOptions& options, DecideCallback done) {
  const ActiveIngest active(&active_ingests_);
  int si = -1;
  RETURN_IF_ERROR(CheckIngestTarget(stream_name, producer, &si));
  const StreamDef& def = streams_[static_cast<size_t>(si)]->def;
  ASSIGN_OR_RETURN(const DecideTarget target, ResolveDecideTarget(plan_, def, options));
  RETURN_IF_ERROR(CheckRows(def, rows));
  if (rows.size() > DecideOptions::kDecideEventsMax) {
    oversized_rejections.fetch_add(1, std::memory_order_relaxed);
    return OutOfRange("decide: a call holds at most " + std::to_string(DecideOptions::kDecideEventsMax) +
                      " rows; split it");
  }
  Producer& prod = *producers_[producer];
  const ProducerClaim claim(&prod.busy);
  if (!claim.held()) return Internal("producer index used by two threads at once");
  prod.bad.clear();
  return AdmitDecide(prod, si, rows, producer, clock_->NowNs(), clock_->NowMs(), target, options, std::move(done));
}

Status EngineImpl::AdmitDecide(Producer& prod, int si, const RowBatch& rows, uint32_t producer, int64_t start_ns,
                               int64_t now_ms, const DecideTarget& target, const DecideOptions& options,
                               DecideCallback done) {
  // Registered before Admit queues anything, so no output can precede its waiter.
  ASSIGN_OR_RETURN(std::shared_ptr<DecideCall> call, decide_->Register(target, plan_.pipelines[target.pipeline], rows,
                                                                       prod.bad, options.timeout_ms, std::move(done)));
  DecisionWaiters* waiters = decide_.get();
  Status st = Admit(prod, si, rows, producer, start_ns, now_ms, [waiters, call](Status s, IngestResult r) {
    waiters->IngestDone(call, std::move(s), std::move(r));
  });
  if (!st.ok()) waiters->Cancel(call);
  return st;
}

Status EngineImpl::IngestInternal(uint32_t stream, const RowBatch& rows, IngestCallback done) {
  const ActiveIngest active(&active_ingests_);
  if (stopping()) return FailedPrecondition("engine is stopping");
  if (stream >= streams_.size() || streams_[stream]->def.derived) return Internal("internal write to a derived stream");
  if (rows.width() != streams_[stream]->def.schema.size()) return Internal("internal write: width mismatch");
  Producer& prod = *producers_[options_.max_producers];
  const ProducerClaim claim(&prod.busy);
  if (!claim.held()) return Internal("internal producer used by two threads");
  prod.bad.clear();
  return Admit(prod, static_cast<int>(stream), rows, options_.max_producers, clock_->NowNs(), clock_->NowMs(),
               std::move(done));
}

// Encodes `rows` (and prod.bad as dead letters), admits the request whole or refuses it, and
// queues it to the owning shards.
Status EngineImpl::Admit(Producer& prod, int si, const RowBatch& rows, uint32_t producer, int64_t start_ns,
                         int64_t now_ms, IngestCallback done, const AdmitExtras* extras) {
  StreamState& ss = *streams_[static_cast<size_t>(si)];
  auto req = std::make_shared<IngestRequest>();
  req->start_ns = start_ns;
  req->done = std::move(done);
  req->result.accepted = rows.size();
  req->result.rejected = prod.bad.size();
  const uint32_t n_shards = shard_count();
  const uint32_t parts = ss.def.options.partitions;
  const int key = ss.def.key_field;
  // Unkeyed streams spread requests over partitions round-robin.
  static thread_local uint32_t round_robin = 0;
  const uint32_t rr = round_robin++;
  std::vector<CommandPtr>& cmds = prod.per_shard;
  std::vector<uint64_t> shard_events(n_shards, 0);
  const int time = ss.def.time_field;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Value* row = rows.row(i);
    const uint32_t part = extras != nullptr ? extras->partition
                          : key >= 0        ? PartitionFor(HashValue(row[key], ss.def.schema.field(key).type), parts)
                                            : rr % parts;
    const uint32_t owner = part % n_shards;
    CommandPtr& cmd = cmds[owner];
    if (!cmd) {
      cmd = std::make_unique<AppendCommand>();
      cmd->stream = static_cast<uint32_t>(si);
    }
    const uint32_t begin = static_cast<uint32_t>(cmd->data.size());
    RowMeta meta = rows.meta(i);
    // The event time: the stream's time field, else the ingest time (as the parser sets it), or
    // a connector's batch's own (a repartition topic's rows carry theirs in the record).
    if (time >= 0 && !row[time].null) {
      meta.event_time_ms = row[time].i64;
    } else if (extras == nullptr) {
      meta.event_time_ms = now_ms;
    }
    EncodeRow(ss.def.schema, row, meta, &cmd->data);
    const uint32_t line = meta.line != 0 ? meta.line : static_cast<uint32_t>(i + 1);
    cmd->recs.push_back({part, begin, static_cast<uint32_t>(cmd->data.size() - begin), now_ms, UINT32_MAX, line});
    ++shard_events[owner];
  }
  if (extras != nullptr && !extras->trailer.empty()) {
    // After the rows, in the same command: durable with them or not at all.
    const uint32_t owner = extras->partition % n_shards;
    CommandPtr& cmd = cmds[owner];
    if (!cmd) {
      cmd = std::make_unique<AppendCommand>();
      cmd->stream = static_cast<uint32_t>(si);
    }
    // Watermark markers (a repartitioned stream's writers) first, each its own record.
    std::string_view rest = extras->trailer;
    while (!rest.empty()) {
      const size_t markers = LeadingMarkerBytes(rest);
      const size_t n = markers > 0 ? kWatermarkMarkerBytes : rest.size();
      const auto begin = static_cast<uint32_t>(cmd->data.size());
      cmd->data.append(rest.substr(0, n));
      cmd->recs.push_back({extras->partition, begin, static_cast<uint32_t>(n), now_ms, UINT32_MAX, 0});
      ++shard_events[owner];
      rest.remove_prefix(n);
    }
  }
  // Dead letters are made durable with the request, so a rejected line is never lost.
  CommandPtr dlq;
  if (!prod.bad.empty()) {
    const StreamState& dl = *streams_[dead_letter_];
    dlq = std::make_unique<AppendCommand>();
    dlq->stream = dead_letter_;
    RowBatch one(dl.def.schema.size());
    const uint32_t dl_parts = dl.def.options.partitions;
    for (const BadLine& b : prod.bad) {
      one.Clear();
      Value* v = one.AppendRow();
      std::string_view raw = b.raw.substr(0, kMaxDeadLetterRawBytes);
      v[0] = Value::String(ss.def.name);
      v[1] = Value::String(raw);
      v[2] = Value::String(b.reason);
      v[3] = Value::Int(b.line);
      v[4] = Value::Int(now_ms);
      RowMeta& m = one.meta(0);
      m.event_time_ms = now_ms;
      m.ingest_time_ms = now_ms;
      m.line = b.line;
      const uint32_t part = PartitionFor(HashValue(v[0], FieldType::kString), dl_parts);
      const uint32_t begin = static_cast<uint32_t>(dlq->data.size());
      EncodeRow(dl.def.schema, v, m, &dlq->data);
      dlq->recs.push_back({part, begin, static_cast<uint32_t>(dlq->data.size() - begin), now_ms, UINT32_MAX,
                           static_cast<uint32_t>(b.line)});
      if (req->result.errors.size() < options_.max_line_errors_reported) {
        req->result.errors.push_back({b.line, b.reason});
      } else {
        req->result.errors_truncated = true;
      }
    }
  }

  // Admission: every target ring must have room and every shard must be under its in-flight
  // bound, checked before anything is pushed, so a request is either queued whole or refused.
  const uint32_t dl_owner = dlq ? OwnerOf(dlq->recs.front().partition) : 0;
  // Dead letters count toward their shard's in-flight bound like any other record.
  if (dlq) shard_events[dl_owner] += dlq->recs.size();
  // A request that alone holds more events for one shard than its bound would be refused for
  // backpressure forever: refuse it as too large instead, so that the client splits it.
  for (uint32_t s = 0; s < n_shards; ++s) {
    if (shard_events[s] <= options_.max_inflight_events_per_shard) continue;
    for (auto& c : cmds) c.reset();
    oversized_rejections.fetch_add(1, std::memory_order_relaxed);
    return OutOfRange("request holds " + std::to_string(shard_events[s]) + " events (lines) for shard " +
                      std::to_string(s) + ", over max_inflight_events_per_shard " +
                      std::to_string(options_.max_inflight_events_per_shard) +
                      ", so it can never be admitted; split it into requests of at most " +
                      std::to_string(options_.max_inflight_events_per_shard) + " lines");
  }
  for (uint32_t s = 0; s < n_shards; ++s) {
    const uint32_t needed = (cmds[s] ? 1 : 0) + (dlq && dl_owner == s ? 1 : 0);
    if (needed == 0) continue;
    const bool full = ingest_ring(producer, s).FreeSlots() < needed ||
                      shards_[s]->inflight_events.load(std::memory_order_relaxed) + shard_events[s] >
                          options_.max_inflight_events_per_shard;
    if (full) {
      for (auto& c : cmds) c.reset();
      backpressure_rejections.fetch_add(1, std::memory_order_relaxed);
      return Unavailable("ingest queues are full (shard " + std::to_string(s) + "); retry later");
    }
  }
  for (uint32_t s = 0; s < n_shards; ++s) {
    if (shard_events[s] > 0) shards_[s]->inflight_events.fetch_add(shard_events[s], std::memory_order_relaxed);
  }
  // Counted only once admitted, so the rejected-lines metric equals what was dead-lettered.
  ss.events_rejected.fetch_add(prod.bad.size(), std::memory_order_relaxed);
  ss.requests.fetch_add(1, std::memory_order_relaxed);
  uint32_t pending = 0;
  for (uint32_t s = 0; s < n_shards; ++s) pending += (cmds[s] ? 1 : 0);
  pending += dlq ? 1 : 0;
  if (pending == 0) {
    req->done(Status::OK(), std::move(req->result));
    return Status::OK();
  }
  req->pending.store(pending, std::memory_order_relaxed);
  req->parts = pending;
  for (uint32_t s = 0; s < n_shards; ++s) {
    if (!cmds[s]) continue;
    cmds[s]->request = req;
    cmds[s]->arrival_ns = start_ns;
    IMPULSE_CHECK(ingest_ring(producer, s).TryPush(cmds[s]));
    cmds[s].reset();
    shards_[s]->Signal();
  }
  if (dlq) {
    dlq->request = req;
    dlq->arrival_ns = start_ns;
    IMPULSE_CHECK(ingest_ring(producer, dl_owner).TryPush(dlq));
    shards_[dl_owner]->Signal();
  }
  return Status::OK();
}

std::vector<StreamInfo> EngineImpl::ListStreams() const {
  std::vector<StreamInfo> out;
  for (uint32_t s = 0; s < streams_.size(); ++s) {
    const StreamState* ss = streams_[s].get();
    StreamInfo info;
    info.name = ss->def.name;
    info.def = ss->def;
    for (uint32_t p = 0; p < ss->partitions.size(); ++p) {
      info.partitions.push_back({p, ss->partitions[p]->start_offset(), ReadableEnd(s, p)});
    }
    info.events_rejected = ss->events_rejected.load(std::memory_order_relaxed);
    out.push_back(std::move(info));
  }
  return out;
}

Result<int> EngineImpl::CheckReadTarget(std::string_view stream_name, uint32_t partition) const {
  const int si = StreamIndex(stream_name);
  if (si < 0) return NotFound("unknown stream '" + std::string(stream_name) + "'");
  const StreamState& ss = *streams_[si];
  if (partition >= ss.partitions.size()) {
    return OutOfRange("stream " + ss.def.name + " has " + std::to_string(ss.partitions.size()) +
                      " partitions; partition " + std::to_string(partition) + " does not exist");
  }
  return si;
}

Status EngineImpl::ReadEvents(std::string_view stream_name, uint32_t partition, uint64_t from, uint32_t limit,
                              std::string* out) const {
  ASSIGN_OR_RETURN(const int si, CheckReadTarget(stream_name, partition));
  const StreamState& ss = *streams_[si];
  std::vector<log::Record> recs;
  std::string storage;
  RowBatch rows(ss.def.schema.size());
  // Markers (control records of pipeline-written streams) are skipped, so keep reading until
  // `limit` events or the end; clients continue from the last "_offset" + 1.
  uint32_t produced = 0;
  // Acknowledged events only (ReadableEnd); log offsets are dense, so the end bounds the count.
  const uint64_t end = ReadableEnd(static_cast<uint32_t>(si), partition);
  while (produced < limit && from < end) {
    recs.clear();
    storage.clear();
    const auto want = static_cast<uint32_t>(std::min<uint64_t>(limit - produced, end - from));
    RETURN_IF_ERROR(ss.partitions[partition]->Read(from, want, 64u << 20, &recs, &storage));
    if (recs.empty()) break;
    for (const log::Record& r : recs) {
      from = r.offset + 1;
      if (IsControlRecord(r.payload)) continue;
      rows.Clear();
      RETURN_IF_ERROR(
          DecodeRow(ss.def.schema, r.payload, &rows)
              .WithContext(ss.def.name + "/" + std::to_string(partition) + " offset " + std::to_string(r.offset)));
      JsonRowPrefix prefix{r.offset, partition, rows.meta(0).event_time_ms};
      AppendRowJson(ss.def.schema, rows.row(0), out, &prefix);
      out->push_back('\n');
      ++produced;
    }
  }
  return Status::OK();
}

bool EngineImpl::Quiescent() const {
  auto quiet_now = [this] {
    for (const auto& sh : shards_) {
      if (!sh->quiescent()) return false;
      if (broadcast_readers_ && sh->BroadcastInputPending()) return false;
    }
    for (uint32_t s = 0; s < shards_.size(); ++s) {
      for (const auto& r : ingest_[s]) {
        if (r->ApproxSize() != 0) return false;
      }
      for (const auto& r : exchange_[s]) {
        if (r->ApproxSize() != 0) return false;
      }
    }
    return true;
  };
  const uint64_t before = activity.load(std::memory_order_seq_cst);
  if (!quiet_now()) return false;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return quiet_now() && activity.load(std::memory_order_seq_cst) == before;
}

Status EngineImpl::WaitForPipelines(int64_t timeout_ms) const {
  const int64_t deadline = clock_->NowNs() + timeout_ms * 1'000'000;
  // An EndOfInput before this call must have reached every task's watermark (a sleeping shard
  // with no lag may not have woken for it yet).
  const uint64_t end_epoch = end_epoch_.load(std::memory_order_acquire);
  while (true) {
    // A task stopped by an operator error never catches up: say why rather than time out.
    for (const auto& sh : shards_) RETURN_IF_ERROR(sh->task_failure());
    bool all_idle = true;
    for (const auto& sh : shards_) all_idle = all_idle && sh->idle() && sh->applied_end_epoch() >= end_epoch;
    uint64_t lag = 0;
    for (size_t i = 0; i < pipelines_.size(); ++i) {
      for (const auto& sh : shards_) lag += sh->PipelineLag(i);
    }
    uint64_t queued = 0;
    for (uint32_t s = 0; s < shards_.size(); ++s) {
      for (const auto& r : exchange_[s]) queued += r->ApproxSize();
    }
    if (all_idle && lag == 0 && queued == 0) return Status::OK();
    if (clock_->NowNs() > deadline) {
      return Unavailable("pipelines still " + std::to_string(lag) + " events behind after " +
                         std::to_string(timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Status EngineImpl::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return Status::OK();
  stopped_ = true;
  // Long-polling readers are answered now (with what there is), not at their deadline.
  read_waiters_.Close();
  // First, while the engine still takes its own writes: outcomes already known are recorded,
  // calls in flight stay pending in the outbox for the next start.
  if (dispatcher_) dispatcher_->Stop();
  // Sources first: what they have not appended stays in the topic for the next start.
  if (connectors_) connectors_->StopSources();
  stopping_.store(true, std::memory_order_seq_cst);
  while (active_ingests_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  // Drain: shards keep running (acking, processing, exchanging) until the whole engine is
  // quiet, so no shard leaves while another still owes it outputs.
  for (auto& sh : shards_) sh->Signal();
  const int64_t deadline_ns = clock_->NowNs() + int64_t{options_.stop_drain_timeout_ms} * 1'000'000;
  bool drained = true;
  while (!Quiescent()) {
    if (clock_->NowNs() > deadline_ns) {
      // A pipeline that cannot write (full disk) must not hang shutdown; what it did not
      // finish stays in the log and is replayed from its cursor at the next start.
      drained = false;
      break;
    }
    for (auto& sh : shards_) sh->Signal();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  {
    // The checkpoint thread first; then, when drained, a final checkpoint so a restart
    // resumes exactly here instead of replaying since the last periodic one.
    std::lock_guard<std::mutex> l(ckpt_wait_mu_);
    ckpt_thread_exit_ = true;
  }
  ckpt_wait_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  bool any_ended = false;
  // ended_ is made once every stream opened: a start that failed opening one has none.
  for (size_t s = 0; ended_ != nullptr && s < streams_.size(); ++s) {
    any_ended = any_ended || ended_[s].load(std::memory_order_acquire);
  }
  // Not after a failed start (nothing ran that a checkpoint would keep) nor without a store: a
  // final checkpoint would only fail and print its failure over the start's own error.
  bool have_store = false;
  {
    std::lock_guard<std::mutex> l(ckpt_mu_);
    have_store = store_ != nullptr;
  }
  if (started_ && !start_failed_ && have_store && drained && checkpoints_enabled() && !any_ended) {
    uint64_t id = 0;
    Status cs = RunCheckpoint(&id, /*final=*/true);
    if (!cs.ok()) {
      LogError("checkpoint_failed", "final checkpoint failed: " + cs.ToString(), {{"error", cs.ToString()}});
    }
  }
  // Sinks export up to the final checkpoint (exactly-once) or the durable end, then stop.
  if (connectors_) connectors_->StopSinks();
  drained_.store(drained, std::memory_order_release);
  exiting_.store(true, std::memory_order_release);
  for (auto& sh : shards_) sh->Signal();
  for (auto& sh : shards_) sh->Join();
  // Nothing more will be decided: callers still waiting get their answer now, not at their timeout.
  if (decide_) decide_->Shutdown();
  Status result;
  for (auto& ss : streams_) {
    for (auto& p : ss->partitions) {
      Status st = p->Sync();
      if (result.ok() && !st.ok()) result = st;
    }
  }
  for (auto& ls : line_sinks_) {
    if (ls) {
      Status st = ls->Flush();
      if (result.ok() && !st.ok()) result = st;
    }
  }
  if (result.ok() && !drained) {
    result = Unavailable("stopped before the pipelines drained (after " +
                         std::to_string(options_.stop_drain_timeout_ms) + " ms); they resume at the next start");
  }
  if (start_failed_ && spec_recorded_) {
    // The start did not happen: the directory's spec is the one it had before Open.
    const std::string spec_path = options_.data_dir + "/SPEC";
    Status st = spec_before_ ? env_->WriteFileAtomic(spec_path, *spec_before_) : env_->DeleteFile(spec_path);
    if (result.ok() && !st.ok()) result = st.WithContext("putting back " + spec_path);
  }
  if (start_failed_) {
    // Nor are the schemas of the streams it declared and never wrote to: one holding records
    // keeps its STREAM file, or they would be misread under another schema.
    for (const uint32_t index : stream_files_written_) {
      if (index >= streams_.size()) continue;  // OpenStreams failed before keeping it
      const StreamState& ss = *streams_[index];
      bool empty = true;
      for (const auto& p : ss.partitions) empty = empty && p->next_offset() == 0;
      if (!empty) continue;
      const std::string fp_path = options_.data_dir + "/streams/" + ss.def.name + "/STREAM";
      if (Status st = env_->DeleteFile(fp_path); result.ok() && !st.ok())
        result = st.WithContext("removing " + fp_path);
    }
  }
  // Nothing is written to the directory any more: another engine (or `impulse reset`) may have it.
  data_dir_lock_.reset();
  return result;
}

Status EngineImpl::Abandon() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopped_) return Status::OK();
    start_failed_ = true;
  }
  return Stop();
}

}  // namespace impulse::runtime
