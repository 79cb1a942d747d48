// The syntax an outgoing HTTP request must obey before anything reaches the wire: the URL of an
// action, and header names and values. One definition, used by spec validation (`impulse
// validate`), by executor construction (`impulse run`) and by the client on every request, so
// what validate accepts run accepts, and a value computed at run time cannot inject a header.
// Pure functions, no I/O; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "impulse/status.h"

namespace impulse::action {

struct ParsedUrl {
  std::string host;
  std::string port;    // "80" when absent
  std::string target;  // "/" when absent
};

// http://host[:port][/path][?query] only; kInvalidArgument otherwise: another scheme, user
// info, an empty host, a port outside 1..65535, or any byte that is a control character, a
// space or not ASCII (a request line or Host header must not be split; percent-encode such
// bytes).
Result<ParsedUrl> ParseHttpUrl(std::string_view url);

// A field name is an RFC 9110 token (1*tchar); kInvalidArgument otherwise.
Status CheckHeaderName(std::string_view name);
// A field value holds no control character other than HTAB (so no CR, LF or NUL) and no DEL;
// kInvalidArgument otherwise. Bytes >= 0x80 (obs-text) are allowed.
Status CheckHeaderValue(std::string_view name, std::string_view value);

}  // namespace impulse::action
