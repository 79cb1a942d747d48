#include "event/row_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace impulse {
namespace {

Schema AllTypes() {
  return Schema({{"s", FieldType::kString, false},
                 {"i", FieldType::kInt64, false},
                 {"d", FieldType::kDouble, false},
                 {"b", FieldType::kBool, false},
                 {"t", FieldType::kTimestamp, false},
                 {"n", FieldType::kString, true}});
}

void ExpectSameRow(const Schema& schema, const Value* a, const Value* b) {
  for (size_t i = 0; i < schema.size(); ++i) {
    ASSERT_EQ(a[i].null, b[i].null) << i;
    if (a[i].null) continue;
    switch (schema.field(i).type) {
      case FieldType::kString: EXPECT_EQ(a[i].sv(), b[i].sv()) << i; break;
      case FieldType::kDouble: EXPECT_EQ(std::memcmp(&a[i].f64, &b[i].f64, 8), 0) << i; break;
      case FieldType::kBool: EXPECT_EQ(a[i].b, b[i].b) << i; break;
      default: EXPECT_EQ(a[i].i64, b[i].i64) << i; break;
    }
  }
}

std::string Encode(const Schema& schema, const Value* row, int64_t event_time_ms) {
  RowMeta meta;
  meta.event_time_ms = event_time_ms;
  std::string out;
  EncodeRow(schema, row, meta, &out);
  EXPECT_EQ(out.size(), EncodedRowSize(schema, row));
  return out;
}

TEST(RowCodec, RoundTripsAllTypes) {
  const Schema schema = AllTypes();
  const std::string big(300, 'z');  // a 2-byte varint length
  const Value rows[][6] = {
      {Value::String("user-1"), Value::Int(-42), Value::Double(12.5), Value::Bool(true), Value::Int(1'709'296'496'789),
       Value::String("note")},
      {Value::String(""), Value::Int(INT64_MIN), Value::Double(-0.0), Value::Bool(false), Value::Int(-1),
       Value::Null()},
      {Value::String(big), Value::Int(INT64_MAX), Value::Double(std::numeric_limits<double>::denorm_min()),
       Value::Bool(true), Value::Int(0), Value::String(std::string_view("\0\xff", 2))},
  };
  RowBatch out(6);
  for (const auto& row : rows) {
    const std::string payload = Encode(schema, row, -5);
    ASSERT_TRUE(DecodeRow(schema, payload, &out).ok());
    ExpectSameRow(schema, row, out.row(out.size() - 1));
    EXPECT_EQ(out.meta(out.size() - 1).event_time_ms, -5);
  }
  EXPECT_EQ(out.size(), 3u);
}

TEST(RowCodec, LayoutIsVersionEventTimeCountBitmapValues) {
  const Schema schema(
      {{"i", FieldType::kInt64, false}, {"n", FieldType::kString, true}, {"b", FieldType::kBool, false}});
  const Value row[3] = {Value::Int(0x0102), Value::Null(), Value::Bool(true)};
  const std::string p = Encode(schema, row, 0x0A0B);
  const std::string expected(
      "\x01"                              // version
      "\x0B\x0A\x00\x00\x00\x00\x00\x00"  // event time, little endian
      "\x03"                              // field count
      "\x02"                              // null bitmap: field 1
      "\x02\x01\x00\x00\x00\x00\x00\x00"  // i
      "\x01",                             // b
      20);
  EXPECT_EQ(p, expected);
}

TEST(RowCodec, DecodedStringsAreCopiedIntoTheArena) {
  const Schema schema = AllTypes();
  const Value row[6] = {Value::String("abc"), Value::Int(1), Value::Double(1),
                        Value::Bool(false),   Value::Int(2), Value::String("def")};
  std::string payload = Encode(schema, row, 0);
  RowBatch out(6);
  ASSERT_TRUE(DecodeRow(schema, payload, &out).ok());
  payload.assign(payload.size(), '\0');
  EXPECT_EQ(out.row(0)[0].sv(), "abc");
  EXPECT_EQ(out.row(0)[5].sv(), "def");
}

TEST(RowCodec, EveryTruncationIsDataLossAndAppendsNothing) {
  const Schema schema = AllTypes();
  const Value row[6] = {Value::String("hello"), Value::Int(7), Value::Double(2.5),
                        Value::Bool(true),      Value::Int(9), Value::String("world")};
  const std::string payload = Encode(schema, row, 1);
  RowBatch out(6);
  for (size_t n = 0; n < payload.size(); ++n) {
    Status st = DecodeRow(schema, std::string_view(payload).substr(0, n), &out);
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << n;
    EXPECT_EQ(out.size(), 0u);
  }
  EXPECT_EQ(DecodeRow(schema, payload + "x", &out).code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeRow(schema, payload, &out).code(), StatusCode::kOk);
}

TEST(RowCodec, CorruptHeadersAndValuesAreRejected) {
  const Schema schema({{"b", FieldType::kBool, false}, {"s", FieldType::kString, true}});
  const Value row[2] = {Value::Bool(true), Value::String("x")};
  const std::string good = Encode(schema, row, 0);
  RowBatch out(2);
  auto decode = [&](std::string p) { return DecodeRow(schema, p, &out); };

  std::string p = good;
  p[0] = 2;  // unknown version
  EXPECT_EQ(decode(p).message(), "row payload: unknown format version 2");
  p = good;
  p[9] = 3;  // field count
  EXPECT_EQ(decode(p).message(), "row payload: field count 3 does not match schema (2)");
  p = good;
  p[10] = 0x01;  // marks the non-nullable bool as null
  EXPECT_EQ(decode(p).message(), "row payload: field b: null in a non-nullable field");
  p = good;
  p[10] = 0x04;  // a bit past the last field
  EXPECT_EQ(decode(p).message(), "row payload: null bitmap has bits set past the last field");
  p = good;
  p[11] = 2;  // bool byte
  EXPECT_EQ(decode(p).message(), "row payload: field b: bool byte 2");
  p = good;
  p[12] = static_cast<char>(0x80 | 0x7f);  // string length varint runs into the data
  EXPECT_EQ(decode(p).code(), StatusCode::kDataLoss);
  p = good;
  p[12] = 100;  // string length beyond the payload
  EXPECT_EQ(decode(p).message(), "row payload: truncated in field s");
  EXPECT_EQ(decode("").message(), "row payload: empty");
  EXPECT_EQ(out.size(), 0u);
  ASSERT_TRUE(decode(good).ok());
}

TEST(RowCodec, GarbagePayloadsNeverCrash) {
  const Schema schema = AllTypes();
  RowBatch out(6);
  uint64_t state = 0x1234567;
  std::string p;
  int accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    p.resize((state >> 33) % 64);
    for (char& c : p) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      c = static_cast<char>(state >> 56);
    }
    if (!p.empty()) p[0] = 1;  // get past the version check most of the time
    Status st = DecodeRow(schema, p, &out);
    if (st.ok()) {
      ++accepted;
    } else {
      EXPECT_EQ(st.code(), StatusCode::kDataLoss);
    }
  }
  EXPECT_EQ(out.size(), static_cast<size_t>(accepted));
}

TEST(RowCodec, WrongBatchWidthIsInvalidArgument) {
  RowBatch out(1);
  EXPECT_EQ(DecodeRow(AllTypes(), "\x01", &out).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace impulse
