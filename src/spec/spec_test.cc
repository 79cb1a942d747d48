// The YAML spec front end: the quickstart compiles, and every error carries file:line:col.
#include "spec/spec.h"

#include <gtest/gtest.h>

namespace impulse::plan {
namespace {

constexpr const char* kStreams = R"(streams:
  - name: clicks
    fields:
      - {name: user_id, type: string}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
      - {name: referrer, type: string, nullable: true}
    key: user_id
    event_time: ts
)";
// kStreams is 9 lines; pipelines start on line 10.

std::vector<SpecError> Errors(const std::string& yaml) {
  std::vector<SpecError> errors;
  Result<LogicalPlan> plan = CompileSpec(yaml, "pipeline.yaml", &errors);
  EXPECT_FALSE(plan.ok());
  if (!plan.ok()) {
    EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
    // The status message lists every error, one per line.
    std::string all;
    for (const SpecError& e : errors) all += (all.empty() ? "" : "\n") + e.ToString();
    EXPECT_EQ(plan.status().message(), all);
  }
  return errors;
}

// Expects exactly one error, at line:col, whose message contains `text`.
void ExpectOneError(const std::string& yaml, int line, int col, const std::string& text) {
  std::vector<SpecError> errors = Errors(yaml);
  ASSERT_EQ(errors.size(), 1u) << (errors.empty() ? "" : errors[0].ToString() + "\n" + errors.back().ToString());
  EXPECT_EQ(errors[0].file, "pipeline.yaml");
  EXPECT_EQ(errors[0].line, line) << errors[0].ToString();
  EXPECT_EQ(errors[0].column, col) << errors[0].ToString();
  EXPECT_NE(errors[0].message.find(text), std::string::npos) << errors[0].ToString();
}

std::string Pipeline(const std::string& steps, const std::string& sink = "{stdout: true}") {
  return std::string(kStreams) + "pipelines:\n  - name: p\n    from: clicks\n    steps:\n" + steps +
         "    sink: " + sink + "\n";
}

// A stream or pipeline name is a directory of the data directory (streams/NAME, pipelines/NAME):
// "." and ".." would name the data directory itself or its parent.
TEST(Spec, DotAndDotDotAreNotNames) {
  for (const std::string name : {".", ".."}) {
    SCOPED_TRACE(name);
    ExpectOneError("streams:\n  - name: \"" + name + "\"\n    fields:\n      - {name: a, type: string}\n", 2, 11,
                   "invalid stream name '" + name + "'");
    ExpectOneError(std::string(kStreams) + "pipelines:\n  - name: \"" + name +
                       "\"\n    from: clicks\n    steps: []\n    sink: {stdout: true}\n",
                   11, 11, "invalid pipeline name '" + name + "'");
  }
  EXPECT_TRUE(IsValidStreamName("..."));
  EXPECT_TRUE(IsValidStreamName("a.b"));
}

TEST(Spec, QuickstartCompiles) {
  std::vector<SpecError> errors;
  Result<LogicalPlan> plan = CompileSpecFile(IMPULSE_SOURCE_DIR "/examples/quickstart/pipeline.yaml", &errors);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(plan->streams.size(), 2u);
  const StreamDef* out = plan->FindStream("big_clicks");
  ASSERT_NE(out, nullptr);
  Schema expected({{"user_id", FieldType::kString, false},
                   {"url", FieldType::kString, false},
                   {"amount", FieldType::kDouble, false},
                   {"ts", FieldType::kTimestamp, false},
                   {"amount_cents", FieldType::kInt64, true}});  // out-of-range cast -> null
  EXPECT_EQ(out->schema, expected);
  EXPECT_EQ(out->key_field, 0);
  EXPECT_EQ(out->time_field, 3);
  EXPECT_EQ(out->options.partitions, 4u);
  ASSERT_EQ(plan->pipelines.size(), 1u);
  const LogicalPipeline& p = plan->pipelines[0];
  EXPECT_EQ(p.source, "clicks");
  EXPECT_EQ(p.sink.kind, SinkDef::Kind::kStream);
  EXPECT_EQ(p.sink.target, "big_clicks");
  ASSERT_EQ(p.ops.size(), 3u);
  EXPECT_EQ(p.ops[0].kind, LogicalOp::Kind::kFilter);
  EXPECT_EQ(p.ops[1].kind, LogicalOp::Kind::kMap);
  EXPECT_EQ(p.ops[2].kind, LogicalOp::Kind::kKeyBy);
  EXPECT_EQ(p.output.schema, expected);
  EXPECT_EQ(plan->FindStream("clicks")->time_field, 3);
}

TEST(Spec, ProjectKeyByAndDerivedSinks) {
  Result<LogicalPlan> plan = CompileSpec(Pipeline("      - project: [amount, user_id]\n"
                                                  "      - map: {big: \"amount > 10\", amount: \"amount * 2\"}\n"
                                                  "      - key_by: user_id\n",
                                                  "{stream: out}"),
                                         "p.yaml", nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const StreamDef* out = plan->FindStream("out");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->schema, Schema({{"amount", FieldType::kDouble, false},
                                 {"user_id", FieldType::kString, false},
                                 {"big", FieldType::kBool, false}}));
  EXPECT_EQ(out->key_field, 1);
  EXPECT_EQ(out->time_field, -1);  // ts was projected away
}

TEST(Spec, ChainsResolveInDependencyOrder) {
  // b reads a's output, but is declared first.
  std::string yaml = std::string(kStreams) +
                     "pipelines:\n"
                     "  - {name: b, from: mid, steps: [{filter: \"amount > 1\"}], sink: {stream: last}}\n"
                     "  - {name: a, from: clicks, steps: [{project: [user_id, amount, ts]}], sink: {stream: mid}}\n";
  Result<LogicalPlan> plan = CompileSpec(yaml, "p.yaml", nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->pipelines.size(), 2u);
  EXPECT_EQ(plan->pipelines[0].name, "a");
  EXPECT_EQ(plan->pipelines[1].name, "b");
  EXPECT_EQ(plan->FindStream("last")->schema.size(), 3u);
  EXPECT_EQ(plan->FindStream("last")->time_field, 2);
}

TEST(Spec, MapReplacingEventTimeDropsIt) {
  Result<LogicalPlan> plan =
      CompileSpec(Pipeline("      - map: {ts: \"ts + 1000\", user_id: user_id}\n", "{stream: out}"), "p.yaml", nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const StreamDef* out = plan->FindStream("out");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->time_field, -1);              // recomputed: no longer the source's event time
  EXPECT_EQ(out->key_field, 0);                // passed through unchanged: still the key
  EXPECT_TRUE(out->schema.field(2).nullable);  // timestamp arithmetic may overflow
}

// docs/PIPELINE_SPEC.md's examples of aggregate arguments that are expressions.
TEST(Spec, AggregateArgumentsAreExpressions) {
  std::vector<SpecError> errors;
  Result<LogicalPlan> plan = CompileSpec(Pipeline("      - window:\n"
                                                  "          tumbling: 1m\n"
                                                  "          key: user_id\n"
                                                  "          aggregates:\n"
                                                  "            total: sum(amount * 2)\n"
                                                  "            top: max(coalesce(amount, 0))\n"
                                                  "            big: count(case when amount > 100 then 1 end)\n"
                                                  "            who: arg_max(amount, upper(referrer))\n"),
                                         "pipeline.yaml", &errors);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
}

TEST(SpecErrors, ABadAggregateIsReportedOnceNotInEveryLaterStep) {
  // The window fails on 'amout'; the filter, map and second filter only read what it (and the
  // failed map) would have produced.
  ExpectOneError(Pipeline("      - window: {tumbling: 1m, key: user_id, aggregates: {n: count(), s: sum(amout)}}\n"
                          "      - filter: s > 100 and n > 2\n"
                          "      - map: {total: s * 2, avg: s / n}\n"
                          "      - filter: total > 10\n"),
                 14, 78, "unknown field 'amout' in aggregate 's' of window#1 of pipeline 'p' (did you mean 'amount'?)");
  // A failed map expression hides only errors about the field it names; other errors remain.
  std::vector<SpecError> errors =
      Errors(Pipeline("      - map: {x: amout * 2}\n"
                      "      - filter: x > 1 and refferer = 'a'\n"));
  ASSERT_EQ(errors.size(), 2u) << errors[0].ToString();
  EXPECT_NE(errors[0].message.find("'amout'"), std::string::npos) << errors[0].ToString();
  EXPECT_NE(errors[1].message.find("'refferer'"), std::string::npos) << errors[1].ToString();
}

TEST(SpecErrors, KeyByDroppedByProject) {
  ExpectOneError(Pipeline("      - key_by: user_id\n      - project: [amount]\n"), 15, 9,
                 "the key field set by key_by is dropped");
}

TEST(SpecErrors, KeyByDiffersFromDeclaredSinkKey) {
  std::string yaml = std::string(kStreams) + "  - name: out\n    fields: [{name: amount, type: double}]\n" +
                     "pipelines:\n  - name: p\n    from: clicks\n    steps:\n      - project: [amount]\n" +
                     "      - key_by: amount\n    sink: {stream: out}\n";
  ExpectOneError(yaml, 18, 20, "keys its output by 'amount' but stream 'out' has key none");
}

TEST(SpecErrors, SeveralErrorsInOneExpression) {
  std::vector<SpecError> errors = Errors(Pipeline("      - filter: \"nope > 1 or upper(amount) = 'x'\"\n"));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].column, 18);
  EXPECT_EQ(errors[1].column, 18 + 18);
  EXPECT_NE(errors[1].message.find("expects string for argument 1, got double"), std::string::npos);
}

