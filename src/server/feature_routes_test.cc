// The online feature routes, through the Router (no sockets) and once over loopback, against a
// FakeEngine holding view "user" with entities "1", "2" and "a b".
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "server/fake_engine.h"
#include "server/group_lookups.h"
#include "server/http_server.h"
#include "server/router.h"
#include "server/server_test_util.h"
#include "server/test_http_client.h"

namespace impulse::server {
namespace {

using boost::beast::http::verb;

const std::string kOne = "{\"entity\":\"1\",\"found\":true,\"as_of_ms\":1000,\"age_ms\":0,\"features\":{\"count\":3}}";
const std::string kTwo = "{\"entity\":\"2\",\"found\":true,\"as_of_ms\":2000,\"age_ms\":0,\"features\":{\"count\":5}}";
const std::string kMissing9 = "{\"entity\":\"9\",\"found\":false,\"features\":null,\"reason\":\"unknown entity\"}";

class FeatureRoutesTest : public ::testing::Test {
 protected:
  FeatureRoutesTest() : router_(&engine_, &options_, &metrics_) {
    engine_.SetFeatures("user", "1", "{\"count\":3}", 1000);
    engine_.SetFeatures("user", "2", "{\"count\":5}", 2000);
    engine_.SetFeatures("user", "a b", "{\"count\":1}", 3000);
    engine_.AddFeatureView("card");
  }

  HttpReply Call(std::string_view method, std::string_view target, std::string body = "") {
    HttpReply out;
    out.status = 0;
    const ParsedTarget parsed = ParseTarget(target);
    if (auto early = router_.Precheck(parsed, "", body.size())) return *early;
    router_.Handle(method, parsed, std::move(body), /*producer=*/0, [&](HttpReply r) { out = std::move(r); });
    return out;
  }

  FakeEngine engine_;
  HttpServerOptions options_;
  ServerMetrics metrics_;
  Router router_;
};

TEST(ParseFeatureTarget, RecognisesEachFeatureRoute) {
  EXPECT_EQ(ParseTarget("/v1/features").route, Route::kFeatureViews);
  EXPECT_EQ(ParseTarget("/v1/features/").route, Route::kFeatureViews);
  const ParsedTarget get = ParseTarget("/v1/features/user/42");
  EXPECT_EQ(get.route, Route::kFeatureGet);
  EXPECT_EQ(get.view, "user");
  EXPECT_EQ(get.entity, "42");
  const ParsedTarget batch = ParseTarget("/v1/features/user:batch");
  EXPECT_EQ(batch.route, Route::kFeatureBatch);
  EXPECT_EQ(batch.view, "user");
}

TEST(ParseFeatureTarget, PercentDecodesViewAndEntity) {
  const ParsedTarget get = ParseTarget("/v1/features/my%20view/a%2Fb%3Ac");
  EXPECT_EQ(get.route, Route::kFeatureGet);
  EXPECT_EQ(get.view, "my view");
  EXPECT_EQ(get.entity, "a/b:c");
  // An encoded ':' is part of the view name, not the :batch suffix.
  EXPECT_EQ(ParseTarget("/v1/features/user%3Abatch/1").view, "user:batch");
  EXPECT_EQ(ParseTarget("/v1/features/a%3Ab:batch").view, "a:b");
}

TEST(ParseFeatureTarget, RejectsMalformedPaths) {
  EXPECT_EQ(ParseTarget("/v1/features/user").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/features/:batch").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/features//1").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/features/user/").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/features/user/1/x").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/features/user/%zz").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/features/%4:batch").route, Route::kUnknown);
}

TEST(ParseFeatureTarget, RouteLabelsForMetrics) {
  EXPECT_EQ(RouteLabel(Route::kFeatureGet, "GET"), "features_get");
  EXPECT_EQ(RouteLabel(Route::kFeatureBatch, "POST"), "features_batch");
  EXPECT_EQ(RouteLabel(Route::kFeatureViews, "GET"), "feature_views");
}

TEST_F(FeatureRoutesTest, ListsViews) {
  const HttpReply r = Call("GET", "/v1/features");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"views\":[\"user\",\"card\"]}");
}

TEST_F(FeatureRoutesTest, GetReturnsTheEngineObject) {
  const HttpReply r = Call("GET", "/v1/features/user/1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, kOne);
}

TEST_F(FeatureRoutesTest, GetDecodesTheEntity) {
  const HttpReply r = Call("GET", "/v1/features/user/a%20b");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"entity\":\"a b\",\"found\":true,\"as_of_ms\":3000,\"age_ms\":0,\"features\":{\"count\":1}}");
}

TEST_F(FeatureRoutesTest, GetUnknownEntityIs404WithTheReason) {
  const HttpReply r = Call("GET", "/v1/features/user/9");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, kMissing9);
}

