// Private to the spec front end: the spec as read from YAML (structurally validated, names not
// yet resolved), with source locations, and the error collector shared by both passes.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <utility>
#include <vector>

#include "common/yaml_number.h"  // ReadYamlInt/Uint/Double: every number in a spec
#include "expr/ast.h"
#include "plan/logical_plan.h"
#include "spec/spec.h"

namespace impulse::plan::spec_internal {

struct Loc {
  int line = 0;    // 1-based
  int column = 0;  // 1-based
};

// Collects errors with positions. Holds the spec text to locate tokens inside scalars.
class Diagnostics {
 public:
  Diagnostics(std::string_view text, std::string_view file) : text_(text), file_(file) {}

  static Loc LocOf(const YAML::Node& n) { return LocOf(n.Mark()); }
  static Loc LocOf(const YAML::Mark& m) { return {m.line + 1, m.column + 1}; }

  void Add(Loc loc, std::string message);
  // An error at byte `offset` inside the scalar `node` (exact for single-line plain or quoted
  // scalars without escapes; otherwise the scalar's own position).
  void AddInScalar(const YAML::Node& node, uint32_t offset, std::string message);
  void AddExprDiags(const YAML::Node& node, const std::vector<ExprDiag>& diags, std::string_view context);

  bool empty() const { return errors_.empty() && dropped_ == 0; }
  std::vector<SpecError>& errors() { return errors_; }
  size_t dropped() const { return dropped_; }
  const std::string& file() const { return file_; }

