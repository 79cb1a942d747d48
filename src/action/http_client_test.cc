// The HTTP client against the RecordingHttpServer, and the retry helpers of internal.h.
#include "action/http_client.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "action/internal.h"
#include "action/recording_server.h"

namespace impulse::action {
namespace {

// Runs one request on a private io_context and returns its response.
HttpResponse RunRequest(HttpRequest req) {
  boost::asio::io_context io;
  std::optional<HttpResponse> out;
  AsyncRequest(io, std::move(req), [&](HttpResponse r) { out = std::move(r); });
  io.run();
  IMPULSE_CHECK(out.has_value());
  return std::move(*out);
}

TEST(ParseHttpUrl, Forms) {
  auto u = ParseHttpUrl("http://example.com:8080/a/b?c=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->target, "/a/b?c=1");
  u = ParseHttpUrl("HTTP://h");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/");
  u = ParseHttpUrl("http://[::1]:9/x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9");
  EXPECT_EQ(ParseHttpUrl("https://h/").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://:80/").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://h:0/").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://h:99999/").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://h:x/").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://u@h/").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://h/a\r\nX: 1").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://h/a b").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl(std::string("http://h/a\0b", 12)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://h/\x7f").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://h/caf\xc3\xa9").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ParseHttpUrl("http://h/caf%C3%A9?q=a%20b").ok());
}

TEST(HeaderSyntax, TokensAndValues) {
  EXPECT_TRUE(CheckHeaderName("X-Api_Key.v1!#$%&'*+^`|~").ok());
  for (std::string_view bad : {"", "X A", "X-A:", "X\r\nY", "X(A)", "X\"A", "caf\xc3\xa9"}) {
    EXPECT_EQ(CheckHeaderName(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(CheckHeaderValue("X", "a b\tc \xc3\xa9 !~").ok());
  EXPECT_TRUE(CheckHeaderValue("X", "").ok());
  for (std::string_view bad : std::initializer_list<std::string_view>{"v\r\nX-Injected-Hdr: 1", "v\n", "v\r",
                                                                      std::string_view("v\0w", 3), "\x01", "\x7f"}) {
    EXPECT_EQ(CheckHeaderValue("X", bad).code(), StatusCode::kInvalidArgument) << bad;
  }
}

// A header value or URL that would add a header or split the request never reaches the wire,
// whoever built it (spec validation is one gate; a value computed at run time meets this one).
TEST(HttpClient, InjectedHeaderNeverReachesTheWire) {
  auto server = RecordingHttpServer::Start();
  ASSERT_TRUE(server.ok());
  HttpRequest req;
  req.url = (*server)->url("/p");
  req.headers["X-A"] = "v\r\nX-Injected-Hdr: 1";
  HttpResponse res = RunRequest(req);
  EXPECT_EQ(res.error.code(), StatusCode::kInvalidArgument) << res.error.ToString();
  req.headers.clear();
  req.headers["X A"] = "v";
  res = RunRequest(req);
  EXPECT_EQ(res.error.code(), StatusCode::kInvalidArgument) << res.error.ToString();
  req.headers.clear();
  req.url = (*server)->url("/p\r\nX-Injected-Hdr: 1\r\nX-B:");
  res = RunRequest(req);
  EXPECT_EQ(res.error.code(), StatusCode::kInvalidArgument) << res.error.ToString();
  EXPECT_TRUE((*server)->requests().empty());
}

TEST(HttpClient, RoundTrip) {
  auto server = RecordingHttpServer::Start([](const RecordedRequest& r) {
    ScriptedReply reply = ScriptedReply::Status(201, "echo:" + r.body);
    reply.headers["Retry-After"] = "7";
    return reply;
  });
  ASSERT_TRUE(server.ok());
  HttpRequest req;
  req.url = (*server)->url("/p?q=1");
  req.headers["X-Test"] = "v";
  req.body = "hello";
  HttpResponse res = RunRequest(req);
  ASSERT_TRUE(res.error.ok()) << res.error.ToString();
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.body, "echo:hello");
  EXPECT_EQ(res.Header("retry-after"), "7");
  auto reqs = (*server)->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/p?q=1");
  EXPECT_EQ(reqs[0].Header("x-test"), "v");
}

TEST(HttpClient, TimeoutIsAnError) {
  auto server = RecordingHttpServer::Start([](const RecordedRequest&) { return ScriptedReply::Delay(3'000); });
  ASSERT_TRUE(server.ok());
  HttpRequest req;
  req.url = (*server)->url();
  req.timeout_ms = 50;
  HttpResponse res = RunRequest(req);
  EXPECT_EQ(res.error.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(res.timed_out);
  EXPECT_EQ(res.status, 0);
}

TEST(HttpClient, DroppedConnectionIsAnError) {
  auto server = RecordingHttpServer::Start([](const RecordedRequest&) { return ScriptedReply::Drop(); });
  ASSERT_TRUE(server.ok());
  HttpRequest req;
  req.url = (*server)->url();
  HttpResponse res = RunRequest(req);
  EXPECT_EQ(res.error.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(res.timed_out);
}

TEST(HttpClient, BodyOverTheLimit) {
  auto server = RecordingHttpServer::Start(
      [](const RecordedRequest&) { return ScriptedReply::Status(200, std::string(5000, 'x')); });
  ASSERT_TRUE(server.ok());
  HttpRequest req;
  req.url = (*server)->url();
  req.response_bytes_max = 100;
  HttpResponse res = RunRequest(req);
  EXPECT_EQ(res.error.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(res.status, 200);
}

TEST(HttpClient, BadUrlAndMethod) {
  HttpRequest req;
  req.url = "ftp://x/";
  EXPECT_EQ(RunRequest(req).error.code(), StatusCode::kInvalidArgument);
  req.url = "http://127.0.0.1:1/";
  req.method = "FROB";
  EXPECT_EQ(RunRequest(req).error.code(), StatusCode::kInvalidArgument);
}

TEST(RetryAfter, SecondsAndDates) {
  EXPECT_EQ(ParseRetryAfterMs("120", 0), 120'000);
  EXPECT_EQ(ParseRetryAfterMs(" 0 ", 0), 0);
  // 1994-11-06 08:49:37 UTC = 784111777 s.
  const int64_t at_ms = 784'111'777'000;
  EXPECT_EQ(ParseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", at_ms - 5'000), 5'000);
  EXPECT_EQ(ParseRetryAfterMs("Sunday, 06-Nov-94 08:49:37 GMT", at_ms - 5'000), 5'000);
  EXPECT_EQ(ParseRetryAfterMs("Sun Nov  6 08:49:37 1994", at_ms - 5'000), 5'000);
  EXPECT_EQ(ParseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", at_ms + 5'000), 0);  // in the past
  EXPECT_FALSE(ParseRetryAfterMs("soon", 0).has_value());
  EXPECT_FALSE(ParseRetryAfterMs("-5", 0).has_value());
  EXPECT_FALSE(ParseRetryAfterMs("", 0).has_value());
}

TEST(Backoff, FullJitterStaysUnderTheCap) {
  auto rt = RuntimeInternals::Make(nullptr, /*seed=*/42);
  int64_t max_seen = 0;
  for (int i = 0; i < 1000; ++i) {
    int64_t d = FullJitterBackoffMs(*rt, /*retry=*/3, /*initial_ms=*/100, /*max_ms=*/1'000);
    EXPECT_GE(d, 0);
    EXPECT_LE(d, 400);
    max_seen = std::max(max_seen, d);
    EXPECT_LE(FullJitterBackoffMs(*rt, /*retry=*/50, 100, 1'000), 1'000);
  }
  EXPECT_GT(max_seen, 200);  // jittered over the whole range, not stuck at 0
}

}  // namespace
}  // namespace impulse::action
