// The `rank` step (docs/PIPELINE_SPEC.md, "rank"): per event, the candidates of a list field
// scored with a repository model over the event's fields, each candidate's view values as of
// the event (a broadcast as-of join of the view's stream, JoinDef::Type::kAsOf) and pair
// expressions; the best k kept. Resolved into a kJoin op with `rank` set (src/ops/rank_op.cc).
// A `lookup` of a list of keys (`keys:`) is the same op without a model: one row per key with the
// view's values, as the rank step's `emit: candidates` rows without a score.
#include "expr/check.h"
#include "spec/internal.h"

namespace impulse::plan::spec_internal {

namespace {

bool ReadName(const YAML::Node& n, const std::string& what, Diagnostics* d, std::string* out) {
  if (!n.IsScalar() || !IsValidFieldName(n.Scalar())) {
    d->Add(Diagnostics::LocOf(n), "expected a field name for " + what);
    return false;
  }
  *out = n.Scalar();
  return true;
}

bool Clashes(const std::vector<Field>& fields, const std::string& name) {
  for (const Field& f : fields) {
    if (f.name == name) return true;
  }
  return false;
}

}  // namespace

bool ResolveRank(const YAML::Node& n, const Schema& in, const LogicalPlan& plan, const FeatureViewDef& view,
                 const std::string& view_pipeline, const std::string& what, Diagnostics* d, LogicalOp* op,
                 std::string* second_source, bool list_lookup) {
  // The step's option names: a list lookup names the list and its per-key fields after keys.
  struct Names {
    const char *list, *list_max, *id, *rank, *count;
  };
  const Names names = list_lookup
                          ? Names{"keys", "keys_max", "key_field", "key_rank_field", "key_count_field"}
                          : Names{"candidates", "candidates_max", "candidate", "candidate_rank", "candidate_count"};
  std::vector<std::pair<std::string, YAML::Node>> e;
  const bool entries_ok =
      list_lookup ? Entries(n, what,
                            {"keys", "key", "view", "as_of", "as_of_time", "as_of_lag_max", "keys_max", "key_field",
                             "key_rank_field", "key_count_field", "prefix", "broadcast", "versions_max", "rows_max"},
                            d, &e)
                  : Entries(n, what,
                            {"candidates", "view", "as_of", "as_of_time", "as_of_lag_max", "model", "pair", "k",
                             "candidates_max", "batch_rows_max", "outputs", "emit", "candidate", "candidate_rank",
                             "candidate_count", "prefix", "versions_max", "rows_max"},
                            d, &e);
  if (!entries_ok) return false;
  const YAML::Node* cands = Get(e, names.list);
  const YAML::Node* model = Get(e, "model");
  const YAML::Node* outputs = Get(e, "outputs");
  if (list_lookup) {
    if (const YAML::Node* key = Get(e, "key")) {
      d->Add(Diagnostics::LocOf(*key), what +
                                           " takes one of 'key: field' (one entity per event) and 'keys: field' (a "
                                           "JSON list of entities: one row per key), not both");
      return false;
    }
    if (const YAML::Node* b = Get(e, "broadcast")) {
      bool broadcast = true;
      if (!ReadBool(*b, "broadcast of " + what, d, &broadcast)) return false;
      if (!broadcast) {
        d->Add(Diagnostics::LocOf(*b), what +
                                           " reads a list of keys, which may be any entities: every task reads "
                                           "the whole view (broadcast), so 'broadcast: false' cannot hold");
        return false;
      }
    }
  } else if (cands == nullptr || model == nullptr || outputs == nullptr) {
    d->Add(Diagnostics::LocOf(n), what +
                                      " needs 'candidates: field' (a JSON list of ids), 'model: NAME' and "
                                      "'outputs: {items: field, scores: field}'");
    return false;
  }
  auto r = std::make_shared<RankDef>();
  auto j = std::make_shared<JoinDef>();
  j->type = JoinDef::Type::kAsOf;
  j->view = view.name;
  j->left_outer = true;
  j->broadcast = true;  // candidates are any entities: every task holds the whole view
  // Over the event's fields: every candidate row of an event starts with them, so they share it.
  bool ok = ReadAsOf(n, e, in, what, d, j.get());
  // The candidate list: a string field of the input.
  if (!cands->IsScalar() || in.FieldIndex(cands->Scalar()) < 0) {
    d->Add(Diagnostics::LocOf(*cands), std::string(names.list) + " of " + what +
                                           " names a field of the input (a string: a JSON list "
                                           "of ids, or a top_k aggregate's output)");
    return false;
  }
  r->candidates_field = in.FieldIndex(cands->Scalar());
  if (in.field(static_cast<size_t>(r->candidates_field)).type != FieldType::kString) {
    d->Add(Diagnostics::LocOf(*cands),
           std::string(names.list) + " '" + cands->Scalar() + "' of " + what + " is " +
               std::string(FieldTypeName(in.field(static_cast<size_t>(r->candidates_field)).type)) +
               ", not a string (a JSON list of ids)");
    return false;
  }
  if (view.entity.type != FieldType::kInt64) {
    d->Add(Diagnostics::LocOf(*Get(e, "view")),
           "view '" + view.name + "' of " + what + " has a " + std::string(FieldTypeName(view.entity.type)) +
               " entity; " + (list_lookup ? "a list of keys" : "rank") + " takes int64 ids only (for now)");
    return false;
  }
  if (list_lookup) {
    r->emit_candidates = true;  // one row per key, no model
  } else if (!model->IsScalar() || model->Scalar().empty()) {
    d->Add(Diagnostics::LocOf(*model), "model of " + what + " is a model name of the repository");
    ok = false;
  } else {
    r->model = model->Scalar();
  }
  if (const YAML::Node* k = Get(e, "k")) ok &= ReadUint(*k, "k of " + what, 1, 10'000, d, &r->k);
  // A list lookup's rows each carry the whole event, its list included: n keys write n copies,
  // so its ceiling is lower. (rank's `emit: candidates` writes such rows too, but it is a training
  // set's step, over candidate lists the spec builds; its 1 M ceiling is unchanged.)
  if (const YAML::Node* c = Get(e, names.list_max)) {
    ok &= ReadUint(*c, std::string(names.list_max) + " of " + what, 1, list_lookup ? 10'000 : 1'000'000, d,
                   &r->candidates_max);
  }
  if (const YAML::Node* b = Get(e, "batch_rows_max"))
    ok &= ReadUint(*b, "batch_rows_max of " + what, 1, 10'000'000, d, &r->batch_rows_max);
  if (const YAML::Node* v = Get(e, "versions_max"))
    ok &= ReadUint(*v, "versions_max of " + what, 1, 1'000'000, d, &j->versions_max);
  if (const YAML::Node* rm = Get(e, "rows_max"))
    ok &= ReadUint(*rm, "rows_max of " + what, 1, 1'000'000'000, d, &j->rows_max);
  if (ok && r->candidates_max > j->rows_max) {
    // One event's rows must be able to wait together, or it would be admitted in part.
    const YAML::Node* at = Get(e, "rows_max") != nullptr ? Get(e, "rows_max") : Get(e, names.list_max);
    d->Add(Diagnostics::LocOf(at != nullptr ? *at : n),
           std::string(names.list_max) + " " + std::to_string(r->candidates_max) +
               (Get(e, names.list_max) == nullptr ? " (the default)" : "") + " of " + what +
               " is more than its rows_max " + std::to_string(j->rows_max) +
               ": one event's rows could not all wait (raise rows_max or lower " + names.list_max + ")");
    ok = false;
  }
  if (const YAML::Node* em = Get(e, "emit")) {
    if (!em->IsScalar() || (em->Scalar() != "ranked" && em->Scalar() != "candidates")) {
      d->Add(Diagnostics::LocOf(*em), "emit of " + what +
                                          " is 'ranked' (the event with its top k, the default) or 'candidates' "
                                          "(one row per event and candidate with every model input: a training set)");
      ok = false;
    } else {
      r->emit_candidates = em->Scalar() == "candidates";
    }
  }
  // Defaults: the option's name for rank (candidate, ...); key, key_rank, key_count for a lookup.
  r->candidate_field = list_lookup ? "key" : "candidate";
  r->candidate_rank_field = list_lookup ? "key_rank" : "candidate_rank";
  r->candidate_count_field = list_lookup ? "key_count" : "candidate_count";
  for (auto [option, field] :
       {std::pair{names.id, &r->candidate_field}, std::pair{names.rank, &r->candidate_rank_field},
        std::pair{names.count, &r->candidate_count_field}}) {
    if (const YAML::Node* c = Get(e, option)) ok &= ReadName(*c, std::string(option) + " of " + what, d, field);
  }
  j->prefix = view.name + "_";
  if (const YAML::Node* p = Get(e, "prefix")) {
    if (p->IsScalar() || p->IsNull()) {
      j->prefix = p->IsScalar() ? p->Scalar() : "";
    } else {
      d->Add(Diagnostics::LocOf(*p), "prefix of " + what + " is a string (\"\" for none)");
      ok = false;
    }
  }
  if (!list_lookup) {
    std::vector<std::pair<std::string, YAML::Node>> o;
    if (!Entries(*outputs, "outputs of " + what, {"items", "scores"}, d, &o)) return false;
    const YAML::Node* items = Get(o, "items");
    const YAML::Node* scores = Get(o, "scores");
    if (items == nullptr || scores == nullptr) {
      d->Add(Diagnostics::LocOf(*outputs), "outputs of " + what + " needs 'items: field' and 'scores: field'");
      return false;
    }
    ok &= ReadName(*items, "outputs.items of " + what, d, &r->items_field);
    ok &= ReadName(*scores, "outputs.scores of " + what, d, &r->scores_field);
  }
  if (!ok) return false;

  const StreamDef* right = nullptr;
  int entity = -1;
  if (!ReadViewStream(*Get(e, "view"), plan, view, view_pipeline, d, &right, &entity, &j->right_output)) return false;

  // The join's input: the event, its number and candidate count (internal), the candidate id.
  std::vector<Field> fields = in.fields();
  for (const char* internal : {RankDef::kSeqField, RankDef::kCountField}) {
    if (Clashes(fields, internal)) {
      d->Add(Diagnostics::LocOf(n), "field '" + std::string(internal) + "' is reserved by " + what);
      return false;
    }
    fields.push_back({internal, FieldType::kInt64, false});
  }
  // The candidate's id, its place in the list and its top_k count, each named by its own key.
  const struct {
    const char* key;
    const std::string& name;
    bool nullable;
  } per_candidate[] = {{names.id, r->candidate_field, false},
                       {names.rank, r->candidate_rank_field, false},
                       {names.count, r->candidate_count_field, true}};
  for (const auto& c : per_candidate) {
    if (Clashes(fields, c.name)) {
      const YAML::Node* at = Get(e, c.key);
      d->Add(Diagnostics::LocOf(at != nullptr ? *at : n), std::string(c.key) + " field '" + c.name +
                                                              "' clashes with another field of the rows in " + what +
                                                              " (set '" + c.key + ": NAME')");
      return false;
    }
    fields.push_back({c.name, FieldType::kInt64, c.nullable});
  }
  r->candidate_input = Schema(fields);
  for (const Field& f : view.feature_schema.fields()) {
    Field g{j->prefix + f.name, f.type, /*nullable=*/true};
    if (!IsValidFieldName(g.name) || Clashes(fields, g.name)) {
      d->Add(Diagnostics::LocOf(n), std::string(list_lookup ? "view feature '" : "candidate feature '") + g.name +
                                        "' is not a valid name or clashes with a field " + "of the input in " + what +
                                        " (set another prefix)");
      return false;
    }
    fields.push_back(std::move(g));
  }
  r->candidate_schema = Schema(fields);
  // Pair fields: expressions over the event's and the candidate's fields (rank only).
  if (const YAML::Node* pair = list_lookup ? nullptr : Get(e, "pair")) {
    if (!pair->IsMap()) {
      d->Add(Diagnostics::LocOf(*pair), "pair of " + what + " is a mapping of field: expression");
      return false;
    }
    for (const auto& kv : *pair) {
      const std::string name = kv.first.Scalar();
      if (!IsValidFieldName(name) || Clashes(fields, name)) {
        d->Add(Diagnostics::LocOf(kv.first),
               "pair field '" + name + "' of " + what + " is not a valid name or clashes with another field");
        ok = false;
        continue;
      }
      if (!kv.second.IsScalar()) {
        d->Add(Diagnostics::LocOf(kv.second), "pair field '" + name + "' of " + what + " is an expression (a string)");
        ok = false;
        continue;
      }
      std::vector<ExprDiag> diags;
      ExprPtr x = ParseAndCheck(kv.second.Scalar(), r->candidate_schema, &diags);
      if (x && x->type == ExprType::kNull) {
        diags.push_back({x->pos, "the expression of '" + name + "' has no type; use cast(null as <type>)"});
        x.reset();
      }
      if (!x) {
        d->AddExprDiags(kv.second, diags, " in pair field '" + name + "' of " + what);
        ok = false;
        continue;
      }
      if (ToFieldType(x->type) == FieldType::kString) {
        d->Add(Diagnostics::LocOf(kv.second),
               "pair field '" + name + "' of " + what + " is a string; model inputs are numbers and bools");
        ok = false;
        continue;
      }
      fields.push_back({name, ToFieldType(x->type), true});
      r->pair.push_back(NamedExpr{name, std::move(x)});
    }
  }
  if (!ok) return false;
  r->row_schema = Schema(fields);

  // The output: the event with its top k, or one row per candidate with its score.
  std::vector<Field> out;
  if (r->emit_candidates) {
    for (const Field& f : r->row_schema.fields()) {
      if (f.name != RankDef::kSeqField && f.name != RankDef::kCountField) out.push_back(f);
    }
    if (!list_lookup) {
      if (Clashes(out, r->scores_field)) {
        d->Add(Diagnostics::LocOf(*outputs),
               "outputs.scores '" + r->scores_field + "' clashes with a field in " + what);
        return false;
      }
      out.push_back({r->scores_field, FieldType::kDouble, true});
    }
  } else {
    out = in.fields();
    for (const std::string& name : {r->items_field, r->scores_field}) {
      if (Clashes(out, name)) {
        d->Add(Diagnostics::LocOf(*outputs), "output '" + name + "' clashes with a field of the input in " + what);
        return false;
      }
      out.push_back({name, FieldType::kString, true});
    }
  }
  j->right_stream = right->name;
  j->right_schema = right->schema;
  j->left_key = r->candidate_input.FieldIndex(r->candidate_field);
  j->right_key = entity;
  j->state_ttl_ms = ViewStateTtlMs(view);
  op->output = Schema(std::move(out));
  op->join = std::move(j);
  op->rank = std::move(r);
  *second_source = right->name;
  return true;
}

}  // namespace impulse::plan::spec_internal
