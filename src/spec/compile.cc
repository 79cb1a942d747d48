// Pass 2 of the spec compiler: resolves pipelines into the logical plan, and the public entry
// points.
#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/suggest.h"
#include "expr/check.h"
#include "spec/internal.h"

namespace impulse::plan {

std::string SpecError::ToString() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

bool IsValidStreamName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '_') return false;
  // Names are directories of the data directory: these two would be it or its parent.
  if (name == "." || name == "..") return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsValidFieldName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') || name[0] == '_')) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

namespace spec_internal {
namespace {

std::string FieldDesc(const Field& f) {
  return "'" + f.name + " " + std::string(FieldTypeName(f.type)) + (f.nullable ? " nullable" : "") + "'";
}

// Describes the first difference between two schemas, or "" when equal.
std::string SchemaDiff(const Schema& got, const Schema& want) {
  for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    if (i >= got.size()) return "missing field " + FieldDesc(want.field(i)) + " at position " + std::to_string(i + 1);
    if (i >= want.size()) return "extra field " + FieldDesc(got.field(i)) + " at position " + std::to_string(i + 1);
    if (!(got.field(i) == want.field(i))) {
      return "field " + std::to_string(i + 1) + " is " + FieldDesc(got.field(i)) + ", the stream declares " +
             FieldDesc(want.field(i));
    }
  }
  return "";
}

class Resolver {
 public:
  Resolver(RawSpec& raw, Diagnostics* d, LogicalPlan* plan) : raw_(raw), d_(d), plan_(plan) {}

  void Run() {
    for (RawStream& s : raw_.streams) {
      declared_.insert(s.def.name);
      plan_->streams.push_back(s.def);
    }
    ResolveActions(raw_.actions, d_, plan_);
    const bool kafka = raw_.kafka.IsDefined() && !raw_.kafka.IsNull();
    if (kafka) ResolveKafkaSources(raw_.kafka, d_, plan_);
    // Which pipeline writes which stream (for chains and cycle detection).
    for (size_t i = 0; i < raw_.pipelines.size(); ++i) {
      const RawPipeline& p = raw_.pipelines[i];
      if (p.sink_ok && p.sink.kind == SinkDef::Kind::kStream) writers_[p.sink.target].push_back(i);
      for (const RawStep& step : p.steps) {
        if (step.kind == LogicalOp::Kind::kFeatures) view_writers_.emplace(step.key_field, i);
      }
    }
    state_.assign(raw_.pipelines.size(), kUnvisited);
    for (size_t i = 0; i < raw_.pipelines.size(); ++i) Visit(i);
    for (const RawView& v : raw_.views) {
      if (views_used_.count(v.name) == 0 && d_->empty()) {
        d_->Add(v.loc, "feature view '" + v.name +
                           "' is not computed by any pipeline: add a step "
                           "'- features: " +
                           v.name + "' to the pipeline reading its source");
      }
    }
    if (kafka) ResolveKafkaSinks(raw_.kafka, d_, plan_);
    if (raw_.nats.IsDefined() && !raw_.nats.IsNull()) ResolveNats(raw_.nats, d_, plan_);
  }

 private:
  enum State { kUnvisited, kVisiting, kDone, kFailed };

  // Depth-first over "reads a stream written by": resolves producers first, reports cycles.
  // Returns false when the pipeline (or a producer) failed, so readers skip follow-on errors.
  bool Visit(size_t i) {
    if (state_[i] == kDone) return true;
    if (state_[i] == kFailed) return false;
    RawPipeline& p = raw_.pipelines[i];
    if (state_[i] == kVisiting) {
      std::string path;
      bool in_cycle = false;
      for (size_t j : stack_) {
        in_cycle |= j == i;
        if (in_cycle) path += raw_.pipelines[j].name + " -> ";
      }
      d_->Add(p.from_loc, "pipelines form a cycle: " + path + p.name);
      state_[i] = kFailed;
      return false;
    }
    state_[i] = kVisiting;
    stack_.push_back(i);
    bool ok = true;
    auto w = writers_.find(p.from);
    if (w != writers_.end()) {
      for (size_t j : w->second) ok &= Visit(j);
    }
    // A lookup reads the stream of the pipeline computing its view: that one first.
    for (const RawStep& step : p.steps) {
      auto v = step.lookup ? view_writers_.find(LookupViewName(step)) : view_writers_.end();
      if (v != view_writers_.end() && v->second != i) ok &= Visit(v->second);
    }
    stack_.pop_back();
    if (state_[i] == kFailed) return false;  // reported as part of a cycle meanwhile
    ok = ok && Resolve(p);
    state_[i] = ok ? kDone : kFailed;
    return ok;
  }

