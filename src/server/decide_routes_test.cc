// POST /v1/streams/{stream}/events?decide=... through the Router (no sockets) against a real
// embedded engine (runtime/decide_test_util.h): the reply carries each event's decision in
// request order, equal to the row in the pipeline's sink stream, and every bad query is a 400
// naming the parameter, before anything is queued. Labelled concurrent: also run under TSan.
#include <utility>  // before Asio with g++ 12 / C++20

#include <gtest/gtest.h>
#include <simdjson.h>

#include <future>

#include "loadgen/loadgen.h"
#include "runtime/decide_test_util.h"
#include "server/http_server.h"
#include "server/router.h"

namespace impulse::server {
namespace {

using decide_test::TxLine;

class DecideRoutesTest : public ::testing::Test {
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
  HttpReply Post(const std::string& target, const std::string& body) {
    std::promise<HttpReply> done;
    auto fut = done.get_future();
    router_->Handle("POST", ParseTarget(target), body, 0, [&](HttpReply r) { done.set_value(std::move(r)); });
    return fut.get();
  }
  // The rows of `stream`, by id, as GET events renders them (without _offset etc.).
  std::string ReadBack(const std::string& stream, const std::string& id) {
    for (const StreamInfo& s : engine_->ListStreams()) {
      if (s.name != stream) continue;
      for (const PartitionInfo& p : s.partitions) {
        std::string out;
        EXPECT_TRUE(engine_->ReadEvents(stream, p.partition, 0, 10'000, &out).ok());
        const size_t at = out.find("\"id\":\"" + id + "\"");
        if (at != std::string::npos) return "{" + out.substr(at, out.find('\n', at) - at);
      }
    }
    return "";
  }

  decide_test::DecideDir dir_;
  std::unique_ptr<Engine> engine_;
  HttpServerOptions options_;
  ServerMetrics metrics_;
  std::unique_ptr<Router> router_;
};

TEST_F(DecideRoutesTest, ReplyCarriesEachEventsDecisionInRequestOrder) {
  const std::string body =
      TxLine("a", 1, 250, 1000) + "not json\n" + TxLine("b", 2, 5000, 1000) + TxLine("c", 3, 10, 1000);
  HttpReply r = Post("/v1/streams/tx/events?decide=score&id=id&timeout_ms=2000", body);
  ASSERT_EQ(r.status, 207) << r.body;  // one line rejected, as a plain ingest answers
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(doc["accepted"].get_int64().value(), 3);
  EXPECT_EQ(doc["rejected"].get_int64().value(), 1);
  EXPECT_EQ(std::string_view(doc["pipeline"].get_string().value()), "score");
  EXPECT_EQ(std::string_view(doc["id_field"].get_string().value()), "id");
  EXPECT_EQ(doc["pending"].get_int64().value(), 1);  // b is filtered out by score
  simdjson::dom::array ds = doc["decisions"].get_array().value();
  ASSERT_EQ(ds.size(), 4u);
  EXPECT_EQ(std::string_view(ds.at(0)["status"].get_string().value()), "decided");
  EXPECT_EQ(std::string_view(ds.at(0)["id"].get_string().value()), "a");
  EXPECT_EQ(ds.at(0)["output"]["fraud_score"].get_double().value(), 250.0);
  EXPECT_EQ(ds.at(0)["rules"].get_array().size(), 1u);
  EXPECT_EQ(std::string_view(ds.at(0)["rules"].at(0).get_string().value()), "big");
  EXPECT_EQ(std::string_view(ds.at(1)["status"].get_string().value()), "rejected");
  EXPECT_EQ(ds.at(1)["line"].get_int64().value(), 2);
  EXPECT_FALSE(std::string_view(ds.at(1)["reason"].get_string().value()).empty());
  EXPECT_EQ(std::string_view(ds.at(2)["status"].get_string().value()), "pending");
  EXPECT_EQ(std::string_view(ds.at(3)["status"].get_string().value()), "decided");
  EXPECT_EQ(ds.at(3)["rules"].get_array().size(), 0u);
  // The output object is the row the sink holds, as GET events renders it.
  ASSERT_TRUE(engine_->WaitForPipelines(10'000).ok());
  const std::string a_reply(simdjson::to_string(ds.at(0)["output"]));
  const std::string a_log = ReadBack("scored", "a");
  simdjson::dom::parser p2;
  simdjson::dom::element logged;
  ASSERT_EQ(p2.parse(a_log).get(logged), simdjson::SUCCESS) << a_log;
  EXPECT_EQ(a_reply, std::string(simdjson::to_string(logged)));
}

TEST_F(DecideRoutesTest, BadQueriesAre400sNamingTheParameterAndQueueNothing) {
  const std::string one = TxLine("q", 1, 10, 1000);
  for (const char* target : {
           "/v1/streams/tx/events?decide=nope",                    // unknown pipeline
           "/v1/streams/tx/events?decide=score&id=nope",           // not a field of tx
           "/v1/streams/tx/events?decide=score&id=ts",             // not in score's output
           "/v1/streams/tx/events?decide=score&timeout_ms=60001",  // over the maximum
           "/v1/streams/tx/events?decide=score&timeout_ms=-1", "/v1/streams/tx/events?decide=score&timeout_ms=1e3",
           "/v1/streams/tx/events?decide=score&decide=score",  // twice
           "/v1/streams/tx/events?decide=",                    // empty
           "/v1/streams/tx/events?id=id",                      // no decide
           "/v1/streams/tx/events?decide=score&wait=1",        // unknown parameter
           "/v1/streams/tx/events?decide=sc%zzre",             // malformed escape
           "/v1/streams/tx/events?decide=approve",             // no event_id to default to
       }) {
    HttpReply r = Post(target, one);
    EXPECT_EQ(r.status, 400) << target << " " << r.body;
    EXPECT_NE(r.body.find("InvalidArgument"), std::string::npos) << target << " " << r.body;
  }
  EXPECT_EQ(Post("/v1/streams/nope/events?decide=score", one).status, 404);
  EXPECT_EQ(Post("/v1/streams/tx/events?decide=score", one + one).status, 400);  // a repeated id
  std::string many;
  for (uint32_t i = 0; i <= DecideOptions::kDecideEventsMax; ++i) many += TxLine("m" + std::to_string(i), i, 1, 1);
  EXPECT_EQ(Post("/v1/streams/tx/events?decide=score", many).status, 413);
  for (const StreamInfo& s : engine_->ListStreams()) {
    if (s.name != "tx") continue;
    for (const PartitionInfo& p : s.partitions) EXPECT_EQ(p.end_offset, 0u) << "nothing queued";
  }
}

// `impulse load --decide`: the load generator asks for the decisions, over real HTTP, and every
// event comes back decided (the report counts those answered pending).
TEST_F(DecideRoutesTest, LoadGeneratorWaitsForTheDecisions) {
  HttpServerOptions so;
  so.port = 0;
  so.io_threads = 2;
  auto server = HttpServer::Start(engine_.get(), so);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  loadgen::LoadOptions o;
  o.port = (*server)->port();
  o.stream = "tx";
  o.connections = 2;
  o.lines_per_request = 10;
  o.total_events = 200;
  o.decide = "score";
  o.decide_id = "id";
  o.decide_timeout_ms = 10'000;
  o.make_line = [](uint64_t seq, std::string* line) {
    *line += TxLine("l" + std::to_string(seq), static_cast<int64_t>(seq % 13), 10, 1000);
    line->pop_back();  // the generator adds the newline
  };
  auto report = loadgen::RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->errors, 0u) << report->first_error;
  EXPECT_EQ(report->accepted, 200u);
  EXPECT_EQ(report->pending, 0u);
  EXPECT_NE(engine_->MetricsText().find("impulse_decide_events_total{state=\"decided\"} 200"), std::string::npos);
  (*server)->Stop();
}

// An event answered late (behind a view's allowed lateness) says so, with the reason, in its
// place; the call has nothing pending.
TEST(DecideReplyTest, ALateEventIsRenderedLateWithItsReason) {
  DecideResult r;
  r.pipeline = "score";
  r.id_field = "id";
  r.schema = Schema({{"id", FieldType::kString, false}});
  r.rows = RowBatch(1);
  r.ingest.accepted = 1;
  EventDecision& e = r.events.emplace_back();
  e.state = EventDecision::State::kLate;
  e.line = 1;
  e.id = "t1";
  e.reason = "behind the watermark";
  const HttpReply reply = DecideReply(r);
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_NE(reply.body.find(R"("decisions":[{"line":1,"id":"t1","status":"late","reason":"behind the watermark"}])"),
            std::string::npos)
      << reply.body;
  EXPECT_NE(reply.body.find(R"("pending":0)"), std::string::npos) << reply.body;
}

}  // namespace
}  // namespace impulse::server