TEST(SpecErrors, UnknownFieldInPlainExpression) {
  ExpectOneError(Pipeline("      - filter: amout > 100\n"), 14, 17,
                 "unknown field 'amout' in filter of pipeline 'p' (did you mean 'amount'?)");
}

TEST(SpecErrors, TypeMismatchInQuotedExpression) {
  ExpectOneError(Pipeline("      - filter: \"amount > 'x'\"\n"), 14, 25, "cannot compare double with string");
}

TEST(SpecErrors, UnknownFunction) {
  ExpectOneError(Pipeline("      - map: {u: \"lowr(user_id)\"}\n"), 14, 19,
                 "unknown function 'lowr' in field 'u' of pipeline 'p' (did you mean 'lower'?)");
}

TEST(SpecErrors, FilterMustBeBool) {
  ExpectOneError(Pipeline("      - filter: amount + 1\n"), 14, 17, "a filter must be bool, got double");
}

TEST(SpecErrors, BadYaml) { ExpectOneError("streams: [\n  {name: a\n", 3, 1, "invalid YAML"); }

TEST(SpecErrors, UnknownYamlKey) {
  std::string yaml = kStreams;
  yaml += "    patitions: 3\n";
  ExpectOneError(yaml, 10, 5, "unknown key 'patitions' in a stream (did you mean 'partitions'?)");
}

