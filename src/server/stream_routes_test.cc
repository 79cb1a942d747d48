// Reading back across partitions with a cursor, the long-poll (wait_ms), GET /v1/streams/{s},
// GET /v1/pipelines and DELETE /v1/streams/{s}/records, through the Router (no sockets) against a real embedded engine
// (runtime/decide_test_util.h: tx -> enrich -> tx2 -> score -> scored, decisions, alerts).
// Labelled concurrent: also run under TSan.
#include <utility>  // before Asio with g++ 12 / C++20

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "runtime/decide_test_util.h"
#include "server/http_server.h"
#include "server/router.h"

namespace impulse::server {
namespace {

using decide_test::TxLine;

class StreamRoutesTest : public ::testing::Test {
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
  HttpReply Get(const std::string& target) {
    std::promise<HttpReply> done;
    auto fut = done.get_future();
    router_->Handle("GET", ParseTarget(target), "", 0, [&](HttpReply r) { done.set_value(std::move(r)); });
    return fut.get();
  }
  HttpReply Delete(const std::string& target) {
    std::promise<HttpReply> done;
    auto fut = done.get_future();
    router_->Handle("DELETE", ParseTarget(target), "", 0, [&](HttpReply r) { done.set_value(std::move(r)); });
    return fut.get();
  }
  void Ingest(const std::string& body) {
    std::promise<Status> done;
    auto fut = done.get_future();
    ASSERT_TRUE(engine_->Ingest("tx", body, 0, [&](const Status& s, const IngestResult&) { done.set_value(s); }).ok());
    ASSERT_TRUE(fut.get().ok());
  }

