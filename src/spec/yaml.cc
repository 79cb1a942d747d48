// Pass 1 of the spec compiler: YAML -> RawSpec, with structural validation.
#include <charconv>
#include <set>

#include "common/suggest.h"
#include "spec/internal.h"

namespace impulse::plan::spec_internal {

void Diagnostics::Add(Loc loc, std::string message) {
  if (errors_.size() >= kSpecErrorsMax) {
    ++dropped_;
    return;
  }
  errors_.push_back(SpecError{file_, loc.line, loc.column, std::move(message)});
}

void Diagnostics::AddInScalar(const YAML::Node& node, uint32_t offset, std::string message) {
  YAML::Mark m = node.Mark();
  Loc loc = LocOf(m);
  if (node.IsScalar() && m.pos >= 0) {
    const std::string& value = node.Scalar();
    size_t pos = static_cast<size_t>(m.pos);
    bool single_line = value.find('\n') == std::string::npos;
    if (single_line && offset <= value.size() && pos + value.size() <= text_.size()) {
      if (text_.substr(pos, value.size()) == value) {
        loc.column += static_cast<int>(offset);  // plain scalar
      } else if (pos + 1 + value.size() <= text_.size() && (text_[pos] == '"' || text_[pos] == '\'') &&
                 text_.substr(pos + 1, value.size()) == value) {
        loc.column += 1 + static_cast<int>(offset);  // quoted, no escapes
      }
    }
  }
  Add(loc, std::move(message));
}

void Diagnostics::AddExprDiags(const YAML::Node& node, const std::vector<ExprDiag>& diags, std::string_view context) {
  // The context goes before a trailing suggestion: "unknown field 'x' in filter of pipeline 'p'
  // (did you mean 'y'?)".
  for (const ExprDiag& d : diags) {
    std::string message = d.message;
    size_t hint = message.find(" (did you mean");
    if (hint == std::string::npos) hint = message.find(" (use ");
    message.insert(hint == std::string::npos ? message.size() : hint, context);
    AddInScalar(node, d.pos, std::move(message));
  }
}

namespace {

struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

class Reader {
 public:
  explicit Reader(Diagnostics* diags) : d_(diags) {}

  void Read(const YAML::Node& root, RawSpec* out) {
    std::vector<Entry> top;
    if (root.IsNull() || !root.IsDefined()) {
      d_->Add({1, 1}, "the spec is empty (expected 'streams' and 'pipelines')");
      return;
    }
    if (!ReadMap(root, "the spec", {"streams", "pipelines", "feature_views", "actions", "kafka", "nats"}, &top)) {
      return;
    }
    if (const Entry* k = Find(top, "kafka")) out->kafka = k->value;
    if (const Entry* n = Find(top, "nats")) out->nats = n->value;
    if (const Entry* s = Find(top, "streams")) ReadStreams(s->value, out);
    if (const Entry* v = Find(top, "feature_views")) ReadViews(v->value, out);
    if (const Entry* a = Find(top, "actions")) ReadNamed(a->value, "actions", "an action", &out->actions);
    if (const Entry* p = Find(top, "pipelines")) ReadPipelines(p->value, out);
  }

 private:
  // Reads a mapping, reporting non-mappings, non-string keys, duplicate keys and keys not in
  // `allowed` (with a suggestion). Returns false if `n` is not a mapping.
  bool ReadMap(const YAML::Node& n, const std::string& what, std::initializer_list<std::string_view> allowed,
               std::vector<Entry>* out) {
    if (!n.IsMap()) {
      d_->Add(Diagnostics::LocOf(n), "expected a mapping for " + what);
      return false;
    }
    std::vector<std::string_view> allowed_names(allowed);
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) {
        d_->Add(Diagnostics::LocOf(it->first), "keys in " + what + " must be plain strings");
        continue;
      }
      std::string key = it->first.Scalar();
      bool known = false;
      for (std::string_view a : allowed) known |= (a == key);
      if (!known) {
        d_->Add(Diagnostics::LocOf(it->first), "unknown key '" + key + "' in " + what + DidYouMean(key, allowed_names));
        continue;
      }
      if (Find(*out, key) != nullptr) {
        d_->Add(Diagnostics::LocOf(it->first), "duplicate key '" + key + "' in " + what);
        continue;
      }
      out->push_back(Entry{key, it->first, it->second});
    }
    return true;
  }

