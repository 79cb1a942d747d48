// A tiny JSON text helper for the server's responses (control-plane sized; the hot path
// never builds JSON here). Private to src/server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/json_string.h"  // AppendJsonString
#include "impulse/schema.h"

namespace impulse::server {

// {"error":"<message>","code":"<code>"}
std::string JsonError(std::string_view message, std::string_view code);

// [{"name":...,"type":...,"nullable":...}, ...]: a stream's fields, as the stream routes list them.
void AppendSchemaFields(const Schema& schema, std::string* out);

}  // namespace impulse::server
