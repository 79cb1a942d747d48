// The predict step through the whole engine: scores in the output stream, one decision record
// per event in the decision log (also after a restart from a checkpoint: exactly once), versions
// swapped while events flow (every row scored by exactly one version, its decision record naming
// it), and Open refusing a step that cannot score. Labelled concurrent: also run under TSan.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status_matchers.h"
#include "impulse/engine.h"
#include "model/repository.h"
#include "runtime/engine_test_util.h"

namespace impulse {
namespace {

constexpr char kSpec[] = R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 4
pipelines:
  - name: score
    from: tx
    steps:
      - predict: {model: fraud, outputs: [fraud_score], entity: customer, event_id: id, decision_log: decisions}
    sink: {stream: scored}
)yaml";

class PredictEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse_predict_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "models/fraud");
    spec_ = (dir_ / "spec.yaml").string();
    std::ofstream(spec_) << kSpec;
    std::ofstream(dir_ / "models/fraud/config.yaml")
        << "kind: linear\nversion_policy: all\ninputs:\n  - {name: amount}\noutputs: [fraud_score]\n";
    WriteVersion(1, 1.0f);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Version v: score = amount * weight.
  void WriteVersion(uint64_t v, float weight) {
    std::filesystem::create_directories(dir_ / "models/fraud" / std::to_string(v));
    std::ofstream(dir_ / "models/fraud" / std::to_string(v) / "model.json")
        << "{\"kind\":\"linear\",\"weights\":[" << weight << "],\"bias\":0}";
  }

  EngineOptions Options() {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.shards = 2;
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 3'600'000;  // taken explicitly
    auto repo = model::ModelRepository::Open((dir_ / "models").string());
    EXPECT_TRUE(repo.ok()) << repo.status().ToString();
    if (repo.ok()) o.models = std::move(*repo);
    return o;
  }

  static void Ingest(Engine& e, int from, int to) {
    std::string body;
    for (int i = from; i < to; ++i) {
      body += "{\"id\":\"t" + std::to_string(i) + "\",\"customer\":" + std::to_string(i % 37) +
              ",\"amount\":" + std::to_string(i) + ",\"ts\":" + std::to_string(1'000'000 + i) + "}\n";
    }
    std::promise<Status> done;
    ASSERT_TRUE(e.Ingest("tx", body, 0, [&](Status st, IngestResult) { done.set_value(st); }).ok());
    ASSERT_TRUE(done.get_future().get().ok());
  }

  // Every event of a stream as NDJSON lines.
  static std::vector<std::string> ReadAll(const Engine& e, const std::string& stream) {
    return testing_util::ReadAllEvents(e, stream);
  }

  // The text of `"key":...` up to the next ',"' (values here contain no such sequence).
  static std::string Field(const std::string& line, const std::string& key) {
    const std::string k = "\"" + key + "\":";
    size_t at = line.find(k);
    if (at == std::string::npos) return "";
    at += k.size();
    size_t end = line.find(",\"", at);
    if (end == std::string::npos) end = line.size() - 1;
    return line.substr(at, end - at);
  }

  std::filesystem::path dir_;
  std::string spec_;
};

TEST_F(PredictEngineTest, ScoresAndOneDecisionRecordPerEventAcrossARestart) {
  {
    auto e = Engine::Open(spec_, Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Ingest(**e, 0, 300);
    ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
    ASSERT_TRUE((*e)->CheckpointNow().ok());
    Ingest(**e, 300, 500);
    ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
    ASSERT_TRUE((*e)->Stop().ok());  // the last 200 are past the checkpoint: recomputed on restart
  }
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  const auto scored = ReadAll(**e, "scored");
  ASSERT_EQ(scored.size(), 500u);
  for (const std::string& line : scored) {
    EXPECT_EQ(Field(line, "fraud_score"), Field(line, "amount")) << line;
  }
  const auto decisions = ReadAll(**e, "decisions");
  ASSERT_EQ(decisions.size(), 500u);
  std::set<std::string> ids;
  for (const std::string& line : decisions) {
    ids.insert(Field(line, "event_id"));
    EXPECT_EQ(Field(line, "model"), "\"fraud\"");
    EXPECT_EQ(Field(line, "version"), "1");
    EXPECT_EQ(Field(line, "variant"), "\"primary\"");
  }
  EXPECT_EQ(ids.size(), 500u);  // each event exactly once
  EXPECT_NE((*e)->MetricsText().find("impulse_predict_rows_total"), std::string::npos);
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(PredictEngineTest, VersionsSwapWhileEventsFlow) {
  WriteVersion(2, 2.0f);
  EngineOptions o = Options();
  auto* repo = static_cast<model::ModelRepository*>(o.models.get());
  ASSERT_TRUE(repo->Unload("fraud", 2).ok());  // version 1 serves first
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    for (int i = 0; !stop.load(); ++i) {
      Status st = i % 2 == 0 ? repo->Load("fraud", 2) : repo->Unload("fraud", 2);
      EXPECT_TRUE(st.ok()) << st.ToString();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  for (int b = 0; b < 20; ++b) Ingest(**e, b * 50, (b + 1) * 50);
  stop.store(true);
  swapper.join();
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  const auto decisions = ReadAll(**e, "decisions");
  ASSERT_EQ(decisions.size(), 1000u);
  std::map<std::string, int> versions;
  for (const std::string& line : decisions) {
    const std::string v = Field(line, "version");
    ++versions[v];
    // The record's score is the named version's: amount * v.
    const std::string features = Field(line, "features");
    const double amount = std::stod(features.substr(features.find(':') + 1));
    const std::string scores = Field(line, "scores");
    const double score = std::stod(scores.substr(scores.find(':') + 1));
    EXPECT_DOUBLE_EQ(score, amount * std::stod(v)) << line;
  }
  EXPECT_EQ(versions.size() + versions.count("1") + versions.count("2"), 2 * versions.size()) << "only 1 and 2";
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(PredictEngineTest, OpenRefusesAStepThatCannotScore) {
  EngineOptions none = Options();
  none.models.reset();
  auto e = Engine::Open(spec_, none);
  ASSERT_CODE(e, kFailedPrecondition);
  EXPECT_NE(e.status().message().find("no model repository"), std::string::npos) << e.status().ToString();
  std::ofstream(dir_ / "models/fraud/config.yaml")
      << "kind: linear\ninputs:\n  - {name: amount, from: amout}\noutputs: [fraud_score]\n";
  auto e2 = Engine::Open(spec_, Options());
  ASSERT_CODE(e2, kFailedPrecondition);
  EXPECT_NE(e2.status().message().find("did you mean 'amount'"), std::string::npos) << e2.status().ToString();
}

}  // namespace
}  // namespace impulse
