// The trigger step (docs/ACTIONS.md): rows where the condition holds fire, at most once per key
// per cooldown of event time. A firing publishes events (side streams of the pipeline) and
// writes one outbox row per call (the `_outbox` side stream), which the dispatcher delivers.
// Both are pipeline-written streams, so a restore truncates them to the checkpoint and the
// replay writes the same firings again: exactly once in the log, and the same firing ids
// (rule/event id) for the endpoints' idempotency keys.
//
// Cooldown, like dedup: a key that fired at event time t does not fire again for rows in
// (t - cooldown, t + cooldown); keys are forgotten once the watermark is a cooldown past them.
#include <algorithm>

#include "common/fixed_codec.h"
#include "event/json_writer.h"
#include "expr/eval.h"
#include "impulse/env.h"
#include "ops/operator.h"
#include "state/state_table.h"

namespace impulse::plan {

namespace {
// A firing's payload (the webhook body or the agent's prompt) beyond this is refused with reason
// too_large: it must fit an outbox record (16 MiB) with its other fields.
constexpr size_t kFiringPayloadMaxBytes = size_t{8} << 20;
}  // namespace

namespace {

class TriggerOperator final : public StatefulOperator {
 public:
  TriggerOperator(const LogicalOp& op, const OperatorContext& ctx)
      : op_(op),
        def_(*op.trigger),
        ctx_(ctx),
        env_(ctx.state.env != nullptr ? ctx.state.env : Env::Default()),
        clock_(ctx.clock != nullptr ? ctx.clock : Clock::Real()) {}

  Status Init() {
    ASSIGN_OR_RETURN(when_, CompiledExpr::Compile(*def_.when));
    for (const TriggerDef::Publish& p : def_.publishes) {
      std::vector<CompiledExpr> fields;
      for (const NamedExpr& f : p.fields) {
        ASSIGN_OR_RETURN(CompiledExpr c, CompiledExpr::Compile(*f.expr));
        fields.push_back(std::move(c));
      }
      publish_.push_back(std::move(fields));
    }
    for (const TriggerDef::Call& c : def_.calls) {
      Body b;
      std::vector<Field> schema;
      for (const NamedExpr& f : c.body) {
        ASSIGN_OR_RETURN(CompiledExpr x, CompiledExpr::Compile(*f.expr));
        b.exprs.push_back(std::move(x));
        schema.push_back({f.name, ToFieldType(f.expr->type), true});
      }
      b.schema = Schema(std::move(schema));
      bodies_.push_back(std::move(b));
    }
    if (def_.cooldown_ms > 0) {
      state::StateOptions so = ctx_.state;
      so.entries_max = def_.keys_max;
      ASSIGN_OR_RETURN(last_, state::StateTable<int64_t>::Open(so));
    }
    return Status::OK();
  }

  Status Process(int, const RowBatch& in, OpOutput* out) override {
    for (size_t i = 0; i < in.size(); ++i) {
      const RowMeta& m = in.meta(i);
      if (m.watermark_ms > wm_) RETURN_IF_ERROR(Advance(m.watermark_ms));
      const Value* row = in.row(i);
      out->rows->AppendCopy(in, i);
      out->rows->meta(out->rows->size() - 1).watermark_ms = wm_;
      scratch_.Clear();
      BeginEventEval();  // the rule's expressions are bounded per event (expr/eval.h)
      if (!when_.EvalPredicate(row, &scratch_)) continue;
      if (last_) {
        ASSIGN_OR_RETURN(const bool allowed, CooldownAllows(row, m, out));
        if (!allowed) continue;
      }
      Fire(row, m, out);
    }
    return Status::OK();
  }

  Status AdvanceWatermark(int64_t watermark_ms, OpOutput*) override {
    if (watermark_ms > wm_) return Advance(watermark_ms);
    return Status::OK();
  }
  int64_t watermark() const override { return wm_; }

  Status Checkpoint(const std::string& dir) override {
    RETURN_IF_ERROR(env_->CreateDirs(dir));
    if (last_) RETURN_IF_ERROR(last_->Checkpoint(dir + "/cooldown").status());
    std::string meta;
    PutI64(wm_, &meta);
    PutI64(last_sweep_wm_, &meta);
    PutI64(static_cast<int64_t>(stats_.fired), &meta);       // firings
    PutI64(static_cast<int64_t>(stats_.duplicates), &meta);  // suppressed by the cooldown
    PutCheckpointedStats(stats_, &meta);
    return env_->WriteFileAtomic(dir + "/trigger.meta", meta);
  }

