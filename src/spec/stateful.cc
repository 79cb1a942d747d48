// The stateful steps of the spec (window, dedup, join) and the event-time options of streams:
// read from YAML and resolved against the step's input schema in one go (they need the schema
// to check keys and aggregate arguments).
#include <charconv>

#include "agg/aggregates.h"
#include "common/suggest.h"
#include "expr/check.h"
#include "spec/internal.h"

namespace impulse::plan::spec_internal {

namespace {
constexpr int64_t kDurationMaxMs = int64_t{366} * 24 * 3600 * 1000 * 100;  // 100 years
}  // namespace

std::vector<std::string_view> Names(const Schema& schema) {
  std::vector<std::string_view> names;
  for (const Field& f : schema.fields()) names.push_back(f.name);
  return names;
}

// A mapping's entries with unknown/duplicate keys reported. False if `n` is not a mapping.
bool Entries(const YAML::Node& n, const std::string& what, std::initializer_list<std::string_view> allowed,
             Diagnostics* d, std::vector<std::pair<std::string, YAML::Node>>* out) {
  if (!n.IsMap()) {
    d->Add(Diagnostics::LocOf(n), "expected a mapping for " + what);
    return false;
  }
  std::vector<std::string_view> names(allowed);
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    bool known = false;
    for (std::string_view a : allowed) known |= a == key;
    if (!known) {
      d->Add(Diagnostics::LocOf(it->first), "unknown key '" + key + "' in " + what + DidYouMean(key, names));
      continue;
    }
    bool dup = false;
    for (const auto& e : *out) dup |= e.first == key;
    if (dup) {
      d->Add(Diagnostics::LocOf(it->first), "duplicate key '" + key + "' in " + what);
      continue;
    }
    out->emplace_back(key, it->second);
  }
  return true;
}

