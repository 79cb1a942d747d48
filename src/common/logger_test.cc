#include "common/logger.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace impulse {
namespace {

// 2024-01-02T03:04:05.678Z
constexpr int64_t kTs = 1704164645678;

TEST(Logger, JsonLineHasTimestampLevelEventMessageAndTypedFields) {
  const std::string line = FormatLogLine(LogFormat::kJson, kTs, LogLevel::kInfo, "checkpoint", "checkpoint 12 written",
                                         {{"checkpoint", uint64_t{12}},
                                          {"duration_ms", 40},
                                          {"ratio", 0.1},
                                          {"slow", false},
                                          {"dir", "/var/lib/impulse"}});
  EXPECT_EQ(line,
            "{\"ts\":\"2024-01-02T03:04:05.678Z\",\"level\":\"info\",\"event\":\"checkpoint\","
            "\"message\":\"checkpoint 12 written\",\"checkpoint\":12,\"duration_ms\":40,\"ratio\":0.1,"
            "\"slow\":false,\"dir\":\"/var/lib/impulse\"}\n");
}

TEST(Logger, JsonEscapesQuotesNewlinesAndControlCharactersInEveryString) {
  const std::string line =
      FormatLogLine(LogFormat::kJson, kTs, LogLevel::kError, "dead_letter", "webhook said \"no\"\nline 2",
                    {{"error", "a \"quoted\"\\ value\r\n\twith \x01 control"}, {"key\"odd", "v"}});
  EXPECT_EQ(line,
            "{\"ts\":\"2024-01-02T03:04:05.678Z\",\"level\":\"error\",\"event\":\"dead_letter\","
            "\"message\":\"webhook said \\\"no\\\"\\nline 2\","
            "\"error\":\"a \\\"quoted\\\"\\\\ value\\r\\n\\twith \\u0001 control\",\"key\\\"odd\":\"v\"}\n");
  // One line whatever the values hold.
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(Logger, NonFiniteNumbersAreStringsInJson) {
  const std::string line =
      FormatLogLine(LogFormat::kJson, 0, LogLevel::kWarn, "e", "m", {{"a", std::nan("")}, {"b", -1.0 / 0.0}});
  EXPECT_NE(line.find("\"a\":\"nan\",\"b\":\"-inf\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"ts\":\"1970-01-01T00:00:00.000Z\""), std::string::npos) << line;
}

TEST(Logger, TextLineIsTheMessageWithItsLevelOnOneLine) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTs, LogLevel::kInfo, "start", "serving x", {{"port", 1}}),
            "impulse: serving x\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTs, LogLevel::kWarn, "e", "slow", {}), "impulse: warning: slow\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTs, LogLevel::kError, "e", "bad\nworse", {}),
            "impulse: error: bad worse\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTs, LogLevel::kDebug, "e", "detail", {}), "impulse: debug: detail\n");
  // A peer's terminal escape is shown, not obeyed.
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTs, LogLevel::kError, "e", "peer said \x1b[2Jx\t", {}),
            "impulse: error: peer said \\x1b[2Jx\\x09\n");
}

TEST(Logger, ParsesLevelsAndFormats) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarn);
  EXPECT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
  EXPECT_FALSE(ParseLogLevel("INFO", &level));
  LogFormat format = LogFormat::kText;
  EXPECT_TRUE(ParseLogFormat("json", &format));
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("xml", &format));
}

// Lines below the configured level are not written; the others are, in the configured format.
TEST(Logger, DropsLinesBelowTheLevelAndWritesTheRest) {
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ConfigureLog(LogLevel::kWarn, LogFormat::kJson, f);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  LogDebug("d", "not written");
  LogInfo("i", "not written either");
  LogWarn("w", "written", {{"n", 1}});
  LogError("e", "also written");
  ConfigureLog(LogLevel::kInfo, LogFormat::kText, stderr);
  std::rewind(f);
  std::string all;
  char buf[512];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) all.append(buf, n);
  std::fclose(f);
  EXPECT_EQ(all.find("not written"), std::string::npos) << all;
  const size_t w = all.find("\"level\":\"warn\",\"event\":\"w\",\"message\":\"written\",\"n\":1}\n");
  const size_t e = all.find("\"level\":\"error\",\"event\":\"e\",\"message\":\"also written\"}\n");
  EXPECT_NE(w, std::string::npos) << all;
  EXPECT_NE(e, std::string::npos) << all;
  EXPECT_LT(w, e);
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 2);
}

}  // namespace
}  // namespace impulse
