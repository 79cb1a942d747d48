#include "server/router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>

#include "server/fake_engine.h"
#include "server/http_server.h"
#include "server/json_writer.h"

namespace impulse::server {
namespace {

// Retention moves partition 0's start from 0 to 5 right after the request looked at the stream
// (the first ListStreams); records stay readable up to 10.
class RetentionRaceEngine : public FakeEngine {
 public:
  std::vector<StreamInfo> ListStreams() const override {
    std::vector<StreamInfo> out = FakeEngine::ListStreams();
    out[0].partitions[0].start_offset = calls_++ == 0 ? 0 : 5;
    out[0].partitions[0].end_offset = 10;
    return out;
  }
  Result<RowsRead> ReadRows(std::string_view, uint32_t partition, uint64_t from, uint32_t) const override {
    if (partition == 0 && from < 5) return OutOfRange("offset " + std::to_string(from) + " is before the start (5)");
    return OutOfRange("past the end");
  }
  Status WaitReadable(std::string_view, std::vector<uint64_t> positions, uint32_t, ReadableCallback done) override {
    done(positions[0] < 10);  // readable at once, as the real engine answers inline
    return Status::OK();
  }

 private:
  mutable std::atomic<int> calls_{0};
};

// A long-polled read of one partition whose position retention removed meanwhile is an error,
// as without wait_ms, and not taken for a read past the end (which waited again, found the
// records readable at once, and read again, recursing until wait_ms passed).
TEST(ReadEvents, OnePartitionWaitBehindTheStartIsAnError) {
  RetentionRaceEngine engine;
  HttpServerOptions options;
  ServerMetrics metrics;
  Router router(&engine, &options, &metrics);
  std::promise<HttpReply> done;
  auto fut = done.get_future();
  const auto start = std::chrono::steady_clock::now();
  router.Handle("GET", ParseTarget("/v1/streams/orders/events?partition=0&from=2&wait_ms=3000"), "", 0,
                [&](HttpReply r) { done.set_value(std::move(r)); });
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  const HttpReply r = fut.get();
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("before the start"), std::string::npos) << r.body;
  EXPECT_TRUE(engine.Stop().ok());
}

// Every read of partition 0 fails on damaged stored data, with the engine's message naming the
// segment file.
class DamagedEngine : public FakeEngine {
 public:
  static constexpr const char* kFile = "/var/lib/impulse/streams/orders/0/00000000000000000000.log";
  Status ReadEvents(std::string_view, uint32_t, uint64_t, uint32_t, std::string*) const override { return Damaged(); }
  Result<RowsRead> ReadRows(std::string_view, uint32_t, uint64_t, uint32_t) const override { return Damaged(); }
  std::vector<StreamInfo> ListStreams() const override {
    std::vector<StreamInfo> out = FakeEngine::ListStreams();
    out[0].partitions[0].end_offset = 10;
    return out;
  }

 private:
  static Status Damaged() { return DataLoss(std::string(kFile) + ": checksum mismatch in frame at byte 40"); }
};

// A read error answers with the stream, partition and offset, never the server's file path.
TEST(ReadEvents, ADamagedRecordIsNamedByStreamPartitionAndOffsetNotFile) {
  DamagedEngine engine;
  HttpServerOptions options;
  ServerMetrics metrics;
  Router router(&engine, &options, &metrics);
  for (const char* target :
       {"/v1/streams/orders/events?partition=0&from=3", "/v1/streams/orders/events?partition=0&from=3&wait_ms=100",
        "/v1/streams/orders/events?cursor=3,0"}) {
    std::promise<HttpReply> done;
    auto fut = done.get_future();
    router.Handle("GET", ParseTarget(target), "", 0, [&](HttpReply r) { done.set_value(std::move(r)); });
    ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready) << target;
    const HttpReply r = fut.get();
    EXPECT_EQ(r.status, 500) << target << ": " << r.body;
    EXPECT_NE(r.body.find("stream orders partition 0 offset 3"), std::string::npos) << target << ": " << r.body;
    EXPECT_NE(r.body.find("DataLoss"), std::string::npos) << target << ": " << r.body;
    EXPECT_EQ(r.body.find("/var/lib"), std::string::npos) << target << ": " << r.body;
  }
  EXPECT_TRUE(engine.Stop().ok());
}

