// The trigger step: spec errors, firings (condition, cooldown per key by event time), published
// events, outbox rows (firing ids, webhook bodies, agent prompts), cooldown state across a
// checkpoint.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "plan/physical.h"
#include "spec/spec.h"

namespace impulse::plan {
namespace {

constexpr const char* kHead = R"yaml(streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: score, type: double}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
actions:
  - name: case_api
    webhook: {url: "http://127.0.0.1:9/cases", retries: 2, backoff: {initial: 10ms, max: 1s}}
  - name: analyst
    agent: {base_url: "http://127.0.0.1:9", model: m1, output_stream: answers, json: true}
pipelines:
  - name: alerts
    from: tx
    steps:
)yaml";

Result<LogicalPlan> Compile(const std::string& steps, const std::string& tail = "    sink: {stream: out}\n") {
  return CompileSpec(std::string(kHead) + steps + tail, "t.yaml", nullptr);
}

std::string Error(const std::string& steps, const std::string& tail = "    sink: {stream: out}\n") {
  auto p = Compile(steps, tail);
  return p.ok() ? "" : p.status().message();
}

constexpr const char* kTrigger = R"yaml(      - trigger:
          name: high
          when: score > 0.5
          key: customer
          cooldown: 10s
          event_id: id
          publish:
            - stream: alerts
              fields: {customer: customer, score: score, note: "concat('high ', id)"}
          call:
            - {action: case_api, body: {tx: id, score: score}}
            - {action: analyst, prompt: "Customer {{customer}} scored {{ score }} on {{id}}."}
)yaml";

struct Tx {
  std::string id;
  int64_t customer;
  double score;
  int64_t ts;
};

RowBatch Batch(const std::vector<Tx>& txs) {
  RowBatch b(4);
  for (size_t i = 0; i < txs.size(); ++i) {
    Value* r = b.AppendRow();
    r[0] = Value::String(b.arena().Copy(txs[i].id));
    r[1] = Value::Int(txs[i].customer);
    r[2] = Value::Double(txs[i].score);
    r[3] = Value::Int(txs[i].ts);
    b.meta(i).event_time_ms = txs[i].ts;
    b.meta(i).watermark_ms = INT64_MIN;
  }
  return b;
}

TEST(TriggerSpec, Errors) {
  EXPECT_NE(
      Error("      - trigger: {name: r, when: score, publish: [{stream: a, fields: {x: id}}]}\n").find("must be bool"),
      std::string::npos);
  EXPECT_NE(Error("      - trigger: {name: r, when: score > 1}\n").find("needs 'publish' and/or 'call'"),
            std::string::npos);
  EXPECT_NE(Error("      - trigger: {name: r, when: score > 1, call: [{action: case_apy}]}\n")
                .find("did you mean 'case_api'"),
            std::string::npos);
  EXPECT_NE(Error("      - trigger: {name: r, when: score > 1, call: [{action: case_api, prompt: hi}]}\n")
                .find("takes 'body'"),
            std::string::npos);
  EXPECT_NE(Error("      - trigger: {name: r, when: score > 1, call: [{action: analyst}]}\n").find("takes 'prompt"),
            std::string::npos);
  EXPECT_NE(Error("      - trigger: {name: r, when: score > 1, call: [{action: analyst, prompt: \"x {{scor}}\"}]}\n")
                .find("did you mean 'score'"),
            std::string::npos);
  EXPECT_NE(Error("      - trigger: {name: r, when: score > 1, publish: [{stream: tx, fields: {x: id}}]}\n")
                .find("a stream another way already"),
            std::string::npos);
  EXPECT_NE(Error("      - trigger: {name: r, when: score > 1, publish: [{stream: a, fields: {x: id}}]}\n",
                  "    sink: {stream: out}\n  - name: reader\n    from: a\n    sink: {stdout: true}\n")
                .find("which a trigger publishes to"),
            std::string::npos);
  auto bad_url = CompileSpec(
      "streams:\n  - name: s\n    fields: [{name: a, type: int64}]\nactions:\n  - name: w\n    webhook: {url: "
      "\"https://x\"}\npipelines: []\n",
      "t.yaml", nullptr);
  ASSERT_CODE(bad_url, kInvalidArgument);
  EXPECT_NE(bad_url.status().message().find("https is not supported yet"), std::string::npos);
}

TEST(TriggerSpec, RuleNamesAreUnique) {
  const std::string twice = std::string(kTrigger) + kTrigger;
  EXPECT_NE(Error(twice).find("trigger rule name 'high' is used twice"), std::string::npos) << Error(twice);
}

TEST(TriggerSpec, DeclaresPublishedStreamsAndTheOutbox) {
  auto p = Compile(kTrigger);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->uses_outbox);
  ASSERT_NE(p->FindStream("_outbox"), nullptr);
  ASSERT_NE(p->FindStream("_action_dead_letter"), nullptr);
  ASSERT_NE(p->FindStream("answers"), nullptr);
  EXPECT_FALSE(p->FindStream("answers")->derived);  // the dispatcher writes it
  const StreamDef* alerts = p->FindStream("alerts");
  ASSERT_NE(alerts, nullptr);
  EXPECT_TRUE(alerts->derived);
  EXPECT_EQ(alerts->schema.size(), 3u);
  EXPECT_EQ(alerts->schema.field(2).type, FieldType::kString);
  ASSERT_EQ(p->pipelines[0].side_streams.size(), 2u);
  EXPECT_EQ(p->pipelines[0].side_streams[0], "alerts");
  EXPECT_EQ(p->pipelines[0].side_streams[1], "_outbox");
}

class TriggerOpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = Compile(kTrigger);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    plan_ = std::move(*p);
    auto phys = PhysicalPipeline::Create(plan_.pipelines[0], plan_);
    ASSERT_TRUE(phys.ok()) << phys.status().ToString();
    phys_ = std::move(*phys);
    inst_ = NewInst();
  }
  std::unique_ptr<PipelineInstance> NewInst() {
    auto inst = phys_->NewInstance(InstanceOptions{});
    EXPECT_TRUE(inst.ok()) << inst.status().ToString();
    return inst.ok() ? std::move(*inst) : nullptr;
  }
  void Run(PipelineInstance* inst, const std::vector<Tx>& txs) {
    out_.Reset(phys_->output_schema().size());
    late_.Reset(LateEventsStreamDef().schema.size());
    EXPECT_TRUE(inst->Run(0, Batch(txs), INT64_MIN, &out_, &late_).ok());
  }
  // Published rows' "note" fields and outbox rows' (firing id, action, payload).
  std::vector<std::string> Published(PipelineInstance* inst) {
    std::vector<std::string> out;
    const RowBatch& b = inst->side_outputs()[0];
    for (size_t i = 0; i < b.size(); ++i) out.emplace_back(b.row(i)[2].sv());
    return out;
  }
  std::vector<std::string> Outbox(PipelineInstance* inst) {
    std::vector<std::string> out;
    const RowBatch& b = inst->side_outputs()[1];
    for (size_t i = 0; i < b.size(); ++i) {
      out.push_back(std::string(b.row(i)[0].sv()) + " " + std::string(b.row(i)[2].sv()) + " " +
                    std::string(b.row(i)[4].sv()));
    }
    return out;
  }

  LogicalPlan plan_;
  std::unique_ptr<PhysicalPipeline> phys_;
  std::unique_ptr<PipelineInstance> inst_;
  RowBatch out_, late_;
};

TEST_F(TriggerOpTest, FiresPublishesAndWritesTheOutbox) {
  Run(inst_.get(), {{"a", 1, 0.9, 1000}, {"b", 2, 0.1, 1000}, {"c", 1, 0.95, 5000}, {"d", 1, 0.7, 12000}});
  EXPECT_EQ(out_.size(), 4u);  // every row passes on
  // "c" is within 10 s of "a" (same customer): suppressed; "d" is 11 s after: fires.
  EXPECT_EQ(Published(inst_.get()), (std::vector<std::string>{"high a", "high d"}));
  EXPECT_EQ(Outbox(inst_.get()), (std::vector<std::string>{
                                     "high/a case_api {\"tx\":\"a\",\"score\":0.9}",
                                     "high/a analyst Customer 1 scored 0.9 on a.",
                                     "high/d case_api {\"tx\":\"d\",\"score\":0.7}",
                                     "high/d analyst Customer 1 scored 0.7 on d.",
                                 }));
  const auto stats = inst_->Stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].second.fired, 2u);       // firings
  EXPECT_EQ(stats[0].second.duplicates, 1u);  // suppressed by the cooldown
  Run(inst_.get(), {});
  EXPECT_TRUE(inst_->side_outputs()[0].empty());  // cleared by the next run
}

TEST_F(TriggerOpTest, CooldownSurvivesACheckpoint) {
  Run(inst_.get(), {{"a", 1, 0.9, 1000}});
  const auto dir = std::filesystem::temp_directory_path() / ("trigger_op_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(inst_->Checkpoint(dir.string()).ok());
  auto restored = NewInst();
  ASSERT_TRUE(restored->Restore(dir.string()).ok());
  Run(restored.get(), {{"b", 1, 0.9, 3000}, {"c", 2, 0.9, 3000}});
  EXPECT_EQ(Published(restored.get()), (std::vector<std::string>{"high c"}));  // customer 1 cools down
  auto fresh = NewInst();
  Run(fresh.get(), {{"b", 1, 0.9, 3000}, {"c", 2, 0.9, 3000}});
  EXPECT_EQ(Published(fresh.get()), (std::vector<std::string>{"high b", "high c"}));
  std::filesystem::remove_all(dir);
}

// A prompt template that repeats a field: one 1 MiB id times 10,000 was a 10 GB prompt and a
// bad_alloc on every replay. The payload stops at its bound; the event goes to the late-events
// output (too_large) for that action, and the rule's other actions still fire.
TEST(TriggerOpBounds, APromptOverItsBoundIsRefusedForThatActionOnly) {
  std::string prompt;
  for (int i = 0; i < 10'000; ++i) prompt += "{{id}}";
  auto p = Compile(R"yaml(      - trigger:
          name: big
          when: score > 0.5
          event_id: customer
          call:
            - {action: case_api, body: {score: score}}
            - {action: analyst, prompt: ")yaml" +
                   prompt + "\"}\n");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto phys = PhysicalPipeline::Create(p->pipelines[0], *p);
  ASSERT_TRUE(phys.ok()) << phys.status().ToString();
  auto inst = (*phys)->NewInstance(InstanceOptions{});
  ASSERT_TRUE(inst.ok());
  RowBatch in = Batch({{std::string(1u << 20, 'x'), 1, 0.9, 1000}});
  RowBatch out((*phys)->output_schema().size()), late(LateEventsStreamDef().schema.size());
  ASSERT_TRUE((*inst)->Run(0, in, INT64_MIN, &out, &late).ok());
  const RowBatch& outbox = (*inst)->side_outputs()[0];
  ASSERT_EQ(outbox.size(), 1u);  // the webhook's firing only
  EXPECT_EQ(outbox.row(0)[2].sv(), "case_api");
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late.row(0)[1].sv(), "trigger#1");
  EXPECT_EQ(late.row(0)[2].sv(), "too_large");
}

}  // namespace
}  // namespace impulse::plan
