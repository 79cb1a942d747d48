// The trigger step through the whole engine: published events with exactly the declared fields
// for the rows that match, the per-key event-time cooldown (also across a restart from a
// checkpoint), the firing ids and event ids of outbox rows, and Open refusing specs that misuse
// triggers. Labelled concurrent: also run under TSan.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "action/recording_server.h"
#include "impulse/engine.h"
#include "runtime/engine_test_util.h"

namespace impulse {
namespace {

constexpr char kStreams[] = R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: score, type: double}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 2
    watermark: {idle_timeout: never}
)yaml";

struct Tx {
  std::string id;
  int64_t customer;
  std::string score;  // as written in the JSON
  int64_t ts;
};

class TriggerEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("impulse_trigger_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteSpec(const std::string& rest) {
    const std::string path = (dir_ / "spec.yaml").string();
    std::ofstream(path) << kStreams << rest;
    return path;
  }

  EngineOptions Options() {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.shards = 2;
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 3'600'000;  // taken explicitly
    return o;
  }

  static void Ingest(Engine& e, const std::vector<Tx>& txs) {
    std::string body;
    for (const Tx& t : txs) {
      body += "{\"id\":\"" + t.id + "\",\"customer\":" + std::to_string(t.customer) + ",\"score\":" + t.score +
              ",\"ts\":" + std::to_string(t.ts) + "}\n";
    }
    std::promise<Status> done;
    ASSERT_TRUE(e.Ingest("tx", body, 0, [&](Status st, IngestResult) { done.set_value(st); }).ok());
    ASSERT_TRUE(done.get_future().get().ok());
  }

  // Every event of a stream as NDJSON lines, over all its partitions.
  static std::vector<std::string> ReadAll(const Engine& e, const std::string& stream) {
    return testing_util::ReadAllEvents(e, stream);
  }

  // The text of `"key":...` up to the next ',"' (an escaped JSON payload contains ',\"', not ',"').
  static std::string Field(const std::string& line, const std::string& key) {
    const std::string k = "\"" + key + "\":";
    size_t at = line.find(k);
    if (at == std::string::npos) return "<none>";
    at += k.size();
    size_t end = line.find(",\"", at);
    if (end == std::string::npos) end = line.size() - 1;
    return line.substr(at, end - at);
  }

  // The names of a line's fields, in order (top level only; values here hold no ':' after '"').
  static std::vector<std::string> Keys(const std::string& line) {
    std::vector<std::string> keys;
    size_t at = 0;
    while ((at = line.find('"', at)) != std::string::npos) {
      const size_t end = line.find('"', at + 1);
      if (line.compare(end + 1, 1, ":") == 0 && (line[at - 1] == '{' || line[at - 1] == ',')) {
        keys.push_back(line.substr(at + 1, end - at - 1));
      }
      at = end + 1;
    }
    return keys;
  }

  static inline int counter_ = 0;
  std::filesystem::path dir_;
};

