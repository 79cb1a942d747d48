// POST /v1/pipelines/{p}/reset through the Router (no sockets) against a real embedded engine
// (runtime/decide_test_util.h: tx -> enrich -> tx2 -> score -> scored; approve joins tx and ok).
// Labelled concurrent: also run under TSan.
#include <utility>  // before Asio with g++ 12 / C++20

#include <gtest/gtest.h>
#include <simdjson.h>

#include <future>
#include <string>
#include <vector>

#include "runtime/decide_test_util.h"
#include "server/http_server.h"
#include "server/router.h"

namespace impulse::server {
namespace {

using decide_test::TxLine;

class PipelineRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = dir_.Open(dir_.Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
    router_ = std::make_unique<Router>(engine_.get(), &options_, &metrics_);
  }
  void TearDown() override {
    router_.reset();
    if (engine_) {
      EXPECT_TRUE(engine_->Stop().ok());
    }
  }
  HttpReply Send(const std::string& method, const std::string& target) {
    std::promise<HttpReply> done;
    auto fut = done.get_future();
    router_->Handle(method, ParseTarget(target), "", 0, [&](HttpReply r) { done.set_value(std::move(r)); });
    return fut.get();
  }
  void Ingest(const std::string& body) {
    std::promise<Status> done;
    auto fut = done.get_future();
    ASSERT_TRUE(engine_->Ingest("tx", body, 0, [&](const Status& s, const IngestResult&) { done.set_value(s); }).ok());
    ASSERT_TRUE(fut.get().ok());
  }
  std::vector<std::string> Strings(simdjson::dom::element doc, const char* key) {
    std::vector<std::string> out;
    simdjson::dom::array a;
    if (doc[key].get(a)) return out;
    for (simdjson::dom::element e : a) out.emplace_back(std::string_view(e.get_string().value()));
    return out;
  }

