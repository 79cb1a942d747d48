#include "common/yaml_number.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <limits>
#include <string>

namespace impulse {
namespace {

YAML::Node Scalar(const std::string& text) { return YAML::Load("k: " + text)["k"]; }

TEST(ReadYamlInt, AcceptsDecimalIntegersInRange) {
  EXPECT_EQ(ReadYamlInt(Scalar("42"), "k", 0, 100).value(), 42);
  EXPECT_EQ(ReadYamlInt(Scalar("-7"), "k", -10, 10).value(), -7);
  EXPECT_EQ(ReadYamlInt(Scalar("'5'"), "k", 0, 10).value(), 5);  // quoting does not matter
  EXPECT_EQ(ReadYamlInt(Scalar("0"), "k", 0, 0).value(), 0);
  EXPECT_EQ(ReadYamlInt(Scalar("9223372036854775807"), "k", 0, INT64_MAX).value(), INT64_MAX);
  EXPECT_EQ(ReadYamlInt(Scalar("-9223372036854775808"), "k", INT64_MIN, 0).value(), INT64_MIN);
}

TEST(ReadYamlInt, RefusesFractionsNonNumbersAndOutOfRange) {
  for (const char* text : {"1.5", "1.0", "1e3", "+1", "0x10", "abc", "true", "''", "~", "12abc", "' 1'", "1 2",
                           "9223372036854775808", ".inf", ".nan"}) {
    const auto r = ReadYamlInt(Scalar(text), "k", INT64_MIN, INT64_MAX);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << text;
  }
  EXPECT_EQ(ReadYamlInt(Scalar("11"), "k", 0, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadYamlInt(Scalar("-1"), "k", 0, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadYamlInt(Scalar("[1]"), "k", 0, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadYamlInt(Scalar("{a: 1}"), "k", 0, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadYamlInt(YAML::Node(), "k", 0, 10).status().code(), StatusCode::kInvalidArgument);
}

TEST(ReadYamlInt, ErrorNamesTheKey) {
  const auto r = ReadYamlInt(Scalar("x"), "batching.max_batch_size", 1, 8);
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("batching.max_batch_size"), std::string::npos);
}

TEST(ReadYamlUint, RefusesSignsAndOutOfRange) {
  EXPECT_EQ(ReadYamlUint(Scalar("18446744073709551615"), "k", 0, UINT64_MAX).value(), UINT64_MAX);
  EXPECT_EQ(ReadYamlUint(Scalar("3"), "k", 1, 3).value(), 3u);
  for (const char* text : {"-1", "-0", "+1", "4", "0", "2.0", "18446744073709551616", "x"}) {
    EXPECT_EQ(ReadYamlUint(Scalar(text), "k", 1, 3).status().code(), StatusCode::kInvalidArgument) << text;
  }
}

TEST(ReadYamlDouble, AcceptsFiniteNumbersInRange) {
  EXPECT_EQ(ReadYamlDouble(Scalar("0.25"), "k", 0, 1).value(), 0.25);
  EXPECT_EQ(ReadYamlDouble(Scalar("2"), "k", 0, 2).value(), 2.0);
  EXPECT_EQ(ReadYamlDouble(Scalar("-1e-3"), "k", -1, 1).value(), -0.001);
  EXPECT_EQ(ReadYamlDouble(Scalar("1E2"), "k", 0, 1000).value(), 100.0);
}

TEST(ReadYamlDouble, RefusesNonFiniteNonNumbersAndOutOfRange) {
  const double big = std::numeric_limits<double>::max();
  for (const char* text : {".nan", "nan", "NaN", ".inf", "-.inf", "inf", "infinity", "1e400", "0x1p3", "+1", "x",
                           "1.5.2", "''", "true", "' 1'"}) {
    EXPECT_EQ(ReadYamlDouble(Scalar(text), "k", -big, big).status().code(), StatusCode::kInvalidArgument) << text;
  }
  EXPECT_EQ(ReadYamlDouble(Scalar("2.0001"), "k", 0, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadYamlDouble(Scalar("-0.1"), "k", 0, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadYamlDouble(Scalar("[1]"), "k", 0, 2).status().code(), StatusCode::kInvalidArgument);
  const auto r = ReadYamlDouble(Scalar("hot"), "temperature of agent 'a'", 0, 2);
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("temperature of agent 'a'"), std::string::npos);
}

}  // namespace
}  // namespace impulse
