// End-to-end tests of the HTTP server over loopback, against a FakeEngine.
#include "server/http_server.h"
#include "server/server_test_util.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "server/fake_engine.h"
#include "server/test_http_client.h"

namespace impulse::server {
namespace {

using boost::beast::http::verb;

// Waits (bounded) for a condition that another thread makes true; not a timing assertion.
template <typename F>
bool WaitFor(F cond) {
  // True as soon as cond held once: evaluating it again could catch a later, passing state
  // (a counter that moves on) and fail a wait that succeeded.
  for (int i = 0; i < 5000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    options.port = 0;
    auto server = HttpServer::Start(&engine_, std::move(options));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }
  TestHttpClient Client() { return TestHttpClient(server_->port()); }
  // The value of an unlabelled (or fully labelled) series in the server's metrics; -1 if absent.
  double Metric(const std::string& series) const {
    const std::string text = server_->MetricsText();
    const size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
  }
  // Opens a connection and waits until the server has admitted it (its slot is taken).
  std::unique_ptr<TestHttpClient> Admitted() {
    const double before = Metric("impulse_http_connections_open");
    auto c = std::make_unique<TestHttpClient>(server_->port());
    EXPECT_TRUE(WaitFor([&] { return Metric("impulse_http_connections_open") == before + 1; }));
    return c;
  }
  TestResponse Post(const std::string& body, const std::string& stream = "orders") {
    return Client().Request(verb::post, "/v1/streams/" + stream + "/events", body);
  }

  FakeEngine engine_;  // declared first: outlives the server, drains late completions last
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, HealthzAnswersOk) {
  StartServer();
  const TestResponse r = Client().Request(verb::get, "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
}

TEST_F(HttpServerTest, IngestAllAccepted200) {
  StartServer();
  const TestResponse r = Post("{\"id\":1}\n{\"id\":2}\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"accepted\":2,\"rejected\":0,\"errors\":[],\"errors_truncated\":false}");
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
}

TEST_F(HttpServerTest, IngestSomeRejected207WithLineNumbers) {
  StartServer();
  const TestResponse r = Post("{\"id\":1}\nbad\n{\"id\":3}\nbad");
  EXPECT_EQ(r.status, 207);
  EXPECT_EQ(r.body,
            "{\"accepted\":2,\"rejected\":2,\"errors\":[{\"line\":2,\"reason\":\"bad line\"},"
            "{\"line\":4,\"reason\":\"bad line\"}],\"errors_truncated\":false}");
}

TEST_F(HttpServerTest, IngestAllRejected422) {
  StartServer();
  EXPECT_EQ(Post("bad\nbad\n").status, 422);
}

TEST_F(HttpServerTest, IngestEmptyBody400) {
  StartServer();
  const TestResponse r = Post("");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(engine_.ingest_calls(), 0u);
}

TEST_F(HttpServerTest, IngestUnknownStream404) {
  StartServer();
  const TestResponse r = Post("{}\n", "nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("\"code\":\"NotFound\""), std::string::npos) << r.body;
}

TEST_F(HttpServerTest, IngestBackpressure503WithRetryAfter) {
  StartServer(With([](HttpServerOptions& o) { o.retry_after_s = 7; }));
  engine_.FailNextIngest(Unavailable("queues full"));
  const TestResponse r = Post("{}\n");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Header("Retry-After"), "7");
  EXPECT_NE(r.body.find("\"code\":\"Unavailable\""), std::string::npos) << r.body;
}

TEST_F(HttpServerTest, IngestDiskFull507AtSubmitAndAtCompletion) {
  StartServer();
  engine_.FailNextIngest(ResourceExhausted("disk full"));
  EXPECT_EQ(Post("{}\n").status, 507);
  engine_.FailNextCompletion(ResourceExhausted("disk full"));
  EXPECT_EQ(Post("{}\n").status, 507);
  // Part of a request stored on another shard before one failed: the answer says which lines.
  engine_.FailNextCompletion(ResourceExhausted("disk full"), {1, 3});
  const auto partial = Post("{}\n{}\n{}\n");
  EXPECT_EQ(partial.status, 507);
  EXPECT_NE(partial.body.find("\"stored_lines\":[1,3]}"), std::string::npos) << partial.body;
}

TEST_F(HttpServerTest, IngestOtherErrors500) {
  StartServer();
  engine_.FailNextIngest(Internal("bug"));
  EXPECT_EQ(Post("{}\n").status, 500);
  engine_.FailNextCompletion(IOError("fsync failed"));
  EXPECT_EQ(Post("{}\n").status, 500);
}

TEST_F(HttpServerTest, IngestRepliesOnlyAfterEngineCompletion) {
  StartServer();
  engine_.HoldCompletions();
  TestHttpClient c = Client();
  ASSERT_FALSE(
      c.WriteRaw("POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 3\r\n\r\n{}\n"));
  ASSERT_TRUE(WaitFor([&] { return engine_.held_completions() == 1; }));
  engine_.ReleaseCompletions();
  const TestResponse r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(engine_.ingest_calls(), 1u);
}

TEST_F(HttpServerTest, BodyOverLimitByContentLength413WithoutReadingIt) {
  StartServer(With([](HttpServerOptions& o) { o.max_body_bytes = 100; }));
  TestHttpClient c = Client();
  ASSERT_FALSE(
      c.WriteRaw("POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 101\r\n\r\n"));  // body never sent
  const TestResponse r = c.Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.ServerClosed());
  EXPECT_EQ(engine_.ingest_calls(), 0u);
}

