// The `lookup` step: another feature view's values as of the event's time (docs/FEATURES.md,
// "Lookups of another view"), resolved to an as-of join (JoinDef::Type::kAsOf) with the stream
// written by the pipeline computing the view: each row of that stream is a version of its
// entity's features, at its event time.
#include <algorithm>

#include "common/suggest.h"
#include "expr/check.h"
#include "spec/internal.h"

namespace impulse::plan::spec_internal {

bool ReadViewStream(const YAML::Node& view_node, const LogicalPlan& plan, const FeatureViewDef& view,
                    const std::string& view_pipeline, Diagnostics* d, const StreamDef** right_out, int* entity_out,
                    std::vector<int>* features) {
  const StreamDef* right = nullptr;
  for (const LogicalPipeline& lp : plan.pipelines) {
    if (lp.name == view_pipeline) right = plan.FindStream(lp.sink.target);
  }
  if (right == nullptr) return false;  // the caller checked the sink is a stream
  // The view's stream must carry the entity and every feature, unchanged, by name.
  const Schema& rs = right->schema;
  const int entity = rs.FieldIndex(view.entity.name);
  if (entity < 0 || rs.field(static_cast<size_t>(entity)).type != view.entity.type) {
    d->Add(Diagnostics::LocOf(view_node), "stream '" + right->name + "' written by pipeline '" + view_pipeline +
                                              "' (computing view '" + view.name + "') lacks the view's entity field '" +
                                              view.entity.name + "' of type " +
                                              std::string(FieldTypeName(view.entity.type)));
    return false;
  }
  features->clear();
  for (const Field& f : view.feature_schema.fields()) {
    const int at = rs.FieldIndex(f.name);
    if (at < 0 || rs.field(static_cast<size_t>(at)).type != f.type) {
      d->Add(Diagnostics::LocOf(view_node), "stream '" + right->name + "' written by pipeline '" + view_pipeline +
                                                "' lacks feature '" + f.name + "' (" +
                                                std::string(FieldTypeName(f.type)) + ") of view '" + view.name +
                                                "': keep the view's features in that pipeline's output");
      return false;
    }
    features->push_back(at);
  }
  *right_out = right;
  *entity_out = entity;
  return true;
}

int64_t ViewStateTtlMs(const FeatureViewDef& view) {
  int64_t span = 0;
  for (const FeatureDef& f : view.features) {
    if (f.kind == FeatureDef::Kind::kWindow) span = std::max(span, f.window_ms + f.delay_ms);
  }
  span = std::max(span, view.ttl_ms);
  return span > 0 ? span : -1;
}

bool ReadBool(const YAML::Node& n, const std::string& what, Diagnostics* d, bool* out) {
  if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) {
    *out = n.Scalar() == "true";
    return true;
  }
  d->Add(Diagnostics::LocOf(n), "expected true or false for " + what);
  return false;
}

bool ReadAsOf(const YAML::Node& n, const std::vector<std::pair<std::string, YAML::Node>>& e, const Schema& in,
              const std::string& what, Diagnostics* d, JoinDef* j) {
  const YAML::Node* as_of = Get(e, "as_of");
  const YAML::Node* as_of_time = Get(e, "as_of_time");
  const YAML::Node* lag_max = Get(e, "as_of_lag_max");
  if ((as_of == nullptr) == (as_of_time == nullptr)) {
    d->Add(Diagnostics::LocOf(as_of != nullptr ? *as_of_time : n),
           what + (as_of != nullptr ? " takes one of 'as_of' and 'as_of_time', not both"
                                    : " needs 'as_of: -duration' (values as of the event's time plus this, e.g. -1m) "
                                      "or 'as_of_time: expression' (a timestamp computed from the event, e.g. "
                                      "date_trunc_day(event_datetime))"));
    return false;
  }
  if (as_of != nullptr) {
    if (lag_max != nullptr) {
      d->Add(Diagnostics::LocOf(*lag_max), "as_of_lag_max of " + what +
                                               " goes with as_of_time only (as_of: -duration reads exactly that far "
                                               "back)");
      return false;
    }
    if (!ReadSignedDuration(*as_of, "as_of of " + what, d, &j->as_of_ms)) return false;
    if (j->as_of_ms > 0) {
      d->Add(Diagnostics::LocOf(*as_of), "as_of of " + what +
                                             " is a time at or before the event's (0 or negative, e.g. -1m): later "
                                             "values are not known when the event happens");
      return false;
    }
    return true;
  }
  j->as_of_ms = 0;
  j->as_of_lag_max_ms = JoinDef::kAsOfLagMaxDefaultMs;
  if (lag_max != nullptr &&
      !ReadDuration(*lag_max, "as_of_lag_max of " + what, /*min_ms=*/0, d, &j->as_of_lag_max_ms)) {
    return false;
  }
  if (j->as_of_lag_max_ms > JoinDef::kAsOfLagMaxLimitMs) {
    d->Add(Diagnostics::LocOf(*lag_max),
           "as_of_lag_max of " + what + " is at most 366d (versions are kept that long behind the watermark)");
    return false;
  }
  if (!as_of_time->IsScalar()) {
    d->Add(Diagnostics::LocOf(*as_of_time), "as_of_time of " + what + " is an expression (a string)");
    return false;
  }
  std::vector<ExprDiag> diags;
  ExprPtr x = ParseAndCheck(as_of_time->Scalar(), in, &diags);
  if (x && x->type != ExprType::kTimestamp) {
    const std::string type =
        x->type == ExprType::kNull ? "an untyped null" : std::string(FieldTypeName(ToFieldType(x->type)));
    diags.push_back({0, "as_of_time is a timestamp, not " + type});  // the whole expression
    x.reset();
  }
  if (!x) {
    d->AddExprDiags(*as_of_time, diags, " in as_of_time of " + what);
    return false;
  }
  j->as_of_expr = std::move(x);
  return true;
}

