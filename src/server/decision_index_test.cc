// The decision index and the GET /v1/decisions route against a real embedded engine whose
// decision-schema streams are filled through IngestRows (decision_test_util.h).
#include "server/decision_index.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <thread>

#include "server/decision_test_util.h"
#include "server/router.h"

namespace impulse::server {
namespace {

using decision_test::Decision;

class DecisionIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = dir_.Open();
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
  }
  void TearDown() override {
    if (engine_) {
      EXPECT_TRUE(engine_->Stop().ok());
    }
  }

  decision_test::DecisionEngineDir dir_;
  std::unique_ptr<Engine> engine_;
};

// Parses "[<records>]" and returns the records.
std::vector<simdjson::dom::object> Records(simdjson::dom::parser& parser, const std::string& joined) {
  std::vector<simdjson::dom::object> out;
  simdjson::dom::array arr;
  EXPECT_EQ(parser.parse("[" + joined + "]").get(arr), simdjson::SUCCESS) << joined;
  for (auto v : arr) out.push_back(v.get_object().value());
  return out;
}

TEST_F(DecisionIndexTest, FindsEachIdWithItsFieldsAndEmbeddedJson) {
  std::vector<Decision> ds;
  for (int i = 0; i < 50; ++i) {
    Decision d;
    d.event_id = "ev-" + std::to_string(i);
    d.features = "{\"amount\":" + std::to_string(i) + ".5,\"age\":null}";
    d.scores = "{\"score\":0." + std::to_string(i % 10) + "}";
    d.shadow = "{\"2\":{\"score\":0.25}}";
    d.version = 3;
    d.entity = "c" + std::to_string(i % 7);
    ds.push_back(d);
  }
  ASSERT_TRUE(decision_test::Write(*engine_, "decisions", ds).ok());
  DecisionIndexSet set(engine_.get());
  for (int i : {0, 17, 49}) {
    std::string out;
    Result<size_t> n = set.Lookup("decisions", "ev-" + std::to_string(i), &out);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, 1u);
    simdjson::dom::parser parser;
    auto recs = Records(parser, out);
    ASSERT_EQ(recs.size(), 1u);
    simdjson::dom::object r = recs[0];
    EXPECT_EQ(std::string_view(r["event_id"].get_string().value()), "ev-" + std::to_string(i));
    EXPECT_EQ(r["version"].get_int64().value(), 3);
    EXPECT_EQ(std::string_view(r["entity"].get_string().value()), "c" + std::to_string(i % 7));
    EXPECT_EQ(r["source_offset"].get_int64().value(), i);
    // Embedded objects, not strings.
    EXPECT_DOUBLE_EQ(r["features"]["amount"].get_double().value(), i + 0.5);
    EXPECT_TRUE(r["features"]["age"].is_null());
    EXPECT_DOUBLE_EQ(r["scores"]["score"].get_double().value(), (i % 10) / 10.0);
    EXPECT_DOUBLE_EQ(r["shadow"]["2"]["score"].get_double().value(), 0.25);
    EXPECT_TRUE(r["_offset"].is_int64());
  }
}

TEST_F(DecisionIndexTest, AnIdLoggedTwiceReturnsBothRecordsOldestFirst) {
  Decision a{.event_id = "dup", .version = 1};
  Decision b{.event_id = "dup", .version = 2};
  ASSERT_TRUE(decision_test::Write(*engine_, "decisions", {a, Decision{.event_id = "other"}, b}).ok());
  DecisionIndexSet set(engine_.get());
  std::string out;
  Result<size_t> n = set.Lookup("decisions", "dup", &out);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, 2u);
  simdjson::dom::parser parser;
  auto recs = Records(parser, out);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0]["version"].get_int64().value(), 1);
  EXPECT_EQ(recs[1]["version"].get_int64().value(), 2);
}

