#include "plan/logical_plan.h"

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
