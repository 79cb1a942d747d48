// The predict step (docs/INFERENCE.md): scores every row with a model of the repository and
// appends the scores; writes one decision record per row when the step names a decision log.
//
// Versions are resolved per batch through ModelRepository::Get, which hands out shared_ptrs:
// a swap is atomic (a batch scores with one version from start to end) and gap-free (the old
// version lives until the last batch holding it ends). The operator re-resolves only when the
// repository's generation changes, so the per-batch cost of hot swap is one atomic load.
#include <charconv>
#include <cmath>
#include <optional>

#include "common/json_string.h"
#include "common/suggest.h"
#include "event/key_hash.h"
#include "impulse/env.h"
#include "model/repository.h"
#include "ops/operator.h"

namespace impulse::plan {

namespace {

// Shortest text that reads back as the same float32 (what the model saw); null for NaN.
void AppendFloat(float v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(r.ptr - buf));
}

void AppendKey(std::string_view name, std::string* out) {
  AppendJsonString(name, out);
  out->push_back(':');
}

// A loaded version bound to the step's input schema: which field feeds each model input.
struct Binding {
  std::shared_ptr<const model::LoadedModel> loaded;
  std::vector<int> fields;  // per model input: index in the step's input schema
  std::vector<FieldType> types;
  std::vector<float> defaults;                       // NaN: missing
  std::string error;                                 // non-empty: this version cannot score rows of this step
  model::ModelMetrics::Series* series = nullptr;     // its metrics
  model::PredictMetrics::Series* traffic = nullptr;  // its rows and scores in this role; set when it first scores
  uint64_t version() const { return loaded ? loaded->version : 0; }
  bool usable() const { return loaded && error.empty(); }
};

class PredictOperator final : public StatefulOperator {
 public:
  PredictOperator(const LogicalOp& op, const OperatorContext& ctx)
      : op_(op), def_(*op.predict), ctx_(ctx), clock_(ctx.clock ? ctx.clock : Clock::Real()) {
    shadows_.resize(def_.shadow_versions.size());
    for (const PredictDef::Output& o : def_.outputs) {
      output_names_.push_back(o.field);
      output_index_.push_back(o.index);
    }
  }

  Status Process(int, const RowBatch& in, OpOutput* out) override {
    if (in.empty()) return Status::OK();
    Refresh();
    const size_t n = in.size();
    const size_t in_width = op_.input.size();
    // Copy the input rows out with null scores; scoring fills them in.
    RowBatch& o = *out->rows;
    const size_t first = o.size();
    for (size_t i = 0; i < n; ++i) {
      const Value* r = in.row(i);
      Value* w = o.AppendRow();
      o.meta(o.size() - 1) = in.meta(i);
      for (size_t c = 0; c < in_width; ++c) {
        Value v = r[c];
        if (!v.null && op_.input.field(c).type == FieldType::kString) v = Value::String(o.arena().Copy(v.sv()));
        w[c] = v;
      }
      for (size_t c = 0; c < def_.outputs.size(); ++c) w[in_width + c] = Value::Null();
    }
    // Which version acts on each row: the canary for its share of entities, else the primary.
    variant_.assign(n, 0);
    if (canary_.usable() && def_.canary_percent > 0) {
      const FieldType t = op_.input.field(static_cast<size_t>(def_.entity_field)).type;
      for (size_t i = 0; i < n; ++i) {
        const Value& e = in.row(i)[def_.entity_field];
        if (!e.null && HashValue(e, t) % 100 < def_.canary_percent) variant_[i] = 1;
      }
    }
    RowBatch* log = out->side != nullptr && def_.decision_side >= 0
                        ? &(*out->side)[static_cast<size_t>(def_.decision_side)]
                        : nullptr;
    const bool logging = log != nullptr;
    if (logging) {
      features_txt_.resize(n);
      scores_txt_.resize(n);
    }
    for (int v = 0; v < 2; ++v) {
      Binding& b = v == 0 ? primary_ : canary_;
      rows_.clear();
      for (size_t i = 0; i < n; ++i) {
        if (variant_[i] == v) rows_.push_back(static_cast<uint32_t>(i));
      }
      if (rows_.empty()) continue;
      if (!b.usable()) {
        unscored_ += rows_.size();
        if (b.series != nullptr) model::ModelMetrics::RecordError(b.series, rows_.size());
        continue;
      }
      Score(b, in, &all_scores_);
      const size_t k = b.loaded->model->num_outputs();
      model::PredictMetrics::Record(Traffic(v == 0 ? model::PredictRole::kServing : model::PredictRole::kCanary, &b),
                                    rows_.size(), all_scores_.data(), k, output_index_);
      const size_t f = b.fields.size();
      for (size_t j = 0; j < rows_.size(); ++j) {
        const uint32_t i = rows_[j];
        const float* s = all_scores_.data() + j * k;
        Value* w = o.row(first + i);
        for (size_t c = 0; c < def_.outputs.size(); ++c) {
          w[in_width + c] = Value::Double(static_cast<double>(s[def_.outputs[c].index]));
        }
        if (logging) {
          features_txt_[i].clear();
          scores_txt_[i].clear();
          AppendFeatures(b, matrix_.data() + j * f, &features_txt_[i]);
          AppendScores(b, s, &scores_txt_[i]);
        }
      }
      scored_ += rows_.size();
    }
    if (logging) WriteDecisions(in, log);
    return Status::OK();
  }

