#include "event/json_writer.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

namespace impulse {
namespace {

std::string Dbl(double d) {
  std::string out;
  AppendJsonDouble(d, &out);
  return out;
}

TEST(AppendJsonDouble, ShortestRoundTripAndVisiblyDouble) {
  EXPECT_EQ(Dbl(12.5), "12.5");
  EXPECT_EQ(Dbl(1.0), "1.0");
  EXPECT_EQ(Dbl(-0.0), "-0.0");
  EXPECT_EQ(Dbl(0.1), "0.1");
  EXPECT_EQ(Dbl(1e300), "1e+300");
  EXPECT_EQ(Dbl(std::nan("")), "null");
  EXPECT_EQ(Dbl(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(Dbl(-std::numeric_limits<double>::infinity()), "null");
  for (double d : {0.1 + 0.2, 1.0 / 3, 5e-324, 1.7976931348623157e308, -123456.789e-20}) {
    const std::string s = Dbl(d);
    double back = 0;
    std::from_chars(s.data(), s.data() + s.size(), back);
    EXPECT_EQ(back, d) << s;
  }
}

TEST(AppendRowJson, FieldsInSchemaOrderWithTypedValues) {
  const Schema schema({{"user", FieldType::kString, false},
                       {"n", FieldType::kInt64, false},
                       {"amount", FieldType::kDouble, true},
                       {"ok", FieldType::kBool, false},
                       {"ts", FieldType::kTimestamp, false},
                       {"note", FieldType::kString, true}});
  const Value row[6] = {Value::String("a\"b"),         Value::Int(-7), Value::Double(2), Value::Bool(false),
                        Value::Int(1'709'296'496'789), Value::Null()};
  std::string out = "prefix:";
  AppendRowJson(schema, row, &out);
  EXPECT_EQ(out, R"(prefix:{"user":"a\"b","n":-7,"amount":2.0,"ok":false,)"
                 R"("ts":"2024-03-01T12:34:56.789Z","note":null})");

  out.clear();
  const JsonRowPrefix prefix{.offset = 42, .partition = 3, .event_time_ms = -1};
  AppendRowJson(schema, row, &out, &prefix);
  EXPECT_EQ(out, R"({"_offset":42,"_partition":3,"_event_time":"1969-12-31T23:59:59.999Z",)"
                 R"("user":"a\"b","n":-7,"amount":2.0,"ok":false,)"
                 R"("ts":"2024-03-01T12:34:56.789Z","note":null})");
}

TEST(AppendRowJson, EmptySchema) {
  std::string out;
  AppendRowJson(Schema(), nullptr, &out);
  EXPECT_EQ(out, "{}");
  const JsonRowPrefix prefix{.offset = 1, .partition = 0, .event_time_ms = 0};
  out.clear();
  AppendRowJson(Schema(), nullptr, &out, &prefix);
  EXPECT_EQ(out, R"({"_offset":1,"_partition":0,"_event_time":"1970-01-01T00:00:00.000Z"})");
}

}  // namespace
}  // namespace impulse
