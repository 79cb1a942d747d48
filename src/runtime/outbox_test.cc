// The outbox through the whole engine: trigger firings delivered to a local HTTP server with
// their Idempotency-Key, retries into the dead-letter stream, pending firings resumed after a
// restart, bounded in-flight work against a slow endpoint, outbox order with concurrency 1, and
// agent answers published as events. Labelled concurrent: also run under TSan.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "action/fake_openai.h"
#include "action/recording_server.h"
#include "common/logger.h"
#include "impulse/engine.h"
#include "runtime/engine_test_util.h"

namespace impulse {
namespace {

using action::RecordedRequest;
using action::ScriptedReply;

// {HOOK} is replaced by the webhook's options (url and more).
constexpr char kSpec[] = R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 4
actions:
  - name: hook
    webhook: {HOOK}
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
              body: {id: id, customer: customer, amount: amount}
    sink: {stream: checked}
)yaml";

constexpr char kAgentSpec[] = R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: note, type: string}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 2
actions:
  - name: analyst
    agent: {base_url: "{BASE}", model: m1, json: true, output_stream: verdicts, api_key_env: IMPULSE_TEST_KEY,
            retries: 3, backoff: {initial: 1ms, max: 5ms}}
pipelines:
  - name: ask
    from: tx
    steps:
      - trigger:
          name: review
          when: "true"
          event_id: id
          call:
            - action: analyst
              prompt: "Is this {{note}} for customer {{customer}}?"
    sink: {stream: checked}
  - name: flagged
    from: verdicts
    steps:
      - filter: "contains(answer, 'flag')"
    sink: {stream: flagged}
)yaml";

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse_outbox_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteSpec(std::string text, const std::string& from, const std::string& to) {
    text.replace(text.find(from), from.size(), to);
    const std::string path = (dir_ / "spec.yaml").string();
    std::ofstream(path) << text;
    return path;
  }

  EngineOptions Options() const {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.shards = 2;
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 3'600'000;  // taken explicitly
    return o;
  }

  // Rows i in [from, to): amount = i, so ids with i > 100 fire.
  static void Ingest(Engine& e, int from, int to) {
    std::string body;
    for (int i = from; i < to; ++i) {
      body += "{\"id\":\"t" + std::to_string(i) + "\",\"customer\":" + std::to_string(i % 7) +
              ",\"amount\":" + std::to_string(i) + ",\"ts\":" + std::to_string(1'000'000 + i) + "}\n";
    }
    std::promise<Status> done;
    ASSERT_TRUE(e.Ingest("tx", body, 0, [&](Status st, IngestResult) { done.set_value(st); }).ok());
    ASSERT_TRUE(done.get_future().get().ok());
  }

  static std::vector<std::string> ReadAll(const Engine& e, const std::string& stream) {
    return testing_util::ReadAllEvents(e, stream);
  }

  // A string field's value in an NDJSON line (values here hold no escaped quotes).
  static std::string StringField(const std::string& line, const std::string& key) {
    const std::string k = "\"" + key + "\":\"";
    size_t at = line.find(k);
    if (at == std::string::npos) return "";
    at += k.size();
    return line.substr(at, line.find('"', at) - at);
  }

  // The value of a sample line `name{labels} value` in the exposition, -1 when absent.
  static double Metric(const std::string& text, const std::string& series) {
    size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }

  static bool WaitFor(const std::function<bool()>& cond, int64_t timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return cond();
  }

  static std::set<std::string> Keys(const action::RecordingHttpServer& s) {
    std::set<std::string> keys;
    for (const RecordedRequest& r : s.requests()) keys.insert(r.Header("idempotency-key"));
    return keys;
  }

  static std::set<std::string> ExpectedIds(int from, int to) {
    std::set<std::string> ids;
    for (int i = std::max(from, 101); i < to; ++i) ids.insert("big/t" + std::to_string(i));
    return ids;
  }

  std::filesystem::path dir_;
};