  // The `view:` of a lookup step's body, or "" (reported when the step is resolved).
  static std::string LookupViewName(const RawStep& step) {
    if (!step.body.IsMap()) return "";
    const YAML::Node v = step.body["view"];
    return v && v.IsScalar() ? v.Scalar() : "";
  }

  // A `lookup:` step of a list of keys (`keys:`): resolved like `rank`, without a model.
  static bool IsListLookup(const RawStep& step) {
    return step.lookup && !step.rank && step.body.IsMap() && step.body["keys"];
  }

  // A `lookup:` step: finds the view and the stream its pipeline writes, then resolves the
  // step against them. False after reporting errors (or when the view's pipeline failed).
  bool ResolveLookup(const RawStep& step, const RawPipeline& p, const Schema& schema, const PartitionInfo& part,
                     const std::string& what, LogicalOp* op, std::string* second_source) {
    const std::string name = LookupViewName(step);
    if (name.empty()) {
      d_->Add(step.loc, "a lookup needs 'view: NAME' (a feature view computed by another pipeline) in " + what);
      return false;
    }
    const YAML::Node view_node = step.body["view"];
    std::vector<std::string_view> view_names;
    bool declared = false;
    for (const RawView& v : raw_.views) {
      view_names.push_back(v.name);
      declared |= v.name == name;
    }
    if (!declared) {
      d_->AddInScalar(view_node, 0, "unknown feature view '" + name + "' in " + what + DidYouMean(name, view_names));
      return false;
    }
    auto writer = view_writers_.find(name);
    if (writer == view_writers_.end()) return false;  // reported: the view is computed by no pipeline
    const RawPipeline& vp = raw_.pipelines[writer->second];
    if (vp.name == p.name) {
      d_->Add(Diagnostics::LocOf(view_node), "feature view '" + name + "' is computed by pipeline '" + p.name +
                                                 "' itself: read its features from the step's output instead of "
                                                 "looking them up");
      return false;
    }
    const LogicalPipeline* computed = nullptr;
    for (const LogicalPipeline& lp : plan_->pipelines) {
      if (lp.name == vp.name) computed = &lp;
    }
    if (computed == nullptr) return false;  // the view's pipeline failed and said why
    if (computed->sink.kind != SinkDef::Kind::kStream) {
      d_->Add(Diagnostics::LocOf(view_node),
              "feature view '" + name + "' is computed by pipeline '" + vp.name +
                  "', whose sink is not a stream: a lookup reads the view's values from the stream that pipeline "
                  "writes (sink: {stream: ...})");
      return false;
    }
    // Every row of that stream is read as a version of the view: another writer's rows would be
    // taken for the view's values.
    if (auto w = writers_.find(computed->sink.target); w != writers_.end()) {
      for (size_t i : w->second) {
        if (raw_.pipelines[i].name == vp.name) continue;
        d_->Add(Diagnostics::LocOf(view_node), "stream '" + computed->sink.target + "', where pipeline '" + vp.name +
                                                   "' writes the versions of view '" + name +
                                                   "', is also written by pipeline '" + raw_.pipelines[i].name +
                                                   "': a lookup would read its rows as the view's values");
        return false;
      }
    }
    std::shared_ptr<const FeatureViewDef> view;
    for (const auto& v : plan_->feature_views) {
      if (v->name == name) view = v;
    }
    if (view == nullptr) return false;
    if (step.rank || IsListLookup(step)) {
      return ResolveRank(step.body, schema, *plan_, *view, vp.name, what, d_, op, second_source,
                         /*list_lookup=*/!step.rank);
    }
    return ResolveViewLookup(step.body, schema, part, *plan_, *view, vp.name, what, d_, op, second_source);
  }