TEST_F(FeatureRoutesTest, GetUnknownViewIs404WithAnError) {
  const HttpReply r = Call("GET", "/v1/features/nope/1");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "{\"error\":\"unknown feature view 'nope'\",\"code\":\"NotFound\"}");
}

TEST_F(FeatureRoutesTest, WrongMethodsAre405) {
  EXPECT_EQ(Call("POST", "/v1/features/user/1", "x").status, 405);
  EXPECT_EQ(Call("GET", "/v1/features/user:batch").status, 405);
  EXPECT_EQ(Call("DELETE", "/v1/features").status, 405);
  EXPECT_EQ(engine_.lookup_calls(), 0u);
}

TEST_F(FeatureRoutesTest, BatchAnswersInRequestOrderWithStringsAndIntegers) {
  const HttpReply r = Call("POST", "/v1/features/user:batch", "{\"entities\": [\"2\", 9, 1]}");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"view\":\"user\",\"results\":[" + kTwo + "," + kMissing9 + "," + kOne + "]}");
}

TEST_F(FeatureRoutesTest, BatchOfNoEntitiesIsAnEmptyResult) {
  const HttpReply r = Call("POST", "/v1/features/user:batch", " { \"entities\" : [ ] } ");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"view\":\"user\",\"results\":[]}");
}

TEST_F(FeatureRoutesTest, BatchFormatsNegativeAndLargeIntegers) {
  const HttpReply r = Call("POST", "/v1/features/user:batch", "{\"entities\":[-5, 18446744073709551615]}");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"entity\":\"-5\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"entity\":\"18446744073709551615\""), std::string::npos) << r.body;
}

TEST_F(FeatureRoutesTest, BatchUnknownViewIs404) {
  const HttpReply r = Call("POST", "/v1/features/nope:batch", "{\"entities\":[1]}");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "{\"error\":\"unknown feature view 'nope'\",\"code\":\"NotFound\"}");
}

struct BadBody {
  const char* body;
  const char* message;  // expected "error" of the 400 reply (a prefix for simdjson's texts)
};

TEST_F(FeatureRoutesTest, BatchMalformedBodiesAre400WithAPreciseMessage) {
  const BadBody cases[] = {
      {"", "invalid JSON"},
      {"{\"entities\":[1,", "invalid JSON"},
      {"[1, 2]", "request body must be a JSON object {\\\"entities\\\": [...]}"},
      {"{}", "missing field 'entities'"},
      {"{\"entity\":[1]}", "unknown field 'entity' (expected entities)"},
      {"{\"entities\":\"1\"}", "field 'entities' must be an array"},
      {"{\"entities\":[1],\"entities\":[2]}", "duplicate field 'entities'"},
      {"{\"entities\":[1, 2.5]}", "entities[1]: expected a string or an integer, got a non-integer number"},
      {"{\"entities\":[true]}", "entities[0]: expected a string or an integer, got a boolean"},
      {"{\"entities\":[null]}", "entities[0]: expected a string or an integer, got null"},
      {"{\"entities\":[\"1\", {}]}", "entities[1]: expected a string or an integer, got an object"},
      {"{\"entities\":[[1]]}", "entities[0]: expected a string or an integer, got an array"},
      {"{\"entities\":[99999999999999999999]}", "entities[0]: integer out of range"},
      {"{\"entities\":[1]} x", "invalid JSON"},
      {"{\"entities\":[1]} {}", "trailing content after the JSON object"},
  };
  for (const BadBody& c : cases) {
    const HttpReply r = Call("POST", "/v1/features/user:batch", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    const std::string expected = std::string("{\"error\":\"") + c.message;
    EXPECT_EQ(r.body.substr(0, expected.size()), expected) << c.body << " -> " << r.body;
  }
  EXPECT_EQ(engine_.lookup_calls(), 0u);
}

TEST_F(FeatureRoutesTest, BatchOverTheEntityLimitIs413) {
  std::string body = "{\"entities\":[";
  for (size_t i = 0; i <= Engine::kFeatureLookupBatchMax; ++i) {
    if (i > 0) body.push_back(',');
    body += std::to_string(i);
  }
  body += "]}";
  const HttpReply r = Call("POST", "/v1/features/user:batch", body);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "{\"error\":\"more than 1000 entities in one batch\",\"code\":\"ResourceExhausted\"}");
  EXPECT_EQ(engine_.lookup_calls(), 0u);
}

TEST_F(FeatureRoutesTest, BatchAtTheEntityLimitIsServed) {
  std::string body = "{\"entities\":[";
  for (size_t i = 0; i < Engine::kFeatureLookupBatchMax; ++i) {
    if (i > 0) body.push_back(',');
    body += std::to_string(i % 3 + 1);
  }
  body += "]}";
  const HttpReply r = Call("POST", "/v1/features/user:batch", body);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(engine_.lookup_calls(), 1u);
}