TEST_F(OutboxTest, DeliversEveryFiringWithItsIdempotencyKey) {
  auto server = action::RecordingHttpServer::Start();
  ASSERT_TRUE(server.ok());
  const std::string spec = WriteSpec(kSpec, "{HOOK}", "{url: \"" + (*server)->url("/alerts") + "\"}");
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Ingest(**e, 0, 300);
  ASSERT_TRUE((*server)->WaitForRequests(199, 30'000));
  ASSERT_TRUE(WaitFor(
      [&] { return Metric((*e)->MetricsText(), "impulse_action_delivered_total{action=\"hook\"}") == 199; }, 10'000));
  const auto requests = (*server)->requests();
  EXPECT_EQ(requests.size(), 199u);  // no retries against a healthy endpoint
  EXPECT_EQ(Keys(**server), ExpectedIds(0, 300));
  for (const RecordedRequest& r : requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/alerts");
    // The body is the call's fields of the firing's row.
    const std::string id = r.Header("idempotency-key").substr(4);
    EXPECT_NE(r.body.find("\"id\":\"" + id + "\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"amount\":" + id.substr(1)), std::string::npos) << r.body;
  }
  const std::string metrics = (*e)->MetricsText();
  EXPECT_EQ(Metric(metrics, "impulse_action_attempts_total{action=\"hook\"}"), 199);
  EXPECT_EQ(Metric(metrics, "impulse_action_dead_lettered_total{action=\"hook\"}"), 0);
  EXPECT_TRUE(ReadAll(**e, "_action_dead_letter").empty());
  // Only the dispatcher writes dead letters.
  const Status refused = (*e)->Ingest("_action_dead_letter", "{}\n", 0, [](Status, IngestResult) {});
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused.ToString();
  ASSERT_TRUE((*e)->Stop().ok());
  // Everything done: the persisted cursor is past every firing.
  std::ifstream cursor(dir_ / "data/outbox/hook.cursor");
  uint64_t c = 0;
  ASSERT_TRUE(cursor >> c);
  EXPECT_GE(c, 199u);
}

TEST_F(OutboxTest, RetryBudgetSpentGoesToTheDeadLetterStreamWithTheLastError) {
  auto server =
      action::RecordingHttpServer::Start([](const RecordedRequest&) { return ScriptedReply::Status(500, "boom"); });
  ASSERT_TRUE(server.ok());
  const std::string spec =
      WriteSpec(kSpec, "{HOOK}",
                "{url: \"" + (*server)->url("/alerts") +
                    "\", retries: 2, backoff: {initial: 1ms, max: 2ms}, breaker: {failures: 1000000}}");
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Ingest(**e, 95, 110);  // 101..109 fire: 9 firings
  ASSERT_TRUE(WaitFor([&] { return ReadAll(**e, "_action_dead_letter").size() == 9; }, 30'000));
  std::set<std::string> dead;
  for (const std::string& line : ReadAll(**e, "_action_dead_letter")) {
    dead.insert(StringField(line, "firing_id"));
    EXPECT_EQ(StringField(line, "outcome"), "dead_letter") << line;
    EXPECT_EQ(StringField(line, "rule"), "big") << line;
    EXPECT_EQ(StringField(line, "action"), "hook") << line;
    EXPECT_NE(line.find("\"attempts\":3"), std::string::npos) << line;
    EXPECT_NE(line.find("\"http_status\":500"), std::string::npos) << line;
    EXPECT_NE(StringField(line, "error").find("500"), std::string::npos) << line;
  }
  EXPECT_EQ(dead, ExpectedIds(95, 110));
  // 1 + 2 retries per firing, each with the firing's key.
  std::map<std::string, int> attempts;
  for (const RecordedRequest& r : (*server)->requests()) ++attempts[r.Header("idempotency-key")];
  ASSERT_EQ(attempts.size(), 9u);
  for (const auto& [key, n] : attempts) EXPECT_EQ(n, 3) << key;
  const std::string metrics = (*e)->MetricsText();
  EXPECT_EQ(Metric(metrics, "impulse_action_dead_lettered_total{action=\"hook\"}"), 9);
  EXPECT_EQ(Metric(metrics, "impulse_action_failures_total{action=\"hook\"}"), 27);
  EXPECT_TRUE(
      WaitFor([&] { return Metric((*e)->MetricsText(), "impulse_action_inflight{action=\"hook\"}") == 0; }, 5'000));
}

// The log lines an engine writes while `body` runs, at every level, as JSON.
std::vector<std::string> CaptureLog(const std::function<void()>& body) {
  FILE* f = std::tmpfile();
  EXPECT_NE(f, nullptr);
  if (f == nullptr) return {};
  ConfigureLog(LogLevel::kDebug, LogFormat::kJson, f);
  body();
  ConfigureLog(LogLevel::kInfo, LogFormat::kText, stderr);
  std::rewind(f);
  std::vector<std::string> lines;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, f) != nullptr) lines.emplace_back(buf);
  std::fclose(f);
  return lines;
}

std::vector<std::string> LinesOf(const std::vector<std::string>& lines, const std::string& event) {
  std::vector<std::string> out;
  for (const std::string& l : lines) {
    if (l.find("\"event\":\"" + event + "\"") != std::string::npos) out.push_back(l);
  }
  return out;
}

// A dead endpoint dead-letters every firing: the first is said at warn (with its error), the
// others at debug only, so the log does not grow by a line per firing at the default level.
TEST_F(OutboxTest, TheFirstDeadLetterOfAnActionIsLoggedAtWarnTheOthersAtDebug) {
  auto server =
      action::RecordingHttpServer::Start([](const RecordedRequest&) { return ScriptedReply::Status(500, "boom"); });
  ASSERT_TRUE(server.ok());
  const std::string spec =
      WriteSpec(kSpec, "{HOOK}",
                "{url: \"" + (*server)->url("/alerts") +
                    "\", retries: 0, backoff: {initial: 1ms, max: 2ms}, breaker: {failures: 1000000}}");
  const std::vector<std::string> lines = CaptureLog([&] {
    auto e = Engine::Open(spec, Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Ingest(**e, 95, 110);  // 9 firings
    ASSERT_TRUE(WaitFor([&] { return ReadAll(**e, "_action_dead_letter").size() == 9; }, 30'000));
    ASSERT_TRUE((*e)->Stop().ok());
  });
  const std::vector<std::string> dead = LinesOf(lines, "action_dead_letter");
  ASSERT_EQ(dead.size(), 9u);
  size_t warn = 0;
  for (const std::string& l : dead) {
    EXPECT_NE(l.find("\"action\":\"hook\",\"rule\":\"big\""), std::string::npos) << l;
    EXPECT_NE(l.find("\"outcome\":\"dead_letter\",\"attempts\":1,\"http_status\":500"), std::string::npos) << l;
    if (l.find("\"level\":\"warn\"") != std::string::npos) ++warn;
  }
  EXPECT_EQ(warn, 1u);
  EXPECT_NE(dead[0].find("\"level\":\"warn\""), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find("later ones at debug level"), std::string::npos) << dead[0];
}

// Checkpoints: the run's first at info, the next (fast) ones at debug; the final one at stop at
// info.
TEST_F(OutboxTest, CheckpointsLogTheFirstAtInfoAndRoutineOnesAtDebug) {
  const std::string spec = WriteSpec(kSpec, "{HOOK}", "{url: \"http://127.0.0.1:9/alerts\"}");
  const std::vector<std::string> lines = CaptureLog([&] {
    auto e = Engine::Open(spec, Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    for (int i = 0; i < 3; ++i) {
      Ingest(**e, i * 10, i * 10 + 5);  // amounts below 100: nothing fires
      ASSERT_TRUE((*e)->CheckpointNow().ok());
    }
    ASSERT_TRUE((*e)->Stop().ok());
  });
  const std::vector<std::string> ckpt = LinesOf(lines, "checkpoint");
  ASSERT_EQ(ckpt.size(), 4u);
  EXPECT_NE(ckpt[0].find("\"level\":\"info\""), std::string::npos) << ckpt[0];
  EXPECT_NE(ckpt[0].find("\"checkpoint\":1,\"duration_ms\":"), std::string::npos) << ckpt[0];
  EXPECT_NE(ckpt[0].find("\"slow\":false"), std::string::npos) << ckpt[0];
  for (size_t i : {1, 2}) EXPECT_NE(ckpt[i].find("\"level\":\"debug\""), std::string::npos) << ckpt[i];
  EXPECT_NE(ckpt[3].find("\"level\":\"info\""), std::string::npos) << ckpt[3];
  EXPECT_NE(ckpt[3].find("\"final\":true"), std::string::npos) << ckpt[3];
}

TEST_F(OutboxTest, AnOutageIsRiddenOutAndPendingFiringsResumeAfterARestart) {
  // Down: connections dropped, 429 with Retry-After, 503: all retryable.
  std::atomic<bool> up{false};
  std::atomic<int> n{0};
  auto server = action::RecordingHttpServer::Start([&](const RecordedRequest&) {
    if (up.load()) return ScriptedReply::Status(200);
    switch (n.fetch_add(1) % 3) {
      case 0: return ScriptedReply::Drop();
      case 1: return ScriptedReply::TooManyRequests("0");
      default: return ScriptedReply::Status(503);
    }
  });
  ASSERT_TRUE(server.ok());
  const std::string spec = WriteSpec(kSpec, "{HOOK}",
                                     "{url: \"" + (*server)->url("/alerts") +
                                         "\", retries: 100, backoff: {initial: 20ms, max: 50ms}, concurrency: 4, "
                                         "breaker: {failures: 5, open: 50ms}}");
  {
    auto e = Engine::Open(spec, Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Ingest(**e, 90, 150);  // 49 firings
    ASSERT_TRUE((*server)->WaitForRequests(30, 30'000));
    ASSERT_TRUE((*e)->Stop().ok());  // calls in flight are cancelled: still pending
  }
  const uint64_t before = (*server)->requests_total();
  up = true;
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE(WaitFor(
      [&] {
        std::set<std::string> ok;
        const auto reqs = (*server)->requests();
        for (size_t i = before; i < reqs.size(); ++i) ok.insert(reqs[i].Header("idempotency-key"));
        return ok == ExpectedIds(90, 150);
      },
      30'000));
  EXPECT_TRUE(ReadAll(**e, "_action_dead_letter").empty());
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(OutboxTest, ASlowEndpointHoldsAtMostConcurrencyPlusQueueInMemory) {
  std::atomic<uint32_t> seen_max{0}, active_max{0}, queued_max{0};
  auto server = action::RecordingHttpServer::Start([](const RecordedRequest&) { return ScriptedReply::Delay(20); });
  ASSERT_TRUE(server.ok());
  const std::string spec =
      WriteSpec(kSpec, "{HOOK}", "{url: \"" + (*server)->url("/alerts") + "\", concurrency: 2, queue: 3}");
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Ingest(**e, 0, 200);  // 99 firings, ~1 s at 2 x 20 ms
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done.load()) {
      const std::string m = (*e)->MetricsText();
      const double inflight = Metric(m, "impulse_action_inflight{action=\"hook\"}");
      if (inflight > seen_max.load()) seen_max = static_cast<uint32_t>(inflight);
      const double active = Metric(m, "impulse_action_calls{action=\"hook\",state=\"active\"}");
      if (active > active_max.load()) active_max = static_cast<uint32_t>(active);
      const double queued = Metric(m, "impulse_action_calls{action=\"hook\",state=\"queued\"}");
      if (queued > queued_max.load()) queued_max = static_cast<uint32_t>(queued);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  const bool all = WaitFor([&] { return Keys(**server) == ExpectedIds(0, 200); }, 60'000);
  done = true;
  sampler.join();
  EXPECT_TRUE(all);
  EXPECT_LE((*server)->concurrent_max(), 2u);
  EXPECT_LE(active_max.load(), 2u);
  EXPECT_GE(queued_max.load(), 1u);  // the queue was used
  EXPECT_LE(queued_max.load(), 3u);
  // Concurrency 2 + queue 3, plus at most one outcome per slot not yet recorded by the
  // dispatcher: the other ~90 firings waited in the outbox on disk.
  EXPECT_LE(seen_max.load(), 7u);
}

TEST_F(OutboxTest, ConcurrencyOneDeliversInOutboxOrderEvenThroughRetries) {
  // Every firing's first attempt fails: a retry must not let a later firing overtake it.
  std::mutex mu;
  std::set<std::string> failed_once;
  auto server = action::RecordingHttpServer::Start([&](const RecordedRequest& r) {
    std::lock_guard<std::mutex> l(mu);
    if (failed_once.insert(r.Header("idempotency-key")).second) return ScriptedReply::Status(503);
    return ScriptedReply::Status(200);
  });
  ASSERT_TRUE(server.ok());
  const std::string spec =
      WriteSpec(kSpec, "{HOOK}",
                "{url: \"" + (*server)->url("/alerts") + "\", concurrency: 1, backoff: {initial: 1ms, max: 2ms}}");
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Ingest(**e, 80, 160);
  Ingest(**e, 160, 200);
  ASSERT_TRUE((*server)->WaitForRequests(2 * 99, 60'000));
  std::vector<std::string> outbox;
  for (const std::string& line : ReadAll(**e, "_outbox")) outbox.push_back(StringField(line, "firing_id"));
  ASSERT_EQ(outbox.size(), 99u);
  std::vector<std::string> delivered;
  for (const RecordedRequest& r : (*server)->requests()) {
    if (delivered.empty() || delivered.back() != r.Header("idempotency-key")) {
      delivered.push_back(r.Header("idempotency-key"));
    }
  }
  EXPECT_EQ(delivered, outbox);  // attempt pairs, in the outbox's order
}

TEST_F(OutboxTest, AnActionRemovedWithPendingFiringsIsReported) {
  auto down = action::RecordingHttpServer::Start([](const RecordedRequest&) { return ScriptedReply::Status(503); });
  ASSERT_TRUE(down.ok());
  std::string two = kSpec;
  two.replace(two.find("pipelines:"), 10,
              "  - name: other\n    webhook: {url: \"" + (*down)->url("/") +
                  "\", retries: 100, backoff: {initial: 1s, max: 1s}}\npipelines:");
  two.replace(two.find("    sink: {stream: checked}"), 0, "            - {action: other}\n");
  const std::string spec = WriteSpec(two, "{HOOK}", "{url: \"" + (*down)->url("/") + "\", retries: 0}");
  {
    auto e = Engine::Open(spec, Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Ingest(**e, 100, 110);
    ASSERT_TRUE((*down)->WaitForRequests(18, 30'000));  // 9 firings x 2 actions
    ASSERT_TRUE((*e)->Stop().ok());
  }
  // The same spec without `other`: its 9 pending firings will not be delivered, and it says so,
  // through the engine's log (with --log-format json a JSON line, as every event of note).
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  ConfigureLog(LogLevel::kInfo, LogFormat::kJson, log);
  ::testing::internal::CaptureStderr();
  auto e = Engine::Open(WriteSpec(kSpec, "{HOOK}", "{url: \"" + (*down)->url("/") + "\", retries: 0}"), Options());
  const std::string err = ::testing::internal::GetCapturedStderr();
  ConfigureLog(LogLevel::kInfo, LogFormat::kText, stderr);
  std::string lines;
  std::rewind(log);
  for (int c = std::fgetc(log); c != EOF; c = std::fgetc(log)) lines.push_back(static_cast<char>(c));
  std::fclose(log);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  // 1 for the cursor at start; more when `hook`'s own cursor had not passed `other`'s rows at the
  // stop (its last outcomes still being recorded), since it then reads them again and counts them.
  EXPECT_GE(Metric((*e)->MetricsText(), "impulse_outbox_errors_total{kind=\"unknown_action\"}"), 1);
  EXPECT_EQ(err.find("no longer in the spec"), std::string::npos) << "not through the log: " << err;
  EXPECT_NE(lines.find(R"("level":"warn","event":"action_unknown")"), std::string::npos) << lines;
  EXPECT_NE(lines.find(R"("action":"other","from_offset":)"), std::string::npos) << lines;
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(OutboxTest, AgentAnswersArePublishedAsEvents) {
  ::setenv("IMPULSE_TEST_KEY", "sk-test", 1);
  auto fake = action::FakeOpenAi::Start();
  ASSERT_TRUE(fake.ok());
  (*fake)->RateLimitNext(2, "0");
  const std::string spec = WriteSpec(kAgentSpec, "{BASE}", (*fake)->base_url());
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::string body;
  for (int i = 0; i < 6; ++i) {
    body += "{\"id\":\"q" + std::to_string(i) + "\",\"customer\":" + std::to_string(i) + ",\"note\":\"" +
            (i % 2 == 0 ? "fraud" : "refund") + "\",\"ts\":" + std::to_string(1000 + i) + "}\n";
  }
  std::promise<Status> done;
  ASSERT_TRUE((*e)->Ingest("tx", body, 0, [&](Status st, IngestResult) { done.set_value(st); }).ok());
  ASSERT_TRUE(done.get_future().get().ok());
  ASSERT_TRUE(WaitFor([&] { return ReadAll(**e, "verdicts").size() == 6; }, 30'000));
  std::set<std::string> ids;
  for (const std::string& line : ReadAll(**e, "verdicts")) {
    const std::string id = StringField(line, "event_id");
    ids.insert(id);
    EXPECT_EQ(StringField(line, "firing_id"), "review/" + id);
    const bool fraud = (id.back() - '0') % 2 == 0;
    // The JSON answer, as a string field.
    EXPECT_NE(line.find(fraud ? "flag" : "\\\"ok\\\""), std::string::npos) << line;
  }
  EXPECT_EQ(ids, (std::set<std::string>{"q0", "q1", "q2", "q3", "q4", "q5"}));
  EXPECT_TRUE(ReadAll(**e, "_action_dead_letter").empty());
  // Answers are events: a pipeline reads them (the three "fraud" notes were flagged).
  ASSERT_TRUE(WaitFor([&] { return ReadAll(**e, "flagged").size() == 3; }, 30'000));
  for (const std::string& line : ReadAll(**e, "flagged")) {
    const std::string id = StringField(line, "event_id");
    EXPECT_EQ((id.back() - '0') % 2, 0) << line;
  }
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(OutboxTest, StaleAgentFiringsAreSkippedWithTheirReason) {
  ::setenv("IMPULSE_TEST_KEY", "sk-test", 1);
  auto fake = action::FakeOpenAi::Start();
  ASSERT_TRUE(fake.ok());
  (*fake)->set_delay_ms(300);
  // One call at a time, each 300 ms: the firings queued behind the first are older than
  // max_event_age when their turn comes.
  std::string spec_text = kAgentSpec;
  spec_text.replace(spec_text.find("retries: 3,"), 11, "retries: 3, concurrency: 1, max_event_age: 100ms,");
  const std::string spec = WriteSpec(spec_text, "{BASE}", (*fake)->base_url());
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::string body;
  for (int i = 0; i < 4; ++i) {
    body += "{\"id\":\"q" + std::to_string(i) + "\",\"customer\":1,\"note\":\"n\",\"ts\":" + std::to_string(1000 + i) +
            "}\n";
  }
  std::promise<Status> done;
  ASSERT_TRUE((*e)->Ingest("tx", body, 0, [&](Status st, IngestResult) { done.set_value(st); }).ok());
  ASSERT_TRUE(done.get_future().get().ok());
  ASSERT_TRUE(WaitFor([&] { return ReadAll(**e, "verdicts").size() + ReadAll(**e, "_action_dead_letter").size() == 4; },
                      30'000));
  EXPECT_EQ(ReadAll(**e, "verdicts").size(), 1u);  // the first one only
  for (const std::string& line : ReadAll(**e, "_action_dead_letter")) {
    EXPECT_EQ(StringField(line, "outcome"), "skipped") << line;
    EXPECT_EQ(StringField(line, "error").rfind("stale", 0), 0u) << line;
    EXPECT_NE(line.find("\"attempts\":0"), std::string::npos) << line;
  }
  EXPECT_EQ(Metric((*e)->MetricsText(), "impulse_action_skipped_total{action=\"analyst\"}"), 3);
  ASSERT_TRUE((*e)->Stop().ok());
}

}  // namespace
}  // namespace impulse
