#include "datagen/common/text_format.h"

#include <charconv>
#include <cstdio>

namespace impulse::datagen {
namespace {

constexpr int64_t kSecondsPerDay = 86'400;

void Append2(unsigned v, std::string* out) {
  out->push_back(static_cast<char>('0' + v / 10 % 10));
  out->push_back(static_cast<char>('0' + v % 10));
}

// Days from civil, Howard Hinnant's public-domain algorithm (chrono-Compatible Low-Level Date
// Algorithms), written out here for the proleptic Gregorian calendar.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;  // 24 chars always hold an int64
  out->append(buf, end);
}

Result<OutputFormat> ParseOutputFormat(std::string_view text) {
  if (text == "csv") return OutputFormat::kCsv;
  if (text == "ndjson") return OutputFormat::kNdjson;
  return InvalidArgument("unknown format '" + std::string(text) + "' (known: csv, ndjson)");
}

Result<int64_t> ParseDate(std::string_view text) {
  const auto bad = [&] { return InvalidArgument("date '" + std::string(text) + "' is not a valid YYYY-MM-DD date"); };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return bad();
  int y = 0;
  unsigned m = 0;
  unsigned d = 0;
  auto parse = [&](size_t pos, size_t len, auto* v) {
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
    }
    return std::from_chars(text.data() + pos, text.data() + pos + len, *v).ec == std::errc();
  };
  if (!parse(0, 4, &y) || !parse(5, 2, &m) || !parse(8, 2, &d)) return bad();
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || m < 1 || m > 12 || d < 1) return bad();
  if (d > kDays[m - 1] + (m == 2 && IsLeap(y) ? 1 : 0)) return bad();
  return DaysFromCivil(y, m, d);
}

void CivilFromDays(int64_t days, int64_t* year, unsigned* month, unsigned* day) {
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int64_t>(yoe) + era * 400 + (*month <= 2);
}

void AppendDateTime(int64_t epoch_seconds, OutputFormat format, std::string* out) {
  int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  CivilFromDays(epoch_seconds / kSecondsPerDay, &year, &month, &day);
  const auto sod = static_cast<unsigned>(epoch_seconds % kSecondsPerDay);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04u", static_cast<unsigned>(year % 10000));
  out->append(buf);
  out->push_back('-');
  Append2(month, out);
  out->push_back('-');
  Append2(day, out);
  out->push_back(format == OutputFormat::kCsv ? ' ' : 'T');
  Append2(sod / 3600, out);
  out->push_back(':');
  Append2(sod / 60 % 60, out);
  out->push_back(':');
  Append2(sod % 60, out);
  if (format == OutputFormat::kNdjson) out->push_back('Z');
}

void AppendAmount(int64_t cents, std::string* out) {
  if (cents < 0) {  // never produced by the simulator; kept correct anyway
    out->push_back('-');
    cents = -cents;
  }
  AppendInt(cents / 100, out);
  out->push_back('.');
  Append2(static_cast<unsigned>(cents % 100), out);
}

void AppendCsvField(std::string_view field, std::string* out) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out->append(field);
    return;
  }
  out->push_back('"');
  for (char ch : field) {
    if (ch == '"') out->push_back('"');
    out->push_back(ch);
  }
  out->push_back('"');
}

}  // namespace impulse::datagen
