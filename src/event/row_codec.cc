#include "event/row_codec.h"

#include <cstring>

#include "common/fixed_codec.h"

namespace impulse {
namespace {

// Bounds-checked reader over a payload; every read reports truncation instead of overrunning.
class Reader {
 public:
  explicit Reader(std::string_view s) : in_(s) {}
  size_t remaining() const { return in_.size(); }

  bool Byte(uint8_t* v) {
    if (in_.empty()) return false;
    *v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool Fixed64(uint64_t* v) { return GetFixed64(&in_, v); }
  // LEB128, at most `max_bytes` bytes; false on truncation or overlong encoding.
  bool Varint(uint64_t* v, size_t max_bytes) { return GetVarint64(&in_, v, max_bytes); }
  bool Bytes(size_t n, std::string_view* s) {
    if (in_.size() < n) return false;
    *s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view in_;
};

Status Corrupt(const std::string& what) { return DataLoss("row payload: " + what); }

}  // namespace

size_t EncodedRowSize(const Schema& schema, const Value* row) {
  const size_t n = schema.size();
  size_t size = 1 + 8 + VarintLength(n) + (n + 7) / 8;
  for (size_t i = 0; i < n; ++i) {
    if (row[i].null) continue;
    switch (schema.field(i).type) {
      case FieldType::kInt64:
      case FieldType::kDouble:
      case FieldType::kTimestamp: size += 8; break;
      case FieldType::kBool: size += 1; break;
      case FieldType::kString: size += VarintLength(row[i].len) + row[i].len; break;
    }
  }
  return size;
}

void EncodeRow(const Schema& schema, const Value* row, const RowMeta& meta, std::string* out) {
  const size_t n = schema.size();
  out->push_back(static_cast<char>(kRowFormatVersion));
  PutFixed64(static_cast<uint64_t>(meta.event_time_ms), out);
  PutVarint64(n, out);
  // Null bitmap: bit (i % 8) of byte (i / 8) set = field i is null.
  const size_t bitmap_at = out->size();
  out->append((n + 7) / 8, '\0');
  for (size_t i = 0; i < n; ++i) {
    if (row[i].null) (*out)[bitmap_at + i / 8] = static_cast<char>((*out)[bitmap_at + i / 8] | (1 << (i % 8)));
  }
  for (size_t i = 0; i < n; ++i) {
    const Value& v = row[i];
    if (v.null) continue;
    switch (schema.field(i).type) {
      case FieldType::kInt64:
      case FieldType::kTimestamp: PutFixed64(static_cast<uint64_t>(v.i64), out); break;
      case FieldType::kDouble: {
        uint64_t bits;
        std::memcpy(&bits, &v.f64, 8);
        PutFixed64(bits, out);
        break;
      }
      case FieldType::kBool: out->push_back(v.b ? 1 : 0); break;
      case FieldType::kString:
        PutVarint64(v.len, out);
        if (v.len > 0) out->append(v.str, v.len);
        break;
    }
  }
}

Status DecodeRow(const Schema& schema, std::string_view payload, RowBatch* out) {
  const size_t n = schema.size();
  if (out->width() != n) {
    return InvalidArgument("row batch width " + std::to_string(out->width()) + " does not match schema (" +
                           std::to_string(n) + " fields)");
  }
  Reader r(payload);
  uint8_t version = 0;
  if (!r.Byte(&version)) return Corrupt("empty");
  if (version != kRowFormatVersion) {
    return Corrupt("unknown format version " + std::to_string(version));
  }
  uint64_t event_time = 0;
  if (!r.Fixed64(&event_time)) return Corrupt("truncated in event time");
  uint64_t count = 0;
  if (!r.Varint(&count, 10)) return Corrupt("truncated or overlong field count");
  if (count != n) {
    return Corrupt("field count " + std::to_string(count) + " does not match schema (" + std::to_string(n) + ")");
  }
  std::string_view bitmap;
  if (!r.Bytes((n + 7) / 8, &bitmap)) return Corrupt("truncated in null bitmap");
  if (n % 8 != 0 && (static_cast<uint8_t>(bitmap.back()) >> (n % 8)) != 0) {
    return Corrupt("null bitmap has bits set past the last field");
  }

  // Decode into a staging row first so that a corrupt payload leaves `out` unchanged.
  Value* row = out->AppendRow();
  auto fail = [&](const std::string& what) {
    out->PopRow();
    return Corrupt(what);
  };
  for (size_t i = 0; i < n; ++i) {
    const Field& f = schema.field(i);
    const bool is_null = (static_cast<uint8_t>(bitmap[i / 8]) >> (i % 8)) & 1;
    if (is_null) {
      if (!f.nullable) return fail("field " + f.name + ": null in a non-nullable field");
      row[i] = Value::Null();
      continue;
    }
    switch (f.type) {
      case FieldType::kInt64:
      case FieldType::kTimestamp: {
        uint64_t x;
        if (!r.Fixed64(&x)) return fail("truncated in field " + f.name);
        row[i] = Value::Int(static_cast<int64_t>(x));
        break;
      }
      case FieldType::kDouble: {
        uint64_t x;
        if (!r.Fixed64(&x)) return fail("truncated in field " + f.name);
        double d;
        std::memcpy(&d, &x, 8);
        row[i] = Value::Double(d);
        break;
      }
      case FieldType::kBool: {
        uint8_t b;
        if (!r.Byte(&b)) return fail("truncated in field " + f.name);
        if (b > 1) return fail("field " + f.name + ": bool byte " + std::to_string(b));
        row[i] = Value::Bool(b == 1);
        break;
      }
      case FieldType::kString: {
        uint64_t len;
        if (!r.Varint(&len, 5) || len > UINT32_MAX) {
          return fail("truncated or bad length in field " + f.name);
        }
        std::string_view s;
        if (!r.Bytes(static_cast<size_t>(len), &s)) return fail("truncated in field " + f.name);
        row[i] = Value::String(s);  // still points into the payload; copied below
        break;
      }
    }
  }
  if (r.remaining() != 0) {
    return fail(std::to_string(r.remaining()) + " trailing bytes");
  }
  // Valid: now copy strings into the arena (nothing is copied for a corrupt payload).
  for (size_t i = 0; i < n; ++i) {
    if (schema.field(i).type == FieldType::kString && !row[i].null) {
      row[i].str = row[i].len == 0 ? nullptr : out->arena().Copy(row[i].sv()).data();
    }
  }
  out->meta(out->size() - 1).event_time_ms = static_cast<int64_t>(event_time);
  return Status::OK();
}

void EncodeWatermarkMarker(uint32_t writer, int64_t watermark_ms, std::string* out) {
  out->push_back(static_cast<char>(kWatermarkMarkerTag));
  PutFixed32(writer, out);
  PutI64(watermark_ms, out);
}

Status DecodeWatermarkMarker(std::string_view payload, uint32_t* writer, int64_t* watermark_ms) {
  if (payload.size() != kWatermarkMarkerBytes || !IsWatermarkMarker(payload)) {
    return DataLoss("malformed watermark marker of " + std::to_string(payload.size()) + " bytes");
  }
  *writer = DecodeFixed32(payload.data() + 1);
  *watermark_ms = static_cast<int64_t>(DecodeFixed64(payload.data() + 5));
  return Status::OK();
}

void EncodeSourcePosition(uint64_t next_position, std::string* out) {
  out->push_back(static_cast<char>(kSourcePositionTag));
  PutFixed64(next_position, out);
}

Status DecodeSourcePosition(std::string_view payload, uint64_t* next_position) {
  if (payload.size() != kSourcePositionBytes || !IsSourcePosition(payload)) {
    return DataLoss("malformed source position of " + std::to_string(payload.size()) + " bytes");
  }
  *next_position = DecodeFixed64(payload.data() + 1);
  return Status::OK();
}

}  // namespace impulse
