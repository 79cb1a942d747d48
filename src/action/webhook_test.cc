// The webhook executor against the scriptable RecordingHttpServer: delivery, retries, Retry-After,
// permanent errors, timeouts, dropped connections, the concurrency limit, the queue bound, the
// circuit breaker and Stop with work in flight. Backoffs are small; no upper time bounds.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "action/action.h"
#include "action/recording_server.h"
#include "common/manual_clock.h"

namespace impulse::action {
namespace {

// Collects outcomes from the I/O thread; Wait blocks until `n` arrived (generous timeout).
class Outcomes {
 public:
  std::function<void(Outcome)> Callback() {
    return [this](Outcome o) {
      std::lock_guard<std::mutex> lock(mu_);
      outcomes_.push_back(std::move(o));
      cv_.notify_all();
    };
  }
  bool Wait(size_t n, int64_t timeout_ms = 30'000) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return outcomes_.size() >= n; });
  }
  std::vector<Outcome> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return outcomes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Outcome> outcomes_;
};

Firing MakeFiring(const std::string& id, const std::string& payload = R"({"x":1})") {
  Firing f;
  f.id = id;
  f.action = "hook";
  f.payload = payload;
  return f;
}

WebhookOptions FastOptions(const RecordingHttpServer& server) {
  WebhookOptions o;
  o.url = server.url("/hook");
  o.timeout_ms = 2'000;
  o.retries_max = 5;
  o.backoff_initial_ms = 5;
  o.backoff_max_ms = 20;
  o.breaker_failures = 0;  // off unless a test is about it
  return o;
}

struct Fixture {
  std::unique_ptr<RecordingHttpServer> server;
  std::unique_ptr<ActionRuntime> runtime;

  explicit Fixture(RecordingHttpServer::Handler handler, uint32_t threads = 2, Clock* clock = nullptr) {
    auto s = RecordingHttpServer::Start(std::move(handler));
    IMPULSE_CHECK(s.ok());
    server = std::move(s).value();
    auto r = ActionRuntime::Create(threads, clock);
    IMPULSE_CHECK(r.ok());
    runtime = std::move(r).value();
  }
  std::unique_ptr<Executor> Webhook(const WebhookOptions& o) {
    auto e = runtime->NewWebhook(o);
    IMPULSE_CHECK(e.ok());
    return std::move(e).value();
  }
};

TEST(Webhook, DeliveredOn200WithHeadersAndBody) {
  Fixture fx([](const RecordedRequest&) { return ScriptedReply::Status(200, "ok"); });
  WebhookOptions o = FastOptions(*fx.server);
  o.headers["Authorization"] = "Bearer t";
  auto hook = fx.Webhook(o);
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("rule1/ev7", R"({"card":"c1"})"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));
  Outcome o1 = out.Get()[0];
  EXPECT_EQ(o1.kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(o1.attempts, 1);
  EXPECT_EQ(o1.http_status, 200);
  EXPECT_EQ(o1.error, "");
  auto reqs = fx.server->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/hook");
  EXPECT_EQ(reqs[0].body, R"({"card":"c1"})");
  EXPECT_EQ(reqs[0].Header("idempotency-key"), "rule1/ev7");
  EXPECT_EQ(reqs[0].Header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].Header("authorization"), "Bearer t");
  ExecutorStats s = hook->stats();
  EXPECT_EQ(s.submitted, 1u);
  EXPECT_EQ(s.delivered, 1u);
  EXPECT_EQ(s.attempts, 1u);
  EXPECT_EQ(s.failures, 0u);
}

TEST(Webhook, RetriesOn503ThenDelivers) {
  std::atomic<int> calls{0};
  Fixture fx(
      [&](const RecordedRequest&) { return ++calls <= 2 ? ScriptedReply::Status(503, "busy") : ScriptedReply{}; });
  auto hook = fx.Webhook(FastOptions(*fx.server));
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("r/1"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));
  EXPECT_EQ(out.Get()[0].kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(out.Get()[0].attempts, 3);
  auto reqs = fx.server->requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& r : reqs) EXPECT_EQ(r.Header("idempotency-key"), "r/1");  // same key every attempt
  ExecutorStats s = hook->stats();
  EXPECT_EQ(s.attempts, 3u);
  EXPECT_EQ(s.retries, 2u);
  EXPECT_EQ(s.failures, 2u);
}

