// Timestamps: RFC 3339 / ISO-8601 parsing and formatting, and UTC calendar fields, all on
// int64 milliseconds since the Unix epoch. Pure functions, no allocation except into the
// caller's output string, safe from any thread. Civil-date arithmetic follows the proleptic
// Gregorian calendar (Howard Hinnant's days_from_civil / civil_from_days algorithms).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "impulse/status.h"

namespace impulse {

// Parses one date-time into epoch milliseconds (UTC). Accepted (and nothing else):
//   2024-03-01                      date only, midnight UTC
//   2024-03-01T12:34:56             no zone = UTC ('t' or ' ' also accepted for 'T')
//   2024-03-01T12:34:56.123456789   1..9 fractional digits, truncated to milliseconds
//   ...Z / ...z / ...+02:00 / ...-0530   zone designator or offset (hours <= 23, minutes <= 59)
// Years 0000..9999, and the UTC instant too: an offset that moves it outside
// [kMinTimestampMs, kMaxTimestampMs] (9999-12-31T23:59:59-23:59) is refused. Strict: month
// 1..12, day valid for the month (leap years honoured), hour 0..23, minute 0..59, second 0..59
// (no leap seconds). kInvalidArgument with a precise reason ("month 13 out of range 1..12",
// "day 30 out of range for 2024-02", "offset -23:59 puts the instant outside ...").
Result<int64_t> ParseTimestampMs(std::string_view text);

// The instants ParseTimestampMs can produce: 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z.
// Integer epoch-ms input outside this range is rejected too, so that every accepted timestamp
// can be written as an ISO string and read back. Code that derives a timestamp from an event's
// (a window's bounds) checks the result with IsTimestampInRange before storing or printing it.
inline constexpr int64_t kMinTimestampMs = -62'167'219'200'000;
inline constexpr int64_t kMaxTimestampMs = 253'402'300'799'999;
inline constexpr bool IsTimestampInRange(int64_t ms) { return ms >= kMinTimestampMs && ms <= kMaxTimestampMs; }

// Appends "2024-03-01T12:34:56.789Z" (always milliseconds and 'Z'). An instant outside
// IsTimestampInRange is written in ISO-8601 expanded form with a sign ("+010000-01-01T..."),
// which ParseTimestampMs does not accept: ingest never stores one, so it can only come from a
// computed value (an expression's timestamp arithmetic or cast); writing it beats crashing or
// printing a wrong instant.
void AppendTimestampIso(int64_t ms, std::string* out);

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

// The UTC calendar fields of an instant. Negative ms (before 1970) work: fields are floored,
// so -1 ms is 1969-12-31T23:59:59.999.
struct CivilTime {
  int64_t year = 1970;
  int month = 1;        // 1..12
  int day = 1;          // 1..31
  int hour = 0;         // 0..23
  int minute = 0;       // 0..59
  int second = 0;       // 0..59
  int millisecond = 0;  // 0..999
};
CivilTime ToCivilUtc(int64_t ms);

// Calendar helpers for the expression language, all UTC.
int64_t YearUtc(int64_t ms);
int MonthUtc(int64_t ms);       // 1..12
int DayOfMonthUtc(int64_t ms);  // 1..31
int HourOfDayUtc(int64_t ms);   // 0..23
int MinuteUtc(int64_t ms);      // 0..59
int SecondUtc(int64_t ms);      // 0..59
int DayOfWeekUtc(int64_t ms);   // ISO: Monday = 1 .. Sunday = 7

}  // namespace impulse
