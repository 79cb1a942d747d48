// `impulse generate fraud` end to end: the binary's stdout, exit codes and determinism.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "run_command.h"

namespace {

using Output = CommandOutput;

Output RunImpulse(const std::string& args) {
  return RunShell(std::string(IMPULSE_BINARY) + " " + args + " 2>/dev/null");
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

constexpr const char* kSmall = "generate fraud --customers 100 --terminals 200 --days 5";

TEST(GenerateFraudTest, CsvHasHeaderAndIsDeterministic) {
  const Output a = RunImpulse(std::string(kSmall) + " --seed 4");
  const Output b = RunImpulse(std::string(kSmall) + " --seed 4");
  const Output c = RunImpulse(std::string(kSmall) + " --seed 5");
  ASSERT_EQ(a.exit_code, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  const auto lines = Lines(a.out);
  ASSERT_GT(lines.size(), 100u);
  EXPECT_EQ(lines[0],
            "transaction_id,tx_datetime,customer_id,terminal_id,tx_amount,tx_time_seconds,tx_time_days,"
            "tx_fraud,tx_fraud_scenario");
  EXPECT_EQ(lines[1].substr(0, 13), "0,2018-04-01 ");
  EXPECT_EQ(lines.back().substr(0, std::to_string(lines.size() - 2).size() + 12),
            std::to_string(lines.size() - 2) + ",2018-04-05 ");
}

TEST(GenerateFraudTest, NdjsonParsesWithTheStartDate) {
  const Output a = RunImpulse(std::string(kSmall) + " --format ndjson --start 2020-02-28");
  ASSERT_EQ(a.exit_code, 0);
  simdjson::ondemand::parser parser;
  uint64_t expected_id = 0;
  for (const std::string& line : Lines(a.out)) {
    simdjson::padded_string padded(line);
    simdjson::ondemand::document doc;
    ASSERT_EQ(parser.iterate(padded).get(doc), simdjson::SUCCESS);
    uint64_t id = 0;
    std::string_view dt;
    ASSERT_EQ(doc["transaction_id"].get(id), simdjson::SUCCESS);
    ASSERT_EQ(doc["tx_datetime"].get(dt), simdjson::SUCCESS);
    EXPECT_EQ(id, expected_id++);
    EXPECT_TRUE(dt.starts_with("2020-02-") || dt.starts_with("2020-03-0")) << dt;
  }
  EXPECT_GT(expected_id, 100u);
}

TEST(GenerateFraudTest, BadArgumentsExitWithUsage) {
  EXPECT_EQ(RunImpulse("generate fraud --start 2019-02-29").exit_code, 2);
  EXPECT_EQ(RunImpulse("generate fraud --format xml").exit_code, 2);
  EXPECT_EQ(RunImpulse("generate fraud --customers 0").exit_code, 2);
  EXPECT_EQ(RunImpulse("generate fraud --days x").exit_code, 2);
  EXPECT_EQ(RunImpulse("generate fraud --days 0").exit_code, 2);
}

}  // namespace
