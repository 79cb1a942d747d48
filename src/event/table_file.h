// Loads a whole file of rows for a stream's schema: NDJSON (one object per line) or CSV with a
// header row naming the fields (by file extension: .csv, else NDJSON). Used for lookup tables
// loaded at start. Any bad line fails the load with the file, line and reason: a table with
// holes would silently drop joins.
#pragma once

#include <string>

#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse {

inline constexpr uint64_t kTableFileBytesMax = 1ull << 30;  // 1 GiB

// CSV rules: RFC 4180 (quotes, escaped quotes, embedded newlines; libcsv). Header names must
// be the schema's fields (any order; missing nullable fields are null). An empty cell is null,
// except for a non-nullable string field, where it is "". Cells of int64/double/bool fields are
// parsed as JSON numbers/literals; a timestamp cell is ms since the epoch if all digits, else
// an RFC 3339 string.
Status LoadTableFile(const std::string& path, const StreamDef& def, RowBatch* rows,
                     uint64_t max_bytes = kTableFileBytesMax);

}  // namespace impulse
