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

}  // namespace impulse::server
