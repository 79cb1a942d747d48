// How a CSV file's header row names a stream's fields, shared by every CSV reader (backfill
// input, join table files): exact names first, then ASCII case-insensitively (a published
// "TRANSACTION_ID" header is the field transaction_id), then an explicit column map. An
// unknown column is an error with a did-you-mean unless the caller ignores unknown columns.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse {

struct CsvHeaderOptions {
  // Column name (as in the header, matched case-insensitively) -> field name of the stream.
  // Every entry must name a column of the header and a field of the stream.
  std::vector<std::pair<std::string, std::string>> column_map;
  bool ignore_unknown_columns = false;  // a column naming no field is skipped instead of an error
};

// Parses "NAME=FIELD" (a --column flag) into a column map entry; kInvalidArgument otherwise.
Result<std::pair<std::string, std::string>> ParseColumnMapping(const std::string& text);

// The schema index each column fills, -1 for an ignored column. kInvalidArgument naming the
// column (1-based) and why: not a field (with a did-you-mean and the flags that would help),
// two columns for one field, a column map entry naming no column or no field, a non-nullable
// field without a column. A UTF-8 byte order mark before the first name is ignored. The caller
// prefixes the file and line.
Result<std::vector<int>> MatchCsvHeader(const std::vector<std::string>& header, const StreamDef& def,
                                        const CsvHeaderOptions& options);

}  // namespace impulse