TEST_F(DecisionIndexTest, NewRecordsAreFoundAfterAnEarlierLookup) {
  ASSERT_TRUE(decision_test::Write(*engine_, "decisions", {Decision{.event_id = "a"}}).ok());
  DecisionIndexSet set(engine_.get());
  std::string out;
  ASSERT_TRUE(set.Lookup("decisions", "a", &out).ok());
  EXPECT_EQ(set.Lookup("decisions", "b", &out).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(decision_test::Write(*engine_, "decisions", {Decision{.event_id = "b", .version = 9}}).ok());
  out.clear();
  Result<size_t> n = set.Lookup("decisions", "b", &out);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_NE(out.find("\"version\":9"), std::string::npos) << out;
}

TEST_F(DecisionIndexTest, UnknownStreamNonDecisionStreamAndUnknownIdAreNotFound) {
  ASSERT_TRUE(decision_test::Write(*engine_, "decisions", {Decision{.event_id = "a"}}).ok());
  DecisionIndexSet set(engine_.get());
  std::string out;
  Result<size_t> r = set.Lookup("nope", "a", &out);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("unknown stream"), std::string::npos);
  r = set.Lookup("orders", "a", &out);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("not a decision log"), std::string::npos);
  r = set.Lookup("decisions", "zzz", &out);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message().find("older than"), std::string::npos) << "nothing was evicted";
}

TEST_F(DecisionIndexTest, EvictedIdAnswersOlderThanTheWindow) {
  std::vector<Decision> ds;
  for (int i = 0; i < 10; ++i) ds.push_back(Decision{.event_id = "e" + std::to_string(i)});
  ASSERT_TRUE(decision_test::Write(*engine_, "decisions1", ds).ok());
  auto index = DecisionIndex::Create(engine_.get(), "decisions1", {.entries_max = 3, .read_batch_records = 2});
  ASSERT_TRUE(index.ok());
  std::string out;
  ASSERT_TRUE((*index)->Lookup("e9", &out).ok());
  ASSERT_TRUE((*index)->Lookup("e7", &out).ok());
  Result<size_t> old = (*index)->Lookup("e6", &out);
  EXPECT_EQ(old.status().code(), StatusCode::kNotFound);
  EXPECT_NE(old.status().message().find("older than the indexed window (offset 7"), std::string::npos)
      << old.status().ToString();
  // Incremental eviction: two more records push e7 out.
  ASSERT_TRUE(
      decision_test::Write(*engine_, "decisions1", {Decision{.event_id = "e10"}, Decision{.event_id = "e11"}}).ok());
  ASSERT_TRUE((*index)->Lookup("e11", &out).ok());
  EXPECT_EQ((*index)->Lookup("e8", &out).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE((*index)->Lookup("e9", &out).ok());
}

TEST_F(DecisionIndexTest, ConcurrentLookupsAllSucceed) {
  std::vector<Decision> ds;
  for (int i = 0; i < 200; ++i) ds.push_back(Decision{.event_id = "id" + std::to_string(i)});
  ASSERT_TRUE(decision_test::Write(*engine_, "decisions", ds).ok());
  DecisionIndexSet set(engine_.get());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 200; i += 4) {
        std::string out;
        if (set.Lookup("decisions", "id" + std::to_string(i), &out).ok()) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 200);
}

// The route, through the Router (no sockets).
TEST_F(DecisionIndexTest, RouteAnswersRecordsAnd404s) {
  EXPECT_EQ(ParseTarget("/v1/decisions/decisions/a%2Fb").route, Route::kDecisionGet);
  EXPECT_EQ(ParseTarget("/v1/decisions/decisions/a%2Fb").event_id, "a/b");
  EXPECT_EQ(ParseTarget("/v1/decisions/decisions/").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/decisions/decisions").route, Route::kUnknown);
  EXPECT_EQ(RouteLabel(Route::kDecisionGet, "GET"), "decisions_get");

  ASSERT_TRUE(decision_test::Write(*engine_, "decisions", {Decision{.event_id = "a/b", .version = 4}}).ok());
  HttpServerOptions options;
  ServerMetrics metrics;
  Router router(engine_.get(), &options, &metrics);
  auto call = [&](std::string_view method, std::string_view target) {
    HttpReply out;
    out.status = 0;
    router.Handle(method, ParseTarget(target), "", 0, [&](HttpReply r) { out = std::move(r); });
    return out;
  };
  HttpReply r = call("GET", "/v1/decisions/decisions/a%2Fb");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(std::string_view(doc["event_id"].get_string().value()), "a/b");
  EXPECT_EQ(doc["records"].get_array().size(), 1u);
  EXPECT_EQ(doc["records"].at(0)["version"].get_int64().value(), 4);
  EXPECT_EQ(call("GET", "/v1/decisions/decisions/zz").status, 404);
  EXPECT_EQ(call("GET", "/v1/decisions/orders/a").status, 404);
  EXPECT_EQ(call("GET", "/v1/decisions/nope/a").status, 404);
  EXPECT_EQ(call("POST", "/v1/decisions/decisions/a%2Fb").status, 405);
}

}  // namespace
}  // namespace impulse::server