  void ExprError(const RawExpr& x, const std::vector<ExprDiag>& diags, const std::string& what) {
    d_->AddExprDiags(x.node, diags, " in " + what);
  }

  // Resolves one pipeline whose producers are resolved. Returns false after reporting errors.
  bool Resolve(const RawPipeline& p) {
    pending_streams_.clear();
    if (p.from.empty()) return false;
    const std::string what = "pipeline '" + p.name + "'";
    const StreamDef* source = plan_->FindStream(p.from);
    if (source == nullptr) {
      if (writers_.count(p.from) != 0) return false;  // its producer failed and said why
      std::vector<std::string_view> names;
      for (const StreamDef& s : plan_->streams) names.push_back(s.name);
      d_->Add(p.from_loc, "unknown source stream '" + p.from + "' in " + what + DidYouMean(p.from, names));
      return false;
    }
    if (decision_logs_.count(p.from) != 0) {
      d_->Add(p.from_loc, what + " reads decision log '" + p.from +
                              "': decision logs are read through "
                              "GET /v1/decisions and `impulse decisions`, not yet by pipelines");
      return false;
    }
    if (published_.count(p.from) != 0) {
      d_->Add(p.from_loc, what + " reads '" + p.from +
                              "', which a trigger publishes to: published streams are read "
                              "through GET /v1/streams, not yet by pipelines (they carry no watermark)");
      return false;
    }
    LogicalPipeline lp;
    lp.name = p.name;
    lp.source = p.from;
    Schema schema = source->schema;
    int key = source->key_field, time = source->time_field;
    bool key_by_set = false;
    bool ok = true;
    // Which field the task's rows are partitioned by (followed through pass-through steps;
    // key_by changes the output's partitioning, not the input's).
    PartitionInfo part{source->key_field, source->options.partitions, source->external_partitions};
    // A connector fills partition k from its partition k, not by the engine's key hash.
    if (source->external_partitions && !source->external_by_key) part.key_field = -1;
    size_t position = 0;
    // After a step fails, the fields it would have produced are unknown: later steps' "unknown
    // field" errors about them would only repeat that failure, so they are not reported (the
    // root error is, once). A failed window, join, dedup, features or predict step leaves the
    // whole schema unknown; a failed map or project expression, the one field it names.
    bool schema_unknown = false;
    std::set<std::string> poisoned;
    for (const RawStep& step : p.steps) {
      const size_t errors_before = d_->errors().size();
      const bool suppress_all = schema_unknown;
      const std::set<std::string> poisoned_before = poisoned;
      LogicalOp op;
      op.kind = step.kind;
      op.input = schema;
      op.label = std::string(LogicalOpKindName(step.kind)) + "#" + std::to_string(++position);
      switch (step.kind) {
        case LogicalOp::Kind::kWindow:
        case LogicalOp::Kind::kDedup:
        case LogicalOp::Kind::kJoin: {
          const std::string step_what = op.label + " of " + what;
          if (step.kind == LogicalOp::Kind::kJoin && !lp.second_source.empty()) {
            d_->Add(step.loc, "at most one join or lookup per pipeline (" + what + "); chain pipelines for more");
            ok = false;
            break;
          }
          if (step.lookup) {
            op.label = (step.rank ? "rank#" : "lookup#") + std::to_string(position);
            if (!ResolveLookup(step, p, schema, part, op.label + " of " + what, &op, &lp.second_source)) {
              ok = false;
              schema_unknown = true;
              break;
            }
            lp.second_broadcast = op.join->broadcast;
            schema = op.output;  // the partitioning is the input's
            break;
          }
          PartitionInfo out_part;
          if (!ResolveStatefulStep(step, schema, part, *plan_, step_what, d_, &op, &out_part, &lp.second_source)) {
            ok = false;
            schema_unknown = true;
            break;
          }
          schema = op.output;
          out_part.external = part.external;  // same tasks, same partitions
          part = out_part;
          if (step.kind == LogicalOp::Kind::kWindow && op.window->type != WindowDef::Type::kSliding) {
            // The window's output: key fields first, event time = window_end - 1 (in the row's meta).
            key = part.key_field;
            time = -1;
            if (key_by_set) {
              d_->Add(
                  step.loc,
                  "key_by before a window is lost: the window outputs its key fields; put key_by after it in " + what);
              ok = false;
            }
          }
          break;
        }
        case LogicalOp::Kind::kFeatures: {
          const RawView* view = nullptr;
          std::vector<std::string_view> view_names;
          for (const RawView& v : raw_.views) {
            view_names.push_back(v.name);
            if (v.name == step.key_field) view = &v;
          }
          if (view == nullptr) {
            d_->AddInScalar(
                step.key_node, 0,
                "unknown feature view '" + step.key_field + "' in " + what + DidYouMean(step.key_field, view_names));
            ok = false;
            break;
          }
          if (!views_used_.insert(view->name).second) {
            d_->Add(step.loc, "feature view '" + view->name +
                                  "' is computed by another step already; a view is "
                                  "computed once (read its values downstream of that step)");
            ok = false;
            break;
          }
          if (!ResolveFeatures(view->body, view->name, schema, part, p.from, op.label + " of " + what, d_, &op)) {
            ok = false;
            schema_unknown = true;
            break;
          }
          schema = op.output;
          plan_->feature_views.push_back(op.features);
          break;
        }
        case LogicalOp::Kind::kPredict: {
          if (!ResolvePredict(step, schema, p.from, op.label + " of " + what, d_, &op)) {
            ok = false;
            schema_unknown = true;
            break;
          }
          const std::string& log = op.predict->decision_log;
          if (!log.empty()) {
            if (!lp.decision_log.empty() && lp.decision_log != log) {
              d_->Add(step.loc, "the predict steps of " + what + " write one decision log; this one names '" + log +
                                    "', an earlier one '" + lp.decision_log + "'");
              ok = false;
              break;
            }
            if (log == p.from || (p.sink.kind == SinkDef::Kind::kStream && log == p.sink.target)) {
              d_->Add(step.loc, "decision_log '" + log + "' of " + what + " must be a stream of its own");
              ok = false;
              break;
            }
            if (lp.decision_log.empty()) lp.side_streams.push_back(log);
            lp.decision_log = log;
            auto def = std::make_shared<PredictDef>(*op.predict);
            for (size_t k = 0; k < lp.side_streams.size(); ++k) {
              if (lp.side_streams[k] == log) def->decision_side = static_cast<int>(k);
            }
            op.predict = std::move(def);
          }
          schema = op.output;
          break;
        }
        case LogicalOp::Kind::kTrigger: {
          if (!ResolveTrigger(step, schema, *plan_, p.from, op.label + " of " + what, d_, &op) ||
              !AddTriggerStreams(step, p, &lp, &op)) {
            ok = false;
            break;
          }
          // The rule prefixes the firing ids (idempotency keys): two rules of one name would
          // make two firings of one event indistinguishable.
          if (!rules_.insert(op.trigger->rule).second) {
            d_->Add(step.loc,
                    "trigger rule name '" + op.trigger->rule + "' is used twice (firing ids are rule/event id)");
            ok = false;
          }
          break;
        }
        case LogicalOp::Kind::kFilter: {
          std::vector<ExprDiag> diags;
          ExprPtr e = ParseAndCheck(step.exprs[0].text, schema, &diags);
          if (e && e->type != ExprType::kBool) {
            diags.push_back({0, "a filter must be bool, got " + std::string(ExprTypeName(e->type))});
            e.reset();
          }
          if (!e) {
            ExprError(step.exprs[0], diags, "filter of " + what);
            ok = false;
            break;
          }
          op.predicate = std::move(e);
          break;
        }
        case LogicalOp::Kind::kMap:
        case LogicalOp::Kind::kProject: {
          bool is_map = step.kind == LogicalOp::Kind::kMap;
          std::vector<Field> fields = is_map ? schema.fields() : std::vector<Field>{};
          int new_key = is_map ? key : -1, new_time = is_map ? time : -1;
          int new_part = is_map ? part.key_field : -1;
          for (const RawExpr& x : step.exprs) {
            ExprPtr e = x.is_field_ref ? FieldRef(x, schema, what) : CheckNamed(x, schema, what);
            if (!e) {
              ok = false;
              poisoned.insert(x.name);
              continue;
            }
            Field f{x.name, ToFieldType(e->type), e->nullable};
            bool passthrough = e->kind == ExprKind::kField;
            if (is_map) {
              int existing = -1;
              for (size_t i = 0; i < fields.size(); ++i) {
                if (fields[i].name == x.name) existing = static_cast<int>(i);
              }
              if (existing >= 0) {
                if (existing == part.key_field && !(passthrough && e->field_index == part.key_field))
                  part.key_field = -1;
                fields[static_cast<size_t>(existing)] = f;  // replaced in place: no longer the key/time
                if (existing == new_key && !(passthrough && e->field_index == key)) new_key = -1;
                if (existing == new_time && !(passthrough && e->field_index == time)) new_time = -1;
              } else {
                fields.push_back(f);
              }
            } else {
              bool dup = false;
              for (const Field& other : fields) dup |= other.name == x.name;
              if (dup) {
                d_->Add(x.name_loc, "duplicate field '" + x.name + "' in project of " + what);
                ok = false;
                continue;
              }
              if (passthrough && e->field_index == key && new_key < 0) new_key = static_cast<int>(fields.size());
              if (passthrough && e->field_index == part.key_field && new_part < 0)
                new_part = static_cast<int>(fields.size());
              if (passthrough && e->field_index == time && new_time < 0) new_time = static_cast<int>(fields.size());
              fields.push_back(f);
            }
            op.exprs.push_back(NamedExpr{x.name, std::move(e)});
          }
          if (fields.size() > kSpecFieldsMax) {
            d_->Add(step.loc, "too many fields in " + what);
            ok = false;
          }
          if (fields.empty()) {
            d_->Add(step.loc, "project of " + what + " keeps no fields");
            ok = false;
          }
          schema = Schema(std::move(fields));
          if (key_by_set && new_key < 0 && key >= 0) {
            d_->Add(step.loc, "the key field set by key_by is dropped or replaced here in " + what);
            ok = false;
          }
          key = new_key;
          time = new_time;
          if (!is_map) part.key_field = new_part;
          break;
        }
        case LogicalOp::Kind::kKeyBy: {
          int idx = schema.FieldIndex(step.key_field);
          if (idx < 0) {
            d_->AddInScalar(step.key_node, 0,
                            "unknown field '" + step.key_field + "' in key_by of " + what +
                                DidYouMean(step.key_field, Names(schema)));
            ok = false;
            break;
          }
          key = idx;
          key_by_set = true;
          op.key_field = step.key_field;
          break;
        }
      }
      if (suppress_all || !poisoned_before.empty()) {
        std::vector<SpecError>& errors = d_->errors();
        const auto echo = [&](const SpecError& e) {
          constexpr std::string_view kUnknown = "unknown field '";
          if (e.message.rfind(kUnknown, 0) != 0) return false;
          const size_t end = e.message.find('\'', kUnknown.size());
          return suppress_all || poisoned_before.contains(e.message.substr(kUnknown.size(), end - kUnknown.size()));
        };
        errors.erase(std::remove_if(errors.begin() + static_cast<std::ptrdiff_t>(errors_before), errors.end(), echo),
                     errors.end());
      }
      op.output = schema;
      lp.ops.push_back(std::move(op));
    }
    if (!ok || !p.sink_ok) return false;
    lp.sink = p.sink;
    StreamDef derived;
    derived.name = p.sink.kind == SinkDef::Kind::kStream ? p.sink.target : p.name;
    derived.schema = schema;
    derived.key_field = key;
    derived.time_field = time;
    derived.options = source->options;
    derived.watermark = source->watermark;
    derived.derived = true;
    if (p.sink.kind == SinkDef::Kind::kStream) {
      if (const StreamDef* existing = plan_->FindStream(p.sink.target)) {
        std::string diff = SchemaDiff(schema, existing->schema);
        bool declared = declared_.count(existing->name) != 0;
        if (!diff.empty()) {
          d_->Add(p.sink_loc, "output of " + what + " does not match " +
                                  (declared ? "stream '" : "the output of another pipeline writing '") +
                                  existing->name + "': " + diff);
          return false;
        }
        if (key_by_set && existing->key_field != key) {
          std::string declared_key =
              existing->key_field >= 0
                  ? "'" + existing->schema.field(static_cast<size_t>(existing->key_field)).name + "'"
                  : "none";
          d_->Add(p.sink_loc, what + " keys its output by '" + schema.field(static_cast<size_t>(key)).name +
                                  "' but stream '" + existing->name + "' has key " + declared_key);
          return false;
        }
        if (declared) {
          // A declared stream that pipelines write: ingest into it is rejected from now on.
          for (StreamDef& sd : plan_->streams) {
            if (sd.name == existing->name) sd.derived = true;
          }
        }
        derived = *plan_->FindStream(p.sink.target);
      } else {
        plan_->streams.push_back(derived);
      }
    }
    lp.output = derived;
    // Last: adding a stream invalidates `source`.
    for (StreamDef& s : pending_streams_) plan_->streams.push_back(std::move(s));
    pending_streams_.clear();
    if (!lp.decision_log.empty() && !AddDecisionLog(lp.decision_log, lp.output.options.partitions, p)) return false;
    plan_->pipelines.push_back(std::move(lp));
    return true;
  }