// Query keys and values are decoded as application/x-www-form-urlencoded: %XX a byte, '+' a
// space; a '%' without two hex digits after it is refused naming the parameter.
TEST(DecodeQuery, DecodesEscapesAndPlusAndRefusesMalformedEscapes) {
  std::string error;
  const std::optional<QueryParams> q = DecodeQuery("a=1%2C2&b%5Fc=x+y%2By&&flag&d=%e2%82%AC", &error);
  ASSERT_TRUE(q.has_value()) << error;
  ASSERT_EQ(q->size(), 4U);
  EXPECT_EQ((*q)[0], std::make_pair(std::string("a"), std::string("1,2")));
  EXPECT_EQ((*q)[1], std::make_pair(std::string("b_c"), std::string("x y+y")));
  EXPECT_EQ((*q)[2], std::make_pair(std::string("flag"), std::string()));
  EXPECT_EQ((*q)[3], std::make_pair(std::string("d"), std::string("\xe2\x82\xac")));
  for (const char* bad : {"from=%", "from=1%2", "from=%zz", "x%g1=1", "a=1&cursor=%2"}) {
    error.clear();
    EXPECT_FALSE(DecodeQuery(bad, &error).has_value()) << bad;
    EXPECT_NE(error.find("malformed %-escape"), std::string::npos) << bad << ": " << error;
  }
}

// The routes take the decoded values: an escaped offset reads as the offset, a malformed escape
// is 400.
TEST(ReadEvents, QueryValuesArePercentDecoded) {
  FakeEngine engine;
  HttpServerOptions options;
  ServerMetrics metrics;
  Router router(&engine, &options, &metrics);
  const auto get = [&](const std::string& target) {
    std::promise<HttpReply> done;
    auto fut = done.get_future();
    router.Handle("GET", ParseTarget(target), "", 0, [&](HttpReply r) { done.set_value(std::move(r)); });
    EXPECT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready) << target;
    return fut.get();
  };
  EXPECT_EQ(get("/v1/streams/orders/events?partition=%30&from=%30&limit=1%30").status, 200);
  // The fake engine reads no rows (503): the cursor itself was taken.
  EXPECT_NE(get("/v1/streams/orders/events?cursor=0%2C0").status, 400);
  const HttpReply bad = get("/v1/streams/orders/events?partition=0&from=%3");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("query parameter 'from' has a malformed %-escape"), std::string::npos) << bad.body;
  EXPECT_EQ(get("/v1/streams/orders/events?cursor=0%zz0").status, 400);
  EXPECT_TRUE(engine.Stop().ok());
}

TEST(ParseTarget, RecognisesEachRoute) {
  EXPECT_EQ(ParseTarget("/healthz").route, Route::kHealthz);
  EXPECT_EQ(ParseTarget("/metrics").route, Route::kMetrics);
  EXPECT_EQ(ParseTarget("/v1/streams").route, Route::kListStreams);
  const ParsedTarget t = ParseTarget("/v1/streams/orders/events?partition=1&from=2");
  EXPECT_EQ(t.route, Route::kStreamEvents);
  EXPECT_EQ(t.stream, "orders");
  EXPECT_EQ(t.query, "partition=1&from=2");
  EXPECT_EQ(ParseTarget("/").route, Route::kConsole);
  EXPECT_EQ(ParseTarget("/").asset, "index.html");
  EXPECT_EQ(ParseTarget("/console/app.js?v=1").asset, "app.js");
  EXPECT_EQ(ParseTarget("/consolex").route, Route::kUnknown);
  EXPECT_EQ(RouteLabel(Route::kConsole, "GET"), "console");
}

