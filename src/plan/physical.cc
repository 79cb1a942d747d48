#include "plan/physical.h"

#include <algorithm>

namespace impulse::plan {

namespace {

Status CompileColumns(const LogicalOp& op, std::vector<PhysicalPipeline::Column>* columns) {
  const Schema& in = op.input;
  auto make = [&](const Expr& e, FieldType out_type) -> Result<PhysicalPipeline::Column> {
    PhysicalPipeline::Column c;
    c.is_string = out_type == FieldType::kString;
    if (e.kind == ExprKind::kField && e.field_index >= 0 && static_cast<size_t>(e.field_index) < in.size() &&
        in.field(static_cast<size_t>(e.field_index)).type == out_type) {
      c.source_index = e.field_index;
      return c;
    }
    ASSIGN_OR_RETURN(c.expr, CompiledExpr::Compile(e));
    if (ToFieldType(c.expr.type()) != out_type)
      return InvalidArgument("expression type does not match the op's output schema");
    return c;
  };
  const Schema& out = op.output;
  if (op.kind == LogicalOp::Kind::kProject) {
    if (op.exprs.size() != out.size())
      return InvalidArgument("project: expression count does not match its output schema");
    for (size_t i = 0; i < op.exprs.size(); ++i) {
      ASSIGN_OR_RETURN(PhysicalPipeline::Column c, make(*op.exprs[i].expr, out.field(i).type));
      columns->push_back(std::move(c));
    }
    return Status::OK();
  }
  // Map: every output field is either a computed expression (by name) or an input pass-through.
  for (size_t i = 0; i < out.size(); ++i) {
    const Field& f = out.field(i);
    const NamedExpr* computed = nullptr;
    for (const NamedExpr& e : op.exprs) {
      if (e.name == f.name) computed = &e;
    }
    if (computed != nullptr) {
      ASSIGN_OR_RETURN(PhysicalPipeline::Column c, make(*computed->expr, f.type));
      columns->push_back(std::move(c));
      continue;
    }
    int idx = in.FieldIndex(f.name);
    if (idx < 0 || in.field(static_cast<size_t>(idx)).type != f.type) {
      return InvalidArgument("map: output field '" + f.name + "' is neither computed nor an input field");
    }
    PhysicalPipeline::Column c;
    c.source_index = idx;
    c.is_string = f.type == FieldType::kString;
    columns->push_back(std::move(c));
  }
  return Status::OK();
}

}  // namespace

// Runs one stateless segment over a batch, an event at a time (see physical.h): two scratch
// rows ping-pong between map stages, computed strings go to a per-event arena, and the
// surviving row is copied out with its strings. All scratch grows to the largest seen and is
// reused.
class SegmentRunner {
 public:
  // Refused events (a computed value over its bound) go to `late`, when given.
  void Run(const PhysicalPipeline::Segment& seg, const std::string& pipeline, const RowBatch& in, RowBatch* out,
           RowBatch* late) {
    const size_t n = in.size();
    if (n == 0) return;
    // Widths are fixed when the runtime wires the pipeline; a mismatch is a bug, not input.
    IMPULSE_CHECK(in.width() == seg.input_width);
    IMPULSE_CHECK(out->width() == seg.output_width);
    // An operator's expressions evaluate an over-bound string to null (their documented
    // outcome): an error they left pending is not these events'.
    if (EvalErrorPending()) [[unlikely]]
      TakeEvalError();
    Arena& out_arena = out->arena();
    for (size_t i = 0; i < n; ++i) {
      // The scratch of earlier events is dead (their rows were copied out); reuse it in place
      // until it outgrows its first chunk.
      if (event_arena_.bytes_used() > kEventArenaRetainBytes) event_arena_.Clear();
      BeginEventEval();
      const Value* cur = in.row(i);
      size_t cur_width = in.width();
      int buf = 0;
      bool keep = true;
      bool written = false;  // the direct stage wrote the row into `out`
      for (size_t s = 0; s < seg.stages.size() && keep; ++s) {
        const PhysicalPipeline::Stage& stage = seg.stages[s];
        if (stage.is_filter) {
          keep = stage.predicate.EvalPredicate(cur, &event_arena_);
        } else if (static_cast<int>(s) == seg.direct_stage) {
          Value* o = out->AppendRow();
          out->meta(out->size() - 1) = in.meta(i);
          for (size_t c = 0; c < stage.columns.size(); ++c) {
            const PhysicalPipeline::Column& col = stage.columns[c];
            Value v = col.source_index >= 0 ? cur[col.source_index] : col.expr.Eval(cur, &event_arena_);
            if (col.is_string && !v.null) v = Value::String(out_arena.Copy(v.sv()));
            o[c] = v;
          }
          written = true;
        } else {
          const size_t width = stage.columns.size();
          std::vector<Value>& o = rows_[buf];
          if (o.size() < width) o.resize(width);
          for (size_t c = 0; c < width; ++c) {
            const PhysicalPipeline::Column& col = stage.columns[c];
            o[c] = col.source_index >= 0 ? cur[col.source_index] : col.expr.Eval(cur, &event_arena_);
          }
          cur = o.data();
          cur_width = width;
          buf ^= 1;
        }
      }
      if (EvalErrorPending()) [[unlikely]] {
        if (written) out->PopRow();
        Refuse(seg, pipeline, in, i, late);
        continue;
      }
      if (!keep || written) continue;
      Value* o = out->AppendRow();
      out->meta(out->size() - 1) = in.meta(i);
      for (size_t c = 0; c < cur_width; ++c) {
        Value v = cur[c];
        if (seg.output_is_string[c] && !v.null) v = Value::String(out_arena.Copy(v.sv()));
        o[c] = v;
      }
    }
    if (event_arena_.bytes_used() > kEventArenaRetainBytes) event_arena_.Clear();
  }