  // Declares the decision log stream `name` (shared by the pipelines naming it); false after
  // reporting a clash with another stream.
  bool AddDecisionLog(const std::string& name, uint32_t partitions, const RawPipeline& p) {
    StreamDef def = DecisionLogStreamDef(name, partitions);
    if (const StreamDef* existing = plan_->FindStream(name)) {
      if (decision_logs_.count(name) == 0 || !(existing->schema == def.schema)) {
        d_->Add(p.loc, "decision_log '" + name + "' of pipeline '" + p.name +
                           "' is already a stream that is not a decision log; name a new stream");
        return false;
      }
      return true;
    }
    if (writers_.count(name) != 0) {
      d_->Add(p.loc, "decision_log '" + name + "' of pipeline '" + p.name + "' is written by a pipeline sink too");
      return false;
    }
    decision_logs_.insert(name);
    plan_->streams.push_back(std::move(def));
    return true;
  }

  // Declares a trigger's publish streams and the outbox, records them as the pipeline's side
  // streams and sets the op's side indexes. False after reporting a clash.
  bool AddTriggerStreams(const RawStep& step, const RawPipeline& p, LogicalPipeline* lp, LogicalOp* op) {
    auto def = std::make_shared<TriggerDef>(*op->trigger);
    auto side_of = [&](const std::string& name) {
      for (size_t k = 0; k < lp->side_streams.size(); ++k) {
        if (lp->side_streams[k] == name) return static_cast<int>(k);
      }
      lp->side_streams.push_back(name);
      return static_cast<int>(lp->side_streams.size() - 1);
    };
    for (TriggerDef::Publish& pub : def->publishes) {
      std::vector<Field> fields;
      for (const NamedExpr& f : pub.fields) fields.push_back({f.name, ToFieldType(f.expr->type), f.expr->nullable});
      StreamDef sd;
      sd.name = pub.stream;
      sd.schema = Schema(std::move(fields));
      sd.options.partitions = 1;
      sd.derived = true;
      if (const StreamDef* existing = FindAny(pub.stream)) {
        const std::string diff = SchemaDiff(sd.schema, existing->schema);
        if (published_.count(pub.stream) == 0 || !diff.empty()) {
          d_->Add(step.loc,
                  "'" + pub.stream + "' of pipeline '" + p.name + "' is " +
                      (published_.count(pub.stream) == 0 ? "a stream another way already (declared or a sink); "
                                                           "publish to a stream of its own"
                                                         : "published with other fields elsewhere: " + diff));
          return false;
        }
      } else {
        if (writers_.count(pub.stream) != 0) {
          d_->Add(step.loc, "'" + pub.stream + "' of pipeline '" + p.name + "' is a pipeline sink too");
          return false;
        }
        published_.insert(pub.stream);
        pending_streams_.push_back(std::move(sd));
      }
      pub.side = side_of(pub.stream);
    }
    if (!def->calls.empty()) {
      if (!plan_->uses_outbox) {
        plan_->uses_outbox = true;
        pending_streams_.push_back(OutboxStreamDef());
        pending_streams_.push_back(ActionDeadLetterStreamDef());
      }
      def->outbox_side = side_of(std::string(kOutboxStream));
    }
    op->trigger = std::move(def);
    return true;
  }