  decide_test::DecideDir dir_;
  std::unique_ptr<Engine> engine_;
  HttpServerOptions options_;
  ServerMetrics metrics_;
  std::unique_ptr<Router> router_;
  simdjson::dom::parser parser_;
};

TEST_F(PipelineRoutesTest, ResetToBeginningAnswersThePositionsMovedAndTheConsequences) {
  std::string body;
  for (int i = 0; i < 20; ++i) body += TxLine("e" + std::to_string(i), i, 10, 1000 + i);
  Ingest(body);
  ASSERT_TRUE(engine_->WaitForPipelines(10'000).ok());
  HttpReply r = Send("POST", "/v1/pipelines/enrich/reset?to=beginning");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::element doc;
  ASSERT_EQ(parser_.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(std::string_view(doc["pipeline"].get_string().value()), "enrich");
  EXPECT_EQ(std::string_view(doc["to"].get_string().value()), "beginning");
  EXPECT_GT(doc["checkpoint"].get_uint64().value(), 0u);
  simdjson::dom::array inputs = doc["inputs"].get_array().value();
  ASSERT_EQ(inputs.size(), 4u) << r.body;  // tx has 4 partitions
  uint64_t before = 0;
  for (simdjson::dom::element in : inputs) {
    EXPECT_EQ(std::string_view(in["stream"].get_string().value()), "tx");
    EXPECT_EQ(in["after"].get_uint64().value(), 0u);
    before += in["before"].get_uint64().value();
  }
  EXPECT_EQ(before, 20u);
  EXPECT_EQ(doc["records_again"].get_uint64().value(), 20u);
  EXPECT_EQ(Strings(doc, "outputs"), std::vector<std::string>{"tx2"});
  EXPECT_EQ(Strings(doc, "downstream"), std::vector<std::string>{"score"});  // not reset with it
  const std::vector<std::string> consequences = Strings(doc, "consequences");
  ASSERT_EQ(consequences.size(), 3u) << r.body;
  EXPECT_NE(consequences[1].find("written again after those already in tx2"), std::string::npos) << r.body;
  EXPECT_NE(consequences[2].find("not reset: score"), std::string::npos) << r.body;
  // The outputs are written again after the first ones.
  ASSERT_TRUE(engine_->WaitForPipelines(10'000).ok());
  uint64_t tx2 = 0;
  for (const StreamInfo& s : engine_->ListStreams()) {
    if (s.name != "tx2") continue;
    for (const PartitionInfo& p : s.partitions) {
      std::string out;
      ASSERT_TRUE(engine_->ReadEvents("tx2", p.partition, p.start_offset, 1000, &out).ok());
      for (char c : out) tx2 += c == '\n' ? 1 : 0;
    }
  }
  EXPECT_EQ(tx2, 40u);
}

TEST_F(PipelineRoutesTest, AJoinResetMovesBothSidesAndToEndSkips) {
  std::string body;
  for (int i = 0; i < 8; ++i) body += TxLine("e" + std::to_string(i), i, 10, 1000 + i);
  Ingest(body);
  ASSERT_TRUE(engine_->WaitForPipelines(10'000).ok());
  HttpReply r = Send("POST", "/v1/pipelines/approve/reset?to=end");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::element doc;
  ASSERT_EQ(parser_.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  simdjson::dom::array inputs = doc["inputs"].get_array().value();
  ASSERT_EQ(inputs.size(), 8u) << r.body;  // tx's 4 partitions, then ok's
  size_t i = 0;
  for (simdjson::dom::element in : inputs) {
    EXPECT_EQ(std::string_view(in["stream"].get_string().value()), i < 4 ? "tx" : "ok") << r.body;
    EXPECT_EQ(in["partition"].get_uint64().value(), i % 4) << r.body;
    EXPECT_GE(in["after"].get_uint64().value(), in["before"].get_uint64().value()) << r.body;
    ++i;
  }
  EXPECT_EQ(doc["records_again"].get_uint64().value(), 0u);
  const std::vector<std::string> consequences = Strings(doc, "consequences");
  ASSERT_EQ(consequences.size(), 2u) << r.body;
  EXPECT_NE(consequences[1].find("skipped"), std::string::npos) << r.body;
}

TEST_F(PipelineRoutesTest, RefusalsNameTheProblem) {
  HttpReply r = Send("POST", "/v1/pipelines/enrch/reset?to=end");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("did you mean 'enrich'"), std::string::npos) << r.body;
  r = Send("POST", "/v1/pipelines/enrich/reset");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("'to' is required"), std::string::npos) << r.body;
  r = Send("POST", "/v1/pipelines/enrich/reset?to=middle");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("beginning or end"), std::string::npos) << r.body;
  r = Send("POST", "/v1/pipelines/enrich/reset?to=end&to=end");
  EXPECT_EQ(r.status, 400) << r.body;
  r = Send("POST", "/v1/pipelines/enrich/reset?to=end&force=1");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("unknown query parameter 'force'"), std::string::npos) << r.body;
  r = Send("GET", "/v1/pipelines/enrich/reset?to=end");
  EXPECT_EQ(r.status, 405) << r.body;
  // The query is decoded as every route's (DecodeQuery): a malformed escape is a 400 naming the
  // parameter, and '%XX' / '+' decode before 'to' is compared.
  r = Send("POST", "/v1/pipelines/enrich/reset?to=%zz");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("malformed %-escape"), std::string::npos) << r.body;
  r = Send("POST", "/v1/pipelines/enrich/reset?to=en+d");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("got 'en d'"), std::string::npos) << r.body;
  EXPECT_EQ(RouteLabel(ParseTarget("/v1/pipelines/enrich/reset").route, "POST"), "pipeline_reset");
  // End of input: no checkpoint can be taken, so no reset either (409, nothing changed).
  ASSERT_TRUE(engine_->EndOfInput("tx").ok());
  r = Send("POST", "/v1/pipelines/enrich/reset?to=end");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("nothing changed"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace impulse::server
