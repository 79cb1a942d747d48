// The one JSON string escaper: every JSON writer of the project (rows, API responses, decision
// records, tool output, test fakes) quotes strings through it, so they all treat control
// characters and invalid UTF-8 the same way. Pure function, safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace impulse {

// Appends `s` as a quoted JSON string (RFC 8259):
// - '"' and '\\' are escaped with a backslash;
// - control characters U+0000..U+001F are escaped: \n, \r, \t, \b, \f by name, the others as
//   \u00XX (lower-case hex); DEL (0x7f) and '/' are written as is;
// - valid UTF-8 sequences (Unicode table 3-7: no overlong forms, no surrogates, nothing above
//   U+10FFFF) are copied unchanged;
// - every other byte >= 0x80 (a lone continuation byte, the lead byte of an overlong, surrogate,
//   out-of-range or truncated sequence, 0xC0, 0xC1, 0xF5..0xFF) is replaced by U+FFFD
//   (EF BF BD), one replacement per byte, and the bytes after it are examined afresh.
// So the output is always valid UTF-8 JSON whatever `s` holds.
void AppendJsonString(std::string_view s, std::string* out);

// The same, returned as a new string: "a\"b" for a"b.
inline std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

}  // namespace impulse
