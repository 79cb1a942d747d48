// A tiny JSON text helper for the server's responses (control-plane sized; the hot path
// never builds JSON here). Private to src/server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/json_string.h"  // AppendJsonString

namespace impulse::server {

// {"error":"<message>","code":"<code>"}
std::string JsonError(std::string_view message, std::string_view code);

}  // namespace impulse::server
