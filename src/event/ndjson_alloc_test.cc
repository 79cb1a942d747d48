// Checks the steady-state promise of NdjsonParser: once the parser and the batch have seen a
// body, parsing it again allocates nothing. Counts calls to the global operator new, which
// this test binary replaces with src/common/counting_new.cc (the counter is only read around the measured call).
#include <gtest/gtest.h>

#include <string>

#include "common/counting_new.h"
#include "event/ndjson.h"

namespace impulse {
namespace {

TEST(NdjsonParserAllocations, ReparsingAValidBodyAllocatesNothing) {
  StreamDef def;
  def.name = "clicks";
  def.schema = Schema({{"user_id", FieldType::kString, false},
                       {"url", FieldType::kString, false},
                       {"amount", FieldType::kDouble, false},
                       {"ts", FieldType::kTimestamp, false}});
  def.key_field = 0;
  def.time_field = 3;
  std::string body;
  for (int i = 0; i < 500; ++i) {
    body += R"({"user_id":"user-)" + std::to_string(i) + R"(","url":"https://example.com/a/b/c","amount":)" +
            std::to_string(i) + R"(.25,"ts":"2024-03-01T12:34:56.789Z"})" + "\n";
  }
  NdjsonParser parser(def, {});
  RowBatch rows(4);
  std::vector<BadLine> bad;
  const long first_before = impulse::testing::AllocationCount();
  ASSERT_TRUE(parser.Parse(body, 1, &rows, &bad).ok());
  ASSERT_EQ(rows.size(), 500u);
  EXPECT_GT(impulse::testing::AllocationCount() - first_before, 0);  // the counter sees the warm-up

  rows.Clear();
  const long before = impulse::testing::AllocationCount();
  Status st = parser.Parse(body, 2, &rows, &bad);
  const long allocations = impulse::testing::AllocationCount() - before;
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(rows.size(), 500u);
  EXPECT_TRUE(bad.empty());
  EXPECT_EQ(allocations, 0);
}

}  // namespace
}  // namespace impulse