  static const Entry* Find(const std::vector<Entry>& entries, std::string_view key) {
    for (const Entry& e : entries) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }

  bool String(const YAML::Node& n, const std::string& what, std::string* out) {
    if (!n.IsScalar() || n.Scalar().empty()) {
      d_->Add(Diagnostics::LocOf(n), "expected a non-empty string for " + what);
      return false;
    }
    *out = n.Scalar();
    return true;
  }

  bool Int(const YAML::Node& n, const std::string& what, int64_t lo, int64_t hi, int64_t* out) {
    Result<int64_t> v = ReadYamlInt(n, what, lo, hi);
    if (!v.ok()) {
      d_->Add(Diagnostics::LocOf(n), v.status().message());
      return false;
    }
    *out = *v;
    return true;
  }

  bool Sequence(const YAML::Node& n, const std::string& what, size_t max) {
    if (!n.IsSequence()) {
      d_->Add(Diagnostics::LocOf(n), "expected a list for " + what);
      return false;
    }
    if (n.size() > max) {
      d_->Add(Diagnostics::LocOf(n),
              what + " has " + std::to_string(n.size()) + " entries (limit " + std::to_string(max) + ")");
      return false;
    }
    return true;
  }

  void ReadStreams(const YAML::Node& n, RawSpec* out) {
    if (!Sequence(n, "streams", kSpecStreamsMax)) return;
    for (const YAML::Node& s : n) ReadStream(s, out);
  }

  void ReadStream(const YAML::Node& n, RawSpec* out) {
    std::vector<Entry> e;
    if (!ReadMap(n, "a stream",
                 {"name", "fields", "key", "event_time", "partitions", "retention", "segment_bytes", "watermark"},
                 &e)) {
      return;
    }
    RawStream rs;
    rs.loc = Diagnostics::LocOf(n);
    const Entry* name = Find(e, "name");
    if (name == nullptr) {
      d_->Add(rs.loc, "stream without a 'name'");
      return;
    }
    if (!String(name->value, "the stream name", &rs.def.name)) return;
    std::string what = "stream '" + rs.def.name + "'";
    // `ok` false: the stream is not registered (duplicates, unusable schema). Errors in keys and
    // options are reported but the stream is still registered, so pipelines reading it are
    // checked too instead of failing with "unknown stream".
    bool ok = true;
    if (!IsValidStreamName(rs.def.name)) {
      d_->Add(Diagnostics::LocOf(name->value),
              "invalid stream name '" + rs.def.name +
                  "' (use [A-Za-z0-9_.-], at most 128, not starting with '_', not . or ..)");
    }
    for (const RawStream& other : out->streams) {
      if (other.def.name == rs.def.name) {
        d_->Add(Diagnostics::LocOf(name->value), "duplicate stream '" + rs.def.name + "' (first declared at line " +
                                                     std::to_string(other.loc.line) + ")");
        ok = false;
      }
    }
    const Entry* fields = Find(e, "fields");
    if (fields == nullptr) {
      d_->Add(rs.loc, what + " has no 'fields'");
      return;
    }
    ok &= ReadFields(fields->value, what, &rs.def);
    if (!ok) return;
    if (const Entry* k = Find(e, "key")) ResolveStreamField(k->value, what, "key", &rs.def, &rs.def.key_field);
    if (const Entry* t = Find(e, "event_time")) {
      if (ResolveStreamField(t->value, what, "event_time", &rs.def, &rs.def.time_field)) {
        FieldType ft = rs.def.schema.field(static_cast<size_t>(rs.def.time_field)).type;
        if (ft != FieldType::kTimestamp && ft != FieldType::kInt64) {
          d_->Add(Diagnostics::LocOf(t->value), "event_time field '" + t->value.Scalar() +
                                                    "' must be timestamp or int64, not " +
                                                    std::string(FieldTypeName(ft)));
          ok = false;
        }
      } else {
        ok = false;
      }
    }
    int64_t v = 0;
    if (const Entry* p = Find(e, "partitions")) {
      if (Int(p->value, what + " partitions", 1, kSpecPartitionsMax, &v)) {
        rs.def.options.partitions = static_cast<uint32_t>(v);
      } else {
        ok = false;
      }
    }
    if (const Entry* sb = Find(e, "segment_bytes")) {
      if (Int(sb->value, what + " segment_bytes", 4096, int64_t{1} << 40, &v)) {
        rs.def.options.segment_bytes_max = static_cast<uint64_t>(v);
      } else {
        ok = false;
      }
    }
    if (const Entry* r = Find(e, "retention")) {
      std::vector<Entry> re;
      if (ReadMap(r->value, what + " retention", {"bytes", "ms"}, &re)) {
        if (const Entry* b = Find(re, "bytes")) {
          ok &= Int(b->value, what + " retention bytes", 1, INT64_MAX, &rs.def.options.retention_bytes);
        }
        if (const Entry* ms = Find(re, "ms")) {
          ok &= Int(ms->value, what + " retention ms", 1, INT64_MAX, &rs.def.options.retention_ms);
        }
      } else {
        ok = false;
      }
    }
    if (const Entry* w = Find(e, "watermark")) ReadWatermark(w->value, what, d_, &rs.def.watermark);
    out->streams.push_back(std::move(rs));
  }

