// The `features` step: a feature view of the spec (docs/FEATURES.md) resolved against the input
// of the step that computes it.
#include <charconv>
#include <cmath>

#include "agg/aggregates.h"
#include "common/suggest.h"
#include "expr/check.h"
#include "spec/internal.h"

namespace impulse::plan::spec_internal {

namespace {

bool References(const Expr& e, int field) {
  if (e.kind == ExprKind::kField && e.field_index == field) return true;
  for (const auto& c : e.children) {
    if (References(*c, field)) return true;
  }
  return false;
}

// A finite number within the int64 range (so the cast to int64 below is defined).
bool ParseNumber(const std::string& text, double* d) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), *d);
  return r.ec == std::errc() && r.ptr == text.data() + text.size() && std::isfinite(*d) &&
         *d >= -9223372036854775808.0 && *d < 9223372036854775808.0;
}

class ViewResolver {
 public:
  ViewResolver(const Schema& in, const std::string& what, Diagnostics* d) : in_(in), what_(what), d_(d) {}

  bool Run(const YAML::Node& body, const std::string& view_name, const PartitionInfo& part,
           const std::string& pipeline_source, FeatureViewDef* v) {
    std::vector<std::pair<std::string, YAML::Node>> e;
    if (!Entries(
            body, "feature view '" + view_name + "'",
            {"name", "source", "entity", "mode", "ttl", "entities_max", "rows_per_entity_max", "label", "features"}, d_,
            &e)) {
      return false;
    }
    v->name = view_name;
    bool ok = true;
    if (const YAML::Node* s = Get(e, "source")) {
      v->source = s->IsScalar() ? s->Scalar() : "";
      if (v->source != pipeline_source) {
        d_->Add(Diagnostics::LocOf(*s), "feature view '" + view_name + "' declares source '" + v->source + "' but " +
                                            what_ + " reads '" + pipeline_source + "'");
        ok = false;
      }
    } else {
      v->source = pipeline_source;
    }
    const YAML::Node* entity = Get(e, "entity");
    if (entity == nullptr) {
      d_->Add(Diagnostics::LocOf(body), "feature view '" + view_name + "' needs 'entity: field'");
      return false;
    }
    std::vector<int> key;
    if (!ReadKeyFields(*entity, in_, "entity of feature view '" + view_name + "'", d_, &key)) return false;
    if (key.size() != 1) {
      d_->Add(Diagnostics::LocOf(*entity), "the entity of feature view '" + view_name + "' is one field");
      return false;
    }
    v->entity_field = key[0];
    v->entity = in_.field(static_cast<size_t>(key[0]));
    if (v->entity.type != FieldType::kInt64 && v->entity.type != FieldType::kString) {
      d_->Add(Diagnostics::LocOf(*entity), "the entity of feature view '" + view_name + "' must be int64 or string");
      ok = false;
    }
    ok &= CheckPartitioning(key, part, Diagnostics::LocOf(*entity), "feature view '" + view_name + "' in " + what_, in_,
                            /*per_partition=*/false, d_);
    if (const YAML::Node* m = Get(e, "mode")) {
      const std::string mode = m->IsScalar() ? m->Scalar() : "";
      if (mode == "on_arrival") {
        v->mode = FeatureViewDef::Mode::kOnArrival;
      } else if (mode == "point_in_time") {
        v->mode = FeatureViewDef::Mode::kPointInTime;
      } else {
        d_->Add(Diagnostics::LocOf(*m), "mode of feature view '" + view_name +
                                            "' is on_arrival or point_in_time, not '" + mode + "'" +
                                            DidYouMean(mode, {"on_arrival", "point_in_time"}));
        ok = false;
      }
    }
    if (const YAML::Node* t = Get(e, "ttl"))
      ok &= ReadDuration(*t, "ttl of feature view '" + view_name + "'", 1, d_, &v->ttl_ms);
    if (const YAML::Node* m = Get(e, "rows_per_entity_max")) {
      ok &= ReadUint(*m, "rows_per_entity_max of feature view '" + view_name + "'", 1, 1'000'000'000, d_,
                     &v->rows_per_entity_max);
    }
    if (const YAML::Node* m = Get(e, "entities_max")) {
      ok &= ReadUint(*m, "entities_max of feature view '" + view_name + "'", 1, 1'000'000'000, d_, &v->entities_max);
    }
    label_field_ = -1;
    if (const YAML::Node* l = Get(e, "label")) {
      std::vector<std::pair<std::string, YAML::Node>> le;
      if (Entries(*l, "label of feature view '" + view_name + "'", {"field", "delay"}, d_, &le) &&
          Get(le, "field") != nullptr && Get(le, "delay") != nullptr) {
        v->label_field = Get(le, "field")->IsScalar() ? Get(le, "field")->Scalar() : "";
        label_field_ = in_.FieldIndex(v->label_field);
        if (label_field_ < 0) {
          d_->Add(Diagnostics::LocOf(*Get(le, "field")), "unknown label field '" + v->label_field +
                                                             "' in feature view '" + view_name + "'" +
                                                             DidYouMean(v->label_field, Names(in_)));
          ok = false;
        }
        ok &= ReadDuration(*Get(le, "delay"), "label delay of feature view '" + view_name + "'", 0, d_,
                           &v->label_delay_ms);
      } else {
        if (l->IsMap()) d_->Add(Diagnostics::LocOf(*l), "label needs {field: F, delay: duration}");
        ok = false;
      }
    }
    label_delay_ms_ = v->label_delay_ms;
    const YAML::Node* fs = Get(e, "features");
    if (fs == nullptr || !fs->IsSequence() || fs->size() == 0 || fs->size() > 256) {
      d_->Add(Diagnostics::LocOf(fs ? *fs : body),
              "feature view '" + view_name + "' needs 'features': a list of 1..256 features");
      return false;
    }
    if (!ok) return false;
    std::vector<Field> all = in_.fields();  // expressions see the input and earlier features
    std::vector<Field> served;
    for (const YAML::Node& f : *fs) {
      FeatureDef def;
      if (!Feature(f, view_name, Schema(all), &def)) {
        ok = false;
        continue;
      }
      for (const Field& x : all) {
        if (x.name == def.name) {
          d_->Add(Diagnostics::LocOf(f), "feature '" + def.name +
                                             "' clashes with a field of the input or an "
                                             "earlier feature of view '" +
                                             view_name + "'");
          ok = false;
        }
      }
      all.push_back(def.field);
      served.push_back(def.field);
      v->features.push_back(std::move(def));
    }
    if (!ok) return false;
    v->feature_schema = Schema(std::move(served));
    return true;
  }

 private:
  bool Feature(const YAML::Node& n, const std::string& view, const Schema& visible, FeatureDef* f) {
    std::vector<std::pair<std::string, YAML::Node>> e;
    if (!Entries(n, "a feature of view '" + view + "'",
                 {"name", "agg", "window", "delay", "default", "expr", "previous", "time_since_previous"}, d_, &e)) {
      return false;
    }
    const YAML::Node* name = Get(e, "name");
    f->name = name && name->IsScalar() ? name->Scalar() : "";
    if (!IsValidFieldName(f->name)) {
      d_->Add(Diagnostics::LocOf(name ? *name : n), "a feature of view '" + view + "' needs 'name: identifier'");
      return false;
    }
    const std::string what = "feature '" + f->name + "' of view '" + view + "'";
    int kinds = (Get(e, "agg") != nullptr) + (Get(e, "expr") != nullptr) + (Get(e, "previous") != nullptr) +
                (Get(e, "time_since_previous") != nullptr);
    if (kinds != 1) {
      d_->Add(Diagnostics::LocOf(n), what + " needs exactly one of agg, expr, previous or time_since_previous");
      return false;
    }
    if (Get(e, "agg") == nullptr && (Get(e, "window") || Get(e, "delay") || Get(e, "default"))) {
      d_->Add(Diagnostics::LocOf(n), "window, delay and default apply to agg features only, in " + what);
      return false;
    }
    if (const YAML::Node* a = Get(e, "agg")) return Window(*a, e, n, what, f);
    if (const YAML::Node* t = Get(e, "time_since_previous")) {
      f->kind = FeatureDef::Kind::kTimeSincePrevious;
      const std::string unit = t->IsScalar() ? t->Scalar() : "";
      if (unit == "ms")
        f->unit_ms = 1;
      else if (unit == "s")
        f->unit_ms = 1000;
      else if (unit == "m")
        f->unit_ms = 60'000;
      else if (unit == "h")
        f->unit_ms = 3'600'000;
      else if (unit == "d")
        f->unit_ms = 86'400'000;
      else {
        d_->Add(Diagnostics::LocOf(*t), "time_since_previous takes a unit: ms, s, m, h or d, in " + what);
        return false;
      }
      f->field = {f->name, FieldType::kDouble, true};
      return true;
    }
    const bool previous = Get(e, "previous") != nullptr;
    const YAML::Node& x = previous ? *Get(e, "previous") : *Get(e, "expr");
    f->kind = previous ? FeatureDef::Kind::kPrevious : FeatureDef::Kind::kExpr;
    const std::string text = x.IsScalar() ? x.Scalar() : "";
    std::vector<ExprDiag> diags;
    // A previous value is kept per entity, so it reads the input only.
    ExprPtr expr = ParseAndCheck(text, previous ? in_ : visible, &diags);
    if (expr && expr->type == ExprType::kNull) {
      diags.push_back({expr->pos, "the expression has no type; use cast(null as <type>)"});
      expr.reset();
    }
    if (!expr) {
      d_->AddExprDiags(x, diags, " in " + what);
      return false;
    }
    if (label_field_ >= 0 && References(*expr, label_field_)) {
      d_->Add(Diagnostics::LocOf(x), what + " reads label '" + in_.field(static_cast<size_t>(label_field_)).name +
                                         "', known only " + std::to_string(label_delay_ms_) +
                                         " ms after its event: use an agg feature with delay >= the label's delay");
      return false;
    }
    f->field = {f->name, ToFieldType(expr->type), previous || expr->nullable};
    f->expr = std::move(expr);
    return true;
  }

  bool Window(const YAML::Node& a, const std::vector<std::pair<std::string, YAML::Node>>& e, const YAML::Node& n,
              const std::string& what, FeatureDef* f) {
    f->kind = FeatureDef::Kind::kWindow;
    if (!ResolveAggregate(f->name, a, in_, what, d_, &f->agg)) return false;
    const YAML::Node* w = Get(e, "window");
    if (w == nullptr) {
      d_->Add(Diagnostics::LocOf(n), what + " needs 'window: duration' (the range (t - delay - window, t - delay])");
      return false;
    }
    bool ok = ReadDuration(*w, "window of " + what, 1, d_, &f->window_ms);
    if (const YAML::Node* dl = Get(e, "delay")) ok &= ReadDuration(*dl, "delay of " + what, 0, d_, &f->delay_ms);
    if (!ok) return false;
    if (label_field_ >= 0 && f->delay_ms < label_delay_ms_) {
      for (const auto& arg : f->agg.args) {
        if (References(*arg, label_field_)) {
          d_->Add(Diagnostics::LocOf(a),
                  what + " aggregates label '" + in_.field(static_cast<size_t>(label_field_)).name + "' with delay " +
                      std::to_string(f->delay_ms) + " ms, but the label is known only " +
                      std::to_string(label_delay_ms_) + " ms after its event: set delay >= that");
          return false;
        }
      }
    }
    f->field = {f->name, f->agg.result_type, f->agg.nullable};
    if (const YAML::Node* df = Get(e, "default")) {
      double v = 0;
      const std::string text = df->IsScalar() ? df->Scalar() : "";
      if (!ParseNumber(text, &v) ||
          (f->agg.result_type != FieldType::kDouble && f->agg.result_type != FieldType::kInt64) ||
          (f->agg.result_type == FieldType::kInt64 && v != static_cast<double>(static_cast<int64_t>(v)))) {
        d_->Add(Diagnostics::LocOf(*df), "default of " + what + " must be a number of the aggregate's type (" +
                                             std::string(FieldTypeName(f->agg.result_type)) + ")");
        return false;
      }
      f->has_default = true;
      f->default_double = v;
      f->default_int = static_cast<int64_t>(v);
      f->field.nullable = false;
    }
    return true;
  }

  const Schema& in_;
  const std::string& what_;
  Diagnostics* d_;
  int label_field_ = -1;
  int64_t label_delay_ms_ = 0;
};

}  // namespace

bool ResolveFeatures(const YAML::Node& body, const std::string& view_name, const Schema& in, const PartitionInfo& part,
                     const std::string& pipeline_source, const std::string& what, Diagnostics* d, LogicalOp* op) {
  auto v = std::make_shared<FeatureViewDef>();
  ViewResolver r(in, what, d);
  if (!r.Run(body, view_name, part, pipeline_source, v.get())) return false;
  std::vector<Field> fields = in.fields();
  for (const Field& f : v->feature_schema.fields()) fields.push_back(f);
  op->output = Schema(std::move(fields));
  op->features = std::move(v);
  return true;
}

}  // namespace impulse::plan::spec_internal
