#include "impulse/schema.h"

#include <utility>

namespace impulse {

std::string_view FieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::kInt64: return "int64";
    case FieldType::kDouble: return "double";
    case FieldType::kBool: return "bool";
    case FieldType::kString: return "string";
    case FieldType::kTimestamp: return "timestamp";
  }
  return "unknown";
}

std::optional<FieldType> ParseFieldType(std::string_view name) {
  if (name == "int64") return FieldType::kInt64;
  if (name == "double") return FieldType::kDouble;
  if (name == "bool") return FieldType::kBool;
  if (name == "string") return FieldType::kString;
  if (name == "timestamp") return FieldType::kTimestamp;
  return std::nullopt;
}

int Schema::FieldIndex(std::string_view name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

StreamDef DeadLetterStreamDef() {
  StreamDef def;
  def.name = std::string(kDeadLetterStream);
  def.schema = Schema({
      {"stream", FieldType::kString, false},
      {"raw", FieldType::kString, false},
      {"reason", FieldType::kString, false},
      {"line", FieldType::kInt64, false},
      {"ingest_time", FieldType::kTimestamp, false},
  });
  def.key_field = 0;
  def.time_field = 4;
  def.options.partitions = 1;
  return def;
}

StreamDef LateEventsStreamDef() {
  StreamDef def;
  def.name = std::string(kLateEventsStream);
  def.schema = Schema({
      {"pipeline", FieldType::kString, false},
      {"operator", FieldType::kString, false},
      {"reason", FieldType::kString, false},
      {"event_time", FieldType::kTimestamp, false},
      {"watermark", FieldType::kTimestamp, false},
      {"partition", FieldType::kInt64, false},
      {"offset", FieldType::kInt64, false},
      {"event", FieldType::kString, false},
  });
  def.key_field = 0;
  def.time_field = 3;
  def.options.partitions = 1;
  def.derived = true;
  return def;
}

StreamDef OutboxStreamDef() {
  StreamDef def;
  def.name = std::string(kOutboxStream);
  def.schema = Schema({
      {"firing_id", FieldType::kString, false},
      {"rule", FieldType::kString, false},
      {"action", FieldType::kString, false},
      {"pipeline", FieldType::kString, false},
      {"payload", FieldType::kString, false},
      {"event_id", FieldType::kString, false},
      {"event_time", FieldType::kTimestamp, false},
      {"fired_at", FieldType::kTimestamp, false},
  });
  def.key_field = 0;
  def.time_field = 6;
  def.options.partitions = 1;
  def.derived = true;
  return def;
}

StreamDef ActionDeadLetterStreamDef() {
  StreamDef def;
  def.name = std::string(kActionDeadLetterStream);
  def.schema = Schema({
      {"firing_id", FieldType::kString, false},
      {"rule", FieldType::kString, false},
      {"action", FieldType::kString, false},
      {"payload", FieldType::kString, false},
      {"outcome", FieldType::kString, false},
      {"error", FieldType::kString, false},
      {"attempts", FieldType::kInt64, false},
      {"http_status", FieldType::kInt64, false},
      {"event_time", FieldType::kTimestamp, false},
      {"failed_at", FieldType::kTimestamp, false},
  });
  def.key_field = 0;
  def.time_field = 9;
  def.options.partitions = 1;
  return def;
}

StreamDef AgentAnswersStreamDef(std::string name) {
  StreamDef def;
  def.name = std::move(name);
  def.schema = Schema({
      {"firing_id", FieldType::kString, false},
      {"rule", FieldType::kString, false},
      {"action", FieldType::kString, false},
      {"event_id", FieldType::kString, false},
      {"answer", FieldType::kString, false},
      {"event_time", FieldType::kTimestamp, false},
      {"answered_at", FieldType::kTimestamp, false},
  });
  def.key_field = 0;
  def.time_field = 6;
  def.options.partitions = 1;
  return def;
}

StreamDef DecisionLogStreamDef(std::string name, uint32_t partitions) {
  StreamDef def;
  def.name = std::move(name);
  def.schema = Schema({
      {"event_id", FieldType::kString, false},
      {"pipeline", FieldType::kString, false},
      {"step", FieldType::kString, false},
      {"source_partition", FieldType::kInt64, false},
      {"source_offset", FieldType::kInt64, false},
      {"entity", FieldType::kString, false},
      {"model", FieldType::kString, false},
      {"version", FieldType::kInt64, false},
      {"variant", FieldType::kString, false},
      {"features", FieldType::kString, false},
      {"scores", FieldType::kString, false},
      {"shadow", FieldType::kString, false},
      {"event_time", FieldType::kTimestamp, false},
      {"decided_at", FieldType::kTimestamp, false},
  });
  def.key_field = 0;
  def.time_field = 12;
  def.options.partitions = partitions;
  def.derived = true;
  return def;
}

}  // namespace impulse
