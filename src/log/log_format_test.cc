#include "log/log_format.h"

#include <string>

#include <gtest/gtest.h>

namespace impulse::log {
namespace {

TEST(LogFormat, SegmentFileNames) {
  EXPECT_EQ(SegmentFileName(0), "00000000000000000000.log");
  EXPECT_EQ(SegmentFileName(1234), "00000000000000001234.log");
  EXPECT_EQ(ParseSegmentFileName("00000000000000001234.log"), 1234u);
  EXPECT_EQ(ParseSegmentFileName(SegmentFileName(UINT64_MAX)), UINT64_MAX);
  EXPECT_EQ(ParseSegmentFileName("99999999999999999999.log"), std::nullopt);  // > u64
  EXPECT_EQ(ParseSegmentFileName("0000000000000000123.log"), std::nullopt);
  EXPECT_EQ(ParseSegmentFileName("00000000000000001234.index"), std::nullopt);
  EXPECT_EQ(ParseSegmentFileName("0000000000000000123x.log"), std::nullopt);
}

TEST(LogFormat, SegmentHeaderRoundTripAndDamage) {
  char h[kSegmentHeaderBytes];
  EncodeSegmentHeader(77, h);
  std::string why;
  EXPECT_EQ(DecodeSegmentHeader(h, &why), 77u);
  h[17] ^= 1;  // base offset bit flip
  EXPECT_EQ(DecodeSegmentHeader(h, &why), std::nullopt);
  EXPECT_EQ(why, "segment header checksum mismatch");
  EncodeSegmentHeader(77, h);
  h[0] = 'X';
  EXPECT_EQ(DecodeSegmentHeader(h, &why), std::nullopt);
  EXPECT_EQ(why, "bad segment magic");
}

TEST(LogFormat, FrameRoundTripAndCrcCoversTimestampAndPayload) {
  const std::string payload = "payload bytes";
  std::string frame(kFrameHeaderBytes + payload.size(), '\0');
  EncodeFrameHeader(payload, -5, frame.data());
  frame.replace(kFrameHeaderBytes, payload.size(), payload);
  const FrameHeader h = DecodeFrameHeader(frame.data());
  EXPECT_EQ(h.payload_bytes, payload.size());
  EXPECT_EQ(h.timestamp_ms, -5);
  EXPECT_TRUE(FrameCrcMatches(frame.data(), h));
  // Little-endian length on disk.
  EXPECT_EQ(static_cast<uint8_t>(frame[0]), payload.size());
  EXPECT_EQ(frame[1], 0);
  for (size_t i = 8; i < frame.size(); ++i) {
    std::string bad = frame;
    bad[i] ^= 0x01;
    EXPECT_FALSE(FrameCrcMatches(bad.data(), DecodeFrameHeader(bad.data()))) << "byte " << i;
  }
}

}  // namespace
}  // namespace impulse::log
