#include "event/timestamp.h"

#include <charconv>
#include <cstdio>

namespace impulse {
namespace {

constexpr int64_t kMsPerDay = 86'400'000;

// Floor division and modulo for a positive divisor, without overflow at INT64_MIN.
int64_t FloorDiv(int64_t a, int64_t d) { return a / d - ((a % d) < 0 ? 1 : 0); }
int64_t FloorMod(int64_t a, int64_t d) {
  int64_t r = a % d;
  return r < 0 ? r + d : r;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (m == 2 && IsLeap(y)) ? 29 : kDays[m - 1];
}

struct Civil {
  int64_t y;
  unsigned m;
  unsigned d;
};

Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const unsigned d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  const unsigned m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

// A tiny cursor over the text; every failure names the position it happened at.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  size_t pos() const { return pos_; }
  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[pos_]; }
  void skip() { ++pos_; }

  // Reads exactly n digits.
  Status Digits(int n, const char* what, int* out) {
    int v = 0;
    for (int i = 0; i < n; ++i) {
      if (done() || s_[pos_] < '0' || s_[pos_] > '9') {
        return InvalidArgument("expected " + std::string(what) + " digit at position " + std::to_string(pos_));
      }
      v = v * 10 + (s_[pos_++] - '0');
    }
    *out = v;
    return Status::OK();
  }
  Status Expect(char c) {
    if (done() || s_[pos_] != c) return Unexpected(std::string("expected '") + c + "'");
    ++pos_;
    return Status::OK();
  }
  Status Unexpected(const std::string& what) const {
    if (done()) return InvalidArgument(what + " at position " + std::to_string(pos_) + ", got end");
    char buf[8];
    unsigned char c = static_cast<unsigned char>(s_[pos_]);
    if (c >= 0x20 && c < 0x7f) {
      std::snprintf(buf, sizeof(buf), "'%c'", c);
    } else {
      std::snprintf(buf, sizeof(buf), "0x%02x", c);
    }
    return InvalidArgument(what + " at position " + std::to_string(pos_) + ", got " + buf);
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

std::string TwoDigits(int v) {
  std::string s(2, '0');
  s[0] = static_cast<char>('0' + v / 10 % 10);
  s[1] = static_cast<char>('0' + v % 10);
  return s;
}

void AppendPadded(int64_t v, int width, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;  // 24 bytes always fit an int64
  for (int n = static_cast<int>(end - buf); n < width; ++n) out->push_back('0');
  out->append(buf, end);
}

inline int D(char c) { return static_cast<unsigned char>(c) - '0'; }
inline bool IsDigit(char c) { return static_cast<unsigned>(D(c)) <= 9; }

// The common forms ("2024-03-01T12:34:56[.fff]Z", with or without 'Z', or the date alone)
// without building any Status. Returns false for anything else, valid or not; the caller then
// runs the full parser, which also produces the reason.
bool FastParse(std::string_view s, int64_t* out) {
  const size_t n = s.size();
  if (n < 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!IsDigit(s[i])) return false;
  }
  const int year = D(s[0]) * 1000 + D(s[1]) * 100 + D(s[2]) * 10 + D(s[3]);
  const int month = D(s[5]) * 10 + D(s[6]);
  const int day = D(s[8]) * 10 + D(s[9]);
  if (month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) > DaysInMonth(year, static_cast<unsigned>(month))) {
    return false;
  }
  int64_t ms = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * kMsPerDay;
  if (n == 10) {
    *out = ms;
    return true;
  }
  if (n < 19 || s[10] != 'T' || s[13] != ':' || s[16] != ':') return false;
  for (size_t i : {11, 12, 14, 15, 17, 18}) {
    if (!IsDigit(s[i])) return false;
  }
  const int hour = D(s[11]) * 10 + D(s[12]);
  const int minute = D(s[14]) * 10 + D(s[15]);
  const int second = D(s[17]) * 10 + D(s[18]);
  if (hour > 23 || minute > 59 || second > 59) return false;
  ms += (hour * 3600 + minute * 60 + second) * int64_t{1000};
  size_t pos = 19;
  if (pos < n && s[pos] == '.') {
    ++pos;
    int digits = 0, millis = 0;
    while (pos < n && IsDigit(s[pos])) {
      if (digits < 3) millis = millis * 10 + D(s[pos]);
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return false;
    for (int i = digits; i < 3; ++i) millis *= 10;
    ms += millis;
  }
  if (pos < n && s[pos] == 'Z') ++pos;
  if (pos != n) return false;
  *out = ms;
  return true;
}

}  // namespace