TEST_F(TriggerEngineTest, MatchingRowsPublishExactlyTheDeclaredFields) {
  const std::string spec = WriteSpec(R"yaml(
pipelines:
  - name: alerts
    from: tx
    steps:
      - trigger:
          name: high
          when: score > 0.5
          publish:
            - stream: high_scores
              fields: {tx: id, customer: customer, cents: "cast(score * 100 as int64)", note: "concat('high ', id)"}
    sink: {stream: all_tx}
)yaml");
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::vector<Tx> txs;
  std::map<std::string, Tx> expected;  // by id: the rows that match
  for (int i = 0; i < 40; ++i) {
    Tx t{"t" + std::to_string(i), i % 5, "0." + std::to_string(i % 10), 1'000'000 + i * 100};
    if (i % 10 > 5) expected[t.id] = t;
    txs.push_back(t);
  }
  Ingest(**e, txs);
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());

  const auto all = ReadAll(**e, "all_tx");
  EXPECT_EQ(all.size(), 40u) << "the trigger passes every row on";
  std::map<std::string, std::string> event_time_of;
  for (const std::string& line : all) event_time_of[Field(line, "id")] = Field(line, "_event_time");

  const auto published = ReadAll(**e, "high_scores");
  ASSERT_EQ(published.size(), expected.size());
  std::set<std::string> seen;
  for (const std::string& line : published) {
    EXPECT_EQ(Keys(line),
              (std::vector<std::string>{"_offset", "_partition", "_event_time", "tx", "customer", "cents", "note"}))
        << line;
    const std::string id = Field(line, "tx");
    ASSERT_EQ(id.size() > 2, true) << line;
    const auto it = expected.find(id.substr(1, id.size() - 2));
    ASSERT_NE(it, expected.end()) << "a row that does not match published: " << line;
    const Tx& t = it->second;
    EXPECT_EQ(Field(line, "customer"), std::to_string(t.customer)) << line;
    EXPECT_EQ(Field(line, "cents"), std::to_string(std::stoi(t.score.substr(2)) * 10)) << line;
    EXPECT_EQ(Field(line, "note"), "\"high " + t.id + "\"") << line;
    EXPECT_EQ(Field(line, "_partition"), "0") << "published streams have one partition: " << line;
    EXPECT_EQ(Field(line, "_event_time"), event_time_of[id]) << "the matching row's event time: " << line;
    seen.insert(t.id);
  }
  EXPECT_EQ(seen.size(), expected.size()) << "each matching row publishes once";
  ASSERT_TRUE((*e)->Stop().ok());
}

