// Stream schemas: typed, nullable fields, an optional key field and an optional event-time
// field. Resolved once at load time; the per-event path works with field indexes only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/status.h"

namespace impulse {

enum class FieldType : uint8_t {
  kInt64 = 0,
  kDouble = 1,
  kBool = 2,
  kString = 3,
  kTimestamp = 4,  // milliseconds since the Unix epoch, UTC
};

std::string_view FieldTypeName(FieldType t);
// Parses "int64", "double", "bool", "string", "timestamp".
std::optional<FieldType> ParseFieldType(std::string_view name);

struct Field {
  std::string name;
  FieldType type = FieldType::kString;
  bool nullable = false;
  bool operator==(const Field&) const = default;
};

class Schema {
 public:
  Schema() = default;
  explicit Schema(std::vector<Field> fields) : fields_(std::move(fields)) {}

  const std::vector<Field>& fields() const { return fields_; }
  size_t size() const { return fields_.size(); }
  const Field& field(size_t i) const { return fields_[i]; }
  // Index of the field named `name`, or -1. Linear: for load time only.
  int FieldIndex(std::string_view name) const;

  bool operator==(const Schema&) const = default;

 private:
  std::vector<Field> fields_;
};

// Limits and defaults for one stream. Every field has a documented default.
struct StreamOptions {
  uint32_t partitions = 4;                   // fixed at creation
  int64_t retention_bytes = -1;              // per partition; -1 = unlimited
  int64_t retention_ms = -1;                 // by record ingest time; -1 = unlimited
  uint64_t segment_bytes_max = 64ull << 20;  // a segment is sealed when it reaches this size
};

// Event-time progress of one stream (see docs/EVENT_TIME.md). A partition's watermark is the
// largest event time it has delivered minus max_out_of_orderness_ms: events older than the
// watermark are late for stateful operators.
struct WatermarkOptions {
  int64_t max_out_of_orderness_ms = 0;  // bounded disorder tolerated without lateness
  int64_t idle_timeout_ms = 10'000;     // a partition with no new event for this long (processing
                                        // time) stops holding the watermark back; -1 = never
  // Once idle, the partition's watermark also advances with the wall clock from its last event
  // (event time assumed to flow in real time), so windows close on time with no later event.
  bool idle_advance_wall_clock = false;
};

// A stream definition: what the spec declares and the engine resolves.
struct StreamDef {
  std::string name;
  Schema schema;
  int key_field = -1;   // index into schema; -1 = no key (round-robin by request)
  int time_field = -1;  // index into schema, kTimestamp or kInt64 (ms); -1 = ingest time
  StreamOptions options;
  WatermarkOptions watermark;
  bool derived = false;  // written by pipelines only (ingest is rejected); restored by checkpoints
  // Filled by a connector, partition k from the external partition k (docs/CONNECTORS.md), not
  // by the key's hash: keyed steps need a key_by first, unless the source declares that its
  // producers keep each key in one partition (external_by_key); joins never pair it directly.
  bool external_partitions = false;
  bool external_by_key = false;
  // Fed by a connector with rows of several remote writers (a group's repartition topic,
  // docs/SCALE_OUT.md): its watermark is the smallest of these writers' watermark markers,
  // copied into the log with the rows, as for a pipeline-written stream. 0: from its rows.
  uint32_t marker_writers = 0;
};

// Name of the built-in dead-letter stream and its schema:
// stream string, raw string, reason string, line int64, ingest_time timestamp.
inline constexpr std::string_view kDeadLetterStream = "_dead_letter";
StreamDef DeadLetterStreamDef();

// Name of the built-in late-events stream (events behind the watermark beyond an operator's
// allowed lateness) and its schema: pipeline string, operator string, reason string,
// event_time timestamp, watermark timestamp, partition int64, offset int64, event string (JSON).
inline constexpr std::string_view kLateEventsStream = "_late_events";
StreamDef LateEventsStreamDef();

// A decision log (docs/INFERENCE.md): one record per event scored by a `predict` step that
// names the stream. Keyed by event_id (a lookup reads one partition), event time = event_time.
//   event_id string         the event's id field as text, else "<stream>/<partition>/<offset>"
//   pipeline string, step string ("predict#3")
//   source_partition int64, source_offset int64   where the scored event is in its input
//   entity string           the entity key as text ("" when the step names none)
//   model string, version int64                   the version whose scores were acted on
//   variant string          "primary" or "canary"
//   features string         JSON object: input name -> value as the model saw it (null = missing)
//   scores string           JSON object: output name -> score
//   shadow string           JSON object: version -> {output: score}; "{}" when none
//   event_time timestamp, decided_at timestamp (wall clock when scored)
StreamDef DecisionLogStreamDef(std::string name, uint32_t partitions);

// The outbox (docs/ACTIONS.md): firings of webhook and agent actions, written by trigger steps
// (so they are durable, and truncated/replayed with checkpoints) before the dispatcher attempts
// them. One partition: firings are started in the order they were written.
//   firing_id string ("<rule>/<event id>", the idempotency key), rule, action, pipeline string,
//   payload string (webhook: JSON body; agent: the prompt), event_id string,
//   event_time timestamp, fired_at timestamp (wall clock)
inline constexpr std::string_view kOutboxStream = "_outbox";
StreamDef OutboxStreamDef();

// Firings that failed for good (retry budget spent, permanent error) or were skipped (stale):
//   firing_id, rule, action, payload, outcome ("dead_letter" | "skipped"), error string,
//   attempts int64, http_status int64, event_time timestamp, failed_at timestamp
inline constexpr std::string_view kActionDeadLetterStream = "_action_dead_letter";
StreamDef ActionDeadLetterStreamDef();

// An agent action's answers, one event per delivered firing (pipelines may read it):
//   firing_id, rule, action, event_id, answer string (text, or the JSON it returned),
//   event_time timestamp (the firing's event), answered_at timestamp (the stream's event time)
StreamDef AgentAnswersStreamDef(std::string name);

}  // namespace impulse