int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day) {
  const int64_t y = year - (month <= 2 ? 1 : 0);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                                  // [0, 399]
  const int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                          // [0, 146096]
  return era * 146097 + doe - 719468;
}

Result<int64_t> ParseTimestampMs(std::string_view text) {
  int64_t fast = 0;
  if (FastParse(text, &fast)) return fast;
  if (text.empty()) return InvalidArgument("empty timestamp");
  Scanner sc(text);
  int year = 0, month = 0, day = 0;
  RETURN_IF_ERROR(sc.Digits(4, "year", &year));
  RETURN_IF_ERROR(sc.Expect('-'));
  RETURN_IF_ERROR(sc.Digits(2, "month", &month));
  RETURN_IF_ERROR(sc.Expect('-'));
  RETURN_IF_ERROR(sc.Digits(2, "day", &day));
  if (month < 1 || month > 12) {
    return InvalidArgument("month " + TwoDigits(month) + " out of range 01..12");
  }
  const unsigned dim = DaysInMonth(year, static_cast<unsigned>(month));
  if (day < 1 || static_cast<unsigned>(day) > dim) {
    std::string ym;
    AppendPadded(year, 4, &ym);
    return InvalidArgument("day " + TwoDigits(day) + " out of range for " + ym + "-" + TwoDigits(month) + " (01.." +
                           std::to_string(dim) + ")");
  }
  int64_t ms = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * kMsPerDay;
  if (sc.done()) return ms;  // date only

  const char sep = sc.peek();
  if (sep != 'T' && sep != 't' && sep != ' ') return sc.Unexpected("expected 'T'");
  sc.skip();
  int hour = 0, minute = 0, second = 0;
  RETURN_IF_ERROR(sc.Digits(2, "hour", &hour));
  RETURN_IF_ERROR(sc.Expect(':'));
  RETURN_IF_ERROR(sc.Digits(2, "minute", &minute));
  RETURN_IF_ERROR(sc.Expect(':'));
  RETURN_IF_ERROR(sc.Digits(2, "second", &second));
  if (hour > 23) return InvalidArgument("hour " + TwoDigits(hour) + " out of range 00..23");
  if (minute > 59) return InvalidArgument("minute " + TwoDigits(minute) + " out of range 00..59");
  if (second > 59) return InvalidArgument("second " + TwoDigits(second) + " out of range 00..59");
  ms += (hour * 3600 + minute * 60 + second) * int64_t{1000};

  if (sc.peek() == '.') {
    sc.skip();
    int digits = 0, millis = 0;
    while (!sc.done() && sc.peek() >= '0' && sc.peek() <= '9') {
      if (digits < 3) millis = millis * 10 + (sc.peek() - '0');
      ++digits;
      sc.skip();
    }
    if (digits == 0) return sc.Unexpected("expected fraction digit");
    if (digits > 9) return InvalidArgument("more than 9 fractional second digits");
    for (int i = digits; i < 3; ++i) millis *= 10;
    ms += millis;  // truncated, not rounded: a sub-ms instant belongs to its millisecond
  }

  if (sc.done()) return ms;  // no zone: UTC
  const char z = sc.peek();
  if (z == 'Z' || z == 'z') {
    sc.skip();
  } else if (z == '+' || z == '-') {
    sc.skip();
    int oh = 0, om = 0;
    RETURN_IF_ERROR(sc.Digits(2, "offset hour", &oh));
    if (sc.peek() == ':') sc.skip();
    RETURN_IF_ERROR(sc.Digits(2, "offset minute", &om));
    if (oh > 23) return InvalidArgument("offset hour " + TwoDigits(oh) + " out of range 00..23");
    if (om > 59) return InvalidArgument("offset minute " + TwoDigits(om) + " out of range 00..59");
    const int64_t offset_ms = (oh * 60 + om) * int64_t{60'000};
    // Local time = UTC + offset, so UTC = local - offset.
    ms += (z == '+') ? -offset_ms : offset_ms;
    if (!sc.done()) return sc.Unexpected("trailing characters");
    // Only an offset can leave the range (the local fields are checked above). Refused, so that
    // every accepted instant prints as a timestamp this function reads back.
    if (!IsTimestampInRange(ms)) {
      return InvalidArgument("offset " + std::string(1, z) + TwoDigits(oh) + ":" + TwoDigits(om) +
                             " puts the instant outside 0000-01-01T00:00:00Z..9999-12-31T23:59:59.999Z (UTC)");
    }
    return ms;
  } else {
    return sc.Unexpected("expected 'Z', '+', '-' or '.'");
  }
  if (!sc.done()) return sc.Unexpected("trailing characters");
  return ms;
}

CivilTime ToCivilUtc(int64_t ms) {
  const int64_t days = FloorDiv(ms, kMsPerDay);
  const int64_t rem = FloorMod(ms, kMsPerDay);
  const Civil c = CivilFromDays(days);
  CivilTime t;
  t.year = c.y;
  t.month = static_cast<int>(c.m);
  t.day = static_cast<int>(c.d);
  t.hour = static_cast<int>(rem / 3'600'000);
  t.minute = static_cast<int>(rem / 60'000 % 60);
  t.second = static_cast<int>(rem / 1000 % 60);
  t.millisecond = static_cast<int>(rem % 1000);
  return t;
}

void AppendTimestampIso(int64_t ms, std::string* out) {
  const CivilTime t = ToCivilUtc(ms);
  if (t.year < 0 || t.year > 9999) {
    out->push_back(t.year < 0 ? '-' : '+');
    AppendPadded(t.year < 0 ? -t.year : t.year, 6, out);
  } else {
    AppendPadded(t.year, 4, out);
  }
  // "-MM-DDTHH:MM:SS.mmmZ", written digit by digit: this runs once per served event.
  char buf[20] = {'-', 0, 0, '-', 0, 0, 'T', 0, 0, ':', 0, 0, ':', 0, 0, '.', 0, 0, 0, 'Z'};
  auto two = [&buf](int at, int v) {
    buf[at] = static_cast<char>('0' + v / 10);
    buf[at + 1] = static_cast<char>('0' + v % 10);
  };
  two(1, t.month);
  two(4, t.day);
  two(7, t.hour);
  two(10, t.minute);
  two(13, t.second);
  buf[16] = static_cast<char>('0' + t.millisecond / 100);
  two(17, t.millisecond % 100);
  out->append(buf, sizeof(buf));
}

int64_t YearUtc(int64_t ms) { return ToCivilUtc(ms).year; }
int MonthUtc(int64_t ms) { return ToCivilUtc(ms).month; }
int DayOfMonthUtc(int64_t ms) { return ToCivilUtc(ms).day; }
int HourOfDayUtc(int64_t ms) { return static_cast<int>(FloorMod(ms, kMsPerDay) / 3'600'000); }
int MinuteUtc(int64_t ms) { return static_cast<int>(FloorMod(ms, 3'600'000) / 60'000); }
int SecondUtc(int64_t ms) { return static_cast<int>(FloorMod(ms, 60'000) / 1000); }
int DayOfWeekUtc(int64_t ms) {
  // 1970-01-01 was a Thursday (ISO 4).
  return static_cast<int>(FloorMod(FloorDiv(ms, kMsPerDay) + 3, 7)) + 1;
}

}  // namespace impulse
