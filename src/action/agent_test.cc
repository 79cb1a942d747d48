// The agent executor against the fake OpenAI endpoint: answers, parameters, the API key,
// retries, dead letters, stale firings, the concurrency limit, the rate limit and Stop.
// Waits are generous (a loaded 2-core machine); assertions count events, not time, except
// lower bounds (a Retry-After is honoured), which load cannot break.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "action/action.h"
#include "action/fake_openai.h"
#include "common/manual_clock.h"

namespace impulse::action {
namespace {

constexpr int64_t kWaitMs = 30'000;

// Collects outcomes from the I/O thread.
class Outcomes {
 public:
  std::function<void(Outcome)> Callback() {
    return [this](Outcome o) {
      std::lock_guard<std::mutex> lock(mu_);
      outcomes_.push_back(std::move(o));
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, int64_t timeout_ms = kWaitMs) {
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

class AgentTest : public testing::Test {
 protected:
  void SetUp() override {
    auto fake = FakeOpenAi::Start();
    ASSERT_TRUE(fake.ok()) << fake.status().ToString();
    fake_ = std::move(fake).value();
  }

  AgentOptions Options() const {
    AgentOptions o;
    o.base_url = fake_->base_url();
    o.model = "fake-model-1";
    o.backoff_initial_ms = 1;
    o.backoff_max_ms = 5;
    o.timeout_ms = 10'000;
    return o;
  }

  void MakeRuntime(Clock* clock = nullptr) {
    auto rt = ActionRuntime::Create(2, clock);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    runtime_ = std::move(rt).value();
  }

  std::unique_ptr<Executor> MakeAgent(const AgentOptions& o) {
    auto e = runtime_->NewAgent(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  }

  Firing MakeFiring(const std::string& id, const std::string& prompt, const Clock* clock = Clock::Real()) {
    Firing f;
    f.id = id;
    f.action = "ask";
    f.payload = prompt;
    f.fired_at_ms = clock->NowMs();
    f.event_time_ms = f.fired_at_ms;
    return f;
  }

  // Declared in destruction order: outcomes outlive the runtime whose stop hook reports to them.
  std::unique_ptr<FakeOpenAi> fake_;
  Outcomes outcomes_;
  std::unique_ptr<ActionRuntime> runtime_;
};

TEST_F(AgentTest, TextAnswerWithModelSystemPromptAndParameters) {
  MakeRuntime();
  AgentOptions o = Options();
  o.system_prompt = "You review payments.";
  o.temperature = 0.5;
  o.max_tokens = 64;
  auto agent = MakeAgent(o);
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/e1", "is card 42 ok?"), outcomes_.Callback()));
  ASSERT_TRUE(outcomes_.WaitFor(1));
  const Outcome out = outcomes_.Get()[0];
  EXPECT_EQ(out.kind, Outcome::Kind::kDelivered) << out.error;
  EXPECT_EQ(out.response, "echo: is card 42 ok?");
  EXPECT_EQ(out.attempts, 1);
  EXPECT_EQ(out.http_status, 200);

  auto reqs = fake_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(reqs[0].valid);
  EXPECT_EQ(reqs[0].model, "fake-model-1");
  EXPECT_EQ(reqs[0].system, "You review payments.");
  EXPECT_EQ(reqs[0].user, "is card 42 ok?");
  EXPECT_EQ(reqs[0].messages, 2u);
  EXPECT_DOUBLE_EQ(reqs[0].temperature, 0.5);
  EXPECT_EQ(reqs[0].max_tokens, 64);
  EXPECT_FALSE(reqs[0].json_asked);
  EXPECT_EQ(reqs[0].idempotency_key, "rule/e1");
  EXPECT_EQ(reqs[0].authorization, "");  // no api_key_env: no header

  ExecutorStats s = agent->stats();
  EXPECT_EQ(s.submitted, 1u);
  EXPECT_EQ(s.delivered, 1u);
  EXPECT_EQ(s.attempts, 1u);
  EXPECT_EQ(s.inflight, 0u);
}

TEST_F(AgentTest, JsonAnswerIsTheParsedObject) {
  MakeRuntime();
  AgentOptions o = Options();
  o.json = true;
  auto agent = MakeAgent(o);
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/e2", "looks like fraud"), outcomes_.Callback()));
  ASSERT_TRUE(outcomes_.WaitFor(1));
  const Outcome out = outcomes_.Get()[0];
  ASSERT_EQ(out.kind, Outcome::Kind::kDelivered) << out.error;
  EXPECT_EQ(out.response, R"({"verdict":"flag","prompt_chars":16})");
  ASSERT_EQ(fake_->requests().size(), 1u);
  EXPECT_TRUE(fake_->requests()[0].json_asked);
}

TEST_F(AgentTest, BearerTokenFromEnvironmentVariable) {
  MakeRuntime();
  AgentOptions o = Options();
  o.api_key_env = "IMPULSE_AGENT_TEST_KEY";
  ::unsetenv("IMPULSE_AGENT_TEST_KEY");
  auto missing = runtime_->NewAgent(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("IMPULSE_AGENT_TEST_KEY"), std::string::npos);

  ::setenv("IMPULSE_AGENT_TEST_KEY", "sk-fake-123", 1);
  auto agent = MakeAgent(o);
  ::unsetenv("IMPULSE_AGENT_TEST_KEY");
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/e3", "hi"), outcomes_.Callback()));
  ASSERT_TRUE(outcomes_.WaitFor(1));
  EXPECT_EQ(outcomes_.Get()[0].kind, Outcome::Kind::kDelivered);
  ASSERT_EQ(fake_->requests().size(), 1u);
  EXPECT_EQ(fake_->requests()[0].authorization, "Bearer sk-fake-123");
}

TEST_F(AgentTest, RateLimited429ThenSuccessHonoursRetryAfter) {
  MakeRuntime();
  fake_->RateLimitNext(1, "1");
  auto agent = MakeAgent(Options());
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/e4", "hello"), outcomes_.Callback()));
  ASSERT_TRUE(outcomes_.WaitFor(1));
  const Outcome out = outcomes_.Get()[0];
  EXPECT_EQ(out.kind, Outcome::Kind::kDelivered) << out.error;
  EXPECT_EQ(out.attempts, 2);
  EXPECT_EQ(out.response, "echo: hello");
  EXPECT_GE(out.latency_ns, 900'000'000);  // Retry-After: 1 s was waited out

  auto reqs = fake_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].idempotency_key, "rule/e4");
  EXPECT_EQ(reqs[1].idempotency_key, "rule/e4");  // the same key on the retry
  ExecutorStats s = agent->stats();
  EXPECT_EQ(s.attempts, 2u);
  EXPECT_EQ(s.retries, 1u);
  EXPECT_EQ(s.failures, 1u);
  EXPECT_EQ(s.delivered, 1u);
}

TEST_F(AgentTest, ServerErrorsAndDroppedConnectionsAreRetried) {
  MakeRuntime();
  fake_->FailNext(2, 503);
  fake_->DropNext(1);
  auto agent = MakeAgent(Options());
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/e5", "x"), outcomes_.Callback()));
  ASSERT_TRUE(outcomes_.WaitFor(1));
  const Outcome out = outcomes_.Get()[0];
  EXPECT_EQ(out.kind, Outcome::Kind::kDelivered) << out.error;
  EXPECT_EQ(out.attempts, 4);
}

TEST_F(AgentTest, NonJsonAnswerIsRetriedThenDeadLettered) {
  MakeRuntime();
  fake_->NotJsonNext(10);
  AgentOptions o = Options();
  o.json = true;
  o.retries_max = 2;
  auto agent = MakeAgent(o);
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/e6", "x"), outcomes_.Callback()));
  ASSERT_TRUE(outcomes_.WaitFor(1));
  const Outcome out = outcomes_.Get()[0];
  EXPECT_EQ(out.kind, Outcome::Kind::kDeadLetter);
  EXPECT_EQ(out.attempts, 3);
  EXPECT_EQ(out.http_status, 200);
  EXPECT_EQ(out.error.rfind("answer is not JSON", 0), 0u) << out.error;
  EXPECT_EQ(fake_->requests().size(), 3u);
  EXPECT_EQ(agent->stats().dead_lettered, 1u);
}

TEST_F(AgentTest, TimeoutIsRetriedThenDeadLettered) {
  MakeRuntime();
  fake_->set_delay_ms(5'000);
  AgentOptions o = Options();
  o.timeout_ms = 200;
  o.retries_max = 1;
  auto agent = MakeAgent(o);
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/slow", "x"), outcomes_.Callback()));
  ASSERT_TRUE(outcomes_.WaitFor(1));
  const Outcome out = outcomes_.Get()[0];
  EXPECT_EQ(out.kind, Outcome::Kind::kDeadLetter);
  EXPECT_EQ(out.attempts, 2);
  EXPECT_EQ(out.http_status, 0);
  EXPECT_EQ(out.error.rfind("timeout", 0), 0u) << out.error;
  EXPECT_EQ(fake_->requests().size(), 2u);
}

TEST_F(AgentTest, PermanentClientErrorIsDeadLetteredAtOnce) {
  MakeRuntime();
  fake_->FailNext(1, 401);
  auto agent = MakeAgent(Options());
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/e7", "x"), outcomes_.Callback()));
  ASSERT_TRUE(outcomes_.WaitFor(1));
  const Outcome out = outcomes_.Get()[0];
  EXPECT_EQ(out.kind, Outcome::Kind::kDeadLetter);
  EXPECT_EQ(out.attempts, 1);
  EXPECT_EQ(out.http_status, 401);
  EXPECT_NE(out.error.find("scripted failure"), std::string::npos) << out.error;
}

TEST_F(AgentTest, StaleFiringIsSkippedWithReason) {
  ManualClock clock;
  MakeRuntime(&clock);
  AgentOptions o = Options();
  o.max_event_age_ms = 5'000;
  auto agent = MakeAgent(o);
  ASSERT_NE(agent, nullptr);
  Firing old_firing = MakeFiring("rule/old", "x", &clock);
  old_firing.fired_at_ms -= 12'000;
  ASSERT_TRUE(agent->Submit(old_firing, outcomes_.Callback()));
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/new", "y", &clock), outcomes_.Callback()));
  ASSERT_TRUE(outcomes_.WaitFor(2));
  std::vector<Outcome> outs = outcomes_.Get();
  int skipped = 0, delivered = 0;
  for (const Outcome& out : outs) {
    if (out.kind == Outcome::Kind::kSkipped) {
      ++skipped;
      EXPECT_EQ(out.error, "stale: fired 12000 ms ago (max_event_age 5000 ms)");
      EXPECT_EQ(out.attempts, 0);
    }
    if (out.kind == Outcome::Kind::kDelivered) ++delivered;
  }
  EXPECT_EQ(skipped, 1);
  EXPECT_EQ(delivered, 1);
  ASSERT_EQ(fake_->requests().size(), 1u);  // the stale one never reached the endpoint
  EXPECT_EQ(fake_->requests()[0].idempotency_key, "rule/new");
  EXPECT_EQ(agent->stats().skipped, 1u);
}

TEST_F(AgentTest, ConcurrencyLimitRespected) {
  MakeRuntime();
  fake_->set_delay_ms(150);
  AgentOptions o = Options();
  o.concurrency_max = 2;
  auto agent = MakeAgent(o);
  ASSERT_NE(agent, nullptr);
  constexpr int kN = 8;
  for (int i = 0; i < kN; ++i) {
    ASSERT_TRUE(agent->Submit(MakeFiring("rule/c" + std::to_string(i), "x"), outcomes_.Callback()));
  }
  ASSERT_TRUE(outcomes_.WaitFor(kN));
  for (const Outcome& out : outcomes_.Get()) EXPECT_EQ(out.kind, Outcome::Kind::kDelivered) << out.error;
  EXPECT_LE(fake_->concurrent_max(), 2u);
  EXPECT_GE(fake_->concurrent_max(), 1u);
  EXPECT_EQ(fake_->requests().size(), static_cast<size_t>(kN));
}

TEST_F(AgentTest, FullQueueRefusesSubmit) {
  MakeRuntime();
  fake_->set_delay_ms(300);
  AgentOptions o = Options();
  o.concurrency_max = 1;
  o.queue_max = 2;
  auto agent = MakeAgent(o);
  ASSERT_NE(agent, nullptr);
  int accepted = 0;
  for (int i = 0; i < 10; ++i) {
    if (agent->Submit(MakeFiring("rule/q" + std::to_string(i), "x"), outcomes_.Callback())) ++accepted;
  }
  // At most one in flight and two queued while the first call takes 300 ms.
  EXPECT_GE(accepted, 2);
  EXPECT_LE(accepted, 3);
  ASSERT_TRUE(outcomes_.WaitFor(static_cast<size_t>(accepted)));
  EXPECT_EQ(agent->stats().submitted, static_cast<uint64_t>(accepted));
}

TEST_F(AgentTest, RequestsPerMinuteRespectedWithManualClock) {
  ManualClock clock;
  MakeRuntime(&clock);
  AgentOptions o = Options();
  o.requests_per_minute = 2;  // a burst of 2, then one every 30 s of the manual clock
  o.tokens_per_minute = 0;
  auto agent = MakeAgent(o);
  ASSERT_NE(agent, nullptr);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(agent->Submit(MakeFiring("rule/r" + std::to_string(i), "x", &clock), outcomes_.Callback()));
  }
  ASSERT_TRUE(outcomes_.WaitFor(2));
  // The clock has not moved: the other two wait (rechecking) and nothing more is sent.
  std::this_thread::sleep_for(std::chrono::milliseconds(1'500));
  EXPECT_EQ(outcomes_.Get().size(), 2u);
  EXPECT_EQ(fake_->calls(), 2u);
  EXPECT_GE(agent->stats().rate_limited, 2u);

  clock.Advance(30'000);
  ASSERT_TRUE(outcomes_.WaitFor(3));
  std::this_thread::sleep_for(std::chrono::milliseconds(1'500));
  EXPECT_EQ(outcomes_.Get().size(), 3u);  // one more request's worth of budget only
  clock.Advance(30'000);
  ASSERT_TRUE(outcomes_.WaitFor(4));
  for (const Outcome& out : outcomes_.Get()) EXPECT_EQ(out.kind, Outcome::Kind::kDelivered) << out.error;
  EXPECT_EQ(fake_->calls(), 4u);
}

TEST_F(AgentTest, ReportedUsageGivesBackTheTokenEstimate) {
  ManualClock clock;  // never advanced: only the usage correction can free budget
  MakeRuntime(&clock);
  AgentOptions o = Options();
  o.requests_per_minute = 0;
  o.tokens_per_minute = 1'000;
  o.max_tokens = 400;  // estimate ~400 per call; the fake reports ~3
  auto agent = MakeAgent(o);
  ASSERT_NE(agent, nullptr);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(agent->Submit(MakeFiring("rule/t" + std::to_string(i), "abcd", &clock), outcomes_.Callback()));
  }
  ASSERT_TRUE(outcomes_.WaitFor(3));
  for (const Outcome& out : outcomes_.Get()) EXPECT_EQ(out.kind, Outcome::Kind::kDelivered) << out.error;
  EXPECT_EQ(agent->stats().rate_limited, 1u);  // the third waited for the first answers' refund
}

TEST_F(AgentTest, StopSkipsQueuedAndInFlightFirings) {
  MakeRuntime();
  fake_->set_delay_ms(20'000);
  AgentOptions o = Options();
  o.concurrency_max = 1;
  auto agent = MakeAgent(o);
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/s1", "x"), outcomes_.Callback()));
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/s2", "x"), outcomes_.Callback()));
  ASSERT_TRUE(fake_->WaitForCalls(1, kWaitMs));
  runtime_->Stop();
  ASSERT_TRUE(outcomes_.WaitFor(2, 1'000));
  for (const Outcome& out : outcomes_.Get()) {
    EXPECT_EQ(out.kind, Outcome::Kind::kSkipped);
    EXPECT_EQ(out.error, "stopped");
  }
  EXPECT_EQ(agent->stats().skipped, 2u);
  EXPECT_FALSE(agent->Submit(MakeFiring("rule/s3", "x"), outcomes_.Callback()));
}

TEST_F(AgentTest, DestroyedExecutorSkipsWhatItHeld) {
  MakeRuntime();
  fake_->set_delay_ms(20'000);
  auto agent = MakeAgent(Options());
  ASSERT_NE(agent, nullptr);
  ASSERT_TRUE(agent->Submit(MakeFiring("rule/d1", "x"), outcomes_.Callback()));
  ASSERT_TRUE(fake_->WaitForCalls(1, kWaitMs));
  agent.reset();
  ASSERT_TRUE(outcomes_.WaitFor(1, 1'000));
  EXPECT_EQ(outcomes_.Get()[0].kind, Outcome::Kind::kSkipped);
  EXPECT_EQ(outcomes_.Get()[0].error, "executor destroyed");
  runtime_->Stop();
  EXPECT_EQ(outcomes_.Get().size(), 1u);  // exactly one outcome, even after the runtime stops
}

}  // namespace
}  // namespace impulse::action
