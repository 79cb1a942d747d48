// The `predict` step (docs/INFERENCE.md) resolved against its input schema. The model itself is
// not known here (a spec compiles without a repository): the engine checks the model and its
// inputs when it opens, and the operator again whenever a new version comes into use.
#include <set>

#include "common/suggest.h"
#include "spec/internal.h"

namespace impulse::plan::spec_internal {

namespace {

constexpr uint64_t kVersionMax = 1'000'000'000;
constexpr size_t kOutputsMax = 256;
constexpr size_t kShadowsMax = 8;

bool ReadVersion(const YAML::Node& n, const std::string& what, Diagnostics* d, int64_t* out) {
  if (n.IsScalar() && n.Scalar() == "latest") {
    *out = -1;
    return true;
  }
  uint64_t v = 0;
  if (!ReadUint(n, what + " (a version number or 'latest')", 1, kVersionMax, d, &v)) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

// A field of `in` by name, with a did-you-mean on failure.
bool ReadField(const YAML::Node& n, const Schema& in, const std::string& what, Diagnostics* d, int* out) {
  const std::string name = n.IsScalar() ? n.Scalar() : "";
  const int idx = in.FieldIndex(name);
  if (idx < 0) {
    d->AddInScalar(n, 0, "unknown field '" + name + "' for " + what + DidYouMean(name, Names(in)));
    return false;
  }
  *out = idx;
  return true;
}

}  // namespace

bool ResolvePredict(const RawStep& step, const Schema& in, const std::string& source, const std::string& what,
                    Diagnostics* d, LogicalOp* op) {
  std::vector<std::pair<std::string, YAML::Node>> e;
  if (!Entries(step.body, what,
               {"model", "version", "outputs", "entity", "event_id", "canary", "shadow", "decision_log"}, d, &e)) {
    return false;
  }
  auto def = std::make_shared<PredictDef>();
  def->source_stream = source;
  bool ok = true;
  const YAML::Node* model = Get(e, "model");
  if (model == nullptr || !model->IsScalar() || model->Scalar().empty()) {
    d->Add(model ? Diagnostics::LocOf(*model) : step.loc, what + " needs 'model: NAME' (a model of the repository)");
    return false;
  }
  def->model = model->Scalar();
  if (const YAML::Node* v = Get(e, "version")) ok &= ReadVersion(*v, "version of " + what, d, &def->version);

  const YAML::Node* outputs = Get(e, "outputs");
  if (outputs == nullptr) {
    d->Add(step.loc, what + " needs 'outputs': the fields the scores go to, e.g. [score] or {score: 0}");
    return false;
  }
  std::set<std::string> names;
  for (const Field& f : in.fields()) names.insert(f.name);
  auto add_output = [&](const YAML::Node& name_node, std::string name, int index) {
    if (!IsValidFieldName(name)) {
      d->AddInScalar(name_node, 0, "invalid output field name '" + name + "' in " + what + " (use an identifier)");
      ok = false;
    } else if (!names.insert(name).second) {
      d->AddInScalar(name_node, 0, "output field '" + name + "' of " + what + " is already a field of its input");
      ok = false;
    } else {
      def->outputs.push_back({std::move(name), index});
    }
  };
  if (outputs->IsSequence() && outputs->size() > 0 && outputs->size() <= kOutputsMax) {
    int index = 0;
    for (const YAML::Node& n : *outputs) add_output(n, n.IsScalar() ? n.Scalar() : "", index++);
  } else if (outputs->IsMap() && outputs->size() > 0 && outputs->size() <= kOutputsMax) {
    for (auto it = outputs->begin(); it != outputs->end(); ++it) {
      uint64_t index = 0;
      if (!ReadUint(it->second, "the model output index of '" + it->first.Scalar() + "'", 0, kOutputsMax - 1, d,
                    &index)) {
        ok = false;
        continue;
      }
      add_output(it->first, it->first.IsScalar() ? it->first.Scalar() : "", static_cast<int>(index));
    }
  } else {
    d->Add(Diagnostics::LocOf(*outputs), "outputs of " + what +
                                             " must be a non-empty list of field names or a mapping "
                                             "field: model output index (at most " +
                                             std::to_string(kOutputsMax) + ")");
    return false;
  }

  if (const YAML::Node* n = Get(e, "entity")) ok &= ReadField(*n, in, "the entity of " + what, d, &def->entity_field);
  if (const YAML::Node* n = Get(e, "event_id"))
    ok &= ReadField(*n, in, "the event_id of " + what, d, &def->event_id_field);

  if (const YAML::Node* n = Get(e, "canary")) {
    std::vector<std::pair<std::string, YAML::Node>> c;
    if (!Entries(*n, "canary of " + what, {"version", "percent"}, d, &c)) return false;
    const YAML::Node* v = Get(c, "version");
    const YAML::Node* p = Get(c, "percent");
    if (v == nullptr || p == nullptr) {
      d->Add(Diagnostics::LocOf(*n), "canary of " + what + " needs 'version' and 'percent'");
      return false;
    }
    uint64_t version = 0, percent = 0;
    ok &= ReadUint(*v, "canary version of " + what, 1, kVersionMax, d, &version);
    ok &= ReadUint(*p, "canary percent of " + what, 0, 100, d, &percent);
    def->canary_version = static_cast<int64_t>(version);
    def->canary_percent = static_cast<uint32_t>(percent);
    if (def->entity_field < 0) {
      d->Add(Diagnostics::LocOf(*n), "a canary of " + what + " splits by entity: add 'entity: FIELD'");
      ok = false;
    }
  }
  if (const YAML::Node* n = Get(e, "shadow")) {
    if (!n->IsSequence() || n->size() == 0 || n->size() > kShadowsMax) {
      d->Add(Diagnostics::LocOf(*n),
             "shadow of " + what + " must be a list of 1 to " + std::to_string(kShadowsMax) + " version numbers");
      return false;
    }
    for (const YAML::Node& x : *n) {
      uint64_t v = 0;
      if (!ReadUint(x, "a shadow version of " + what, 1, kVersionMax, d, &v)) {
        ok = false;
        continue;
      }
      def->shadow_versions.push_back(static_cast<int64_t>(v));
    }
  }
  if (const YAML::Node* n = Get(e, "decision_log")) {
    def->decision_log = n->IsScalar() ? n->Scalar() : "";
    if (!IsValidStreamName(def->decision_log)) {
      d->Add(Diagnostics::LocOf(*n), "invalid decision_log stream name '" + def->decision_log + "' in " + what +
                                         " (use [A-Za-z0-9_.-], at most 128, not starting with '_', not . or ..)");
      ok = false;
    }
  } else if (!def->shadow_versions.empty()) {
    d->Add(step.loc, "shadow versions of " + what + " are only visible in a decision log: add 'decision_log: STREAM'");
    ok = false;
  }
  if (!ok) return false;

  std::vector<Field> fields = in.fields();
  for (const PredictDef::Output& o : def->outputs) fields.push_back({o.field, FieldType::kDouble, true});
  op->output = Schema(std::move(fields));
  op->predict = std::move(def);
  return true;
}

}  // namespace impulse::plan::spec_internal