  // A stream of the plan, or one this pipeline is about to add.
  const StreamDef* FindAny(const std::string& name) const {
    if (const StreamDef* s = plan_->FindStream(name)) return s;
    for (const StreamDef& s : pending_streams_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }

  static std::vector<std::string_view> Names(const Schema& schema) {
    std::vector<std::string_view> names;
    for (const Field& f : schema.fields()) names.push_back(f.name);
    return names;
  }

  ExprPtr FieldRef(const RawExpr& x, const Schema& schema, const std::string& what) {
    int idx = schema.FieldIndex(x.text);
    if (idx < 0) {
      d_->AddInScalar(x.node, 0,
                      "unknown field '" + x.text + "' in project of " + what + DidYouMean(x.text, Names(schema)));
      return nullptr;
    }
    const Field& f = schema.field(static_cast<size_t>(idx));
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kField;
    e->text = x.text;
    e->field_index = idx;
    e->type = FromFieldType(f.type);
    e->nullable = f.nullable;
    return e;
  }

  ExprPtr CheckNamed(const RawExpr& x, const Schema& schema, const std::string& what) {
    std::vector<ExprDiag> diags;
    ExprPtr e = ParseAndCheck(x.text, schema, &diags);
    if (e && e->type == ExprType::kNull) {
      diags.push_back({e->pos, "the expression of '" + x.name + "' has no type; use cast(null as <type>)"});
      e.reset();
    }
    if (!e) ExprError(x, diags, "field '" + x.name + "' of " + what);
    return e;
  }

  RawSpec& raw_;
  Diagnostics* d_;
  LogicalPlan* plan_;
  std::set<std::string> declared_;
  std::set<std::string> views_used_;
  std::set<std::string> decision_logs_;     // streams declared by predict steps
  std::set<std::string> published_;         // streams declared by triggers' publish
  std::set<std::string> rules_;             // trigger rule names (unique)
  std::vector<StreamDef> pending_streams_;  // declared by the pipeline being resolved
  std::map<std::string, std::vector<size_t>> writers_;
  std::map<std::string, size_t> view_writers_;  // feature view -> the pipeline computing it (first)
  std::vector<State> state_;
  std::vector<size_t> stack_;
};

}  // namespace

void ResolveSpec(RawSpec& raw, Diagnostics* diags, LogicalPlan* plan) {
  Resolver resolver(raw, diags, plan);
  resolver.Run();
}

}  // namespace spec_internal

