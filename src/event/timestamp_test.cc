#include "event/timestamp.h"

#include <gtest/gtest.h>

#include <string>

namespace impulse {
namespace {

int64_t Ms(std::string_view s) {
  Result<int64_t> r = ParseTimestampMs(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
  return r.ok() ? *r : -1;
}

std::string Reason(std::string_view s) {
  Result<int64_t> r = ParseTimestampMs(s);
  if (r.ok()) return "<accepted>";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

std::string Iso(int64_t ms) {
  std::string s;
  AppendTimestampIso(ms, &s);
  return s;
}

TEST(ParseTimestampMs, AcceptedForms) {
  EXPECT_EQ(Ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(Ms("2024-03-01T12:34:56Z"), 1'709'296'496'000);
  EXPECT_EQ(Ms("2024-03-01T12:34:56.789Z"), 1'709'296'496'789);
  EXPECT_EQ(Ms("2024-03-01T12:34:56.7Z"), 1'709'296'496'700);
  EXPECT_EQ(Ms("2024-03-01T12:34:56.789999999Z"), 1'709'296'496'789);  // truncated
  EXPECT_EQ(Ms("2024-03-01T12:34:56"), 1'709'296'496'000);             // no zone = UTC
  EXPECT_EQ(Ms("2024-03-01t12:34:56z"), 1'709'296'496'000);
  EXPECT_EQ(Ms("2024-03-01 12:34:56"), 1'709'296'496'000);
  EXPECT_EQ(Ms("2024-03-01"), 1'709'251'200'000);
  EXPECT_EQ(Ms("2024-03-01T14:34:56+02:00"), 1'709'296'496'000);
  EXPECT_EQ(Ms("2024-03-01T07:04:56-05:30"), 1'709'296'496'000);
  EXPECT_EQ(Ms("2024-03-01T07:04:56-0530"), 1'709'296'496'000);
  EXPECT_EQ(Ms("2024-02-29"), 1'709'164'800'000);  // leap day
  EXPECT_EQ(Ms("2000-02-29"), 951'782'400'000);    // divisible by 400: leap
  EXPECT_EQ(Ms("1969-12-31T23:59:59.999Z"), -1);
  EXPECT_EQ(Ms("0000-01-01"), -62'167'219'200'000);
  EXPECT_EQ(Ms("9999-12-31T23:59:59.999Z"), 253'402'300'799'999);
}

TEST(ParseTimestampMs, RejectsWithPreciseReason) {
  EXPECT_EQ(Reason(""), "empty timestamp");
  EXPECT_EQ(Reason("2024-13-01"), "month 13 out of range 01..12");
  EXPECT_EQ(Reason("2024-00-01"), "month 00 out of range 01..12");
  EXPECT_EQ(Reason("2024-02-30"), "day 30 out of range for 2024-02 (01..29)");
  EXPECT_EQ(Reason("2023-02-29"), "day 29 out of range for 2023-02 (01..28)");
  EXPECT_EQ(Reason("1900-02-29"), "day 29 out of range for 1900-02 (01..28)");
  EXPECT_EQ(Reason("2024-04-31"), "day 31 out of range for 2024-04 (01..30)");
  EXPECT_EQ(Reason("2024-04-00"), "day 00 out of range for 2024-04 (01..30)");
  EXPECT_EQ(Reason("2024-03-01T24:00:00Z"), "hour 24 out of range 00..23");
  EXPECT_EQ(Reason("2024-03-01T12:60:00Z"), "minute 60 out of range 00..59");
  EXPECT_EQ(Reason("2024-03-01T12:00:60Z"), "second 60 out of range 00..59");
  EXPECT_EQ(Reason("garbage"), "expected year digit at position 0");
  EXPECT_EQ(Reason("2024/03/01"), "expected '-' at position 4, got '/'");
  EXPECT_EQ(Reason("2024-3-01"), "expected month digit at position 6");
  EXPECT_EQ(Reason("2024-03-01X12:00:00"), "expected 'T' at position 10, got 'X'");
  EXPECT_EQ(Reason("2024-03-01T12:00"), "expected ':' at position 16, got end");
  EXPECT_EQ(Reason("2024-03-01T12:00:00."), "expected fraction digit at position 20, got end");
  EXPECT_EQ(Reason("2024-03-01T12:00:00.1234567891Z"), "more than 9 fractional second digits");
  EXPECT_EQ(Reason("2024-03-01T12:00:00+24:00"), "offset hour 24 out of range 00..23");
  EXPECT_EQ(Reason("2024-03-01T12:00:00+02:60"), "offset minute 60 out of range 00..59");
  EXPECT_EQ(Reason("2024-03-01T12:00:00+2"), "expected offset hour digit at position 21");
  EXPECT_EQ(Reason("2024-03-01T12:00:00ZZ"), "trailing characters at position 20, got 'Z'");
  EXPECT_EQ(Reason("2024-03-01T12:00:00 UTC"), "expected 'Z', '+', '-' or '.' at position 19, got ' '");
  EXPECT_EQ(Reason(std::string_view("2024-03-01\0", 11)), "expected 'T' at position 10, got 0x00");
}

// An offset can move a local time inside 0000..9999 to a UTC instant outside it; such an
// instant would print in expanded form ("+010000-...") that ingest refuses, so it is refused.
TEST(ParseTimestampMs, OffsetThatLeavesTheRangeIsRefused) {
  EXPECT_EQ(Reason("9999-12-31T23:59:59-23:59"),
            "offset -23:59 puts the instant outside 0000-01-01T00:00:00Z..9999-12-31T23:59:59.999Z (UTC)");
  EXPECT_EQ(Reason("9999-12-31T23:59:59.999-00:01"),
            "offset -00:01 puts the instant outside 0000-01-01T00:00:00Z..9999-12-31T23:59:59.999Z (UTC)");
  EXPECT_EQ(Reason("0000-01-01T00:00:00+01:00"),
            "offset +01:00 puts the instant outside 0000-01-01T00:00:00Z..9999-12-31T23:59:59.999Z (UTC)");
  EXPECT_EQ(Reason("0000-01-01T00:59:59.999+0100"),
            "offset +01:00 puts the instant outside 0000-01-01T00:00:00Z..9999-12-31T23:59:59.999Z (UTC)");
  // The edges themselves, reached through an offset, are accepted.
  EXPECT_EQ(Ms("0000-01-01T01:00:00+01:00"), kMinTimestampMs);
  EXPECT_EQ(Ms("9999-12-31T22:59:59.999-01:00"), kMaxTimestampMs);
  EXPECT_EQ(Ms("9999-12-31T23:59:59.999999-00:00"), kMaxTimestampMs);
  EXPECT_EQ(Ms("9999-12-31T23:59:59+23:59"), kMaxTimestampMs - 999 - (23 * 60 + 59) * 60'000);
}

// Every string the parser accepts prints as a string it reads back to the same instant, at the
// edges of the range under every offset.
TEST(ParseTimestampMs, EveryAcceptedInstantRoundTrips) {
  const char* locals[] = {"0000-01-01T00:00:00", "0000-01-01T23:59:59.999", "9999-12-31T00:00:00",
                          "9999-12-31T23:59:59.999"};
  int accepted = 0, refused = 0;
  for (const char* local : locals) {
    for (int minutes = -(23 * 60 + 59); minutes <= 23 * 60 + 59; minutes += 17) {
      const int a = minutes < 0 ? -minutes : minutes;
      std::string text = std::string(local) + (minutes < 0 ? "-" : "+") + (a / 60 < 10 ? "0" : "") +
                         std::to_string(a / 60) + ":" + (a % 60 < 10 ? "0" : "") + std::to_string(a % 60);
      Result<int64_t> ms = ParseTimestampMs(text);
      if (!ms.ok()) {
        ++refused;
        continue;
      }
      ++accepted;
      EXPECT_TRUE(IsTimestampInRange(*ms)) << text;
      std::string iso;
      AppendTimestampIso(*ms, &iso);
      Result<int64_t> back = ParseTimestampMs(iso);
      ASSERT_TRUE(back.ok()) << text << " -> " << iso;
      EXPECT_EQ(*back, *ms) << text;
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}

TEST(AppendTimestampIso, FormatsMillisecondsAndZ) {
  EXPECT_EQ(Iso(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Iso(1'709'296'496'789), "2024-03-01T12:34:56.789Z");
  EXPECT_EQ(Iso(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(Iso(-62'167'219'200'000), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(Iso(253'402'300'800'000), "+010000-01-01T00:00:00.000Z");
  // Extremes must not overflow or crash.
  EXPECT_FALSE(Iso(INT64_MIN).empty());
  EXPECT_FALSE(Iso(INT64_MAX).empty());
}

TEST(AppendTimestampIso, RoundTripsThroughParse) {
  const int64_t samples[] = {0,
                             1,
                             -1,
                             999,
                             -999,
                             86'399'999,
                             -86'400'001,
                             951'782'400'000,
                             1'709'296'496'789,
                             -62'167'219'200'000,
                             253'402'300'799'999,
                             -12'345'678'901'234};
  for (int64_t ms : samples) EXPECT_EQ(Ms(Iso(ms)), ms) << ms;
  // Every day across several leap cycles.
  for (int64_t ms = -2'000'000'000'000; ms < 2'000'000'000'000; ms += 86'400'000LL * 7 + 3'601'001) {
    ASSERT_EQ(Ms(Iso(ms)), ms) << ms;
  }
}

TEST(CivilFields, UtcHelpers) {
  const int64_t t = 1'709'296'496'789;  // Friday 2024-03-01T12:34:56.789Z
  EXPECT_EQ(YearUtc(t), 2024);
  EXPECT_EQ(MonthUtc(t), 3);
  EXPECT_EQ(DayOfMonthUtc(t), 1);
  EXPECT_EQ(HourOfDayUtc(t), 12);
  EXPECT_EQ(MinuteUtc(t), 34);
  EXPECT_EQ(SecondUtc(t), 56);
  EXPECT_EQ(DayOfWeekUtc(t), 5);
  EXPECT_EQ(DayOfWeekUtc(0), 4);                 // 1970-01-01 was a Thursday
  EXPECT_EQ(DayOfWeekUtc(Ms("2024-03-03")), 7);  // Sunday
  EXPECT_EQ(DayOfWeekUtc(Ms("2024-03-04")), 1);  // Monday
}

TEST(CivilFields, NegativeMillisecondsFloor) {
  EXPECT_EQ(YearUtc(-1), 1969);
  EXPECT_EQ(MonthUtc(-1), 12);
  EXPECT_EQ(DayOfMonthUtc(-1), 31);
  EXPECT_EQ(HourOfDayUtc(-1), 23);
  EXPECT_EQ(MinuteUtc(-1), 59);
  EXPECT_EQ(SecondUtc(-1), 59);
  EXPECT_EQ(DayOfWeekUtc(-1), 3);  // Wednesday 1969-12-31
  EXPECT_EQ(DayOfWeekUtc(-86'400'000LL * 7), 4);
  const CivilTime c = ToCivilUtc(Ms("1900-03-01T05:06:07.008Z"));
  EXPECT_EQ(c.year, 1900);
  EXPECT_EQ(c.month, 3);
  EXPECT_EQ(c.day, 1);
  EXPECT_EQ(c.hour, 5);
  EXPECT_EQ(c.minute, 6);
  EXPECT_EQ(c.second, 7);
  EXPECT_EQ(c.millisecond, 8);
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
}

}  // namespace
}  // namespace impulse
