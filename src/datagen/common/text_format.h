// Text forms shared by the simulators (fraud, shop): the output formats, UTC dates and
// datetimes, amounts in cents, CSV fields. Pure functions, any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "impulse/status.h"

namespace impulse::datagen {

enum class OutputFormat {
  kCsv,     // a header line, then one line per record: "0,2018-04-01 00:00:31,596,3156,57.16,..."
  kNdjson,  // one JSON object per line: {"transaction_id":0,"tx_datetime":"2018-04-01T00:00:31Z",...}
};

// "csv" or "ndjson".
Result<OutputFormat> ParseOutputFormat(std::string_view text);

// "YYYY-MM-DD" (proleptic Gregorian, years 1970..9999) to days since 1970-01-01.
Result<int64_t> ParseDate(std::string_view text);

// Days since 1970-01-01 to year / month (1..12) / day (1..31).
void CivilFromDays(int64_t days, int64_t* year, unsigned* month, unsigned* day);

// Appends "YYYY-MM-DD HH:MM:SS" (csv) or "YYYY-MM-DDTHH:MM:SSZ" (ndjson) for epoch seconds >= 0.
void AppendDateTime(int64_t epoch_seconds, OutputFormat format, std::string* out);

// Appends cents as a decimal with exactly two fraction digits: 5716 -> "57.16".
void AppendAmount(int64_t cents, std::string* out);

// Appends one CSV field, quoted (RFC 4180: doubled quotes) if it holds , " CR or LF.
void AppendCsvField(std::string_view field, std::string* out);

// Appends v in decimal.
void AppendInt(int64_t v, std::string* out);

}  // namespace impulse::datagen
