// The binary encoding of one event as stored in the log (the record payload). Compact and
// schema-driven: field names and types are not stored, the stream's schema is. Byte layout in
// docs/EVENT_FORMAT.md. Pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse {

// Version byte written first in every payload; DecodeRow rejects any other.
inline constexpr uint8_t kRowFormatVersion = 1;

// Appends the encoding of `row` (schema.size() values) and meta.event_time_ms to `out`.
// Other RowMeta fields (offset, partition, ingest time, line) belong to the log record.
// Appends only: reuse `out` (clear it) to avoid allocating per event.
void EncodeRow(const Schema& schema, const Value* row, const RowMeta& meta, std::string* out);

// Watermark markers: control records that pipelines write into the streams they produce, in
// order with their rows, so a reader knows each writer's event-time progress
// (docs/EVENT_TIME.md). A marker's first byte is kWatermarkMarkerTag, never a row version.
// Layout: tag, u32 writer id, i64 watermark ms (little-endian).
inline constexpr uint8_t kWatermarkMarkerTag = 0xFE;
inline constexpr size_t kWatermarkMarkerBytes = 13;
void EncodeWatermarkMarker(uint32_t writer, int64_t watermark_ms, std::string* out);
inline bool IsWatermarkMarker(std::string_view payload) {
  return !payload.empty() && static_cast<uint8_t>(payload[0]) == kWatermarkMarkerTag;
}
// kDataLoss if `payload` is not a well-formed marker.
Status DecodeWatermarkMarker(std::string_view payload, uint32_t* writer, int64_t* watermark_ms);

// Source position markers: control records that a connector (docs/CONNECTORS.md) appends after
// each batch it copies from an external partition into the same log partition, in the same
// append, so the log itself says up to where the external partition was copied. Readers skip
// them. Layout: tag, u64 next external position (little-endian).
inline constexpr uint8_t kSourcePositionTag = 0xFD;
inline constexpr size_t kSourcePositionBytes = 9;
void EncodeSourcePosition(uint64_t next_position, std::string* out);
inline bool IsSourcePosition(std::string_view payload) {
  return !payload.empty() && static_cast<uint8_t>(payload[0]) == kSourcePositionTag;
}
// kDataLoss if `payload` is not a well-formed source position.
Status DecodeSourcePosition(std::string_view payload, uint64_t* next_position);
// The bytes of the watermark markers at the start of `trailer` (a connector's control records
// appended after a batch: markers, then at most one other record).
inline size_t LeadingMarkerBytes(std::string_view trailer) {
  size_t n = 0;
  while (trailer.size() - n >= kWatermarkMarkerBytes && IsWatermarkMarker(trailer.substr(n))) {
    n += kWatermarkMarkerBytes;
  }
  return n;
}
// Any control record (watermark marker, source position): not a row.
inline bool IsControlRecord(std::string_view payload) {
  return IsWatermarkMarker(payload) || IsSourcePosition(payload);
}

// The exact size EncodeRow would append, for sizing buffers.
size_t EncodedRowSize(const Schema& schema, const Value* row);

// Appends one row decoded from `payload` to `out` (width must be schema.size()), strings
// copied into out's arena, meta.event_time_ms set (other meta fields zero). kDataLoss with a
// reason for any malformed payload: wrong version, field count mismatch, truncation, a null in
// a non-nullable field, a bool byte other than 0/1, set padding bits, trailing bytes. Never
// reads outside `payload`; on error `out` is unchanged (no row appended).
Status DecodeRow(const Schema& schema, std::string_view payload, RowBatch* out);

}  // namespace impulse
