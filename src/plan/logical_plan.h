// The logical plan: streams and pipelines as plain, front-end-neutral data. The YAML spec
// compiler (spec.h) produces it; a SQL front end can produce the same structures. Every
// expression in it is already parsed and type-checked against the schema it reads, and every
// op records the schema it reads and the schema it produces, so the physical layer only
// compiles and never re-resolves names. Immutable once built; share freely between threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "action/action.h"
#include "expr/ast.h"
#include "impulse/schema.h"
#include "plan/connectors.h"

namespace impulse::plan {

struct SinkDef {
  enum class Kind { kStream, kFile, kStdout };
  Kind kind = Kind::kStdout;
  std::string target;  // stream name (kStream) or file path (kFile); empty for kStdout
};

// One named output expression of a map or project.
struct NamedExpr {
  std::string name;
  std::shared_ptr<const Expr> expr;  // checked against the op's input schema
};

// One aggregate of a window step: `name: function(args)`.
struct AggregateDef {
  std::string name;                               // output field
  std::string function;                           // count, sum, avg, ... (docs/AGGREGATES.md)
  std::vector<std::shared_ptr<const Expr>> args;  // checked against the window's input schema
  int k = 0;                                      // top_k's second argument (a literal)
  FieldType result_type = FieldType::kInt64;
  bool nullable = false;
};

// A window step (docs/PIPELINE_SPEC.md, "Windows"). Output: the key fields, window_start and
// window_end (timestamps), then one field per aggregate; for kSliding the input fields then the
// aggregates (one output row per input row, emitted in event-time order).
struct WindowDef {
  enum class Type { kTumbling, kHopping, kSession, kSliding };
  Type type = Type::kTumbling;
  int64_t size_ms = 0;          // tumbling, hopping, sliding (the range (t - size, t])
  int64_t slide_ms = 0;         // hopping
  int64_t gap_ms = 0;           // session
  std::vector<int> key_fields;  // input field indexes; empty = one group per task
  std::vector<AggregateDef> aggregates;
  bool emit_updates = false;  // true: a row each time a group changes (upserts keyed by
                              // key + window_start); false: one final row per window
  int64_t allowed_lateness_ms = 0;
  int64_t state_ttl_ms = -1;        // sliding: a key idle this long (event time) is dropped; -1 = size
  uint64_t groups_max = 1'000'000;  // open (key, window) groups per task; beyond: late-events
                                    // stream with reason state_limit
  // Open panes (tumbling, hopping) or sessions of one key; beyond: state_limit. Bounds a key's
  // memory whatever its event times are (a far-future event opens one pane, not one per slide).
  uint64_t windows_per_key_max = 4096;
};

// dedup: keeps the first event per key; an event whose key was seen within `within_ms` (event
// time) before it is dropped and counted.
struct DedupDef {
  std::vector<int> key_fields;
  int64_t within_ms = 0;
  uint64_t keys_max = 10'000'000;
};

// join: the pipeline's rows (left) with the rows of a second stream (right), co-partitioned on
// the join key (both streams keyed by it, same partition count).
struct JoinDef {
  enum class Type {
    kInterval,  // right.ts in [left.ts + lower_ms, left.ts + upper_ms]; rows kept until the
                // watermark passes their last possible match (or for state_ttl_ms when unbounded)
    kWindow,    // both rows in the same tumbling window of window_ms; emitted at window close
    kLookup,    // the latest right row per key (an upsert table) at the time the left row is
                // processed
    kAsOf,      // event-time temporal join (the `lookup:` step of a feature view): the latest
                // right row per key with right.ts <= left.ts + as_of_ms, emitted once the
                // watermark has passed that time (exact: the same in any replay)
  };
  Type type = Type::kInterval;
  std::string right_stream;
  int left_key = -1;             // input field index
  int right_key = -1;            // right stream field index
  int64_t lower_ms = INT64_MIN;  // kInterval; INT64_MIN/INT64_MAX = unbounded (a regular join)
  int64_t upper_ms = INT64_MAX;
  int64_t window_ms = 0;    // kWindow
  bool left_outer = false;  // kLookup only: unmatched left rows get null right fields
  std::string prefix;       // prepended to every right field name
  Schema right_schema;
  int64_t state_ttl_ms = -1;       // regular joins and lookups: rows older than this (event time
                                   // behind the watermark) are dropped; -1 = kept
  uint64_t rows_max = 10'000'000;  // buffered rows per side per task
  std::string table_file;          // kLookup: rows loaded into the table at a fresh start
                                   // (NDJSON, or CSV by extension; relative to the working dir)
  int64_t as_of_ms = 0;            // kAsOf: <= 0; left rows read versions as of left.ts + as_of_ms
  // kAsOf: when set, the as-of time of a left row is this expression (timestamp, over the left
  // row's fields) instead of left.ts + as_of_ms. A left row whose as-of time is null (invalid),
  // after its own time (as_of_after_event) or before left.ts - as_of_lag_max_ms
  // (as_of_too_old) goes to the late output; versions are kept as_of_lag_max_ms behind the
  // watermark (the oldest time a row that is not late may ask for).
  std::shared_ptr<const Expr> as_of_expr;
  int64_t as_of_lag_max_ms = 0;                                      // kAsOf with as_of_expr: >= 0
  static constexpr int64_t kAsOfLagMaxDefaultMs = 86'400'000;        // the spec's default: 1d
  static constexpr int64_t kAsOfLagMaxLimitMs = 366 * 86'400'000LL;  // the spec's largest
  uint64_t versions_max = 1000;   // kAsOf: versions kept per key; a newer one beyond: state_limit
  std::vector<int> right_output;  // right fields emitted, in order; empty = all of right_schema
  std::string view;               // kAsOf from a `lookup:` step: the feature view looked up
  bool broadcast = false;         // kAsOf: every task reads every partition of the right stream
                                  // (the input need not be partitioned by the key); the
                                  // pipeline's second_broadcast says the same to the runtime
};

// One feature of a feature view (docs/FEATURES.md).
struct FeatureDef {
  enum class Kind {
    kWindow,             // `agg` over the entity's events in (t - delay - window, t - delay]
    kPrevious,           // `expr` evaluated at the entity's previous event (null for the first)
    kTimeSincePrevious,  // t - the previous event's time, in `unit_ms` units (double; null first)
    kExpr,               // `expr` over the input fields and the features before it
  };
  Kind kind = Kind::kExpr;
  std::string name;
  AggregateDef agg;                  // kWindow (agg.name == name)
  int64_t window_ms = 0;             // kWindow
  int64_t delay_ms = 0;              // kWindow
  bool has_default = false;          // kWindow: a null result becomes `default_value`
  double default_double = 0;         //   (double results)
  int64_t default_int = 0;           //   (int64 results)
  std::shared_ptr<const Expr> expr;  // kPrevious, kExpr
  int64_t unit_ms = 1;               // kTimeSincePrevious
  Field field;                       // the output field
};

// A feature view: named features of an entity, computed per event by a `features` step and
// served online (docs/FEATURES.md). Output of the step: the input fields, then the features.
struct FeatureViewDef {
  std::string name;
  std::string source;     // the stream the view is computed from (informational)
  int entity_field = -1;  // index in the step's input schema
  Field entity;           // its name and type
  std::vector<FeatureDef> features;
  Schema feature_schema;                     // the features alone, in order (what is served)
  int64_t ttl_ms = -1;                       // online values older than this (wall clock - as_of) are null;
                                             // also the idle time after which an entity is dropped; -1: none
  uint64_t entities_max = 10'000'000;        // per task; beyond: _late_events reason state_limit
  uint64_t rows_per_entity_max = 1'000'000;  // rows one entity's windows keep; beyond: reason state_limit
  std::string label_field;                   // a label known only `label_delay_ms` after its event
  int64_t label_delay_ms = 0;
  // kOnArrival: an event's features are computed when it arrives, over the entity's events that
  // arrived before it (replay in arrival order reproduces them). kPointInTime: an event waits for
  // the watermark, so it sees every event of its windows whatever the arrival order.
  enum class Mode { kOnArrival, kPointInTime };
  Mode mode = Mode::kOnArrival;
};

// A predict step (docs/INFERENCE.md): scores each row with a model of the repository the engine
// was started with. The model's inputs (its config.yaml `inputs`, by field name) are resolved
// against `input` when a version is first used, so versions may change at run time; the output
// fields are fixed here. Output: the input fields, then one nullable double per `outputs` entry
// (null when no version is ready: the row is counted as unscored, never dropped).
// rank (docs/PIPELINE_SPEC.md, "rank"): per event, the candidates of a list field, each with
// its view's values as of the event (an as-of join with the view's stream, broadcast: the op's
// `join`), scored by a repository model in batches; the best k kept. Runs as a kJoin op whose
// `rank` is set. The join's input is `candidate_input`: the event's fields, then kSeqField and
// kCountField (internal), then `candidate_field`, `candidate_rank_field` (the candidate's 1-based
// place in the list, duplicates dropped) and `candidate_count_field` (its top_k count; null for a
// plain id); its output (`candidate_schema`) adds the view's features, prefixed; `row_schema`
// adds the `pair` fields: the model's inputs are resolved by name in it.
struct RankDef {
  static constexpr const char* kSeqField = "_rank_seq";      // the event's number in the task
  static constexpr const char* kCountField = "_rank_count";  // its candidates
  int candidates_field = -1;                                 // input string field
  std::string candidate_field;                               // the candidate id's name in the rows
  std::string candidate_rank_field;                          // its 1-based place in the list
  std::string candidate_count_field;                         // its top_k count (nullable)
  std::string model;
  std::vector<NamedExpr> pair;  // over candidate_schema
  uint64_t k = 10;
  uint64_t candidates_max = 1000;   // per event; more: the event goes to _late_events (too_large)
  uint64_t batch_rows_max = 65536;  // rows per model call
  bool emit_candidates = false;     // output one row per (event, candidate): row_schema + score
  std::string items_field, scores_field;
  Schema candidate_input, candidate_schema, row_schema;
};

struct PredictDef {
  std::string model;
  int64_t version = -1;  // -1: the highest ready version ("latest")
  struct Output {
    std::string field;  // output field name
    int index = 0;      // model output index
  };
  std::vector<Output> outputs;
  int entity_field = -1;        // canary split and decision record; -1: none
  int event_id_field = -1;      // the decision record's event_id; -1: stream/partition/offset
  int64_t canary_version = -1;  // rows with hash(entity) % 100 < canary_percent use it
  uint32_t canary_percent = 0;
  std::vector<int64_t> shadow_versions;  // also scored; their scores go to the decision log only
  std::string decision_log;              // stream of decision records (DecisionLogStreamDef); "" = none
  int decision_side = -1;                // its index in the pipeline's side_streams
  std::string source_stream;             // the pipeline's source, for default event ids
};

// A named action endpoint (top-level `actions:`, docs/ACTIONS.md): what trigger steps call.
struct ActionDef {
  enum class Kind { kWebhook, kAgent };
  std::string name;
  Kind kind = Kind::kWebhook;
  action::WebhookOptions webhook;
  action::AgentOptions agent;
  std::string output_stream;  // agent: the stream its answers go to (AgentAnswersStreamDef)
};

// A trigger step (docs/ACTIONS.md): rows where `when` is true fire, at most once per key per
// `cooldown` of event time; each firing publishes events and/or calls actions through the
// outbox. Output: the input rows, unchanged.
struct TriggerDef {
  std::string rule;                  // the rule's name: firing id = rule + "/" + event id
  std::shared_ptr<const Expr> when;  // bool; null counts as false
  std::vector<int> key_fields;       // cooldown key; empty: one key for the task
  int64_t cooldown_ms = 0;           // 0: every matching row fires
  int event_id_field = -1;           // -1: stream/partition/offset
  uint64_t keys_max = 1'000'000;     // keys in cooldown per task; beyond: _late_events reason state_limit
  std::string source_stream;
  struct Publish {
    std::string stream;             // a stream this pipeline writes (side stream)
    std::vector<NamedExpr> fields;  // its fields, in order
    int side = -1;
  };
  struct Call {
    std::string action;  // an ActionDef name
    ActionDef::Kind kind = ActionDef::Kind::kWebhook;
    std::vector<NamedExpr> body;  // webhook: a JSON object of these; empty: the whole row
    // agent: the prompt, literal text and input fields alternating (field -1 = literal only)
    struct Part {
      std::string text;
      int field = -1;
    };
    std::vector<Part> prompt;
  };
  std::vector<Publish> publishes;
  std::vector<Call> calls;
  int outbox_side = -1;  // the pipeline's side index of the outbox (calls only)
};

struct LogicalOp {
  enum class Kind {
    kFilter,    // keeps rows where `predicate` is true (null counts as false)
    kMap,       // output = input fields, with `exprs` replacing same-named fields in place and
                // appending the others in order
    kProject,   // output = exactly `exprs`, in order (a kept field is a field-reference expr)
    kKeyBy,     // output = input; the pipeline's output key becomes `key_field`
    kWindow,    // stateful: `window`
    kDedup,     // stateful: `dedup`, output = input
    kJoin,      // stateful: `join`, output = input fields then prefixed right fields
    kFeatures,  // stateful: `features`, output = input fields then the view's features
    kPredict,   // `predict`, output = input fields then the scores; no keyed state, but run as
                // an operator (it owns model handles and writes decision records)
    kTrigger,   // stateful (cooldowns): `trigger`, output = input; firings to side streams
  };
  static bool IsStateful(Kind k) {
    return k == Kind::kWindow || k == Kind::kDedup || k == Kind::kJoin || k == Kind::kFeatures || k == Kind::kTrigger;
  }
  // Ops the physical layer runs as operators (StatefulOperator) rather than stateless stages.
  static bool IsOperator(Kind k) { return IsStateful(k) || k == Kind::kPredict; }
  Kind kind = Kind::kFilter;
  std::shared_ptr<const Expr> predicate;           // kFilter
  std::vector<NamedExpr> exprs;                    // kMap, kProject
  std::string key_field;                           // kKeyBy
  std::shared_ptr<const WindowDef> window;         // kWindow
  std::shared_ptr<const DedupDef> dedup;           // kDedup
  std::shared_ptr<const JoinDef> join;             // kJoin
  std::shared_ptr<const FeatureViewDef> features;  // kFeatures
  std::shared_ptr<const PredictDef> predict;       // kPredict
  std::shared_ptr<const TriggerDef> trigger;       // kTrigger
  std::shared_ptr<const RankDef> rank;             // kJoin of a `rank:` step (with `join`)
  std::string label;                               // "window#2": the step's kind and 1-based position,
                                                   // named in late events, metrics and state files
  Schema input;                                    // the schema this op reads
  Schema output;                                   // the schema it produces
};

std::string_view LogicalOpKindName(LogicalOp::Kind kind);

struct LogicalPipeline {
  std::string name;
  std::string source;             // stream read
  std::string second_source;      // a join's right stream, else empty
  bool second_broadcast = false;  // each task reads every partition of second_source (a
                                  // broadcast lookup), not only its own partition
  std::string decision_log;       // the stream its predict steps write decision records to, or empty
  // Streams the pipeline's operators write besides the sink (decision logs, a trigger's publish
  // streams, the outbox), indexed by the ops' side indexes. Rows are partitioned by the target
  // stream's key field (or the source partition when it has none).
  std::vector<std::string> side_streams;
  std::vector<LogicalOp> ops;
  SinkDef sink;
  // The output stream's definition: schema (== ops.back().output, or the source schema when
  // there are no ops), key_field, time_field, options. For stream sinks, the sink stream's def.
  StreamDef output;
};

struct LogicalPlan {
  std::vector<StreamDef> streams;          // declared and derived (pipeline sink streams)
  std::vector<LogicalPipeline> pipelines;  // in dependency order: a pipeline comes after the
                                           // pipelines writing its source

