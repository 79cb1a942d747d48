// Physical pipelines over batches.
#include "plan/physical.h"

#include <gtest/gtest.h>

#include "spec/spec.h"

namespace impulse::plan {
namespace {

constexpr const char* kSpec = R"yaml(streams:
  - name: clicks
    fields:
      - {name: user_id, type: string}
      - {name: url, type: string}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: user_id
    event_time: ts
pipelines:
  - name: big_clicks
    from: clicks
    steps:
      - filter: amount > 100
      - map:
          amount_cents: cast(amount * 100 as int64)
          host: lower(substr(url, 1, 5))
      - key_by: user_id
    sink: {stream: big_clicks}
  - name: shaped
    from: clicks
    steps:
      - map: {amount: "amount * 2", tag: "concat(user_id, '#', url)"}
      - filter: amount > 100
      - project: {who: user_id, tag: tag, cents: "cast(amount as int64)"}
      - filter: "cents < 1000"
    sink: {stdout: true}
  - name: only_filter
    from: clicks
    steps:
      - filter: "starts_with(url, 'HTTP')"
    sink: {file: out.ndjson}
)yaml";

class PhysicalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<LogicalPlan> plan = CompileSpec(kSpec, "test.yaml", nullptr);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    plan_ = std::move(plan).value();
    input_.Reset(4);
    // user, url, amount, ts
    Add("u1", "HTTP://A", 50.0, 1000);
    Add("u2", "HTTP://B", 150.5, 2000);
    Add("u3", "ftp://c", 100.0, 3000);
    Add("u4", "HTTP://D", 499.99, 4000);
  }

  void Add(const char* user, const char* url, double amount, int64_t ts) {
    Value* row = input_.AppendRow();
    row[0] = Value::String(input_.arena().Copy(user));
    row[1] = Value::String(input_.arena().Copy(url));
    row[2] = Value::Double(amount);
    row[3] = Value::Int(ts);
    RowMeta& meta = input_.meta(input_.size() - 1);
    meta.event_time_ms = ts;
    meta.offset = 100 + input_.size();
    meta.partition = 3;
    meta.line = static_cast<uint32_t>(input_.size());
  }

  std::unique_ptr<PhysicalPipeline> Make(const std::string& name) {
    const LogicalPipeline* lp = plan_.FindPipeline(name);
    EXPECT_NE(lp, nullptr);
    Result<std::unique_ptr<PhysicalPipeline>> p = PhysicalPipeline::Create(*lp, plan_);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return std::move(p).value();
  }

  LogicalPlan plan_;
  RowBatch input_;
};

TEST_F(PhysicalTest, FilterThenMapProducesExpectedRows) {
  auto p = Make("big_clicks");
  ASSERT_EQ(p->output_schema().size(), 6u);
  auto inst = p->NewInstance();
  RowBatch out(p->output_schema().size());
  ASSERT_TRUE(inst->Process(input_, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out.row(0)[0].sv(), "u2");
  EXPECT_EQ(out.row(0)[1].sv(), "HTTP://B");
  EXPECT_DOUBLE_EQ(out.row(0)[2].f64, 150.5);
  EXPECT_EQ(out.row(0)[3].i64, 2000);
  EXPECT_EQ(out.row(0)[4].i64, 15050);
  EXPECT_EQ(out.row(0)[5].sv(), "http:");
  EXPECT_EQ(out.row(1)[0].sv(), "u4");
  EXPECT_EQ(out.row(1)[4].i64, 49999);  // 499.99 * 100 = 49998.99999... truncated
  EXPECT_EQ(out.meta(0).offset, 102u);
  EXPECT_EQ(out.meta(0).line, 2u);
  EXPECT_EQ(out.meta(1).event_time_ms, 4000);
  EXPECT_EQ(out.meta(1).partition, 3u);
}

TEST_F(PhysicalTest, OutputDoesNotBorrowInputStrings) {
  auto p = Make("big_clicks");
  auto inst = p->NewInstance();
  RowBatch out(p->output_schema().size());
  ASSERT_TRUE(inst->Process(input_, &out).ok());
  input_.Clear();  // releases and reuses the input arena
  Add("zz", "zzzzzzzz", 0, 0);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out.row(0)[0].sv(), "u2");
  EXPECT_EQ(out.row(1)[1].sv(), "HTTP://D");
}