TEST(ParseTarget, StreamDescribeAndPipelines) {
  const ParsedTarget d = ParseTarget("/v1/streams/a%2Fb");
  EXPECT_EQ(d.route, Route::kStreamDescribe);
  EXPECT_EQ(d.stream, "a/b");
  EXPECT_EQ(RouteLabel(d.route, "GET"), "stream_describe");
  EXPECT_EQ(ParseTarget("/v1/pipelines").route, Route::kPipelines);
  EXPECT_EQ(ParseTarget("/v1/pipelines/").route, Route::kPipelines);
  EXPECT_EQ(RouteLabel(Route::kPipelines, "GET"), "pipelines");
  EXPECT_EQ(ParseTarget("/v1/streams/").route, Route::kListStreams);
  EXPECT_EQ(ParseTarget("/v1/streams/%zz").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/pipelines/x").route, Route::kUnknown);
  const ParsedTarget r = ParseTarget("/v1/streams/a%2Fb/records?before=3");
  EXPECT_EQ(r.route, Route::kStreamRecords);
  EXPECT_EQ(r.stream, "a/b");
  EXPECT_EQ(r.query, "before=3");
  EXPECT_EQ(RouteLabel(r.route, "DELETE"), "delete_records");
  EXPECT_EQ(ParseTarget("/v1/streams/a/recordz").route, Route::kUnknown);
}

TEST(CheckTransferCoding, OnlyChunkedOnceIsDecoded) {
  EXPECT_FALSE(CheckTransferCoding(""));
  EXPECT_FALSE(CheckTransferCoding("chunked"));
  EXPECT_FALSE(CheckTransferCoding(" Chunked ,"));  // case-insensitive; empty list elements ignored
  for (const char* te : {"gzip, chunked", "gzip", "identity", "chunked, deflate", "x-custom"}) {
    auto r = CheckTransferCoding(te);
    ASSERT_TRUE(r) << te;
    EXPECT_EQ(r->status, 501) << te;
  }
  auto twice = CheckTransferCoding("chunked, chunked");
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->status, 400);
}

TEST(ParseTarget, DecodesPercentEscapesInStreamName) {
  EXPECT_EQ(ParseTarget("/v1/streams/a%2Fb%20c/events").stream, "a/b c");
}

TEST(ParseTarget, RejectsMalformedPaths) {
  EXPECT_EQ(ParseTarget("/v1/streams//events").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/streams/x/events/extra").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/streams/%zz/events").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/v1/streams/%4/events").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("/nope").route, Route::kUnknown);
  EXPECT_EQ(ParseTarget("").route, Route::kUnknown);
}

IngestResult Counts(uint64_t accepted, uint64_t rejected) {
  IngestResult r;
  r.accepted = accepted;
  r.rejected = rejected;
  return r;
}

TEST(IngestReply, StatusFollowsAcceptedAndRejectedCounts) {
  EXPECT_EQ(IngestReply(Counts(3, 0)).status, 200);
  EXPECT_EQ(IngestReply(Counts(3, 1)).status, 207);
  EXPECT_EQ(IngestReply(Counts(0, 1)).status, 422);
  EXPECT_EQ(IngestReply(Counts(0, 0)).status, 400);
}

TEST(IngestReply, BodyListsLineErrors) {
  IngestResult r = Counts(1, 1);
  r.errors.push_back({7, "field \"amount\": bad"});
  r.errors_truncated = true;
  EXPECT_EQ(IngestReply(r).body,
            "{\"accepted\":1,\"rejected\":1,\"errors\":[{\"line\":7,\"reason\":\"field \\\"amount\\\": bad\"}],"
            "\"errors_truncated\":true}");
}

TEST(ErrorReply, MapsStatusCodesToHttp) {
  EXPECT_EQ(ErrorReply(NotFound("x"), 1).status, 404);
  EXPECT_EQ(ErrorReply(InvalidArgument("x"), 1).status, 400);
  EXPECT_EQ(ErrorReply(ResourceExhausted("x"), 1).status, 507);
  EXPECT_EQ(ErrorReply(Internal("x"), 1).status, 500);
  EXPECT_EQ(ErrorReply(IOError("x"), 1).status, 500);
  const HttpReply busy = ErrorReply(Unavailable("busy"), 3);
  EXPECT_EQ(busy.status, 503);
  ASSERT_TRUE(busy.retry_after_s.has_value());
  EXPECT_EQ(*busy.retry_after_s, 3u);
  EXPECT_FALSE(ErrorReply(NotFound("x"), 3).retry_after_s.has_value());
  EXPECT_EQ(ErrorReply(NotFound("no \"s\""), 1).body, "{\"error\":\"no \\\"s\\\"\",\"code\":\"NotFound\"}");
}

TEST(JsonWriter, EscapesControlCharacters) {
  std::string out;
  AppendJsonString(std::string("a\\b\n\t\x01", 6), &out);
  EXPECT_EQ(out, "\"a\\\\b\\n\\t\\u0001\"");
}

}  // namespace
}  // namespace impulse::server