  std::vector<std::shared_ptr<const FeatureViewDef>> feature_views;  // each computed by one step
  std::vector<ActionDef> actions;  // top-level `actions:` (webhook and agent endpoints)
  bool uses_outbox = false;        // a trigger calls an action: _outbox is declared
  KafkaDef kafka;                  // top-level `kafka:` (sources and sinks on Kafka topics)
  NatsDef nats;                    // top-level `nats:` (sources and sinks on JetStream subjects)

  // The streams copied from a broker (kafka and nats sources), in producer-slot order.
  std::vector<std::string> ConnectorSourceStreams() const {
    std::vector<std::string> out;
    for (const KafkaSourceDef& s : kafka.sources) out.push_back(s.stream);
    for (const NatsSourceDef& s : nats.sources) out.push_back(s.stream);
    return out;
  }

  const StreamDef* FindStream(std::string_view name) const;
  const LogicalPipeline* FindPipeline(std::string_view name) const;
  // A readable multi-line rendering, for `impulse plan` and tests.
  std::string ToString() const;
};

// The topic through which a group moves the stream a key_by pipeline writes.
std::string RepartitionTopic(const KafkaDef& def, const std::string& stream);
// A member's plan (docs/SCALE_OUT.md): every stream a key_by pipeline writes becomes a stream fed
// by its repartition topic, and the pipelines write instead an internal stream
// `_repartition_<stream>` exported to that topic by key. Returns the topics it added (none the
// second time).
std::vector<std::string> PlanRepartitions(LogicalPlan* plan);

// Keeps only the pipelines the streams `wanted` depend on and removes the others (a backfill of
// one stream runs nothing else). Kept: every pipeline writing a wanted stream, as its sink or as a
// side stream (a decision log, a trigger's publish stream), and, transitively, every pipeline
// writing a stream a kept pipeline reads: its source, a join's right stream, the stream a
// `lookup` or `rank` step reads its feature view from. Streams stay declared; the plan order of
// the kept pipelines is unchanged. Returns the names of the pipelines removed, in plan order.
std::vector<std::string> KeepPipelinesFeeding(LogicalPlan* plan, const std::vector<std::string>& wanted);

}  // namespace impulse::plan