  bool ReadFields(const YAML::Node& n, const std::string& what, StreamDef* def) {
    if (!Sequence(n, what + " fields", kSpecFieldsMax)) return false;
    if (n.size() == 0) {
      d_->Add(Diagnostics::LocOf(n), what + " has no fields");
      return false;
    }
    std::vector<Field> fields;
    bool ok = true;
    for (const YAML::Node& f : n) {
      std::vector<Entry> e;
      if (!ReadMap(f, "a field of " + what, {"name", "type", "nullable"}, &e)) {
        ok = false;
        continue;
      }
      Field field;
      const Entry* name = Find(e, "name");
      const Entry* type = Find(e, "type");
      if (name == nullptr || type == nullptr) {
        d_->Add(Diagnostics::LocOf(f), "a field of " + what + " needs 'name' and 'type'");
        ok = false;
        continue;
      }
      if (!String(name->value, "a field name", &field.name)) {
        ok = false;
        continue;
      }
      if (!IsValidFieldName(field.name)) {
        d_->Add(Diagnostics::LocOf(name->value), "invalid field name '" + field.name + "' (use an identifier)");
        ok = false;
      }
      for (const Field& other : fields) {
        if (other.name == field.name) {
          d_->Add(Diagnostics::LocOf(name->value), "duplicate field '" + field.name + "' in " + what);
          ok = false;
        }
      }
      std::string type_name;
      if (String(type->value, "a field type", &type_name)) {
        std::optional<FieldType> ft = ParseFieldType(type_name);
        if (!ft) {
          d_->Add(Diagnostics::LocOf(type->value),
                  "unknown type '" + type_name + "' for field '" + field.name + "'" +
                      DidYouMean(type_name, {"int64", "double", "bool", "string", "timestamp"}) +
                      " (types: int64, double, bool, string, timestamp)");
          ok = false;
        } else {
          field.type = *ft;
        }
      } else {
        ok = false;
      }
      if (const Entry* nl = Find(e, "nullable")) {
        const std::string s = nl->value.IsScalar() ? nl->value.Scalar() : "";
        if (s != "true" && s != "false") {
          d_->Add(Diagnostics::LocOf(nl->value), "expected true or false for 'nullable'");
          ok = false;
        }
        field.nullable = s == "true";
      }
      fields.push_back(std::move(field));
    }
    def->schema = Schema(std::move(fields));
    return ok;
  }