 private:
  static constexpr size_t kEventArenaRetainBytes = 64u << 10;

  // The late-events row of refused event i, naming the step that crossed a bound. An error is
  // noted once per event, so that step is found by running the event again a step at a time
  // (expressions are pure; this is the rare path).
  [[gnu::cold, gnu::noinline]] void Refuse(const PhysicalPipeline::Segment& seg, const std::string& pipeline,
                                           const RowBatch& in, size_t i, RowBatch* late) {
    TakeEvalError();
    event_arena_.Clear();
    BeginEventEval();
    const PhysicalPipeline::Stage* step = nullptr;
    const Value* cur = in.row(i);
    int buf = 0;
    for (const PhysicalPipeline::Stage& stage : seg.stages) {
      if (stage.is_filter) {
        stage.predicate.EvalPredicate(cur, &event_arena_);
      } else {
        std::vector<Value>& o = rows_[buf];
        if (o.size() < stage.columns.size()) o.resize(stage.columns.size());
        for (size_t c = 0; c < stage.columns.size(); ++c) {
          const PhysicalPipeline::Column& col = stage.columns[c];
          o[c] = col.source_index >= 0 ? cur[col.source_index] : col.expr.Eval(cur, &event_arena_);
        }
        cur = o.data();
        buf ^= 1;
      }
      if (EvalErrorPending()) {
        step = &stage;
        break;
      }
    }
    TakeEvalError();
    event_arena_.Clear();
    AppendRefusedRow(pipeline, step != nullptr ? std::string_view(step->label) : std::string_view("map"),
                     seg.input_schema, in.row(i), in.meta(i), LateReason::kTooLarge, in.meta(i).watermark_ms, late);
  }

  Arena event_arena_{kEventArenaRetainBytes};
  std::vector<Value> rows_[2];
};

// A chain: segment 0 -> op 0 -> segment 1 -> ... -> last segment -> out. Intermediate batches
// (a segment's output feeding an op, an op's output feeding the next segment) are reused.
class PipelineInstanceImpl final : public PipelineInstance {
 public:
  explicit PipelineInstanceImpl(const PhysicalPipeline* def)
      : def_(def),
        runners_(def->segments().size()),
        mid_(def->stateful_ops().size()),
        op_out_(def->stateful_ops().size()) {}

