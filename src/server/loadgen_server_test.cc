// The load generator against the real server and a FakeEngine.
#include <utility>  // before Asio with g++ 12 / C++20

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "loadgen/loadgen.h"
#include "server/fake_engine.h"
#include "server/http_server.h"
#include "server/server_test_util.h"

namespace impulse::server {
namespace {

using loadgen::LoadOptions;
using loadgen::LoadReport;
using loadgen::RunLoad;

LoadOptions Options(uint16_t port) {
  LoadOptions o;
  o.port = port;
  o.stream = "orders";
  o.connections = 3;
  o.lines_per_request = 10;
  o.total_events = 1005;
  // Every tenth event is malformed (the fake rejects lines containing "bad").
  o.make_line = [](uint64_t seq, std::string* line) {
    if (seq % 10 == 0) {
      line->append("bad");
    } else {
      line->append("{\"id\":").append(std::to_string(seq)).append("}");
    }
  };
  return o;
}

TEST(LoadgenServer, CountsAddUpClosedLoop) {
  FakeEngine engine;
  auto server = HttpServer::Start(&engine, With([](HttpServerOptions& o) {
    o.port = 0;
    o.io_threads = 2;
  }));
  ASSERT_TRUE(server.ok());
  auto report = RunLoad(Options((*server)->port()));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->errors, 0u) << report->first_error;
  EXPECT_EQ(report->requests, 101u);
  EXPECT_EQ(report->events_sent, 1005u);
  EXPECT_EQ(report->rejected, 101u);
  EXPECT_EQ(report->accepted, 904u);
  EXPECT_EQ(report->events_sent, report->accepted + report->rejected);
  EXPECT_EQ(engine.ingest_calls(), 101u);
  EXPECT_GT(report->max_ms, 0.0);
  EXPECT_LE(report->p50_ms, report->p99_ms);
  EXPECT_LE(report->p99_ms, report->max_ms);
}

TEST(LoadgenServer, OpenLoopWithBearerToken) {
  FakeEngine engine;
  auto server = HttpServer::Start(&engine, With([](HttpServerOptions& o) {
    o.port = 0;
    o.bearer_token = "tok";
  }));
  ASSERT_TRUE(server.ok());
  LoadOptions o = Options((*server)->port());
  o.bearer_token = "tok";
  o.total_events = 200;
  o.rate_events_per_s = 20000;  // 10 ms of load
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->errors, 0u) << report->first_error;
  EXPECT_EQ(report->events_sent, report->accepted + report->rejected);
  EXPECT_EQ(report->accepted, 180u);
}

TEST(LoadgenServer, RetriesOn503ThenSucceeds) {
  FakeEngine engine;
  auto server = HttpServer::Start(&engine, With([](HttpServerOptions& o) {
    o.port = 0;
    o.retry_after_s = 0;
  }));
  ASSERT_TRUE(server.ok());
  engine.FailNextIngest(Unavailable("busy"), 2);
  LoadOptions o = Options((*server)->port());
  o.connections = 1;
  o.total_events = 20;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->retries_503, 2u);
  EXPECT_EQ(report->errors, 0u) << report->first_error;
  EXPECT_EQ(report->accepted + report->rejected, 20u);
}

TEST(LoadgenServer, RetriesExhaustedCountAsError) {
  FakeEngine engine;
  auto server = HttpServer::Start(&engine, With([](HttpServerOptions& o) {
    o.port = 0;
    o.retry_after_s = 0;
  }));
  ASSERT_TRUE(server.ok());
  engine.FailNextIngest(Unavailable("busy"), 3);
  LoadOptions o = Options((*server)->port());
  o.connections = 1;
  o.total_events = 20;
  o.max_retries = 2;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->retries_503, 2u);
  EXPECT_EQ(report->errors, 1u);
  EXPECT_EQ(report->events_sent, 20u);
  EXPECT_EQ(report->accepted + report->rejected, 10u);
  EXPECT_NE(report->first_error.find("HTTP 503"), std::string::npos) << report->first_error;
}

TEST(LoadgenServer, HttpErrorsAreCountedNotFatal) {
  FakeEngine engine;
  auto server = HttpServer::Start(&engine, With([](HttpServerOptions& o) { o.port = 0; }));
  ASSERT_TRUE(server.ok());
  LoadOptions o = Options((*server)->port());
  o.stream = "nope";
  o.total_events = 30;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->errors, 3u);
  EXPECT_EQ(report->requests, 0u);
  EXPECT_NE(report->first_error.find("HTTP 404"), std::string::npos) << report->first_error;
}

TEST(LoadgenServer, ReconnectsAfterServerClosesConnection) {
  FakeEngine engine;
  // 413 closes the connection: every request must be sent on a fresh one.
  auto server = HttpServer::Start(&engine, With([](HttpServerOptions& o) { o.max_body_bytes = 50; }));
  ASSERT_TRUE(server.ok());
  LoadOptions o = Options((*server)->port());
  o.connections = 2;
  o.total_events = 100;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->errors, 10u);
  EXPECT_EQ(report->events_sent, 100u);
  EXPECT_EQ(report->accepted, 0u);
  EXPECT_NE(report->first_error.find("HTTP 413"), std::string::npos) << report->first_error;
}

TEST(LoadgenServer, LargeBodyOver413LimitStillReadsTheReply) {
  FakeEngine engine;
  auto server = HttpServer::Start(&engine, With([](HttpServerOptions& o) { o.max_body_bytes = 1000; }));
  ASSERT_TRUE(server.ok());
  LoadOptions o = Options((*server)->port());
  o.connections = 1;
  o.lines_per_request = 500'000;  // ~6 MB per request, more than loopback socket buffers
  o.total_events = 1'000'000;
  auto report = RunLoad(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->errors, 2u);
  EXPECT_NE(report->first_error.find("HTTP 413"), std::string::npos) << report->first_error;
}

TEST(LoadgenServer, NoServerIsUnavailable) {
  uint16_t port = 0;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  auto report = RunLoad(Options(port));
  EXPECT_EQ(report.status().code(), StatusCode::kUnavailable);
}

TEST(LoadgenServer, RejectsBadOptions) {
  LoadOptions o = Options(1);
  o.connections = 0;
  EXPECT_EQ(RunLoad(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(1);
  o.make_line = nullptr;
  EXPECT_EQ(RunLoad(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(1);
  o.stream.clear();
  EXPECT_EQ(RunLoad(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace impulse::server
