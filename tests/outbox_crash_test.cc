// Outbox crash test: ingest over HTTP while a trigger calls a flaky webhook, kill -9 the engine
// at random moments over several rounds, restart, and check that the receiver got every firing
// of every acknowledged event at least once, with its Idempotency-Key (none is lost). The
// endpoint is slower than the ingest and checkpoints are frequent, so at each kill many firings
// wait in the executor's queue past the last checkpoint: only the outbox cursor protects them.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "action/recording_server.h"
#include "server/test_http_client.h"
#include "tests/engine_process.h"

namespace impulse::e2e {
namespace {

using boost::beast::http::verb;

constexpr char kSpec[] = R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: amount, type: int64}
    key: customer
    partitions: 4
actions:
  - name: hook
    webhook: {url: "URL", retries: 100, backoff: {initial: 5ms, max: 50ms}, concurrency: 4}
pipelines:
  - name: alerts
    from: tx
    steps:
      - trigger:
          name: big
          when: amount >= 100
          event_id: id
          call:
            - action: hook
              body: {id: id, amount: amount}
    sink: {stream: checked}
)yaml";

std::string Line(uint64_t id) {
  return R"({"id":"e)" + std::to_string(id) + R"(","customer":)" + std::to_string(id % 31) + R"(,"amount":)" +
         std::to_string(id % 200) + "}";
}

TEST(OutboxCrash, EveryFiringOfAnAcknowledgedEventIsDeliveredAcrossKillNine) {
  std::mutex mu;
  std::set<std::string> delivered;  // keys answered 200
  uint64_t answered_200 = 0;
  std::mt19937 flaky(7);
  auto server = action::RecordingHttpServer::Start([&](const action::RecordedRequest& r) {
    std::lock_guard<std::mutex> l(mu);
    if (flaky() % 5 == 0) return action::ScriptedReply::Status(503);
    delivered.insert(r.Header("idempotency-key"));
    ++answered_200;
    return action::ScriptedReply::Delay(10);
  });
  ASSERT_TRUE(server.ok());
  const std::string dir = TempDir("outbox-crash");
  std::string spec_text = kSpec;
  spec_text.replace(spec_text.find("URL"), 3, (*server)->url("/alerts"));
  const std::string spec = dir + "/spec.yaml";
  std::ofstream(spec) << spec_text;

  const int rounds = std::getenv("CRASH_ROUNDS") ? std::atoi(std::getenv("CRASH_ROUNDS")) : 4;
  std::mt19937_64 rng(20261127);
  std::set<uint64_t> acked;
  std::atomic<uint64_t> id_counter{0};
  for (int round = 0; round < rounds; ++round) {
    EngineProcess p;
    ASSERT_TRUE(p.Start(spec, dir + "/data", {"--shards", "2", "--checkpoint-interval-ms", "200"})) << p.startup_log();
    std::atomic<bool> stop{false};
    std::vector<uint64_t> round_acked;
    std::thread client([&, port = p.port()] {
      try {
        server::TestHttpClient c(port);
        while (!stop.load()) {
          const uint64_t first = id_counter.fetch_add(20);
          std::string body;
          for (uint64_t i = first; i < first + 20; ++i) body += Line(i) + "\n";
          server::TestResponse r = c.Request(verb::post, "/v1/streams/tx/events", body);
          if (r.status != 200) return;  // killed mid-request: outcome unknown
          for (uint64_t i = first; i < first + 20; ++i) round_acked.push_back(i);
        }
      } catch (const std::exception&) {
        // Connection refused or reset by the kill.
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 600));
    p.Kill();
    stop = true;
    client.join();
    acked.insert(round_acked.begin(), round_acked.end());
  }
  ASSERT_FALSE(acked.empty());
  std::set<std::string> expected;
  for (uint64_t id : acked) {
    if (id % 200 >= 100) expected.insert("big/e" + std::to_string(id));
  }

  // The last start runs until every expected firing has been answered 200.
  EngineProcess p;
  ASSERT_TRUE(p.Start(spec, dir + "/data", {"--shards", "2", "--checkpoint-interval-ms", "200"})) << p.startup_log();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  size_t missing = expected.size();
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> l(mu);
      missing = 0;
      for (const std::string& k : expected) missing += delivered.count(k) == 0 ? 1 : 0;
    }
    if (missing == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(p.Signal(SIGTERM), 0);
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(missing, 0u) << "of " << expected.size() << " firings of acknowledged events";
  // At least once: duplicates (re-sent after a crash) carry the same key; report them.
  std::printf("outbox crash: %zu firings expected, %zu distinct keys delivered, %llu 200 answers\n", expected.size(),
              delivered.size(), static_cast<unsigned long long>(answered_200));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace impulse::e2e