  Status Restore(const std::string& dir) override {
    ASSIGN_OR_RETURN(std::string meta, env_->ReadFile(dir + "/trigger.meta"));
    std::string_view in(meta);
    int64_t fired = 0, suppressed = 0;
    if (!GetI64(&in, &wm_) || !GetI64(&in, &last_sweep_wm_) || !GetI64(&in, &fired) || !GetI64(&in, &suppressed) ||
        !GetCheckpointedStats(&in, &stats_) || !in.empty()) {
      return DataLoss("trigger state " + dir + "/trigger.meta is malformed");
    }
    stats_.fired = static_cast<uint64_t>(fired);
    stats_.duplicates = static_cast<uint64_t>(suppressed);
    if (last_) RETURN_IF_ERROR(last_->Restore(dir + "/cooldown"));
    return Status::OK();
  }

  // fired = firings, duplicates = rows the cooldown suppressed (reported as such by the engine).
  OperatorStats stats() const override {
    OperatorStats s = stats_;
    if (last_) {
      s.entries = last_->size();
      s.state_bytes = last_->stats().memory_bytes;
    }
    return s;
  }

 private:
  struct Body {
    std::vector<CompiledExpr> exprs;
    Schema schema;
  };

  // True when the row's key has not fired within the cooldown around its event time; an error
  // when the state backend fails.
  Result<bool> CooldownAllows(const Value* row, const RowMeta& m, OpOutput* out) {
    const int64_t ts = m.event_time_ms;
    if (wm_ != INT64_MIN && ts < wm_ - def_.cooldown_ms) {
      // Its key may have fired and been forgotten: deciding would depend on timing.
      RecordLateRow(ctx_, op_.input, row, m, LateReason::kLate, wm_, &stats_, out->late);
      return false;
    }
    key_.clear();
    AppendKeyBytes(op_.input, def_.key_fields, row, &key_);
    bool inserted = false;
    bool refused = false;
    auto last = last_->FindOrInsert(key_, &inserted, &refused);
    if (!last.ok()) {
      if (!refused) return last.status();
      RecordLateRow(ctx_, op_.input, row, m, LateReason::kStateLimit, wm_, &stats_, out->late);
      return false;
    }
    if (!inserted && ts - **last < def_.cooldown_ms && ts > **last - def_.cooldown_ms) {
      ++stats_.duplicates;
      return false;
    }
    **last = inserted ? ts : std::max(**last, ts);
    return true;
  }

  void Fire(const Value* row, const RowMeta& m, OpOutput* out) {
    ++stats_.fired;
    if (out->fired != nullptr) out->fired->push_back({&def_.rule, m.partition, m.offset});
    event_id_.clear();
    if (def_.event_id_field >= 0 && !row[def_.event_id_field].null) {
      const Value& v = row[def_.event_id_field];
      switch (op_.input.field(static_cast<size_t>(def_.event_id_field)).type) {
        case FieldType::kString: event_id_.assign(v.sv()); break;
        case FieldType::kDouble: AppendJsonDouble(v.f64, &event_id_); break;
        case FieldType::kBool: event_id_ = v.b ? "true" : "false"; break;
        default: event_id_ = std::to_string(v.i64); break;
      }
    } else {
      event_id_ = def_.source_stream + "/" + std::to_string(m.partition) + "/" + std::to_string(m.offset);
    }
    if (out->side == nullptr) return;  // a bare instance (tests of the pass-through only)
    // Each published event and each action's body has the budget of one event (expr/eval.h); one
    // that exceeds it is not written and the event goes to the late-events output for it.
    for (size_t k = 0; k < def_.publishes.size(); ++k) {
      RowBatch& b = (*out->side)[static_cast<size_t>(def_.publishes[k].side)];
      Value* o = b.AppendRow();
      b.meta(b.size() - 1) = m;
      BeginEventEval();
      for (size_t c = 0; c < publish_[k].size(); ++c) {
        Value v = publish_[k][c].Eval(row, &scratch_);
        if (!v.null && def_.publishes[k].fields[c].expr->type == ExprType::kString)
          v = Value::String(b.arena().Copy(v.sv()));
        o[c] = v;
      }
      if (EvalErrorPending()) [[unlikely]] {
        TakeEvalError();
        b.PopRow();
        RecordLateRow(ctx_, op_.input, row, m, LateReason::kTooLarge, wm_, &stats_, out->late);
      }
    }
    if (def_.calls.empty()) return;
    RowBatch& outbox = (*out->side)[static_cast<size_t>(def_.outbox_side)];
    const int64_t now_ms = clock_->NowMs();
    const std::string firing_id = def_.rule + "/" + event_id_;
    for (size_t k = 0; k < def_.calls.size(); ++k) {
      const TriggerDef::Call& c = def_.calls[k];
      payload_.clear();
      BeginEventEval();
      if (c.kind == ActionDef::Kind::kAgent) {
        for (const TriggerDef::Call::Part& p : c.prompt) {
          payload_ += p.text;
          if (p.field >= 0) AppendText(row[p.field], op_.input.field(static_cast<size_t>(p.field)).type, &payload_);
          if (payload_.size() > kFiringPayloadMaxBytes) break;  // a template repeating a field
        }
      } else if (c.body.empty()) {
        AppendRowJson(op_.input, row, &payload_);  // no body given: the whole event
      } else {
        values_.resize(bodies_[k].exprs.size());
        for (size_t f = 0; f < values_.size(); ++f) values_[f] = bodies_[k].exprs[f].Eval(row, &scratch_);
        AppendRowJson(bodies_[k].schema, values_.data(), &payload_);
      }
      if (EvalErrorPending() || payload_.size() > kFiringPayloadMaxBytes) [[unlikely]] {
        TakeEvalError();
        // Its outbox record could not be stored, nor the request sent: the event is refused for
        // this action, visibly, and the rule's other actions still fire.
        RecordLateRow(ctx_, op_.input, row, m, LateReason::kTooLarge, wm_, &stats_, out->late);
        continue;
      }
      Arena& a = outbox.arena();
      Value* o = outbox.AppendRow();
      outbox.meta(outbox.size() - 1) = m;
      o[0] = Value::String(a.Copy(firing_id));
      o[1] = Value::String(a.Copy(def_.rule));
      o[2] = Value::String(a.Copy(c.action));
      o[3] = Value::String(a.Copy(ctx_.pipeline));
      o[4] = Value::String(a.Copy(payload_));
      o[5] = Value::String(a.Copy(event_id_));
      o[6] = Value::Int(m.event_time_ms);
      o[7] = Value::Int(now_ms);
    }
  }

