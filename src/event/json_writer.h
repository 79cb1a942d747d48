// JSON output of rows and strings: used to serve events (GET /streams/x/events), dead letters
// and API responses. Appends to a caller-owned string (reuse it to avoid allocation); pure
// functions, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/json_string.h"
#include "impulse/row.h"
#include "impulse/schema.h"

namespace impulse {

// Metadata members written before the fields: {"_offset":N,"_partition":P,"_event_time":"..."}.
struct JsonRowPrefix {
  uint64_t offset = 0;
  uint32_t partition = 0;
  int64_t event_time_ms = 0;  // written as an ISO-8601 string, like timestamp fields
};

// AppendJsonString(s, out): common/json_string.h (escaping rules and invalid UTF-8 there).

// Appends a JSON number for `v` that parses back to the same double (shortest form, always
// with a '.' or exponent, so typed readers see a double: 1.0, -0.0, 1e+300); NaN and
// infinities, which JSON cannot represent, become null.
void AppendJsonDouble(double v, std::string* out);

// Appends one JSON object for `row` (schema.size() values), fields in schema order: int64 as
// integers, doubles as above, bools, strings escaped, timestamps as ISO-8601 strings
// ("2024-03-01T12:34:56.789Z"), nulls as null. If `prefix` is not null its members come
// first. No trailing newline.
void AppendRowJson(const Schema& schema, const Value* row, std::string* out, const JsonRowPrefix* prefix = nullptr);

}  // namespace impulse
