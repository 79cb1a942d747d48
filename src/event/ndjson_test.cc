#include "event/ndjson.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace impulse {
namespace {

using ::testing::StartsWith;

// user_id string (key), amount double, count int64, ok bool?, note string?, ts timestamp (time).
StreamDef TestDef() {
  StreamDef def;
  def.name = "payments";
  def.schema = Schema({{"user_id", FieldType::kString, false},
                       {"amount", FieldType::kDouble, false},
                       {"count", FieldType::kInt64, false},
                       {"ok", FieldType::kBool, true},
                       {"note", FieldType::kString, true},
                       {"ts", FieldType::kTimestamp, false}});
  def.key_field = 0;
  def.time_field = 5;
  return def;
}

constexpr int64_t kIngestMs = 1'700'000'000'000;
constexpr int64_t kTs = 1'709'296'496'789;  // 2024-03-01T12:34:56.789Z

struct Parsed {
  RowBatch rows{6};
  std::vector<BadLine> bad;
};

Parsed ParseBody(std::string_view body, NdjsonLimits limits = {}) {
  NdjsonParser parser(TestDef(), limits);
  Parsed p;
  Status st = parser.Parse(body, kIngestMs, &p.rows, &p.bad);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return p;
}

// The reason for a single bad line, or "<accepted>".
std::string ReasonFor(std::string_view line) {
  Parsed p = ParseBody(line);
  if (p.bad.empty()) return "<accepted>";
  EXPECT_EQ(p.bad.size(), 1u);
  EXPECT_EQ(p.rows.size(), 0u);
  return p.bad[0].reason;
}

// A valid line with one member replaced by `member` (e.g. "\"amount\":\"x\"") or removed ("").
std::string LineWith(std::string_view name, std::string_view member) {
  const std::pair<std::string_view, std::string_view> members[] = {
      {"user_id", R"("user_id":"u1")"}, {"amount", R"("amount":12.5)"}, {"count", R"("count":3)"},
      {"ok", R"("ok":true)"},           {"note", R"("note":"hi")"},     {"ts", R"("ts":"2024-03-01T12:34:56.789Z")"}};
  std::string line = "{";
  for (const auto& [n, m] : members) {
    std::string_view use = n == name ? member : m;
    if (use.empty()) continue;
    if (line.size() > 1) line += ",";
    line += use;
  }
  return line + "}";
}

// The count a caller uses to refuse a body before parsing it equals what Parse makes of it.
TEST(CountNdjsonRecords, CountsTheRecordsParseMakes) {
  const std::string body = "x\n\n \t\r\n{\"bad\n\r\n  y \r\nlast";
  Parsed p = ParseBody(body);
  EXPECT_EQ(p.rows.size() + p.bad.size(), 4u);
  EXPECT_EQ(CountNdjsonRecords(body, 100), 4u);
  EXPECT_EQ(CountNdjsonRecords(body, 2), 3u);  // stops past the bound
  EXPECT_EQ(CountNdjsonRecords("", 100), 0u);
  EXPECT_EQ(CountNdjsonRecords("\n\n", 100), 0u);
}

TEST(NdjsonParser, ValidLineFillsEveryFieldAndMeta) {
  Parsed p = ParseBody(LineWith("", "") + "\n");
  ASSERT_EQ(p.bad.size(), 0u);
  ASSERT_EQ(p.rows.size(), 1u);
  const Value* r = p.rows.row(0);
  EXPECT_EQ(r[0].sv(), "u1");
  EXPECT_DOUBLE_EQ(r[1].f64, 12.5);
  EXPECT_EQ(r[2].i64, 3);
  EXPECT_TRUE(r[3].b);
  EXPECT_EQ(r[4].sv(), "hi");
  EXPECT_EQ(r[5].i64, kTs);
  for (int i = 0; i < 6; ++i) EXPECT_FALSE(r[i].null) << i;
  EXPECT_EQ(p.rows.meta(0).line, 1u);
  EXPECT_EQ(p.rows.meta(0).ingest_time_ms, kIngestMs);
  EXPECT_EQ(p.rows.meta(0).event_time_ms, kTs);
}

TEST(NdjsonParser, NullableFieldsMayBeMissingOrNull) {
  Parsed p = ParseBody(LineWith("ok", "") + "\n" + LineWith("note", R"("note":null)"));
  ASSERT_EQ(p.bad.size(), 0u);
  ASSERT_EQ(p.rows.size(), 2u);
  EXPECT_TRUE(p.rows.row(0)[3].null);
  EXPECT_FALSE(p.rows.row(0)[4].null);
  EXPECT_TRUE(p.rows.row(1)[4].null);
  EXPECT_FALSE(p.rows.row(1)[3].null);
}

TEST(NdjsonParser, MissingOrNullNonNullableFieldIsRejected) {
  EXPECT_EQ(ReasonFor(LineWith("amount", "")), "field amount: missing (not nullable)");
  EXPECT_EQ(ReasonFor(LineWith("count", R"("count":null)")), "field count: null (not nullable)");
  EXPECT_EQ(ReasonFor("{}"), "field user_id: missing (key field)");
}

TEST(NdjsonParser, KeyAndTimeFieldsMayNotBeNullEvenIfNullable) {
  StreamDef def = TestDef();
  NdjsonParser strict(def, {});
  EXPECT_EQ(ReasonFor(LineWith("user_id", R"("user_id":null)")), "field user_id: null (key field)");
  EXPECT_EQ(ReasonFor(LineWith("user_id", "")), "field user_id: missing (key field)");
  EXPECT_EQ(ReasonFor(LineWith("ts", R"("ts":null)")), "field ts: null (time field)");
  EXPECT_EQ(ReasonFor(LineWith("ts", "")), "field ts: missing (time field)");

  // Declaring the key nullable in the schema does not change it.
  def.schema = Schema({{"k", FieldType::kString, true}});
  def.key_field = 0;
  def.time_field = -1;
  NdjsonParser parser(def, {});
  RowBatch rows(1);
  std::vector<BadLine> bad;
  ASSERT_TRUE(parser.Parse(R"({"k":null})", 1, &rows, &bad).ok());
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].reason, "field k: null (key field)");
}

