#include "event/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "event/timestamp.h"

namespace impulse {
namespace {

template <typename T>
void AppendInt(T v, std::string* out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

}  // namespace

void AppendJsonDouble(double v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
  // "1" would read back as an integer in most JSON libraries: keep it visibly a double.
  if (std::memchr(buf, '.', static_cast<size_t>(res.ptr - buf)) == nullptr &&
      std::memchr(buf, 'e', static_cast<size_t>(res.ptr - buf)) == nullptr) {
    out->append(".0");
  }
}

void AppendRowJson(const Schema& schema, const Value* row, std::string* out, const JsonRowPrefix* prefix) {
  out->push_back('{');
  bool first = true;
  if (prefix != nullptr) {
    out->append("\"_offset\":");
    AppendInt(prefix->offset, out);
    out->append(",\"_partition\":");
    AppendInt(prefix->partition, out);
    out->append(",\"_event_time\":\"");
    AppendTimestampIso(prefix->event_time_ms, out);
    out->push_back('"');
    first = false;
  }
  for (size_t i = 0; i < schema.size(); ++i) {
    const Field& f = schema.field(i);
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(f.name, out);
    out->push_back(':');
    const Value& v = row[i];
    if (v.null) {
      out->append("null");
      continue;
    }
    switch (f.type) {
      case FieldType::kInt64: AppendInt(v.i64, out); break;
      case FieldType::kDouble: AppendJsonDouble(v.f64, out); break;
      case FieldType::kBool: out->append(v.b ? "true" : "false"); break;
      case FieldType::kString: AppendJsonString(v.sv(), out); break;
      case FieldType::kTimestamp:
        out->push_back('"');
        AppendTimestampIso(v.i64, out);
        out->push_back('"');
        break;
    }
  }
  out->push_back('}');
}

}  // namespace impulse
