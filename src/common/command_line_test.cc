#include "common/command_line.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace impulse {
namespace {

namespace po = boost::program_options;

struct Parsed {
  int rc = -1;
  std::string action;
  int n = 7;
  bool json = false;
};

Parsed Parse(const std::vector<std::string>& args, bool required = false) {
  Parsed p;
  po::options_description opts("test options");
  opts.add_options()("action", po::value(&p.action), "what to do")("n", po::value(&p.n)->default_value(p.n), "a count")(
      "json", "JSON output");
  po::variables_map vm;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  p.rc = ParseCommandLine(args, "test ACTION [--n N]", opts, &vm, "action",
                          required ? Positional::kRequired : Positional::kOptional);
  testing::internal::GetCapturedStdout();
  testing::internal::GetCapturedStderr();
  p.json = vm.count("json") > 0;
  return p;
}

TEST(ParseCommandLine, GoesOnWithParsedValues) {
  const Parsed p = Parse({"list", "--n", "3", "--json"});
  EXPECT_EQ(p.rc, -1);
  EXPECT_EQ(p.action, "list");
  EXPECT_EQ(p.n, 3);
  EXPECT_TRUE(p.json);
  const Parsed d = Parse({});
  EXPECT_EQ(d.rc, -1);
  EXPECT_EQ(d.n, 7);  // default applied by notify
}

TEST(ParseCommandLine, HelpExitsZero) {
  EXPECT_EQ(Parse({"--help"}).rc, 0);
  EXPECT_EQ(Parse({"-h"}).rc, 0);
  EXPECT_EQ(Parse({"list", "--bogus", "-h"}).rc, 2);  // a parse error wins over --help
}

TEST(ParseCommandLine, ParseErrorsExitTwo) {
  EXPECT_EQ(Parse({"--bogus"}).rc, 2);
  EXPECT_EQ(Parse({"--n", "x"}).rc, 2);
  EXPECT_EQ(Parse({"--n"}).rc, 2);
  EXPECT_EQ(Parse({"a", "b"}).rc, 2);  // one positional only
}

// Regression: "--max-connections -1" was read as 4294967295.
TEST(ParseCommandLine, NegativeValueForAnUnsignedOptionExitsTwoAndSaysWhy) {
  for (const char* value : {"-1", " -5"}) {
    uint32_t u = 3;
    po::options_description opts("test options");
    opts.add_options()("u", po::value(&u)->default_value(u), "an unsigned count");
    po::variables_map vm;
    testing::internal::CaptureStderr();
    const int rc = ParseCommandLine({"--u", value}, "test [--u N]", opts, &vm);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(rc, 2) << value;
    EXPECT_NE(err.find("for option '--u' is invalid: it must not be negative"), std::string::npos) << err;
  }
  uint32_t u = 3;
  po::options_description opts("test options");
  opts.add_options()("u", po::value(&u), "an unsigned count");
  po::variables_map vm;
  EXPECT_EQ(ParseCommandLine({"--u=7"}, "test [--u N]", opts, &vm), -1);
  EXPECT_EQ(u, 7u);
  EXPECT_EQ(Parse({"--n", "-4"}).n, -4);  // a signed option still takes a negative value
}

TEST(ParseCommandLine, MissingRequiredPositionalExitsTwo) {
  EXPECT_EQ(Parse({}, /*required=*/true).rc, 2);
  EXPECT_EQ(Parse({"list"}, /*required=*/true).rc, -1);
  EXPECT_EQ(Parse({"--help"}, /*required=*/true).rc, 0);
}

}  // namespace
}  // namespace impulse