  bool ResolveStreamField(const YAML::Node& n, const std::string& what, const std::string& key, StreamDef* def,
                          int* index) {
    std::string name;
    if (!String(n, what + " " + key, &name)) return false;
    int idx = def->schema.FieldIndex(name);
    if (idx < 0) {
      std::vector<std::string_view> names;
      for (const Field& f : def->schema.fields()) names.push_back(f.name);
      d_->Add(Diagnostics::LocOf(n), "unknown field '" + name + "' in " + what + DidYouMean(name, names));
      return false;
    }
    *index = idx;
    return true;
  }

  // Feature views are resolved against the step that computes them (pass 2); here only their
  // names are checked.
  void ReadViews(const YAML::Node& n, RawSpec* out) {
    if (!Sequence(n, "feature_views", kSpecPipelinesMax)) return;
    for (const YAML::Node& v : n) {
      if (!v.IsMap()) {
        d_->Add(Diagnostics::LocOf(v), "expected a mapping for a feature view");
        continue;
      }
      const YAML::Node name = v["name"];
      RawView rv;
      rv.loc = Diagnostics::LocOf(v);
      if (!name || !String(name, "the feature view name", &rv.name)) {
        if (!name) d_->Add(rv.loc, "feature view without a 'name'");
        continue;
      }
      if (!IsValidStreamName(rv.name)) {
        d_->Add(Diagnostics::LocOf(name),
                "invalid feature view name '" + rv.name +
                    "' (use [A-Za-z0-9_.-], at most 128, not starting with '_', not . or ..)");
        continue;
      }
      bool dup = false;
      for (const RawView& other : out->views) dup |= other.name == rv.name;
      if (dup) {
        d_->Add(Diagnostics::LocOf(name), "duplicate feature view '" + rv.name + "'");
        continue;
      }
      rv.body = v;
      out->views.push_back(std::move(rv));
    }
  }

  // Top-level named entries resolved in pass 2 (actions): names checked here.
  void ReadNamed(const YAML::Node& n, const std::string& list, const std::string& what, std::vector<RawView>* out) {
    if (!Sequence(n, list, kSpecPipelinesMax)) return;
    for (const YAML::Node& v : n) {
      if (!v.IsMap()) {
        d_->Add(Diagnostics::LocOf(v), "expected a mapping for " + what);
        continue;
      }
      const YAML::Node name = v["name"];
      RawView rv;
      rv.loc = Diagnostics::LocOf(v);
      if (!name || !String(name, "the name of " + what, &rv.name)) {
        if (!name) d_->Add(rv.loc, what + " without a 'name'");
        continue;
      }
      if (!IsValidStreamName(rv.name)) {
        d_->Add(Diagnostics::LocOf(name), "invalid name '" + rv.name + "' for " + what +
                                              " (use [A-Za-z0-9_.-], at most 128, not starting with '_', not . or ..)");
        continue;
      }
      bool dup = false;
      for (const RawView& other : *out) dup |= other.name == rv.name;
      if (dup) {
        d_->Add(Diagnostics::LocOf(name), "duplicate " + what + " '" + rv.name + "'");
        continue;
      }
      rv.body = v;
      out->push_back(std::move(rv));
    }
  }

  void ReadPipelines(const YAML::Node& n, RawSpec* out) {
    if (!Sequence(n, "pipelines", kSpecPipelinesMax)) return;
    for (const YAML::Node& p : n) ReadPipeline(p, out);
  }

