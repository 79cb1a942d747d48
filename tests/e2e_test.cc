// End-to-end: the impulse binary, started as a process, driven over HTTP.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "server/test_http_client.h"
#include "tests/engine_process.h"

namespace impulse::e2e {
namespace {

using boost::beast::http::verb;
using server::TestHttpClient;
using server::TestResponse;

std::string QuickstartSpec() { return SourceDir() + "/examples/quickstart/pipeline.yaml"; }

// All events of a stream across its partitions (NDJSON lines).
std::vector<std::string> ReadAll(TestHttpClient& c, const std::string& stream, int partitions,
                                 const std::map<std::string, std::string>& headers = {}) {
  std::vector<std::string> lines;
  for (int p = 0; p < partitions; ++p) {
    uint64_t from = 0;
    while (true) {
      TestResponse r = c.Request(verb::get,
                                 "/v1/streams/" + stream + "/events?partition=" + std::to_string(p) +
                                     "&from=" + std::to_string(from) + "&limit=10000",
                                 "", headers);
      EXPECT_EQ(r.status, 200) << r.body;
      if (r.status != 200 || r.body.empty()) break;
      size_t start = 0;
      while (start < r.body.size()) {
        size_t end = r.body.find('\n', start);
        if (end == std::string::npos) end = r.body.size();
        lines.push_back(r.body.substr(start, end - start));
        start = end + 1;
      }
      // Offsets are not dense in pipeline-written streams (watermark markers are skipped):
      // continue after the last event's _offset.
      const size_t at = lines.back().find("\"_offset\":");
      EXPECT_NE(at, std::string::npos) << lines.back();
      if (at == std::string::npos) break;
      from = std::stoull(lines.back().substr(at + 10)) + 1;
    }
  }
  return lines;
}

// Polls until `stream` holds `n` events or 30 s pass; returns the events.
std::vector<std::string> WaitForEvents(TestHttpClient& c, const std::string& stream, int partitions, size_t n) {
  std::vector<std::string> lines;
  for (int i = 0; i < 3000; ++i) {
    lines = ReadAll(c, stream, partitions);
    if (lines.size() >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return lines;
}

class E2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("e2e");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(E2E, MixedRequestAcceptsValidLinesAndDeadLettersTheRest) {
  EngineProcess p;
  ASSERT_TRUE(p.Start(QuickstartSpec(), dir_ + "/data")) << p.startup_log();
  TestHttpClient c(p.port());
  const std::string body = R"({"user_id":"a","url":"/x","amount":150.5,"ts":"2024-03-01T10:00:00Z"})"
                           "\n"
                           R"({"user_id":"b","url":"/y","amount":"oops","ts":"2024-03-01T10:00:01Z"})"
                           "\n"
                           R"({"user_id":"c","url":"/z","amount":50,"ts":"2024-03-01T10:00:02Z"})"
                           "\n"
                           R"({"user_id":"d","url":"/w","amount":101,"ts":1709287203000})"
                           "\n";
  TestResponse r = c.Request(verb::post, "/v1/streams/clicks/events", body);
  ASSERT_EQ(r.status, 207) << r.body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(r.body);
  EXPECT_EQ(int64_t(doc["accepted"]), 3);
  EXPECT_EQ(int64_t(doc["rejected"]), 1);
  simdjson::dom::element err0 = doc["errors"].at(0);
  EXPECT_EQ(int64_t(err0["line"]), 2);
  EXPECT_EQ(std::string_view(err0["reason"]), "field amount: expected double, got string");

  // Acknowledged means durable and readable.
  EXPECT_EQ(ReadAll(c, "clicks", 4).size(), 3u);
  std::vector<std::string> dead = WaitForEvents(c, "_dead_letter", 1, 1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find("\"stream\":\"clicks\""), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find("oops"), std::string::npos) << dead[0];

  // The pipeline keeps amount > 100 and adds amount_cents.
  std::vector<std::string> big = WaitForEvents(c, "big_clicks", 4, 2);
  ASSERT_EQ(big.size(), 2u);
  std::sort(big.begin(), big.end(), [](const std::string& x, const std::string& y) {
    return x.find("\"user_id\":\"a\"") != std::string::npos && y.find("\"user_id\":\"a\"") == std::string::npos;
  });
  EXPECT_NE(big[0].find("\"amount_cents\":15050"), std::string::npos) << big[0];
  EXPECT_NE(big[1].find("\"amount_cents\":10100"), std::string::npos) << big[1];
  EXPECT_EQ(p.Signal(SIGTERM), 0);
}

TEST_F(E2E, RequestErrorsHaveDocumentedStatusCodes) {
  EngineProcess p;
  ASSERT_TRUE(p.Start(QuickstartSpec(), dir_ + "/data", {"--max-body-bytes", "4096"})) << p.startup_log();
  TestHttpClient c(p.port());
  EXPECT_EQ(c.Request(verb::post, "/v1/streams/nope/events", "{}\n").status, 404);
  EXPECT_EQ(c.Request(verb::post, "/v1/streams/clicks/events", std::string(5000, 'x')).status, 413);
  TestHttpClient c2(p.port());
  TestResponse all_bad = c2.Request(verb::post, "/v1/streams/clicks/events", "not json\n{\"user_id\":1}\n");
  EXPECT_EQ(all_bad.status, 422) << all_bad.body;
  EXPECT_NE(all_bad.body.find("\"rejected\":2"), std::string::npos) << all_bad.body;
  EXPECT_EQ(c2.Request(verb::get, "/v1/streams/clicks/events?partition=0&from=999999&limit=10").body, "");
  EXPECT_EQ(c2.Request(verb::get, "/v1/streams/clicks/events?partition=99&from=0").status / 100, 4);
  TestResponse list = c2.Request(verb::get, "/v1/streams");
  EXPECT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("\"clicks\""), std::string::npos);
  EXPECT_NE(list.body.find("\"big_clicks\""), std::string::npos);
  TestResponse metrics = c2.Request(verb::get, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("impulse_events_rejected_total{stream=\"clicks\"} 2"), std::string::npos)
      << metrics.body.substr(0, 2000);
  EXPECT_EQ(p.Signal(SIGTERM), 0);
}

// The connection and admission limits are flags of `impulse run`. With every connection slot
// held by an idle client a new one is still answered (the oldest idle one makes room); a
// header that stalls is cut at --header-timeout-ms; a request that alone exceeds the in-flight
// bound of a shard gets 413 naming it (503 would be retried forever), and split it is accepted.
TEST_F(E2E, RunFlagsSetConnectionAndAdmissionLimits) {
  EngineProcess p;
  ASSERT_TRUE(p.Start(QuickstartSpec(), dir_ + "/data",
                      {"--shards", "2", "--max-connections", "3", "--reserve-connections", "1", "--header-timeout-ms",
                       "300", "--max-inflight-events-per-shard", "10"}))
      << p.startup_log();
  std::vector<std::unique_ptr<TestHttpClient>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<TestHttpClient>(p.port()));
    ASSERT_EQ(idle.back()->Request(verb::get, "/healthz").status, 200) << i;
  }
  TestHttpClient fresh(p.port());
  EXPECT_EQ(fresh.Request(verb::get, "/healthz").status, 200);
  EXPECT_TRUE(idle[0]->ServerClosed());
  TestResponse metrics = fresh.Request(verb::get, "/metrics");
  EXPECT_NE(metrics.body.find("impulse_http_connections_shed_total 1"), std::string::npos);

