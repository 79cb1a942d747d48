// Engine::ResetPipeline: a pipeline started over online, from its sources' beginning or end,
// with empty operator state (docs/OPERATIONS.md, "Resetting a pipeline").
//
// How: a checkpoint that carries the reset. The coordinator builds a fresh instance per task
// first (so nothing can fail once the shards pause), then runs the checkpoint protocol; at the
// pause, between two batches, each shard swaps its tasks of the pipeline to their fresh
// instance and moves their cursors (Shard::ResetTasks) before it records positions and begins
// capturing state. The checkpoint therefore records the new positions and the empty state with
// the pipeline-written ends of that same instant: exactly what a restart must see, committed
// like every checkpoint (manifest last). Serialized with the periodic checkpoints by ckpt_mu_.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "common/logger.h"
#include "common/suggest.h"
#include "event/key_hash.h"
#include "event/table_file.h"
#include "runtime/engine_impl.h"
#include "runtime/shard.h"

namespace impulse::runtime {

namespace {

const char* ResetToName(ResetTo to) { return to == ResetTo::kEnd ? "end" : "beginning"; }

}  // namespace

Result<std::unique_ptr<plan::PipelineInstance>> EngineImpl::NewTaskInstance(size_t pipeline, uint32_t partition) const {
  const plan::LogicalPipeline& lp = pipelines_[pipeline]->logical();
  plan::InstanceOptions io;
  if (options_.state_rocksdb) {
    io.state.backend = state::StateOptions::Backend::kRocksDb;
    io.state.rocksdb_dir = options_.data_dir + "/state/" + lp.name + "/" + std::to_string(partition);
    io.state.cache_entries_max = options_.state_cache_entries;
  }
  io.state.env = env_;
  if (test_hooks_.state_fail_pipeline.empty() || test_hooks_.state_fail_pipeline == lp.name) {
    io.state.fail_after_ops_for_test = test_hooks_.state_fail_after_ops;
    io.state.fail_code_for_test = test_hooks_.state_fail_code;
  }
  io.models = models_;
  io.clock = clock_;
  if (options_.serve_features) {
    io.online_store = [e = this](const std::string& view) { return e->online_store(view); };
  }
  return pipelines_[pipeline]->NewInstance(io);
}

Status EngineImpl::LoadLookupTable(size_t pipeline, uint32_t partition, plan::PipelineInstance* instance) const {
  const plan::LogicalPipeline& lp = pipelines_[pipeline]->logical();
  const plan::LogicalOp* join = nullptr;
  for (const plan::LogicalOp& op : lp.ops) {
    if (op.join && !op.join->table_file.empty()) join = &op;
  }
  if (join == nullptr) return Status::OK();
  const int right_index = StreamIndex(lp.second_source);
  if (right_index < 0) return Internal("pipeline " + lp.name + ": join stream missing");
  const StreamState& right = *streams_[static_cast<size_t>(right_index)];
  RowBatch all(right.def.schema.size());
  RETURN_IF_ERROR(LoadTableFile(join->join->table_file, right.def, &all).WithContext("pipeline " + lp.name));
  RowBatch mine(right.def.schema.size());
  const int key = right.def.key_field;
  const uint32_t parts = static_cast<uint32_t>(right.partitions.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const uint32_t part =
        key >= 0 ? PartitionFor(HashValue(all.row(i)[key], right.def.schema.field(key).type), parts) : 0;
    if (part != partition) continue;
    mine.AppendCopy(all, i);
    mine.meta(mine.size() - 1).watermark_ms = INT64_MIN;
  }
  RowBatch out(pipelines_[pipeline]->output_schema().size());
  RowBatch late(LateEventsStreamDef().schema.size());
  RETURN_IF_ERROR(instance->Run(1, mine, INT64_MIN, &out, &late).WithContext("pipeline " + lp.name));
  if (!late.empty()) {
    return ResourceExhausted("pipeline " + lp.name + ": " + std::to_string(late.size()) + " rows of table file " +
                             join->join->table_file + " exceed the join's rows_max");
  }
  return Status::OK();
}

void EngineImpl::ResetPipeline(std::string_view pipeline, ResetTo to, ResetCallback done) {
  size_t index = pipelines_.size();
  std::vector<std::string_view> names;
  for (size_t i = 0; i < pipelines_.size(); ++i) {
    names.push_back(pipelines_[i]->logical().name);
    if (names.back() == pipeline) index = i;
  }
  if (index == pipelines_.size()) {
    return done(NotFound("unknown pipeline '" + std::string(pipeline) + "'" + DidYouMean(pipeline, names)), {});
  }
  if (!checkpoints_enabled()) {
    return done(FailedPrecondition("a reset needs checkpoints (checkpoint_interval_ms > 0; impulse run: "
                                   "--checkpoint-interval-ms): with cursor files the "
                                   "operator state is not persisted and a reset is not supported"),
                {});
  }
  if (member()) {
    // A member's positions and state travel to the partition's next owner through its
    // snapshots; a reset of one member's share of a pipeline is not built.
    return done(FailedPrecondition("a group member (kafka_member_partition) cannot reset a pipeline online; not "
                                   "supported"),
                {});
  }
  if (options_.state_rocksdb) {
    // The live RocksDB directory is held open by the task; the offline command removes it.
    return done(FailedPrecondition("online reset is not supported with the RocksDB state backend; stop the engine "
                                   "and use `impulse reset PIPELINE --spec SPEC --data-dir DIR`"),
                {});
  }
  if (stopping()) return done(Unavailable("the engine is stopping"), {});
  std::unique_lock<std::mutex> lock(ckpt_wait_mu_);
  if (ckpt_thread_exit_) {
    lock.unlock();
    return done(Unavailable("the engine is stopping"), {});
  }
  if (reset_jobs_.size() >= kResetsQueuedMax) {
    lock.unlock();
    return done(Unavailable(std::to_string(reset_jobs_.size()) + " resets are already queued; retry later"), {});
  }
  reset_jobs_.push_back({index, to, std::move(done)});
  lock.unlock();
  ckpt_wait_cv_.notify_all();
}

void EngineImpl::RunReset(ResetJob& job) {
  const plan::LogicalPipeline& lp = pipelines_[job.pipeline]->logical();
  PipelineReset result;
  result.pipeline = lp.name;
  result.to = job.to;
  // A stopped task makes every checkpoint fail (docs/CHECKPOINTS.md): refuse before anything
  // changes rather than reset with a checkpoint that cannot commit.
  for (const auto& sh : shards_) {
    if (Status f = sh->task_failure(); !f.ok()) {
      return job.done(FailedPrecondition("a pipeline task stopped after an error (" + f.ToString() +
                                         "); restart the engine before resetting"),
                      std::move(result));
    }
  }
  ResetPlan plan;
  plan.pipeline = job.pipeline;
  plan.to_end = job.to == ResetTo::kEnd;
  const int src = StreamIndex(lp.source);
  if (src < 0) return job.done(Internal("pipeline " + lp.name + ": source stream missing"), std::move(result));
  const uint32_t partitions = static_cast<uint32_t>(streams_[static_cast<size_t>(src)]->partitions.size());
  for (uint32_t p = 0; p < partitions; ++p) {
    auto instance = NewTaskInstance(job.pipeline, p);
    Status ls = instance.ok() ? LoadLookupTable(job.pipeline, p, instance->get()) : instance.status();
    if (!ls.ok())
      return job.done(ls.WithContext("reset of pipeline " + lp.name + ": nothing changed"), std::move(result));
    plan.instances.push_back(std::move(*instance));
  }
  uint64_t id = 0;
  ResetOutcome outcome;
  Status st = RunCheckpoint(&id, /*final=*/false, &plan, &outcome);
  result.inputs = std::move(outcome.inputs);
  // Stream order: the source's partitions, then a join's right stream's.
  std::sort(result.inputs.begin(), result.inputs.end(), [&](const auto& a, const auto& b) {
    const bool ar = a.stream != lp.source, br = b.stream != lp.source;
    return ar != br ? br : a.partition < b.partition;
  });
  const bool applied = outcome.requested;
  if (!st.ok()) {
    if (!applied) return job.done(Status(st.code(), st.message() + "; nothing changed"), std::move(result));
    LogError("pipeline_reset",
             "pipeline " + lp.name + " reset to " + ResetToName(job.to) +
                 " in the running engine, but its checkpoint failed: " + st.ToString(),
             {{"pipeline", lp.name}, {"to", ResetToName(job.to)}, {"durable", false}, {"error", st.ToString()}});
    return job.done(Status(st.code(),
                           "the reset is in effect in the running engine but the checkpoint holding it "
                           "failed (" +
                               st.message() +
                               "): it becomes durable with the next checkpoint, and a crash before that "
                               "restores the state and positions from before the reset"),
                    std::move(result));
  }
  result.checkpoint_id = id;
  pipeline_resets_[job.pipeline].Add(1);
  uint64_t moved_back = 0, skipped = 0;
  for (const PipelineReset::Input& in : result.inputs) {
    if (in.after < in.before) moved_back += in.before - in.after;
    if (in.after > in.before) skipped += in.after - in.before;
  }
  LogInfo("pipeline_reset",
          "pipeline " + lp.name + " reset to " + ResetToName(job.to) + " (checkpoint " + std::to_string(id) + ", " +
              std::to_string(result.inputs.size()) + " inputs, " + std::to_string(moved_back) +
              " records to process again, " + std::to_string(skipped) + " skipped)",
          {{"pipeline", lp.name},
           {"to", ResetToName(job.to)},
           {"checkpoint", id},
           {"inputs", result.inputs.size()},
           {"records_again", moved_back},
           {"records_skipped", skipped}});
  job.done(Status::OK(), std::move(result));
}

}  // namespace impulse::runtime
