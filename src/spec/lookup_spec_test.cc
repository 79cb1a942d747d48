// The `lookup` step (a feature view's values as of the event, from another pipeline): what it
// compiles to, and its spec errors, each at its line and column.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "spec/spec.h"

namespace impulse::plan {
namespace {

// Lines 1-15: streams and the views; pipelines from line 16. The view is computed from
// `views` keyed by item; `clicks` are keyed by item too, so both are partitioned alike.
constexpr char kHead[] = R"(streams:
  - {name: views, key: item, event_time: ts, partitions: 2, fields: [{name: item, type: int64}, {name: user, type: string}, {name: price, type: double}, {name: ts, type: timestamp}]}
  - {name: clicks, key: item, event_time: ts, partitions: 2, fields: [{name: item, type: int64}, {name: user, type: string}, {name: ts, type: timestamp}, {name: sitem, type: string}]}
  - {name: by_user, key: user, event_time: ts, partitions: 2, fields: [{name: item, type: int64}, {name: user, type: string}, {name: ts, type: timestamp}]}
  - {name: one, key: item, event_time: ts, partitions: 1, fields: [{name: item, type: int64}, {name: ts, type: timestamp}]}
feature_views:
  - name: item
    entity: item
    features:
      - {name: VIEWS_1H, agg: count(), window: 1h}
      - {name: AVG_PRICE_1D, agg: avg(price), window: 1d}
  - name: user
    entity: user
    features:
      - {name: N, agg: count(), window: 1h}
pipelines:
)";

// The pipelines computing the views (lines 16-25).
constexpr char kViewPipelines[] = R"(  - name: item_features
    from: views
    steps:
      - features: item
    sink: {stream: item_versions}
  - name: user_features
    from: by_user
    steps:
      - features: user
    sink: {stdout: true}
)";

// A pipeline of clicks whose step (at line 30, column 9) is `step`.
std::string Spec(const std::string& step, const std::string& from = "clicks") {
  return std::string(kHead) + kViewPipelines + "  - name: p\n    from: " + from + "\n    steps:\n      - " + step +
         "\n    sink: {stream: out}\n";
}

std::vector<SpecError> Errors(const std::string& yaml) {
  std::vector<SpecError> errors;
  Result<LogicalPlan> plan = CompileSpec(yaml, "pipeline.yaml", &errors);
  EXPECT_FALSE(plan.ok());
  return errors;
}

void ExpectOneError(const std::string& yaml, int line, int col, const std::string& text) {
  std::vector<SpecError> errors = Errors(yaml);
  ASSERT_EQ(errors.size(), 1u) << (errors.empty() ? "" : errors[0].ToString() + "\n" + errors.back().ToString());
  EXPECT_EQ(errors[0].line, line) << errors[0].ToString();
  EXPECT_EQ(errors[0].column, col) << errors[0].ToString();
  EXPECT_NE(errors[0].message.find(text), std::string::npos) << errors[0].ToString();
}

TEST(LookupSpec, CompilesToAnAsOfJoinWithTheViewsStream) {
  std::vector<SpecError> errors;
  Result<LogicalPlan> plan =
      CompileSpec(Spec("lookup: {view: item, key: item, as_of: -1m, versions_max: 50}"), "pipeline.yaml", &errors);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const LogicalPipeline* p = nullptr;
  for (const LogicalPipeline& lp : plan->pipelines) {
    if (lp.name == "p") p = &lp;
  }
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->second_source, "item_versions");
  ASSERT_EQ(p->ops.size(), 1u);
  const LogicalOp& op = p->ops[0];
  EXPECT_EQ(op.label, "lookup#1");
  ASSERT_NE(op.join, nullptr);
  EXPECT_EQ(op.join->type, JoinDef::Type::kAsOf);
  EXPECT_EQ(op.join->as_of_ms, -60'000);
  EXPECT_EQ(op.join->versions_max, 50u);
  EXPECT_EQ(op.join->state_ttl_ms, 86'400'000);  // the view's longest window
  EXPECT_EQ(op.join->view, "item");
  // The input, then the view's features with its prefix, nullable (an entity may have none).
  ASSERT_EQ(op.output.size(), 6u);
  EXPECT_EQ(op.output.field(4).name, "item_VIEWS_1H");
  EXPECT_EQ(op.output.field(4).type, FieldType::kInt64);
  EXPECT_TRUE(op.output.field(4).nullable);
  EXPECT_EQ(op.output.field(5).name, "item_AVG_PRICE_1D");
  ASSERT_EQ(op.join->right_output.size(), 2u);
  EXPECT_EQ(op.join->right_schema.field(static_cast<size_t>(op.join->right_output[0])).name, "VIEWS_1H");
  // The view's pipeline is resolved first whatever the file order.
  std::string reordered = std::string(kHead) +
                          "  - name: p\n    from: clicks\n    steps:\n      - lookup: {view: item, key: item, as_of: "
                          "0, prefix: i_}\n    sink: {stream: out}\n" +
                          kViewPipelines;
  Result<LogicalPlan> later = CompileSpec(reordered, "pipeline.yaml", nullptr);
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  size_t at_p = 99, at_view = 99;
  for (size_t i = 0; i < later->pipelines.size(); ++i) {
    if (later->pipelines[i].name == "p") at_p = i;
    if (later->pipelines[i].name == "item_features") at_view = i;
  }
  ASSERT_LT(at_p, later->pipelines.size());
  EXPECT_LT(at_view, at_p);
  ASSERT_EQ(later->pipelines[at_p].output.schema.size(), 6u);
  EXPECT_EQ(later->pipelines[at_p].output.schema.field(4).name, "i_VIEWS_1H");
}