  void ReadPipeline(const YAML::Node& n, RawSpec* out) {
    std::vector<Entry> e;
    if (!ReadMap(n, "a pipeline", {"name", "from", "steps", "sink"}, &e)) return;
    RawPipeline rp;
    rp.loc = Diagnostics::LocOf(n);
    const Entry* name = Find(e, "name");
    if (name == nullptr) {
      d_->Add(rp.loc, "pipeline without a 'name'");
      return;
    }
    if (!String(name->value, "the pipeline name", &rp.name)) return;
    std::string what = "pipeline '" + rp.name + "'";
    if (!IsValidStreamName(rp.name)) {
      d_->Add(Diagnostics::LocOf(name->value),
              "invalid pipeline name '" + rp.name +
                  "' (use [A-Za-z0-9_.-], at most 128, not starting with '_', not . or ..)");
    }
    for (const RawPipeline& other : out->pipelines) {
      if (other.name == rp.name) {
        d_->Add(Diagnostics::LocOf(name->value),
                "duplicate pipeline '" + rp.name + "' (first declared at line " + std::to_string(other.loc.line) + ")");
      }
    }
    const Entry* from = Find(e, "from");
    if (from == nullptr) {
      d_->Add(rp.loc, what + " has no 'from'");
    } else if (String(from->value, what + " 'from'", &rp.from)) {
      rp.from_loc = Diagnostics::LocOf(from->value);
    }
    if (const Entry* steps = Find(e, "steps")) {
      if (!steps->value.IsNull() && Sequence(steps->value, what + " steps", kSpecStepsMax)) {
        for (const YAML::Node& s : steps->value) ReadStep(s, what, &rp);
      }
    }
    const Entry* sink = Find(e, "sink");
    if (sink == nullptr) {
      d_->Add(rp.loc, what + " has no 'sink'");
    } else {
      rp.sink_ok = ReadSink(sink->value, what, &rp);
    }
    out->pipelines.push_back(std::move(rp));
  }

  bool ReadSink(const YAML::Node& n, const std::string& what, RawPipeline* rp) {
    std::vector<Entry> e;
    rp->sink_loc = Diagnostics::LocOf(n);
    if (!ReadMap(n, what + " sink", {"stream", "file", "stdout"}, &e)) return false;
    if (e.size() != 1) {
      d_->Add(rp->sink_loc, what + " sink needs exactly one of 'stream', 'file' or 'stdout'");
      return false;
    }
    const Entry& s = e[0];
    if (s.key == "stdout") {
      if (!s.value.IsScalar() || s.value.Scalar() != "true") {
        d_->Add(Diagnostics::LocOf(s.value), "expected 'stdout: true'");
        return false;
      }
      rp->sink.kind = SinkDef::Kind::kStdout;
      return true;
    }
    if (!String(s.value, what + " sink " + s.key, &rp->sink.target)) return false;
    rp->sink_loc = Diagnostics::LocOf(s.value);
    if (s.key == "file") {
      rp->sink.kind = SinkDef::Kind::kFile;
      return true;
    }
    rp->sink.kind = SinkDef::Kind::kStream;
    if (!IsValidStreamName(rp->sink.target)) {
      d_->Add(rp->sink_loc, "invalid stream name '" + rp->sink.target +
                                "' (use [A-Za-z0-9_.-], at most 128, not starting with '_', not . or ..)");
      return false;
    }
    return true;
  }