// Issue: Shard::RefreshOpStats summed late/limit/duplicate/expired counts of a shard's tasks but
// not fired (nor predict's scored/unscored), so with both partitions' tasks on one shard the
// firings metric kept one task's count only.
TEST_F(TriggerEngineTest, FiringsMetricCountsEveryTaskOnAShard) {
  const std::string spec = WriteSpec(R"yaml(
pipelines:
  - name: alerts
    from: tx
    steps:
      - trigger:
          name: high
          when: score > 0.5
          publish:
            - stream: high_scores
              fields: {tx: id}
    sink: {stream: all_tx}
)yaml");
  EngineOptions o = Options();
  o.shards = 1;  // both partitions of tx, so both tasks of `alerts`, on shard 0
  auto e = Engine::Open(spec, o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::vector<Tx> txs;
  size_t expected = 0;
  std::set<int64_t> customers_fired;
  for (int i = 0; i < 40; ++i) {
    Tx t{"t" + std::to_string(i), i % 8, "0." + std::to_string(i % 10), 1'000'000 + i * 100};
    if (i % 10 > 5) ++expected;
    txs.push_back(t);
  }
  Ingest(**e, txs);
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  ASSERT_EQ(ReadAll(**e, "high_scores").size(), expected);
  // Both tasks fired (the firing rows' source partitions differ), else the test shows nothing.
  std::set<std::string> partitions;
  for (const std::string& line : ReadAll(**e, "all_tx")) {
    if (std::stod(Field(line, "score")) > 0.5) partitions.insert(Field(line, "_partition"));
  }
  ASSERT_EQ(partitions.size(), 2u);
  ASSERT_TRUE((*e)->CheckpointNow().ok());  // refreshes the operator stats behind the metrics
  const std::string metrics = (*e)->MetricsText();
  const std::string family = "impulse_trigger_firings_total{";
  const size_t at = metrics.find(family);
  ASSERT_NE(at, std::string::npos) << metrics;
  const size_t eol = metrics.find('\n', at);
  const std::string line = metrics.substr(at, eol - at);
  EXPECT_NE(line.find("pipeline=\"alerts\""), std::string::npos) << line;
  EXPECT_EQ(std::stod(line.substr(line.rfind(' ') + 1)), static_cast<double>(expected)) << line;
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(TriggerEngineTest, CooldownPerKeyInEventTimeSurvivesARestart) {
  const std::string spec = WriteSpec(R"yaml(
pipelines:
  - name: alerts
    from: tx
    steps:
      - trigger:
          name: high
          when: score > 0.5
          key: customer
          cooldown: 10s
          publish:
            - {stream: fired, fields: {tx: id, customer: customer}}
    sink: {stream: all_tx}
)yaml");
  {
    auto e = Engine::Open(spec, Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Ingest(**e, {{"a1", 1, "0.9", 1'000},
                 {"b1", 2, "0.9", 2'000},
                 {"a-low", 1, "0.1", 3'000},  // does not match: no firing, no cooldown change
                 {"a2", 1, "0.9", 5'000}});   // 4 s after a1: suppressed
    ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
    ASSERT_TRUE((*e)->CheckpointNow().ok());
    ASSERT_TRUE((*e)->Stop().ok());
  }
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Ingest(**e, {{"a3", 1, "0.9", 9'000},     // 8 s after a1 (restored): suppressed
               {"c1", 3, "0.9", 9'500},     // a new key fires at once
               {"a4", 1, "0.9", 11'000},    // exactly 10 s after a1: fires
               {"a5", 1, "0.9", 11'500},    // 0.5 s after a4: suppressed
               {"b2", 2, "0.9", 12'500}});  // 10.5 s after b1: fires
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  std::multiset<std::string> fired;
  for (const std::string& line : ReadAll(**e, "fired")) fired.insert(Field(line, "tx"));
  EXPECT_EQ(fired, (std::multiset<std::string>{"\"a1\"", "\"b1\"", "\"c1\"", "\"a4\"", "\"b2\""}));
  EXPECT_EQ(ReadAll(**e, "all_tx").size(), 9u);
  // Suppressed rows are counted as the operator's duplicates, the count restored too.
  ASSERT_TRUE((*e)->CheckpointNow().ok());  // refreshes the operator stats
  const std::string metrics = (*e)->MetricsText();
  EXPECT_NE(
      metrics.find("impulse_operator_events_total{pipeline=\"alerts\",operator=\"trigger#1\",kind=\"duplicate\"} 3"),
      std::string::npos)
      << metrics;
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(TriggerEngineTest, OutboxRowsCarryTheFiringIdRuleSlashEventId) {
  auto server = action::RecordingHttpServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string spec = WriteSpec(R"yaml(
actions:
  - name: hook
    webhook: {url: ")yaml" + (*server)->url("/cases") +
                                     R"yaml("}
pipelines:
  - name: alerts
    from: tx
    steps:
      - trigger:
          name: high
          when: score > 0.5
          event_id: id
          call: [{action: hook, body: {tx: id, pct: "cast(score * 100 as int64)"}}]
      - trigger:
          name: any
          when: customer = 4
          call: [{action: hook}]
    sink: {stream: all_tx}
)yaml");
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::vector<Tx> txs;
  for (int i = 0; i < 20; ++i)
    txs.push_back({"t" + std::to_string(i), i % 5, "0." + std::to_string(i % 10), 5'000 + i});
  Ingest(**e, txs);
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());

  // The source rows' positions and event times, by id.
  std::map<std::string, std::string> position, event_time;
  for (const std::string& line : ReadAll(**e, "tx")) {
    const std::string id = Field(line, "id");
    position[id] = Field(line, "_partition") + "/" + Field(line, "_offset");
    event_time[id] = Field(line, "_event_time");
  }
  ASSERT_EQ(position.size(), 20u);

  const auto outbox = ReadAll(**e, "_outbox");
  std::set<std::string> high, any;
  for (const std::string& line : outbox) {
    EXPECT_EQ(Keys(line),
              (std::vector<std::string>{"_offset", "_partition", "_event_time", "firing_id", "rule", "action",
                                        "pipeline", "payload", "event_id", "event_time", "fired_at"}))
        << line;
    EXPECT_EQ(Field(line, "action"), "\"hook\"") << line;
    EXPECT_EQ(Field(line, "pipeline"), "\"alerts\"") << line;
    const std::string rule = Field(line, "rule");
    const std::string payload = Field(line, "payload");
    if (rule == "\"high\"") {
      // event_id: the field's value; the payload: the body's fields.
      const std::string id = Field(line, "event_id");
      const std::string bare = id.substr(1, id.size() - 2);
      EXPECT_EQ(Field(line, "firing_id"), "\"high/" + bare + "\"") << line;
      const int tenth = std::stoi(bare.substr(1)) % 10;
      EXPECT_GT(tenth, 5) << "only matching rows fire: " << line;
      EXPECT_EQ(payload, "\"{\\\"tx\\\":\\\"" + bare + "\\\",\\\"pct\\\":" + std::to_string(tenth * 10) + "}\"")
          << line;
      EXPECT_EQ(Field(line, "event_time"), event_time[id]) << line;
      high.insert(bare);
    } else {
      ASSERT_EQ(rule, "\"any\"") << line;
      // No event_id: source stream/partition/offset; no body: the whole event.
      const size_t at = payload.find("\\\"id\\\":\\\"");
      ASSERT_NE(at, std::string::npos) << line;
      const std::string bare = payload.substr(at + 9, payload.find('\\', at + 9) - at - 9);
      const std::string id = "\"" + bare + "\"";
      ASSERT_EQ(position.count(id), 1u) << line;
      EXPECT_EQ(Field(line, "event_id"), "\"tx/" + position[id] + "\"") << line;
      EXPECT_EQ(Field(line, "firing_id"), "\"any/tx/" + position[id] + "\"") << line;
      EXPECT_NE(payload.find("\\\"customer\\\":4"), std::string::npos) << line;
      any.insert(bare);
    }
  }
  EXPECT_EQ(high, (std::set<std::string>{"t6", "t7", "t8", "t9", "t16", "t17", "t18", "t19"}));
  EXPECT_EQ(any, (std::set<std::string>{"t4", "t9", "t14", "t19"}));
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(TriggerEngineTest, OpenRefusesMisusedTriggers) {
  const std::string publisher = R"yaml(
actions:
  - name: hook
    webhook: {url: "http://127.0.0.1:9/cases"}
pipelines:
  - name: alerts
    from: tx
    steps:
      - trigger: {name: high, when: score > 0.5, publish: [{stream: high_scores, fields: {tx: id}}]}
    sink: {stream: all_tx}
)yaml";
  struct Case {
    std::string rest, error;
  };
  const std::vector<Case> cases = {
      {std::string(publisher) + R"yaml(
  - name: reader
    from: high_scores
    sink: {stdout: true}
)yaml",
       "pipeline 'reader' reads 'high_scores', which a trigger publishes to: published streams are read through "
       "GET /v1/streams, not yet by pipelines"},
      {R"yaml(
actions:
  - name: hook
    webhook: {url: "http://127.0.0.1:9/cases"}
pipelines:
  - name: alerts
    from: tx
    steps:
      - trigger: {name: high, when: score > 0.5, call: [{action: hok}]}
    sink: {stream: all_tx}
)yaml",
       "unknown action 'hok' in trigger#1 of pipeline 'alerts' (did you mean 'hook'?)"},
      {R"yaml(
pipelines:
  - name: alerts
    from: tx
    steps:
      - trigger: {name: high, when: score > 0.5, publish: [{stream: tx, fields: {id: id}}]}
    sink: {stream: all_tx}
)yaml",
       "'tx' of pipeline 'alerts' is a stream another way already (declared or a sink); publish to a stream of its "
       "own"},
      {R"yaml(
pipelines:
  - name: alerts
    from: tx
    steps:
      - trigger: {name: high, when: score}
    sink: {stream: all_tx}
)yaml",
       "a trigger's condition must be bool, got double"},
  };
  for (const Case& c : cases) {
    auto e = Engine::Open(WriteSpec(c.rest), Options());
    ASSERT_FALSE(e.ok()) << c.rest;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << e.status().ToString();
    EXPECT_NE(e.status().message().find(c.error), std::string::npos) << e.status().ToString();
  }
  // The same spec without the misuse opens: the errors above are the misuse's.
  auto ok = Engine::Open(WriteSpec(publisher), Options());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_TRUE((*ok)->Stop().ok());
}

}  // namespace
}  // namespace impulse
