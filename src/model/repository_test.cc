#include "model/repository.h"
#include "common/status_matchers.h"
#include "model/test_repo_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

namespace impulse::model {
namespace {

namespace fs = std::filesystem;

// A repository in a fresh temporary directory, removed at the end of the test.
class TempRepo : public TestRepoDir {
 public:
  // A config with `n` inputs x0..x{n-1}; `extra` is appended (policy, outputs, ...).
  void Config(const std::string& name, size_t n, const std::string& extra = "") const {
    std::string yaml = "kind: linear\ninputs:\n";
    for (size_t i = 0; i < n; ++i) yaml += "  - {name: x" + std::to_string(i) + "}\n";
    Write(name + "/config.yaml", yaml + extra);
  }
  // A linear model with `n` weights of 1 and bias `bias`: score = sum(x) + bias.
  void Linear(const std::string& name, uint64_t version, size_t n, float bias) const {
    std::string w;
    for (size_t i = 0; i < n; ++i) w += (i ? ",1" : "1");
    Write(name + "/" + std::to_string(version) + "/model.json",
          R"({"kind":"linear","weights":[)" + w + R"(],"bias":)" + std::to_string(bias) + "}");
  }
};

std::unique_ptr<ModelRepository> MustOpen(const TempRepo& repo, RepositoryOptions options = {}) {
  Result<std::unique_ptr<ModelRepository>> r = ModelRepository::Open(repo.dir(), std::move(options));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

// The state of one version in List(), or nullopt when it is not listed.
std::optional<ModelVersionStatus> Find(const ModelRepository& repo, const std::string& name, uint64_t version) {
  for (const ModelVersionStatus& s : repo.List()) {
    if (s.name == name && s.version == version) return s;
  }
  return std::nullopt;
}

// Scores a row of ones with the version Get returns.
float ScoreOnes(const LoadedModel& m) {
  std::vector<float> row(m.model->num_features(), 1.0f);
  float out = 0;
  m.model->Predict(row.data(), 1, &out);
  return out;
}

TEST(ModelRepository, DefaultPolicyLoadsOnlyTheLatestVersion) {
  TempRepo t;
  t.Config("fraud", 3);
  for (uint64_t v : {1, 2, 10}) t.Linear("fraud", v, 3, static_cast<float>(v));
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  const std::vector<ModelVersionStatus> list = repo->List();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].version, 1u);
  EXPECT_EQ(list[0].state, VersionState::kUnavailable);
  EXPECT_EQ(list[1].version, 2u);
  EXPECT_EQ(list[1].state, VersionState::kUnavailable);
  EXPECT_EQ(list[2].version, 10u);  // numeric order, not "10" < "2"
  EXPECT_EQ(list[2].state, VersionState::kReady);
  EXPECT_EQ(list[2].kind, "linear");
  EXPECT_EQ(list[2].num_inputs, 3u);
  Result<std::shared_ptr<const LoadedModel>> m = repo->Get("fraud");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->version, 10u);
  EXPECT_EQ((*m)->name, "fraud");
  EXPECT_FLOAT_EQ(ScoreOnes(**m), 13.0f);
  EXPECT_EQ(repo->Get("fraud", 1).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(repo->Get("fraud", 7).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(repo->Get("nope").status().code(), StatusCode::kNotFound);
  // A missing model says where it looked and what is there.
  const std::string why = repo->Get("frauds").status().message();
  EXPECT_NE(why.find("model 'frauds' is not in the repository " + t.dir() +
                     " (it holds fraud) (did you mean "
                     "'fraud'?)"),
            std::string::npos)
      << why;
}

TEST(ModelRepository, VersionPolicies) {
  TempRepo t;
  t.Config("all", 1, "version_policy: all\n");
  t.Config("latest2", 1, "version_policy: {latest: 2}\n");
  t.Config("specific", 1, "version_policy: {specific: [1, 3, 9]}\n");
  for (const char* name : {"all", "latest2", "specific"}) {
    for (uint64_t v : {1, 2, 3}) t.Linear(name, v, 1, static_cast<float>(v));
  }
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  auto ready = [&](const std::string& name) {
    std::vector<uint64_t> out;
    for (const ModelVersionStatus& s : repo->List()) {
      if (s.name == name && s.state == VersionState::kReady) out.push_back(s.version);
    }
    return out;
  };
  EXPECT_EQ(ready("all"), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(ready("latest2"), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(ready("specific"), (std::vector<uint64_t>{1, 3}));  // 9 does not exist: ignored
}

TEST(ModelRepository, SelectVersionsByPolicy) {
  VersionPolicy p;
  EXPECT_EQ(SelectVersions(p, {3, 1, 2}), (std::vector<uint64_t>{3}));
  p.latest = 5;
  EXPECT_EQ(SelectVersions(p, {3, 1, 2}), (std::vector<uint64_t>{1, 2, 3}));
  p.kind = VersionPolicy::Kind::kSpecific;
  p.specific = {2, 4};
  EXPECT_EQ(SelectVersions(p, {3, 1, 2}), (std::vector<uint64_t>{2}));
  EXPECT_TRUE(SelectVersions(p, {}).empty());
}

TEST(ModelRepository, NonNumericVersionDirsAreReportedAndTheRestLoads) {
  TempRepo t;
  t.Config("m", 2);
  t.Linear("m", 1, 2, 0);
  t.Mkdir("m/abc");
  t.Mkdir("m/01");
  t.Mkdir("m/.tmp");                // hidden: ignored
  t.Write("m/README.md", "notes");  // a file: ignored
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  const std::vector<ModelVersionStatus> list = repo->List();
  ASSERT_EQ(list.size(), 3u);
  size_t problems = 0;
  for (const ModelVersionStatus& s : list) {
    if (s.version == 0) {
      ++problems;
      EXPECT_EQ(s.state, VersionState::kFailed);
      EXPECT_NE(s.reason.find(t.dir() + "/m/"), std::string::npos) << s.reason;
    }
  }
  EXPECT_EQ(problems, 2u);
  EXPECT_TRUE(repo->Get("m").ok());
  EXPECT_EQ(ParseVersionName("12").value(), 12u);
  for (const char* bad : {"", "0", "007", "-1", "1.5", "v2", "1234567890123456789"}) {
    EXPECT_EQ(ParseVersionName(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ModelRepository, MissingModelFileFailsThatVersionWithTheReason) {
  TempRepo t;
  t.Config("m", 2, "version_policy: all\n");
  t.Linear("m", 1, 2, 1);
  t.Mkdir("m/2");  // no model.json
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  std::optional<ModelVersionStatus> v2 = Find(*repo, "m", 2);
  ASSERT_TRUE(v2.has_value());
  EXPECT_EQ(v2->state, VersionState::kFailed);
  EXPECT_NE(v2->reason.find("m/2/model.json"), std::string::npos) << v2->reason;
  // Latest ready is version 1; version 2 explicitly is unavailable.
  Result<std::shared_ptr<const LoadedModel>> m = repo->Get("m");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->version, 1u);
  EXPECT_EQ(repo->Get("m", 2).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(repo->Load("m", 2).code(), StatusCode::kNotFound);
}

TEST(ModelRepository, InputsCountMustEqualTheModelsFeatures) {
  TempRepo t;
  t.Config("m", 3);
  t.Linear("m", 1, 2, 0);  // 2 weights, 3 inputs
  t.Config("o", 1, "outputs: [a, b]\n");
  t.Linear("o", 1, 1, 0);  // 1 output, 2 names
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  EXPECT_EQ(Find(*repo, "m", 1)->state, VersionState::kFailed);
  EXPECT_EQ(Find(*repo, "o", 1)->state, VersionState::kFailed);
  EXPECT_EQ(repo->Load("m", 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(repo->Get("m").status().code(), StatusCode::kUnavailable);
}

TEST(ModelRepository, BrokenConfigIsListedAndOtherModelsLoad) {
  TempRepo t;
  t.Write("bad/config.yaml", "kind: linear\ninputz: [a]\n");
  t.Linear("bad", 1, 1, 0);
  t.Linear("noconfig", 1, 1, 0);
  t.Config("good", 1);
  t.Linear("good", 1, 1, 0);
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  std::optional<ModelVersionStatus> bad = Find(*repo, "bad", 0);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->state, VersionState::kFailed);
  EXPECT_NE(bad->reason.find("did you mean 'inputs'"), std::string::npos) << bad->reason;
  EXPECT_EQ(Find(*repo, "bad", 1)->state, VersionState::kUnavailable);
  EXPECT_FALSE(Find(*repo, "bad", 1)->reason.empty());
  ASSERT_TRUE(Find(*repo, "noconfig", 0).has_value());
  EXPECT_EQ(Find(*repo, "noconfig", 0)->state, VersionState::kFailed);
  EXPECT_EQ(repo->Get("bad").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(repo->Load("bad", 1).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(repo->Get("good").ok());
}

TEST(ModelRepository, LoadUnloadAndRescanApplyThePolicyAgain) {
  TempRepo t;
  t.Config("m", 1);
  for (uint64_t v : {1, 2}) t.Linear("m", v, 1, static_cast<float>(v));
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  ASSERT_TRUE(repo->Load("m", 1).ok());  // outside the policy, on request
  EXPECT_EQ(Find(*repo, "m", 1)->state, VersionState::kReady);
  EXPECT_EQ(repo->Get("m").value()->version, 2u);
  ASSERT_TRUE(repo->Unload("m", 2).ok());
  EXPECT_EQ(repo->Get("m").value()->version, 1u);
  EXPECT_EQ(repo->Unload("m", 2).code(), StatusCode::kNotFound);

  // A new version appears: the rescan loads it and unloads what the policy no longer selects.
  t.Linear("m", 3, 1, 3);
  ASSERT_TRUE(repo->Rescan().ok());
  EXPECT_EQ(Find(*repo, "m", 1)->state, VersionState::kUnavailable);
  EXPECT_EQ(Find(*repo, "m", 2)->state, VersionState::kUnavailable);
  EXPECT_EQ(Find(*repo, "m", 3)->state, VersionState::kReady);
  EXPECT_FLOAT_EQ(ScoreOnes(*repo->Get("m").value()), 4.0f);

  // A config change reloads the ready version with the new config.
  t.Config("m", 1, "outputs: [fraud_probability]\n");
  ASSERT_TRUE(repo->Rescan().ok());
  EXPECT_EQ(repo->Get("m").value()->config.outputs, (std::vector<std::string>{"fraud_probability"}));

  // New model, removed version dir, removed model.
  t.Config("n", 1);
  t.Linear("n", 5, 1, 0);
  t.Remove("m/1");
  ASSERT_TRUE(repo->Rescan().ok());
  EXPECT_FALSE(Find(*repo, "m", 1).has_value());
  EXPECT_EQ(repo->Get("n").value()->version, 5u);
  t.Remove("m");
  ASSERT_TRUE(repo->Rescan().ok());
  EXPECT_EQ(repo->Get("m").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(repo->Get("n").ok());
}

TEST(ModelRepository, FailedReloadKeepsTheServingCopy) {
  TempRepo t;
  t.Config("m", 1);
  t.Linear("m", 1, 1, 7);
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  t.Write("m/1/model.json", "{not json");
  EXPECT_EQ(repo->Load("m", 1).code(), StatusCode::kInvalidArgument);
  std::optional<ModelVersionStatus> s = Find(*repo, "m", 1);
  EXPECT_EQ(s->state, VersionState::kReady);
  EXPECT_FALSE(s->reason.empty());
  Result<std::shared_ptr<const LoadedModel>> m = repo->Get("m", 1);
  ASSERT_TRUE(m.ok());
  EXPECT_FLOAT_EQ(ScoreOnes(**m), 8.0f);

  // A config that breaks on rescan keeps the loaded version serving too.
  t.Write("m/config.yaml", "kind: [");
  ASSERT_TRUE(repo->Rescan().ok());
  EXPECT_EQ(Find(*repo, "m", 0)->state, VersionState::kFailed);
  EXPECT_TRUE(repo->Get("m").ok());
}

TEST(ModelRepository, GenerationChangesOnlyWithTheReadySet) {
  TempRepo t;
  t.Config("m", 1, "version_policy: all\n");
  t.Linear("m", 1, 1, 0);
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  const uint64_t g0 = repo->generation();
  (void)repo->Get("m");
  (void)repo->List();
  ASSERT_TRUE(repo->Rescan().ok());  // nothing changed on disk
  EXPECT_EQ(repo->generation(), g0);
  ASSERT_TRUE(repo->Unload("m", 1).ok());
  const uint64_t g1 = repo->generation();
  EXPECT_NE(g1, g0);
  t.Write("m/1/model.json", "{");
  EXPECT_CODE(repo->Load("m", 1), kInvalidArgument);  // a failed load changes nothing that serves
  EXPECT_EQ(repo->generation(), g1);
  t.Linear("m", 1, 1, 0);
  ASSERT_TRUE(repo->Load("m", 1).ok());
  EXPECT_NE(repo->generation(), g1);
}

TEST(ModelRepository, UnloadNeverFreesAModelInUse) {
  TempRepo t;
  t.Config("m", 2);
  t.Linear("m", 1, 2, 0.5f);
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  std::shared_ptr<const LoadedModel> held = repo->Get("m").value();
  ASSERT_TRUE(repo->Unload("m", 1).ok());
  EXPECT_EQ(repo->Get("m").status().code(), StatusCode::kUnavailable);
  EXPECT_FLOAT_EQ(ScoreOnes(*held), 2.5f);  // still alive (ASan would catch a use after free)
}

TEST(ModelRepository, LimitOnLoadedVersions) {
  TempRepo t;
  for (const char* name : {"a", "b", "c"}) {
    t.Config(name, 1);
    t.Linear(name, 1, 1, 0);
  }
  auto repo = MustOpen(t, {.loaded_versions_max = 2});
  ASSERT_NE(repo, nullptr);
  EXPECT_EQ(Find(*repo, "a", 1)->state, VersionState::kReady);
  EXPECT_EQ(Find(*repo, "b", 1)->state, VersionState::kReady);
  EXPECT_EQ(Find(*repo, "c", 1)->state, VersionState::kFailed);
  EXPECT_EQ(repo->Load("c", 1).code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(repo->Unload("a", 1).ok());
  EXPECT_TRUE(repo->Load("c", 1).ok());
}

TEST(ModelRepository, LimitOnModels) {
  TempRepo t;
  for (const char* name : {"a", "b", "c"}) {
    t.Config(name, 1);
    t.Linear(name, 1, 1, 0);
  }
  auto repo = MustOpen(t, {.models_max = 2});
  ASSERT_NE(repo, nullptr);
  EXPECT_TRUE(repo->Get("a").ok());
  EXPECT_TRUE(repo->Get("b").ok());
  EXPECT_EQ(repo->Get("c").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Find(*repo, "c", 0)->state, VersionState::kFailed);
}

TEST(ModelRepository, XgboostKindUsesItsLoader) {
  TempRepo t;
  t.Write("x/config.yaml", "kind: xgboost\ninputs: [a, b]\n");
  t.Write("x/1/model.json", "{}");
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  std::optional<ModelVersionStatus> s = Find(*repo, "x", 1);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->kind, "xgboost");
  EXPECT_EQ(s->state, VersionState::kFailed);  // "{}" is no XGBoost model
  EXPECT_EQ(s->reason.rfind(t.dir() + "/x/1/model.json", 0), 0u) << s->reason;
  // An injected loader is called with the file's path.
  std::string seen;
  RepositoryOptions options;
  options.xgboost_loader = [&seen](const std::string& path) -> Result<std::unique_ptr<Model>> {
    seen = path;
    return InvalidArgument(path + ": fake");
  };
  auto repo2 = MustOpen(t, options);
  ASSERT_NE(repo2, nullptr);
  EXPECT_EQ(seen, t.dir() + "/x/1/model.json");
}

// A one-tree XGBoost model (reg:squarederror, base_score 0.5): feature 1 < 0.5 -> -1, else +2.
constexpr const char* kTinyXgboost =
    R"({"learner":{"gradient_booster":{"name":"gbtree","model":{"tree_info":[0],"trees":[)"
    R"({"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[1,0,0],)"
    R"("split_conditions":[0.5,-1.0,2.0],"default_left":[1,0,0],"split_type":[0,0,0],)"
    R"("base_weights":[0,0,0],"tree_param":{"num_nodes":"3"}}]}},)"
    R"("learner_model_param":{"base_score":"5E-1","num_feature":"2","num_class":"0","num_target":"1"},)"
    R"("objective":{"name":"reg:squarederror"}},"version":[1,7,4]})";

TEST(ModelRepository, XgboostModelServesThroughTheRepository) {
  TempRepo t;
  t.Write("trees/config.yaml", "kind: xgboost\nfile: trees.json\ninputs: [a, b]\n");
  t.Write("trees/4/trees.json", kTinyXgboost);
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  Result<std::shared_ptr<const LoadedModel>> m = repo->Get("trees");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->version, 4u);
  EXPECT_EQ((*m)->model->kind(), "xgboost");
  EXPECT_FLOAT_EQ(ScoreOnes(**m), 2.5f);
}

TEST(ModelRepository, OpenFailsOnAMissingDirectory) {
  EXPECT_EQ(ModelRepository::Open("/nonexistent/models").status().code(), StatusCode::kNotFound);
}

// Get and Predict in one thread while another loads and unloads versions: every Get returns a
// usable model of one of the versions (TSan and ASan check the rest).
TEST(ModelRepository, ConcurrentGetDuringLoadAndUnload) {
  TempRepo t;
  t.Config("m", 4, "version_policy: all\n");
  t.Linear("m", 1, 4, 100);
  t.Linear("m", 2, 4, 200);
  auto repo = MustOpen(t);
  ASSERT_NE(repo, nullptr);
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    for (int i = 0; i < 200; ++i) {
      (void)repo->Unload("m", 2);
      (void)repo->Load("m", 2);
      (void)repo->Unload("m", 1);
      (void)repo->Load("m", 1);
    }
    stop = true;
  });
  size_t gets = 0, bad = 0, unavailable = 0;
  do {
    Result<std::shared_ptr<const LoadedModel>> m = repo->Get("m");
    if (!m.ok()) {
      ++unavailable;
      continue;  // to the loop's condition
    }
    const float s = ScoreOnes(**m);
    if (s != 104.0f && s != 204.0f) ++bad;
    if ((*m)->version == 1 && s != 104.0f) ++bad;
    ++gets;
    (void)repo->List();
  } while (!stop.load());
  churn.join();
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(unavailable, 0u);  // one of the two versions is always ready
  EXPECT_EQ(repo->Get("m").value()->version, 2u);
  EXPECT_GT(gets + unavailable, 0u);
}

}  // namespace
}  // namespace impulse::model
