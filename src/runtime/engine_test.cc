// The engine through its library API: ingest, routing, pipelines, durability errors and
// backpressure. Runs under ThreadSanitizer too (label "concurrent").
#include <gtest/gtest.h>

#include <algorithm>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>

#include "common/fault_env.h"
#include "impulse/engine.h"
#include "runtime/engine_test_util.h"

namespace impulse {
namespace {

constexpr const char* kSpec = R"YAML(streams:
  - name: clicks
    fields:
      - {name: user_id, type: string}
      - {name: url, type: string}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: user_id
    event_time: ts
    partitions: 4
pipelines:
  - name: big_clicks
    from: clicks
    steps:
      - filter: "amount > 100"
      - map:
          amount_cents: "cast(amount * 100 as int64)"
      - key_by: url
    sink: {stream: big_clicks}
)YAML";

using Outcome = testing_util::IngestOutcome;

// Calls Ingest and waits for its completion.
Outcome IngestSync(Engine& e, std::string_view stream, std::string_view body) {
  return testing_util::IngestAndWait(e, stream, body);
}

std::string Click(int i, double amount) {
  return R"({"user_id":"u)" + std::to_string(i % 13) + R"(","url":"/p/)" + std::to_string(i) + R"(","amount":)" +
         std::to_string(amount) + R"(,"ts":"2024-03-01T10:00:00Z"})" + "\n";
}

// Events in a stream (pipeline-written streams also hold watermark markers, which
// ReadEvents skips, so offsets overcount).
uint64_t Count(const Engine& e, const std::string& stream) {
  uint64_t n = 0;
  for (const StreamInfo& s : e.ListStreams()) {
    if (s.name != stream) continue;
    for (const PartitionInfo& p : s.partitions) {
      std::string out;
      EXPECT_TRUE(e.ReadEvents(stream, p.partition, p.start_offset, 1'000'000, &out).ok());
      n += static_cast<uint64_t>(std::count(out.begin(), out.end(), '\n'));
    }
  }
  return n;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse-engine-test-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    spec_ = (dir_ / "spec.yaml").string();
    std::ofstream(spec_) << kSpec;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EngineOptions Options() {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.shards = 2;
    o.max_producers = 1;
    return o;
  }

  std::filesystem::path dir_;
  std::string spec_;
};

TEST_F(EngineTest, PipelineOutputsCrossShardsAndMatchTheFilter) {
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::string body;
  int big = 0;
  for (int i = 0; i < 500; ++i) {
    const double amount = (i * 37) % 200;
    big += amount > 100;
    body += Click(i, amount);
  }
  Outcome o = IngestSync(**e, "clicks", body);
  ASSERT_TRUE(o.status.ok()) << o.status.ToString();
  EXPECT_EQ(o.result.accepted, 500u);
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  EXPECT_EQ(Count(**e, "clicks"), 500u);
  EXPECT_EQ(Count(**e, "big_clicks"), static_cast<uint64_t>(big));
  std::string out;
  ASSERT_TRUE((*e)->ReadEvents("big_clicks", 0, 0, 1, &out).ok());
  EXPECT_NE(out.find("\"amount_cents\":"), std::string::npos) << out;
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(EngineTest, BadLinesAreDeadLetteredDurablyWithTheirReasons) {
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Outcome o = IngestSync(**e, "clicks", Click(1, 5) + "{\"user_id\":\"x\"}\n" + "[1,2]\n");
  ASSERT_TRUE(o.status.ok());
  EXPECT_EQ(o.result.accepted, 1u);
  EXPECT_EQ(o.result.rejected, 2u);
  ASSERT_EQ(o.result.errors.size(), 2u);
  EXPECT_EQ(o.result.errors[0].line, 2u);
  EXPECT_EQ(o.result.errors[1].line, 3u);
  EXPECT_EQ(Count(**e, "_dead_letter"), 2u);  // durable before the callback ran
  std::string out;
  ASSERT_TRUE((*e)->ReadEvents("_dead_letter", 0, 0, 10, &out).ok());
  EXPECT_NE(out.find("\"line\":2"), std::string::npos) << out;
  // Regression: dead letters were released from the in-flight bound without being counted in
  // it, so the counter wrapped and every later request got 503.
  const std::string metrics = (*e)->MetricsText();
  EXPECT_NE(metrics.find("impulse_inflight_events{shard=\"0\"} 0"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("impulse_inflight_events{shard=\"1\"} 0"), std::string::npos) << metrics;
  EXPECT_TRUE(IngestSync(**e, "clicks", Click(2, 5)).status.ok());
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(EngineTest, UnknownStreamIsNotFoundAndEngineWrittenStreamsAreNotIngestible) {
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(IngestSync(**e, "nope", Click(1, 1)).status.code(), StatusCode::kNotFound);
  // They exist (and can be read), so "unknown stream" would be wrong: refused as not ingestible.
  EXPECT_EQ(IngestSync(**e, "_dead_letter", Click(1, 1)).status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(IngestSync(**e, "_late_events", Click(1, 1)).status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Count(**e, "_dead_letter"), 0u);
  ASSERT_TRUE((*e)->Stop().ok());
}

// A request that alone holds more events for one shard than the in-flight bound could never
// be admitted: refused as out of range (HTTP 413), not as backpressure (503, retried forever).
TEST_F(EngineTest, RequestOverTheInflightBoundAloneIsOutOfRangeAndLeavesNoTrace) {
  EngineOptions o = Options();
  o.shards = 2;
  o.max_inflight_events_per_shard = 10;
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok());
  std::string body;
  for (int i = 0; i < 100; ++i) body += Click(i, 1);
  body += "not json\n";
  Outcome out = IngestSync(**e, "clicks", body);
  EXPECT_EQ(out.status.code(), StatusCode::kOutOfRange) << out.status.ToString();
  EXPECT_EQ(Count(**e, "clicks"), 0u);  // nothing of a refused request is accepted
  EXPECT_EQ(Count(**e, "_dead_letter"), 0u);
  const std::string metrics = (*e)->MetricsText();
  EXPECT_NE(metrics.find("impulse_oversized_rejections_total 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("impulse_backpressure_rejections_total 0"), std::string::npos);
  // Its bad line was neither dead-lettered nor counted as rejected.
  EXPECT_NE(metrics.find("impulse_events_rejected_total{stream=\"clicks\"} 0"), std::string::npos);
  // Split as the message says (at most max_inflight_events_per_shard lines), it is admitted.
  for (int part = 0; part < 10; ++part) {
    std::string piece;
    for (int i = part * 10; i < part * 10 + 10; ++i) piece += Click(i, 1);
    Outcome ok = IngestSync(**e, "clicks", piece);
    ASSERT_TRUE(ok.status.ok()) << "part " << part << ": " << ok.status.ToString();
  }
  EXPECT_EQ(Count(**e, "clicks"), 100u);
  ASSERT_TRUE((*e)->Stop().ok());
}

// Regression: a body with more lines than all shards may hold in flight together was parsed
// and its dead letters encoded before the in-flight rule refused it (8 MB of invalid lines took
// ~2 GB). It is now refused before parsing, by its line count; the refusal names the bound
// over all shards, where a refusal after parsing names the shard.
TEST_F(EngineTest, BodyWithMoreLinesThanAllShardsMayHoldIsRefusedBeforeParsing) {
  EngineOptions o = Options();
  o.shards = 2;
  o.max_inflight_events_per_shard = 10;  // 20 records at most over both shards
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok());
  auto lines = [](int n, const std::string& line) {
    std::string body;
    for (int i = 0; i < n; ++i) body += line + "\n";
    return body;
  };
  // 21 invalid lines, without a final newline on the last: refused by the count.
  std::string over = lines(21, "x");
  over.pop_back();
  Outcome before = IngestSync(**e, "clicks", over);
  EXPECT_EQ(before.status.code(), StatusCode::kOutOfRange) << before.status.ToString();
  EXPECT_NE(
      before.status.message().find("more than 20 events (lines), over 2 shards x max_inflight_events_per_shard 10"),
      std::string::npos)
      << before.status.ToString();
  EXPECT_EQ(Count(**e, "_dead_letter"), 0u);
  // Blank lines (as Parse skips them) are not records: 20 invalid lines among blank ones pass
  // the count, and the rule after parsing still refuses them (their 20 dead letters go to one
  // shard), naming the shard as before.
  Outcome after = IngestSync(**e, "clicks", lines(20, "x") + lines(30, " \t\r"));
  EXPECT_EQ(after.status.code(), StatusCode::kOutOfRange) << after.status.ToString();
  EXPECT_NE(after.status.message().find("events (lines) for shard"), std::string::npos) << after.status.ToString();
  EXPECT_EQ(Count(**e, "_dead_letter"), 0u);
  const std::string metrics = (*e)->MetricsText();
  EXPECT_NE(metrics.find("impulse_oversized_rejections_total 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("impulse_events_rejected_total{stream=\"clicks\"} 0"), std::string::npos) << metrics;
  // A body the count lets through and the shards can hold is admitted.
  std::string fits;
  for (int i = 0; i < 10; ++i) fits += Click(i, 1);
  EXPECT_TRUE(IngestSync(**e, "clicks", fits + lines(40, "")).status.ok());
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(EngineTest, FullDiskFailsTheRequestAndTheEngineRecoversWhenSpaceReturns) {
  FaultInjectionEnv fenv(Env::Default());
  EngineOptions o = Options();
  o.env = &fenv;
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE(IngestSync(**e, "clicks", Click(1, 1)).status.ok());
  fenv.SetWriteBudget(0);  // the disk is now full
  Outcome full = IngestSync(**e, "clicks", Click(2, 1));
  EXPECT_EQ(full.status.code(), StatusCode::kResourceExhausted) << full.status.ToString();
  fenv.SetWriteBudget(-1);
  Outcome again = IngestSync(**e, "clicks", Click(3, 1));
  EXPECT_TRUE(again.status.ok()) << again.status.ToString();
  EXPECT_EQ(Count(**e, "clicks"), 2u);
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(EngineTest, SpecChangeToAnExistingStreamIsRefusedAtOpen) {
  {
    auto e = Engine::Open(spec_, Options());
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE((*e)->Stop().ok());
  }
  std::string changed = kSpec;
  changed.replace(changed.find("partitions: 4"), 13, "partitions: 8");
  std::ofstream(spec_) << changed;
  auto e = Engine::Open(spec_, Options());
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition);
}

// A start that is refused never ran, so it has no final checkpoint to take, and must not report
// a checkpoint failure that would hide the real reason.
TEST_F(EngineTest, RefusedStartReportsNoCheckpointFailure) {
  EngineOptions o = Options();
  ASSERT_GT(o.checkpoint_interval_ms, 0);
  {
    auto e = Engine::Open(spec_, o);
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE((*e)->Stop().ok());
  }
  std::string changed = kSpec;
  changed.replace(changed.find("partitions: 4"), 13, "partitions: 8");
  std::ofstream(spec_) << changed;
  ::testing::internal::CaptureStderr();
  auto e = Engine::Open(spec_, o);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(err.find("checkpoint"), std::string::npos) << err;
}

TEST_F(EngineTest, ManyConcurrentRequestsFromSeveralProducersAllLand) {
  EngineOptions o = Options();
  o.max_producers = 3;
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok());
  std::vector<std::thread> threads;
  std::atomic<uint64_t> accepted{0};
  for (uint32_t p = 0; p < 3; ++p) {
    threads.emplace_back([&, p] {
      for (int r = 0; r < 20; ++r) {
        std::string body;
        for (int i = 0; i < 50; ++i) body += Click(static_cast<int>(p * 100000 + r * 50 + i), 150);
        std::promise<Outcome> done;
        auto fut = done.get_future();
        Status st;
        do {
          st = (*e)->Ingest("clicks", body, p, [&](Status s, IngestResult res) {
            done.set_value({s, std::move(res)});
          });
          if (!st.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        } while (st.code() == StatusCode::kUnavailable);
        ASSERT_TRUE(st.ok()) << st.ToString();
        Outcome out = fut.get();
        ASSERT_TRUE(out.status.ok());
        accepted += out.result.accepted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 3000u);
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  EXPECT_EQ(Count(**e, "clicks"), 3000u);
  EXPECT_EQ(Count(**e, "big_clicks"), 3000u);
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(EngineTest, DeadLettersOnTheShardOfValidRowsDoNotLeakInflight) {
  // Regression: with one shard the valid rows and the dead letters share a shard, and their
  // in-flight count was added twice but released once, until every request got 503.
  EngineOptions o = Options();
  o.shards = 1;
  o.max_inflight_events_per_shard = 100;
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok());
  for (int i = 0; i < 200; ++i) {
    Outcome out = IngestSync(**e, "clicks", Click(i, 5) + "{}\n");
    ASSERT_TRUE(out.status.ok()) << "request " << i << ": " << out.status.ToString();
  }
  EXPECT_NE((*e)->MetricsText().find("impulse_inflight_events{shard=\"0\"} 0"), std::string::npos);
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(EngineTest, StopRacingIngestNeverLosesACallback) {
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok());
  std::atomic<uint64_t> queued{0}, completed{0};
  std::atomic<bool> go{true};
  std::thread producer([&] {
    const std::string body = Click(1, 150) + Click(2, 150);
    while (go.load()) {
      Status st = (*e)->Ingest("clicks", body, 0, [&](Status, IngestResult) { completed.fetch_add(1); });
      if (st.ok()) {
        queued.fetch_add(1);
      } else if (st.code() == StatusCode::kFailedPrecondition) {
        break;  // stopping
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE((*e)->Stop().ok());
  go = false;
  producer.join();
  EXPECT_GT(queued.load(), 0u);
  EXPECT_EQ(completed.load(), queued.load());  // every accepted request was answered
}

TEST_F(EngineTest, StopDrainsCrossShardOutputsAndRestartDoesNotRepeatThem) {
  std::string body;
  for (int i = 0; i < 2000; ++i) body += Click(i, 150);
  {
    auto e = Engine::Open(spec_, Options());
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE(IngestSync(**e, "clicks", body).status.ok());
    ASSERT_TRUE((*e)->Stop().ok());  // no WaitForPipelines: Stop itself must drain
    EXPECT_EQ(Count(**e, "big_clicks"), 2000u);
  }
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  EXPECT_EQ(Count(**e, "big_clicks"), 2000u);  // cursors were persisted: nothing replayed
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(EngineTest, FullExchangeRingsDelayOutputsButLoseNone) {
  // Rings of two commands: the pipeline's cross-shard outputs (key_by url) fill them at once,
  // so the source shard must wait for the destination to drain and wake it.
  EngineOptions o = Options();
  o.ring_capacity = 2;
  auto e = Engine::Open(spec_, o);
  ASSERT_TRUE(e.ok());
  std::string body;
  for (int i = 0; i < 8000; ++i) body += Click(i, 150);
  ASSERT_TRUE(IngestSync(**e, "clicks", body).status.ok());
  ASSERT_TRUE((*e)->WaitForPipelines(60'000).ok());
  EXPECT_EQ(Count(**e, "big_clicks"), 8000u);
  ASSERT_TRUE((*e)->Stop().ok());
}

// Under sync each acknowledged request waited for an fdatasync, and each is timed (the
// log_fsync stage); without fsyncs there is nothing to time.
TEST_F(EngineTest, TheGroupCommitsFsyncsAreTimedUnderSyncOnly) {
  auto fsyncs = [](const Engine& e) -> std::optional<uint64_t> {
    for (const StageLatency& s : e.StageLatencies()) {
      if (s.stage == "log_fsync") return s.count;
    }
    return std::nullopt;
  };
  for (const Durability d : {Durability::kSync, Durability::kNone}) {
    EngineOptions o = Options();
    o.durability = d;
    auto e = Engine::Open(spec_, o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(IngestSync(**e, "clicks", Click(i, 5)).status.ok());
    if (d == Durability::kSync) {
      EXPECT_GE(fsyncs(**e).value_or(0), 3u);  // one per request at least: each waited for its own
      EXPECT_NE((*e)->MetricsText().find("impulse_stage_latency_seconds_count{stage=\"log_fsync\"} "),
                std::string::npos);
    } else {
      EXPECT_EQ(fsyncs(**e), std::optional<uint64_t>(0));
    }
    ASSERT_TRUE((*e)->Stop().ok());
    std::filesystem::remove_all(o.data_dir);
  }
}

TEST_F(EngineTest, FileSinkReceivesEveryOutputAsNdjson) {
  const std::string out_path = (dir_ / "out.ndjson").string();
  std::string spec = kSpec;
  spec.replace(spec.find("sink: {stream: big_clicks}"), 26, "sink: {file: \"" + out_path + "\"}");
  std::ofstream(spec_) << spec;
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::string body;
  for (int i = 0; i < 100; ++i) body += Click(i, i % 2 ? 150 : 50);
  ASSERT_TRUE(IngestSync(**e, "clicks", body).status.ok());
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  ASSERT_TRUE((*e)->Stop().ok());
  std::ifstream in(out_path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_NE(line.find("\"amount_cents\":15000"), std::string::npos) << line;
  }
  EXPECT_EQ(lines, 50);
}

// An output row over the log's record bound (16 MiB) can never be stored: before, the task
// stopped ("restart to recover") and every restart stopped at the same event. Now the row goes
// to _late_events (reason too_large, step "sink <stream>") and later events are processed.
TEST_F(EngineTest, AnOutputRowTooLargeForARecordIsDeadLetteredAndThePipelineGoesOn) {
  std::ofstream(spec_, std::ios::trunc) << R"YAML(streams:
  - name: docs
    fields:
      - {name: k, type: string}
      - {name: b, type: string}
    key: k
    partitions: 1
pipelines:
  - name: grow
    from: docs
    steps:
      - map:
          x: "concat(b, b, b, b, b, b, b, b)"
          y: "concat(b, b, b, b, b, b, b, b)"
          z: "concat(b, b, b, b, b, b, b, b)"
    sink: {stream: grown}
)YAML";
  for (int round = 0; round < 2; ++round) {  // the second open replays nothing into a failure
    auto e = Engine::Open(spec_, Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    if (round == 0) {
      const std::string big((1u << 20) - 100, 'q');  // under the line bound; 3 x 8 MiB computed, each
                                                     // under the string bound, 24 MiB in all
      Outcome o = IngestSync(**e, "docs", R"({"k":"a","b":")" + big + "\"}\n" + R"({"k":"a","b":"s"})" + "\n");
      ASSERT_TRUE(o.status.ok()) << o.status.ToString();
      ASSERT_EQ(o.result.accepted, 2u);
    }
    ASSERT_TRUE((*e)->WaitForPipelines(60'000).ok());
    EXPECT_EQ(Count(**e, "grown"), 1u);
    std::string late;
    ASSERT_TRUE((*e)->ReadEvents("_late_events", 0, 0, 10, &late).ok());
    EXPECT_EQ(std::count(late.begin(), late.end(), '\n'), 1) << late.substr(0, 300);
    EXPECT_NE(late.find(R"("pipeline":"grow","operator":"sink grown","reason":"too_large")"), std::string::npos)
        << late.substr(0, 300);
    EXPECT_LT(late.size(), 200u << 10);  // the event is cut in its late row
    ASSERT_TRUE((*e)->Stop().ok());
  }
}

}  // namespace
}  // namespace impulse