  Status Init(const InstanceOptions& options) {
    const auto& ops = def_->stateful_ops();
    for (size_t k = 0; k < ops.size(); ++k) {
      const LogicalOp& op = *ops[k];
      OperatorContext ctx;
      ctx.pipeline = def_->logical().name;
      ctx.label = op.label;
      ctx.state = options.state;
      if (!ctx.state.rocksdb_dir.empty()) ctx.state.rocksdb_dir += "/" + op.label;
      if (op.kind == LogicalOp::Kind::kFeatures && options.online_store)
        ctx.online_store = options.online_store(op.features->name);
      ctx.models = options.models;
      ctx.clock = options.clock;
      Result<std::unique_ptr<StatefulOperator>> r = op.kind == LogicalOp::Kind::kWindow  ? NewWindowOperator(op, ctx)
                                                    : op.kind == LogicalOp::Kind::kDedup ? NewDedupOperator(op, ctx)
                                                    : op.kind == LogicalOp::Kind::kFeatures
                                                        ? NewFeaturesOperator(op, ctx)
                                                    : op.kind == LogicalOp::Kind::kPredict ? NewPredictOperator(op, ctx)
                                                    : op.kind == LogicalOp::Kind::kTrigger ? NewTriggerOperator(op, ctx)
                                                    : op.rank != nullptr                   ? NewRankOperator(op, ctx)
                                                                                           : NewJoinOperator(op, ctx);
      if (!r.ok()) return r.status().WithContext("pipeline '" + ctx.pipeline + "' " + op.label);
      ops_.push_back(std::move(*r));
      if (op.kind == LogicalOp::Kind::kJoin) join_index_ = static_cast<int>(k);
    }
    for (size_t width : def_->side_widths()) side_.emplace_back(width);
    return Status::OK();
  }

  Status Process(const RowBatch& in, RowBatch* out) override { return Run(0, in, INT64_MIN, out, nullptr); }

  Status Run(int side, const RowBatch& in, int64_t end_watermark_ms, RowBatch* out, RowBatch* late) override {
    if (!failure_.ok()) return failure_;
    out_ = out;
    late_ = late;
    for (RowBatch& b : side_) b.Reset(b.width());
    fired_.clear();
    if (side == 1) {
      IMPULSE_CHECK(join_index_ >= 0);
      failure_ = FromOp(static_cast<size_t>(join_index_), 1, in, end_watermark_ms);
    } else {
      failure_ = FromSegment(0, in, end_watermark_ms);
    }
    return failure_;
  }

  bool stateful() const override { return def_->stateful(); }
  std::vector<RowBatch>& side_outputs() override { return side_; }
  std::vector<Firing>& firings() override { return fired_; }

  Status Checkpoint(const std::string& dir) override {
    for (size_t k = 0; k < ops_.size(); ++k) {
      const std::string sub = dir + "/" + def_->stateful_ops()[k]->label;
      RETURN_IF_ERROR(ops_[k]->Checkpoint(sub).WithContext(def_->stateful_ops()[k]->label));
    }
    return Status::OK();
  }

  Status BeginCheckpoint(const std::string& dir, state::AsyncFiles* files) override {
    for (size_t k = 0; k < ops_.size(); ++k) {
      const std::string sub = dir + "/" + def_->stateful_ops()[k]->label;
      RETURN_IF_ERROR(ops_[k]->BeginCheckpoint(sub, files).WithContext(def_->stateful_ops()[k]->label));
    }
    return Status::OK();
  }

  bool ContinueCheckpoint(std::chrono::steady_clock::time_point deadline) override {
    bool done = true;
    for (auto& op : ops_) done &= op->ContinueCheckpoint(deadline);
    return done;
  }

  Status Restore(const std::string& dir) override {
    for (size_t k = 0; k < ops_.size(); ++k) {
      const std::string sub = dir + "/" + def_->stateful_ops()[k]->label;
      RETURN_IF_ERROR(ops_[k]->Restore(sub).WithContext(def_->stateful_ops()[k]->label));
    }
    return Status::OK();
  }

  std::vector<std::pair<std::string, OperatorStats>> Stats() const override {
    std::vector<std::pair<std::string, OperatorStats>> out;
    for (size_t k = 0; k < ops_.size(); ++k) out.emplace_back(def_->stateful_ops()[k]->label, ops_[k]->stats());
    return out;
  }

 private:
  Status FromSegment(size_t k, const RowBatch& rows, int64_t end_wm) {
    const PhysicalPipeline::Segment& seg = def_->segments()[k];
    const std::string& pipeline = def_->logical().name;
    if (k == ops_.size()) {
      runners_[k].Run(seg, pipeline, rows, out_, late_);
      return Status::OK();
    }
    RowBatch& mid = mid_[k];
    mid.Reset(seg.output_width);
    runners_[k].Run(seg, pipeline, rows, &mid, late_);
    return FromOp(k, 0, mid, end_wm);
  }

