#include "ops/operator.h"

#include <cstring>

#include "common/fixed_codec.h"
#include "event/json_writer.h"
#include "ops/event_buffer.h"

namespace impulse::plan {

std::string_view LateReasonName(LateReason reason) {
  switch (reason) {
    case LateReason::kLate: return "late";
    case LateReason::kStateLimit: return "state_limit";
    case LateReason::kOutOfRange: return "out_of_range";
    case LateReason::kTooLarge: return "too_large";
    case LateReason::kInvalid: return "invalid";
    case LateReason::kAsOfAfterEvent: return "as_of_after_event";
    case LateReason::kAsOfTooOld: return "as_of_too_old";
  }
  return "late";
}

void AppendRefusedRow(std::string_view pipeline, std::string_view step, const Schema& schema, const Value* row,
                      const RowMeta& meta, LateReason reason, int64_t watermark_ms, RowBatch* late) {
  if (late == nullptr) return;
  Arena& arena = late->arena();
  std::string json;
  AppendRowJson(schema, row, &json);
  if (json.size() > kLateEventJsonMaxBytes) {
    // Cut at a UTF-8 boundary so the escaper keeps every character of the prefix.
    size_t cut = kLateEventJsonMaxBytes;
    while (cut > 0 && (static_cast<unsigned char>(json[cut]) & 0xC0) == 0x80) --cut;
    std::string wrapped = "{\"_truncated\":true,\"_bytes\":" + std::to_string(json.size()) + ",\"_prefix\":";
    AppendJsonString(std::string_view(json).substr(0, cut), &wrapped);
    wrapped += '}';
    json = std::move(wrapped);
  }
  Value* o = late->AppendRow();
  RowMeta& m = late->meta(late->size() - 1);
  m = meta;
  o[0] = Value::String(arena.Copy(pipeline));
  o[1] = Value::String(arena.Copy(step));
  o[2] = Value::String(arena.Copy(LateReasonName(reason)));
  o[3] = Value::Int(meta.event_time_ms);
  o[4] = Value::Int(watermark_ms == INT64_MIN ? 0 : watermark_ms);
  o[5] = Value::Int(meta.partition);
  o[6] = Value::Int(static_cast<int64_t>(meta.offset));
  o[7] = Value::String(arena.Copy(json));
}

void AppendLateRow(const OperatorContext& ctx, const Schema& schema, const Value* row, const RowMeta& meta,
                   LateReason reason, int64_t watermark_ms, RowBatch* late) {
  AppendRefusedRow(ctx.pipeline, ctx.label, schema, row, meta, reason, watermark_ms, late);
}

void AppendKeyBytes(const Schema& schema, const std::vector<int>& fields, const Value* row, std::string* out) {
  for (int f : fields) {
    const Value& v = row[f];
    if (v.null) {
      out->push_back('\0');
      continue;
    }
    out->push_back('\1');
    switch (schema.field(static_cast<size_t>(f)).type) {
      case FieldType::kString: {
        PutFixed32(v.len, out);
        out->append(v.str, v.len);
        break;
      }
      case FieldType::kBool: out->push_back(v.b ? '\1' : '\0'); break;
      default: PutI64(v.i64, out); break;
    }
  }
}

void RecordLateRow(const OperatorContext& ctx, const Schema& schema, const Value* row, const RowMeta& meta,
                   LateReason reason, int64_t watermark_ms, OperatorStats* stats, RowBatch* late) {
  if (reason == LateReason::kStateLimit) {
    ++stats->limit_dropped;
  } else {
    ++stats->late_events;
  }
  AppendLateRow(ctx, schema, row, meta, reason, watermark_ms, late);
}

void PutCheckpointedStats(const OperatorStats& stats, std::string* out) {
  PutI64(static_cast<int64_t>(stats.late_events), out);
  PutI64(static_cast<int64_t>(stats.limit_dropped), out);
  PutI64(static_cast<int64_t>(stats.expired), out);
}

bool GetCheckpointedStats(std::string_view* in, OperatorStats* stats) {
  int64_t late = 0, dropped = 0, expired = 0;
  if (!GetI64(in, &late) || !GetI64(in, &dropped) || !GetI64(in, &expired)) return false;
  stats->late_events = static_cast<uint64_t>(late);
  stats->limit_dropped = static_cast<uint64_t>(dropped);
  stats->expired = static_cast<uint64_t>(expired);
  return true;
}

void PutBufferedTail(const EventTimeBuffer& pending, const OperatorStats& stats, std::string* out) {
  pending.Serialize(out);
  PutCheckpointedStats(stats, out);
}

Status GetBufferedTail(std::string_view* in, const std::string& what, EventTimeBuffer* pending, OperatorStats* stats) {
  RETURN_IF_ERROR(pending->Deserialize(in).WithContext(what));
  if (!GetCheckpointedStats(in, stats) || !in->empty()) return DataLoss(what + ": bad trailer");
  return Status::OK();
}

}  // namespace impulse::plan
