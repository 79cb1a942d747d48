#include "common/fixed_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace impulse {
namespace {

TEST(FixedCodec, Fixed32And64AreLittleEndian) {
  std::string out;
  PutFixed32(0x01020304u, &out);
  PutFixed64(0x0102030405060708ull, &out);
  EXPECT_EQ(out, std::string("\x04\x03\x02\x01\x08\x07\x06\x05\x04\x03\x02\x01", 12));
  EXPECT_EQ(DecodeFixed32(out.data()), 0x01020304u);
  EXPECT_EQ(DecodeFixed64(out.data() + 4), 0x0102030405060708ull);
  char buf[8];
  EncodeFixed64(buf, 0x0102030405060708ull);
  EXPECT_EQ(std::string(buf, 8), out.substr(4));
  EncodeFixed32(buf, 0xffffffffu);
  EXPECT_EQ(DecodeFixed32(buf), 0xffffffffu);
}

TEST(FixedCodec, GetReadsFromTheFrontAndRefusesTruncation) {
  std::string out;
  PutFixed32(7, &out);
  PutI64(-5, &out);
  PutFixed64(std::numeric_limits<uint64_t>::max(), &out);
  std::string_view in = out;
  uint32_t a = 0;
  int64_t b = 0;
  uint64_t c = 0;
  ASSERT_TRUE(GetFixed32(&in, &a));
  ASSERT_TRUE(GetI64(&in, &b));
  ASSERT_TRUE(GetFixed64(&in, &c));
  EXPECT_EQ(a, 7u);
  EXPECT_EQ(b, -5);
  EXPECT_EQ(c, std::numeric_limits<uint64_t>::max());
  EXPECT_TRUE(in.empty());

  std::string_view short_in("\x01\x02\x03", 3);
  EXPECT_FALSE(GetFixed32(&short_in, &a));
  EXPECT_FALSE(GetFixed64(&short_in, &c));
  EXPECT_FALSE(GetI64(&short_in, &b));
  EXPECT_EQ(short_in.size(), 3u);  // unchanged
}

TEST(FixedCodec, VarintRoundTripsAndHasItsLength) {
  const uint64_t values[] = {
      0, 1, 127, 128, 300, 16383, 16384, uint64_t{1} << 35, std::numeric_limits<uint64_t>::max()};
  const size_t lengths[] = {1, 1, 1, 2, 2, 2, 3, 6, 10};
  for (size_t i = 0; i < std::size(values); ++i) {
    std::string out;
    PutVarint64(values[i], &out);
    EXPECT_EQ(out.size(), lengths[i]) << values[i];
    EXPECT_EQ(VarintLength(values[i]), lengths[i]) << values[i];
    out.push_back('x');
    std::string_view in = out;
    uint64_t back = 0;
    ASSERT_TRUE(GetVarint64(&in, &back)) << values[i];
    EXPECT_EQ(back, values[i]);
    EXPECT_EQ(in, "x");
  }
  std::string out;
  PutVarint64(300, &out);
  EXPECT_EQ(out, "\xac\x02");
}

TEST(FixedCodec, VarintRefusesTruncatedAndTooLong) {
  uint64_t v = 0;
  std::string_view truncated("\x80\x80", 2);
  EXPECT_FALSE(GetVarint64(&truncated, &v));
  EXPECT_EQ(truncated.size(), 2u);
  std::string_view empty;
  EXPECT_FALSE(GetVarint64(&empty, &v));
  const std::string eleven(11, '\x80');
  std::string_view too_long = eleven;
  EXPECT_FALSE(GetVarint64(&too_long, &v));
  // A format's own bound: 2^32 needs 5 bytes, so a 4-byte bound refuses it.
  std::string five;
  PutVarint64(uint64_t{1} << 32, &five);
  std::string_view in = five;
  EXPECT_FALSE(GetVarint64(&in, &v, /*max_bytes=*/4));
  EXPECT_TRUE(GetVarint64(&in, &v, /*max_bytes=*/5));
  EXPECT_EQ(v, uint64_t{1} << 32);
}

}  // namespace
}  // namespace impulse
