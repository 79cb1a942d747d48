// The simulators' shared random numbers and text forms (datagen/common).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "common/status_matchers.h"
#include "datagen/common/random.h"
#include "datagen/common/text_format.h"

namespace impulse::datagen {
namespace {

constexpr int64_t kSecondsPerDay = 86'400;

TEST(RngTest, EngineIsTheStandardMt19937_64) {
  Rng rng(5489);  // the standard fixes the 10000th output for the default seed
  uint64_t v = 0;
  for (int i = 0; i < 10000; ++i) v = rng.Next();
  EXPECT_EQ(v, 9981545732273789042ULL);
}

TEST(RngTest, DistributionsHaveTheirMoments) {
  Rng rng(1);
  constexpr int kN = 200000;
  double sum = 0, sq = 0, psum = 0, usum = 0;
  uint64_t int_hist[3] = {0, 0, 0};
  for (int i = 0; i < kN; ++i) {
    const double z = rng.Normal(10, 2);
    sum += z;
    sq += (z - 10) * (z - 10);
    psum += rng.Poisson(3.5);
    usum += rng.Uniform(5, 100);
    ++int_hist[rng.UniformInt(3)];
  }
  EXPECT_NEAR(sum / kN, 10, 0.03);
  EXPECT_NEAR(std::sqrt(sq / kN), 2, 0.03);
  EXPECT_NEAR(psum / kN, 3.5, 0.03);
  EXPECT_NEAR(usum / kN, 52.5, 0.3);
  for (uint64_t h : int_hist) EXPECT_NEAR(static_cast<double>(h) / kN, 1.0 / 3, 0.01);
  EXPECT_EQ(rng.Poisson(0), 0u);
  EXPECT_EQ(rng.Poisson(-1), 0u);
}

TEST(FormatTest, DatesParseAndFormat) {
  EXPECT_EQ(*ParseDate("1970-01-01"), 0);
  EXPECT_EQ(*ParseDate("2018-04-01"), 17622);
  EXPECT_TRUE(ParseDate("2020-02-29").ok());
  EXPECT_EQ(ParseDate("2019-02-29").status().code(), StatusCode::kInvalidArgument);
  EXPECT_CODE(ParseDate("2018-4-01"), kInvalidArgument);
  EXPECT_CODE(ParseDate("2018-13-01"), kInvalidArgument);
  EXPECT_CODE(ParseDate("2018-04-00"), kInvalidArgument);
  EXPECT_CODE(ParseDate("1969-12-31"), kInvalidArgument);
  EXPECT_CODE(ParseDate("20a8-04-01"), kInvalidArgument);
  std::string s;
  AppendDateTime(17622 * kSecondsPerDay + 31, OutputFormat::kCsv, &s);
  EXPECT_EQ(s, "2018-04-01 00:00:31");
  s.clear();
  AppendDateTime(*ParseDate("2018-09-30") * kSecondsPerDay + 86399, OutputFormat::kNdjson, &s);
  EXPECT_EQ(s, "2018-09-30T23:59:59Z");
  for (int64_t d : {0, 59, 365, 17622, 18321, 730000}) {
    int64_t y = 0;
    unsigned m = 0, dd = 0;
    CivilFromDays(d, &y, &m, &dd);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(y), m, dd);
    EXPECT_EQ(*ParseDate(buf), d) << buf;
  }
  EXPECT_EQ(*ParseOutputFormat("csv"), OutputFormat::kCsv);
  EXPECT_EQ(*ParseOutputFormat("ndjson"), OutputFormat::kNdjson);
  EXPECT_CODE(ParseOutputFormat("json"), kInvalidArgument);
}

TEST(FormatTest, AmountsAndCsvFields) {
  std::string s;
  AppendAmount(5716, &s);
  s.push_back(' ');
  AppendAmount(5, &s);
  s.push_back(' ');
  AppendAmount(22000, &s);
  EXPECT_EQ(s, "57.16 0.05 220.00");
  s.clear();
  AppendCsvField("plain", &s);
  s.push_back('|');
  AppendCsvField("a,b", &s);
  s.push_back('|');
  AppendCsvField("say \"hi\"", &s);
  s.push_back('|');
  AppendCsvField("two\nlines", &s);
  EXPECT_EQ(s, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"");
}

}  // namespace
}  // namespace impulse::datagen