TEST(SpecErrors, UnknownTypeAndEventTimeType) {
  std::vector<SpecError> errors = Errors(
      "streams:\n  - name: s\n    fields:\n      - {name: a, type: strng}\n  - name: s2\n"
      "    fields: [{name: b, type: string}]\n    event_time: b\n");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].line, 4);
  EXPECT_EQ(errors[0].column, 25);
  EXPECT_NE(errors[0].message.find("did you mean 'string'?"), std::string::npos);
  EXPECT_EQ(errors[1].line, 7);
  EXPECT_NE(errors[1].message.find("must be timestamp or int64"), std::string::npos);
}

TEST(SpecErrors, DuplicateStream) {
  std::string yaml = std::string(kStreams) + "  - name: clicks\n    fields: [{name: x, type: int64}]\n";
  ExpectOneError(yaml, 10, 11, "duplicate stream 'clicks' (first declared at line 2)");
}

TEST(SpecErrors, DuplicateYamlKey) {
  ExpectOneError("streams:\n  - name: a\n    name: b\n    fields: [{name: x, type: int64}]\n", 3, 5,
                 "duplicate key 'name'");
}

TEST(SpecErrors, MissingSource) {
  std::string yaml = std::string(kStreams) + "pipelines:\n  - name: p\n    from: clickz\n    sink: {stdout: true}\n";
  ExpectOneError(yaml, 12, 11, "unknown source stream 'clickz' in pipeline 'p' (did you mean 'clicks'?)");
}

TEST(SpecErrors, SinkSchemaMismatch) {
  std::string yaml = std::string(kStreams) +
                     "  - name: out\n    fields: [{name: user_id, type: string}, {name: amount, type: int64}]\n" +
                     "pipelines:\n  - name: p\n    from: clicks\n    steps:\n      - project: [user_id, amount]\n" +
                     "    sink: {stream: out}\n";
  ExpectOneError(yaml, 17, 20,
                 "does not match stream 'out': field 2 is 'amount double', the stream declares 'amount int64'");
}

TEST(SpecErrors, Cycle) {
  std::string yaml = std::string(kStreams) +
                     "pipelines:\n"
                     "  - {name: a, from: y, sink: {stream: x}}\n"
                     "  - {name: b, from: x, sink: {stream: y}}\n";
  std::vector<SpecError> errors = Errors(yaml);
  ASSERT_EQ(errors.size(), 1u) << errors[0].ToString();
  EXPECT_EQ(errors[0].line, 11);
  EXPECT_NE(errors[0].message.find("cycle: a -> b -> a"), std::string::npos) << errors[0].ToString();
  ExpectOneError(std::string(kStreams) + "pipelines:\n  - {name: a, from: clicks, sink: {stream: clicks}}\n", 11, 21,
                 "pipelines form a cycle: a -> a");
}