TEST(Webhook, RetryAfterIsRespected) {
  std::atomic<int> calls{0};
  Fixture fx(
      [&](const RecordedRequest&) { return ++calls == 1 ? ScriptedReply::TooManyRequests("1") : ScriptedReply{}; });
  auto hook = fx.Webhook(FastOptions(*fx.server));  // backoff alone would be <= 20 ms
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("r/1"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));
  EXPECT_EQ(out.Get()[0].kind, Outcome::Kind::kDelivered);
  auto reqs = fx.server->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_GE(reqs[1].received_ms - reqs[0].received_ms, 950);  // lower bound only
}

TEST(Webhook, RetryAfterIsCapped) {
  std::atomic<int> calls{0};
  Fixture fx(
      [&](const RecordedRequest&) { return ++calls == 1 ? ScriptedReply::TooManyRequests("3600") : ScriptedReply{}; });
  WebhookOptions o = FastOptions(*fx.server);
  o.retry_after_max_ms = 50;
  auto hook = fx.Webhook(o);
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("r/1"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));  // would time out (30 s) if the hour were honoured
  EXPECT_EQ(out.Get()[0].kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(out.Get()[0].attempts, 2);
}

TEST(Webhook, Permanent400DeadLettersAfterOneAttempt) {
  Fixture fx([](const RecordedRequest&) { return ScriptedReply::Status(400, "bad field"); });
  auto hook = fx.Webhook(FastOptions(*fx.server));
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("r/1"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));
  Outcome o = out.Get()[0];
  EXPECT_EQ(o.kind, Outcome::Kind::kDeadLetter);
  EXPECT_EQ(o.attempts, 1);
  EXPECT_EQ(o.http_status, 400);
  EXPECT_NE(o.error.find("400"), std::string::npos) << o.error;
  EXPECT_EQ(fx.server->requests_total(), 1u);
  EXPECT_EQ(hook->stats().dead_lettered, 1u);
}

TEST(Webhook, Persistent503DeadLettersWithTheLastError) {
  Fixture fx([](const RecordedRequest&) { return ScriptedReply::Status(503, std::string(500, 'e')); });
  WebhookOptions o = FastOptions(*fx.server);
  o.retries_max = 3;
  auto hook = fx.Webhook(o);
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("r/1"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));
  Outcome oc = out.Get()[0];
  EXPECT_EQ(oc.kind, Outcome::Kind::kDeadLetter);
  EXPECT_EQ(oc.attempts, 4);
  EXPECT_EQ(oc.http_status, 503);
  EXPECT_EQ(oc.error, "HTTP 503 after 4 attempts: " + std::string(200, 'e'));
  EXPECT_EQ(fx.server->requests_total(), 4u);
}

