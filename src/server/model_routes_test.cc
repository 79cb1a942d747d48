// The model admin and KServe v2 routes through the Router (no sockets), against a temporary
// repository of linear models whose scores can be computed by hand:
//   lin   inputs x0, x1 (default 5), x2; version 1: score = x0 + x1 + x2; version 2: 0.5 + x0 + 2 x1 + 3 x2
//         (policy specific: [2], so only version 2 is ready at start); version 3: a corrupt file.
//   bad   a config.yaml that does not parse, with a version directory.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "model/repository.h"
#include "model/test_repo_dir.h"
#include "server/fake_engine.h"
#include "server/router.h"
#include "server/server_metrics.h"

namespace impulse::server {
namespace {

namespace fs = std::filesystem;

using TempDir = model::TestRepoDir;

std::string LinearJson(const std::string& weights, const std::string& bias) {
  return R"({"kind":"linear","weights":[)" + weights + R"(],"bias":)" + bias + "}";
}

class ModelRoutesTest : public ::testing::Test {
 protected:
  ModelRoutesTest() : router_(&engine_, &options_, &metrics_) {
    tmp_.Write("lin/config.yaml",
               "kind: linear\ninputs: [x0, {name: x1, default: 5}, x2]\nversion_policy: {specific: [2]}\n");
    tmp_.Write("lin/1/model.json", LinearJson("1,1,1", "0"));
    tmp_.Write("lin/2/model.json", LinearJson("1,2,3", "0.5"));
    tmp_.Write("lin/3/model.json", "{");
    tmp_.Write("bad/config.yaml", "kind: nope\n");
    tmp_.Write("bad/1/model.json", LinearJson("1", "0"));
    auto repo = model::ModelRepository::Open(tmp_.dir());
    EXPECT_TRUE(repo.ok()) << repo.status().ToString();
    if (repo.ok()) repo_ = std::move(repo).value();
    options_.models = repo_.get();
    options_.infer_rows_max = 3;
  }

  HttpReply Call(std::string_view method, std::string_view target, std::string body = "") {
    HttpReply out;
    out.status = 0;
    const ParsedTarget parsed = ParseTarget(target);
    if (auto early = router_.Precheck(parsed, "", body.size())) return *early;
    router_.Handle(method, parsed, std::move(body), /*producer=*/0, [&](HttpReply r) { out = std::move(r); });
    return out;
  }

  TempDir tmp_;
  std::unique_ptr<model::ModelRepository> repo_;
  FakeEngine engine_;
  HttpServerOptions options_;
  ServerMetrics metrics_;
  Router router_;
};

TEST(ParseModelTarget, RecognisesEachRoute) {
  EXPECT_EQ(ParseTarget("/v1/models").route, Route::kModels);
  EXPECT_EQ(ParseTarget("/v1/models:rescan").route, Route::kModelsRescan);
  const ParsedTarget load = ParseTarget("/v1/models/fr%20aud/versions/12:load");
  EXPECT_EQ(load.route, Route::kModelLoad);
  EXPECT_EQ(load.model, "fr aud");
  EXPECT_EQ(load.version, "12");
  EXPECT_EQ(ParseTarget("/v1/models/f/versions/1:unload").route, Route::kModelUnload);
  EXPECT_EQ(ParseTarget("/v2/health/live").route, Route::kV2Live);
  EXPECT_EQ(ParseTarget("/v2/health/ready").route, Route::kV2Ready);
  EXPECT_EQ(ParseTarget("/v2/models/m").route, Route::kV2ModelMetadata);
  const ParsedTarget meta = ParseTarget("/v2/models/m/versions/4");
  EXPECT_EQ(meta.route, Route::kV2ModelMetadata);
  EXPECT_EQ(meta.version, "4");
  EXPECT_EQ(ParseTarget("/v2/models/m/ready").route, Route::kV2ModelReady);
  EXPECT_EQ(ParseTarget("/v2/models/m/versions/4/ready").route, Route::kV2ModelReady);
  EXPECT_EQ(ParseTarget("/v2/models/m/infer").route, Route::kV2ModelInfer);
  const ParsedTarget infer = ParseTarget("/v2/models/m/versions/4/infer?x=1");
  EXPECT_EQ(infer.route, Route::kV2ModelInfer);
  EXPECT_EQ(infer.model, "m");
  EXPECT_EQ(infer.version, "4");
  // A model named "versions" is still a model.
  EXPECT_EQ(ParseTarget("/v2/models/versions/ready").model, "versions");
  EXPECT_EQ(RouteLabel(Route::kV2ModelInfer, "POST"), "v2_infer");
  EXPECT_EQ(RouteLabel(Route::kModels, "GET"), "models");
}

TEST(ParseModelTarget, RejectsMalformedPaths) {
  for (const char* bad :
       {"/v1/models/m", "/v1/models/m/versions/1", "/v1/models/m/versions/:load", "/v1/models//versions/1:load",
        "/v1/models/m/versions/1:reload", "/v2/models", "/v2/models/", "/v2/models/m/explain", "/v2/models/m/versions",
        "/v2/models/m/versions//ready", "/v2/models/%zz", "/v2/models/m/versions/1/infer/x", "/v2/health"}) {
    EXPECT_EQ(ParseTarget(bad).route, Route::kUnknown) << bad;
  }
}

TEST(ModelRoutesNoRepository, Answer404ExceptLiveness) {
  FakeEngine engine;
  HttpServerOptions options;
  ServerMetrics metrics;
  Router router(&engine, &options, &metrics);
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/models"},
                                                                                       {"POST", "/v1/models:rescan"},
                                                                                       {"GET", "/v2/health/ready"},
                                                                                       {"POST", "/v2/models/m/infer"},
                                                                                       {"GET", "/v2/models/m"}}) {
    HttpReply out;
    router.Handle(method, ParseTarget(target), "", 0, [&](HttpReply r) { out = std::move(r); });
    EXPECT_EQ(out.status, 404) << target;
    EXPECT_NE(out.body.find("no model repository: start with --models DIR"), std::string::npos) << out.body;
  }
  HttpReply live;
  router.Handle("GET", ParseTarget("/v2/health/live"), "", 0, [&](HttpReply r) { live = std::move(r); });
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(live.body, "{\"live\":true}");
}