  decide_test::DecideDir dir_;
  std::unique_ptr<Engine> engine_;
  HttpServerOptions options_;
  ServerMetrics metrics_;
  std::unique_ptr<Router> router_;
  simdjson::dom::parser parser_;
};

TEST_F(StreamRoutesTest, MergedReadFollowsTheCursorOverEveryPartitionWithoutGapOrRepeat) {
  std::string body;
  for (int i = 0; i < 40; ++i) body += TxLine("e" + std::to_string(i), i, 10, 1000 + i);
  Ingest(body);
  std::set<std::string> seen;
  std::map<int64_t, int64_t> last_offset;  // per partition
  std::string cursor = "beginning";
  int calls = 0;
  for (bool caught_up = false; !caught_up; ++calls) {
    ASSERT_LT(calls, 100);
    HttpReply r = Get("/v1/streams/tx/events?limit=7&cursor=" + cursor);
    ASSERT_EQ(r.status, 200) << r.body;
    simdjson::dom::element doc;
    ASSERT_EQ(parser_.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
    simdjson::dom::array events = doc["events"].get_array().value();
    EXPECT_LE(events.size(), 7u);
    for (simdjson::dom::element e : events) {
      EXPECT_TRUE(seen.insert(std::string(e["id"].get_string().value())).second) << "repeated: " << r.body;
      const int64_t p = e["_partition"].get_int64().value();
      const int64_t off = e["_offset"].get_int64().value();
      if (last_offset.count(p) != 0) {
        EXPECT_GT(off, last_offset[p]) << "offset order within a partition";
      }
      last_offset[p] = off;
    }
    cursor = std::string(doc["cursor"].get_string().value());
    caught_up = doc["caught_up"].get_bool().value();
    EXPECT_EQ(doc["end_offsets"].get_array().size(), 4u);
    EXPECT_EQ(doc["skipped"].get_int64().value(), 0);
  }
  EXPECT_EQ(seen.size(), 40u);
  EXPECT_GE(calls, 6);                // 40 events at 7 a call
  EXPECT_GT(last_offset.size(), 1u);  // they came from several partitions
  // The final cursor is the partitions' ends; "end" resolves to the same.
  HttpReply at_end = Get("/v1/streams/tx/events?cursor=end");
  ASSERT_EQ(at_end.status, 200);
  simdjson::dom::element doc;
  ASSERT_EQ(parser_.parse(at_end.body).get(doc), simdjson::SUCCESS);
  EXPECT_EQ(std::string(doc["cursor"].get_string().value()), cursor);
  EXPECT_EQ(doc["events"].get_array().size(), 0u);
}

TEST_F(StreamRoutesTest, BadReadParametersAre400NamingTheParameter) {
  Ingest(TxLine("a", 1, 10, 1000));
  struct Case {
    const char* query;
    const char* says;
  };
  for (const Case& c : {Case{"cursor=1,2", "'cursor' has 2 offsets"}, Case{"cursor=0,0,0,x", "'cursor' entry 3"},
                        Case{"cursor=0,0,0,0,0", "'cursor' has more than 4"},
                        Case{"cursor=99,0,0,0", "'cursor' offset 99 of partition 0 is past its end"},
                        Case{"cursor=", "'cursor' entry 0"}, Case{"from=0", "'from' needs 'partition'"},
                        Case{"partition=0&from=0&cursor=end", "exclude each other"},
                        Case{"wait_ms=30001", "'wait_ms' must be in [0, 30000]"},
                        Case{"wait_ms=soon", "'wait_ms' must be an unsigned integer"},
                        Case{"cursor=end&cursor=end", "'cursor' given more than once"},
                        Case{"curser=end", "unknown query parameter 'curser'"}}) {
    HttpReply r = Get(std::string("/v1/streams/tx/events?") + c.query);
    EXPECT_EQ(r.status, 400) << c.query;
    EXPECT_NE(r.body.find(c.says), std::string::npos) << c.query << ": " << r.body;
  }
  HttpReply unknown = Get("/v1/streams/txx/events?cursor=end");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("unknown stream 'txx' (did you mean 'tx'?)"), std::string::npos) << unknown.body;
  HttpReply describe_unknown = Get("/v1/streams/scord");
  EXPECT_EQ(describe_unknown.status, 404);
  EXPECT_NE(describe_unknown.body.find("did you mean 'scored'"), std::string::npos) << describe_unknown.body;
}

TEST_F(StreamRoutesTest, WaitMsAnswersAsSoonAsAnEventArrives) {
  const auto start = std::chrono::steady_clock::now();
  std::promise<HttpReply> done;
  auto fut = done.get_future();
  router_->Handle("GET", ParseTarget("/v1/streams/tx/events?cursor=end&wait_ms=20000"), "", 0,
                  [&](HttpReply r) { done.set_value(std::move(r)); });
  // Nothing yet: the request waits (the I/O thread is free: Handle returned).
  EXPECT_EQ(fut.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  Ingest(TxLine("late", 7, 10, 5000));
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LT(waited, std::chrono::seconds(10));  // well before wait_ms
  HttpReply r = fut.get();
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::element doc;
  ASSERT_EQ(parser_.parse(r.body).get(doc), simdjson::SUCCESS);
  ASSERT_EQ(doc["events"].get_array().size(), 1u) << r.body;
  EXPECT_EQ(std::string(doc["events"].get_array().at(0)["id"].get_string().value()), "late");
}

TEST_F(StreamRoutesTest, WaitMsWithoutEventsAnswersEmptyAtTheDeadline) {
  const auto start = std::chrono::steady_clock::now();
  HttpReply r = Get("/v1/streams/tx/events?cursor=end&wait_ms=300");
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GE(waited, std::chrono::milliseconds(290));
  EXPECT_LT(waited, std::chrono::seconds(5));
  simdjson::dom::element doc;
  ASSERT_EQ(parser_.parse(r.body).get(doc), simdjson::SUCCESS);
  EXPECT_EQ(doc["events"].get_array().size(), 0u);
  EXPECT_EQ(std::string(doc["cursor"].get_string().value()), "0,0,0,0");
  // One partition, NDJSON, waiting too: answered at the deadline with nothing.
  HttpReply one = Get("/v1/streams/tx/events?partition=2&from=0&wait_ms=50");
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(one.body, "");
}

// A server stopping before its engine answers the waiting reads at once (503), rather than
// holding its stop for their wait_ms.
TEST_F(StreamRoutesTest, StopReadWaitsAnswersWaitingReadsAt503) {
  std::promise<HttpReply> done;
  auto fut = done.get_future();
  router_->Handle("GET", ParseTarget("/v1/streams/tx/events?cursor=end&wait_ms=30000"), "", 0,
                  [&](HttpReply r) { done.set_value(std::move(r)); });
  EXPECT_EQ(fut.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  const auto start = std::chrono::steady_clock::now();
  engine_->StopReadWaits();
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  HttpReply r = fut.get();
  EXPECT_EQ(r.status, 503) << r.body;
  // Reads without a wait still work.
  EXPECT_EQ(Get("/v1/streams/tx/events?cursor=end").status, 200);
}

// Waiting reads hold their connections: at most half of max_connections wait at once, so that
// followers cannot take every connection from ingest and the other routes. Beyond: 503 with
// Retry-After at once; a read with events to return is answered as usual.
TEST_F(StreamRoutesTest, WaitingReadsAreBoundedByHalfOfMaxConnections) {
  options_.max_connections = 4;
  std::vector<std::promise<HttpReply>> done(3);
  std::vector<std::future<HttpReply>> futs;
  for (auto& d : done) futs.push_back(d.get_future());
  for (size_t i = 0; i < 2; ++i) {
    router_->Handle("GET", ParseTarget("/v1/streams/tx/events?cursor=end&wait_ms=20000"), "", 0,
                    [&done, i](HttpReply r) { done[i].set_value(std::move(r)); });
  }
  router_->Handle("GET", ParseTarget("/v1/streams/tx/events?partition=1&from=0&wait_ms=20000"), "", 0,
                  [&done](HttpReply r) { done[2].set_value(std::move(r)); });
  ASSERT_EQ(futs[2].wait_for(std::chrono::seconds(5)), std::future_status::ready);
  HttpReply third = futs[2].get();
  EXPECT_EQ(third.status, 503) << third.body;
  EXPECT_TRUE(third.retry_after_s.has_value());
  EXPECT_NE(third.body.find("max_connections"), std::string::npos) << third.body;
  EXPECT_EQ(futs[0].wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  // An event ends both waits; their slots are free again.
  Ingest(TxLine("w", 7, 10, 5000));
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_EQ(futs[i].wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_EQ(futs[i].get().status, 200);
  }
  EXPECT_EQ(Get("/v1/streams/tx/events?cursor=end&wait_ms=50").status, 200);
}

TEST_F(StreamRoutesTest, OnePartitionWaitReturnsThatPartitionsEvent) {
  std::promise<HttpReply> done;
  auto fut = done.get_future();
  // tx is keyed by customer: find the partition customer 5 goes to first.
  Ingest(TxLine("first", 5, 10, 1000));
  int64_t partition = -1;
  for (int p = 0; p < 4; ++p) {
    HttpReply r = Get("/v1/streams/tx/events?partition=" + std::to_string(p) + "&from=0");
    if (r.body.find("\"first\"") != std::string::npos) partition = p;
  }
  ASSERT_GE(partition, 0);
  router_->Handle("GET",
                  ParseTarget("/v1/streams/tx/events?partition=" + std::to_string(partition) + "&from=1&wait_ms=20000"),
                  "", 0, [&](HttpReply r) { done.set_value(std::move(r)); });
  EXPECT_EQ(fut.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  Ingest(TxLine("second", 5, 10, 2000));
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  HttpReply r = fut.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/x-ndjson");
  EXPECT_NE(r.body.find("\"_offset\":1,\"_partition\":" + std::to_string(partition)), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"second\""), std::string::npos) << r.body;
}

TEST_F(StreamRoutesTest, DescribeNamesFieldsPartitionsReadersWritersAndRejections) {
  Ingest(TxLine("a", 1, 10, 1000) + "{\"id\":\"b\",\"customer\":\"x\"}\n" + TxLine("c", 2, 10, 1000));
  HttpReply r = Get("/v1/streams/tx");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::element doc;
  ASSERT_EQ(parser_.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(doc["fields"].get_array().size(), 4u);
  EXPECT_EQ(std::string(doc["fields"].get_array().at(2)["type"].get_string().value()), "double");
  EXPECT_EQ(std::string(doc["key"].get_string().value()), "customer");
  EXPECT_EQ(std::string(doc["event_time"].get_string().value()), "ts");
  EXPECT_TRUE(doc["ingest"].get_bool().value());
  EXPECT_EQ(doc["partitions"].get_array().size(), 4u);
  EXPECT_EQ(doc["records"].get_int64().value(), 2);
  EXPECT_EQ(doc["events_rejected"].get_int64().value(), 1);
  EXPECT_TRUE(doc["retention"]["ms"].is_null());
  EXPECT_EQ(doc["written_by"].get_array().size(), 0u);
  std::set<std::string> readers;
  for (auto x : doc["read_by"].get_array()) readers.insert(std::string(x.get_string().value()));
  EXPECT_EQ(readers, (std::set<std::string>{"enrich", "approve"}));

  HttpReply decisions = Get("/v1/streams/decisions");  // a side output of score
  ASSERT_EQ(decisions.status, 200);
  EXPECT_NE(decisions.body.find("\"ingest\":false"), std::string::npos) << decisions.body;
  EXPECT_NE(decisions.body.find("\"written_by\":[\"score\"]"), std::string::npos) << decisions.body;
  HttpReply tx2 = Get("/v1/streams/tx2");
  EXPECT_NE(tx2.body.find("\"written_by\":[\"enrich\"],\"read_by\":[\"score\"]"), std::string::npos) << tx2.body;
}

TEST_F(StreamRoutesTest, PipelinesListSourcesSinksLagAndWatermark) {
  std::string body;
  for (int i = 0; i < 20; ++i) body += TxLine("p" + std::to_string(i), i, 10, 1'700'000'000'000 + i);
  Ingest(body);
  ASSERT_TRUE(engine_->WaitForPipelines(20'000).ok());
  HttpReply r = Get("/v1/pipelines");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::element doc;
  ASSERT_EQ(parser_.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  simdjson::dom::array ps = doc["pipelines"].get_array().value();
  ASSERT_EQ(ps.size(), 3u);
  simdjson::dom::element enrich = ps.at(0);
  EXPECT_EQ(std::string(enrich["name"].get_string().value()), "enrich");
  EXPECT_EQ(std::string(enrich["sources"].get_array().at(0).get_string().value()), "tx");
  EXPECT_EQ(std::string(enrich["sink"]["kind"].get_string().value()), "stream");
  EXPECT_EQ(std::string(enrich["sink"]["name"].get_string().value()), "tx2");
  EXPECT_EQ(enrich["lag"].get_int64().value(), 0);
  EXPECT_EQ(enrich["events_in"].get_int64().value(), 20);
  simdjson::dom::array inputs = enrich["inputs"].get_array().value();
  ASSERT_EQ(inputs.size(), 4u);  // one per partition of tx
  int64_t processed = 0;
  for (auto in : inputs) {
    EXPECT_EQ(in["lag"].get_int64().value(), 0);
    EXPECT_EQ(in["processed_offset"].get_int64().value(), in["end_offset"].get_int64().value());
    processed += in["processed_offset"].get_int64().value();
  }
  EXPECT_EQ(processed, 20);
  EXPECT_EQ(ps.at(2)["sources"].get_array().size(), 2u);  // approve: a join reads tx and ok
  EXPECT_EQ(ps.at(2)["inputs"].get_array().size(), 8u);
  EXPECT_NE(std::string_view(ps.at(1)["side_streams"].get_array().at(0).get_string().value()), "");
}

// Deleting below the end removes every record of the stream (the active segment is sealed
// first); offsets go on from where they were; a reader behind the new start is told how many
// it skipped; the pipeline that had read them goes on with the next events.
TEST_F(StreamRoutesTest, DeleteRecordsBeforeTheEndEmptiesTheStreamAndReadersSkipAhead) {
  std::string body;
  for (int i = 0; i < 20; ++i) body += TxLine("d" + std::to_string(i), i, 10, 1000 + i);
  Ingest(body);
  ASSERT_TRUE(engine_->WaitForPipelines(20'000).ok());
  uint64_t end_sum = 0;
  for (const StreamInfo& s : engine_->ListStreams()) {
    if (s.name != "tx") continue;
    for (const auto& p : s.partitions) end_sum += p.end_offset;
  }
  ASSERT_EQ(end_sum, 20u);

  HttpReply r = Delete("/v1/streams/tx/records?before=1000000");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::element doc;
  ASSERT_EQ(parser_.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(doc["deleted"].get_int64().value(), 20);
  simdjson::dom::array parts = doc["partitions"].get_array().value();
  ASSERT_EQ(parts.size(), 4u);
  for (auto p : parts) {
    EXPECT_EQ(p["old_start_offset"].get_int64().value(), 0);
    EXPECT_EQ(p["new_start_offset"].get_int64().value(), p["end_offset"].get_int64().value()) << r.body;
  }

  // Gone from reads: the merged read from offset 0 skips them, counted.
  HttpReply read = Get("/v1/streams/tx/events?cursor=0,0,0,0");
  ASSERT_EQ(read.status, 200) << read.body;
  ASSERT_EQ(parser_.parse(read.body).get(doc), simdjson::SUCCESS) << read.body;
  EXPECT_EQ(doc["events"].get_array().size(), 0u) << read.body;
  EXPECT_EQ(doc["skipped"].get_int64().value(), 20) << read.body;
  read = Get("/v1/streams/tx/events?cursor=beginning");
  ASSERT_EQ(parser_.parse(read.body).get(doc), simdjson::SUCCESS) << read.body;
  EXPECT_EQ(doc["events"].get_array().size(), 0u) << read.body;

  // New events get the next offsets and the pipeline processes them.
  Ingest(TxLine("after", 3, 10, 2000));
  ASSERT_TRUE(engine_->WaitForPipelines(20'000).ok());
  read = Get("/v1/streams/tx/events?cursor=beginning");
  ASSERT_EQ(parser_.parse(read.body).get(doc), simdjson::SUCCESS) << read.body;
  simdjson::dom::array events = doc["events"].get_array().value();
  ASSERT_EQ(events.size(), 1u) << read.body;
  EXPECT_GT(events.at(0)["_offset"].get_int64().value(), 0) << "offsets are not reused: " << read.body;
  HttpReply pipelines = Get("/v1/pipelines");
  ASSERT_EQ(parser_.parse(pipelines.body).get(doc), simdjson::SUCCESS) << pipelines.body;
  simdjson::dom::element enrich = doc["pipelines"].get_array().at(0);
  EXPECT_EQ(enrich["events_in"].get_int64().value(), 21) << pipelines.body;
  EXPECT_EQ(enrich["lag"].get_int64().value(), 0) << pipelines.body;
}

// One partition only; a `before` inside the active segment deletes nothing (whole segments
// only) and says so with an unchanged start.
TEST_F(StreamRoutesTest, DeleteRecordsOfOnePartitionInWholeSegmentsOnly) {
  std::string body;
  for (int i = 0; i < 20; ++i) body += TxLine("p" + std::to_string(i), i, 10, 1000 + i);
  Ingest(body);
  std::vector<uint64_t> ends;
  for (const StreamInfo& s : engine_->ListStreams()) {
    if (s.name != "tx") continue;
    for (const auto& p : s.partitions) ends.push_back(p.end_offset);
  }
  ASSERT_EQ(ends.size(), 4u);
  ASSERT_GT(ends[1], 1u);
  HttpReply r = Delete("/v1/streams/tx/records?before=1&partition=1");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::element doc;
  ASSERT_EQ(parser_.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  ASSERT_EQ(doc["partitions"].get_array().size(), 1u);
  EXPECT_EQ(doc["partitions"].get_array().at(0)["new_start_offset"].get_int64().value(), 0) << r.body;
  EXPECT_EQ(doc["deleted"].get_int64().value(), 0);

  r = Delete("/v1/streams/tx/records?partition=1&before=" + std::to_string(ends[1]));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(parser_.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  simdjson::dom::element p1 = doc["partitions"].get_array().at(0);
  EXPECT_EQ(p1["partition"].get_int64().value(), 1);
  EXPECT_EQ(p1["new_start_offset"].get_uint64().value(), ends[1]);
  for (const StreamInfo& s : engine_->ListStreams()) {
    if (s.name != "tx") continue;
    EXPECT_EQ(s.partitions[0].start_offset, 0u);  // the other partitions keep theirs
    EXPECT_EQ(s.partitions[1].start_offset, ends[1]);
  }
}

TEST_F(StreamRoutesTest, DeleteRecordsRefusalsNameTheProblem) {
  struct Case {
    const char* target;
    int status;
    const char* says;
  };
  for (const Case& c : {Case{"/v1/streams/txx/records?before=1", 404, "did you mean 'tx'"},
                        Case{"/v1/streams/tx/records", 400, "'before' is required"},
                        Case{"/v1/streams/tx/records?before=-1", 400, "'before' must be an unsigned integer"},
                        Case{"/v1/streams/tx/records?before=ten", 400, "'before' must be an unsigned integer"},
                        Case{"/v1/streams/tx/records?before=1&before=2", 400, "'before' given more than once"},
                        Case{"/v1/streams/tx/records?before=1&partition=4", 400, "partition 4: stream tx has 4"},
                        Case{"/v1/streams/tx/records?before=1&partition=x", 400, "'partition' must be"},
                        Case{"/v1/streams/tx/records?before=1&from=0", 400, "unknown query parameter 'from'"},
                        Case{"/v1/streams/tx/records?before=1&internal=yes", 400, "'internal' must be true"},
                        Case{"/v1/streams/_dead_letter/records?before=1&internal=true&internal=true", 400,
                             "'internal' given more than once"},
                        Case{"/v1/streams/_dead_letter/records?before=1", 400, "is internal"}}) {
    HttpReply r = Delete(c.target);
    EXPECT_EQ(r.status, c.status) << c.target << ": " << r.body;
    EXPECT_NE(r.body.find(c.says), std::string::npos) << c.target << ": " << r.body;
  }
  // With internal=true an internal stream's records go like any other's.
  HttpReply internal = Delete("/v1/streams/_dead_letter/records?before=1&internal=true");
  EXPECT_EQ(internal.status, 200) << internal.body;
  HttpReply get = Get("/v1/streams/tx/records?before=1");
  EXPECT_EQ(get.status, 405) << get.body;
  // The same bearer token as every other route (there is no separate admin role).
  options_.bearer_token = "secret";
  auto denied = router_->Precheck(ParseTarget("/v1/streams/tx/records?before=1"), "Bearer wrong", std::nullopt);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->status, 401);
  EXPECT_FALSE(router_->Precheck(ParseTarget("/v1/streams/tx/records?before=1"), "Bearer secret", std::nullopt));
}

}  // namespace
}  // namespace impulse::server
