#include "model/model_config.h"

#include <gtest/gtest.h>

namespace impulse::model {
namespace {

TEST(ModelConfig, DefaultsAndShorthandInputs) {
  Result<ModelConfig> c = ParseModelConfig(
      "kind: linear\ninputs: [amount, {name: n, from: tx_count_1d, default: -1.5}]\n", "r/m/config.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->kind, ModelKind::kLinear);
  EXPECT_EQ(c->file, "model.json");
  ASSERT_EQ(c->inputs.size(), 2u);
  EXPECT_EQ(c->inputs[0].name, "amount");
  EXPECT_EQ(c->inputs[0].from, "amount");
  EXPECT_FALSE(c->inputs[0].default_value.has_value());
  EXPECT_EQ(c->inputs[1].name, "n");
  EXPECT_EQ(c->inputs[1].from, "tx_count_1d");
  EXPECT_EQ(c->inputs[1].default_value, -1.5f);
  EXPECT_EQ(c->outputs, (std::vector<std::string>{"score"}));
  EXPECT_EQ(c->batching.max_batch_size, 64);
  EXPECT_EQ(c->batching.max_queue_delay_us, 0);
  EXPECT_EQ(c->version_policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(c->version_policy.latest, 1u);
}

TEST(ModelConfig, DefaultFileByKind) {
  EXPECT_EQ(ParseModelConfig("kind: xgboost\ninputs: [a]\n", "c")->file, "model.json");
  EXPECT_EQ(ParseModelConfig("kind: lightgbm\ninputs: [a]\n", "c")->kind, ModelKind::kLightgbm);
  EXPECT_EQ(ParseModelConfig("kind: lightgbm\ninputs: [a]\n", "c")->file, "model.txt");
  EXPECT_EQ(ParseModelConfig("kind: onnx\ninputs: [a]\n", "c")->kind, ModelKind::kOnnx);
  EXPECT_EQ(ParseModelConfig("kind: onnx\ninputs: [a]\n", "c")->file, "model.onnx");
  EXPECT_EQ(ParseModelConfig("kind: xgboost\nfile: model.ubj\ninputs: [a]\n", "c")->file, "model.ubj");
}

TEST(ModelConfig, EveryKey) {
  Result<ModelConfig> c = ParseModelConfig(
      "kind: xgboost\nfile: fraud.json\ninputs:\n  - {name: a}\noutputs: [p0, p1, p2]\n"
      "batching: {max_batch_size: 256, max_queue_delay_us: 500}\nversion_policy: {specific: [3, 1]}\n",
      "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->kind, ModelKind::kXgboost);
  EXPECT_EQ(c->file, "fraud.json");
  EXPECT_EQ(c->outputs.size(), 3u);
  EXPECT_EQ(c->batching.max_batch_size, 256);
  EXPECT_EQ(c->batching.max_queue_delay_us, 500);
  EXPECT_EQ(c->version_policy.kind, VersionPolicy::Kind::kSpecific);
  EXPECT_EQ(c->version_policy.specific, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(ParseModelConfig("kind: linear\ninputs: [a]\nversion_policy: all\n", "c")->version_policy.kind,
            VersionPolicy::Kind::kAll);
  EXPECT_EQ(ParseModelConfig("kind: linear\ninputs: [a]\nversion_policy: {latest: 3}\n", "c")->version_policy.latest,
            3u);
}

// Each error class: kInvalidArgument, and the message names the file and the key.
TEST(ModelConfig, ErrorsNameTheFileAndTheKey) {
  struct Case {
    const char* yaml;
    const char* key;  // expected in the message
  };
  const Case cases[] = {
      {"", "empty"},
      {"kind: [", "invalid YAML"},
      {"- a\n- b\n", "config"},
      {"kind: linear\ninputs: [a]\nkinds: x\n", "did you mean 'kind'"},
      {"kind: linear\ninputs: [a]\nkind: linear\n", "duplicate key"},
      {"inputs: [a]\n", "kind"},
      {"kind: lightgbn\ninputs: [a]\n", "did you mean 'lightgbm'"},
      {"kind: xgbost\ninputs: [a]\n", "did you mean 'xgboost'"},
      {"kind: linear\n", "inputs"},
      {"kind: linear\ninputs: a\n", "inputs"},
      {"kind: linear\ninputs: []\n", "inputs"},
      {"kind: linear\ninputs: [a, a]\n", "inputs[1].name"},
      {"kind: linear\ninputs: [{from: a}]\n", "inputs[0].name"},
      {"kind: linear\ninputs: [{name: a, fron: b}]\n", "did you mean 'from'"},
      {"kind: linear\ninputs: [{name: a, default: x}]\n", "inputs[0].default"},
      {"kind: linear\ninputs: [{name: a, default: .nan}]\n", "inputs[0].default"},
      {"kind: linear\ninputs: [a]\nfile: ../x.json\n", "file"},
      {"kind: linear\ninputs: [a]\noutputs: [s, s]\n", "outputs[1]"},
      {"kind: linear\ninputs: [a]\noutputs: []\n", "outputs"},
      {"kind: linear\ninputs: [a]\nbatching: {max_batch_size: 0}\n", "batching.max_batch_size"},
      {"kind: linear\ninputs: [a]\nbatching: {max_queue_delay_us: -1}\n", "batching.max_queue_delay_us"},
      {"kind: linear\ninputs: [a]\nbatching: {max_batch_sise: 1}\n", "did you mean 'max_batch_size'"},
      {"kind: linear\ninputs: [a]\nversion_policy: newest\n", "version_policy"},
      {"kind: linear\ninputs: [a]\nversion_policy: {latest: 0}\n", "version_policy.latest"},
      {"kind: linear\ninputs: [a]\nversion_policy: {latest: 1, all: {}}\n", "exactly one"},
      {"kind: linear\ninputs: [a]\nversion_policy: {specific: [1, v2]}\n", "version_policy.specific[1]"},
      {"kind: linear\ninputs: [a]\nversion_policy: {specific: [2, 2]}\n", "duplicate version"},
  };
  for (const Case& c : cases) {
    Result<ModelConfig> r = ParseModelConfig(c.yaml, "repo/m/config.yaml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_EQ(r.status().message().rfind("repo/m/config.yaml", 0), 0u) << r.status().message();
    EXPECT_NE(r.status().message().find(c.key), std::string::npos) << c.yaml << " -> " << r.status().message();
  }
}

TEST(ModelConfig, TooLargeIsRefused) {
  const std::string big(kConfigBytesMax + 1, '#');
  EXPECT_EQ(ParseModelConfig(big, "c").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace impulse::model