TEST(SpecErrors, AllErrorsAreReported) {
  std::string yaml = std::string(kStreams) +
                     "    retention: {bytes: -5}\n"
                     "pipelines:\n"
                     "  - name: p\n"
                     "    from: clicks\n"
                     "    steps:\n"
                     "      - filter: amout > 1 and lower(user_id) = 3\n"
                     "      - map: {x: \"nosuch(1)\"}\n"
                     "      - key_by: usr\n"
                     "    sink: {stream: _bad}\n"
                     "  - name: q\n"
                     "    form: clicks\n";
  std::vector<SpecError> errors = Errors(yaml);
  std::string all;
  for (const SpecError& e : errors) all += e.ToString() + "\n";
  ASSERT_EQ(errors.size(), 9u) << all;
  EXPECT_EQ(errors[0].ToString().substr(0, 20), "pipeline.yaml:10:24:") << all;  // retention bytes
  EXPECT_NE(all.find("pipeline.yaml:15:17: unknown field 'amout'"), std::string::npos) << all;
  EXPECT_NE(all.find("pipeline.yaml:15:46: cannot compare string with int64"), std::string::npos) << all;
  EXPECT_NE(all.find("pipeline.yaml:16:19: unknown function 'nosuch'"), std::string::npos) << all;
  EXPECT_NE(all.find("pipeline.yaml:17:17: unknown field 'usr' in key_by"), std::string::npos) << all;
  EXPECT_NE(all.find("pipeline.yaml:18:20: invalid stream name '_bad'"), std::string::npos) << all;
  EXPECT_NE(all.find("pipeline.yaml:20:5: unknown key 'form'"), std::string::npos) << all;
  EXPECT_NE(all.find("pipeline 'q' has no 'from'"), std::string::npos) << all;
  EXPECT_NE(all.find("pipeline 'q' has no 'sink'"), std::string::npos) << all;
}

// A spec whose one action is the webhook `body` (YAML flow mapping), called by one trigger.
std::string WebhookSpec(const std::string& body) {
  return std::string(kStreams) + "actions:\n  - name: hook\n    webhook: " + body +
         "\npipelines:\n  - name: p\n    from: clicks\n    steps:\n"
         "      - trigger: {name: big, when: amount > 10, call: [{action: hook}]}\n"
         "    sink: {stdout: true}\n";
}

// One error, whose message contains `text`.
void ExpectWebhookError(const std::string& body, const std::string& text) {
  std::vector<SpecError> errors = Errors(WebhookSpec(body));
  ASSERT_EQ(errors.size(), 1u) << body << (errors.empty() ? "" : "\n" + errors[0].ToString());
  EXPECT_NE(errors[0].message.find(text), std::string::npos) << errors[0].ToString();
  // The offending bytes are shown escaped: a CR/LF never splits the error line.
  EXPECT_EQ(errors[0].message.find_first_of("\r\n"), std::string::npos) << errors[0].ToString();
}

