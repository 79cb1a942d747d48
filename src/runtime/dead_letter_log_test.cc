// An action that only dead-letters says so on stderr, once per action.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "impulse/engine.h"

namespace impulse {
namespace {

// Port 1 on the loopback refuses connections: every call fails at once, and with no retries
// each firing is dead-lettered on its first attempt.
constexpr const char* kSpec = R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: amount, type: double}
    key: id
    partitions: 1
actions:
  - name: hook
    webhook: {url: "http://127.0.0.1:1/refused", retries: 0}
  - name: other
    webhook: {url: "http://127.0.0.1:1/also", retries: 0}
pipelines:
  - name: alerts
    from: tx
    steps:
      - trigger:
          name: big
          when: amount > 100
          event_id: id
          call:
            - action: hook
              body: {id: id}
            - action: other
              body: {id: id}
    sink: {stream: checked}
)yaml";

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(DeadLetterLog, FirstDeadLetterOfEachActionIsLoggedOnce) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("impulse_dead_letter_log_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  EngineOptions o;
  o.data_dir = dir.string();
  o.shards = 1;
  o.durability = Durability::kNone;
  o.checkpoint_interval_ms = 3'600'000;
  ::testing::internal::CaptureStderr();
  {
    auto e = Engine::OpenSpec(kSpec, o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    std::promise<Status> done;
    ASSERT_TRUE(
        (*e)->Ingest("tx",
                     "{\"id\":\"a\",\"amount\":500}\n{\"id\":\"b\",\"amount\":600}\n{\"id\":\"c\",\"amount\":700}\n", 0,
                     [&](Status st, IngestResult) { done.set_value(st); })
            .ok());
    ASSERT_TRUE(done.get_future().get().ok());
    // Wait for the six dead letters (3 firings x 2 actions) in _action_dead_letter.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    uint64_t rows = 0;
    while (rows < 6 && std::chrono::steady_clock::now() < deadline) {
      auto r = (*e)->ReadRows("_action_dead_letter", 0, 0, 100);
      rows = r.ok() ? r->rows.size() : 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(rows, 6u);
    EXPECT_TRUE((*e)->Stop().ok());
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  std::filesystem::remove_all(dir);
  EXPECT_EQ(Count(err, "impulse: warning: action hook (rule big): firing big/"), 1u) << err;
  EXPECT_EQ(Count(err, "impulse: warning: action other (rule big): firing big/"), 1u) << err;
  EXPECT_NE(err.find("dead-lettered after 1 attempt(s)"), std::string::npos) << err;
}

}  // namespace
}  // namespace impulse