 private:
  std::string_view text_;
  std::string file_;
  std::vector<SpecError> errors_;
  size_t dropped_ = 0;
};

struct RawExpr {
  std::string name;  // map/project output name (empty for filters)
  Loc name_loc;
  std::string text;
  YAML::Node node;            // the expression scalar, for token positions
  bool is_field_ref = false;  // project list entry: a bare field name
};

struct RawStep {
  LogicalOp::Kind kind = LogicalOp::Kind::kFilter;
  Loc loc;
  std::vector<RawExpr> exprs;  // filter: one; map/project: the named outputs
  std::string key_field;       // key_by
  YAML::Node key_node;
  YAML::Node body;      // window, dedup, join, lookup, predict: resolved with the schema in pass 2
  bool lookup = false;  // a `lookup:` or `rank:` step (kind kJoin): a feature view's values as of the event
  bool rank = false;    // a `rank:` step (lookup is set too)
};

// How the rows reaching a step are partitioned: by the field at key_field (hash), over
// `partitions` partitions; key_field -1 = not by a field of the current schema.
struct PartitionInfo {
  int key_field = -1;
  uint32_t partitions = 1;
  bool external = false;  // partitions filled by a connector (StreamDef::external_partitions)
};

// Durations: "250ms", "10s", "5m", "2h", "7d" or an integer of ms; a leading '-' where allowed.
bool ParseDurationMs(std::string_view text, int64_t* ms);
bool ReadDuration(const YAML::Node& n, const std::string& what, int64_t min_ms, Diagnostics* d, int64_t* ms);
bool ReadSignedDuration(const YAML::Node& n, const std::string& what, Diagnostics* d, int64_t* ms);
bool ReadWatermark(const YAML::Node& n, const std::string& what, Diagnostics* d, WatermarkOptions* out);
// Resolves a window/dedup/join step against its input: fills op->output and op->window/dedup/
// join, *out_part (partitioning of the output) and, for a join, *second_source. False after
// reporting errors.
bool ResolveStatefulStep(const RawStep& step, const Schema& in, const PartitionInfo& part, const LogicalPlan& plan,
                         const std::string& what, Diagnostics* d, LogicalOp* op, PartitionInfo* out_part,
                         std::string* second_source);

// Helpers shared by the stateful step resolvers (spec_stateful.cc, spec_features.cc).
std::vector<std::string_view> Names(const Schema& schema);
// A mapping's entries with unknown/duplicate keys reported. False if `n` is not a mapping.
bool Entries(const YAML::Node& n, const std::string& what, std::initializer_list<std::string_view> allowed,
             Diagnostics* d, std::vector<std::pair<std::string, YAML::Node>>* out);
const YAML::Node* Get(const std::vector<std::pair<std::string, YAML::Node>>& e, std::string_view key);
// `true` or `false`; else an error at n.
bool ReadBool(const YAML::Node& n, const std::string& what, Diagnostics* d, bool* out);
bool ReadUint(const YAML::Node& n, const std::string& what, uint64_t lo, uint64_t hi, Diagnostics* d, uint64_t* out);
bool ReadKeyFields(const YAML::Node& n, const Schema& schema, const std::string& what, Diagnostics* d,
                   std::vector<int>* out);
// A keyed operator is correct only if every key lives in one partition of its input.
bool CheckPartitioning(const std::vector<int>& key_fields, const PartitionInfo& part, Loc loc, const std::string& what,
                       const Schema& schema, bool per_partition, Diagnostics* d);
// `name: function(args)` -> AggregateDef, arguments checked against `schema`.
bool ResolveAggregate(const std::string& name, const YAML::Node& node, const Schema& schema, const std::string& what,
                      Diagnostics* d, AggregateDef* out);

// A `features: VIEW` step: resolves the view's definition `body` (a feature_views entry)
// against the step's input. Fills op->features and op->output.
bool ResolveFeatures(const YAML::Node& body, const std::string& view_name, const Schema& in, const PartitionInfo& part,
                     const std::string& pipeline_source, const std::string& what, Diagnostics* d, LogicalOp* op);

// The stream the pipeline `view_pipeline` writes `view`'s versions to, its entity field and the
// indexes of the view's features in it; false after reporting (at view_node) what it lacks.
bool ReadViewStream(const YAML::Node& view_node, const LogicalPlan& plan, const FeatureViewDef& view,
                    const std::string& view_pipeline, Diagnostics* d, const StreamDef** right, int* entity,
                    std::vector<int>* features);
// How long an entity's last values stay readable after its last event: the view's state
// lifetime (its longest window + delay, or its ttl if longer), as the online store keeps it;
// -1 = for ever (a view with neither).
int64_t ViewStateTtlMs(const FeatureViewDef& view);

// A `rank: {candidates, view, as_of, model, ...}` step (docs/PIPELINE_SPEC.md, "rank"): a
// broadcast as-of join of the view's stream (like ResolveViewLookup) per candidate, plus
// op->rank. Fills op->join, op->rank, op->output and *second_source. `list_lookup`: a
// `lookup: {keys, view, as_of, ...}` step instead (a list of keys: one row per key, no model;
// op->rank with an empty model and emit_candidates).
bool ResolveRank(const YAML::Node& n, const Schema& in, const LogicalPlan& plan, const FeatureViewDef& view,
                 const std::string& view_pipeline, const std::string& what, Diagnostics* d, LogicalOp* op,
                 std::string* second_source, bool list_lookup = false);

// The as-of time of a `lookup` or `rank` step `n` (its entries `e`): `as_of: -duration` into
// j->as_of_ms, or `as_of_time: expression` (a timestamp over `in`) with `as_of_lag_max`
// (default JoinDef::kAsOfLagMaxDefaultMs) into j->as_of_expr / as_of_lag_max_ms; exactly one of
// the two. False after reporting.
bool ReadAsOf(const YAML::Node& n, const std::vector<std::pair<std::string, YAML::Node>>& e, const Schema& in,
              const std::string& what, Diagnostics* d, JoinDef* j);

// A `lookup: {view, key, as_of, ...}` step: an as-of join (JoinDef::Type::kAsOf) with the stream
// `view_stream` that `view_pipeline` writes and in which it computes `view` (resolved before
// this pipeline). Fills op->join, op->output and *second_source.
bool ResolveViewLookup(const YAML::Node& n, const Schema& in, const PartitionInfo& part, const LogicalPlan& plan,
                       const FeatureViewDef& view, const std::string& view_pipeline, const std::string& what,
                       Diagnostics* d, LogicalOp* op, std::string* second_source);

// A `predict` step: fills op->predict and op->output (the input fields, then the scores).
bool ResolvePredict(const RawStep& step, const Schema& in, const std::string& source, const std::string& what,
                    Diagnostics* d, LogicalOp* op);

struct RawView {
  std::string name;
  Loc loc;
  YAML::Node body;
};

struct RawStream {
  StreamDef def;
  Loc loc;
};

struct RawPipeline {
  std::string name;
  Loc loc;
  std::string from;
  Loc from_loc;
  std::vector<RawStep> steps;
  bool sink_ok = false;
  SinkDef sink;
  Loc sink_loc;
};

struct RawSpec {
  YAML::Node kafka;  // top-level `kafka:` (resolved after the pipelines: sinks name their streams)
  YAML::Node nats;   // top-level `nats:` (likewise)
  std::vector<RawStream> streams;
  std::vector<RawPipeline> pipelines;
  std::vector<RawView> views;
  std::vector<RawView> actions;  // top-level `actions:` (name + body)
};

// Top-level `kafka:` -> plan->kafka, in two passes: before the pipelines (connection, sources:
// marks their streams' partitioning) and after them (sinks, which may name pipeline streams).
bool ResolveKafkaSources(const YAML::Node& body, Diagnostics* d, LogicalPlan* plan);
bool ResolveKafkaSinks(const YAML::Node& body, Diagnostics* d, LogicalPlan* plan);
// Top-level `nats:` -> plan->nats (after the pipelines and the Kafka sinks: a stream has one
// source, and a NATS source stream has one partition).
bool ResolveNats(const YAML::Node& body, Diagnostics* d, LogicalPlan* plan);
// "${env:NAME}" with NAME of letters, digits and '_': a value read from the environment at start.
bool IsEnvReference(std::string_view v);
// Shared by the connector sections (connector_entries.cc). A non-empty scalar.
bool ReadText(const YAML::Node& n, const std::string& what, Diagnostics* d, std::string* out);
// One entry of a `sources:` or `sinks:` list (what: "kafka source"): its keys checked into
// *fields; its `stream` node, or nullptr (reported) when the entry is malformed or has none.
const YAML::Node* ConnectorEntry(const YAML::Node& entry, const std::string& what,
                                 std::initializer_list<std::string_view> keys, Diagnostics* d,
                                 std::vector<std::pair<std::string, YAML::Node>>* fields);
// The stream an entry names (*name), or nullptr (reported: "<what>: unknown stream").
const StreamDef* ConnectorStream(const YAML::Node& n, const std::string& what, const LogicalPlan& plan, Diagnostics* d,
                                 std::string* name);
// Top-level `actions:` -> plan->actions (options validated, agent output streams declared).
bool ResolveActions(const std::vector<RawView>& raw, Diagnostics* d, LogicalPlan* plan);
// A `trigger` step: fills op->trigger (side indexes unset) and op->output (= in).
bool ResolveTrigger(const RawStep& step, const Schema& in, const LogicalPlan& plan, const std::string& source,
                    const std::string& what, Diagnostics* d, LogicalOp* op);

// Pass 1: YAML -> RawSpec. Reports structural errors (unknown or duplicate keys, wrong node
// kinds, bad names and types, invalid stream declarations). Never throws.
void ReadSpec(std::string_view yaml_text, Diagnostics* diags, RawSpec* out);

// Pass 2: resolves pipelines (sources, chains, cycles, expressions, sinks) into `plan`.
void ResolveSpec(RawSpec& raw, Diagnostics* diags, LogicalPlan* plan);

}  // namespace impulse::plan::spec_internal