TEST_F(ModelRoutesTest, ListModels) {
  ASSERT_NE(repo_, nullptr);
  const HttpReply r = Call("GET", "/v1/models");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"({"name":"lin","version":2,"kind":"linear","state":"ready","inputs":3,"reason":""})"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"({"name":"lin","version":1,"kind":"linear","state":"unavailable","inputs":3,)"),
            std::string::npos);
  EXPECT_NE(r.body.find(R"({"name":"bad","version":null,"kind":"","state":"failed")"), std::string::npos) << r.body;
  EXPECT_EQ(Call("POST", "/v1/models").status, 405);
}

TEST_F(ModelRoutesTest, LoadAndUnloadChangeReadiness) {
  ASSERT_NE(repo_, nullptr);
  EXPECT_EQ(Call("GET", "/v2/models/lin/versions/1/ready").status, 503);
  const HttpReply load = Call("POST", "/v1/models/lin/versions/1:load");
  EXPECT_EQ(load.status, 200);
  EXPECT_EQ(load.body, R"({"ok":true,"model":"lin","version":1,"state":"ready"})");
  const HttpReply ready = Call("GET", "/v2/models/lin/versions/1/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, R"({"name":"lin","version":"1","ready":true})");

  const HttpReply unload = Call("POST", "/v1/models/lin/versions/1:unload");
  EXPECT_EQ(unload.status, 200);
  EXPECT_EQ(unload.body, R"({"ok":true,"model":"lin","version":1,"state":"unavailable"})");
  EXPECT_EQ(Call("GET", "/v2/models/lin/versions/1/ready").status, 503);
  EXPECT_EQ(Call("POST", "/v1/models/lin/versions/1:unload").status, 404);  // not loaded

  // Server readiness follows: lin without any ready version makes the server not ready.
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 200);
  EXPECT_EQ(Call("POST", "/v1/models/lin/versions/2:unload").status, 200);
  const HttpReply not_ready = Call("GET", "/v2/health/ready");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(not_ready.body, R"({"ready":false,"error":"model 'lin' has no ready version"})");
  EXPECT_EQ(Call("GET", "/v2/models/lin/ready").status, 503);
  EXPECT_EQ(Call("POST", "/v1/models/lin/versions/2:load").status, 200);
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/lin/ready").body, R"({"name":"lin","ready":true})");
}

