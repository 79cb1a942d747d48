// Physical operators for stateless pipelines (filter, map, project, key_by), split DuckDB
// style: PhysicalPipeline is the immutable compiled definition shared by every shard;
// PipelineInstance is one shard's mutable scratch state (selection vector, intermediate rows)
// and is used by one thread only.
//
// Execution is batch at a time: a filter narrows a selection vector of row indexes (no row
// copies); a map/project evaluates its expressions for the selected rows, straight into the
// output batch when it is the last row-producing stage, else into a scratch buffer. key_by is
// metadata only (the output stream's key_field); partitioning is the runtime's job.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "impulse/row.h"
#include "impulse/status.h"
#include "plan/expr_eval.h"
#include "plan/logical_plan.h"

namespace impulse::plan {

class PipelineInstance {  // per-shard mutable state; one thread
 public:
  virtual ~PipelineInstance() = default;
  // Runs the operators over `in` (rows of the source schema) and appends the surviving,
  // transformed rows (the output schema) to `out`, copying RowMeta (times, partition, offset,
  // line) from the input row. Every string in the appended rows lives in out->arena(), so `out`
  // does not borrow from `in`. No per-event heap allocation once `out` and the instance have
  // reached their working size. `out->width()` must be the output schema's width.
  virtual void Process(const RowBatch& in, RowBatch* out) = 0;
};

class PhysicalPipeline {  // immutable, shared by all shards
 public:
  // Compiles every expression of `p`. kInvalidArgument if `p` is inconsistent (unknown source
  // stream in `plan`, op schemas that do not chain, expressions not checked).
  static Result<std::unique_ptr<PhysicalPipeline>> Create(const LogicalPipeline& p, const LogicalPlan& plan);

  const LogicalPipeline& logical() const { return logical_; }
  const Schema& input_schema() const { return input_; }
  const Schema& output_schema() const { return logical_.output.schema; }
  std::unique_ptr<PipelineInstance> NewInstance() const;

  // One compiled stage. Public for the instance implementation in physical.cc.
  struct Column {
    int source_index = -1;  // >= 0: pass the input value through (no evaluation)
    CompiledExpr expr;      // else: evaluate
    bool is_string = false; // strings are copied into the output arena when emitted
  };
  struct Stage {
    bool is_filter = false;
    CompiledExpr predicate;        // filter
    std::vector<Column> columns;   // map/project: the full output row
    size_t input_width = 0;
  };
  const std::vector<Stage>& stages() const { return stages_; }
  // Index of the stage that writes rows straight into the output batch, or -1 when the rows
  // are copied out after the last stage (no map/project, or a filter after the last one).
  int direct_stage() const { return direct_stage_; }

 private:
  PhysicalPipeline() = default;

  LogicalPipeline logical_;
  Schema input_;
  std::vector<Stage> stages_;
  int direct_stage_ = -1;
  std::vector<bool> output_is_string_;
  friend class PipelineInstanceImpl;
};

}  // namespace impulse::plan
