// Feature views through the whole engine: online lookups (hit, unknown entity, bad key, values
// older than the ttl, an unknown view, batch limits) and the online values after a restart from
// a checkpoint. Labelled concurrent with the runtime tests: also run under TSan.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "impulse/engine.h"
#include "runtime/engine_impl.h"
#include "spec/spec.h"

namespace impulse {
namespace {

constexpr char kSpec[] = R"yaml(
streams:
  - name: clicks
    fields:
      - {name: user, type: int64}
      - {name: amount, type: int64}
      - {name: ts, type: timestamp}
    key: user
    event_time: ts
    partitions: 4
    watermark: {max_out_of_orderness: 0, idle_timeout: never}
feature_views:
  - name: user
    entity: user
    ttl: 1h
    features:
      - {name: n_10s, agg: count(), window: 10s}
      - {name: total_10s, agg: sum(amount), window: 10s}
      - {name: last_amount, expr: amount}
pipelines:
  - name: user_features
    from: clicks
    steps:
      - features: user
    sink: {stream: clicks_with_features}
)yaml";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class FeaturesEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse_features_" + std::to_string(::getpid()));
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
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 3'600'000;  // taken explicitly
    return o;
  }

  static void Ingest(Engine& e, const std::string& body) {
    std::promise<Status> done;
    ASSERT_TRUE(e.Ingest("clicks", body, 0, [&](Status st, IngestResult) { done.set_value(st); }).ok());
    ASSERT_TRUE(done.get_future().get().ok());
  }

  // 20 events of users 0..4 in the last 100 s, processed: each user then has online values.
  static void IngestFiveUsers(Engine& e) {
    const int64_t now = NowMs();
    std::string body;
    for (int i = 0; i < 20; ++i) {
      body += "{\"user\":" + std::to_string(i % 5) + ",\"amount\":" + std::to_string(i) +
              ",\"ts\":" + std::to_string(now - 100'000 + i * 700) + "}\n";
    }
    Ingest(e, body);
    ASSERT_TRUE(e.WaitForPipelines(30'000).ok());
    size_t found = 0;
    Lookup(e, {"0", "1", "2", "3", "4"}, &found);
    ASSERT_EQ(found, 5u);
  }

  static std::string Lookup(const Engine& e, const std::vector<std::string_view>& ids, size_t* found) {
    std::string out;
    const Status st = e.LookupFeatures("user", ids, &out, found);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  std::filesystem::path dir_;
  std::string spec_;
};

TEST_F(FeaturesEngineTest, LookupsServeTheLatestValuesWithAgeAndReasons) {
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t now = NowMs();
  const int64_t old = now - 2 * 3'600'000;  // user 3's values are older than the 1 h ttl
  std::string body;
  // user 1: three clicks within 10 s, then one 20 s later (the window holds only it).
  for (int64_t dt : {0, 1000, 2000})
    body += "{\"user\":1,\"amount\":" + std::to_string(dt + 5) + ",\"ts\":" + std::to_string(now - 60'000 + dt) + "}\n";
  body += "{\"user\":1,\"amount\":7,\"ts\":" + std::to_string(now - 38'000) + "}\n";
  body += "{\"user\":2,\"amount\":4,\"ts\":" + std::to_string(now - 50'000) + "}\n";
  body += "{\"user\":3,\"amount\":9,\"ts\":" + std::to_string(old) + "}\n";
  Ingest(**e, body);
  ASSERT_TRUE((*e)->EndOfInput("clicks").ok());
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());

  EXPECT_EQ((*e)->FeatureViews(), std::vector<std::string>{"user"});
  size_t found = 0;
  std::string one = Lookup(**e, {"1"}, &found);
  EXPECT_EQ(found, 1u);
  EXPECT_NE(one.find("\"as_of_ms\":" + std::to_string(now - 38'000)), std::string::npos) << one;
  EXPECT_NE(one.find("\"features\":{\"n_10s\":1,\"total_10s\":7,\"last_amount\":7}"), std::string::npos) << one;

  std::string batch = Lookup(**e, {"2", "3", "4", "x"}, &found);
  EXPECT_EQ(found, 1u) << batch;
  EXPECT_NE(batch.find("\"n_10s\":1,\"total_10s\":4"), std::string::npos) << batch;
  EXPECT_NE(batch.find("expired: age"), std::string::npos) << batch;
  EXPECT_NE(batch.find("unknown entity"), std::string::npos) << batch;
  EXPECT_NE(batch.find("is not an int64"), std::string::npos) << batch;

  std::string out;
  EXPECT_EQ((*e)->LookupFeatures("nope", {"1"}, &out, nullptr).code(), StatusCode::kNotFound);
  std::vector<std::string_view> many(Engine::kFeatureLookupBatchMax + 1, "1");
  EXPECT_EQ((*e)->LookupFeatures("user", many, &out, nullptr).code(), StatusCode::kInvalidArgument);
  const std::string metrics = (*e)->MetricsText();
  EXPECT_NE(metrics.find("impulse_feature_entities{view=\"user\"} 3"), std::string::npos);
  EXPECT_NE(metrics.find("impulse_feature_lookups_total{result=\"hit\"} 2"), std::string::npos);
  EXPECT_NE(metrics.find("impulse_feature_lookups_total{result=\"expired\"} 1"), std::string::npos);
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(FeaturesEngineTest, AnEntityExpiredInEventTimeIsSaidToBeExpiredNotUnknown) {
  // One partition: user 6's event moves the watermark of the task that holds user 5.
  std::string spec = kSpec;
  spec.replace(spec.find("partitions: 4"), 13, "partitions: 1");
  auto e = Engine::OpenSpec(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t now = NowMs();
  // User 5, then 3 h of event time later user 6: user 5's state (kept 1 h, the ttl) is dropped.
  Ingest(**e, "{\"user\":5,\"amount\":1,\"ts\":" + std::to_string(now - 4 * 3'600'000) + "}\n");
  Ingest(**e, "{\"user\":6,\"amount\":1,\"ts\":" + std::to_string(now - 3'600'000) + "}\n");
  std::string got;
  size_t found = 0;
  for (int i = 0; i < 500 && got.find("expired by event time") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    got = Lookup(**e, {"5", "7"}, &found);
  }
  EXPECT_NE(got.find("{\"entity\":\"5\",\"found\":false,\"features\":null,\"reason\":\"expired by event time"),
            std::string::npos)
      << got;
  EXPECT_NE(got.find("{\"entity\":\"7\",\"found\":false,\"features\":null,\"reason\":\"unknown entity"),
            std::string::npos)
      << got;
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(FeaturesEngineTest, OnlineValuesSurviveARestartFromACheckpoint) {
  const int64_t now = NowMs();
  std::string before;
  {
    auto e = Engine::Open(spec_, Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    std::string body;
    for (int i = 0; i < 40; ++i) {
      body += "{\"user\":" + std::to_string(i % 5) + ",\"amount\":" + std::to_string(i) +
              ",\"ts\":" + std::to_string(now - 100'000 + i * 700) + "}\n";
    }
    Ingest(**e, body);
    ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
    ASSERT_TRUE((*e)->CheckpointNow().ok());
    size_t found = 0;
    before = Lookup(**e, {"0", "1", "2", "3", "4"}, &found);
    EXPECT_EQ(found, 5u) << before;
    ASSERT_TRUE((*e)->Stop().ok());
  }
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  size_t found = 0;
  std::string after = Lookup(**e, {"0", "1", "2", "3", "4"}, &found);
  // Ages move with the clock; the rest must be identical.
  const auto strip_age = [](std::string s) {
    for (size_t p = s.find("\"age_ms\":"); p != std::string::npos; p = s.find("\"age_ms\":", p + 1)) {
      const size_t end = s.find(',', p);
      s.erase(p, end - p);
    }
    return s;
  };
  EXPECT_EQ(found, 5u) << after;
  EXPECT_EQ(strip_age(after), strip_age(before));
  ASSERT_TRUE((*e)->Stop().ok());
}

// An online reset drops the view's online values with the state they came from (to end:
// nothing is replayed, so they stay gone until new events); to beginning replays them.
TEST_F(FeaturesEngineTest, AResetEmptiesTheOnlineStoreOfItsView) {
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  IngestFiveUsers(**e);
  size_t found = 0;
  const auto reset = [&](ResetTo to) {
    std::promise<Status> done;
    (*e)->ResetPipeline("user_features", to, [&](Status st, PipelineReset) { done.set_value(std::move(st)); });
    return done.get_future().get();
  };
  ASSERT_TRUE(reset(ResetTo::kEnd).ok());
  std::string out = Lookup(**e, {"0", "1", "2", "3", "4"}, &found);
  EXPECT_EQ(found, 0u) << out;
  ASSERT_TRUE(reset(ResetTo::kBeginning).ok());
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  out = Lookup(**e, {"0", "1", "2", "3", "4"}, &found);
  EXPECT_EQ(found, 5u) << out;
  EXPECT_NE(out.find("\"last_amount\":19"), std::string::npos) << out;  // user 4's last event
  ASSERT_TRUE((*e)->Stop().ok());
}

// A shard late to pause (past checkpoint_timeout_ms) still applies the reset when it pauses: the
// reset is in effect, so the store is emptied after that shard stopped its old tasks and the
// answer lists every input it moved, not only the punctual shard's.
TEST_F(FeaturesEngineTest, AResetWhoseShardPausesLateStillEmptiesTheStoreAndListsEveryInput) {
  auto plan = plan::CompileSpecFile(spec_, nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EngineOptions o = Options();
  o.checkpoint_timeout_ms = 1'000;
  runtime::EngineImpl::TestHooks hooks;
  hooks.pause_stall_shard = 1;
  hooks.pause_stall_ms = 1'500;  // late for the first wait, in time for the second
  auto e = runtime::EngineImpl::Create(std::move(*plan), o, hooks);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  IngestFiveUsers(**e);
  size_t found = 0;
  std::promise<std::pair<Status, PipelineReset>> done;
  (*e)->ResetPipeline("user_features", ResetTo::kEnd, [&](Status st, PipelineReset r) {
    done.set_value({std::move(st), std::move(r)});
  });
  auto [st, reset] = done.get_future().get();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("in effect"), std::string::npos) << st.ToString();
  EXPECT_EQ(reset.inputs.size(), 4u);  // both shards' two partitions
  const std::string out = Lookup(**e, {"0", "1", "2", "3", "4"}, &found);
  EXPECT_EQ(found, 0u) << out;
  (void)(*e)->Stop();  // its final checkpoint meets the same late shard
}

// Lookups from another thread while the shards write the same entities (TSan checks the store).
TEST_F(FeaturesEngineTest, LookupsRunConcurrentlyWithIngest) {
  auto e = Engine::Open(spec_, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t now = NowMs();
  std::atomic<bool> done{false};
  std::atomic<uint64_t> lookups{0}, hits{0};
  std::thread reader([&] {
    std::string out;
    while (!done.load()) {
      out.clear();
      size_t found = 0;
      if ((*e)->LookupFeatures("user", {"0", "1", "2", "3", "4", "5", "6", "7"}, &out, &found).ok()) {
        lookups.fetch_add(1);
        hits.fetch_add(found);
      }
    }
  });
  for (int round = 0; round < 20; ++round) {
    std::string body;
    for (int i = 0; i < 200; ++i) {
      const int n = round * 200 + i;
      body += "{\"user\":" + std::to_string(n % 8) + ",\"amount\":" + std::to_string(n) +
              ",\"ts\":" + std::to_string(now - 600'000 + n * 10) + "}\n";
    }
    Ingest(**e, body);
  }
  ASSERT_TRUE((*e)->EndOfInput("clicks").ok());
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  done.store(true);
  reader.join();
  EXPECT_GT(lookups.load(), 0u);
  size_t found = 0;
  const std::string last = Lookup(**e, {"7"}, &found);
  EXPECT_EQ(found, 1u);
  // User 7's last click is n = 3999 at now - 600000 + 39990; its 10 s window holds the clicks
  // of user 7 in (t - 10 s, t]: one every 80 ms, so 125 of them.
  EXPECT_NE(last.find("\"n_10s\":125,"), std::string::npos) << last;
  EXPECT_NE(last.find("\"last_amount\":3999"), std::string::npos) << last;
  ASSERT_TRUE((*e)->Stop().ok());
}

// Labels that arrive after their events (or never) join them: a left outer interval join.
TEST_F(FeaturesEngineTest, LateLabelsJoinTheirTransactionsThroughAnOuterIntervalJoin) {
  const std::string spec = (dir_ / "labels.yaml").string();
  std::ofstream(spec) << R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: id
    event_time: ts
    partitions: 2
    watermark: {max_out_of_orderness: 0, idle_timeout: never}
  - name: reports
    fields:
      - {name: id, type: int64}
      - {name: fraud, type: int64}
      - {name: reported_at, type: timestamp}
    key: id
    event_time: reported_at
    partitions: 2
    watermark: {max_out_of_orderness: 0, idle_timeout: never}
pipelines:
  - name: labeled
    from: tx
    steps:
      - join: {stream: reports, type: interval, on: {left: id, right: id}, between: [0, 7d], outer: true, prefix: r_}
      - map: {label: "coalesce(r_fraud, 0)"}
      - project: [id, amount, label]
    sink: {stream: labeled}
)yaml";
  auto e = Engine::Open(spec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t day = 86'400'000, t0 = 1'700'000'000'000;
  std::string tx, reports;
  for (int i = 0; i < 10; ++i) {
    tx += "{\"id\":" + std::to_string(i) + ",\"amount\":" + std::to_string(i) +
          ".5,\"ts\":" + std::to_string(t0 + i * 1000) + "}\n";
  }
  // 2 and 5 reported within 7 days; 7 reported after 8 days: too late, it stays unlabeled.
  reports += "{\"id\":2,\"fraud\":1,\"reported_at\":" + std::to_string(t0 + 2 * day) + "}\n";
  reports += "{\"id\":5,\"fraud\":1,\"reported_at\":" + std::to_string(t0 + 6 * day) + "}\n";
  reports += "{\"id\":7,\"fraud\":1,\"reported_at\":" + std::to_string(t0 + 8 * day) + "}\n";
  std::promise<Status> a, b;
  ASSERT_TRUE((*e)->Ingest("tx", tx, 0, [&](Status st, IngestResult) { a.set_value(st); }).ok());
  ASSERT_TRUE(a.get_future().get().ok());
  ASSERT_TRUE((*e)->Ingest("reports", reports, 0, [&](Status st, IngestResult) { b.set_value(st); }).ok());
  ASSERT_TRUE(b.get_future().get().ok());
  ASSERT_TRUE((*e)->EndOfInput("tx").ok());
  ASSERT_TRUE((*e)->EndOfInput("reports").ok());
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  std::map<int64_t, int64_t> label;
  size_t rows = 0;
  for (const StreamInfo& si : (*e)->ListStreams()) {
    if (si.name != "labeled") continue;
    for (const PartitionInfo& p : si.partitions) {
      std::string out;
      ASSERT_TRUE((*e)->ReadEvents("labeled", p.partition, p.start_offset, 1000, &out).ok());
      for (size_t at = out.find("\"id\":"); at != std::string::npos; at = out.find("\"id\":", at + 1)) {
        const int64_t id = std::stoll(out.substr(at + 5));
        const size_t l = out.find("\"label\":", at);
        label[id] = std::stoll(out.substr(l + 8));
        ++rows;
      }
    }
  }
  EXPECT_EQ(rows, 10u);  // every transaction exactly once
  ASSERT_EQ(label.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(label[i], (i == 2 || i == 5) ? 1 : 0) << "transaction " << i;
  ASSERT_TRUE((*e)->Stop().ok());
}

}  // namespace
}  // namespace impulse