TEST_F(ModelRoutesTest, AdminErrorsMapToStatusCodes) {
  ASSERT_NE(repo_, nullptr);
  EXPECT_EQ(Call("POST", "/v1/models/nope/versions/1:load").status, 404);    // unknown model
  EXPECT_EQ(Call("POST", "/v1/models/lin/versions/9:load").status, 404);     // no such version
  EXPECT_EQ(Call("POST", "/v1/models/lin/versions/x:load").status, 400);     // not a number
  EXPECT_EQ(Call("POST", "/v1/models/lin/versions/01:load").status, 400);    // leading zero
  EXPECT_EQ(Call("POST", "/v1/models/bad/versions/1:load").status, 409);     // broken config
  const HttpReply corrupt = Call("POST", "/v1/models/lin/versions/3:load");  // corrupt file
  EXPECT_EQ(corrupt.status, 422);
  EXPECT_NE(corrupt.body.find("\"error\":"), std::string::npos);
  EXPECT_NE(corrupt.body.find("model.json"), std::string::npos) << corrupt.body;
  EXPECT_EQ(Call("GET", "/v1/models/lin/versions/1:load").status, 405);
  EXPECT_EQ(Call("GET", "/v1/models:rescan").status, 405);
  EXPECT_EQ(Call("GET", "/v2/models/lin/infer").status, 405);
  EXPECT_EQ(Call("POST", "/v2/models/lin/ready").status, 405);
}

TEST_F(ModelRoutesTest, RescanFindsANewModel) {
  ASSERT_NE(repo_, nullptr);
  EXPECT_EQ(Call("GET", "/v2/models/new/ready").status, 404);
  tmp_.Write("new/config.yaml", "kind: linear\ninputs: [a]\n");
  tmp_.Write("new/1/model.json", LinearJson("2", "1"));
  const HttpReply rescan = Call("POST", "/v1/models:rescan");
  EXPECT_EQ(rescan.status, 200);
  EXPECT_EQ(rescan.body, R"({"ok":true,"ready":2,"failed":1})");  // lin/2, new/1; bad
  EXPECT_EQ(Call("GET", "/v2/models/new/ready").status, 200);
}

TEST_F(ModelRoutesTest, Metadata) {
  ASSERT_NE(repo_, nullptr);
  const HttpReply r = Call("GET", "/v2/models/lin");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"name":"lin","versions":["2"],"platform":"impulse-linear",)"
                    R"("inputs":[{"name":"input","datatype":"FP32","shape":[-1,3]}],)"
                    R"("outputs":[{"name":"output","datatype":"FP32","shape":[-1,1]}],)"
                    R"("parameters":{"version":"2","input_names":["x0","x1","x2"],"output_names":["score"]}})");
  EXPECT_EQ(Call("GET", "/v2/models/lin/versions/2").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/lin/versions/1").status, 503);  // on disk, not loaded
  EXPECT_EQ(Call("GET", "/v2/models/nope").status, 404);
  EXPECT_EQ(Call("GET", "/v2/models/lin/versions/zero").status, 400);
}

TEST_F(ModelRoutesTest, InferMatrixMatchesHandComputation) {
  ASSERT_NE(repo_, nullptr);
  // Version 2: 0.5 + x0 + 2 x1 + 3 x2.
  const HttpReply r = Call("POST", "/v2/models/lin/infer",
                           R"({"id":"r1","inputs":[{"name":"input","shape":[2,3],"datatype":"FP32",)"
                           R"("data":[[1,2,3],[0,0,-1]]}]})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"model_name":"lin","model_version":"2","id":"r1","outputs":[)"
                    R"({"name":"output","datatype":"FP32","shape":[2,1],"data":[14.5,-2.5]}]})");
  // Version 1 once loaded: x0 + x1 + x2; a missing value (null) takes the config's default.
  ASSERT_EQ(Call("POST", "/v1/models/lin/versions/1:load").status, 200);
  const HttpReply v1 =
      Call("POST", "/v2/models/lin/versions/1/infer",
           R"({"inputs":[{"name":"input","shape":[2,3],"datatype":"INT64","data":[4,null,6,null,1,null]}]})");
  EXPECT_EQ(v1.status, 200) << v1.body;
  EXPECT_EQ(v1.body, R"({"model_name":"lin","model_version":"1","outputs":[)"
                     R"({"name":"output","datatype":"FP32","shape":[2,1],"data":[15,1]}]})");  // x0, x2 have no default
}

TEST_F(ModelRoutesTest, InferPerInputTensorsAndNamedOutput) {
  ASSERT_NE(repo_, nullptr);
  const HttpReply r = Call("POST", "/v2/models/lin/infer",
                           R"({"inputs":[{"name":"x2","shape":[2],"datatype":"FP64","data":[1,0]},)"
                           R"({"name":"x0","shape":[2,1],"datatype":"FP32","data":[[1],[2]]},)"
                           R"({"name":"x1","shape":[2],"datatype":"INT32","data":[0,1]}],)"
                           R"("outputs":[{"name":"score"}]})");
  EXPECT_EQ(r.status, 200) << r.body;
  // Row 0: 0.5 + 1 + 0 + 3 = 4.5; row 1: 0.5 + 2 + 2 + 0 = 4.5.
  EXPECT_EQ(r.body, R"({"model_name":"lin","model_version":"2","outputs":[)"
                    R"({"name":"score","datatype":"FP32","shape":[2],"data":[4.5,4.5]}]})");
}

