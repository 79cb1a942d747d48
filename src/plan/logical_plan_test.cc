// KeepPipelinesFeeding: which pipelines a stream depends on (what a backfill of it runs).
#include "plan/logical_plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "spec/spec.h"

namespace impulse::plan {
namespace {

// user_view computes a feature view that `enriched` looks up; `alerts` publishes `high` (a
// side stream, which pipelines cannot read yet) from enriched; `counts` hangs off the input
// alone; `joined` reads `counts` through a join.
constexpr const char* kSpec = R"yaml(streams:
  - name: tx
    fields:
      - {name: id, type: int64}
      - {name: user_id, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: user_id
    event_time: ts
feature_views:
  - name: user
    source: tx
    entity: user_id
    features:
      - {name: USER_TX_1H, agg: count(), window: 1h}
pipelines:
  - name: user_view
    from: tx
    steps:
      - features: user
    sink: {stream: user_features}
  - name: enriched
    from: tx
    steps:
      - lookup: {view: user, key: user_id, as_of: 0s}
    sink: {stream: enriched}
  - name: alerts
    from: enriched
    steps:
      - trigger:
          name: big
          when: "amount > 100"
          publish:
            - stream: high
              fields: {id: id, user_id: user_id}
    sink: {stream: alerts_out}
  - name: counts
    from: tx
    steps:
      - window: {tumbling: 1h, key: user_id, aggregates: {n: count()}}
    sink: {stream: counts}
  - name: joined
    from: tx
    steps:
      - join: {stream: counts, on: {left: user_id, right: user_id}, type: lookup}
    sink: {stream: joined}
)yaml";

std::vector<std::string> Names(const LogicalPlan& plan) {
  std::vector<std::string> out;
  for (const LogicalPipeline& p : plan.pipelines) out.push_back(p.name);
  return out;
}

LogicalPlan Compile() {
  std::vector<SpecError> errors;
  Result<LogicalPlan> plan = CompileSpec(kSpec, "<spec>", &errors);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? std::move(*plan) : LogicalPlan{};
}

using V = std::vector<std::string>;

TEST(KeepPipelinesFeeding, LookupKeepsThePipelineComputingTheView) {
  LogicalPlan plan = Compile();
  ASSERT_EQ(plan.pipelines.size(), 5u);
  const size_t streams = plan.streams.size();
  EXPECT_EQ(KeepPipelinesFeeding(&plan, {"enriched"}), (V{"alerts", "counts", "joined"}));
  EXPECT_EQ(Names(plan), (V{"user_view", "enriched"}));
  EXPECT_EQ(plan.streams.size(), streams);  // streams stay declared
}

TEST(KeepPipelinesFeeding, SideStreamKeepsItsWriterAndWhatItReads) {
  LogicalPlan plan = Compile();
  EXPECT_EQ(KeepPipelinesFeeding(&plan, {"high"}), (V{"counts", "joined"}));
  EXPECT_EQ(Names(plan), (V{"user_view", "enriched", "alerts"}));
}

TEST(KeepPipelinesFeeding, JoinKeepsTheRightStreamsWriter) {
  LogicalPlan plan = Compile();
  EXPECT_EQ(KeepPipelinesFeeding(&plan, {"joined"}), (V{"user_view", "enriched", "alerts"}));
  EXPECT_EQ(Names(plan), (V{"counts", "joined"}));
  plan = Compile();
  EXPECT_EQ(KeepPipelinesFeeding(&plan, {"counts"}).size(), 4u);
  EXPECT_EQ(Names(plan), (V{"counts"}));
}

TEST(KeepPipelinesFeeding, InputStreamKeepsNothingAndSeveralStreamsKeepTheUnion) {
  LogicalPlan plan = Compile();
  EXPECT_EQ(KeepPipelinesFeeding(&plan, {"tx"}).size(), 5u);
  EXPECT_TRUE(plan.pipelines.empty());
  plan = Compile();
  EXPECT_EQ(KeepPipelinesFeeding(&plan, {"enriched", "counts"}), (V{"alerts", "joined"}));
  EXPECT_EQ(Names(plan), (V{"user_view", "enriched", "counts"}));
}

}  // namespace
}  // namespace impulse::plan
