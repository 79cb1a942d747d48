// Candidate ranking's core (rank_core.h): candidate lists, batched scoring, top k.
#include "ops/rank_core.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "model/linear_model.h"

namespace impulse::plan {
namespace {

TEST(ParseCandidates, ReadsIdsAndTopKOutputKeepingFirstOccurrences) {
  std::vector<int64_t> ids;
  std::vector<std::optional<int64_t>> counts;
  ASSERT_TRUE(ParseCandidates("[3, 17, 3, -2]", 10, &ids, &counts).ok());
  EXPECT_EQ(ids, (std::vector<int64_t>{3, 17, -2}));
  ASSERT_TRUE(ParseCandidates(R"([{"value":9,"count":4},{"value":1,"count":4}])", 10, &ids, &counts).ok());
  EXPECT_EQ(ids, (std::vector<int64_t>{9, 1}));
  ASSERT_TRUE(ParseCandidates("[]", 10, &ids, &counts).ok());
  EXPECT_TRUE(ids.empty());
  EXPECT_TRUE(counts.empty());
}

TEST(ParseCandidates, CountsAreTopKsAndNulloptForPlainIdsParallelToTheDistinctIds) {
  std::vector<int64_t> ids;
  std::vector<std::optional<int64_t>> counts;
  // A repeated id keeps its first occurrence's count; an object without a count (or a null one)
  // and a plain id have none.
  ASSERT_TRUE(ParseCandidates(R"([{"value":9,"count":7},{"value":4},5,{"value":9,"count":1},)"
                              R"({"value":2,"count":null},{"value":3,"count":0}])",
                              10, &ids, &counts)
                  .ok());
  EXPECT_EQ(ids, (std::vector<int64_t>{9, 4, 5, 2, 3}));
  EXPECT_EQ(counts, (std::vector<std::optional<int64_t>>{7, std::nullopt, std::nullopt, std::nullopt, 0}));
  // A list read before leaves nothing behind.
  ASSERT_TRUE(ParseCandidates("[8]", 10, &ids, &counts).ok());
  EXPECT_EQ(counts, (std::vector<std::optional<int64_t>>{std::nullopt}));
}

TEST(ParseCandidates, RefusesMalformedListsSayingWhere) {
  std::vector<int64_t> ids;
  std::vector<std::optional<int64_t>> counts;
  for (const char* bad : {"[1,", "{\"value\":1}", "[1, \"2\"]", "[1, 2.5]", "[{\"count\":3}]", "7",
                          "[{\"value\":1,\"count\":2.5}]", "[{\"value\":1,\"count\":\"3\"}]"}) {
    const Status st = ParseCandidates(bad, 10, &ids, &counts);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad;
  }
  Status st = ParseCandidates("[1, {\"count\":3}]", 10, &ids, &counts);
  EXPECT_NE(st.message().find("element 1"), std::string::npos) << st.ToString();
  st = ParseCandidates(R"([{"value":1,"count":1},{"value":2,"count":[]}])", 10, &ids, &counts);
  EXPECT_NE(st.message().find("element 1"), std::string::npos) << st.ToString();
}

TEST(ParseCandidates, MoreThanCandidatesMaxIsResourceExhausted) {
  std::vector<int64_t> ids;
  std::vector<std::optional<int64_t>> counts;
  EXPECT_TRUE(ParseCandidates("[1,2,3,1,2,3]", 3, &ids, &counts).ok());  // duplicates do not count
  EXPECT_EQ(ParseCandidates("[1,2,3,4]", 3, &ids, &counts).code(), StatusCode::kResourceExhausted);
}

// Counts the rows of each Predict call.
class CountingModel final : public model::Model {
 public:
  size_t num_features() const override { return 2; }
  size_t num_outputs() const override { return 1; }
  void Predict(const float* rows, size_t n, float* out) const override {
    calls.push_back(n);
    for (size_t i = 0; i < n; ++i) out[i] = rows[2 * i] * 10 + rows[2 * i + 1];
  }
  std::string_view kind() const override { return "counting"; }
  mutable std::vector<size_t> calls;
};

TEST(ScoreInBatches, CallsTheModelWithAtMostBatchRowsMaxRows) {
  CountingModel m;
  std::vector<float> rows;
  for (int i = 0; i < 7; ++i) rows.insert(rows.end(), {static_cast<float>(i), 1.0f});
  std::vector<float> scores(7), scratch;
  ASSERT_TRUE(ScoreInBatches(m, rows.data(), 7, 3, &scratch, scores.data()).ok());
  EXPECT_EQ(m.calls, (std::vector<size_t>{3, 3, 1}));
  for (int i = 0; i < 7; ++i) EXPECT_EQ(scores[static_cast<size_t>(i)], static_cast<float>(i * 10 + 1));
  EXPECT_EQ(ScoreInBatches(m, rows.data(), 7, 0, &scratch, scores.data()).code(), StatusCode::kInvalidArgument);
}

TEST(KeepTopK, BestFirstTiesByIdNaNLast) {
  // A linear model of the project: score = 2 * x0 - x1 + 0.5, x1 missing (NaN) adds nothing.
  model::LinearModel lin({2.0f, -1.0f}, 0.5f, /*logistic=*/false);
  const std::vector<int64_t> ids = {40, 7, 12, 3, 99};
  const std::vector<float> rows = {1, 0, 3, 1, 2, NAN, 2, NAN, 0, 4};  // 2.5, 5.5, 4.5, 4.5, -3.5
  std::vector<float> scores(ids.size()), scratch;
  ASSERT_TRUE(ScoreInBatches(lin, rows.data(), ids.size(), 2, &scratch, scores.data()).ok());
  std::vector<RankedCandidate> top;
  KeepTopK(ids, scores, 3, &top);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].id, 7);
  EXPECT_FLOAT_EQ(top[0].score, 5.5f);
  EXPECT_EQ(top[1].id, 3);  // 4.5 like 12: the smaller id first
  EXPECT_EQ(top[2].id, 12);
  std::string json;
  AppendRankedIdsJson(top, &json);
  json += ' ';
  AppendRankedScoresJson(top, &json);
  EXPECT_EQ(json, "[7,3,12] [5.5,4.5,4.5]");
  // NaN after every number; k beyond the candidates keeps them all.
  KeepTopK(std::vector<int64_t>{5, 1, 2}, std::vector<float>{NAN, -1.0f, NAN}, 10, &top);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].id, 1);
  EXPECT_EQ(top[1].id, 2);
  EXPECT_EQ(top[2].id, 5);
  json.clear();
  AppendRankedScoresJson(top, &json);
  EXPECT_EQ(json, "[-1,null,null]");
}

}  // namespace
}  // namespace impulse::plan