TEST_F(ModelRoutesTest, InferErrors) {
  ASSERT_NE(repo_, nullptr);
  const HttpReply bad = Call("POST", "/v2/models/lin/infer",
                             R"({"inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","data":[1,2]}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("input tensor 'input': shape [1,2] but the model takes [n, 3]"), std::string::npos)
      << bad.body;
  EXPECT_EQ(Call("POST", "/v2/models/lin/infer", "{").status, 400);
  const HttpReply output = Call("POST", "/v2/models/lin/infer",
                                R"({"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],)"
                                R"("outputs":[{"name":"prob"}]})");
  EXPECT_EQ(output.status, 400);
  EXPECT_NE(output.body.find("output 'prob' is not an output of model 'lin'"), std::string::npos);
  // infer_rows_max is 3 in this fixture.
  EXPECT_EQ(Call("POST", "/v2/models/lin/infer",
                 R"({"inputs":[{"name":"input","shape":[4,3],"datatype":"FP32","data":[1,2,3,1,2,3,1,2,3,1,2,3]}]})")
                .status,
            413);
  EXPECT_EQ(Call("POST", "/v2/models/nope/infer", "{}").status, 404);
  EXPECT_EQ(Call("POST", "/v2/models/lin/versions/1/infer", "{}").status, 503);  // not loaded
  options_.max_body_bytes = 10;
  EXPECT_EQ(Call("POST", "/v2/models/lin/infer", std::string(11, ' ')).status, 413);
}

TEST_F(ModelRoutesTest, MetricsCountInfersPerVersion) {
  ASSERT_NE(repo_, nullptr);
  const std::string ok = R"({"inputs":[{"name":"input","shape":[2,3],"datatype":"FP32","data":[1,2,3,4,5,6]}]})";
  EXPECT_EQ(Call("POST", "/v2/models/lin/infer", ok).status, 200);
  EXPECT_EQ(Call("POST", "/v2/models/lin/infer", ok).status, 200);
  EXPECT_EQ(Call("POST", "/v2/models/lin/infer", "[]").status, 400);
  const HttpReply m = Call("GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  for (const char* line : {"impulse_model_requests_total{model=\"lin\",version=\"2\"} 3\n",
                           "impulse_model_rows_total{model=\"lin\",version=\"2\"} 4\n",
                           "impulse_model_errors_total{model=\"lin\",version=\"2\"} 1\n",
                           "impulse_model_batch_rows_bucket{model=\"lin\",version=\"2\",le=\"2\"} 2\n",
                           "impulse_model_compute_seconds_count{model=\"lin\",version=\"2\"} 2\n",
                           "impulse_model_queue_seconds_count{model=\"lin\",version=\"2\"} 0\n",
                           "impulse_model_loaded{model=\"lin\",version=\"2\",state=\"ready\"} 1\n",
                           "impulse_model_loaded{model=\"lin\",version=\"1\",state=\"unavailable\"} 1\n"}) {
    EXPECT_NE(m.body.find(line), std::string::npos) << line;
  }
}

// Infers from several threads while another loads and unloads version 1 and rescans: every
// unversioned infer is answered by version 2 (always ready), and the counts add up.
TEST_F(ModelRoutesTest, ConcurrentInfersDuringLoadUnloadAndRescan) {
  ASSERT_NE(repo_, nullptr);
  constexpr int kThreads = 3;
  constexpr int kCalls = 200;
  const std::string body = R"({"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]})";
  const std::string expected = R"({"model_name":"lin","model_version":"2","outputs":[)"
                               R"({"name":"output","datatype":"FP32","shape":[1,1],"data":[14.5]}]})";
  std::atomic<int> wrong{0};
  std::atomic<bool> stop{false};
  std::thread admin([&] {
    while (!stop.load()) {
      Call("POST", "/v1/models/lin/versions/1:load");
      Call("POST", "/v1/models/lin/versions/1:unload");
      Call("POST", "/v1/models:rescan");
    }
  });
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        const HttpReply r = Call("POST", "/v2/models/lin/infer", body);
        if (r.status != 200 || r.body != expected) wrong.fetch_add(1);
      }
    });
  }
  for (auto& c : clients) c.join();
  stop.store(true);
  admin.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(repo_->metrics().For("lin", 2)->requests.load(), static_cast<uint64_t>(kThreads * kCalls));
}

}  // namespace
}  // namespace impulse::server
