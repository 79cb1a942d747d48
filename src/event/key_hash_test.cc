#include "event/key_hash.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace impulse {
namespace {

TEST(HashValue, StringsHashTheirBytes) {
  const std::string a = "user-1";
  const std::string b = "user-1";
  EXPECT_EQ(HashValue(Value::String(a), FieldType::kString), HashValue(Value::String(b), FieldType::kString));
  EXPECT_EQ(HashValue(Value::String(a), FieldType::kString), XXH3_64bits(a.data(), a.size()));
  EXPECT_NE(HashValue(Value::String("user-2"), FieldType::kString), HashValue(Value::String(a), FieldType::kString));
  EXPECT_EQ(HashValue(Value::String(""), FieldType::kString), XXH3_64bits("", 0));
}

TEST(HashValue, NumbersHashTheirLittleEndianBytes) {
  const unsigned char seven[8] = {7, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(HashValue(Value::Int(7), FieldType::kInt64), XXH3_64bits(seven, 8));
  EXPECT_EQ(HashValue(Value::Int(7), FieldType::kTimestamp), XXH3_64bits(seven, 8));
  const unsigned char one[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(HashValue(Value::Bool(true), FieldType::kBool), XXH3_64bits(one, 8));
  EXPECT_EQ(HashValue(Value::Double(0.0), FieldType::kDouble), HashValue(Value::Double(-0.0), FieldType::kDouble));
  EXPECT_EQ(HashValue(Value::Double(std::nan("1")), FieldType::kDouble),
            HashValue(Value::Double(-std::nan("2")), FieldType::kDouble));
  EXPECT_NE(HashValue(Value::Double(1.0), FieldType::kDouble), HashValue(Value::Double(2.0), FieldType::kDouble));
}

TEST(HashValue, NullHashesToTheFixedConstant) {
  EXPECT_EQ(HashValue(Value::Null(), FieldType::kString), kNullKeyHash);
  EXPECT_EQ(HashValue(Value::Null(), FieldType::kInt64), kNullKeyHash);
}

TEST(PartitionFor, StaysInRangeAndSpreadsKeys) {
  EXPECT_EQ(PartitionFor(12345, 0), 0u);
  EXPECT_EQ(PartitionFor(12345, 1), 0u);
  std::vector<int> counts(8, 0);
  for (int i = 0; i < 8000; ++i) {
    const std::string key = "key-" + std::to_string(i);
    const uint32_t p = PartitionFor(HashValue(Value::String(key), FieldType::kString), 8);
    ASSERT_LT(p, 8u);
    ++counts[p];
  }
  for (int c : counts) EXPECT_GT(c, 800);  // expected 1000 each
}

}  // namespace
}  // namespace impulse
