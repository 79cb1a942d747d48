#include "server/json_writer.h"

namespace impulse::server {

std::string JsonError(std::string_view message, std::string_view code) {
  std::string out = "{\"error\":";
  AppendJsonString(message, &out);
  out.append(",\"code\":");
  AppendJsonString(code, &out);
  out.push_back('}');
  return out;
}

void AppendSchemaFields(const Schema& schema, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < schema.size(); ++i) {
    const Field& f = schema.field(i);
    if (i > 0) out->push_back(',');
    out->append("{\"name\":");
    AppendJsonString(f.name, out);
    out->append(",\"type\":");
    AppendJsonString(FieldTypeName(f.type), out);
    out->append(",\"nullable\":").append(f.nullable ? "true" : "false").append("}");
  }
  out->push_back(']');
}

}  // namespace impulse::server