TEST(LookupSpec, ReportsEachErrorAtItsLineAndColumn) {
  ExpectOneError(Spec("lookup: {view: itme, key: item, as_of: -1m}"), 30, 24,
                 "unknown feature view 'itme' in lookup#1 of pipeline 'p'");
  ExpectOneError(Spec("lookup: {view: item, key: sitem, as_of: -1m}"), 30, 35,
                 "key 'sitem' of lookup#1 of pipeline 'p' is string but the entity 'item' of view 'item' is int64");
  ExpectOneError(Spec("lookup: {view: item, key: nope, as_of: -1m}"), 30, 35, "unknown field 'nope'");
  ExpectOneError(Spec("lookup: {view: item, key: item, as_of: 1m}"), 30, 48, "at or before the event's");
  ExpectOneError(Spec("lookup: {view: item, key: item}"), 30, 17, "needs 'as_of: -duration'");
  ExpectOneError(Spec("lookup: {view: item, as_of: 0}"), 30, 17, "needs 'key: field'");
  ExpectOneError(Spec("lookup: {key: item, as_of: 0}"), 30, 9, "needs 'view: NAME'");
  ExpectOneError(Spec("lookup: {view: item, key: item, as_of: -1m, versions_max: 0}"), 30, 67, "versions_max");
  ExpectOneError(Spec("lookup: {view: item, key: item, as_of: -1m, lateness: 1}"), 30, 53, "lateness");
  // A prefix that is not a string was read as no prefix at all.
  ExpectOneError(Spec("lookup: {view: item, key: item, as_of: -1m, prefix: [a]}"), 30, 61,
                 "prefix of lookup#1 of pipeline 'p' is a string");
  // Not partitioned by the key: re-key first.
  ExpectOneError(Spec("lookup: {view: item, key: item, as_of: -1m}", "by_user"), 30, 35,
                 "must be partitioned by 'item' over the partitions of stream 'item_versions'");
  ExpectOneError(Spec("lookup: {view: item, key: item, as_of: -1m}", "one"), 30, 35, "(keyed by 'item': 2");
  // A view whose pipeline writes no stream, and a view looked up by its own pipeline.
  ExpectOneError(Spec("lookup: {view: user, key: user, as_of: -1m}"), 30, 24, "whose sink is not a stream");
  std::string self = std::string(kHead) + kViewPipelines +
                     "  - name: p\n    from: views\n    steps:\n      - features: item\n"
                     "      - lookup: {view: item, key: item, as_of: 0}\n    sink: {stream: out}\n";
  self.replace(self.find("      - features: item\n    sink: {stream: item_versions}"),
               std::string("      - features: item\n").size(), "      - map: {x: 1}\n");
  ExpectOneError(self, 31, 24, "is computed by pipeline 'p' itself");
  // The view's stream written by another pipeline too: its rows would be read as versions.
  ExpectOneError(Spec("lookup: {view: item, key: item, as_of: -1m}") +
                     "  - name: other\n    from: views\n    steps:\n"
                     "      - map: {VIEWS_1H: \"0\", AVG_PRICE_1D: \"if(price > 0.0, price, null)\"}\n"
                     "    sink: {stream: item_versions}\n",
                 30, 24, "is also written by pipeline 'other'");
  // At most one join or lookup per pipeline.
  ExpectOneError(Spec("lookup: {view: item, key: item, as_of: 0}\n      - lookup: {view: item, key: item, as_of: "
                      "0, prefix: j_}"),
                 31, 9, "at most one join or lookup per pipeline");
  // The view's stream must keep the entity and the features.
  std::string dropped = Spec("lookup: {view: item, key: item, as_of: 0}");
  dropped.replace(dropped.find("      - features: item\n"), std::string("      - features: item\n").size(),
                  "      - features: item\n      - project: [item, ts, VIEWS_1H]\n");
  ExpectOneError(dropped, 31, 24, "lacks feature 'AVG_PRICE_1D' (double) of view 'item'");
}

// The column of `token` in the step `step` of Spec(step) (the step starts at column 9).
int Col(const std::string& step, const std::string& token) { return static_cast<int>(step.find(token)) + 9; }