TEST(NdjsonParser, TypeMismatchesNameExpectedAndActualType) {
  EXPECT_EQ(ReasonFor(LineWith("amount", R"("amount":"12")")), "field amount: expected double, got string");
  EXPECT_EQ(ReasonFor(LineWith("count", R"("count":1.5)")), "field count: expected int64, got double");
  EXPECT_EQ(ReasonFor(LineWith("count", R"("count":1e3)")), "field count: expected int64, got double");
  EXPECT_EQ(ReasonFor(LineWith("count", R"("count":[1])")), "field count: expected int64, got array");
  EXPECT_EQ(ReasonFor(LineWith("count", R"("count":{})")), "field count: expected int64, got object");
  EXPECT_EQ(ReasonFor(LineWith("ok", R"("ok":"true")")), "field ok: expected bool, got string");
  EXPECT_EQ(ReasonFor(LineWith("ok", R"("ok":1)")), "field ok: expected bool, got number");
  EXPECT_EQ(ReasonFor(LineWith("user_id", R"("user_id":7)")), "field user_id: expected string, got number");
  EXPECT_EQ(ReasonFor(LineWith("note", R"("note":false)")), "field note: expected string, got bool");
  EXPECT_EQ(ReasonFor(LineWith("ts", R"("ts":1.5)")), "field ts: expected timestamp, got double");
  EXPECT_EQ(ReasonFor(LineWith("ts", R"("ts":true)")), "field ts: expected timestamp, got bool");
}

TEST(NdjsonParser, IntegerIsAcceptedForDouble) {
  Parsed p = ParseBody(LineWith("amount", R"("amount":-3)"));
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_EQ(p.rows.row(0)[1].f64, -3.0);
}

TEST(NdjsonParser, IntegersOutsideInt64AreRejected) {
  EXPECT_EQ(ReasonFor(LineWith("count", R"("count":9223372036854775808)")), "field count: integer out of int64 range");
  EXPECT_EQ(ReasonFor(LineWith("count", R"("count":-9223372036854775809)")), "field count: integer out of int64 range");
  EXPECT_EQ(ReasonFor(LineWith("count", R"("count":123456789012345678901234567890)")),
            "field count: integer out of int64 range");
  Parsed p = ParseBody(LineWith("count", R"("count":9223372036854775807)") + "\n" +
                       LineWith("count", R"("count":-9223372036854775808)"));
  ASSERT_EQ(p.rows.size(), 2u);
  EXPECT_EQ(p.rows.row(0)[2].i64, INT64_MAX);
  EXPECT_EQ(p.rows.row(1)[2].i64, INT64_MIN);
}