TEST_F(PhysicalTest, MapFilterProjectFilterChain) {
  auto p = Make("shaped");
  EXPECT_EQ(p->output_schema(), Schema({{"who", FieldType::kString, false},
                                        {"tag", FieldType::kString, false},
                                        {"cents", FieldType::kInt64, true}}));
  auto inst = p->NewInstance();
  RowBatch out(p->output_schema().size());
  // Doubled amounts: 100, 301, 200, 999.98 -> > 100: u2, u3, u4 -> cents < 1000: all three.
  ASSERT_TRUE(inst->Process(input_, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out.row(0)[0].sv(), "u2");
  EXPECT_EQ(out.row(0)[1].sv(), "u2#HTTP://B");
  EXPECT_EQ(out.row(0)[2].i64, 301);
  EXPECT_EQ(out.row(1)[1].sv(), "u3#ftp://c");
  EXPECT_EQ(out.row(2)[2].i64, 999);
  EXPECT_EQ(out.meta(1).line, 3u);  // metadata follows the row through scratch stages
  EXPECT_EQ(out.meta(2).line, 4u);
  // The instance is reusable; output appends.
  ASSERT_TRUE(inst->Process(input_, &out).ok());
  EXPECT_EQ(out.size(), 6u);
  EXPECT_EQ(out.row(5)[1].sv(), "u4#HTTP://D");
}

TEST_F(PhysicalTest, FilterOnlyCopiesSelectedRows) {
  auto p = Make("only_filter");
  EXPECT_EQ(p->output_schema(), plan_.FindStream("clicks")->schema);
  auto inst = p->NewInstance();
  RowBatch out(4);
  ASSERT_TRUE(inst->Process(input_, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out.row(0)[0].sv(), "u1");
  EXPECT_EQ(out.row(1)[0].sv(), "u2");
  EXPECT_EQ(out.row(2)[0].sv(), "u4");
  EXPECT_EQ(out.meta(2).line, 4u);
}

TEST_F(PhysicalTest, EmptyBatchAndNoSurvivors) {
  auto p = Make("big_clicks");
  auto inst = p->NewInstance();
  RowBatch out(p->output_schema().size());
  RowBatch empty(4);
  ASSERT_TRUE(inst->Process(empty, &out).ok());
  EXPECT_EQ(out.size(), 0u);
  RowBatch small(4);
  Value* row = small.AppendRow();
  row[0] = Value::String("x");
  row[1] = Value::String("y");
  row[2] = Value::Double(1);
  row[3] = Value::Int(0);
  ASSERT_TRUE(inst->Process(small, &out).ok());
  EXPECT_EQ(out.size(), 0u);
}

TEST_F(PhysicalTest, RejectsInconsistentLogicalPipeline) {
  LogicalPipeline lp = *plan_.FindPipeline("big_clicks");
  lp.source = "nope";
  EXPECT_EQ(PhysicalPipeline::Create(lp, plan_).status().code(), StatusCode::kInvalidArgument);
  lp = *plan_.FindPipeline("big_clicks");
  lp.ops.erase(lp.ops.begin());  // the map now reads a schema nobody produces... same schema
  lp.output.schema = Schema({{"x", FieldType::kInt64, false}});
  EXPECT_EQ(PhysicalPipeline::Create(lp, plan_).status().code(), StatusCode::kInvalidArgument);
}

// Map steps that double a string: one event would grow to 2^steps bytes (a 32 MiB record with
// 25 steps, bad_alloc with 34 on every replay). It is refused at the step that crosses the
// bound, to the late-events output naming that step; the other events of the batch go on.
TEST(PhysicalOneEventTest, AStringGrowingMapIsRefusedAtItsStepAndTheBatchContinues) {
  std::string spec = R"yaml(streams:
  - name: in
    fields:
      - {name: k, type: string}
      - {name: b, type: string}
pipelines:
  - name: grow
    from: in
    steps:
)yaml";
  for (int i = 0; i < 34; ++i) spec += "      - map: {b: \"concat(b, b)\"}\n";
  spec += "    sink: {stream: out}\n";
  Result<LogicalPlan> plan = CompileSpec(spec, "grow.yaml", nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto p = PhysicalPipeline::Create(plan->pipelines[0], *plan);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto inst = (*p)->NewInstance();
  RowBatch in(2), out(2), late(LateEventsStreamDef().schema.size());
  for (const char* b : {"x", "", "yy"}) {
    Value* r = in.AppendRow();
    r[0] = Value::String(in.arena().Copy("key"));
    r[1] = Value::String(in.arena().Copy(b));
    in.meta(in.size() - 1).offset = in.size() - 1;
  }
  ASSERT_TRUE(inst->Run(0, in, INT64_MIN, &out, &late).ok());
  ASSERT_EQ(out.size(), 1u);  // the empty string stays empty through every step
  EXPECT_EQ(out.row(0)[1].sv(), "");
  ASSERT_EQ(late.size(), 2u);
  EXPECT_EQ(late.row(0)[0].sv(), "grow");
  EXPECT_EQ(late.row(0)[1].sv(), "map#25");  // 2^25 bytes is the first over 16 MiB
  EXPECT_EQ(late.row(0)[2].sv(), "too_large");
  EXPECT_EQ(late.row(0)[6].i64, 0);
  EXPECT_EQ(late.row(0)[7].sv(), R"({"k":"key","b":"x"})");
  EXPECT_EQ(late.row(1)[1].sv(), "map#24");
  EXPECT_EQ(late.row(1)[6].i64, 2);
  // Nothing is left pending for the next batch.
  EXPECT_FALSE(EvalErrorPending());
}

// A refused event whose JSON is huge still makes a late-events row that fits a log record.
TEST(PhysicalOneEventTest, AHugeRefusedEventIsCutInItsLateRow) {
  RowBatch late(LateEventsStreamDef().schema.size());
  Schema schema({Field{"s", FieldType::kString, false}});
  std::string big(3u << 20, 'z');
  big[100] = '"';
  Value v = Value::String(big);
  RowMeta m;
  AppendRefusedRow("p", "map#1", schema, &v, m, LateReason::kTooLarge, INT64_MIN, &late);
  ASSERT_EQ(late.size(), 1u);
  const std::string_view json = late.row(0)[7].sv();
  EXPECT_LT(json.size(), kLateEventJsonMaxBytes + 1024);
  EXPECT_TRUE(json.starts_with(R"({"_truncated":true,"_bytes":)")) << json.substr(0, 80);
  EXPECT_TRUE(json.ends_with("\"}"));
}

}  // namespace
}  // namespace impulse::plan