// as_of_time: the as-of time computed from the event (a timestamp expression over its fields),
// with as_of_lag_max (default 1d) bounding how far back it may be.
TEST(LookupSpec, AsOfTimeCompilesToAnExpressionWithItsLagBound) {
  for (const auto& [step, lag_ms] : std::vector<std::pair<std::string, int64_t>>{
           {"lookup: {view: item, key: item, as_of_time: \"date_trunc_day(ts)\"}", 86'400'000},
           {"lookup: {view: item, key: item, as_of_time: \"ts - 1000\", as_of_lag_max: 2h}", 7'200'000}}) {
    std::vector<SpecError> errors;
    Result<LogicalPlan> plan = CompileSpec(Spec(step), "pipeline.yaml", &errors);
    ASSERT_TRUE(plan.ok()) << (errors.empty() ? plan.status().ToString() : errors[0].ToString());
    const LogicalOp& op = plan->pipelines.back().ops[0];
    ASSERT_NE(op.join, nullptr) << step;
    EXPECT_EQ(op.join->type, JoinDef::Type::kAsOf);
    ASSERT_NE(op.join->as_of_expr, nullptr) << step;
    EXPECT_EQ(op.join->as_of_expr->type, ExprType::kTimestamp);
    EXPECT_EQ(op.join->as_of_lag_max_ms, lag_ms) << step;
    EXPECT_EQ(op.join->as_of_ms, 0);
  }
  // The fixed form has no expression.
  Result<LogicalPlan> fixed = CompileSpec(Spec("lookup: {view: item, key: item, as_of: -1m}"), "p.yaml", nullptr);
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed->pipelines.back().ops[0].join->as_of_expr, nullptr);
}

TEST(LookupSpec, AsOfTimeErrorsAtTheirLineAndColumn) {
  std::string s = "lookup: {view: item, key: item, as_of: -1m, as_of_time: \"ts\"}";
  ExpectOneError(Spec(s), 30, Col(s, "\"ts\""), "takes one of 'as_of' and 'as_of_time', not both");
  s = "lookup: {view: item, key: item, as_of: -1m, as_of_lag_max: 1d}";
  ExpectOneError(Spec(s), 30, Col(s, "1d"), "as_of_lag_max of lookup#1 of pipeline 'p' goes with as_of_time only");
  // Not a timestamp: at the expression's position inside the scalar.
  s = "lookup: {view: item, key: item, as_of_time: \"item + 1\"}";
  ExpectOneError(Spec(s), 30, Col(s, "item + 1"), "as_of_time is a timestamp, not int64");
  s = "lookup: {view: item, key: item, as_of_time: \"date_trunc_day(tss)\"}";
  ExpectOneError(Spec(s), 30, Col(s, "tss"), "unknown field 'tss'");
  s = "lookup: {view: item, key: item, as_of_time: [ts]}";
  ExpectOneError(Spec(s), 30, Col(s, "[ts]"), "as_of_time of lookup#1 of pipeline 'p' is an expression");
  s = "lookup: {view: item, key: item, as_of_time: ts, as_of_lag_max: -1h}";
  ExpectOneError(Spec(s), 30, Col(s, "-1h"), "as_of_lag_max of lookup#1");
  s = "lookup: {view: item, key: item, as_of_time: ts, as_of_lag_max: 400d}";
  ExpectOneError(Spec(s), 30, Col(s, "400d"), "is at most 366d");
}

// broadcast: every task reads every partition of the view's stream, so an input keyed by
// something else (users, or one partition) may look items up.
TEST(LookupSpec, BroadcastNeedsNoCoPartitioning) {
  for (const char* from : {"by_user", "one"}) {
    std::vector<SpecError> errors;
    Result<LogicalPlan> plan = CompileSpec(Spec("lookup: {view: item, key: item, as_of: -1m, broadcast: true}", from),
                                           "pipeline.yaml", &errors);
    ASSERT_TRUE(plan.ok()) << from << ": " << (errors.empty() ? plan.status().ToString() : errors[0].ToString());
    const LogicalPipeline* p = nullptr;
    for (const LogicalPipeline& lp : plan->pipelines) {
      if (lp.name == "p") p = &lp;
    }
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->second_source, "item_versions");
    EXPECT_TRUE(p->second_broadcast);
    ASSERT_NE(p->ops[0].join, nullptr);
    EXPECT_TRUE(p->ops[0].join->broadcast);
  }
  // Not broadcast (the default, or said): co-partitioned, and the error suggests broadcast.
  ExpectOneError(Spec("lookup: {view: item, key: item, as_of: -1m, broadcast: false}", "by_user"), 30, 35,
                 "or, for a small view, set 'broadcast: true'");
  ExpectOneError(Spec("lookup: {view: item, key: item, as_of: -1m, broadcast: yes please}", "by_user"), 30, 64,
                 "expected true or false for broadcast of lookup#1");
}

}  // namespace
}  // namespace impulse::plan