TEST(NdjsonParser, TimestampFieldAcceptsIsoStringOrEpochMs) {
  Parsed p = ParseBody(LineWith("ts", R"("ts":1709296496789)") + "\n" +
                       LineWith("ts", R"("ts":"2024-03-01T14:34:56.789+02:00")") + "\n" +
                       LineWith("ts", R"("ts":"2024-03-01")"));
  ASSERT_EQ(p.bad.size(), 0u);
  ASSERT_EQ(p.rows.size(), 3u);
  EXPECT_EQ(p.rows.row(0)[5].i64, kTs);
  EXPECT_EQ(p.rows.meta(0).event_time_ms, kTs);
  EXPECT_EQ(p.rows.row(1)[5].i64, kTs);
  EXPECT_EQ(p.rows.row(2)[5].i64, 1'709'251'200'000);
  EXPECT_EQ(p.rows.meta(2).event_time_ms, 1'709'251'200'000);
  EXPECT_EQ(ReasonFor(LineWith("ts", R"("ts":"2024-02-30")")),
            "field ts: invalid timestamp: day 30 out of range for 2024-02 (01..29)");
  EXPECT_EQ(ReasonFor(LineWith("ts", R"("ts":253402300800000)")),
            "field ts: timestamp out of range (years 0000..9999)");
  EXPECT_EQ(ReasonFor(LineWith("ts", R"("ts":-62167219200001)")),
            "field ts: timestamp out of range (years 0000..9999)");
  // An offset that moves the instant past 9999-12-31 (or before 0000-01-01) is refused, not stored
  // as a value that reads back as "+010000-..." and cannot be ingested again.
  EXPECT_EQ(ReasonFor(LineWith("ts", R"("ts":"9999-12-31T23:59:59-23:59")")),
            "field ts: invalid timestamp: offset -23:59 puts the instant outside "
            "0000-01-01T00:00:00Z..9999-12-31T23:59:59.999Z (UTC)");
  EXPECT_EQ(ReasonFor(LineWith("ts", R"("ts":"0000-01-01T00:00:00+01:00")")),
            "field ts: invalid timestamp: offset +01:00 puts the instant outside "
            "0000-01-01T00:00:00Z..9999-12-31T23:59:59.999Z (UTC)");
  EXPECT_EQ(ReasonFor(LineWith("ts", R"("ts":"yesterday")")),
            "field ts: invalid timestamp: expected year digit at position 0");
}

TEST(NdjsonParser, EventTimeIsIngestTimeWithoutTimeField) {
  StreamDef def = TestDef();
  def.time_field = -1;
  NdjsonParser parser(def, {});
  RowBatch rows(6);
  std::vector<BadLine> bad;
  ASSERT_TRUE(parser.Parse(LineWith("", ""), kIngestMs, &rows, &bad).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.meta(0).event_time_ms, kIngestMs);
}

TEST(NdjsonParser, UnknownFieldsAreIgnored) {
  Parsed p = ParseBody(R"({"extra":{"deep":[1,{"x":null}]},"user_id":"u1","amount":1,"count":2,)"
                       R"("z":"q","big":1e400,"ts":0,"ok":null})");
  ASSERT_EQ(p.bad.size(), 0u) << p.bad[0].reason;
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_EQ(p.rows.row(0)[0].sv(), "u1");
  EXPECT_EQ(p.rows.row(0)[5].i64, 0);
}

TEST(NdjsonParser, UnknownFieldValuesMustStillBeValidJson) {
  const std::string good = LineWith("", "");
  auto with_extra = [&](std::string_view extra) {
    return ReasonFor(good.substr(0, good.size() - 1) + R"(,"extra":)" + std::string(extra) + "}");
  };
  EXPECT_EQ(with_extra(R"({"k":[1,{"z":null}],"e":"\u00e9","n":-1.5e-3,"b":false})"), "<accepted>");
  EXPECT_EQ(with_extra("1e400"), "<accepted>");  // valid JSON, even if not a double
  EXPECT_EQ(with_extra("123456789012345678901234567890"), "<accepted>");
  EXPECT_EQ(with_extra(std::string(63, '[') + std::string(63, ']')), "<accepted>");
  EXPECT_THAT(with_extra(std::string(64, '[') + std::string(64, ']')), StartsWith("invalid JSON: "));
  EXPECT_THAT(with_extra("[1,,2]"), StartsWith("invalid JSON: "));
  EXPECT_THAT(with_extra(R"({"k" 1})"), StartsWith("invalid JSON: "));
  EXPECT_THAT(with_extra("tru"), StartsWith("invalid JSON: "));
  EXPECT_THAT(with_extra("nul"), StartsWith("invalid JSON: "));
  EXPECT_THAT(with_extra("1.2.3"), StartsWith("invalid JSON: "));
  EXPECT_THAT(with_extra("01"), StartsWith("invalid JSON: "));
  EXPECT_THAT(with_extra("-"), StartsWith("invalid JSON: "));
  EXPECT_THAT(with_extra(R"("\ud800")"), StartsWith("invalid JSON: "));
  EXPECT_THAT(with_extra(R"("\q")"), StartsWith("invalid JSON: "));
}

