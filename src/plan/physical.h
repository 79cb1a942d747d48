// Physical operators for stateless pipelines (filter, map, project, key_by), split DuckDB
// style: PhysicalPipeline is the immutable compiled definition shared by every shard;
// PipelineInstance is one shard's mutable scratch state (selection vector, intermediate rows)
// and is used by one thread only.
//
// Stateless stages run an event at a time through the whole segment: a filter stops it, a
// map/project evaluates into a small scratch row (the last one straight into the output batch)
// whose computed strings live in a reused scratch arena, and the surviving row's strings are
// copied into the output batch. So the memory one event can
// take is bounded by the spec (kComputedStringMaxBytes per computed string, kEventComputedBytesMax
// per event), not by the batch: an event over a bound goes to the late-events output (reason
// too_large, naming the step) and the others continue. key_by is metadata only (the output
// stream's key_field); partitioning is the runtime's job.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "expr/eval.h"
#include "impulse/row.h"
#include "impulse/status.h"
#include "ops/operator.h"
#include "plan/logical_plan.h"

namespace impulse::plan {

// Options of one instance (one task: a pipeline over one source partition).
struct InstanceOptions {
  state::StateOptions state;  // backend for stateful operators; rocksdb_dir is a base directory
                              // (each operator gets its own subdirectory)
  // The online store of a feature view by name (null or unset: features are not served).
  std::function<OnlineStore*(const std::string& view)> online_store;
  model::ModelRepository* models = nullptr;  // predict steps score with it (required by them)
  Clock* clock = nullptr;                    // decision records' wall clock; null: Clock::Real()
};

class PipelineInstance {  // per-task mutable state; one thread
 public:
  virtual ~PipelineInstance() = default;
  // Runs the operators over `in` (rows of the source schema) and appends the surviving,
  // transformed rows (the output schema) to `out`, copying RowMeta (times, partition, offset,
  // line) from the input row. Every string in the appended rows lives in out->arena(), so `out`
  // does not borrow from `in`. No per-event heap allocation once `out` and the instance have
  // reached their working size. `out->width()` must be the output schema's width.
  // For stateful pipelines this is Run(0, in, INT64_MIN, out, nullptr), and can fail as Run does;
  // a stateless pipeline always returns OK.
  [[nodiscard]] virtual Status Process(const RowBatch& in, RowBatch* out) = 0;
  // The event-time form: `in` holds rows of input `side` (0: the source; 1: a join's right
  // stream, which enters at the join) with meta.watermark_ms set; after them every stateful
  // operator advances to `end_watermark_ms`. Late rows are appended to `late` (schema of
  // LateEventsStreamDef()); may be null for stateless pipelines.
  // An error is an operator's (StatefulOperator: its state backend failed), with the operator's
  // label as context ("window#1: ..."). The instance is then unusable: the caller discards what
  // this call appended to `out`, `late` and side_outputs(), runs it no more (Stats() still
  // works), and the task stops. Every later Run returns the same error without running anything.
  [[nodiscard]] virtual Status Run(int side, const RowBatch& in, int64_t end_watermark_ms, RowBatch* out,
                                   RowBatch* late) = 0;
  virtual bool stateful() const = 0;
  // Rows for the side streams (LogicalPipeline::side_streams, same order) written by the last
  // Run: decision records, published events, outbox firings. Owned by the instance, cleared by
  // the next Run; the runtime clears them once written. Empty when the pipeline has none.
  virtual std::vector<RowBatch>& side_outputs() = 0;
  // Trigger firings of the last Run (ops/operator.h Firing), in firing order; cleared by the
  // next Run. Empty when the pipeline has no trigger step.
  virtual std::vector<Firing>& firings() = 0;
  // State of every stateful operator, one subdirectory each under `dir`.
  virtual Status Checkpoint(const std::string& dir) = 0;
  virtual Status Restore(const std::string& dir) = 0;
  // One entry per stateful operator, in pipeline order (labels from LogicalOp::label).
  virtual std::vector<std::pair<std::string, OperatorStats>> Stats() const = 0;
};

class PhysicalPipeline {  // immutable, shared by all shards
 public:
  // Compiles every expression of `p`. kInvalidArgument if `p` is inconsistent (unknown source
  // stream in `plan`, op schemas that do not chain, expressions not checked).
  static Result<std::unique_ptr<PhysicalPipeline>> Create(const LogicalPipeline& p, const LogicalPlan& plan);

  const LogicalPipeline& logical() const { return logical_; }
  const Schema& input_schema() const { return input_; }
  const Schema& output_schema() const { return logical_.output.schema; }
  // Stateless pipelines cannot fail here; stateful ones can (a state backend that does not open).
  std::unique_ptr<PipelineInstance> NewInstance() const;
  Result<std::unique_ptr<PipelineInstance>> NewInstance(const InstanceOptions& options) const;
  // True when an op keeps keyed state (predict steps run as operators but keep none).
  bool stateful() const { return stateful_; }
  // Widths of the side streams' rows (LogicalPipeline::side_streams order).
  const std::vector<size_t>& side_widths() const { return side_widths_; }

  // One compiled stage. Public for the instance implementation in physical.cc.
  struct Column {
    int source_index = -1;   // >= 0: pass the input value through (no evaluation)
    CompiledExpr expr;       // else: evaluate
    bool is_string = false;  // strings are copied into the output arena when emitted
  };
  struct Stage {
    std::string label;  // "map#2": names the step in late-events rows
    bool is_filter = false;
    CompiledExpr predicate;       // filter
    std::vector<Column> columns;  // map/project: the full output row
    size_t input_width = 0;
  };
  // Stateless stages between operators: segment k feeds operator k; the last
  // segment writes the pipeline's output.
  struct Segment {
    std::vector<Stage> stages;
    Schema input_schema;  // renders a refused event in its late-events row
    // Index of the stage that writes rows straight into the output batch (the last one, when it
    // is a map/project), or -1: the rows are copied out after the last stage.
    int direct_stage = -1;
    std::vector<bool> output_is_string;
    size_t input_width = 0;
    size_t output_width = 0;
  };
  const std::vector<Segment>& segments() const { return segments_; }
  const std::vector<const LogicalOp*>& stateful_ops() const { return stateful_ops_; }

 private:
  PhysicalPipeline() = default;

  LogicalPipeline logical_;
  Schema input_;
  std::vector<Segment> segments_;
  std::vector<const LogicalOp*> stateful_ops_;  // ops run as operators; point into logical_.ops
  bool stateful_ = false;
  std::vector<size_t> side_widths_;
};

}  // namespace impulse::plan