  // A field's value as prompt text: strings as they are, numbers in JSON form, null as "null".
  static void AppendText(const Value& v, FieldType t, std::string* out) {
    if (v.null) {
      out->append("null");
      return;
    }
    switch (t) {
      case FieldType::kString: out->append(v.sv()); break;
      case FieldType::kDouble: AppendJsonDouble(v.f64, out); break;
      case FieldType::kBool: out->append(v.b ? "true" : "false"); break;
      case FieldType::kTimestamp: {
        Schema one({{"t", FieldType::kTimestamp, false}});
        std::string json;
        AppendRowJson(one, &v, &json);  // {"t":"2018-...Z"}
        out->append(json.substr(6, json.size() - 8));
        break;
      }
      default: out->append(std::to_string(v.i64)); break;
    }
  }

  Status Advance(int64_t w) {
    wm_ = w;
    if (!last_) return Status::OK();
    const int64_t every = std::max<int64_t>(def_.cooldown_ms / 4, 1000);
    if (wm_ == INT64_MAX || (last_sweep_wm_ != INT64_MIN && wm_ - last_sweep_wm_ < every)) return Status::OK();
    last_sweep_wm_ = wm_;
    expired_.clear();
    RETURN_IF_ERROR(last_->ForEach([&](std::string_view key, int64_t& last) {
      if (last < wm_ - def_.cooldown_ms) expired_.emplace_back(key);
      return Status::OK();
    }));
    for (const std::string& k : expired_) RETURN_IF_ERROR(last_->Erase(k));
    stats_.expired += expired_.size();
    return Status::OK();
  }

  const LogicalOp& op_;
  const TriggerDef& def_;
  OperatorContext ctx_;
  Env* env_;
  Clock* clock_;
  CompiledExpr when_;
  std::vector<std::vector<CompiledExpr>> publish_;
  std::vector<Body> bodies_;
  std::unique_ptr<state::StateTable<int64_t>> last_;  // cooldown: key -> last firing's event time
  int64_t wm_ = INT64_MIN;
  int64_t last_sweep_wm_ = INT64_MIN;
  OperatorStats stats_;
  Arena scratch_;
  std::string key_, event_id_, payload_;
  std::vector<Value> values_;
  std::vector<std::string> expired_;
};

}  // namespace

Result<std::unique_ptr<StatefulOperator>> NewTriggerOperator(const LogicalOp& op, const OperatorContext& ctx) {
  if (!op.trigger) return InvalidArgument("trigger operator without a definition");
  auto t = std::make_unique<TriggerOperator>(op, ctx);
  RETURN_IF_ERROR(t->Init());
  return std::unique_ptr<StatefulOperator>(std::move(t));
}

}  // namespace impulse::plan