TEST(NdjsonParser, DoubleOutOfRangeIsNamed) {
  EXPECT_EQ(ReasonFor(LineWith("amount", R"("amount":1e400)")), "field amount: number out of double range");
  EXPECT_THAT(ReasonFor(LineWith("amount", R"("amount":1.e4)")), StartsWith("invalid JSON: "));
}

TEST(NdjsonParser, DuplicateFieldIsRejected) {
  EXPECT_EQ(ReasonFor(LineWith("amount", R"("amount":1,"amount":2)")), "field amount: duplicate");
}

TEST(NdjsonParser, NonObjectLinesAreRejected) {
  EXPECT_EQ(ReasonFor("[1,2]"), "expected a JSON object, got array");
  EXPECT_EQ(ReasonFor(R"("x")"), "expected a JSON object, got string");
  EXPECT_EQ(ReasonFor("42"), "expected a JSON object, got number");
  EXPECT_EQ(ReasonFor("null"), "expected a JSON object, got null");
}

TEST(NdjsonParser, MalformedJsonIsRejectedWithSimdjsonReason) {
  EXPECT_THAT(ReasonFor(R"({"user_id":)"), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor(R"({"user_id":"u1")"), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor(R"({"user_id" "u1"})"), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor(LineWith("note", R"("note":"bad \x escape")")), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor(LineWith("ok", R"("ok":tru)")), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor(LineWith("count", R"("count":01)")), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor("{\"user_id\":\"\xff\"}"), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor("not json"), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor("nul"), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor("tru"), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor("-"), StartsWith("invalid JSON: "));
  EXPECT_THAT(ReasonFor("\"x\" 1"), StartsWith("invalid JSON: "));
}

TEST(NdjsonParser, TrailingContentAfterObjectIsRejected) {
  const std::string good = LineWith("", "");
  EXPECT_EQ(ReasonFor(good + good), "invalid JSON: trailing content after the object");
  // simdjson checks that a root object ends the document before we iterate it, so this
  // trailing scalar is caught there, with simdjson's wording.
  EXPECT_THAT(ReasonFor(good + " 1"), StartsWith("invalid JSON: "));
  EXPECT_EQ(ReasonFor("  " + good + " \t"), "<accepted>");
}

TEST(NdjsonParser, OverlongLineIsRejectedUnparsed) {
  const std::string good = LineWith("", "");
  Parsed p = ParseBody(good + "\n" + LineWith("note", R"("note":")" + std::string(100, 'x') + "\"") + "\n" + good,
                       NdjsonLimits{.max_line_bytes = good.size()});
  ASSERT_EQ(p.bad.size(), 1u);
  EXPECT_EQ(p.bad[0].line, 2u);
  EXPECT_EQ(p.bad[0].reason, "line exceeds " + std::to_string(good.size()) + " bytes");
  EXPECT_EQ(p.rows.size(), 2u);
}

TEST(NdjsonParser, MixedBodyReportsLineNumbersAndRawText) {
  const std::string good = LineWith("", "");
  const std::string bad_amount = LineWith("amount", R"("amount":"x")");
  // Lines: 1 good (CRLF), 2 blank, 3 bad, 4 whitespace only, 5 good, 6 garbage, 7 good (no \n).
  const std::string body = good + "\r\n" + "\n" + bad_amount + "\n" + "  \t\r\n" + good + "\n" + "}{\r\n" + good;
  Parsed p = ParseBody(body);
  ASSERT_EQ(p.rows.size(), 3u);
  EXPECT_EQ(p.rows.meta(0).line, 1u);
  EXPECT_EQ(p.rows.meta(1).line, 5u);
  EXPECT_EQ(p.rows.meta(2).line, 7u);
  ASSERT_EQ(p.bad.size(), 2u);
  EXPECT_EQ(p.bad[0].line, 3u);
  EXPECT_EQ(p.bad[0].raw, bad_amount);
  EXPECT_EQ(p.bad[0].reason, "field amount: expected double, got string");
  EXPECT_EQ(p.bad[1].line, 6u);
  EXPECT_EQ(p.bad[1].raw, "}{");  // without the '\r'
  EXPECT_THAT(p.bad[1].reason, StartsWith("invalid JSON: "));
  // raw points into the body.
  EXPECT_GE(p.bad[0].raw.data(), body.data());
  EXPECT_LT(p.bad[0].raw.data(), body.data() + body.size());
}

