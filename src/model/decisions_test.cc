// `impulse decisions rescore` against a data dir written by an embedded engine and a temporary
// model repository of linear models (score = x0 + x1 + bias).
#include "model/decisions.h"
#include "tools/impulse/commands.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "impulse/engine.h"
#include "model/repository.h"
#include "server/decision_test_util.h"
#include "server/router.h"

namespace impulse::model {
namespace {

using decision_test::Decision;

constexpr int64_t kT0 = 1'700'000'000'000;

class DecisionsRescoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = dir_.data_dir() + "-models";
    Write("fraud/config.yaml", "kind: linear\ninputs:\n  - {name: x0}\n  - {name: x1}\n");
    Write("fraud/1/model.json", R"({"kind":"linear","weights":[1,1],"bias":10})");
    Write("fraud/2/model.json", R"({"kind":"linear","weights":[1,1],"bias":0})");
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(repo_, ec);
  }
  void Write(const std::string& rel, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(repo_ + "/" + rel).parent_path());
    std::ofstream(repo_ + "/" + rel) << text;
  }
  // Writes `ds` into decisions1 (one partition: a known visiting order) and stops the engine.
  void Fill(const std::vector<Decision>& ds) {
    auto e = dir_.Open();
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_TRUE(decision_test::Write(**e, "decisions1", ds).ok());
    ASSERT_TRUE((*e)->Stop().ok());
  }
  RescoreOptions Options(uint64_t version) const {
    RescoreOptions o;
    o.data_dir = dir_.data_dir();
    o.stream = "decisions1";
    o.models_dir = repo_;
    o.model = "fraud";
    o.version = version;
    o.from_ms = kT0;
    o.to_ms = kT0 + 100;
    return o;
  }

  static Decision D(std::string id, std::string features, double old_score, std::string variant = "primary",
                    int64_t t = kT0) {
    Decision d;
    d.event_id = std::move(id);
    d.features = std::move(features);
    d.scores = "{\"score\":" + std::to_string(old_score) + "}";
    d.variant = std::move(variant);
    d.event_time_ms = t;
    return d;
  }

  decision_test::DecisionEngineDir dir_;
  std::string repo_;
};

TEST_F(DecisionsRescoreTest, CountsDifferingDecisionsDiffsAndVariants) {
  Fill({D("same", R"({"x0":0.1,"x1":0.1})", 0.2), D("flip", R"({"x1":0.3,"x0":0.3,"extra":1})", 0.4),
        D("canary-same", R"({"x0":0.5,"x1":0.5})", 0.9, "canary"),
        D("late", R"({"x0":0.5,"x1":0.5})", 0.0, "primary", kT0 + 100),
        Decision{.event_id = "none", .scores = "{}", .version = 0, .variant = "unscored", .event_time_ms = kT0}});
  Result<RescoreReport> r = Rescore(Options(2));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->records_read, 3u);
  EXPECT_EQ(r->records_outside, 1u);
  EXPECT_EQ(r->records_unscored, 1u);
  EXPECT_EQ(r->differing, 1u);
  EXPECT_EQ(r->output, "score");
  EXPECT_NEAR(r->max_abs_diff, 0.2, 1e-6);
  EXPECT_NEAR(r->mean_abs_diff, (0.0 + 0.2 + 0.1) / 3, 1e-6);
  ASSERT_EQ(r->first_differing.size(), 1u);
  EXPECT_EQ(r->first_differing[0].event_id, "flip");
  EXPECT_EQ(r->first_differing[0].offset, 1u);
  EXPECT_NEAR(r->first_differing[0].old_score, 0.4, 1e-9);
  EXPECT_NEAR(r->first_differing[0].new_score, 0.6, 1e-6);
  ASSERT_EQ(r->variants.size(), 3u);
  EXPECT_EQ(r->variants.at("unscored").records, 1u);
  EXPECT_EQ(r->variants.at("primary").records, 2u);
  EXPECT_EQ(r->variants.at("primary").differing, 1u);
  EXPECT_EQ(r->variants.at("canary").records, 1u);
  EXPECT_EQ(r->variants.at("canary").differing, 0u);

  // Deterministic, valid JSON.
  const std::string json = FormatRescoreReport(*r, /*json=*/true);
  Result<RescoreReport> again = Rescore(Options(2));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(FormatRescoreReport(*again, true), json);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_EQ(doc["differing"].get_uint64().value(), 1u);
  EXPECT_NE(FormatRescoreReport(*r, false).find("decisions differing: 1"), std::string::npos);
}