Result<LogicalPlan> CompileSpec(std::string_view yaml_text, std::string_view file_name,
                                std::vector<SpecError>* errors) {
  using namespace spec_internal;
  Diagnostics diags(yaml_text, file_name);
  LogicalPlan plan;
  if (yaml_text.size() > kSpecBytesMax) {
    diags.Add({1, 1}, "the spec is larger than " + std::to_string(kSpecBytesMax) + " bytes");
  } else {
    RawSpec raw;
    ReadSpec(yaml_text, &diags, &raw);
    ResolveSpec(raw, &diags, &plan);
  }
  if (diags.empty()) return plan;
  std::string message;
  for (const SpecError& e : diags.errors()) message += (message.empty() ? "" : "\n") + e.ToString();
  if (diags.dropped() > 0) message += "\n... and " + std::to_string(diags.dropped()) + " more errors";
  if (errors != nullptr) *errors = std::move(diags.errors());
  return InvalidArgument(message);
}

Result<LogicalPlan> CompileSpecFile(const std::string& path, std::vector<SpecError>* errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open pipeline spec '" + path + "'");
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kSpecBytesMax) return InvalidArgument("pipeline spec '" + path + "' is larger than 4 MiB");
  }
  if (in.bad()) return IOError("reading pipeline spec '" + path + "'");
  return CompileSpec(text, path, errors);
}

}  // namespace impulse::plan