  Status FromOp(size_t k, int side, const RowBatch& rows, int64_t end_wm) {
    RowBatch& o = op_out_[k];
    o.Reset(def_->segments()[k + 1].input_width);
    OpOutput oo{&o, late_, &side_, &fired_};
    const std::string& label = def_->stateful_ops()[k]->label;
    if (!rows.empty()) RETURN_IF_ERROR(ops_[k]->Process(side, rows, &oo).WithContext(label));
    if (end_wm > ops_[k]->watermark()) RETURN_IF_ERROR(ops_[k]->AdvanceWatermark(end_wm, &oo).WithContext(label));
    if (!o.empty() || k + 1 < ops_.size()) return FromSegment(k + 1, o, end_wm);
    return Status::OK();
  }

  const PhysicalPipeline* def_;
  std::vector<SegmentRunner> runners_;
  std::vector<std::unique_ptr<StatefulOperator>> ops_;
  std::vector<RowBatch> mid_;
  std::vector<RowBatch> op_out_;
  int join_index_ = -1;
  std::vector<RowBatch> side_;
  std::vector<Firing> fired_;
  RowBatch* out_ = nullptr;
  RowBatch* late_ = nullptr;
  Status failure_;  // the first operator error; the instance runs no more after it
};

Result<std::unique_ptr<PhysicalPipeline>> PhysicalPipeline::Create(const LogicalPipeline& p, const LogicalPlan& plan) {
  const StreamDef* source = plan.FindStream(p.source);
  if (source == nullptr) return InvalidArgument("pipeline '" + p.name + "': unknown source stream '" + p.source + "'");
  std::unique_ptr<PhysicalPipeline> def(new PhysicalPipeline());
  def->logical_ = p;
  def->input_ = source->schema;
  const Schema* current = &source->schema;
  def->segments_.emplace_back();
  def->segments_.back().input_width = current->size();
  def->segments_.back().input_schema = *current;
  auto finish_segment = [](Segment& seg, const Schema& out) {
    if (!seg.stages.empty() && !seg.stages.back().is_filter) seg.direct_stage = static_cast<int>(seg.stages.size() - 1);
    seg.output_width = out.size();
    for (const Field& f : out.fields()) seg.output_is_string.push_back(f.type == FieldType::kString);
  };
  for (const LogicalOp& op : def->logical_.ops) {
    if (!(op.input == *current)) {
      return InvalidArgument("pipeline '" + p.name + "': " + std::string(LogicalOpKindName(op.kind)) +
                             " reads a schema its predecessor does not produce");
    }
    current = &op.output;
    if (op.kind == LogicalOp::Kind::kKeyBy) continue;
    if (LogicalOp::IsOperator(op.kind)) {
      def->stateful_ |= LogicalOp::IsStateful(op.kind);
      finish_segment(def->segments_.back(), op.input);
      def->stateful_ops_.push_back(&op);
      def->segments_.emplace_back();
      def->segments_.back().input_width = op.output.size();
      def->segments_.back().input_schema = op.output;
      continue;
    }
    Stage stage;
    stage.label = op.label;
    stage.input_width = op.input.size();
    if (op.kind == LogicalOp::Kind::kFilter) {
      if (!op.predicate || op.predicate->type != ExprType::kBool)
        return InvalidArgument("filter predicate must be bool");
      stage.is_filter = true;
      ASSIGN_OR_RETURN(stage.predicate, CompiledExpr::Compile(*op.predicate));
    } else {
      RETURN_IF_ERROR(CompileColumns(op, &stage.columns).WithContext("pipeline '" + p.name + "'"));
    }
    def->segments_.back().stages.push_back(std::move(stage));
  }
  for (const std::string& name : p.side_streams) {
    const StreamDef* s = plan.FindStream(name);
    if (s == nullptr) return InvalidArgument("pipeline '" + p.name + "': unknown side stream '" + name + "'");
    def->side_widths_.push_back(s->schema.size());
  }
  if (!(*current == p.output.schema)) {
    return InvalidArgument("pipeline '" + p.name + "': the ops produce a schema different from the output stream's");
  }
  finish_segment(def->segments_.back(), *current);
  return def;
}

std::unique_ptr<PipelineInstance> PhysicalPipeline::NewInstance() const {
  auto r = NewInstance(InstanceOptions{});
  IMPULSE_CHECK(r.ok());  // memory state cannot fail to open
  return std::move(*r);
}

Result<std::unique_ptr<PipelineInstance>> PhysicalPipeline::NewInstance(const InstanceOptions& options) const {
  auto inst = std::make_unique<PipelineInstanceImpl>(this);
  RETURN_IF_ERROR(inst->Init(options));
  return std::unique_ptr<PipelineInstance>(std::move(inst));
}

}  // namespace impulse::plan