TEST_F(HttpServerTest, BodyOverLimitWhileReadingChunked413) {
  StartServer(With([](HttpServerOptions& o) { o.max_body_bytes = 100; }));
  TestHttpClient c = Client();
  std::string req = "POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) req += "28\r\n" + std::string(40, 'x') + "\r\n";  // 120 bytes
  req += "0\r\n\r\n";
  ASSERT_FALSE(c.WriteRaw(req));
  const TestResponse r = c.Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(engine_.ingest_calls(), 0u);
}

TEST_F(HttpServerTest, ChunkedBodyUnderLimitIsIngested) {
  StartServer(With([](HttpServerOptions& o) { o.max_body_bytes = 100; }));
  TestHttpClient c = Client();
  ASSERT_FALSE(
      c.WriteRaw("POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n4\r\n{}\n{\r\n2\r\n}\n\r\n0\r\n\r\n"));
  const TestResponse r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"accepted\":2"), std::string::npos) << r.body;
}

TEST_F(HttpServerTest, ExpectContinueGets100ThenTheReply) {
  StartServer();
  TestHttpClient c = Client();
  ASSERT_FALSE(
      c.WriteRaw("POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\n"
                 "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
  EXPECT_EQ(c.Read().status, 100);  // sent before the body is read
  ASSERT_FALSE(c.WriteRaw("{}\n"));
  EXPECT_EQ(c.Read().status, 200);
}

TEST_F(HttpServerTest, UnauthenticatedPostWithBodyIsAnsweredAndClosed) {
  StartServer(With([](HttpServerOptions& o) { o.bearer_token = "t"; }));
  TestHttpClient c = Client();
  ASSERT_FALSE(
      c.WriteRaw("POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\n"
                 "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
  const TestResponse r = c.Read();
  EXPECT_EQ(r.status, 401);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.ServerClosed());
  EXPECT_EQ(engine_.ingest_calls(), 0u);
}

TEST_F(HttpServerTest, IdleConnectionIsClosed) {
  StartServer(With([](HttpServerOptions& o) { o.idle_timeout_ms = 20; }));
  TestHttpClient c = Client();
  ASSERT_EQ(c.Request(verb::get, "/healthz").status, 200);
  EXPECT_TRUE(c.ServerClosed());  // blocks until the server gives up on the idle connection
}

TEST_F(HttpServerTest, HeadSendsHeadersOnly) {
  StartServer();
  TestHttpClient c = Client();
  ASSERT_FALSE(c.WriteRaw("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  // A HEAD reply has Content-Length but no body, so the next reply parses cleanly after it.
  std::string raw;
  char buf[4096];
  while (raw.find("ok") == std::string::npos) {
    const auto n = c.ReadSome(buf, sizeof(buf));
    ASSERT_GT(n, 0u);
    raw.append(buf, n);
  }
  EXPECT_EQ(raw.find("HTTP/1.1 200"), 0u);
  EXPECT_NE(raw.find("Content-Length: 2"), std::string::npos);
  EXPECT_NE(raw.find("HTTP/1.1 200", 5), std::string::npos) << raw;
  EXPECT_EQ(raw.substr(raw.size() - 2), "ok");
  EXPECT_EQ(raw.find("ok"), raw.size() - 2);  // the HEAD reply carried no body
}

// The response head is written by hand (http_session.cc): pin its exact bytes.
TEST_F(HttpServerTest, ResponseHeadBytesForHttp11AndHttp10KeepAlive) {
  StartServer();
  engine_.AddFeatureView("v");
  auto exchange = [&](const std::string& request, size_t reply_bytes) {
    TestHttpClient c = Client();
    EXPECT_FALSE(c.WriteRaw(request));
    std::string raw;
    char buf[4096];
    while (raw.size() < reply_bytes) {
      const auto n = c.ReadSome(buf, sizeof(buf));
      if (n == 0) break;
      raw.append(buf, n);
    }
    return raw;
  };
  const std::string body = "{\"views\":[\"v\"]}";
  const std::string head11 =
      "HTTP/1.1 200 OK\r\nServer: impulse\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n";
  EXPECT_EQ(exchange("GET /v1/features HTTP/1.1\r\nHost: x\r\n\r\n", head11.size() + body.size()), head11 + body);
  const std::string head10 =
      "HTTP/1.0 200 OK\r\nServer: impulse\r\nContent-Type: application/json\r\n"
      "Connection: keep-alive\r\nContent-Length: 15\r\n\r\n";
  EXPECT_EQ(exchange("GET /v1/features HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", head10.size() + body.size()),
            head10 + body);
  const std::string close11 =
      "HTTP/1.1 404 Not Found\r\nServer: impulse\r\nContent-Type: application/json\r\n"
      "Connection: close\r\nContent-Length: ";
  const std::string closed = exchange("GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n", 1 << 20);
  EXPECT_EQ(closed.substr(0, close11.size()), close11) << closed;
}

TEST_F(HttpServerTest, ListStreamsDescribesSchemaAndPartitions) {
  StartServer();
  ASSERT_EQ(Post("{\"id\":1}\n").status, 200);
  const TestResponse r = Client().Request(verb::get, "/v1/streams");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "{\"streams\":[{\"name\":\"orders\",\"fields\":["
            "{\"name\":\"id\",\"type\":\"int64\",\"nullable\":false},"
            "{\"name\":\"amount\",\"type\":\"double\",\"nullable\":true},"
            "{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false}],"
            "\"key\":\"id\",\"event_time\":\"ts\",\"partitions\":["
            "{\"partition\":0,\"start_offset\":0,\"end_offset\":1},"
            "{\"partition\":1,\"start_offset\":0,\"end_offset\":0}]}]}");
}

TEST_F(HttpServerTest, ReadEventsPassesThroughEngineNdjson) {
  StartServer();
  ASSERT_EQ(Post("{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n").status, 200);
  TestHttpClient c = Client();
  const TestResponse r = c.Request(verb::get, "/v1/streams/orders/events?partition=0&from=1&limit=2");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/x-ndjson");
  EXPECT_EQ(r.body,
            "{\"_offset\":1,\"_partition\":0,\"raw\":{\"id\":2}}\n"
            "{\"_offset\":2,\"_partition\":0,\"raw\":{\"id\":3}}\n");
  const TestResponse past = c.Request(verb::get, "/v1/streams/orders/events?partition=0&from=50");
  EXPECT_EQ(past.status, 200);
  EXPECT_EQ(past.body, "");
}

TEST_F(HttpServerTest, ReadEventsBadParameters400AndUnknownStream404) {
  StartServer();
  TestHttpClient c = Client();
  const std::string base = "/v1/streams/orders/events";
  EXPECT_EQ(c.Request(verb::get, base + "?from=0").status, 400);               // no partition
  EXPECT_EQ(c.Request(verb::get, base + "?partition=0").status, 400);          // no from
  EXPECT_EQ(c.Request(verb::get, base + "?partition=x&from=0").status, 400);   // not a number
  EXPECT_EQ(c.Request(verb::get, base + "?partition=0&from=-1").status, 400);  // negative
  EXPECT_EQ(c.Request(verb::get, base + "?partition=0&from=0&limit=10001").status, 400);
  EXPECT_EQ(c.Request(verb::get, base + "?partition=0&from=0&limit=0").status, 400);
  EXPECT_EQ(c.Request(verb::get, base + "?partition=0&from=0&color=red").status, 400);
  const TestResponse range = c.Request(verb::get, base + "?partition=2&from=0");
  EXPECT_EQ(range.status, 400);
  EXPECT_NE(range.body.find("\"code\":\"OutOfRange\""), std::string::npos) << range.body;
  EXPECT_EQ(c.Request(verb::get, base + "?partition=0&from=0&limit=10000").status, 200);
  EXPECT_EQ(c.Request(verb::get, "/v1/streams/nope/events?partition=0&from=0").status, 404);
}

TEST_F(HttpServerTest, UnknownRoute404WrongMethod405) {
  StartServer();
  TestHttpClient c = Client();
  EXPECT_EQ(c.Request(verb::get, "/v2/whatever").status, 404);
  EXPECT_EQ(c.Request(verb::delete_, "/v1/streams").status, 405);
  EXPECT_EQ(c.Request(verb::post, "/healthz", "x").status, 405);
  EXPECT_EQ(c.Request(verb::put, "/v1/streams/orders/events", "{}").status, 405);
}

TEST_F(HttpServerTest, MalformedRequest400) {
  StartServer();
  TestHttpClient c = Client();
  ASSERT_FALSE(c.WriteRaw("GARBAGE\r\n\r\n"));
  EXPECT_EQ(c.Read().status, 400);
}

TEST_F(HttpServerTest, BearerTokenRequiredExceptHealthz) {
  StartServer(With([](HttpServerOptions& o) { o.bearer_token = "s3cret"; }));
  TestHttpClient c = Client();
  const TestResponse none = c.Request(verb::get, "/v1/streams");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.Header("WWW-Authenticate"), "Bearer realm=\"impulse\"");
  EXPECT_EQ(c.Request(verb::get, "/v1/streams", "", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(c.Request(verb::get, "/v1/streams", "", {{"Authorization", "Bearer s3cre"}}).status, 401);
  EXPECT_EQ(c.Request(verb::get, "/v1/streams", "", {{"Authorization", "Basic s3cret"}}).status, 401);
  EXPECT_EQ(c.Request(verb::get, "/metrics").status, 401);
  EXPECT_EQ(c.Request(verb::get, "/healthz").status, 200);
  EXPECT_EQ(c.Request(verb::get, "/v1/streams", "", {{"Authorization", "Bearer s3cret"}}).status, 200);
  EXPECT_EQ(c.Request(verb::post, "/v1/streams/orders/events", "{}\n", {{"Authorization", "bearer s3cret"}}).status,
            200);
  EXPECT_EQ(c.Request(verb::post, "/v1/streams/orders/events", "{}\n").status, 401);
  EXPECT_EQ(engine_.ingest_calls(), 1u);
}

// The console's files are served without the token (they hold no data), with headers that keep
// the page to this origin; its data routes still need the token.
TEST_F(HttpServerTest, ConsoleFilesServedWithoutTokenAndWithCsp) {
  StartServer(With([](HttpServerOptions& o) { o.bearer_token = "s3cret"; }));
  TestHttpClient c = Client();
  for (const char* path : {"/", "/console/", "/console/index.html"}) {
    const TestResponse page = c.Request(verb::get, path);
    EXPECT_EQ(page.status, 200) << path;
    EXPECT_EQ(page.Header("Content-Type"), "text/html; charset=utf-8") << path;
    EXPECT_NE(page.body.find("<!doctype html>"), std::string::npos) << path;
    EXPECT_EQ(page.Header("Cache-Control"), "no-cache") << path;
    EXPECT_NE(page.Header("Content-Security-Policy").find("default-src 'none'; script-src 'self'"), std::string::npos);
    EXPECT_EQ(page.Header("X-Content-Type-Options"), "nosniff");
  }
  const TestResponse js = c.Request(verb::get, "/console/vendor/uplot/uPlot.esm.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(js.body.find("export { uPlot as default }"), std::string::npos);
  EXPECT_EQ(c.Request(verb::get, "/console/vendor/uplot/uPlot.min.css").Header("Content-Type"),
            "text/css; charset=utf-8");
  EXPECT_EQ(c.Request(verb::get, "/console/vendor/uplot/LICENSE").Header("Content-Type"), "text/plain; charset=utf-8");
  const TestResponse missing = c.Request(verb::get, "/console/nope.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Header("Content-Security-Policy"), "");
  EXPECT_EQ(c.Request(verb::get, "/console/../metrics").status, 404);
  EXPECT_EQ(c.Request(verb::post, "/", "x").status, 405);
  EXPECT_EQ(c.Request(verb::get, "/metrics").status, 401);
  // Data replies carry none of the console's headers.
  EXPECT_EQ(c.Request(verb::get, "/v1/streams", "", {{"Authorization", "Bearer s3cret"}}).Header("Cache-Control"), "");
}

TEST_F(HttpServerTest, NoAuthConfiguredAcceptsAnyRequest) {
  StartServer();
  EXPECT_EQ(Client().Request(verb::get, "/v1/streams", "", {{"Authorization", "Bearer x"}}).status, 200);
  EXPECT_EQ(Client().Request(verb::get, "/metrics").status, 200);
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  StartServer();
  TestHttpClient c = Client();
  for (int i = 0; i < 5; ++i) {
    const TestResponse r = c.Request(verb::post, "/v1/streams/orders/events", "{\"id\":1}\n");
    ASSERT_EQ(r.status, 200) << i << " " << r.error;
    EXPECT_TRUE(r.keep_alive);
  }
  EXPECT_EQ(c.Request(verb::get, "/healthz").status, 200);
  EXPECT_EQ(engine_.ingest_calls(), 5u);
}

TEST_F(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
  StartServer();
  TestHttpClient c = Client();
  ASSERT_FALSE(
      c.WriteRaw("POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbad\n"
                 "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(c.Read().status, 422);
  EXPECT_EQ(c.Read().status, 200);
  EXPECT_EQ(c.Read().status, 404);
}

constexpr const char* kPostOne = "POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{}\n";
constexpr const char* kPostTwo =
    "POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n{}\n{}\n";

// A request waiting for its ack (the engine's completion, i.e. its fsync) does not stop the
// connection from reading the next ones: they reach the engine before the first is answered,
// and the answers come back in request order, an immediate one (healthz) included.
TEST_F(HttpServerTest, PipelinedRequestsReachTheEngineWhileAnEarlierOneWaitsForItsAck) {
  StartServer();
  engine_.HoldCompletions();
  TestHttpClient c = Client();
  ASSERT_FALSE(c.WriteRaw(std::string(kPostOne) + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + kPostTwo));
  ASSERT_TRUE(WaitFor([&] { return engine_.held_completions() == 2; }));
  EXPECT_EQ(engine_.ingest_calls(), 2u);
  engine_.ReleaseCompletions();
  const TestResponse first = c.Read();
  EXPECT_EQ(first.status, 200);
  EXPECT_NE(first.body.find("\"accepted\":1,"), std::string::npos) << first.body;
  const TestResponse second = c.Read();
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "ok");
  const TestResponse third = c.Read();
  EXPECT_EQ(third.status, 200);
  EXPECT_NE(third.body.find("\"accepted\":2,"), std::string::npos) << third.body;
  EXPECT_TRUE(third.keep_alive);
  EXPECT_EQ(c.Request(verb::get, "/healthz").status, 200);  // and the connection goes on
}

TEST_F(HttpServerTest, PipelinedRequestsPerConnectionAreBounded) {
  StartServer(With([](HttpServerOptions& o) { o.max_pipelined_requests = 2; }));
  engine_.HoldCompletions();
  TestHttpClient c = Client();
  std::string four;
  for (int i = 0; i < 4; ++i) four += kPostOne;
  ASSERT_FALSE(c.WriteRaw(four));
  // The bound is reached once two are unanswered; from then on nothing more is read.
  ASSERT_TRUE(WaitFor([&] { return Metric("impulse_http_pipeline_full_total") == 1; }));
  EXPECT_EQ(engine_.held_completions(), 2u);
  EXPECT_EQ(engine_.ingest_calls(), 2u);
  engine_.ReleaseCompletions();  // completions run at once from here on
  for (int i = 0; i < 4; ++i) EXPECT_EQ(c.Read().status, 200) << i;
  EXPECT_EQ(engine_.ingest_calls(), 4u);
}

TEST_F(HttpServerTest, HalfClosedClientStillGetsItsPipelinedAnswers) {
  StartServer();
  engine_.HoldCompletions();
  TestHttpClient c = Client();
  ASSERT_FALSE(c.WriteRaw(std::string(kPostOne) + kPostTwo));
  c.ShutdownSend();
  ASSERT_TRUE(WaitFor([&] { return engine_.held_completions() == 2; }));
  engine_.ReleaseCompletions();
  EXPECT_EQ(c.Read().status, 200);
  EXPECT_EQ(c.Read().status, 200);
  EXPECT_TRUE(c.ServerClosed());
}

TEST_F(HttpServerTest, PipelinedRequestAfterConnectionCloseIsNotServed) {
  StartServer();
  TestHttpClient c = Client();
  ASSERT_FALSE(c.WriteRaw(
      "POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\n{}\n" +
      std::string(kPostOne)));
  const TestResponse r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.ServerClosed());
  EXPECT_EQ(engine_.ingest_calls(), 1u);
}

// "100 Continue" is a reply too: it waits for the answers of the requests before it.
TEST_F(HttpServerTest, ExpectContinueBehindAPipelinedRequestComesAfterItsAnswer) {
  StartServer();
  engine_.HoldCompletions();
  TestHttpClient c = Client();
  ASSERT_FALSE(c.WriteRaw(std::string(kPostOne) + "POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\n"
                                                  "Expect: 100-continue\r\nContent-Length: 6\r\n\r\n"));
  ASSERT_TRUE(WaitFor([&] { return engine_.held_completions() == 1; }));
  engine_.ReleaseCompletions();
  EXPECT_EQ(c.Read().status, 200);
  EXPECT_EQ(c.Read().status, 100);
  ASSERT_FALSE(c.WriteRaw("{}\n{}\n"));
  const TestResponse r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"accepted\":2,"), std::string::npos) << r.body;
}

// An error in a pipelined request is answered after the earlier answers, then the connection
// closes.
TEST_F(HttpServerTest, MalformedPipelinedRequestIsAnsweredInOrderThenClosed) {
  StartServer();
  engine_.HoldCompletions();
  TestHttpClient c = Client();
  ASSERT_FALSE(c.WriteRaw(std::string(kPostOne) + "BAD REQUEST LINE\r\n\r\n"));
  ASSERT_TRUE(WaitFor([&] { return engine_.held_completions() == 1; }));
  engine_.ReleaseCompletions();
  EXPECT_EQ(c.Read().status, 200);
  const TestResponse bad = c.Read();
  EXPECT_EQ(bad.status, 400);
  EXPECT_FALSE(bad.keep_alive);
  EXPECT_TRUE(c.ServerClosed());
}

TEST_F(HttpServerTest, MetricsHaveEngineAndServerFamilies) {
  StartServer();
  ASSERT_EQ(Post("{}\n").status, 200);
  ASSERT_EQ(Client().Request(verb::get, "/nope").status, 404);
  const TestResponse r = Client().Request(verb::get, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  for (const char* family :
       {"impulse_fake_events_total 1", "# TYPE impulse_http_requests_total counter",
        "impulse_http_requests_total{code=\"200\",route=\"ingest\"} 1",
        "impulse_http_requests_total{code=\"404\",route=\"unknown\"} 1",
        "# TYPE impulse_http_request_duration_seconds histogram",
        "impulse_http_request_duration_seconds_bucket{route=\"ingest\",le=\"+Inf\"} 1", "impulse_http_connections_open",
        "impulse_http_connections_rejected_total 0", "impulse_http_request_body_bytes_total 3"}) {
    EXPECT_NE(r.body.find(family), std::string::npos) << family << "\n" << r.body;
  }
  EXPECT_NE(server_->MetricsText().find("impulse_http_requests_total"), std::string::npos);
}

// Regression: max_connections idle connections used to shut out every new client (closed at
// once), /healthz included, for idle_timeout_ms.
TEST_F(HttpServerTest, AtMaxConnectionsTheOldestIdleConnectionMakesRoom) {
  StartServer(With([](HttpServerOptions& o) { o.max_connections = 4; }));
  std::vector<std::unique_ptr<TestHttpClient>> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(Admitted());          // connected, nothing sent
  ASSERT_EQ(idle[1]->Request(verb::get, "/healthz").status, 200);  // idle again, now the newest
  ASSERT_TRUE(WaitFor([&] { return Metric("impulse_http_connections_idle") == 4; }));
  TestHttpClient fresh = Client();
  const TestResponse r = fresh.Request(verb::get, "/healthz");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(r.keep_alive);             // a regular slot
  EXPECT_TRUE(idle[0]->ServerClosed());  // the oldest idle one was closed for it
  EXPECT_EQ(Metric("impulse_http_connections_shed_total"), 1);
  EXPECT_EQ(Metric("impulse_http_connections_rejected_total"), 0);
  for (size_t i = 1; i < idle.size(); ++i) EXPECT_EQ(idle[i]->Request(verb::get, "/healthz").status, 200) << i;
  EXPECT_EQ(fresh.Request(verb::get, "/healthz").status, 200);
}

// Regression: a connection that had sent one byte was no longer idle, so it could not be shed,
// and connections that each sent one byte held every regular and reserve slot until
// header_timeout_ms: new clients, /healthz included, were closed unanswered.
TEST_F(HttpServerTest, ConnectionsWithAnIncompleteRequestHeadCannotHoldTheSlots) {
  StartServer(With([](HttpServerOptions& o) {
    o.max_connections = 4;
    o.reserve_connections = 2;
    o.header_timeout_ms = 60000;  // the slots are not freed by a timeout during the test
  }));
  std::vector<std::unique_ptr<TestHttpClient>> stalled;
  for (int i = 0; i < 4; ++i) {
    stalled.push_back(Admitted());
    ASSERT_FALSE(stalled.back()->WriteRaw("G"));
  }
  for (int i = 0; i < 4; ++i) {  // as many again: beyond max_connections and the reserve
    stalled.push_back(std::make_unique<TestHttpClient>(server_->port()));
    ASSERT_FALSE(stalled.back()->WriteRaw("G"));
  }
  const TestResponse health = Client().Request(verb::get, "/healthz");
  EXPECT_EQ(health.status, 200) << health.error;
  const TestResponse ingest = Post("{\"id\":1}\n");
  EXPECT_EQ(ingest.status, 200) << ingest.error;
  EXPECT_TRUE(stalled.front()->ServerClosed());  // the oldest went first
  // The 4 late stalled ones and the health check each shed one; the POST sheds one too unless the
  // health check's connection, closed by then, has already freed its slot.
  EXPECT_GE(Metric("impulse_http_connections_shed_total"), 5);
  EXPECT_EQ(Metric("impulse_http_connections_rejected_total"), 0);
  EXPECT_EQ(Metric("impulse_http_connections_reserve_total"), 0);  // shedding made room each time
}

// No connection is idle (each has sent its request head and is mid-body): a new one gets a
// reserve slot, which answers health and metrics and refuses the rest with 503 + Retry-After.
// A reserve slot held by a connection without a complete request head is taken by the next
// client. All counted.
TEST_F(HttpServerTest, AtMaxConnectionsWithNoneIdleTheReserveAnswersHealthAndRefusesTheRest) {
  StartServer(With([](HttpServerOptions& o) {
    o.max_connections = 2;
    o.reserve_connections = 2;
    o.retry_after_s = 3;
  }));
  std::vector<std::unique_ptr<TestHttpClient>> busy;
  for (int i = 0; i < 2; ++i) busy.push_back(Admitted());
  // A connection joins the idle list when its session starts reading, after it is counted open:
  // wait for both, or the wait for none below could pass before either joined (a loaded TSan
  // run then shed a busy one for the next client).
  ASSERT_TRUE(WaitFor([&] { return Metric("impulse_http_connections_idle") == 2; }));
  for (auto& c : busy) {
    ASSERT_FALSE(c->WriteRaw("POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"));
  }
  // A complete request head takes a connection out of the idle list; wait until both are out.
  ASSERT_TRUE(WaitFor([&] { return Metric("impulse_http_connections_idle") == 0; }));
  // One request on a new connection, which is then closed (freeing its reserve slot).
  auto once = [&](verb method, const std::string& target, const std::string& body) {
    TestResponse r = TestHttpClient(server_->port()).Request(method, target, body);
    EXPECT_TRUE(WaitFor([&] { return Metric("impulse_http_connections_open") == 2; }));
    return r;
  };
  const TestResponse h = once(verb::get, "/healthz", "");
  EXPECT_EQ(h.status, 200) << h.error;
  EXPECT_FALSE(h.keep_alive);  // one request per reserve connection
  EXPECT_EQ(once(verb::get, "/metrics", "").status, 200);
  const TestResponse refused = once(verb::post, "/v1/streams/orders/events", "{}\n");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.Header("Retry-After"), "3");
  EXPECT_EQ(engine_.ingest_calls(), 0u);
  EXPECT_EQ(Metric("impulse_http_connections_reserve_total"), 3);
  EXPECT_EQ(Metric("impulse_http_connections_shed_total"), 0);
  // Both reserve slots held mid-header: the next connection takes the oldest one's slot.
  std::vector<std::unique_ptr<TestHttpClient>> stalled;
  for (int i = 0; i < 2; ++i) {
    stalled.push_back(std::make_unique<TestHttpClient>(server_->port()));
    ASSERT_FALSE(stalled.back()->WriteRaw("GET /healthz HTTP/1.1\r\n"));
  }
  ASSERT_TRUE(WaitFor([&] { return Metric("impulse_http_connections_reserve_total") == 5; }));
  const TestResponse after = Client().Request(verb::get, "/healthz");
  EXPECT_EQ(after.status, 200) << after.error;
  EXPECT_TRUE(stalled[0]->ServerClosed());
  EXPECT_EQ(Metric("impulse_http_connections_shed_total"), 1);
  EXPECT_EQ(Metric("impulse_http_connections_rejected_total"), 0);
  // The busy clients finish their requests and are served.
  for (auto& b : busy) {
    ASSERT_FALSE(b->WriteRaw("{}\n"));
    EXPECT_EQ(b->Read().status, 200);
  }
}

// A connected socket made with plain syscalls (one descriptor, no io_context), for tests that
// count descriptors. -1 on failure.
int RawConnect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const timeval timeout{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Out of file descriptors, accept() fails while the client waits in the backlog: the server
// sheds its oldest idle connection to free one and accepts again shortly (instead of spinning
// on the readable listening socket), so the new client is answered.
// Runs in the ThreadSanitizer and plain builds: UBSan checks the first virtual call of a type
// at a call site by writing the object's memory to a pipe, which an exhausted process cannot
// open, and then reports every such call as an invalid object.
TEST_F(HttpServerTest, OutOfDescriptorsTheOldestIdleConnectionMakesRoom) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "UndefinedBehaviorSanitizer (built with ASan here) needs descriptors for its checks";
#endif
  StartServer(With([](HttpServerOptions& o) { o.max_connections = 2; }));
  // Three connections: one shed happens the usual way, two idle connections remain to shed.
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    fds.push_back(RawConnect(server_->port()));
    ASSERT_GE(fds.back(), 0);
    ASSERT_TRUE(WaitFor([&] { return Metric("impulse_http_connections_idle") == std::min(i + 1, 2); }));
  }
  ASSERT_TRUE(WaitFor([&] { return Metric("impulse_http_connections_shed_total") == 1; }));
  // Use up every descriptor under a lowered limit, then free exactly one for the client's
  // socket: the server's accept() has none left.
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, 4096);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;
  for (int fd = ::dup(fds[0]); fd >= 0; fd = ::dup(fds[0])) fillers.push_back(fd);
  ::close(fillers.back());
  fillers.pop_back();
  const int fresh = RawConnect(server_->port());
  const bool accept_failed = WaitFor([&] { return Metric("impulse_http_accept_failures_total") > 0; });
  std::string reply;
  if (fresh >= 0 && accept_failed) {
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    EXPECT_EQ(::write(fresh, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    char buf[512];
    const ssize_t n = ::read(fresh, buf, sizeof(buf));  // SO_RCVTIMEO bounds the wait
    if (n > 0) reply.assign(buf, static_cast<size_t>(n));
  }
  for (int fd : fillers) ::close(fd);
  for (int fd : fds) ::close(fd);
  if (fresh >= 0) ::close(fresh);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_GE(fresh, 0);
  ASSERT_TRUE(accept_failed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  EXPECT_GE(Metric("impulse_http_connections_shed_total"), 2);
}

TEST_F(HttpServerTest, HeaderNotCompleteWithinHeaderTimeoutIsClosedAndCounted) {
  StartServer(With([](HttpServerOptions& o) { o.header_timeout_ms = 50; }));
  auto idle = Admitted();  // idle: idle_timeout_ms (60 s) applies, not the header timeout
  TestHttpClient slow = Client();
  ASSERT_FALSE(slow.WriteRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_TRUE(slow.ServerClosed());
  // The stream closes the socket before the handler that counts runs.
  EXPECT_TRUE(WaitFor([&] { return Metric("impulse_http_connection_timeouts_total{phase=\"header\"}") == 1; }));
  EXPECT_EQ(idle->Request(verb::get, "/healthz").status, 200);
}

TEST_F(HttpServerTest, IdleTimeoutIsCounted) {
  StartServer(With([](HttpServerOptions& o) { o.idle_timeout_ms = 20; }));
  TestHttpClient c = Client();
  EXPECT_TRUE(c.ServerClosed());
  EXPECT_TRUE(WaitFor([&] { return Metric("impulse_http_connection_timeouts_total{phase=\"idle\"}") == 1; }));
}

// Regression: "gzip, chunked" was de-chunked and the gzip ignored, so the compressed bytes were
// ingested as NDJSON lines.
TEST_F(HttpServerTest, UnsupportedTransferCodingIs501AndNotIngested) {
  StartServer();
  for (const char* te : {"gzip, chunked", "deflate", "chunked, gzip"}) {
    TestHttpClient c = Client();
    ASSERT_FALSE(c.WriteRaw(std::string("POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") +
                            te + "\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n"));
    const TestResponse r = c.Read();
    EXPECT_EQ(r.status, 501) << te << ": " << r.body;
    EXPECT_NE(r.body.find("\"code\":\"Unimplemented\""), std::string::npos) << r.body;
    EXPECT_FALSE(r.keep_alive);
  }
  // Two Transfer-Encoding fields are one list: the gzip in the first is seen too.
  TestHttpClient c = Client();
  ASSERT_FALSE(
      c.WriteRaw("POST /v1/streams/orders/events HTTP/1.1\r\nTransfer-Encoding: gzip\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n"));
  const TestResponse two = c.Read();
  EXPECT_EQ(two.status, 501);
  EXPECT_NE(two.body.find("'gzip'"), std::string::npos) << two.body;  // the coding, and only it, is named
  EXPECT_EQ(two.body.find("'x'"), std::string::npos) << two.body;
  EXPECT_EQ(engine_.ingest_calls(), 0u);
}

// Regression: partition=0&partition=1 read partition 1 without a word.
TEST_F(HttpServerTest, DuplicateQueryParameter400NamesIt) {
  StartServer();
  TestHttpClient c = Client();
  const std::string base = "/v1/streams/orders/events";
  for (const char* query :
       {"?partition=0&from=0&partition=1", "?partition=0&from=0&from=0", "?partition=0&from=0&limit=5&limit=6"}) {
    const TestResponse r = c.Request(verb::get, base + query);
    EXPECT_EQ(r.status, 400) << query;
    EXPECT_NE(r.body.find("more than once"), std::string::npos) << r.body;
  }
}

// Regression: an ingest request that alone exceeds an admission bound got 503 + Retry-After
// forever; the engine now says kOutOfRange, which is final: 413 with its reason, no Retry-After.
TEST_F(HttpServerTest, IngestThatCanNeverBeAdmitted413WithReason) {
  StartServer();
  engine_.FailNextIngest(OutOfRange("request holds 3 events for shard 0, over max_inflight_events_per_shard 2"));
  const TestResponse r = Post("{}\n{}\n{}\n");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.Header("Retry-After"), "");
  EXPECT_NE(r.body.find("max_inflight_events_per_shard 2"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"code\":\"OutOfRange\""), std::string::npos) << r.body;
}

// Every error body is valid JSON (UTF-8 included) whatever bytes the path and query hold.
TEST_F(HttpServerTest, ErrorBodiesAreValidJsonForHostilePaths) {
  StartServer();
  simdjson::dom::parser json;
  for (const std::string target :
       {"/v1/streams/%FF/events?partition=0&from=0", "/v1/streams/%C3/events", "/v1/streams/a%00b/events",
        "/v1/streams/\xff\xfe/events?partition=0&from=0", "/v1/streams/orders/events?\xff=1",
        "/v1/streams/orders/events?partition=\xc3&from=0", "/v1/features/%ED%A0%80/e", "/v1/features/v/%F4%90%80%80",
        "/v1/features/%FF:batch", "/v1/decisions/%FF/%C0%AF", "/v2/models/%FF/infer", "/v1/models/%FF/versions/1:load",
        "/\xff"}) {
    for (verb method : {verb::get, verb::post}) {
      TestHttpClient c = Client();
      ASSERT_FALSE(c.WriteRaw(std::string(method == verb::get ? "GET " : "POST ") + target +
                              " HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{}\n"));
      const TestResponse r = c.Read();
      ASSERT_TRUE(r.error.empty()) << target << ": " << r.error;
      if (r.status < 400) continue;
      EXPECT_EQ(json.parse(r.body).error(), simdjson::SUCCESS) << target << " -> " << r.status << " " << r.body;
    }
  }
}

TEST_F(HttpServerTest, EachIoThreadIsItsOwnProducer) {
  StartServer(With([](HttpServerOptions& o) { o.io_threads = 2; }));
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(Post("{}\n").status, 200);
    EXPECT_LT(engine_.last_producer(), 2u);
  }
}

TEST_F(HttpServerTest, StopFinishesInFlightRequest) {
  StartServer();
  engine_.HoldCompletions();
  TestHttpClient c = Client();
  ASSERT_FALSE(c.WriteRaw("POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{}\n"));
  ASSERT_TRUE(WaitFor([&] { return engine_.held_completions() == 1; }));
  std::thread stopper([&] { server_->Stop(); });
  engine_.ReleaseCompletions();
  EXPECT_EQ(c.Read().status, 200);
  stopper.join();
  server_.reset();
  EXPECT_TRUE(c.ServerClosed());
}

TEST_F(HttpServerTest, LateCompletionAfterServerDestroyedIsDropped) {
  StartServer(With([](HttpServerOptions& o) { o.stop_timeout_ms = 10; }));
  engine_.HoldCompletions();
  TestHttpClient c = Client();
  ASSERT_FALSE(c.WriteRaw("POST /v1/streams/orders/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{}\n"));
  ASSERT_TRUE(WaitFor([&] { return engine_.held_completions() == 1; }));
  server_.reset();               // Stop() gives up on the held request after 10 ms
  engine_.ReleaseCompletions();  // the completion finds the gate closed (ASan checks the rest)
  EXPECT_FALSE(c.Read().error.empty());
}

TEST(HttpServerStart, RejectsBadOptions) {
  FakeEngine engine;
  EXPECT_EQ(HttpServer::Start(&engine, With([](HttpServerOptions& o) { o.io_threads = 0; })).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpServer::Start(nullptr, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      HttpServer::Start(&engine, With([](HttpServerOptions& o) { o.max_pipelined_requests = 0; })).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpServer::Start(&engine, With([](HttpServerOptions& o) {
              o.host = "not-an-ip";
              o.port = 0;
            }))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(HttpServerStart, ListensOnAHostName) {
  FakeEngine engine;
  auto srv = HttpServer::Start(&engine, With([](HttpServerOptions& o) {
    o.host = "localhost";
    o.port = 0;
  }));
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  EXPECT_GT((*srv)->port(), 0);
  (*srv)->Stop();
}

TEST(HttpServerStart, PortInUseIsIOError) {
  FakeEngine engine;
  auto first = HttpServer::Start(&engine, With([](HttpServerOptions& o) { o.port = 0; }));
  ASSERT_TRUE(first.ok());
  auto second = HttpServer::Start(&engine, With([&](HttpServerOptions& o) { o.port = (*first)->port(); }));
  EXPECT_EQ(second.status().code(), StatusCode::kIOError);
}

}  // namespace
}  // namespace impulse::server
