// Crash test: ingest under load, kill -9 at random moments over several rounds, restart, and
// check that every acknowledged event is present exactly once and nothing else appears.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "server/test_http_client.h"
#include "tests/engine_process.h"

namespace impulse::e2e {
namespace {

using boost::beast::http::verb;

std::string Line(uint64_t id) {
  return R"({"user_id":"u)" + std::to_string(id % 97) + R"(","url":"/e/)" + std::to_string(id) + R"(","amount":)" +
         std::to_string(id % 200) + R"(,"ts":"2024-03-01T10:00:00Z"})";
}

// Extracts the id from "/e/<id>" in a read-back line; -1 if absent.
int64_t IdOf(const std::string& line) {
  const size_t at = line.find("\"url\":\"/e/");
  if (at == std::string::npos) return -1;
  return std::atoll(line.c_str() + at + 10);
}

TEST(Crash, AcknowledgedEventsSurviveKillNineExactlyOnce) {
  const std::string dir = TempDir("crash");
  const std::string spec = SourceDir() + "/examples/quickstart/pipeline.yaml";
  const int rounds = std::getenv("CRASH_ROUNDS") ? std::atoi(std::getenv("CRASH_ROUNDS")) : 6;
  std::mt19937_64 rng(20261126);
  std::set<uint64_t> acked;
  std::set<uint64_t> sent;
  uint64_t next_id = 0;

  for (int round = 0; round < rounds; ++round) {
    EngineProcess p;
    ASSERT_TRUE(p.Start(spec, dir, {"--shards", "2"})) << p.startup_log();
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<uint64_t> round_acked;
    std::vector<uint64_t> round_sent;
    std::vector<std::thread> clients;
    std::atomic<uint64_t> id_counter{next_id};
    for (int t = 0; t < 2; ++t) {
      clients.emplace_back([&, port = p.port()] {
        try {
          server::TestHttpClient c(port);
          while (!stop.load()) {
            const uint64_t first = id_counter.fetch_add(50);
            std::string body;
            for (uint64_t i = first; i < first + 50; ++i) body += Line(i) + "\n";
            {
              std::lock_guard<std::mutex> lock(mu);
              for (uint64_t i = first; i < first + 50; ++i) round_sent.push_back(i);
            }
            server::TestResponse r = c.Request(verb::post, "/v1/streams/clicks/events", body);
            if (r.status != 200) return;  // killed mid-request (or refused): outcome unknown
            std::lock_guard<std::mutex> lock(mu);
            for (uint64_t i = first; i < first + 50; ++i) round_acked.push_back(i);
          }
        } catch (const std::exception&) {
          // Connection refused or reset by the kill.
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 700));
    p.Kill();
    stop = true;
    for (auto& t : clients) t.join();
    next_id = id_counter.load();
    acked.insert(round_acked.begin(), round_acked.end());
    sent.insert(round_sent.begin(), round_sent.end());
  }
  ASSERT_GT(acked.size(), 0u) << "no request was acknowledged: the test exercised nothing";
  std::printf("crash test: %zu events acknowledged, %zu sent, over %d kill -9 rounds\n", acked.size(), sent.size(),
              rounds);

  EngineProcess p;
  ASSERT_TRUE(p.Start(spec, dir, {"--shards", "2"})) << p.startup_log();
  server::TestHttpClient c(p.port());
  std::unordered_map<int64_t, int> seen;
  for (int part = 0; part < 4; ++part) {
    uint64_t from = 0;
    while (true) {
      server::TestResponse r = c.Request(verb::get, "/v1/streams/clicks/events?partition=" + std::to_string(part) +
                                                        "&from=" + std::to_string(from) + "&limit=10000");
      ASSERT_EQ(r.status, 200) << r.body;
      if (r.body.empty()) break;
      size_t start = 0;
      while (start < r.body.size()) {
        size_t end = r.body.find('\n', start);
        const std::string line = r.body.substr(start, end - start);
        ++seen[IdOf(line)];
        ++from;
        start = end + 1;
      }
    }
  }
  for (uint64_t id : acked) {
    ASSERT_EQ(seen[static_cast<int64_t>(id)], 1) << "acknowledged event " << id << " missing or duplicated";
  }
  for (const auto& [id, count] : seen) {
    ASSERT_EQ(count, 1) << "event " << id << " appears " << count << " times";
    ASSERT_TRUE(id >= 0 && sent.count(static_cast<uint64_t>(id))) << "unexpected event " << id;
  }
  EXPECT_EQ(p.Signal(SIGTERM), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace impulse::e2e
