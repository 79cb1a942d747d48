// Fuzzes NdjsonParser with arbitrary bodies for a fixed 5-field schema (every type, one
// nullable) and checks that every accepted row survives EncodeRow/DecodeRow and
// AppendRowJson/Parse unchanged and that every bad line points into the body. The same bytes
// also go to DecodeRow (as a payload) and ParseTimestampMs (as a string). Aborts on any
// mismatch.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "event/json_writer.h"
#include "event/ndjson.h"
#include "event/row_codec.h"
#include "event/timestamp.h"

namespace {

using namespace impulse;

StreamDef FuzzDef() {
  StreamDef def;
  def.name = "fuzz";
  def.schema = Schema({{"s", FieldType::kString, false},
                       {"i", FieldType::kInt64, false},
                       {"d", FieldType::kDouble, true},
                       {"b", FieldType::kBool, false},
                       {"t", FieldType::kTimestamp, false}});
  def.key_field = 0;
  def.time_field = 4;
  return def;
}

void Fail(const char* what, size_t row) {
  std::fprintf(stderr, "ndjson_fuzz: %s (row %zu)\n", what, row);
  std::abort();
}

bool SameValue(FieldType t, const Value& a, const Value& b) {
  if (a.null != b.null) return false;
  if (a.null) return true;
  switch (t) {
    case FieldType::kString: return a.sv() == b.sv();
    case FieldType::kDouble: return std::memcmp(&a.f64, &b.f64, 8) == 0;
    case FieldType::kBool: return a.b == b.b;
    default: return a.i64 == b.i64;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const StreamDef def = FuzzDef();
  static NdjsonParser parser(def, NdjsonLimits{.max_line_bytes = 4096});
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  RowBatch rows(def.schema.size());
  std::vector<BadLine> bad;
  if (!parser.Parse(body, 7, &rows, &bad).ok()) Fail("Parse returned an error", 0);
  for (const BadLine& b : bad) {
    if (b.raw.data() < body.data() || b.raw.data() + b.raw.size() > body.data() + body.size()) {
      Fail("bad line raw outside body", b.line);
    }
    if (b.reason.empty()) Fail("empty reason", b.line);
  }
  RowBatch decoded(def.schema.size());
  std::string payload, json;

  // The input as a row payload: never crashes; if accepted, it re-encodes to an equal row.
  if (DecodeRow(def.schema, body, &decoded).ok()) {
    payload.clear();
    EncodeRow(def.schema, decoded.row(0), decoded.meta(0), &payload);
    if (!DecodeRow(def.schema, payload, &decoded).ok()) Fail("re-encoded payload rejected", 0);
    for (size_t f = 0; f < def.schema.size(); ++f) {
      if (!SameValue(def.schema.field(f).type, decoded.row(0)[f], decoded.row(1)[f])) {
        Fail("payload re-encode mismatch", 0);
      }
    }
  }
  decoded.Clear();

  // The input as a timestamp: if accepted, its ISO form parses back to the same instant.
  if (size <= 64) {
    Result<int64_t> ms = ParseTimestampMs(body);
    if (ms.ok()) {
      if (*ms < kMinTimestampMs || *ms > kMaxTimestampMs) Fail("timestamp out of range", 0);
      json.clear();
      AppendTimestampIso(*ms, &json);
      Result<int64_t> back = ParseTimestampMs(json);
      if (!back.ok() || *back != *ms) Fail("timestamp round trip mismatch", 0);
    }
  }

  for (size_t r = 0; r < rows.size(); ++r) {
    const Value* row = rows.row(r);
    if (rows.meta(r).event_time_ms != row[4].i64) Fail("event time is not the time field", r);
    if (row[0].null || row[1].null || row[3].null || row[4].null) Fail("null in non-nullable", r);
    payload.clear();
    EncodeRow(def.schema, row, rows.meta(r), &payload);
    if (payload.size() != EncodedRowSize(def.schema, row)) Fail("EncodedRowSize mismatch", r);
    if (!DecodeRow(def.schema, payload, &decoded).ok()) Fail("DecodeRow rejected EncodeRow output", r);
    const Value* back = decoded.row(decoded.size() - 1);
    for (size_t f = 0; f < def.schema.size(); ++f) {
      if (!SameValue(def.schema.field(f).type, row[f], back[f])) Fail("round trip mismatch", r);
    }
    if (decoded.meta(decoded.size() - 1).event_time_ms != rows.meta(r).event_time_ms) {
      Fail("event time round trip mismatch", r);
    }
    // The JSON of an accepted row must itself be accepted, with the same values.
    json.clear();
    AppendRowJson(def.schema, row, &json);
    RowBatch again(def.schema.size());
    std::vector<BadLine> again_bad;
    if (!parser.Parse(json, 7, &again, &again_bad).ok() || again.size() != 1) {
      Fail("JSON output of an accepted row was rejected", r);
    }
    for (size_t f = 0; f < def.schema.size(); ++f) {
      if (!SameValue(def.schema.field(f).type, row[f], again.row(0)[f])) Fail("JSON round trip mismatch", r);
    }
  }
  return 0;
}
