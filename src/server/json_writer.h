// A tiny JSON text helper for the server's responses (control-plane sized; the hot path
// never builds JSON here). Private to src/server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace impulse::server {

// Appends `s` as a quoted JSON string, escaping quotes, backslashes and control characters.
// Bytes >= 0x80 are copied as they are (the input is expected to be UTF-8).
void AppendJsonString(std::string_view s, std::string* out);

// {"error":"<message>","code":"<code>"}
std::string JsonError(std::string_view message, std::string_view code);

}  // namespace impulse::server