TEST_F(DecisionsRescoreTest, AVersionThePolicyDoesNotSelectIsLoadedForTheRun) {
  Fill({D("a", R"({"x0":0.1,"x1":0.1})", 0.2), D("b", R"({"x0":0.1,"x1":0.1})", 0.9)});
  Result<RescoreReport> r = Rescore(Options(1));  // bias 10: every decision becomes positive
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->records_read, 2u);
  EXPECT_EQ(r->differing, 1u);
  EXPECT_NEAR(r->max_abs_diff, 10.0, 1e-5);
}

TEST_F(DecisionsRescoreTest, LimitBoundsTheListedRowsNotTheCount) {
  std::vector<Decision> ds;
  for (int i = 0; i < 5; ++i) ds.push_back(D("f" + std::to_string(i), R"({"x0":0.3,"x1":0.3})", 0.1));
  Fill(ds);
  RescoreOptions o = Options(2);
  o.limit = 2;
  Result<RescoreReport> r = Rescore(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->differing, 5u);
  ASSERT_EQ(r->first_differing.size(), 2u);
  EXPECT_EQ(r->first_differing[1].event_id, "f1");
}

TEST_F(DecisionsRescoreTest, MissingInputIsAnErrorNamingIt) {
  Fill({D("a", R"({"x0":0.1})", 0.2)});
  Result<RescoreReport> r = Rescore(Options(2));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no input 'x1'"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("event id 'a'"), std::string::npos) << r.status().ToString();
}

TEST_F(DecisionsRescoreTest, BadOutputStreamAndVersionAreErrors) {
  Fill({D("a", R"({"x0":0.1,"x1":0.1})", 0.2)});
  RescoreOptions o = Options(2);
  o.output = "1";
  EXPECT_EQ(Rescore(o).status().code(), StatusCode::kInvalidArgument);
  o.output = "nope";
  EXPECT_EQ(Rescore(o).status().code(), StatusCode::kInvalidArgument);
  o.output = "score";
  EXPECT_TRUE(Rescore(o).ok());
  o.stream = "missing";
  EXPECT_EQ(Rescore(o).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Rescore(Options(7)).status().code(), StatusCode::kNotFound);
}

TEST_F(DecisionsRescoreTest, CommandExitCodes) {
  Fill({D("a", R"({"x0":0.1,"x1":0.1})", 0.2)});
  const std::vector<std::string> base = {"rescore", "--data",  dir_.data_dir(), "--stream",  "decisions1", "--models",
                                         repo_,     "--model", "fraud",         "--version", "2"};
  EXPECT_EQ(tools::DecisionsCommand(base), 0);
  std::vector<std::string> args = base;
  args.insert(args.end(), {"--from", "2023-11-14T22:13:20Z", "--to", "1700000000100", "--json", "--limit", "1"});
  EXPECT_EQ(tools::DecisionsCommand(args), 0);
  EXPECT_EQ(tools::DecisionsCommand({"rescore", "--data", dir_.data_dir()}), 2);  // missing flags
  EXPECT_EQ(tools::DecisionsCommand({"list"}), 2);                                // unknown action
  args = base;
  args.insert(args.end(), {"--from", "yesterday"});
  EXPECT_EQ(tools::DecisionsCommand(args), 2);
  args = base;
  args[4] = "nope";
  EXPECT_EQ(tools::DecisionsCommand(args), 1);  // no such stream
}

}  // namespace
}  // namespace impulse::model

