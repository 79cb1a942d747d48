// UTC civil-time helpers for timestamp literals, casts and the time functions. Pure functions
// on milliseconds since the Unix epoch (proleptic Gregorian calendar, no leap seconds).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace impulse::plan {

struct CivilTime {
  int64_t year;
  int month;         // 1..12
  int day;           // 1..31
  int hour, minute, second, millis;
  int day_of_week;   // ISO: Monday = 1 .. Sunday = 7
};

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
CivilTime CivilFromMs(int64_t ms);

// Parses YYYY-MM-DD[(T| )HH:MM[:SS[.f{1,9}]]][Z|(+|-)HH[:]MM], or a bare integer of
// milliseconds. Years 0000..9999. nullopt on anything else.
std::optional<int64_t> ParseTimestampMs(std::string_view s);

// Formats as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least kTimestampTextMax bytes); returns
// the length.
inline constexpr size_t kTimestampTextMax = 40;
size_t FormatTimestampMs(int64_t ms, char* buf);

}  // namespace impulse::plan