  Status AdvanceWatermark(int64_t watermark_ms, OpOutput*) override {
    wm_ = std::max(wm_, watermark_ms);
    return Status::OK();
  }
  int64_t watermark() const override { return wm_; }
  // No state: a restore re-scores the replayed rows with whatever version serves then.
  Status Checkpoint(const std::string&) override { return Status::OK(); }
  Status Restore(const std::string&) override { return Status::OK(); }

  // The first problem of the bound versions, or OK (CheckPredictStep).
  Status Check() {
    Refresh();
    if (!primary_.usable()) return FailedPrecondition(ctx_.label + ": " + primary_.error);
    if (def_.canary_version > 0 && !canary_.usable())
      return FailedPrecondition(ctx_.label + " canary: " + canary_.error);
    for (const Binding& b : shadows_) {
      if (!b.usable()) return FailedPrecondition(ctx_.label + " shadow: " + b.error);
    }
    return Status::OK();
  }

  OperatorStats stats() const override {
    OperatorStats s;
    s.scored = scored_;
    s.unscored = unscored_;
    return s;
  }

 private:
  // Re-resolves the versions when the repository changed since the last batch.
  void Refresh() {
    if (ctx_.models == nullptr) return;
    const uint64_t gen = ctx_.models->generation();
    if (gen == generation_ && resolved_) return;
    generation_ = gen;
    resolved_ = true;
    Bind(def_.version < 0 ? std::nullopt : std::optional<uint64_t>(def_.version), &primary_);
    if (def_.canary_version > 0) Bind(static_cast<uint64_t>(def_.canary_version), &canary_);
    for (size_t s = 0; s < shadows_.size(); ++s) Bind(static_cast<uint64_t>(def_.shadow_versions[s]), &shadows_[s]);
  }

  // The per-role series of a usable binding, looked up when it first scores (so CheckPredictStep,
  // which binds but never scores, leaves no series behind) and kept until the binding changes.
  model::PredictMetrics::Series* Traffic(model::PredictRole role, Binding* b) {
    if (b->traffic == nullptr) {
      b->traffic = ctx_.models->predict_metrics().For(ctx_.pipeline, ctx_.label, b->loaded->name, b->loaded->version,
                                                      role, output_names_);
    }
    return b->traffic;
  }

  void Bind(std::optional<uint64_t> version, Binding* b) {
    auto got = ctx_.models->Get(def_.model, version);
    if (!got.ok()) {
      *b = Binding{};
      b->error = got.status().message();
      // Rows that find no version are errors of the model (version 0 = none ready).
      b->series = ctx_.models->metrics().For(def_.model, version.value_or(0));
      return;
    }
    if (b->loaded == *got) return;  // unchanged
    *b = Binding{};
    b->loaded = *got;
    const model::LoadedModel& m = **got;
    b->series = ctx_.models->metrics().For(m.name, m.version);
    const std::string what = "model '" + m.name + "' version " + std::to_string(m.version);
    for (const PredictDef::Output& o : def_.outputs) {
      if (static_cast<size_t>(o.index) >= m.model->num_outputs()) {
        b->error = what + " has " + std::to_string(m.model->num_outputs()) + " outputs; output '" + o.field + "' of " +
                   ctx_.label + " reads index " + std::to_string(o.index);
        return;
      }
    }
    std::vector<std::string_view> names;
    for (const Field& f : op_.input.fields()) names.push_back(f.name);
    for (const model::ModelInput& in : m.config.inputs) {
      const std::string& from = in.from.empty() ? in.name : in.from;
      const int idx = op_.input.FieldIndex(from);
      if (idx < 0) {
        b->error = what + " input '" + in.name + "' reads field '" + from + "', which " + ctx_.label +
                   " does not have" + DidYouMean(from, names);
        return;
      }
      const FieldType t = op_.input.field(static_cast<size_t>(idx)).type;
      if (t == FieldType::kString) {
        b->error = what + " input '" + in.name + "' reads string field '" + from + "'; models take numbers and bools";
        return;
      }
      b->fields.push_back(idx);
      b->types.push_back(t);
      b->defaults.push_back(in.default_value ? *in.default_value : std::nanf(""));
    }
  }

