// The Open Inference Protocol request parser: both request shapes, every datatype, nesting,
// and one test per class of error (checked by status code; the message must name the tensor).
#include "server/infer_codec.h"

#include <gtest/gtest.h>

#include <cmath>

namespace impulse::server {
namespace {

const std::vector<std::string> kNames = {"a", "b", "c"};

Result<InferRequest> Parse(std::string body, size_t rows_max = 100) {
  return ParseInferRequest(&body, kNames, rows_max);
}

TEST(InferCodec, MatrixTensorFlatData) {
  auto r = Parse(R"({"id":"x1","inputs":[{"name":"input","shape":[2,3],"datatype":"FP32","data":[1,2,3,4,5,6.5]}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "x1");
  EXPECT_EQ(r->rows, 2u);
  EXPECT_EQ(r->features, (std::vector<float>{1, 2, 3, 4, 5, 6.5f}));
  EXPECT_TRUE(r->outputs.empty());
}

TEST(InferCodec, MatrixTensorNestedDataAndNullIsMissing) {
  auto r = Parse(R"({"inputs":[{"data":[[1,null,3]],"datatype":"FP64","shape":[1,3],"name":"whatever"}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->id.has_value());
  ASSERT_EQ(r->features.size(), 3u);
  EXPECT_EQ(r->features[0], 1.0f);
  EXPECT_TRUE(std::isnan(r->features[1]));
}

TEST(InferCodec, PerInputTensorsAssembledInConfigOrder) {
  auto r = Parse(R"({"inputs":[
      {"name":"c","shape":[2],"datatype":"INT64","data":[30,31]},
      {"name":"a","shape":[2,1],"datatype":"INT32","data":[[10],[11]]},
      {"name":"b","shape":[2],"datatype":"FP32","data":[20,21]}],
    "outputs":[{"name":"score"}], "parameters":{"x":1}})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 2u);
  EXPECT_EQ(r->features, (std::vector<float>{10, 20, 30, 11, 21, 31}));
  EXPECT_EQ(r->outputs, (std::vector<std::string>{"score"}));
}

TEST(InferCodec, ZeroRowsIsValid) {
  auto r = Parse(R"({"inputs":[{"name":"input","shape":[0,3],"datatype":"FP32","data":[]}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 0u);
}

void ExpectError(const std::string& body, StatusCode code, const std::string& needle) {
  auto r = Parse(body, /*rows_max=*/4);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message() << " for " << body;
}

TEST(InferCodec, ErrorsNameTheTensorAndTheReason) {
  const auto kBad = StatusCode::kInvalidArgument;
  ExpectError("not json", kBad, "JSON object");
  ExpectError("{\"inputs\":[", kBad, "invalid JSON");
  ExpectError("[1]", kBad, "JSON object");
  ExpectError("{}", kBad, "missing field 'inputs'");
  ExpectError(R"({"inputs":[],"x":1})", kBad, "unknown field 'x'");
  ExpectError(R"({"inputs":[]})", kBad, "inputs is empty");
  ExpectError(R"({"inputs":[{"name":"t","shape":[1,3],"datatype":"FP32"}]})", kBad, "'t': missing field 'data'");
  ExpectError(R"({"inputs":[{"name":"t","shape":[1,3],"data":[1,2,3]}]})", kBad, "'t': missing field 'datatype'");
  ExpectError(R"({"inputs":[{"name":"t","shape":[1,3],"datatype":"BYTES","data":[1,2,3]}]})", kBad,
              "'t': datatype 'BYTES' not supported");
  ExpectError(R"({"inputs":[{"name":"t","shape":[1,3],"datatype":"INT32","data":[1,2.5,3]}]})", kBad,
              "'t': datatype INT32 but data holds a non-integer");
  ExpectError(R"({"inputs":[{"name":"t","shape":[1,3],"datatype":"FP32","data":[1,2]}]})", kBad,
              "'t': shape holds 3 values but data has 2");
  ExpectError(R"({"inputs":[{"name":"t","shape":[3,1],"datatype":"FP32","data":[1,2,3]}]})", kBad,
              "'t': shape [3,1] but the model takes [n, 3]");
  ExpectError(R"({"inputs":[{"name":"t","shape":[1,3],"datatype":"FP32","data":[1,"2",3]}]})", kBad,
              "'t': data holds a string");
  ExpectError(R"({"inputs":[{"name":"t","shape":[-1,3],"datatype":"FP32","data":[1,2,3]}]})", kBad, "non-negative");
  ExpectError(R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]},
                            {"name":"b","shape":[1],"datatype":"FP32","data":[1]}]})",
              kBad, "missing input tensor 'c'");
  ExpectError(R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]},
                            {"name":"zz","shape":[1],"datatype":"FP32","data":[1]}]})",
              kBad, "'zz': not an input of the model");
  ExpectError(R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]},
                            {"name":"b","shape":[2],"datatype":"FP32","data":[1,2]},
                            {"name":"c","shape":[1],"datatype":"FP32","data":[1]}]})",
              kBad, "'b': 2 rows but other tensors have 1");
  ExpectError(R"({"inputs":[{"name":"t","shape":[1,3],"datatype":"FP32","data":[[[[[[[[[1]]]]]]]]]}]})", kBad,
              "nested deeper");
  ExpectError(R"({"inputs":[{"name":"t","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]} x)", kBad, "JSON");
}

TEST(InferCodec, RowsBeyondTheLimitAreResourceExhausted) {
  // 5 rows of 3 with rows_max 4: stopped while reading the data, before it is all stored.
  ExpectError(
      R"({"inputs":[{"name":"t","shape":[5,3],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]})",
      StatusCode::kResourceExhausted, "more than 12 values");
  // Declared rows beyond the limit with data that matches.
  auto r = Parse(
      R"({"inputs":[{"name":"input","shape":[5,3],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]})",
      /*rows_max=*/5);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST(InferCodec, FloatsPrintShortestAndNonFiniteAsNull) {
  std::string out;
  AppendJsonFloat(0.1f, &out);
  out.push_back(' ');
  AppendJsonFloat(3.0f, &out);
  out.push_back(' ');
  AppendJsonFloat(std::nanf(""), &out);
  out.push_back(' ');
  AppendJsonFloat(-INFINITY, &out);
  EXPECT_EQ(out, "0.1 3 null null");
}

}  // namespace
}  // namespace impulse::server