const YAML::Node* Get(const std::vector<std::pair<std::string, YAML::Node>>& e, std::string_view key) {
  for (const auto& kv : e) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

bool ReadUint(const YAML::Node& n, const std::string& what, uint64_t lo, uint64_t hi, Diagnostics* d, uint64_t* out) {
  Result<uint64_t> v = ReadYamlUint(n, what, lo, hi);
  if (!v.ok()) {
    d->Add(Diagnostics::LocOf(n), v.status().message());
    return false;
  }
  *out = *v;
  return true;
}

// key: field or [fields]. Every name must exist in `schema`.
bool ReadKeyFields(const YAML::Node& n, const Schema& schema, const std::string& what, Diagnostics* d,
                   std::vector<int>* out) {
  std::vector<YAML::Node> items;
  if (n.IsScalar()) {
    items.push_back(n);
  } else if (n.IsSequence() && n.size() <= 16) {
    for (const YAML::Node& x : n) items.push_back(x);
  } else {
    d->Add(Diagnostics::LocOf(n), "expected a field name or a list of at most 16 field names for the key of " + what);
    return false;
  }
  bool ok = true;
  for (const YAML::Node& x : items) {
    const std::string name = x.IsScalar() ? x.Scalar() : "";
    int idx = schema.FieldIndex(name);
    if (idx < 0) {
      d->AddInScalar(x, 0, "unknown field '" + name + "' in the key of " + what + DidYouMean(name, Names(schema)));
      ok = false;
      continue;
    }
    for (int other : *out) {
      if (other == idx) {
        d->AddInScalar(x, 0, "field '" + name + "' appears twice in the key of " + what);
        ok = false;
      }
    }
    out->push_back(idx);
  }
  return ok;
}

// The rows of a task are one partition of its source, so a keyed operator is correct only if
// every key lives in one partition: the key must include the partitioning field.
bool CheckPartitioning(const std::vector<int>& key_fields, const PartitionInfo& part, Loc loc, const std::string& what,
                       const Schema& schema, bool per_partition, Diagnostics* d) {
  if (part.partitions <= 1 || per_partition) return true;
  for (int k : key_fields) {
    if (k == part.key_field) return true;
  }
  std::string key_names;
  for (int k : key_fields) key_names += (key_names.empty() ? "" : ", ") + schema.field(static_cast<size_t>(k)).name;
  const std::string part_key =
      part.key_field >= 0 ? "'" + schema.field(static_cast<size_t>(part.key_field)).name + "'" : "none (round-robin)";
  d->Add(loc, what + " groups by [" + key_names + "] but its input is partitioned by " + part_key + " over " +
                  std::to_string(part.partitions) +
                  " partitions, so a group would be split: add the partitioning field to the key, repartition first "
                  "(a pipeline with key_by writing a stream), or set per_partition: true for per-partition results");
  return false;
}

// Splits "f(a, g(b, c), 'x,y')" into the name "f" and its top-level argument texts with their
// offsets in `text`. False if the text is not a call.
bool SplitCall(std::string_view text, std::string* name, std::vector<std::pair<std::string, uint32_t>>* args) {
  size_t open = text.find('(');
  if (open == std::string_view::npos || text.empty() || text.back() != ')') return false;
  std::string_view fn = text.substr(0, open);
  while (!fn.empty() && fn.back() == ' ') fn.remove_suffix(1);
  while (!fn.empty() && fn.front() == ' ') fn.remove_prefix(1);
  if (fn.empty()) return false;
  *name = std::string(fn);
  int depth = 0;
  char quote = 0;
  size_t start = open + 1;
  const size_t end = text.size() - 1;
  for (size_t i = open + 1; i < end; ++i) {
    char c = text[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"')
      quote = c;
    else if (c == '(')
      ++depth;
    else if (c == ')')
      --depth;
    else if (c == ',' && depth == 0) {
      args->emplace_back(std::string(text.substr(start, i - start)), static_cast<uint32_t>(start));
      start = i + 1;
    }
  }
  std::string_view last = text.substr(start, end - start);
  bool blank = last.find_first_not_of(' ') == std::string_view::npos;
  if (!blank || !args->empty()) args->emplace_back(std::string(last), static_cast<uint32_t>(start));
  return true;
}

bool ResolveAggregate(const std::string& name, const YAML::Node& node, const Schema& schema, const std::string& what,
                      Diagnostics* d, AggregateDef* out) {
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  std::string fn;
  std::vector<std::pair<std::string, uint32_t>> args;
  if (!SplitCall(text, &fn, &args)) {
    d->Add(Diagnostics::LocOf(node),
           "aggregate '" + name + "' of " + what + " must be a call such as count() or sum(amount)");
    return false;
  }
  auto kind = agg::ParseAggKind(fn);
  if (!kind.ok()) {
    d->AddInScalar(node, 0, "aggregate '" + name + "' of " + what + ": " + kind.status().message());
    return false;
  }
  agg::AggSpec spec;
  spec.kind = *kind;
  out->name = name;
  out->function = fn;
  size_t expr_args = args.size();
  if (spec.kind == agg::AggKind::kTopK) {
    uint64_t k = 0;
    auto r = args.size() == 2 ? std::from_chars(args[1].first.data() + args[1].first.find_first_not_of(' '),
                                                args[1].first.data() + args[1].first.size(), k)
                              : std::from_chars_result{nullptr, std::errc::invalid_argument};
    if (args.size() != 2 || r.ec != std::errc() || k < 1 || k > 1000) {
      d->AddInScalar(node, 0, "top_k takes a field and a literal k in [1, 1000], as in top_k(channel, 3), in " + what);
      return false;
    }
    out->k = static_cast<int>(k);
    spec.k = out->k;
    expr_args = 1;
  }
  const size_t want = spec.kind == agg::AggKind::kCount                                            ? args.size()
                      : (spec.kind == agg::AggKind::kArgMax || spec.kind == agg::AggKind::kArgMin) ? 2
                                                                                                   : 1;
  if (expr_args != want || expr_args > 2) {
    d->AddInScalar(node, 0,
                   fn + " takes " + std::to_string(want) + " argument(s), got " + std::to_string(args.size()) +
                       " in aggregate '" + name + "' of " + what);
    return false;
  }
  for (size_t i = 0; i < expr_args; ++i) {
    std::vector<ExprDiag> diags;
    ExprPtr e = ParseAndCheck(args[i].first, schema, &diags);
    if (!e) {
      for (ExprDiag& x : diags) x.pos += args[i].second;
      d->AddExprDiags(node, diags, " in aggregate '" + name + "' of " + what);
      return false;
    }
    if (e->type == ExprType::kNull) {
      d->AddInScalar(node, args[i].second, "an aggregate argument has no type in '" + name + "' of " + what);
      return false;
    }
    (i == 0 ? spec.arg_type : spec.arg2_type) = ToFieldType(e->type);
    out->args.push_back(std::move(e));
  }
  spec.arity = static_cast<int>(expr_args);
  auto rt = agg::ResultType(spec);
  if (!rt.ok()) {
    d->AddInScalar(node, 0, "aggregate '" + name + "' of " + what + ": " + rt.status().message());
    return false;
  }
  out->result_type = rt->first;
  out->nullable = rt->second;
  return true;
}

namespace {

bool ResolveWindow(const YAML::Node& n, const Schema& in, const PartitionInfo& part, const std::string& what,
                   Diagnostics* d, LogicalOp* op, PartitionInfo* out_part) {
  std::vector<std::pair<std::string, YAML::Node>> e;
  if (!Entries(n, what,
               {"tumbling", "hopping", "session", "sliding", "key", "aggregates", "emit", "allowed_lateness",
                "state_ttl", "groups_max", "windows_per_key_max", "per_partition"},
               d, &e)) {
    return false;
  }
  auto w = std::make_shared<WindowDef>();
  bool ok = true;
  int types = 0;
  if (const YAML::Node* t = Get(e, "tumbling")) {
    ++types;
    w->type = WindowDef::Type::kTumbling;
    ok &= ReadDuration(*t, "tumbling size of " + what, 1, d, &w->size_ms);
  }
  if (const YAML::Node* t = Get(e, "sliding")) {
    ++types;
    w->type = WindowDef::Type::kSliding;
    ok &= ReadDuration(*t, "sliding range of " + what, 1, d, &w->size_ms);
  }
  if (const YAML::Node* t = Get(e, "session")) {
    ++types;
    w->type = WindowDef::Type::kSession;
    std::vector<std::pair<std::string, YAML::Node>> s;
    if (Entries(*t, "session of " + what, {"gap"}, d, &s) && Get(s, "gap") != nullptr) {
      ok &= ReadDuration(*Get(s, "gap"), "session gap of " + what, 1, d, &w->gap_ms);
    } else {
      if (t->IsMap()) d->Add(Diagnostics::LocOf(*t), "session needs {gap: duration} in " + what);
      ok = false;
    }
  }
  if (const YAML::Node* t = Get(e, "hopping")) {
    ++types;
    w->type = WindowDef::Type::kHopping;
    std::vector<std::pair<std::string, YAML::Node>> s;
    if (Entries(*t, "hopping of " + what, {"size", "slide"}, d, &s) && Get(s, "size") && Get(s, "slide")) {
      ok &= ReadDuration(*Get(s, "size"), "hopping size of " + what, 1, d, &w->size_ms);
      ok &= ReadDuration(*Get(s, "slide"), "hopping slide of " + what, 1, d, &w->slide_ms);
      if (ok && (w->slide_ms > w->size_ms || w->size_ms % w->slide_ms != 0 || w->size_ms / w->slide_ms > 1000)) {
        d->Add(Diagnostics::LocOf(*t), "hopping size must be a multiple of the slide, at most 1000 slides, in " + what);
        ok = false;
      }
    } else {
      if (t->IsMap()) d->Add(Diagnostics::LocOf(*t), "hopping needs {size: duration, slide: duration} in " + what);
      ok = false;
    }
  }
  if (types != 1) {
    d->Add(Diagnostics::LocOf(n), what + " needs exactly one of tumbling, hopping, session or sliding");
    return false;
  }
  if (const YAML::Node* k = Get(e, "key")) ok &= ReadKeyFields(*k, in, what, d, &w->key_fields);
  bool per_partition = false;
  if (const YAML::Node* pp = Get(e, "per_partition")) {
    if (!pp->IsScalar() || (pp->Scalar() != "true" && pp->Scalar() != "false")) {
      d->Add(Diagnostics::LocOf(*pp), "expected true or false for per_partition of " + what);
      ok = false;
    } else {
      per_partition = pp->Scalar() == "true";
    }
  }
  if (ok) ok &= CheckPartitioning(w->key_fields, part, Diagnostics::LocOf(n), what, in, per_partition, d);
  const YAML::Node* aggs = Get(e, "aggregates");
  if (aggs == nullptr || !aggs->IsMap() || aggs->size() == 0 || aggs->size() > 256) {
    d->Add(Diagnostics::LocOf(aggs ? *aggs : n),
           what + " needs 'aggregates': a mapping of 1..256 name: function(args)");
    return false;
  }
  for (auto it = aggs->begin(); it != aggs->end(); ++it) {
    const std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
    if (!IsValidFieldName(name)) {
      d->Add(Diagnostics::LocOf(it->first), "invalid aggregate name '" + name + "' (use an identifier) in " + what);
      ok = false;
      continue;
    }
    AggregateDef a;
    if (ResolveAggregate(name, it->second, in, what, d, &a)) {
      w->aggregates.push_back(std::move(a));
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* em = Get(e, "emit")) {
    if (!em->IsScalar() || (em->Scalar() != "final" && em->Scalar() != "updates")) {
      d->Add(Diagnostics::LocOf(*em), "emit must be 'final' or 'updates' in " + what);
      ok = false;
    } else {
      w->emit_updates = em->Scalar() == "updates";
    }
  }
  if (const YAML::Node* l = Get(e, "allowed_lateness"))
    ok &= ReadDuration(*l, "allowed_lateness of " + what, 0, d, &w->allowed_lateness_ms);
  if (const YAML::Node* t = Get(e, "state_ttl")) ok &= ReadDuration(*t, "state_ttl of " + what, 1, d, &w->state_ttl_ms);
  if (const YAML::Node* g = Get(e, "groups_max"))
    ok &= ReadUint(*g, "groups_max of " + what, 1, 1'000'000'000, d, &w->groups_max);
  if (const YAML::Node* g = Get(e, "windows_per_key_max"))
    ok &= ReadUint(*g, "windows_per_key_max of " + what, 1, 1'000'000, d, &w->windows_per_key_max);
  if (w->type == WindowDef::Type::kSliding && (w->emit_updates || w->allowed_lateness_ms != 0)) {
    d->Add(Diagnostics::LocOf(n),
           "a sliding window emits one row per event: emit and allowed_lateness do not apply in " + what);
    ok = false;
  }
  if (!ok) return false;
  // Output schema and where the partitioning key ends up.
  std::vector<Field> fields;
  out_part->partitions = part.partitions;
  out_part->key_field = -1;
  if (w->type == WindowDef::Type::kSliding) {
    fields = in.fields();
    out_part->key_field = part.key_field;
  } else {
    for (int k : w->key_fields) {
      if (k == part.key_field) out_part->key_field = static_cast<int>(fields.size());
      fields.push_back(in.field(static_cast<size_t>(k)));
    }
    fields.push_back({"window_start", FieldType::kTimestamp, false});
    fields.push_back({"window_end", FieldType::kTimestamp, false});
  }
  for (const AggregateDef& a : w->aggregates) {
    for (const Field& f : fields) {
      if (f.name == a.name) {
        d->Add(Diagnostics::LocOf(*aggs), "aggregate '" + a.name + "' clashes with an output field of " + what);
        return false;
      }
    }
    fields.push_back({a.name, a.result_type, a.nullable});
  }
  op->output = Schema(std::move(fields));
  op->window = std::move(w);
  return true;
}

bool ResolveDedup(const YAML::Node& n, const Schema& in, const PartitionInfo& part, const std::string& what,
                  Diagnostics* d, LogicalOp* op) {
  std::vector<std::pair<std::string, YAML::Node>> e;
  if (!Entries(n, what, {"key", "within", "keys_max"}, d, &e)) return false;
  auto dd = std::make_shared<DedupDef>();
  bool ok = true;
  const YAML::Node* key = Get(e, "key");
  const YAML::Node* within = Get(e, "within");
  if (key == nullptr || within == nullptr) {
    d->Add(Diagnostics::LocOf(n), what + " needs 'key' and 'within'");
    return false;
  }
  ok &= ReadKeyFields(*key, in, what, d, &dd->key_fields);
  ok &= ReadDuration(*within, "within of " + what, 1, d, &dd->within_ms);
  if (const YAML::Node* k = Get(e, "keys_max"))
    ok &= ReadUint(*k, "keys_max of " + what, 1, 1'000'000'000, d, &dd->keys_max);
  if (ok) ok &= CheckPartitioning(dd->key_fields, part, Diagnostics::LocOf(n), what, in, false, d);
  if (!ok) return false;
  op->output = in;
  op->dedup = std::move(dd);
  return true;
}

bool ResolveJoin(const YAML::Node& n, const Schema& in, const PartitionInfo& part, const LogicalPlan& plan,
                 const std::string& what, Diagnostics* d, LogicalOp* op, std::string* second_source) {
  std::vector<std::pair<std::string, YAML::Node>> e;
  if (!Entries(n, what,
               {"stream", "type", "on", "between", "window", "outer", "prefix", "state_ttl", "rows_max", "file"}, d,
               &e)) {
    return false;
  }
  auto j = std::make_shared<JoinDef>();
  const YAML::Node* stream = Get(e, "stream");
  const YAML::Node* on = Get(e, "on");
  if (stream == nullptr || !stream->IsScalar() || on == nullptr) {
    d->Add(Diagnostics::LocOf(n), what + " needs 'stream' and 'on: {left: field, right: field}'");
    return false;
  }
  j->right_stream = stream->Scalar();
  const StreamDef* right = plan.FindStream(j->right_stream);
  if (right == nullptr) {
    std::vector<std::string_view> names;
    for (const StreamDef& s : plan.streams) names.push_back(s.name);
    d->AddInScalar(*stream, 0,
                   "unknown stream '" + j->right_stream + "' in " + what + DidYouMean(j->right_stream, names));
    return false;
  }
  j->right_schema = right->schema;
  bool ok = true;
  std::vector<std::pair<std::string, YAML::Node>> on_e;
  if (!Entries(*on, "'on' of " + what, {"left", "right"}, d, &on_e) || !Get(on_e, "left") || !Get(on_e, "right")) {
    d->Add(Diagnostics::LocOf(*on), "'on' of " + what + " needs {left: field, right: field}");
    return false;
  }
  std::vector<int> lk, rk;
  ok &= ReadKeyFields(*Get(on_e, "left"), in, what, d, &lk);
  ok &= ReadKeyFields(*Get(on_e, "right"), right->schema, what + " (right side '" + right->name + "')", d, &rk);
  if (!ok) return false;
  if (lk.size() != 1 || rk.size() != 1) {
    d->Add(Diagnostics::LocOf(*on), "a join key is one field on each side in " + what);
    return false;
  }
  j->left_key = lk[0];
  j->right_key = rk[0];
  if (in.field(static_cast<size_t>(lk[0])).type != right->schema.field(static_cast<size_t>(rk[0])).type) {
    d->Add(Diagnostics::LocOf(*on), "join keys have different types in " + what);
    return false;
  }
  // Co-partitioning: partition p of the left input meets partition p of the right stream only,
  // so both must be placed by the same hash: never a connector's partitioning.
  if (part.partitions != right->options.partitions ||
      (part.partitions > 1 &&
       (part.key_field != lk[0] || right->key_field != rk[0] || part.external || right->external_partitions))) {
    d->Add(Diagnostics::LocOf(*on), what +
                                        ": both inputs must be partitioned by the join key over the same number of "
                                        "partitions (left: " +
                                        std::to_string(part.partitions) + ", right '" + right->name +
                                        "': " + std::to_string(right->options.partitions) +
                                        "); repartition first with a key_by pipeline");
    return false;
  }
  std::string type = "interval";
  if (const YAML::Node* t = Get(e, "type")) type = t->IsScalar() ? t->Scalar() : "";
  if (type == "interval") {
    j->type = JoinDef::Type::kInterval;
    if (const YAML::Node* b = Get(e, "between")) {
      if (!b->IsSequence() || b->size() != 2) {
        d->Add(Diagnostics::LocOf(*b), "between expects [lower, upper] durations (right.ts - left.ts) in " + what);
        return false;
      }
      ok &= ReadSignedDuration((*b)[0], "between of " + what, d, &j->lower_ms);
      ok &= ReadSignedDuration((*b)[1], "between of " + what, d, &j->upper_ms);
      if (ok && j->lower_ms > j->upper_ms) {
        d->Add(Diagnostics::LocOf(*b), "between's lower bound is above its upper bound in " + what);
        ok = false;
      }
    }
  } else if (type == "window") {
    j->type = JoinDef::Type::kWindow;
    const YAML::Node* win = Get(e, "window");
    if (win == nullptr) {
      d->Add(Diagnostics::LocOf(n), "a window join needs 'window: duration' in " + what);
      return false;
    }
    ok &= ReadDuration(*win, "window of " + what, 1, d, &j->window_ms);
  } else if (type == "lookup") {
    j->type = JoinDef::Type::kLookup;
  } else {
    d->Add(Diagnostics::LocOf(*Get(e, "type")), "join type must be interval, window or lookup in " + what);
    return false;
  }
  if (const YAML::Node* o = Get(e, "outer")) {
    const bool bounded_interval = j->type == JoinDef::Type::kInterval && j->upper_ms != INT64_MAX;
    if (!o->IsScalar() || (o->Scalar() != "true" && o->Scalar() != "false") ||
        (j->type != JoinDef::Type::kLookup && !bounded_interval)) {
      d->Add(Diagnostics::LocOf(*o),
             "outer: true|false applies to lookup joins and to interval joins with a finite "
             "upper bound (an unmatched row is emitted once that bound has passed), in " +
                 what);
      ok = false;
    } else {
      j->left_outer = o->Scalar() == "true";
    }
  }
  if (const YAML::Node* f = Get(e, "file")) {
    if (!f->IsScalar() || f->Scalar().empty() || j->type != JoinDef::Type::kLookup) {
      d->Add(Diagnostics::LocOf(*f), "file: path applies to lookup joins only (the table's initial rows), in " + what);
      ok = false;
    } else {
      j->table_file = f->Scalar();
    }
  }
  j->prefix = right->name + "_";
  if (const YAML::Node* p = Get(e, "prefix")) {
    // A list or mapping is a mistake, not "no prefix" (`prefix: ""` or `prefix: ~` is that).
    if (p->IsScalar() || p->IsNull()) {
      j->prefix = p->IsScalar() ? p->Scalar() : "";
    } else {
      d->Add(Diagnostics::LocOf(*p), "prefix of " + what + " is a string (\"\" for none)");
      ok = false;
    }
  }
  if (const YAML::Node* t = Get(e, "state_ttl")) ok &= ReadDuration(*t, "state_ttl of " + what, 1, d, &j->state_ttl_ms);
  if (const YAML::Node* r = Get(e, "rows_max"))
    ok &= ReadUint(*r, "rows_max of " + what, 1, 1'000'000'000, d, &j->rows_max);
  if (!ok) return false;
  std::vector<Field> fields = in.fields();
  for (const Field& f : right->schema.fields()) {
    Field g = f;
    g.name = j->prefix + f.name;
    if (j->left_outer) g.nullable = true;
    for (const Field& other : fields) {
      if (other.name == g.name) {
        d->Add(Diagnostics::LocOf(n),
               "right field '" + g.name + "' clashes with a left field in " + what + " (set another prefix)");
        return false;
      }
    }
    if (!IsValidFieldName(g.name)) {
      d->Add(Diagnostics::LocOf(n), "prefix makes an invalid field name '" + g.name + "' in " + what);
      return false;
    }
    fields.push_back(g);
  }
  op->output = Schema(std::move(fields));
  *second_source = right->name;
  op->join = std::move(j);
  return true;
}

}  // namespace

bool ParseDurationMs(std::string_view text, int64_t* ms) {
  if (text.empty()) return false;
  bool negative = false;
  if (text[0] == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || v < 0) return false;
  std::string_view unit(r.ptr, static_cast<size_t>(text.data() + text.size() - r.ptr));
  int64_t mult = 0;
  if (unit == "ms" || unit.empty())
    mult = 1;
  else if (unit == "s")
    mult = 1000;
  else if (unit == "m")
    mult = 60'000;
  else if (unit == "h")
    mult = 3'600'000;
  else if (unit == "d")
    mult = 86'400'000;
  else
    return false;
  if (v > kDurationMaxMs / mult) return false;
  *ms = (negative ? -v : v) * mult;
  return true;
}

bool ReadDuration(const YAML::Node& n, const std::string& what, int64_t min_ms, Diagnostics* d, int64_t* ms) {
  int64_t v = 0;
  if (!n.IsScalar() || !ParseDurationMs(n.Scalar(), &v) || v < min_ms) {
    d->Add(Diagnostics::LocOf(n), "expected a duration >= " + std::to_string(min_ms) +
                                      " ms such as 500ms, 10s, 5m, 2h, 7d (or an integer of ms) for " + what);
    return false;
  }
  *ms = v;
  return true;
}

bool ReadSignedDuration(const YAML::Node& n, const std::string& what, Diagnostics* d, int64_t* ms) {
  if (!n.IsScalar() || !ParseDurationMs(n.Scalar(), ms)) {
    d->Add(Diagnostics::LocOf(n), "expected a duration such as -10s or 5m for " + what);
    return false;
  }
  return true;
}

bool ReadWatermark(const YAML::Node& n, const std::string& what, Diagnostics* d, WatermarkOptions* out) {
  std::vector<std::pair<std::string, YAML::Node>> e;
  if (!Entries(n, "watermark of " + what, {"max_out_of_orderness", "idle_timeout", "idle_advance"}, d, &e)) {
    return false;
  }
  bool ok = true;
  if (const YAML::Node* m = Get(e, "max_out_of_orderness")) {
    ok &= ReadDuration(*m, "max_out_of_orderness of " + what, 0, d, &out->max_out_of_orderness_ms);
  }
  if (const YAML::Node* i = Get(e, "idle_timeout")) {
    if (i->IsScalar() && i->Scalar() == "never") {
      out->idle_timeout_ms = -1;
    } else {
      ok &= ReadDuration(*i, "idle_timeout of " + what, 1, d, &out->idle_timeout_ms);
    }
  }
  if (const YAML::Node* a = Get(e, "idle_advance")) {
    const std::string v = a->IsScalar() ? a->Scalar() : "";
    if (v == "wall_clock" || v == "siblings") {
      out->idle_advance_wall_clock = v == "wall_clock";
    } else {
      d->Add(Diagnostics::LocOf(*a), "idle_advance of " + what + " is wall_clock or siblings, not '" + v + "'");
      ok = false;
    }
  }
  if (out->idle_advance_wall_clock && out->idle_timeout_ms < 0) {
    d->Add(Diagnostics::LocOf(n),
           "watermark of " + what + ": idle_advance: wall_clock needs an idle_timeout, not never");
    ok = false;
  }
  return ok;
}

bool ResolveStatefulStep(const RawStep& step, const Schema& in, const PartitionInfo& part, const LogicalPlan& plan,
                         const std::string& what, Diagnostics* d, LogicalOp* op, PartitionInfo* out_part,
                         std::string* second_source) {
  *out_part = part;
  switch (step.kind) {
    case LogicalOp::Kind::kWindow: return ResolveWindow(step.body, in, part, what, d, op, out_part);
    case LogicalOp::Kind::kDedup: return ResolveDedup(step.body, in, part, what, d, op);
    case LogicalOp::Kind::kJoin: return ResolveJoin(step.body, in, part, plan, what, d, op, second_source);
    default: return false;
  }
}

}  // namespace impulse::plan::spec_internal