  // Scores the rows in rows_ with `b` into `out` (rows_.size() x num_outputs), in blocks of the
  // config's max_batch_size. Fills matrix_ (kept for the decision records).
  void Score(const Binding& b, const RowBatch& in, std::vector<float>* out) {
    const int64_t start_ns = clock_->NowNs();
    const size_t f = b.fields.size();
    matrix_.resize(rows_.size() * f);
    for (size_t j = 0; j < rows_.size(); ++j) {
      const Value* r = in.row(rows_[j]);
      float* x = matrix_.data() + j * f;
      for (size_t c = 0; c < f; ++c) {
        const Value& v = r[b.fields[c]];
        if (v.null) {
          x[c] = b.defaults[c];
          continue;
        }
        switch (b.types[c]) {
          case FieldType::kDouble: x[c] = static_cast<float>(v.f64); break;
          case FieldType::kBool: x[c] = v.b ? 1.0f : 0.0f; break;
          default: x[c] = static_cast<float>(v.i64); break;
        }
      }
    }
    const model::Model& m = *b.loaded->model;
    const size_t k = m.num_outputs();
    out->resize(rows_.size() * k);
    const size_t block = static_cast<size_t>(std::max<int64_t>(1, b.loaded->config.batching.max_batch_size));
    for (size_t j = 0; j < rows_.size(); j += block) {
      const size_t len = std::min(block, rows_.size() - j);
      // Queue: from the batch reaching the step to this block's call (earlier blocks included).
      const int64_t t0 = clock_->NowNs();
      m.Predict(matrix_.data() + j * f, len, out->data() + j * k);
      const int64_t t1 = clock_->NowNs();
      model::ModelMetrics::Record(b.series, len, t0 - start_ns, t1 - t0);
    }
  }

  // The features as `b` saw them (one row of matrix_) as a JSON object by input name.
  void AppendFeatures(const Binding& b, const float* x, std::string* out) const {
    out->push_back('{');
    const auto& inputs = b.loaded->config.inputs;
    for (size_t c = 0; c < inputs.size(); ++c) {
      if (c > 0) out->push_back(',');
      AppendKey(inputs[c].name, out);
      AppendFloat(x[c], out);
    }
    out->push_back('}');
  }

  void AppendScores(const Binding& b, const float* s, std::string* out) const {
    out->push_back('{');
    const auto& names = b.loaded->config.outputs;
    const size_t k = b.loaded->model->num_outputs();
    for (size_t c = 0; c < k; ++c) {
      if (c > 0) out->push_back(',');
      AppendKey(c < names.size() ? std::string_view(names[c]) : std::string_view("output" + std::to_string(c)), out);
      AppendFloat(s[c], out);
    }
    out->push_back('}');
  }

