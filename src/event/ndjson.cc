#include "event/ndjson.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "event/timestamp.h"

namespace impulse {

namespace od = simdjson::ondemand;

namespace {

// Why a field may not be null beyond its schema: it is the stream's key or event time.
enum class Role : uint8_t { kNone, kKey, kTime };

struct FieldInfo {
  std::string name;
  FieldType type;
  bool nullable;  // false for the key and time fields, whatever the schema says
  Role role;
};

constexpr size_t kLinearLookupFields = 8;
// Nesting limit for the values of unknown fields, which are walked only to validate them.
constexpr int kMaxUnknownDepth = 64;

// True if `token` (simdjson's raw token, maybe followed by whitespace) is a JSON number per
// RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view token) {
  while (!token.empty() &&
         (token.back() == ' ' || token.back() == '\t' || token.back() == '\r' || token.back() == '\n')) {
    token.remove_suffix(1);
  }
  size_t i = 0;
  const size_t n = token.size();
  auto digits = [&]() {
    const size_t start = i;
    while (i < n && token[i] >= '0' && token[i] <= '9') ++i;
    return i - start;
  };
  if (i < n && token[i] == '-') ++i;
  if (i < n && token[i] == '0') {
    ++i;
  } else if (digits() == 0) {
    return false;
  }
  if (i < n && token[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  }
  if (i < n && (token[i] == 'e' || token[i] == 'E')) {
    ++i;
    if (i < n && (token[i] == '+' || token[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == n;
}

// simdjson reports a misspelt literal ("tru", "nul") as a type error; name it as an atom error.
simdjson::error_code AtomError(simdjson::error_code e, simdjson::error_code atom) {
  return e == simdjson::INCORRECT_TYPE ? atom : e;
}

// Walks a value we do not store so that a line is accepted only if all of it is valid JSON
// (on-demand parsing would otherwise skip over e.g. "[1,,2]" or "tru" unchecked).
simdjson::error_code ValidateValue(od::value v, int depth) {
  od::json_type t;
  if (auto e = v.type().get(t)) return e;
  switch (t) {
    case od::json_type::array: {
      if (depth >= kMaxUnknownDepth) return simdjson::DEPTH_ERROR;
      od::array a;
      if (auto e = v.get_array().get(a)) return e;
      for (auto element : a) {
        od::value x;
        if (auto e = element.get(x)) return e;
        if (auto e = ValidateValue(x, depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::object: {
      if (depth >= kMaxUnknownDepth) return simdjson::DEPTH_ERROR;
      od::object o;
      if (auto e = v.get_object().get(o)) return e;
      for (auto member : o) {
        od::field f;
        if (auto e = std::move(member).get(f)) return e;
        if (auto e = f.unescaped_key().error()) return e;
        if (auto e = ValidateValue(f.value(), depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::number: {
      // Checked by grammar, not by conversion: "1e400" is valid JSON, just not a double.
      return IsJsonNumber(v.raw_json_token()) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
    }
    case od::json_type::string: return v.get_string().error();
    case od::json_type::boolean: return AtomError(v.get_bool().error(), simdjson::T_ATOM_ERROR);
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = v.is_null().get(is_null)) return e;
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

std::string InvalidJson(simdjson::error_code e) { return std::string("invalid JSON: ") + simdjson::error_message(e); }

const char* JsonTypeName(od::json_type t) {
  switch (t) {
    case od::json_type::array: return "array";
    case od::json_type::object: return "object";
    case od::json_type::number: return "number";
    case od::json_type::string: return "string";
    case od::json_type::boolean: return "bool";
    case od::json_type::null: return "null";
  }
  return "unknown";
}

bool IsBlank(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

// A line Parse skips (after removing a trailing '\r'): empty or only spaces/tabs.
bool IsSkippedLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line.empty() || (line.front() != '{' && IsBlank(line));
}

std::string FieldReason(std::string_view field, std::string_view what) {
  std::string r;
  r.reserve(field.size() + what.size() + 8);
  r.append("field ").append(field).append(": ").append(what);
  return r;
}

std::string Mismatch(std::string_view field, FieldType expected, std::string_view got) {
  std::string what = "expected ";
  what.append(FieldTypeName(expected)).append(", got ").append(got);
  return FieldReason(field, what);
}

// Reads a JSON integer into `out`; "" on success. Floats are rejected with `type_error`.
std::string ReadInteger(od::value& v, std::string_view field, FieldType t, int64_t* out) {
  od::number_type nt;
  if (auto e = v.get_number_type().get(nt)) return InvalidJson(e);
  if (nt == od::number_type::floating_point_number) return Mismatch(field, t, "double");
  if (nt == od::number_type::unsigned_integer) return FieldReason(field, "integer out of int64 range");
  auto e = v.get_int64().get(*out);
  if (e == simdjson::NUMBER_OUT_OF_RANGE || e == simdjson::INCORRECT_TYPE) {
    return FieldReason(field, "integer out of int64 range");
  }
  if (e) return InvalidJson(e);
  return {};
}

std::string NotPresent(const FieldInfo& fi, std::string_view what) {
  std::string r(what);
  switch (fi.role) {
    case Role::kNone: r += " (not nullable)"; break;
    case Role::kKey: r += " (key field)"; break;
    case Role::kTime: r += " (time field)"; break;
  }
  return FieldReason(fi.name, r);
}

}  // namespace

struct NdjsonParser::Impl {
  Impl(const StreamDef& def, NdjsonLimits lim);
  // Parses one non-blank line into `row`. Returns "" on success, else the reason. String
  // values point into the simdjson parser's buffer until the caller copies them.
  std::string ParseLine(std::string_view line, Value* row);
  std::string ReadValue(const FieldInfo& fi, od::value v, Value* out);
  int FindField(std::string_view key, int hint) const;

  NdjsonLimits limits;
  Status def_status;  // not OK if the StreamDef's key/time field indexes are unusable
  std::vector<FieldInfo> fields;
  std::vector<int> string_fields;  // indexes of kString fields
  std::vector<uint8_t> seen;       // per field: set once the current line has it
  // Name -> index, used when the schema is wide and the hint (next field in order) misses.
  std::unordered_map<std::string_view, int> index;
  od::parser parser;
  std::unique_ptr<char[]> padded;  // zero-initialized; holds the current line + padding
  size_t padded_capacity = 0;
};

NdjsonParser::Impl::Impl(const StreamDef& def, NdjsonLimits lim)
    : limits(lim),
      parser(static_cast<size_t>(std::min<uint64_t>(std::max<uint64_t>(lim.max_line_bytes, 1), 0xFFFFFFFFull))) {
  const Schema& schema = def.schema;
  const int n = static_cast<int>(schema.size());
  if (def.key_field < -1 || def.key_field >= n) {
    def_status =
        InvalidArgument("stream " + def.name + ": key field index " + std::to_string(def.key_field) + " out of range");
  } else if (def.time_field < -1 || def.time_field >= n) {
    def_status = InvalidArgument("stream " + def.name + ": time field index " + std::to_string(def.time_field) +
                                 " out of range");
  } else if (def.time_field >= 0 && schema.field(def.time_field).type != FieldType::kTimestamp &&
             schema.field(def.time_field).type != FieldType::kInt64) {
    def_status = InvalidArgument("stream " + def.name + ": time field " + schema.field(def.time_field).name +
                                 " is not a timestamp or int64");
  }
  fields.reserve(schema.size());
  for (size_t i = 0; i < schema.size(); ++i) {
    const Field& f = schema.field(i);
    FieldInfo info{f.name, f.type, f.nullable, Role::kNone};
    if (static_cast<int>(i) == def.key_field) {
      info.nullable = false;
      info.role = Role::kKey;
    } else if (static_cast<int>(i) == def.time_field) {
      info.nullable = false;
      info.role = Role::kTime;
    }
    fields.push_back(std::move(info));
    if (f.type == FieldType::kString) string_fields.push_back(static_cast<int>(i));
  }
  // fields no longer changes, so the views into its names stay valid.
  for (size_t i = 0; i < fields.size(); ++i) index.emplace(fields[i].name, static_cast<int>(i));
  seen.assign(fields.size(), 0);
}

NdjsonParser::NdjsonParser(const StreamDef& def, NdjsonLimits limits)
    : def_(def), limits_(limits), impl_(std::make_unique<Impl>(def, limits)) {}

NdjsonParser::~NdjsonParser() = default;

int NdjsonParser::Impl::FindField(std::string_view key, int hint) const {
  const int n = static_cast<int>(fields.size());
  if (hint < n && fields[hint].name == key) return hint;
  if (fields.size() <= kLinearLookupFields) {
    for (int i = 0; i < n; ++i) {
      if (fields[i].name == key) return i;
    }
    return -1;
  }
  auto it = index.find(key);
  return it == index.end() ? -1 : it->second;
}

uint64_t CountNdjsonRecords(std::string_view body, uint64_t stop_after) {
  uint64_t records = 0;
  size_t pos = 0;
  while (pos < body.size() && records <= stop_after) {
    const void* nl = std::memchr(body.data() + pos, '\n', body.size() - pos);
    const size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - body.data()) : body.size();
    if (!IsSkippedLine(body.substr(pos, end - pos))) ++records;
    pos = end + 1;
  }
  return records;
}

Status NdjsonParser::Parse(std::string_view body, int64_t ingest_time_ms, RowBatch* rows, std::vector<BadLine>* bad) {
  RETURN_IF_ERROR(impl_->def_status);
  const size_t width = impl_->fields.size();
  if (rows->width() != width) {
    return InvalidArgument("row batch width " + std::to_string(rows->width()) + " does not match schema of stream " +
                           def_.name + " (" + std::to_string(width) + " fields)");
  }
  size_t pos = 0;
  uint32_t line_no = 0;
  while (pos < body.size()) {
    const void* nl = std::memchr(body.data() + pos, '\n', body.size() - pos);
    const size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - body.data()) : body.size();
    std::string_view line = body.substr(pos, end - pos);
    pos = end + 1;
    if (line_no == UINT32_MAX) return ResourceExhausted("body has more than 2^32-1 lines");
    ++line_no;
    if (IsSkippedLine(line)) continue;
    if (line.back() == '\r') line.remove_suffix(1);
    if (line.size() > limits_.max_line_bytes) {
      bad->push_back({line_no, line, "line exceeds " + std::to_string(limits_.max_line_bytes) + " bytes"});
      continue;
    }
    Value* row = rows->AppendRow();
    std::string reason = impl_->ParseLine(line, row);
    if (!reason.empty()) {
      rows->PopRow();
      bad->push_back({line_no, line, std::move(reason)});
      continue;
    }
    // Strings still point into the simdjson parser's buffer: move them to the batch arena.
    for (int i : impl_->string_fields) {
      Value& v = row[i];
      if (!v.null) v.str = v.len == 0 ? nullptr : rows->arena().Copy(v.sv()).data();
    }
    RowMeta& meta = rows->meta(rows->size() - 1);
    meta.line = line_no;
    meta.ingest_time_ms = ingest_time_ms;
    meta.event_time_ms = def_.time_field >= 0 ? row[def_.time_field].i64 : ingest_time_ms;
  }
  return Status::OK();
}

std::string NdjsonParser::Impl::ParseLine(std::string_view line, Value* row) {
  const size_t needed = line.size() + simdjson::SIMDJSON_PADDING;
  if (padded_capacity < needed) {
    // Grow geometrically up to the line limit so a few long lines do not reallocate each time.
    size_t cap = std::max<size_t>({needed, padded_capacity * 2, 4096});
    cap = std::min<size_t>(cap, limits.max_line_bytes + simdjson::SIMDJSON_PADDING);
    cap = std::max(cap, needed);
    padded = std::make_unique<char[]>(cap);
    padded_capacity = cap;
  }
  std::memcpy(padded.get(), line.data(), line.size());

  od::document doc;
  if (auto e = parser.iterate(padded.get(), line.size(), padded_capacity).get(doc)) {
    return InvalidJson(e);
  }
  od::json_type root_type;
  if (auto e = doc.type().get(root_type)) return InvalidJson(e);
  if (root_type != od::json_type::object) {
    // Say "not an object" only for well-formed JSON; garbage ("nope", "tru") is invalid JSON.
    simdjson::error_code e = simdjson::SUCCESS;
    switch (root_type) {
      case od::json_type::null: {
        bool is_null = false;
        e = doc.is_null().get(is_null);
        if (!e && !is_null) e = simdjson::N_ATOM_ERROR;
        break;
      }
      case od::json_type::boolean: e = AtomError(doc.get_bool().error(), simdjson::T_ATOM_ERROR); break;
      case od::json_type::number: e = doc.get_double().error(); break;
      case od::json_type::string: e = doc.get_string().error(); break;
      default: break;
    }
    if (!e && root_type != od::json_type::array && doc.current_location().error() == simdjson::SUCCESS) {
      e = simdjson::TAPE_ERROR;  // a scalar followed by more tokens
    }
    if (e) return InvalidJson(e);
    return std::string("expected a JSON object, got ") + JsonTypeName(root_type);
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return InvalidJson(e);

  std::fill(seen.begin(), seen.end(), 0);
  int hint = 0;
  for (auto field_result : obj) {
    od::field field;
    if (auto e = std::move(field_result).get(field)) return InvalidJson(e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return InvalidJson(e);
    const int idx = FindField(key, hint);
    if (idx < 0) {  // unknown field: not stored, but it must be valid JSON
      if (auto e = ValidateValue(field.value(), 1)) return InvalidJson(e);
      continue;
    }
    const FieldInfo& fi = fields[idx];
    if (seen[idx]) return FieldReason(fi.name, "duplicate");
    seen[idx] = 1;
    hint = idx + 1;
    std::string reason = ReadValue(fi, field.value(), &row[idx]);
    if (!reason.empty()) return reason;
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    if (!seen[i] && !fields[i].nullable) return NotPresent(fields[i], "missing");
  }
  // The object is complete; anything after it is an error ("{...} {...}", "{...} x").
  const char* loc = nullptr;
  if (doc.current_location().get(loc) == simdjson::SUCCESS) {
    return "invalid JSON: trailing content after the object";
  }
  return {};
}

std::string NdjsonParser::Impl::ReadValue(const FieldInfo& fi, od::value v, Value* out) {
  od::json_type jt;
  if (auto e = v.type().get(jt)) return InvalidJson(e);
  if (jt == od::json_type::null) {
    bool is_null = false;
    if (auto e = v.is_null().get(is_null)) return InvalidJson(e);
    if (!is_null) return InvalidJson(simdjson::N_ATOM_ERROR);
    if (fi.nullable) {
      *out = Value::Null();
      return {};
    }
    return NotPresent(fi, "null");
  }
  switch (fi.type) {
    case FieldType::kInt64: {
      if (jt != od::json_type::number) return Mismatch(fi.name, fi.type, JsonTypeName(jt));
      int64_t x = 0;
      std::string r = ReadInteger(v, fi.name, fi.type, &x);
      if (!r.empty()) return r;
      *out = Value::Int(x);
      return {};
    }
    case FieldType::kDouble: {
      if (jt != od::json_type::number) return Mismatch(fi.name, fi.type, JsonTypeName(jt));
      double x = 0;
      if (auto e = v.get_double().get(x)) {
        if (IsJsonNumber(v.raw_json_token())) {
          return FieldReason(fi.name, "number out of double range");
        }
        return InvalidJson(e);
      }
      *out = Value::Double(x);
      return {};
    }
    case FieldType::kBool: {
      if (jt != od::json_type::boolean) return Mismatch(fi.name, fi.type, JsonTypeName(jt));
      bool x = false;
      if (auto e = v.get_bool().get(x)) return InvalidJson(AtomError(e, simdjson::T_ATOM_ERROR));
      *out = Value::Bool(x);
      return {};
    }
    case FieldType::kString: {
      if (jt != od::json_type::string) return Mismatch(fi.name, fi.type, JsonTypeName(jt));
      std::string_view s;
      if (auto e = v.get_string().get(s)) return InvalidJson(e);
      if (s.size() > UINT32_MAX) return FieldReason(fi.name, "string too long");
      *out = Value::String(s);  // re-pointed into the batch arena by Parse()
      return {};
    }
    case FieldType::kTimestamp: {
      if (jt == od::json_type::string) {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return InvalidJson(e);
        Result<int64_t> ms = ParseTimestampMs(s);
        if (!ms.ok()) return FieldReason(fi.name, "invalid timestamp: " + ms.status().message());
        *out = Value::Int(*ms);
        return {};
      }
      if (jt == od::json_type::number) {
        int64_t x = 0;
        std::string r = ReadInteger(v, fi.name, fi.type, &x);
        if (!r.empty()) return r;
        if (x < kMinTimestampMs || x > kMaxTimestampMs) {
          return FieldReason(fi.name, "timestamp out of range (years 0000..9999)");
        }
        *out = Value::Int(x);
        return {};
      }
      return Mismatch(fi.name, fi.type, JsonTypeName(jt));
    }
  }
  return FieldReason(fi.name, "unsupported field type");
}

}  // namespace impulse