  void ReadStep(const YAML::Node& n, const std::string& what, RawPipeline* rp) {
    std::vector<Entry> e;
    if (!ReadMap(n, "a step of " + what,
                 {"filter", "map", "project", "key_by", "window", "dedup", "join", "lookup", "rank", "features",
                  "predict", "trigger"},
                 &e)) {
      return;
    }
    if (e.size() != 1) {
      if (!e.empty()) {
        d_->Add(Diagnostics::LocOf(n),
                "a step has exactly one of filter, map, project, key_by, window, dedup, join, lookup, rank, "
                "features, predict or trigger");
      }
      return;
    }
    const Entry& s = e[0];
    RawStep step;
    step.loc = Diagnostics::LocOf(s.key_node);
    if (s.key == "window" || s.key == "dedup" || s.key == "join" || s.key == "lookup" || s.key == "rank" ||
        s.key == "predict" || s.key == "trigger") {
      step.lookup = s.key == "lookup" || s.key == "rank";
      step.rank = s.key == "rank";
      step.kind = s.key == "window"                                         ? LogicalOp::Kind::kWindow
                  : s.key == "dedup"                                        ? LogicalOp::Kind::kDedup
                  : s.key == "join" || s.key == "lookup" || s.key == "rank" ? LogicalOp::Kind::kJoin
                  : s.key == "predict"                                      ? LogicalOp::Kind::kPredict
                                                                            : LogicalOp::Kind::kTrigger;
      step.body = s.value;
    } else if (s.key == "filter") {
      step.kind = LogicalOp::Kind::kFilter;
      RawExpr x;
      if (!String(s.value, "filter", &x.text)) return;
      x.node = s.value;
      step.exprs.push_back(std::move(x));
    } else if (s.key == "features") {
      step.kind = LogicalOp::Kind::kFeatures;
      if (!String(s.value, "features (a feature view name)", &step.key_field)) return;
      step.key_node = s.value;
    } else if (s.key == "key_by") {
      step.kind = LogicalOp::Kind::kKeyBy;
      if (!String(s.value, "key_by", &step.key_field)) return;
      step.key_node = s.value;
    } else {
      step.kind = s.key == "map" ? LogicalOp::Kind::kMap : LogicalOp::Kind::kProject;
      if (step.kind == LogicalOp::Kind::kProject && s.value.IsSequence()) {
        if (!Sequence(s.value, "project", kSpecFieldsMax)) return;
        for (const YAML::Node& f : s.value) {
          RawExpr x;
          if (!String(f, "a project field", &x.text)) continue;
          x.name = x.text;
          x.name_loc = Diagnostics::LocOf(f);
          x.node = f;
          x.is_field_ref = true;
          step.exprs.push_back(std::move(x));
        }
      } else if (!s.value.IsMap()) {
        d_->Add(Diagnostics::LocOf(s.value),
                s.key == "map" ? "map expects a mapping of field: expression"
                               : "project expects a list of fields or a mapping of field: expression");
        return;
      } else {
        if (s.value.size() > kSpecFieldsMax) {
          d_->Add(Diagnostics::LocOf(s.value), s.key + " has too many fields");
          return;
        }
        std::vector<Entry> fields;
        // Allowed keys are free-form here: collect them without the allow-list.
        for (auto it = s.value.begin(); it != s.value.end(); ++it) {
          RawExpr x;
          if (!String(it->first, s.key + " field name", &x.name)) continue;
          x.name_loc = Diagnostics::LocOf(it->first);
          bool dup = false;
          for (const RawExpr& other : step.exprs) dup |= other.name == x.name;
          if (dup) {
            d_->Add(x.name_loc, "duplicate field '" + x.name + "' in " + s.key);
            continue;
          }
          if (!IsValidFieldName(x.name)) {
            d_->Add(x.name_loc, "invalid field name '" + x.name + "' (use an identifier)");
            continue;
          }
          if (!String(it->second, "the expression of '" + x.name + "'", &x.text)) continue;
          x.node = it->second;
          step.exprs.push_back(std::move(x));
        }
      }
    }
    rp->steps.push_back(std::move(step));
  }

  Diagnostics* d_;
};

}  // namespace

void ReadSpec(std::string_view yaml_text, Diagnostics* diags, RawSpec* out) {
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    Reader reader(diags);
    reader.Read(root, out);
  } catch (const YAML::Exception& e) {
    diags->Add(Diagnostics::LocOf(e.mark), "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    diags->Add({0, 0}, std::string("invalid YAML: ") + e.what());
  }
}

}  // namespace impulse::plan::spec_internal