namespace impulse::model {
namespace {

// End to end: a live predict step writes the decision log (DecisionLogStreamDef, derived), the
// HTTP route reads a record back, and rescore compares another version over the stopped engine's
// data dir.
TEST(DecisionsEndToEnd, PredictStepRecordsAreServedAndRescored) {
  namespace fs = std::filesystem;
  decision_test::DecisionEngineDir tmp;  // only for its temporary directory
  const fs::path dir = fs::path(tmp.data_dir()).parent_path() / "e2e";
  fs::create_directories(dir / "models/fraud/1");
  fs::create_directories(dir / "models/fraud/2");
  std::ofstream(dir / "spec.yaml") << R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 2
pipelines:
  - name: score
    from: tx
    steps:
      - predict: {model: fraud, version: 1, outputs: [fraud_score], entity: customer, event_id: id, decision_log: decisions}
    sink: {stream: scored}
)yaml";
  std::ofstream(dir / "models/fraud/config.yaml")
      << "kind: linear\nversion_policy: all\ninputs:\n  - {name: amount}\noutputs: [fraud_score]\n";
  std::ofstream(dir / "models/fraud/1/model.json") << R"({"kind":"linear","weights":[1],"bias":0})";
  std::ofstream(dir / "models/fraud/2/model.json") << R"({"kind":"linear","weights":[0.01],"bias":0})";

  EngineOptions o;
  o.data_dir = (dir / "data").string();
  o.shards = 1;
  o.durability = Durability::kNone;
  o.checkpoint_interval_ms = 0;
  auto repo = model::ModelRepository::Open((dir / "models").string());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  o.models = std::move(*repo);
  auto e = Engine::Open((dir / "spec.yaml").string(), std::move(o));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::string body;
  for (int i = 0; i < 50; ++i) {
    body += "{\"id\":\"t" + std::to_string(i) + "\",\"customer\":" + std::to_string(i % 7) +
            ",\"amount\":" + std::to_string(i) + ",\"ts\":" + std::to_string(1'000'000 + i) + "}\n";
  }
  std::promise<Status> done;
  ASSERT_TRUE((*e)->Ingest("tx", body, 0, [&](Status st, IngestResult) { done.set_value(st); }).ok());
  ASSERT_TRUE(done.get_future().get().ok());
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());

  server::HttpServerOptions options;
  server::ServerMetrics metrics;
  server::Router router(e->get(), &options, &metrics);
  server::HttpReply reply;
  router.Handle("GET", server::ParseTarget("/v1/decisions/decisions/t7"), "", 0,
                [&](server::HttpReply r) { reply = std::move(r); });
  ASSERT_EQ(reply.status, 200) << reply.body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(reply.body).get(doc), simdjson::SUCCESS) << reply.body;
  simdjson::dom::element rec = doc["records"].at(0);
  EXPECT_EQ(std::string_view(rec["model"].get_string().value()), "fraud");
  EXPECT_EQ(rec["version"].get_int64().value(), 1);
  EXPECT_DOUBLE_EQ(rec["features"]["amount"].get_double().value(), 7.0);
  EXPECT_DOUBLE_EQ(rec["scores"]["fraud_score"].get_double().value(), 7.0);
  ASSERT_TRUE((*e)->Stop().ok());

  RescoreOptions ro;
  ro.data_dir = (dir / "data").string();
  ro.stream = "decisions";
  ro.models_dir = (dir / "models").string();
  ro.model = "fraud";
  ro.version = 2;
  ro.output = "fraud_score";
  Result<RescoreReport> r = Rescore(ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->records_read, 50u);
  EXPECT_EQ(r->differing, 49u);  // amount 1..49: >= 0.5 before, < 0.5 after; amount 0 stays below
  EXPECT_NEAR(r->max_abs_diff, 49 * 0.99, 1e-4);
  EXPECT_EQ(r->variants.at("primary").records, 50u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace impulse::model