  TestHttpClient slow(p.port());  // takes idle[1]'s slot, then stalls in its header
  ASSERT_FALSE(slow.WriteRaw("GET /healthz HTTP/1.1\r\n"));
  EXPECT_TRUE(slow.ServerClosed());

  std::string body;
  for (int i = 0; i < 11; ++i) {  // one key: every line on one shard
    body += R"({"user_id":"a","url":"/x","amount":1,"ts":"2024-03-01T10:00:00Z"})"
            "\n";
  }
  const TestResponse too_big = fresh.Request(verb::post, "/v1/streams/clicks/events", body);
  EXPECT_EQ(too_big.status, 413) << too_big.body;
  EXPECT_EQ(too_big.Header("Retry-After"), "");
  EXPECT_NE(too_big.body.find("max_inflight_events_per_shard 10"), std::string::npos) << too_big.body;
  body.erase(0, body.find('\n') + 1);  // 10 lines fit
  EXPECT_EQ(fresh.Request(verb::post, "/v1/streams/clicks/events", body).status, 200);
  EXPECT_EQ(p.Signal(SIGTERM), 0);
}

// Refused at start, with the reason, rather than failing accept() later: the connection
// limits need more file descriptors than the hard limit allows.
TEST_F(E2E, RunRefusesConnectionLimitsBeyondTheDescriptorLimit) {
  EngineProcess p;
  EXPECT_FALSE(p.Start(QuickstartSpec(), dir_ + "/data", {"--max-connections", "4000000000"}));
  EXPECT_NE(p.startup_log().find("file descriptors"), std::string::npos) << p.startup_log();
}

TEST_F(E2E, BearerTokenGuardsEverythingButHealthz) {
  EngineProcess p;
  ASSERT_TRUE(p.Start(QuickstartSpec(), dir_ + "/data", {"--token", "s3cret"})) << p.startup_log();
  TestHttpClient c(p.port());
  EXPECT_EQ(c.Request(verb::get, "/healthz").status, 200);
  EXPECT_EQ(c.Request(verb::get, "/v1/streams").status, 401);
  EXPECT_EQ(c.Request(verb::get, "/metrics").status, 401);
  EXPECT_EQ(c.Request(verb::get, "/v1/streams", "", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(c.Request(verb::get, "/v1/streams", "", {{"Authorization", "Bearer s3cret"}}).status, 200);
  EXPECT_EQ(p.Signal(SIGTERM), 0);
}

TEST_F(E2E, EventsSurviveRestartAndPipelineDoesNotRepeatAfterCleanStop) {
  const std::string body = R"({"user_id":"a","url":"/x","amount":150,"ts":"2024-03-01T10:00:00Z"})"
                           "\n";
  {
    EngineProcess p;
    ASSERT_TRUE(p.Start(QuickstartSpec(), dir_ + "/data")) << p.startup_log();
    TestHttpClient c(p.port());
    ASSERT_EQ(c.Request(verb::post, "/v1/streams/clicks/events", body).status, 200);
    ASSERT_EQ(WaitForEvents(c, "big_clicks", 4, 1).size(), 1u);
    EXPECT_EQ(p.Signal(SIGTERM), 0);
  }
  EngineProcess p;
  ASSERT_TRUE(p.Start(QuickstartSpec(), dir_ + "/data")) << p.startup_log();
  TestHttpClient c(p.port());
  ASSERT_EQ(c.Request(verb::post, "/v1/streams/clicks/events", body).status, 200);
  EXPECT_EQ(ReadAll(c, "clicks", 4).size(), 2u);
  EXPECT_EQ(WaitForEvents(c, "big_clicks", 4, 2).size(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(ReadAll(c, "big_clicks", 4).size(), 2u);  // the first event was not processed twice
  EXPECT_EQ(p.Signal(SIGTERM), 0);
}

TEST_F(E2E, TornTailIsTruncatedAtRestartAndAcknowledgedEventsRemain) {
  const std::string body = R"({"user_id":"a","url":"/x","amount":5,"ts":"2024-03-01T10:00:00Z"})"
                           "\n";
  {
    EngineProcess p;
    ASSERT_TRUE(p.Start(QuickstartSpec(), dir_ + "/data")) << p.startup_log();
    TestHttpClient c(p.port());
    ASSERT_EQ(c.Request(verb::post, "/v1/streams/clicks/events", body + body + body).status, 200);
    EXPECT_EQ(p.Signal(SIGTERM), 0);
  }
  // Simulate a crash mid-write: half a record frame at the end of every partition's segment.
  int torn = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ + "/data/streams/clicks")) {
    if (e.path().extension() != ".log") continue;
    std::ofstream(e.path(), std::ios::app | std::ios::binary) << std::string("\x40\x00\x00\x00\x12\x34", 6);
    ++torn;
  }
  ASSERT_GT(torn, 0);
  EngineProcess p;
  ASSERT_TRUE(p.Start(QuickstartSpec(), dir_ + "/data")) << p.startup_log();
  EXPECT_NE(p.startup_log().find("torn tail"), std::string::npos) << p.startup_log();
  TestHttpClient c(p.port());
  EXPECT_EQ(ReadAll(c, "clicks", 4).size(), 3u);
  ASSERT_EQ(c.Request(verb::post, "/v1/streams/clicks/events", body).status, 200);
  EXPECT_EQ(ReadAll(c, "clicks", 4).size(), 4u);
  EXPECT_EQ(p.Signal(SIGTERM), 0);
}

TEST_F(E2E, CorruptSealedSegmentStopsStartWithFileAndOffset) {
  {
    EngineProcess p;
    ASSERT_TRUE(p.Start(QuickstartSpec(), dir_ + "/data")) << p.startup_log();
    EXPECT_EQ(p.Signal(SIGTERM), 0);
  }
  // A sealed segment is any but the last: add an empty newer segment, then damage the older one.
  const std::string part = dir_ + "/data/streams/clicks/0";
  std::string sealed;
  for (const auto& e : std::filesystem::directory_iterator(part)) {
    if (e.path().extension() == ".log") sealed = e.path().string();
  }
  ASSERT_FALSE(sealed.empty());
  {
    std::ofstream f(sealed, std::ios::app | std::ios::binary);
    f << std::string(64, '\x5a');  // garbage where a record should be
  }
  std::filesystem::copy_file(sealed, part + "/00000000000000000001.log");
  std::string out;
  const int rc = RunCapture(
      ImpulseBinary() + " run " + QuickstartSpec() + " --data-dir " + dir_ + "/data --listen 127.0.0.1:0", &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("DataLoss"), std::string::npos) << out;
  EXPECT_NE(out.find(sealed), std::string::npos) << out;
}

TEST_F(E2E, ValidateReportsEveryErrorWithLocation) {
  const std::string spec = dir_ + "/bad.yaml";
  std::ofstream(spec) << "streams:\n"
                         "  - name: s\n"
                         "    fields:\n"
                         "      - {name: a, type: double}\n"
                         "pipelines:\n"
                         "  - name: p\n"
                         "    from: s\n"
                         "    steps:\n"
                         "      - filter: \"b > 1\"\n"
                         "    sink: {stream: out}\n";
  std::string out;
  EXPECT_EQ(RunCapture(ImpulseBinary() + " validate " + spec, &out), 1) << out;
  EXPECT_NE(out.find(spec + ":9:"), std::string::npos) << out;
  EXPECT_NE(out.find("'b'"), std::string::npos) << out;

  const std::string ok = ImpulseBinary() + " validate " + QuickstartSpec() + " >/dev/null 2>&1";
  EXPECT_EQ(WEXITSTATUS(std::system(ok.c_str())), 0);
}

TEST(Generate, NexmarkIsDeterministicPerSeedWithTheReferenceMix) {
  std::string a, b, c;
  ASSERT_EQ(RunCapture(ImpulseBinary() + " generate nexmark --events 500 --seed 3", &a), 0) << a;
  ASSERT_EQ(RunCapture(ImpulseBinary() + " generate nexmark --events 500 --seed 3", &b), 0) << b;
  ASSERT_EQ(RunCapture(ImpulseBinary() + " generate nexmark --events 500 --seed 4", &c), 0) << c;
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto count = [&a](const std::string& kind) {
    size_t n = 0;
    for (size_t at = a.find("{\"kind\":\"" + kind + "\""); at != std::string::npos;
         at = a.find("{\"kind\":\"" + kind + "\"", at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("person"), 10u);  // 1:3:46 per block of 50
  EXPECT_EQ(count("auction"), 30u);
  EXPECT_EQ(count("bid"), 460u);
  std::string err;
  EXPECT_EQ(RunCapture(ImpulseBinary() + " generate nexmark", &err), 2) << err;
}

}  // namespace
}  // namespace impulse::e2e