TEST(NdjsonParser, UnicodeEscapesAreDecodedInValuesAndKeys) {
  Parsed p = ParseBody(LineWith("user_id", R"("user\u005fid":"\u00e9\ud83d\ude00\n\"")"));
  ASSERT_EQ(p.bad.size(), 0u) << p.bad[0].reason;
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_EQ(p.rows.row(0)[0].sv(), "\xC3\xA9\xF0\x9F\x98\x80\n\"");
}

TEST(NdjsonParser, StringsLiveInTheBatchArenaAndSurviveParserReuse) {
  NdjsonParser parser(TestDef(), {});
  RowBatch a(6), b(6);
  std::vector<BadLine> bad;
  std::string body1 = LineWith("user_id", R"("user_id":"first")");
  ASSERT_TRUE(parser.Parse(body1, 1, &a, &bad).ok());
  std::string body2 = LineWith("user_id", R"("user_id":"second")");
  ASSERT_TRUE(parser.Parse(body2, 2, &b, &bad).ok());
  body1.assign(body1.size(), '#');  // the rows must not point into the body
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a.row(0)[0].sv(), "first");
  EXPECT_EQ(b.row(0)[0].sv(), "second");
  EXPECT_EQ(a.row(0)[4].sv(), "hi");
  EXPECT_TRUE(bad.empty());
}

TEST(NdjsonParser, EmptyStringValue) {
  Parsed p = ParseBody(LineWith("note", R"("note":"")"));
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_FALSE(p.rows.row(0)[4].null);
  EXPECT_EQ(p.rows.row(0)[4].sv(), "");
}

TEST(NdjsonParser, LongLinesWithinLimitGrowTheBuffer) {
  const std::string note(200'000, 'n');
  Parsed p = ParseBody(LineWith("", "") + "\n" + LineWith("note", "\"note\":\"" + note + "\""));
  ASSERT_EQ(p.rows.size(), 2u);
  EXPECT_EQ(p.rows.row(1)[4].sv(), note);
}

TEST(NdjsonParser, WrongBatchWidthIsAnError) {
  NdjsonParser parser(TestDef(), {});
  RowBatch rows(2);
  std::vector<BadLine> bad;
  EXPECT_EQ(parser.Parse("{}", 1, &rows, &bad).code(), StatusCode::kInvalidArgument);
}

TEST(NdjsonParser, UnusableStreamDefIsAnErrorNotACrash) {
  RowBatch rows(6);
  std::vector<BadLine> bad;
  StreamDef def = TestDef();
  def.time_field = 6;
  EXPECT_EQ(NdjsonParser(def, {}).Parse("{}", 1, &rows, &bad).code(), StatusCode::kInvalidArgument);
  def = TestDef();
  def.key_field = -2;
  EXPECT_EQ(NdjsonParser(def, {}).Parse("{}", 1, &rows, &bad).code(), StatusCode::kInvalidArgument);
  def = TestDef();
  def.time_field = 1;  // a double
  EXPECT_EQ(NdjsonParser(def, {}).Parse("{}", 1, &rows, &bad).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(bad.empty());
}

TEST(NdjsonParser, WideSchemaOutOfOrderFieldsUseTheIndex) {
  StreamDef def;
  std::vector<Field> fields;
  for (int i = 0; i < 12; ++i) fields.push_back({"f" + std::to_string(i), FieldType::kInt64, false});
  def.schema = Schema(fields);
  NdjsonParser parser(def, {});
  RowBatch rows(12);
  std::vector<BadLine> bad;
  std::string line = "{";
  for (int i = 11; i >= 0; --i) line += "\"f" + std::to_string(i) + "\":" + std::to_string(i * 10) + (i ? "," : "}");
  ASSERT_TRUE(parser.Parse(line, 1, &rows, &bad).ok());
  ASSERT_TRUE(bad.empty()) << bad[0].reason;
  for (int i = 0; i < 12; ++i) EXPECT_EQ(rows.row(0)[i].i64, i * 10);
}

}  // namespace
}  // namespace impulse
