// Loads a whole file of rows for a stream's schema: NDJSON (one object per line) or CSV with a
// header row naming the fields (by file extension: .csv in any case, else NDJSON, unless the
// format is given). Used for lookup tables loaded at start and by `impulse ingest`. Any bad line fails the load with
// the file, line and reason: a table with holes would silently drop joins.
#pragma once

#include <string>

#include "event/csv_header.h"
#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse {

inline constexpr uint64_t kTableFileBytesMax = 1ull << 30;  // 1 GiB

// CSV rules: RFC 4180 (quotes, escaped quotes, embedded newlines; libcsv). Header names must
// be the schema's fields (any order; missing nullable fields are null). An empty cell is null,
// except for a non-nullable string field, where it is "". Cells of int64/double/bool fields are
// parsed as JSON numbers/literals (a cell with any other character, such as a quote or comma, is
// refused by its field's type, never read as JSON structure); a timestamp cell is ms since the epoch if all digits,
// else an RFC 3339 string.
Status LoadTableFile(const std::string& path, const StreamDef& def, RowBatch* rows,
                     uint64_t max_bytes = kTableFileBytesMax);

struct TableFileOptions {
  enum class Format : uint8_t { kByExtension, kCsv, kNdjson };
  Format format = Format::kByExtension;  // by extension: .csv (any case) is CSV, else NDJSON
  CsvHeaderOptions header;               // CSV only
  uint64_t max_bytes = kTableFileBytesMax;
};
Status LoadTableFile(const std::string& path, const StreamDef& def, RowBatch* rows, const TableFileOptions& options);

}  // namespace impulse