TEST(Webhook, TimeoutRetriesThenDeadLetters) {
  Fixture fx([](const RecordedRequest&) { return ScriptedReply::Delay(2'000); });
  WebhookOptions o = FastOptions(*fx.server);
  o.timeout_ms = 100;
  o.retries_max = 2;
  auto hook = fx.Webhook(o);
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("r/1"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));
  Outcome oc = out.Get()[0];
  EXPECT_EQ(oc.kind, Outcome::Kind::kDeadLetter);
  EXPECT_EQ(oc.attempts, 3);
  EXPECT_EQ(oc.http_status, 0);
  EXPECT_NE(oc.error.find("timeout"), std::string::npos) << oc.error;
  EXPECT_NE(oc.error.find("after 3 attempts"), std::string::npos) << oc.error;
  EXPECT_TRUE(fx.server->WaitForRequests(3, 10'000));
}

TEST(Webhook, DroppedConnectionsAreRetried) {
  std::atomic<int> calls{0};
  Fixture fx([&](const RecordedRequest&) { return ++calls <= 2 ? ScriptedReply::Drop() : ScriptedReply{}; });
  auto hook = fx.Webhook(FastOptions(*fx.server));
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("r/1"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));
  EXPECT_EQ(out.Get()[0].kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(out.Get()[0].attempts, 3);
}

TEST(Webhook, ConnectionRefusedDeadLetters) {
  uint16_t port;
  {
    auto s = RecordingHttpServer::Start();
    ASSERT_TRUE(s.ok());
    port = (*s)->port();
  }  // closed: nothing listens there now
  auto rt = ActionRuntime::Create();
  ASSERT_TRUE(rt.ok());
  WebhookOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  o.retries_max = 1;
  o.backoff_initial_ms = 1;
  o.backoff_max_ms = 1;
  auto hook = (*rt)->NewWebhook(o);
  ASSERT_TRUE(hook.ok());
  Outcomes out;
  ASSERT_TRUE((*hook)->Submit(MakeFiring("r/1"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));
  EXPECT_EQ(out.Get()[0].kind, Outcome::Kind::kDeadLetter);
  EXPECT_EQ(out.Get()[0].attempts, 2);
  EXPECT_NE(out.Get()[0].error.find("connect"), std::string::npos) << out.Get()[0].error;
}

TEST(Webhook, ConcurrencyLimitIsNeverExceeded) {
  Fixture fx([](const RecordedRequest&) { return ScriptedReply::Delay(30); });
  WebhookOptions o = FastOptions(*fx.server);
  o.concurrency_max = 3;
  o.queue_max = 100;
  auto hook = fx.Webhook(o);
  Outcomes out;
  constexpr int kFirings = 30;
  for (int i = 0; i < kFirings; ++i) ASSERT_TRUE(hook->Submit(MakeFiring("r/" + std::to_string(i)), out.Callback()));
  ASSERT_TRUE(out.Wait(kFirings));
  for (const auto& oc : out.Get()) EXPECT_EQ(oc.kind, Outcome::Kind::kDelivered);
  EXPECT_LE(fx.server->concurrent_max(), 3u);
  EXPECT_GE(fx.server->concurrent_max(), 2u);  // the limit is also used, not just respected
  EXPECT_EQ(fx.server->requests_total(), uint64_t{kFirings});
}

TEST(Webhook, QueueFullRefusesSubmit) {
  Fixture fx([](const RecordedRequest&) { return ScriptedReply::Delay(1'000); });
  WebhookOptions o = FastOptions(*fx.server);
  o.concurrency_max = 2;
  o.queue_max = 3;
  auto hook = fx.Webhook(o);
  Outcomes out;
  int accepted = 0;
  for (int i = 0; i < 8; ++i) accepted += hook->Submit(MakeFiring("r/" + std::to_string(i)), out.Callback()) ? 1 : 0;
  EXPECT_EQ(accepted, 5);
  EXPECT_EQ(hook->stats().submitted, 5u);
  EXPECT_EQ(hook->stats().queued, 3u);
  ASSERT_TRUE(out.Wait(5));
  EXPECT_TRUE(hook->Submit(MakeFiring("r/later"), out.Callback()));  // room again
  ASSERT_TRUE(out.Wait(6));
}

TEST(Webhook, BreakerOpensAfterFailuresThenHalfOpens) {
  std::atomic<bool> healthy{false};
  Fixture fx([&](const RecordedRequest&) { return healthy ? ScriptedReply{} : ScriptedReply::Status(500); });
  WebhookOptions o = FastOptions(*fx.server);
  o.breaker_failures = 3;
  o.breaker_open_ms = 2'000;
  o.retries_max = 0;
  o.concurrency_max = 1;
  auto hook = fx.Webhook(o);
  Outcomes out;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(hook->Submit(MakeFiring("fail/" + std::to_string(i)), out.Callback()));
  ASSERT_TRUE(out.Wait(3));
  EXPECT_EQ(hook->stats().breaker_opens, 1u);
  EXPECT_TRUE(hook->stats().breaker_open);
  EXPECT_EQ(fx.server->requests_total(), 3u);
  // While open, nothing reaches the endpoint; the probe goes once the breaker half-opens.
  healthy = true;
  ASSERT_TRUE(hook->Submit(MakeFiring("probe"), out.Callback()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(fx.server->requests_total(), 3u);  // open for 2 s: a stall of 1.8 s would be needed
  ASSERT_TRUE(out.Wait(4));
  EXPECT_EQ(out.Get()[3].kind, Outcome::Kind::kDelivered);
  auto reqs = fx.server->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_GE(reqs[3].received_ms - reqs[2].received_ms, 1'900);
  EXPECT_FALSE(hook->stats().breaker_open);
}

// The breaker's open period is measured on the injected clock, not the machine's: with the
// clock held still the breaker stays open however long the test waits, and it half-opens as
// soon as the clock is moved past the open period.
TEST(Webhook, BreakerOpenPeriodFollowsTheInjectedClock) {
  ManualClock clock;
  std::atomic<bool> healthy{false};
  Fixture fx([&](const RecordedRequest&) { return healthy ? ScriptedReply{} : ScriptedReply::Status(500); },
             /*threads=*/2, &clock);
  WebhookOptions o = FastOptions(*fx.server);
  o.breaker_failures = 2;
  o.breaker_open_ms = 50;  // also the real delay of the re-check timer
  o.retries_max = 0;
  o.concurrency_max = 1;
  auto hook = fx.Webhook(o);
  Outcomes out;
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(hook->Submit(MakeFiring("fail/" + std::to_string(i)), out.Callback()));
  ASSERT_TRUE(out.Wait(2));
  EXPECT_EQ(hook->stats().breaker_opens, 1u);
  EXPECT_TRUE(hook->stats().breaker_open);

  healthy = true;
  ASSERT_TRUE(hook->Submit(MakeFiring("probe"), out.Callback()));
  // Several real open periods pass, the injected clock does not move: still open.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(fx.server->requests_total(), 2u);
  EXPECT_TRUE(hook->stats().breaker_open);
  EXPECT_EQ(out.Get().size(), 2u);

  clock.Advance(49);  // one ms short of the open period
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(fx.server->requests_total(), 2u);

  clock.Advance(1);  // the open period has passed: the waiting firing goes out as the probe
  ASSERT_TRUE(out.Wait(3));
  EXPECT_EQ(out.Get()[2].kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(fx.server->requests_total(), 3u);
  EXPECT_FALSE(hook->stats().breaker_open);
  EXPECT_EQ(hook->stats().breaker_opens, 1u);
}

TEST(Webhook, FailedProbeReopensTheBreaker) {
  std::atomic<int> calls{0};
  Fixture fx([&](const RecordedRequest&) { return ++calls <= 3 ? ScriptedReply::Status(502) : ScriptedReply{}; });
  WebhookOptions o = FastOptions(*fx.server);
  o.breaker_failures = 2;
  o.breaker_open_ms = 200;
  o.retries_max = 5;
  o.concurrency_max = 4;
  auto hook = fx.Webhook(o);
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("a"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));
  EXPECT_EQ(out.Get()[0].kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(out.Get()[0].attempts, 4);
  // Opened after 2 failures, the 3rd attempt was the probe and failed: opened again.
  EXPECT_EQ(hook->stats().breaker_opens, 2u);
  auto reqs = fx.server->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_GE(reqs[2].received_ms - reqs[1].received_ms, 150);
  EXPECT_GE(reqs[3].received_ms - reqs[2].received_ms, 150);
}

TEST(Webhook, StopWithWorkInFlightSkipsEachFiringOnce) {
  Fixture fx([](const RecordedRequest&) { return ScriptedReply::Delay(5'000); });
  WebhookOptions o = FastOptions(*fx.server);
  o.concurrency_max = 2;
  o.queue_max = 10;
  auto hook = fx.Webhook(o);
  std::mutex mu;
  std::map<std::string, int> calls;
  std::vector<Outcome> outcomes;
  for (int i = 0; i < 6; ++i) {
    std::string id = "r/" + std::to_string(i);
    ASSERT_TRUE(hook->Submit(MakeFiring(id), [&, id](Outcome oc) {
      std::lock_guard<std::mutex> lock(mu);
      ++calls[id];
      outcomes.push_back(std::move(oc));
    }));
  }
  ASSERT_TRUE(fx.server->WaitForRequests(2, 10'000));
  fx.runtime->Stop();
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(calls.size(), 6u);
    for (const auto& [id, n] : calls) EXPECT_EQ(n, 1) << id;
    for (const auto& oc : outcomes) {
      EXPECT_EQ(oc.kind, Outcome::Kind::kSkipped);
      EXPECT_EQ(oc.error, "stopped");
    }
  }
  EXPECT_FALSE(hook->Submit(MakeFiring("after"), [](Outcome) {}));
  EXPECT_EQ(hook->stats().skipped, 6u);
  hook.reset();  // after Stop: no second outcome
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(outcomes.size(), 6u);
}

TEST(Webhook, DestroyingTheExecutorSkipsItsPendingFirings) {
  Fixture fx([](const RecordedRequest&) { return ScriptedReply::Delay(5'000); });
  auto hook = fx.Webhook(FastOptions(*fx.server));
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("r/1"), out.Callback()));
  ASSERT_TRUE(fx.server->WaitForRequests(1, 10'000));
  hook.reset();
  ASSERT_TRUE(out.Wait(1, 0));
  EXPECT_EQ(out.Get()[0].kind, Outcome::Kind::kSkipped);
}

TEST(Webhook, ManySubmittersEveryFiringGetsOneOutcome) {
  std::atomic<int> calls{0};
  // Every third answer fails (retried), every seventh request is dropped (retried).
  Fixture fx([&](const RecordedRequest&) {
    int n = ++calls;
    if (n % 7 == 0) return ScriptedReply::Drop();
    return n % 3 == 0 ? ScriptedReply::Status(503) : ScriptedReply{};
  });
  WebhookOptions o = FastOptions(*fx.server);
  o.concurrency_max = 4;
  o.queue_max = 1'000;
  o.retries_max = 10;
  auto hook = fx.Webhook(o);
  std::mutex mu;
  std::map<std::string, int> seen;
  std::map<Outcome::Kind, int> kinds;
  std::condition_variable cv;
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = "r/" + std::to_string(t) + "/" + std::to_string(i);
        bool ok = hook->Submit(MakeFiring(id), [&, id](Outcome oc) {
          std::lock_guard<std::mutex> lock(mu);
          ++seen[id];
          ++kinds[oc.kind];
          cv.notify_all();
        });
        EXPECT_TRUE(ok);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return seen.size() == kThreads * kPerThread; }));
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(kinds[Outcome::Kind::kDelivered], kThreads * kPerThread);
  ExecutorStats s = hook->stats();
  EXPECT_EQ(s.delivered, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(s.attempts, s.delivered + s.failures);
  EXPECT_EQ(s.attempts, fx.server->requests_total());
  EXPECT_LE(fx.server->concurrent_max(), 4u);
}

TEST(ActionRuntime, StopIsIdempotentAndRefusesNewExecutors) {
  auto rt = ActionRuntime::Create(/*threads=*/3);
  ASSERT_TRUE(rt.ok());
  (*rt)->Stop();
  (*rt)->Stop();
  WebhookOptions o;
  o.url = "http://127.0.0.1:1/";
  EXPECT_EQ((*rt)->NewWebhook(o).status().code(), StatusCode::kFailedPrecondition);
}

TEST(Webhook, BadOptionsAreRefused) {
  auto rt = ActionRuntime::Create();
  ASSERT_TRUE(rt.ok());
  WebhookOptions o;
  o.url = "https://example.com/";
  EXPECT_EQ((*rt)->NewWebhook(o).status().code(), StatusCode::kInvalidArgument);
  o.url = "http://127.0.0.1:1/";
  o.concurrency_max = 0;
  EXPECT_EQ((*rt)->NewWebhook(o).status().code(), StatusCode::kInvalidArgument);
  o.concurrency_max = 1;
  o.backoff_max_ms = 1;
  o.backoff_initial_ms = 10;
  EXPECT_EQ((*rt)->NewWebhook(o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ActionRuntime::Create(0).status().code(), StatusCode::kInvalidArgument);
  o.backoff_initial_ms = 1;
  o.headers["X-A"] = "v\r\nX-Injected-Hdr: 1";
  EXPECT_EQ((*rt)->NewWebhook(o).status().code(), StatusCode::kInvalidArgument);
  o.headers.clear();
  o.headers["X A"] = "v";
  EXPECT_EQ((*rt)->NewWebhook(o).status().code(), StatusCode::kInvalidArgument);
  o.headers.clear();
  o.url = "http://127.0.0.1:1/a\r\nX-Injected-Hdr: 1";
  EXPECT_EQ((*rt)->NewWebhook(o).status().code(), StatusCode::kInvalidArgument);
}

// A header value built at run time (the Idempotency-Key carries the event's id) cannot inject a
// header: the firing is dead-lettered as permanent, with the reason, and nothing is sent.
TEST(Webhook, RunTimeValueThatWouldInjectAHeaderIsDeadLettered) {
  Fixture fx([](const RecordedRequest&) { return ScriptedReply::Status(200, "ok"); });
  auto hook = fx.Webhook(FastOptions(*fx.server));
  Outcomes out;
  ASSERT_TRUE(hook->Submit(MakeFiring("rule1/ev\r\nX-Injected-Hdr: 1"), out.Callback()));
  ASSERT_TRUE(out.Wait(1));
  Outcome o1 = out.Get()[0];
  EXPECT_EQ(o1.kind, Outcome::Kind::kDeadLetter);
  EXPECT_EQ(o1.attempts, 1);
  EXPECT_NE(o1.error.find("control character"), std::string::npos) << o1.error;
  EXPECT_TRUE(fx.server->requests().empty());
  EXPECT_EQ(hook->stats().dead_lettered, 1u);
}

}  // namespace
}  // namespace impulse::action
