#include "common/command_line.h"
#include "common/suggest.h"

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

struct Outcome {
  int rc = -1;
  std::string out, err;
  std::string data_dir, internal;
};

Outcome ParseWithHidden(const std::vector<std::string>& args) {
  Outcome r;
  po::options_description opts("test options");
  opts.add_options()("data-dir", po::value(&r.data_dir), "the data directory")("json", "JSON output");
  po::options_description internal;
  internal.add_options()("internal-knob", po::value(&r.internal), "not for users");
  HiddenOptions hidden;
  hidden.options = &internal;
  hidden.aliases = {{"data", "data-dir"}};
  po::variables_map vm;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  r.rc = ParseCommandLine(args, "impulse things list --data-dir DIR [--json]", opts, &vm, nullptr,
                          Positional::kOptional, hidden);
  r.out = testing::internal::GetCapturedStdout();
  r.err = testing::internal::GetCapturedStderr();
  return r;
}

TEST(ParseCommandLine, UnknownOptionIsOneLineWithDidYouMeanAndWhereHelpIs) {
  const Outcome r = ParseWithHidden({"--dta-dir", "x"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err,
            "impulse: unrecognised option '--dta-dir' (did you mean '--data-dir'?)\n"
            "see 'impulse things list --help'\n");
  EXPECT_EQ(r.err.find("Usage"), std::string::npos);  // not the whole help
}

TEST(ParseCommandLine, ATranspositionIsOneEdit) {
  EXPECT_EQ(EditDistance("yse", "yes"), 1u);
  EXPECT_EQ(EditDistance("ab", "ba"), 1u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("same", "same"), 0u);
  const Outcome r = ParseWithHidden({"--jsno"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("(did you mean '--json'?)"), std::string::npos) << r.err;
}

TEST(ParseCommandLine, HiddenOptionsParseButAreNotListed) {
  Outcome r = ParseWithHidden({"--internal-knob", "7"});
  EXPECT_EQ(r.rc, -1);
  EXPECT_EQ(r.internal, "7");
  r = ParseWithHidden({"--help"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("--data-dir"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("internal-knob"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("--data "), std::string::npos) << r.out;  // the alias is not listed either
}

TEST(ParseCommandLine, DeprecatedAliasStillWorksWithANote) {
  Outcome r = ParseWithHidden({"--data", "/d"});
  EXPECT_EQ(r.rc, -1);
  EXPECT_EQ(r.data_dir, "/d");
  EXPECT_NE(r.err.find("--data is deprecated, use --data-dir"), std::string::npos) << r.err;
  r = ParseWithHidden({"--data=/e"});
  EXPECT_EQ(r.rc, -1);
  EXPECT_EQ(r.data_dir, "/e");
}

TEST(UsageError, NamesTheCommandWords) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(UsageError("impulse generate fraud [--days N]", "bad days"), 2);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "impulse: bad days\nsee 'impulse generate fraud --help'\n");
  testing::internal::CaptureStderr();
  EXPECT_EQ(UsageError("impulse backfill SPEC.yaml --input FILE", "x"), 2);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "impulse: x\nsee 'impulse backfill --help'\n");
}

}  // namespace
}  // namespace impulse