bool ResolveViewLookup(const YAML::Node& n, const Schema& in, const PartitionInfo& part, const LogicalPlan& plan,
                       const FeatureViewDef& view, const std::string& view_pipeline, const std::string& what,
                       Diagnostics* d, LogicalOp* op, std::string* second_source) {
  std::vector<std::pair<std::string, YAML::Node>> e;
  if (!Entries(
          n, what,
          {"view", "key", "as_of", "as_of_time", "as_of_lag_max", "prefix", "versions_max", "rows_max", "broadcast"}, d,
          &e))
    return false;
  const YAML::Node* key = Get(e, "key");
  if (key == nullptr) {
    d->Add(Diagnostics::LocOf(n), what + " needs 'key: field' (the entity of view '" + view.name + "' in this event)");
    return false;
  }
  auto j = std::make_shared<JoinDef>();
  j->type = JoinDef::Type::kAsOf;
  j->view = view.name;
  j->left_outer = true;  // an entity without values reads nulls; the event is never dropped
  bool ok = ReadAsOf(n, e, in, what, d, j.get());
  std::vector<int> lk;
  if (!ReadKeyFields(*key, in, what, d, &lk)) return false;
  if (lk.size() != 1) {
    d->Add(Diagnostics::LocOf(*key), "the key of " + what + " is one field");
    return false;
  }
  const Field& key_field = in.field(static_cast<size_t>(lk[0]));
  if (key_field.type != view.entity.type) {
    d->Add(Diagnostics::LocOf(*key), "key '" + key_field.name + "' of " + what + " is " +
                                         std::string(FieldTypeName(key_field.type)) + " but the entity '" +
                                         view.entity.name + "' of view '" + view.name + "' is " +
                                         std::string(FieldTypeName(view.entity.type)));
    return false;
  }
  const StreamDef* right = nullptr;
  int entity = -1;
  if (!ReadViewStream(*Get(e, "view"), plan, view, view_pipeline, d, &right, &entity, &j->right_output)) return false;
  if (const YAML::Node* b = Get(e, "broadcast")) {
    if (!ReadBool(*b, "broadcast of " + what, d, &j->broadcast)) return false;
  }
  // Co-partitioned as every join: partition p of this input meets partition p of the view's
  // stream only. A broadcast lookup reads every partition of the view's stream in every task.
  if (!j->broadcast && (part.partitions != right->options.partitions ||
                        (part.partitions > 1 && (part.key_field != lk[0] || right->key_field != entity ||
                                                 part.external || right->external_partitions)))) {
    d->Add(Diagnostics::LocOf(*key),
           what + ": this input must be partitioned by '" + key_field.name + "' over the partitions of stream '" +
               right->name + "' (keyed by '" + view.entity.name + "': " + std::to_string(right->options.partitions) +
               ", this input: " + std::to_string(part.partitions) +
               "); repartition first with a key_by pipeline, or, for a small view, set 'broadcast: true'");
    return false;
  }
  if (const YAML::Node* v = Get(e, "versions_max"))
    ok &= ReadUint(*v, "versions_max of " + what, 1, 1'000'000, d, &j->versions_max);
  if (const YAML::Node* r = Get(e, "rows_max"))
    ok &= ReadUint(*r, "rows_max of " + what, 1, 1'000'000'000, d, &j->rows_max);
  j->prefix = view.name + "_";
  if (const YAML::Node* p = Get(e, "prefix")) {
    // A list or mapping is a mistake, not "no prefix" (`prefix: ""` or `prefix: ~` is that).
    if (p->IsScalar() || p->IsNull()) {
      j->prefix = p->IsScalar() ? p->Scalar() : "";
    } else {
      d->Add(Diagnostics::LocOf(*p), "prefix of " + what + " is a string (\"\" for none)");
      ok = false;
    }
  }
  if (!ok) return false;
  j->right_stream = right->name;
  j->right_schema = right->schema;
  j->left_key = lk[0];
  j->right_key = entity;
  j->state_ttl_ms = ViewStateTtlMs(view);
  std::vector<Field> fields = in.fields();
  for (const Field& f : view.feature_schema.fields()) {
    Field g{j->prefix + f.name, f.type, /*nullable=*/true};
    if (!IsValidFieldName(g.name)) {
      d->Add(Diagnostics::LocOf(n), "prefix makes an invalid field name '" + g.name + "' in " + what);
      return false;
    }
    for (const Field& other : fields) {
      if (other.name == g.name) {
        d->Add(Diagnostics::LocOf(n), "looked-up feature '" + g.name + "' clashes with a field of the input in " +
                                          what + " (set another prefix)");
        return false;
      }
    }
    fields.push_back(std::move(g));
  }
  op->output = Schema(std::move(fields));
  *second_source = right->name;
  op->join = std::move(j);
  return true;
}

}  // namespace impulse::plan::spec_internal
