#include "plan/expr_time.h"

#include <cstdio>

namespace impulse::plan {
namespace {

constexpr int64_t kMsPerDay = 86'400'000;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

CivilTime CivilFromMs(int64_t ms) {
  CivilTime c{};
  int64_t days = FloorDiv(ms, kMsPerDay);
  int64_t rem = ms - days * kMsPerDay;  // 0 .. kMsPerDay-1
  c.hour = static_cast<int>(rem / 3'600'000);
  c.minute = static_cast<int>(rem / 60'000 % 60);
  c.second = static_cast<int>(rem / 1000 % 60);
  c.millis = static_cast<int>(rem % 1000);
  // 1970-01-01 was a Thursday (ISO 4).
  c.day_of_week = static_cast<int>((days % 7 + 7 + 3) % 7) + 1;
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = static_cast<int64_t>(yoe) + era * 400 + (c.month <= 2);
  return c;
}

std::optional<int64_t> ParseTimestampMs(std::string_view s) {
  if (s.empty() || s.size() > 64) return std::nullopt;
  // Bare integer milliseconds.
  {
    size_t i = (s[0] == '-') ? 1 : 0;
    bool all_digits = i < s.size();
    for (size_t j = i; j < s.size(); ++j) all_digits &= (s[j] >= '0' && s[j] <= '9');
    if (all_digits && s.size() - i <= 15) {
      int64_t v = 0;
      for (size_t j = i; j < s.size(); ++j) v = v * 10 + (s[j] - '0');
      return i ? -v : v;
    }
  }
  int y, mo, d, h = 0, mi = 0, sec = 0;
  int64_t frac_ms = 0;
  if (!Digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &mo) || s[7] != '-' ||
      !Digits(s, 8, 2, &d)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo)) return std::nullopt;
  size_t p = 10;
  if (p < s.size() && (s[p] == 'T' || s[p] == 't' || s[p] == ' ')) {
    if (!Digits(s, p + 1, 2, &h) || p + 3 >= s.size() || s[p + 3] != ':' || !Digits(s, p + 4, 2, &mi)) {
      return std::nullopt;
    }
    p += 6;
    if (p < s.size() && s[p] == ':') {
      if (!Digits(s, p + 1, 2, &sec)) return std::nullopt;
      p += 3;
      if (p < s.size() && s[p] == '.') {
        ++p;
        size_t n = 0;
        int64_t scale = 100;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9' && n < 9) {
          frac_ms += (s[p] - '0') * scale;
          scale /= 10;
          ++p;
          ++n;
        }
        if (n == 0) return std::nullopt;
      }
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  }
  int64_t offset_min = 0;
  if (p < s.size()) {
    if (s[p] == 'Z' || s[p] == 'z') {
      ++p;
    } else if (s[p] == '+' || s[p] == '-') {
      int oh, om;
      int sign = s[p] == '-' ? -1 : 1;
      if (!Digits(s, p + 1, 2, &oh)) return std::nullopt;
      p += 3;
      if (p < s.size() && s[p] == ':') ++p;
      if (!Digits(s, p, 2, &om)) return std::nullopt;
      p += 2;
      if (oh > 23 || om > 59) return std::nullopt;
      offset_min = sign * (oh * 60 + om);
    }
  }
  if (p != s.size()) return std::nullopt;
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return days * kMsPerDay + (h * 3600 + mi * 60 + sec) * 1000LL + frac_ms - offset_min * 60'000;
}

size_t FormatTimestampMs(int64_t ms, char* buf) {
  CivilTime c = CivilFromMs(ms);
  int n = std::snprintf(buf, kTimestampTextMax, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                        static_cast<long long>(c.year), c.month, c.day, c.hour, c.minute, c.second,
                        c.millis);
  return n < 0 ? 0 : static_cast<size_t>(n) < kTimestampTextMax ? static_cast<size_t>(n) : kTimestampTextMax - 1;
}

}  // namespace impulse::plan
