#include "common/json_string.h"

#include <gtest/gtest.h>

#include <string>

namespace impulse {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

TEST(JsonString, EscapesQuotesAndBackslash) {
  EXPECT_EQ(JsonString("plain"), R"("plain")");
  EXPECT_EQ(JsonString(""), R"("")");
  EXPECT_EQ(JsonString("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(JsonString("\"\\\""), R"("\"\\\"")");
  EXPECT_EQ(JsonString("/"), R"("/")");
}

TEST(JsonString, EscapesEveryControlCharacter) {
  EXPECT_EQ(JsonString("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(JsonString(std::string_view("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  for (int c = 0; c < 0x20; ++c) {
    const std::string out = JsonString(std::string(1, static_cast<char>(c)));
    EXPECT_EQ(out[1], '\\') << c;
    EXPECT_LE(out.size(), 8u) << c;
  }
  EXPECT_EQ(JsonString("\x7f"), "\"\x7f\"");  // DEL is not a JSON control character
}

TEST(JsonString, KeepsValidMultiByteUtf8) {
  // 2-, 3- and 4-byte sequences, and the ends of the ranges.
  EXPECT_EQ(JsonString("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"");
  EXPECT_EQ(JsonString("\xC2\x80\xDF\xBF"), "\"\xC2\x80\xDF\xBF\"");
  EXPECT_EQ(JsonString("\xEF\xBF\xBF\xF4\x8F\xBF\xBF"), "\"\xEF\xBF\xBF\xF4\x8F\xBF\xBF\"");
}

TEST(JsonString, ReplacesTruncatedSequenceByteByByte) {
  EXPECT_EQ(JsonString("x\xE2\x82"), "\"x" + kFffd + kFffd + "\"");  // at the end
  EXPECT_EQ(JsonString("\xE2\x82z"), "\"" + kFffd + kFffd + "z\"");  // followed by ASCII
  EXPECT_EQ(JsonString("\xF0\x9F\x98"), "\"" + kFffd + kFffd + kFffd + "\"");
  EXPECT_EQ(JsonString("\xC3"), "\"" + kFffd + "\"");
}

TEST(JsonString, ReplacesOverlongForms) {
  EXPECT_EQ(JsonString("\xC0\xAF"), "\"" + kFffd + kFffd + "\"");  // '/' in 2 bytes
  EXPECT_EQ(JsonString("\xC1\xBF"), "\"" + kFffd + kFffd + "\"");
  EXPECT_EQ(JsonString("\xE0\x80\xAF"), "\"" + kFffd + kFffd + kFffd + "\"");  // in 3 bytes
  EXPECT_EQ(JsonString("\xF0\x80\x80\xAF"), "\"" + kFffd + kFffd + kFffd + kFffd + "\"");
}

TEST(JsonString, ReplacesLoneContinuationAndInvalidBytes) {
  EXPECT_EQ(JsonString("a\x80z"), "\"a" + kFffd + "z\"");
  EXPECT_EQ(JsonString("\xBF"), "\"" + kFffd + "\"");
  EXPECT_EQ(JsonString("\xC3\xA9\xA9"), "\"\xC3\xA9" + kFffd + "\"");  // one continuation too many
  EXPECT_EQ(JsonString("a\xFFz"), "\"a" + kFffd + "z\"");
  EXPECT_EQ(JsonString("\xF5\x80\x80\x80"), "\"" + kFffd + kFffd + kFffd + kFffd + "\"");
  EXPECT_EQ(JsonString("\xED\xA0\x80"), "\"" + kFffd + kFffd + kFffd + "\"");              // surrogate
  EXPECT_EQ(JsonString("\xF4\x90\x80\x80"), "\"" + kFffd + kFffd + kFffd + kFffd + "\"");  // > U+10FFFF
  // An invalid byte next to an escape: both handled.
  EXPECT_EQ(JsonString("\x80\"\n"), "\"" + kFffd + "\\\"\\n\"");
}

TEST(JsonString, AppendsToExistingText) {
  std::string out = "{\"k\":";
  AppendJsonString("v", &out);
  EXPECT_EQ(out, "{\"k\":\"v\"");
}

}  // namespace
}  // namespace impulse