TEST_F(FeatureRoutesTest, BatchBodyOverItsByteLimitIs413) {
  options_.max_feature_batch_body_bytes = 32;
  const std::string body = "{\"entities\":[\"" + std::string(40, 'x') + "\"]}";
  EXPECT_EQ(Call("POST", "/v1/features/user:batch", body).status, 413);  // declared length
  HttpReply out;
  router_.Handle("POST", ParseTarget("/v1/features/user:batch"), body, 0,
                 [&](HttpReply r) { out = std::move(r); });  // chunked: no declared length
  EXPECT_EQ(out.status, 413);
  // Other routes keep max_body_bytes.
  EXPECT_FALSE(router_.Precheck(ParseTarget("/v1/streams/orders/events"), "", 40).has_value());
}

TEST(FeatureRoutesOverHttp, AuthMetricsAndDecodedEntity) {
  FakeEngine engine;
  engine.SetFeatures("user", "a/b", "{\"n\":1}", 5);
  auto server = HttpServer::Start(&engine, With([](HttpServerOptions& o) { o.bearer_token = "tok"; }));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  TestHttpClient client((*server)->port());
  EXPECT_EQ(client.Request(verb::get, "/v1/features/user/a%2Fb").status, 401);
  TestHttpClient authed((*server)->port());
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer tok"}};
  const TestResponse get = authed.Request(verb::get, "/v1/features/user/a%2Fb", "", auth);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "{\"entity\":\"a/b\",\"found\":true,\"as_of_ms\":5,\"age_ms\":0,\"features\":{\"n\":1}}");
  const TestResponse batch = authed.Request(verb::post, "/v1/features/user:batch", "{\"entities\":[\"a/b\"]}", auth);
  EXPECT_EQ(batch.status, 200);
  EXPECT_TRUE(batch.keep_alive);
  // The server records a request after its reply is written: wait (bounded) for that.
  std::string metrics;
  for (int i = 0; i < 5000; ++i) {
    metrics = (*server)->MetricsText();
    if (metrics.find("route=\"features_batch\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_NE(metrics.find("route=\"features_get\""), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("route=\"features_batch\""), std::string::npos) << metrics;
}

// In a group, the feature and decision routes go through HttpServerOptions::group_lookups, told
// whether the request was forwarded by another instance (header Impulse-Forwarded), so that a
// forwarded request is never forwarded again.
class RecordingLookups : public GroupLookups {
 public:
  Status LookupFeatures(std::string_view view, const std::vector<std::string_view>& entities,
                        const std::optional<std::string>& forwarded, std::string* out, size_t* found) override {
    calls.push_back("features " + std::string(view) + " " + std::to_string(entities.size()) +
                    (forwarded ? " forwarded " + *forwarded : " asked"));
    out->append("{\"entity\":\"x\",\"found\":true,\"features\":{}}");
    if (found != nullptr) *found = 1;
    return Status::OK();
  }
  Result<size_t> LookupDecisions(std::string_view stream, std::string_view event_id,
                                 const std::optional<std::string>& forwarded, std::string* out) override {
    calls.push_back("decisions " + std::string(stream) + " " + std::string(event_id) +
                    (forwarded ? " forwarded " + *forwarded : " asked"));
    (void)out;
    return Unavailable("partition 1: owner http://x unreachable");
  }
  std::vector<std::string> calls;  // one I/O thread: no lock needed
};

TEST(FeatureRoutesOverHttp, GroupLookupsSeeTheForwardedHeader) {
  FakeEngine engine;
  RecordingLookups lookups;
  auto server = HttpServer::Start(&engine, With([&](HttpServerOptions& o) { o.group_lookups = &lookups; }));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  TestHttpClient client((*server)->port());
  const std::map<std::string, std::string> fwd = {{std::string(kForwardedHeader), "0,2"}};
  EXPECT_EQ(client.Request(verb::get, "/v1/features/user/x").status, 200);
  EXPECT_EQ(client.Request(verb::get, "/v1/features/user/x", "", fwd).status, 200);
  EXPECT_EQ(client.Request(verb::post, "/v1/features/user:batch", "{\"entities\":[\"a\",\"b\"]}", fwd).status, 200);
  const TestResponse d = client.Request(verb::get, "/v1/decisions/decisions/e1");
  EXPECT_EQ(d.status, 503) << d.body;
  EXPECT_NE(d.body.find("partition 1: owner http://x unreachable"), std::string::npos) << d.body;
  EXPECT_EQ(client.Request(verb::get, "/v1/decisions/decisions/e2", "", fwd).status, 503);
  (*server)->Stop();
  EXPECT_EQ(lookups.calls, (std::vector<std::string>{"features user 1 asked", "features user 1 forwarded 0,2",
                                                     "features user 2 forwarded 0,2", "decisions decisions e1 asked",
                                                     "decisions decisions e2 forwarded 0,2"}));
}

}  // namespace
}  // namespace impulse::server
