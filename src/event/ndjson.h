// NDJSON ingest: splits a request body into lines, parses each line as one JSON object with
// simdjson (on demand) and validates it against a stream's schema. Valid lines become rows;
// bad lines are reported with a stable, precise reason (see docs/EVENT_FORMAT.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse {

struct NdjsonLimits {
  // A line longer than this (excluding its '\n' and a trailing '\r') is rejected without
  // being parsed. Also bounds the parser's and the padded buffer's memory. Default 1 MiB.
  uint64_t max_line_bytes = 1 << 20;
};

// One rejected line. `raw` points into the body passed to Parse (without '\n' / '\r').
struct BadLine {
  uint32_t line = 0;  // 1-based line number in the body
  std::string_view raw;
  std::string reason;  // "field amount: expected double, got string"
};

// Parses and validates NDJSON for one stream.
// Built once per stream (resolves field names at construction); then used by one thread at a
// time, reused across requests. Holds a simdjson parser and a padded line buffer, both sized
// to the longest line seen (at most max_line_bytes), so steady state allocates nothing per
// valid line (a bad line allocates its reason string).
// The number of records (rows plus bad lines) NdjsonParser::Parse makes of `body`: its lines
// that are not blank. Stops counting past `stop_after` (returns stop_after + 1 then). One
// memchr pass, no allocation: lets a caller refuse a body too large to admit before parsing it.
uint64_t CountNdjsonRecords(std::string_view body, uint64_t stop_after);

class NdjsonParser {
 public:
  NdjsonParser(const StreamDef& def, NdjsonLimits limits);
  ~NdjsonParser();
  NdjsonParser(const NdjsonParser&) = delete;
  NdjsonParser& operator=(const NdjsonParser&) = delete;

  // Appends one row per valid line to `rows` (whose width must be the schema's size; strings
  // are copied into rows->arena()) and one BadLine per invalid line to `bad`. Blank lines
  // (empty or only spaces/tabs) are skipped but counted in line numbers. RowMeta gets the
  // line number, ingest_time_ms and event_time_ms (the time field's value, else ingest time).
  // Returns kInvalidArgument only if `rows` has the wrong width or the StreamDef's key/time
  // field index is out of range (or the time field is not a timestamp/int64); bad lines are
  // not errors.
  Status Parse(std::string_view body, int64_t ingest_time_ms, RowBatch* rows, std::vector<BadLine>* bad);

  const StreamDef& def() const { return def_; }

 private:
  StreamDef def_;
  NdjsonLimits limits_;
  // Resolved fields, the simdjson parser and the padded line buffer (kept out of this header
  // so that its users do not compile simdjson.h).
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace impulse
