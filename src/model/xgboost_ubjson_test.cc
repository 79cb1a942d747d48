// The UBJSON transcoder on hand-written documents (every marker, typed and counted containers,
// malformed input) and the UBJSON loader's errors. The oracle comparison (libxgboost saves
// .ubj) is in xgboost_ubjson_oracle_test.cc.
#include "model/xgboost_ubjson.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/status_matchers.h"

namespace impulse::model {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

TEST(UbjsonToJson, ScalarsOfEveryMarker) {
  EXPECT_EQ(*UbjsonToJson("Z"), "null");
  EXPECT_EQ(*UbjsonToJson("T"), "true");
  EXPECT_EQ(*UbjsonToJson("F"), "false");
  EXPECT_EQ(*UbjsonToJson(Bytes({'i', 0xff})), "-1");
  EXPECT_EQ(*UbjsonToJson(Bytes({'U', 0xff})), "255");
  EXPECT_EQ(*UbjsonToJson(Bytes({'I', 0x01, 0x00})), "256");
  EXPECT_EQ(*UbjsonToJson(Bytes({'l', 0xff, 0xff, 0xff, 0xfe})), "-2");
  EXPECT_EQ(*UbjsonToJson(Bytes({'L', 0, 0, 0, 1, 0, 0, 0, 0})), "4294967296");
  EXPECT_EQ(*UbjsonToJson(Bytes({'d', 0x3f, 0xc0, 0, 0})), "1.5");  // float32 1.5
  EXPECT_EQ(*UbjsonToJson(Bytes({'D', 0xc0, 0x04, 0, 0, 0, 0, 0, 0})), "-2.5");
  EXPECT_EQ(*UbjsonToJson(Bytes({'d', 0x7f, 0xc0, 0, 0})), "\"NaN\"");
  EXPECT_EQ(*UbjsonToJson(Bytes({'C', 'x'})), "\"x\"");
  EXPECT_EQ(*UbjsonToJson(Bytes({'S', 'U', 3, 'a', '"', 0x01})), "\"a\\\"\\u0001\"");
  EXPECT_EQ(*UbjsonToJson(Bytes({'N', 'N', 'T', 'N'})), "true");  // no-ops skipped
}

TEST(UbjsonToJson, Float32KeepsItsExactValueThroughJsonText) {
  // 0.1f is not 0.1: the JSON text must parse back (as double, then float) to the same float.
  const float f = 0.1f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  auto json = UbjsonToJson(Bytes({'d', static_cast<int>(bits >> 24), static_cast<int>((bits >> 16) & 255),
                                  static_cast<int>((bits >> 8) & 255), static_cast<int>(bits & 255)}));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(static_cast<float>(std::stod(*json)), f);
  EXPECT_NE(*json, "0.1");
}

TEST(UbjsonToJson, ContainersPlainCountedAndTyped) {
  // {"a": [1, true], "b": {}} with end markers.
  EXPECT_EQ(*UbjsonToJson(Bytes({'{', 'U', 1, 'a', '[', 'U', 1, 'T', ']', 'U', 1, 'b', '{', '}', '}'})),
            "{\"a\":[1,true],\"b\":{}}");
  // Counted, untyped: [#U2 i5 Z]
  EXPECT_EQ(*UbjsonToJson(Bytes({'[', '#', 'U', 2, 'i', 5, 'Z'})), "[5,null]");
  // Typed int32 array of 2: [$l#U2
  EXPECT_EQ(*UbjsonToJson(Bytes({'[', '$', 'l', '#', 'U', 2, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff})), "[7,-1]");
  // Typed uint8 object of 1: {$U#U1 'k' 9
  EXPECT_EQ(*UbjsonToJson(Bytes({'{', '$', 'U', '#', 'U', 1, 'U', 1, 'k', 9})), "{\"k\":9}");
  EXPECT_EQ(*UbjsonToJson(Bytes({'[', '$', 'd', '#', 'i', 0})), "[]");
}

TEST(UbjsonToJson, MalformedInputIsRefusedWithTheOffset) {
  const std::string bad[] = {
      "",                                                                                // empty
      Bytes({'l', 0, 0}),                                                                // truncated number
      Bytes({'S', 'U', 5, 'a'}),                                                         // string longer than the input
      Bytes({'S', 'i', 0xff}),                                                           // negative length
      Bytes({'[', '$', 'l', '#', 'L', 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),  // huge count
      Bytes({'[', '$', 'l', 'T'}),                                                       // typed without a count
      Bytes({'[', 'T'}),                                                                 // unterminated array
      Bytes({'{', 'U', 1, 'a'}),                                                         // key without a value
      Bytes({'X'}),                                                                      // unknown marker
      Bytes({'T', 'T'}),                                                                 // bytes after the document
      Bytes({'[', '$', 'N', '#', 'U', 1}),                                               // no-op as a container type
  };
  for (const std::string& b : bad) {
    auto r = UbjsonToJson(b);
    EXPECT_FALSE(r.ok()) << "accepted " << b.size() << " bytes";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find("UBJSON at byte "), std::string::npos);
    }
  }
}

TEST(UbjsonToJson, DepthAndOutputSizeAreBounded) {
  EXPECT_CODE(UbjsonToJson(std::string(100, '[') + std::string(100, ']')), kInvalidArgument);
  EXPECT_TRUE(UbjsonToJson(std::string(10, '[') + std::string(10, ']')).ok());
  // A typed array of a million nulls in 7 bytes: JSON would be 5 MB; refused by the size cap.
  auto r = UbjsonToJson(Bytes({'[', '$', 'Z', '#', 'l', 0, 0x0f, 0x42, 0x40}));
  EXPECT_CODE(r, kInvalidArgument);
}

// The fuzz seed is the JSON fuzz seed re-encoded as UBJSON (typed int32/float32 arrays): both
// load and score the same.
TEST(LoadXgboostUbjson, FuzzSeedScoresLikeTheJsonItCameFrom) {
  const std::string dir = IMPULSE_MODEL_SRC_DIR;
  auto ubj = LoadXgboostFile(dir + "/xgboost_ubjson_fuzz_seed.ubj");
  auto json = LoadXgboostFile(dir + "/xgboost_fuzz_seed.json");
  ASSERT_TRUE(ubj.ok()) << ubj.status().ToString();
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  ASSERT_EQ((*ubj)->num_features(), (*json)->num_features());
  ASSERT_EQ((*ubj)->num_outputs(), (*json)->num_outputs());
  const size_t f = (*ubj)->num_features(), k = (*ubj)->num_outputs(), n = 9;
  std::vector<float> rows(n * f);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = i % 4 == 3 ? NAN : static_cast<float>(i % 7) - 3.0f;
  std::vector<float> a(n * k), b(n * k);
  (*ubj)->Predict(rows.data(), n, a.data());
  (*json)->Predict(rows.data(), n, b.data());
  EXPECT_EQ(a, b);
}

TEST(LoadXgboostUbjson, MissingFileAndBadContentNameThePath) {
  auto missing = LoadXgboostFile("/nonexistent/model.ubj");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto bad = LoadXgboostUbjsonText(Bytes({'{', 'U', 1, 'a', 'T', '}'}), "m/1/model.ubj");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind("m/1/model.ubj: ", 0), 0u) << bad.status().message();
  EXPECT_NE(bad.status().message().find("missing field learner"), std::string::npos);
}

}  // namespace
}  // namespace impulse::model
