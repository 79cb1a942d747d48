#include "plan/logical_plan.h"

#include <algorithm>
#include <set>

namespace impulse::plan {

std::string_view LogicalOpKindName(LogicalOp::Kind kind) {
  switch (kind) {
    case LogicalOp::Kind::kFilter: return "filter";
    case LogicalOp::Kind::kMap: return "map";
    case LogicalOp::Kind::kProject: return "project";
    case LogicalOp::Kind::kKeyBy: return "key_by";
    case LogicalOp::Kind::kWindow: return "window";
    case LogicalOp::Kind::kDedup: return "dedup";
    case LogicalOp::Kind::kFeatures: return "features";
    case LogicalOp::Kind::kPredict: return "predict";
    case LogicalOp::Kind::kTrigger: return "trigger";
    case LogicalOp::Kind::kJoin: return "join";
  }
  return "unknown";
}

const StreamDef* LogicalPlan::FindStream(std::string_view name) const {
  for (const StreamDef& s : streams) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const LogicalPipeline* LogicalPlan::FindPipeline(std::string_view name) const {
  for (const LogicalPipeline& p : pipelines) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<std::string> KeepPipelinesFeeding(LogicalPlan* plan, const std::vector<std::string>& wanted) {
  std::set<std::string> needed_streams(wanted.begin(), wanted.end());
  std::vector<bool> keep(plan->pipelines.size(), false);
  // Pipelines come after the ones writing their sources, but a side stream or a lookup's view
  // may be written later in plan order: iterate to a fixed point rather than one reverse pass.
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < plan->pipelines.size(); ++i) {
      if (keep[i]) continue;
      const LogicalPipeline& p = plan->pipelines[i];
      bool writes = p.sink.kind == SinkDef::Kind::kStream && needed_streams.count(p.sink.target) > 0;
      for (const std::string& side : p.side_streams) writes = writes || needed_streams.count(side) > 0;
      if (!writes) continue;
      keep[i] = changed = true;
      needed_streams.insert(p.source);
      if (!p.second_source.empty()) needed_streams.insert(p.second_source);
      for (const LogicalOp& op : p.ops) {
        if (op.join != nullptr) needed_streams.insert(op.join->right_stream);
      }
    }
  }
  std::vector<std::string> removed;
  std::vector<LogicalPipeline> kept;
  for (size_t i = 0; i < plan->pipelines.size(); ++i) {
    if (keep[i]) {
      kept.push_back(std::move(plan->pipelines[i]));
    } else {
      removed.push_back(plan->pipelines[i].name);
    }
  }
  plan->pipelines = std::move(kept);
  return removed;
}

namespace {

std::string SchemaToString(const StreamDef& def) {
  std::string out = "(";
  for (size_t i = 0; i < def.schema.size(); ++i) {
    const Field& f = def.schema.field(i);
    if (i > 0) out += ", ";
    out += f.name + " " + std::string(FieldTypeName(f.type)) + (f.nullable ? "?" : "");
    if (static_cast<int>(i) == def.key_field) out += " key";
    if (static_cast<int>(i) == def.time_field) out += " event_time";
  }
  return out + ") partitions=" + std::to_string(def.options.partitions);
}

std::string SchemaToString(const Schema& schema) {
  StreamDef def;
  def.schema = schema;
  std::string s = SchemaToString(def);
  return s.substr(0, s.find(" partitions="));
}

}  // namespace

std::string LogicalPlan::ToString() const {
  std::string out;
  for (const StreamDef& s : streams) out += "stream " + s.name + " " + SchemaToString(s) + "\n";
  for (const LogicalPipeline& p : pipelines) {
    out += "pipeline " + p.name + " from " + p.source + "\n";
    for (const LogicalOp& op : p.ops) {
      out += "  " + std::string(LogicalOpKindName(op.kind));
      if (op.predicate) out += " " + ExprToString(*op.predicate);
      for (const NamedExpr& e : op.exprs) out += " " + e.name + "=" + ExprToString(*e.expr);
      if (!op.key_field.empty()) out += " " + op.key_field;
      if (LogicalOp::IsOperator(op.kind)) {
        out += " -> " + SchemaToString(op.output);
      }
      if (op.predict) out += " model " + op.predict->model;
      if (op.join) out += " with " + op.join->right_stream;
      out += "\n";
    }
    static constexpr std::string_view kSinkNames[] = {"stream", "file", "stdout"};
    out += "  sink " + std::string(kSinkNames[static_cast<int>(p.sink.kind)]) + " " + p.sink.target + " " +
           SchemaToString(p.output) + "\n";
  }
  return out;
}

}  // namespace impulse::plan

namespace impulse::plan {

std::string RepartitionTopic(const KafkaDef& def, const std::string& stream) {
  return def.group + ".repartition." + stream;
}

std::vector<std::string> PlanRepartitions(LogicalPlan* plan) {
  std::vector<std::string> topics;
  KafkaDef& k = plan->kafka;
  for (LogicalPipeline& lp : plan->pipelines) {
    bool keyed = false;
    for (const LogicalOp& op : lp.ops) keyed |= op.kind == LogicalOp::Kind::kKeyBy;
    if (!keyed || lp.sink.kind != SinkDef::Kind::kStream || lp.sink.target.rfind("_repartition_", 0) == 0) continue;
    const std::string stream = lp.sink.target;
    const std::string internal = "_repartition_" + stream;
    lp.sink.target = internal;
    lp.output.name = internal;
    if (plan->FindStream(internal) != nullptr) continue;  // a second pipeline writing the same stream
    const std::string topic = RepartitionTopic(k, stream);
    StreamDef out;
    for (StreamDef& sd : plan->streams) {
      if (sd.name != stream) continue;
      out = sd;
      // Now copied from the topic: the member's partition of every writer's rows, with their
      // watermarks (the spec compiler refused a stream written both with and without key_by).
      sd.derived = false;
      sd.external_partitions = true;
      sd.external_by_key = true;
      sd.marker_writers = static_cast<uint32_t>(std::max(k.group_partitions, 1));
    }
    out.name = internal;
    out.derived = true;
    plan->streams.push_back(std::move(out));
    KafkaSinkDef sink;
    sink.stream = internal;
    sink.topic = topic;
    sink.exactly_once = true;
    sink.by_key = true;
    k.sinks.push_back(std::move(sink));
    KafkaSourceDef source;
    source.stream = stream;
    source.topic = topic;
    source.from_earliest = true;
    source.repartition = true;
    k.sources.push_back(std::move(source));
    topics.push_back(topic);
  }
  return topics;
}

}  // namespace impulse::plan