  void WriteDecisions(const RowBatch& in, RowBatch* log) {
    const size_t n = in.size();
    const int64_t now_ms = clock_->NowMs();
    // Shadow versions score every row; their results go to the record only.
    std::vector<std::string>& shadow = shadow_txt_;
    shadow.resize(n);
    for (std::string& x : shadow) x.assign("{");
    for (Binding& b : shadows_) {
      if (!b.usable()) {  // left out of the records; visible as errors of that version
        if (b.series != nullptr) model::ModelMetrics::RecordError(b.series, n);
        continue;
      }
      rows_.resize(n);
      for (size_t i = 0; i < n; ++i) rows_[i] = static_cast<uint32_t>(i);
      Score(b, in, &shadow_scores_);
      const size_t k = b.loaded->model->num_outputs();
      model::PredictMetrics::Record(Traffic(model::PredictRole::kShadow, &b), n, shadow_scores_.data(), k,
                                    output_index_);
      for (size_t i = 0; i < n; ++i) {
        if (shadow[i].size() > 1) shadow[i].push_back(',');
        shadow[i] += "\"" + std::to_string(b.version()) + "\":";
        AppendScores(b, shadow_scores_.data() + i * k, &shadow[i]);
      }
    }
    Arena& arena = log->arena();
    std::string id, entity;
    for (size_t i = 0; i < n; ++i) {
      const Value* r = in.row(i);
      const RowMeta& meta = in.meta(i);
      id.clear();
      if (def_.event_id_field >= 0 && !r[def_.event_id_field].null) {
        AppendText(r[def_.event_id_field], op_.input.field(static_cast<size_t>(def_.event_id_field)).type, &id);
      } else {
        id = def_.source_stream + "/" + std::to_string(meta.partition) + "/" + std::to_string(meta.offset);
      }
      entity.clear();
      if (def_.entity_field >= 0 && !r[def_.entity_field].null) {
        AppendText(r[def_.entity_field], op_.input.field(static_cast<size_t>(def_.entity_field)).type, &entity);
      }
      const Binding& b = variant_[i] == 0 ? primary_ : canary_;
      const bool scored = b.usable();
      shadow[i].push_back('}');
      Value* o = log->AppendRow();
      RowMeta& m = log->meta(log->size() - 1);
      m = meta;
      o[0] = Value::String(arena.Copy(id));
      o[1] = Value::String(arena.Copy(ctx_.pipeline));
      o[2] = Value::String(arena.Copy(ctx_.label));
      o[3] = Value::Int(meta.partition);
      o[4] = Value::Int(static_cast<int64_t>(meta.offset));
      o[5] = Value::String(arena.Copy(entity));
      o[6] = Value::String(arena.Copy(def_.model));
      o[7] = Value::Int(static_cast<int64_t>(b.version()));
      o[8] = Value::String(arena.Copy(!scored            ? std::string_view("unscored")
                                      : variant_[i] == 1 ? std::string_view("canary")
                                                         : std::string_view("primary")));
      o[9] = Value::String(arena.Copy(scored ? std::string_view(features_txt_[i]) : std::string_view("{}")));
      o[10] = Value::String(arena.Copy(scored ? std::string_view(scores_txt_[i]) : std::string_view("{}")));
      o[11] = Value::String(arena.Copy(shadow[i]));
      o[12] = Value::Int(meta.event_time_ms);
      o[13] = Value::Int(now_ms);
    }
  }

  static void AppendText(const Value& v, FieldType t, std::string* out) {
    switch (t) {
      case FieldType::kString: out->append(v.sv()); break;
      case FieldType::kDouble: {
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof(buf), v.f64);
        out->append(buf, static_cast<size_t>(r.ptr - buf));
        break;
      }
      case FieldType::kBool: out->append(v.b ? "true" : "false"); break;
      default: out->append(std::to_string(v.i64)); break;
    }
  }

  const LogicalOp& op_;
  const PredictDef& def_;
  const OperatorContext ctx_;
  Clock* const clock_;
  int64_t wm_ = INT64_MIN;
  uint64_t generation_ = 0;
  bool resolved_ = false;
  Binding primary_, canary_;
  std::vector<Binding> shadows_;
  std::vector<std::string> output_names_;  // the step's output fields, and the model output each reads
  std::vector<int> output_index_;
  uint64_t scored_ = 0, unscored_ = 0;
  // Scratch, reused across batches.
  std::vector<uint8_t> variant_;
  std::vector<uint32_t> rows_;
  std::vector<float> matrix_, all_scores_, shadow_scores_;
  std::vector<std::string> features_txt_, scores_txt_, shadow_txt_;
};

}  // namespace

Result<std::unique_ptr<StatefulOperator>> NewPredictOperator(const LogicalOp& op, const OperatorContext& ctx) {
  if (!op.predict) return InvalidArgument(ctx.label + ": not a predict step");
  if (ctx.models == nullptr) {
    return FailedPrecondition(ctx.label + " scores with model '" + op.predict->model +
                              "' but the engine has no model repository (start it with --models DIR)");
  }
  return std::unique_ptr<StatefulOperator>(new PredictOperator(op, ctx));
}

Status CheckPredictStep(const LogicalOp& op, model::ModelRepository* models) {
  OperatorContext ctx;
  ctx.label = op.label;
  ctx.models = models;
  ASSIGN_OR_RETURN(auto created, NewPredictOperator(op, ctx));
  return static_cast<PredictOperator*>(created.get())->Check();
}

}  // namespace impulse::plan
