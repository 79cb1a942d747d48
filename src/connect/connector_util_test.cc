#include "connect/connector_util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "common/logger.h"

namespace impulse::connect {
namespace {

std::string ReadAll(std::FILE* f) {
  std::string out;
  std::rewind(f);
  for (int c = std::fgetc(f); c != EOF; c = std::fgetc(f)) out.push_back(static_cast<char>(c));
  return out;
}

// A connector's notes go through the engine's log (one JSON line with --log-format json), at most
// one a second; every note is counted.
TEST(Notes, AreLogLinesAtMostOneASecond) {
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  ConfigureLog(LogLevel::kInfo, LogFormat::kJson, log);
  ::testing::internal::CaptureStderr();
  std::atomic<uint64_t> counter{0};
  Notes notes("kafka source tx (topic t)");
  notes.Say("broker down", &counter);
  notes.Say("broker down", &counter);  // within the second: counted, not logged
  const std::string err = ::testing::internal::GetCapturedStderr();
  ConfigureLog(LogLevel::kInfo, LogFormat::kText, stderr);
  const std::string lines = ReadAll(log);
  std::fclose(log);
  EXPECT_EQ(counter.load(), 2u);
  EXPECT_TRUE(err.empty()) << "not through the log: " << err;
  EXPECT_NE(lines.find(R"("level":"warn","event":"connector","message":"kafka source tx (topic t): broker down")"),
            std::string::npos)
      << lines;
  EXPECT_NE(lines.find(R"x("connector":"kafka source tx (topic t)","note":"broker down","suppressed":0)x"),
            std::string::npos)
      << lines;
  EXPECT_EQ(lines.find('\n'), lines.size() - 1) << "one line: " << lines;
}

}  // namespace
}  // namespace impulse::connect