TEST(SpecActions, WebhookHeadersThatWouldSplitTheRequestAreRefused) {
  std::vector<SpecError> ok_errors;
  ASSERT_TRUE(
      CompileSpec(WebhookSpec(R"({url: "http://h:8080/x", headers: {"X-A": "v\tw"}})"), "p.yaml", &ok_errors).ok());
  ExpectWebhookError(R"({url: "http://h/x", headers: {"X-A": "v\r\nX-Injected-Hdr: 1"}})", "control character");
  ExpectWebhookError(R"({url: "http://h/x", headers: {"X-A": "v\nX-Injected-Hdr: 1"}})", "control character");
  ExpectWebhookError(R"({url: "http://h/x", headers: {"X-A": "v\0w"}})", "control character");
  ExpectWebhookError(R"({url: "http://h/x", headers: {"X A": "v"}})", "not an HTTP token");
  ExpectWebhookError(R"({url: "http://h/x", headers: {"X-A:": "v"}})", "not an HTTP token");
  ExpectWebhookError(R"({url: "http://h/x", headers: {"": "v"}})", "empty header name");
}

TEST(SpecActions, WebhookUrlsThatWouldSplitTheRequestAreRefused) {
  ExpectWebhookError(R"({url: "http://h/a\r\nX-Injected-Hdr: 1"})", "control character");
  ExpectWebhookError(R"({url: "http://h/a b"})", "space");
  ExpectWebhookError(R"({url: "http://h\r\n/a"})", "control character");
}

// validate refuses what run refuses: the same parser decides.
TEST(SpecActions, UrlsRunRefusesAreRefusedAtValidate) {
  ExpectWebhookError(R"({url: "http://h:0/x"})", "port");
  ExpectWebhookError(R"({url: "http://h:99999/x"})", "port");
  ExpectWebhookError(R"({url: "http://:8080/x"})", "without a host");
  ExpectWebhookError(R"({url: "http:///x"})", "without a host");
  ExpectWebhookError(R"({url: "http://user:pw@h/x"})", "user info");
  ExpectWebhookError(R"({url: "https://h/x"})", "http://");
  std::string agent = std::string(kStreams) +
                      "actions:\n  - name: a\n    agent: {base_url: \"http://h:0\", model: m, output_stream: answers}\n"
                      "pipelines:\n  - name: p\n    from: clicks\n    steps:\n"
                      "      - trigger: {name: big, when: amount > 10, call: [{action: a, prompt: \"x\"}]}\n"
                      "    sink: {stdout: true}\n";
  std::vector<SpecError> errors = Errors(agent);
  ASSERT_FALSE(errors.empty());  // (the refused action is then also unknown to its call)
  EXPECT_NE(errors[0].message.find("port"), std::string::npos) << errors[0].ToString();
}

// `kafka:` (docs/CONNECTORS.md): resolved against the streams, secrets only from the environment.
TEST(Spec, KafkaSourcesAndSinksResolve) {
  std::vector<SpecError> errors;
  const std::string yaml =
      Pipeline("      - filter: amount > 1\n", "{stream: big}") +
      "kafka:\n  brokers: k1:9092,k2:9092\n  group: shop\n"
      "  properties: {security.protocol: SASL_SSL, sasl.password: \"${env:KAFKA_PW}\"}\n"
      "  sources: [{stream: clicks, topic: clicks-v1, event_time: record_timestamp, start: latest}]\n"
      "  sinks: [{stream: big, delivery: at_least_once}]\n";
  Result<LogicalPlan> plan = CompileSpec(yaml, "pipeline.yaml", &errors);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const KafkaDef& k = plan->kafka;
  EXPECT_TRUE(k.enabled);
  EXPECT_EQ(k.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(k.group, "shop");
  ASSERT_EQ(k.properties.size(), 2u);
  EXPECT_EQ(k.properties[1].second, "${env:KAFKA_PW}");
  ASSERT_EQ(k.sources.size(), 1u);
  EXPECT_EQ(k.sources[0].topic, "clicks-v1");
  EXPECT_TRUE(k.sources[0].time_from_record);
  EXPECT_FALSE(k.sources[0].from_earliest);
  ASSERT_EQ(k.sinks.size(), 1u);
  EXPECT_EQ(k.sinks[0].topic, "big");  // the stream's name by default
  EXPECT_FALSE(k.sinks[0].exactly_once);
}

// A topic is partitioned by its producers' partitioner: a keyed step needs a key_by first.
TEST(Spec, AKafkaFedStreamIsNotAssumedPartitionedByItsKey) {
  const std::string steps = "      - window: {tumbling: 1m, key: user_id, aggregates: {n: count()}}\n";
  const std::string kafka = "kafka:\n  brokers: k:9092\n  group: g\n  sources: [{stream: clicks}]\n";
  std::vector<SpecError> errors = Errors(Pipeline(steps) + kafka);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("partitioned by none"), std::string::npos) << errors[0].ToString();
  // Without the source the same spec compiles (the stream's key is the window's).
  std::vector<SpecError> none;
  EXPECT_TRUE(CompileSpec(Pipeline(steps), "pipeline.yaml", &none).ok());
  // So does it when the source says its producers keep each key in one partition.
  const std::string trusted =
      "kafka:\n  brokers: k:9092\n  group: g\n  sources: [{stream: clicks, partitioned_by_key: true}]\n";
  Result<LogicalPlan> plan = CompileSpec(Pipeline(steps) + trusted, "pipeline.yaml", &none);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_TRUE(plan->FindStream("clicks")->external_partitions);
  // A join never pairs it directly: the other side is placed by the engine's hash.
  const std::string join = std::string(kStreams) +
                           "  - name: users\n    fields: [{name: user_id, type: string}, {name: ts, type: timestamp}]\n"
                           "    key: user_id\n    event_time: ts\n"
                           "pipelines:\n  - name: p\n    from: clicks\n    steps:\n"
                           "      - join: {stream: users, type: lookup, on: {left: user_id, right: user_id}}\n"
                           "    sink: {stdout: true}\n";
  std::vector<SpecError> join_errors = Errors(join + trusted);
  ASSERT_EQ(join_errors.size(), 1u) << join_errors[0].ToString() << "\n" << join_errors.back().ToString();
  EXPECT_NE(join_errors[0].message.find("both inputs must be partitioned by the join key"), std::string::npos)
      << join_errors[0].ToString();
  EXPECT_TRUE(CompileSpec(join, "pipeline.yaml", &none).ok()) << "the same join without the source";
}

// A join's prefix that is not a string was read as no prefix at all.
TEST(Spec, AJoinPrefixThatIsNotAStringIsAnError) {
  const std::string join =
      std::string(kStreams) +
      "  - name: users\n    fields: [{name: user_id, type: string}, {name: ts, type: timestamp}]\n"
      "    key: user_id\n    event_time: ts\n"
      "pipelines:\n  - name: p\n    from: clicks\n    steps:\n"
      "      - join: {stream: users, type: lookup, on: {left: user_id, right: user_id}, prefix: [u]}\n"
      "    sink: {stdout: true}\n";
  std::vector<SpecError> errors = Errors(join);
  ASSERT_EQ(errors.size(), 1u) << (errors.empty() ? std::string("no error") : errors[0].ToString());
  EXPECT_NE(errors[0].message.find("prefix of join#1 of pipeline 'p' is a string"), std::string::npos)
      << errors[0].ToString();
}

// A group of instances (kafka state_topic) moves a topic partition with what is computed from
// it: a spec that would need events to cross instances, or state that cannot move, is refused.
TEST(Spec, AGroupOfInstancesRefusesWhatCannotMoveWithAPartition) {
  const std::string kafka =
      "kafka:\n  brokers: k:9092\n  group: g\n  state_topic: g-state\n"
      "  sources: [{stream: clicks, partitioned_by_key: true}]\n";
  const std::string window = "      - window: {tumbling: 1m, key: user_id, aggregates: {n: count()}}\n";
  std::vector<SpecError> none;
  Result<LogicalPlan> plan = CompileSpec(Pipeline(window) + kafka, "pipeline.yaml", &none);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->kafka.state_topic, "g-state");
  EXPECT_EQ(plan->kafka.member_partition, -1);  // set by the runner only

  auto one_error = [&](const std::string& yaml, const std::string& needle) {
    std::vector<SpecError> errors = Errors(yaml);
    ASSERT_EQ(errors.size(), 1u) << (errors.empty() ? std::string("no error") : errors[0].ToString());
    EXPECT_NE(errors[0].message.find(needle), std::string::npos) << errors[0].ToString();
    EXPECT_GT(errors[0].line, 0);
  };
  // key_by moves events between instances through a repartition topic per re-keyed stream: a
  // member's plan reads the stream from it and writes an internal stream exported to it by key.
  const std::string keyed = Pipeline("      - key_by: referrer\n", "{stream: by_referrer}");
  Result<LogicalPlan> kp = CompileSpec(keyed + kafka, "pipeline.yaml", &none);
  ASSERT_TRUE(kp.ok()) << kp.status().ToString();
  LogicalPlan member = *kp;
  member.kafka.group_partitions = 4;
  EXPECT_EQ(PlanRepartitions(&member), std::vector<std::string>{"g.repartition.by_referrer"});
  const StreamDef* fed = member.FindStream("by_referrer");
  const StreamDef* out = member.FindStream("_repartition_by_referrer");
  ASSERT_TRUE(fed != nullptr && out != nullptr);
  EXPECT_FALSE(fed->derived);
  EXPECT_TRUE(fed->external_by_key);
  EXPECT_EQ(fed->marker_writers, 4u);
  EXPECT_TRUE(out->derived);
  EXPECT_EQ(out->schema.field(static_cast<size_t>(out->key_field)).name, "referrer");
  EXPECT_EQ(member.pipelines[0].sink.target, "_repartition_by_referrer");
  EXPECT_TRUE(member.kafka.sinks.back().by_key && member.kafka.sinks.back().exactly_once);
  EXPECT_EQ(member.kafka.sinks.back().topic, "g.repartition.by_referrer");
  EXPECT_TRUE(member.kafka.sources.back().repartition);
  EXPECT_EQ(member.kafka.sources.back().stream, "by_referrer");
  EXPECT_EQ(member.kafka.sources.front().stream, "clicks");  // the group's topic stays first
  EXPECT_TRUE(PlanRepartitions(&member).empty());
  // Every writer of a re-keyed stream keys it the same way.
  one_error(keyed + "  - name: q\n    from: clicks\n    steps:\n      - filter: amount > 1\n" +
                "    sink: {stream: by_referrer}\n" + kafka,
            "written with key_by (pipeline 'p') and without (pipeline 'q')");
  // The repartition topic's name is one Kafka accepts (the group's name is its prefix).
  std::string spaced = kafka;
  spaced.replace(spaced.find("group: g"), 8, "group: \"g h\"");
  one_error(keyed + spaced, "the repartition topic of stream 'by_referrer', g h.repartition.by_referrer, is no valid");
  // The repartition topic is the group's own.
  one_error(keyed + kafka + "  sinks: [{stream: by_referrer, topic: g.repartition.by_referrer}]\n",
            "is the group's repartition topic of stream 'by_referrer'");
  // A file sink stays on its machine.
  one_error(Pipeline("      - filter: amount > 1\n", "{file: /tmp/out.ndjson}") + kafka, "writes a file");
  // The state topic is no source or sink topic.
  one_error(Pipeline("      - filter: amount > 1\n") +
                "kafka:\n  brokers: k:9092\n  group: g\n  state_topic: clicks\n"
                "  sources: [{stream: clicks, partitioned_by_key: true}]\n",
            "is the source of stream 'clicks'");
  // Every input comes from the one source topic.
  const std::string two = std::string(kStreams) +
                          "  - name: views\n    fields: [{name: user_id, type: string}, {name: ts, type: timestamp}]\n"
                          "    key: user_id\n    event_time: ts\n"
                          "pipelines:\n  - name: p\n    from: clicks\n    steps:\n      - filter: amount > 1\n"
                          "    sink: {stdout: true}\n";
  one_error(two + kafka, "stream 'views' has no kafka source");
  one_error(two +
                "kafka:\n  brokers: k:9092\n  group: g\n  state_topic: s\n"
                "  sources: [{stream: clicks, partitioned_by_key: true}, {stream: views, partitioned_by_key: true}]\n",
            "partitions of one kafka source topic");
}

TEST(Spec, KafkaErrorsAreReportedWhereTheyAre) {
  const std::string base = Pipeline("      - filter: amount > 1\n", "{stream: big}");  // 15 lines
  ExpectOneError(base + "kafka:\n  brokers: k:9092\n  group: g\n  properties: {sasl.password: hunter2}\n", 19, 31,
                 "is a secret: give it as ${env:NAME}");
  ExpectOneError(base + "kafka:\n  brokers: k:9092\n  group: g\n  sources: [{stream: clickz}]\n", 19, 22,
                 "unknown stream 'clickz'");
  ExpectOneError(base + "kafka:\n  brokers: k:9092\n  group: g\n  sources: [{stream: big}]\n", 19, 22,
                 "written by the engine");
  ExpectOneError(base + "kafka:\n  brokers: k:9092\n  group: g\n  sinks: [{stream: big, delivery: twice}]\n", 19, 35,
                 "delivery is exactly_once or at_least_once");
  ExpectOneError(base + "kafka:\n  brokers: k:9092\n  group: g\n  properties: {group.id: x}\n", 19, 16,
                 "set by the engine");
  ExpectOneError(base + "kafka:\n  brokers: k:9092\n  group: g\n  topics: x\n", 19, 3, "unknown key 'topics'");
  ExpectOneError(base +
                     "kafka:\n  brokers: k:9092\n  group: g\n  sources: [{stream: clicks}]\n"
                     "  sinks: [{stream: big, topic: clicks}]\n",
                 20, 20, "the engine would read its own output");
  ExpectOneError(base +
                     "kafka:\n  brokers: k:9092\n  group: g\n"
                     "  sinks: [{stream: big, topic: t}, {stream: clicks, topic: t}]\n",
                 19, 45, "a topic has one sink");
}

// `nats:` (docs/CONNECTORS.md): a source needs a one-partition stream; secrets only from the
// environment; options are nats.c's.
constexpr const char* kOnePartition = R"(streams:
  - name: pay
    fields:
      - {name: id, type: int64}
      - {name: ts, type: timestamp}
    key: id
    event_time: ts
    partitions: 1
pipelines:
  - name: p
    from: pay
    steps:
      - filter: id > 1
    sink: {stream: out}
)";  // 14 lines

TEST(Spec, NatsSourcesAndSinksResolve) {
  std::vector<SpecError> errors;
  const std::string yaml = std::string(kOnePartition) +
                           "nats:\n  servers: nats://a:4222,nats://b:4222\n"
                           "  options: {user: shop, password: \"${env:NATS_PW}\", secure: \"true\"}\n"
                           "  connect_timeout: 3s\n  batch_records: 200\n"
                           "  sources: [{stream: pay, subject: pay.in, jetstream_stream: PAY, event_time: "
                           "record_timestamp}]\n"
                           "  sinks: [{stream: out}]\n";
  Result<LogicalPlan> plan = CompileSpec(yaml, "pipeline.yaml", &errors);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const NatsDef& n = plan->nats;
  EXPECT_TRUE(n.enabled);
  ASSERT_EQ(n.servers.size(), 2u);
  EXPECT_EQ(n.servers[1], "nats://b:4222");
  ASSERT_EQ(n.options.size(), 3u);
  EXPECT_EQ(n.options[1].second, "${env:NATS_PW}");
  EXPECT_EQ(n.connect_timeout_ms, 3000);
  EXPECT_EQ(n.batch_records_max, 200u);
  ASSERT_EQ(n.sources.size(), 1u);
  EXPECT_EQ(n.sources[0].subject, "pay.in");
  EXPECT_EQ(n.sources[0].jetstream_stream, "PAY");
  EXPECT_EQ(n.sources[0].durable, "impulse-pay");  // derived from the stream by default
  EXPECT_TRUE(n.sources[0].time_from_record);
  ASSERT_EQ(n.sinks.size(), 1u);
  EXPECT_EQ(n.sinks[0].subject, "out");              // the stream's name by default
  EXPECT_TRUE(n.sinks[0].jetstream_stream.empty());  // looked up by subject at start
  EXPECT_EQ(plan->ConnectorSourceStreams(), std::vector<std::string>{"pay"});
}

// A NATS-fed stream has one partition, which holds every key: keyed steps need no key_by
// (unlike a Kafka-fed stream of several partitions).
TEST(Spec, ANatsFedStreamOfOnePartitionTakesKeyedStepsDirectly) {
  const std::string spec = std::string(kOnePartition).substr(0, std::string(kOnePartition).find("pipelines:")) +
                           "pipelines:\n  - name: p\n    from: pay\n    steps:\n"
                           "      - window: {tumbling: 1m, key: id, aggregates: {n: count()}}\n"
                           "    sink: {stdout: true}\n";
  std::vector<SpecError> errors;
  Result<LogicalPlan> plan =
      CompileSpec(spec + "nats:\n  servers: nats://a:4222\n  sources: [{stream: pay}]\n", "pipeline.yaml", &errors);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->ConnectorSourceStreams(), std::vector<std::string>{"pay"});
}

TEST(Spec, NatsErrorsAreReportedWhereTheyAre) {
  const std::string base = kOnePartition;  // nats: starts on line 15
  ExpectOneError(base + "nats:\n  servers: nats://a:4222\n  options: {password: hunter2}\n", 17, 23,
                 "is a secret: give it as ${env:NAME}");
  ExpectOneError(base + "nats:\n  servers: nats://a:4222\n  options: {sasl.password: x}\n", 17, 13,
                 "unknown nats option 'sasl.password'");
  ExpectOneError(base + "nats:\n  servers: nats://a:4222\n  sources: [{stream: out}]\n", 17, 22,
                 "written by the engine");
  ExpectOneError(base + "nats:\n  servers: nats://a:4222\n  sinks: [{stream: out, subject: \"a.*\"}]\n", 17, 34,
                 "not a valid subject (no wildcards");
  ExpectOneError(base + "nats:\n  sources: [{stream: pay}]\n", 16, 3, "nats needs 'servers'");
  ExpectOneError(base + "nats:\n  servers: nats://a:4222\n  sources: [{stream: pay, durable: a.b}]\n", 17, 36,
                 "not a valid consumer name");
  ExpectOneError(base + "kafka:\n  brokers: k:9092\n  group: g\n  sources: [{stream: pay}]\n" +
                     "nats:\n  servers: nats://a:4222\n  sources: [{stream: pay}]\n",
                 21, 22, "the stream already has a source");
  // A stream of 4 partitions (the default): one consumer keeps one order.
  ExpectOneError(
      Pipeline("      - filter: amount > 1\n") + "nats:\n  servers: nats://a:4222\n  sources: [{stream: clicks}]\n", 18,
      22, "needs a stream declared with partitions: 1");
  // One writer per subject, never a subject a source reads (wildcards included).
  ExpectOneError(
      base + "nats:\n  servers: nats://a:4222\n  sinks: [{stream: out, subject: s}, {stream: pay, subject: s}]\n", 17,
      47, "a subject has one sink");
  ExpectOneError(base +
                     "nats:\n  servers: nats://a:4222\n  sources: [{stream: pay, subject: \"pay.>\"}]\n"
                     "  sinks: [{stream: out, subject: pay.out}]\n",
                 18, 20, "the engine would read its own output");
}

}  // namespace
}  // namespace impulse::plan
