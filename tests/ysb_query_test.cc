// The Yahoo Streaming Benchmark query (bench/ysb/ysb.yaml) end to end in an in-process engine on
// 2 shards with checkpoints every 200 ms: the campaign table and generated ad events (typed rows, as the benchmark
// driver sends them) go in, and the per-campaign window counts that come out must equal the brute-force reference of
// src/datagen/ysb/reference.h exactly. Once in one engine, once across a clean restart on the same data directory
// (exactly-once). Label "e2e".
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "datagen/ysb/generator.h"
#include "datagen/ysb/reference.h"
#include "impulse/engine.h"

namespace impulse::ysb {
namespace {

// 40k events at 1000 events/s: 40 s of event time from a start 4 s into a window, so 5 windows
// (the first and last partial) x 100 campaigns, about 33 views per campaign and full window.
constexpr uint64_t kEvents = 40'000;
constexpr uint64_t kChunkEvents = 1'000;
constexpr int64_t kWindowMs = 10'000;
constexpr int64_t kOutputTimeoutMs = 60'000;

GeneratorConfig Config() {
  GeneratorConfig c;
  c.seed = 11;
  c.events_per_second = 1'000;
  c.first_event_ms = 1'700'000'004'000;
  return c;
}

const Generator& Gen() {
  static const Generator* gen = new Generator(*Generator::Create(Config()));
  return *gen;
}

void IngestRowsSync(Engine& engine, std::string_view stream, const RowBatch& rows) {
  for (int attempt = 0;; ++attempt) {
    std::promise<std::pair<Status, IngestResult>> done;
    auto fut = done.get_future();
    Status st = engine.IngestRows(stream, rows, 0, [&](Status s, IngestResult r) {
      done.set_value({s, std::move(r)});
    });
    if (st.code() == StatusCode::kUnavailable && attempt < 1000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    ASSERT_TRUE(st.ok()) << st.ToString();
    auto [status, result] = fut.get();
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_EQ(result.rejected, 0u) << stream << ": " << (result.errors.empty() ? "" : result.errors[0].reason);
    return;
  }
}

// The campaign table (valid for all time, see bench/ysb/ysb.yaml), read by the join before the
// first ad event: an unmatched view would be dropped by the inner join.
void LoadCampaigns(Engine& engine) {
  RowBatch rows(3);
  for (uint32_t a = 0; a < Gen().num_ads(); ++a) {
    Value* r = rows.AppendRow();
    r[0] = Value::String(Gen().ad_id(a));
    r[1] = Value::String(Gen().campaign_id(Gen().CampaignOfAd(a)));
    r[2] = Value::Int(kTableValidUntilMs);
  }
  ASSERT_NO_FATAL_FAILURE(IngestRowsSync(engine, "campaigns", rows));
  ASSERT_TRUE(engine.WaitForPipelines(30'000).ok());
}

void IngestAds(Engine& engine, uint64_t first, uint64_t end) {
  RowBatch rows(7);
  AdEvent e;
  for (uint64_t chunk = first; chunk < end; chunk += kChunkEvents) {
    rows.Clear();
    for (uint64_t i = chunk; i < std::min(end, chunk + kChunkEvents); ++i) {
      Gen().EventAt(i, &e);
      Value* r = rows.AppendRow();
      r[0] = Value::String(e.user_id);
      r[1] = Value::String(e.page_id);
      r[2] = Value::String(e.ad_id);
      r[3] = Value::String(e.ad_type);
      r[4] = Value::String(e.event_type);
      r[5] = Value::Int(e.event_time);
      r[6] = Value::String(e.ip_address);
    }
    ASSERT_NO_FATAL_FAILURE(IngestRowsSync(engine, "ad_events", rows));
  }
}

// Every row of ysb_out, sorted.
std::vector<WindowCount> ReadOutput(const Engine& engine) {
  std::vector<WindowCount> out;
  for (const StreamInfo& s : engine.ListStreams()) {
    if (s.name != "ysb_out") continue;
    for (const PartitionInfo& p : s.partitions) {
      uint64_t from = p.start_offset;
      while (true) {
        auto read = engine.ReadRows("ysb_out", p.partition, from, 10'000);
        EXPECT_TRUE(read.ok()) << read.status().ToString();
        if (!read.ok() || read->rows.empty()) break;
        for (size_t i = 0; i < read->rows.size(); ++i) {
          const Value* r = read->rows.row(i);
          out.push_back({std::string(r[0].sv()), r[1].i64, r[2].i64, r[3].i64});
        }
        from = read->next_offset;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

class YsbQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse-ysb-test-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EngineOptions Options() const {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.shards = 2;
    o.max_producers = 1;
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 200;  // several checkpoints during each run
    return o;
  }

  static std::string Spec() { return std::string(IMPULSE_SOURCE_DIR) + "/bench/ysb/ysb.yaml"; }

  // Ends the ad events and waits for as many rows as expected; then compares exactly.
  static void ExpectOutput(Engine& engine, const std::vector<WindowCount>& expected) {
    ASSERT_TRUE(engine.EndOfInput("ad_events").ok());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kOutputTimeoutMs);
    std::vector<WindowCount> rows;
    while (true) {
      (void)engine.WaitForPipelines(1'000);
      rows = ReadOutput(engine);
      if (rows.size() >= expected.size() || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(engine.WaitForPipelines(10'000).ok());
    rows = ReadOutput(engine);  // nothing more may come (a duplicate would show here)
    for (const StreamInfo& s : engine.ListStreams()) {
      if (s.name != "_late_events") continue;
      for (const PartitionInfo& p : s.partitions) EXPECT_EQ(p.end_offset, p.start_offset) << "late events";
    }
    std::vector<WindowCount> missing, extra;
    std::set_difference(expected.begin(), expected.end(), rows.begin(), rows.end(), std::back_inserter(missing));
    std::set_difference(rows.begin(), rows.end(), expected.begin(), expected.end(), std::back_inserter(extra));
    EXPECT_TRUE(missing.empty()) << missing.size() << " missing, the first: " << missing.front();
    EXPECT_TRUE(extra.empty()) << extra.size() << " unexpected, the first: " << extra.front();
    EXPECT_EQ(rows.size(), expected.size());
  }

  std::filesystem::path dir_;
};

TEST_F(YsbQueryTest, CountsEqualTheReference) {
  const std::vector<WindowCount> expected = ViewsPerCampaignWindow(Gen(), kEvents, kWindowMs);
  ASSERT_EQ(expected.size(), 500u) << "5 windows x 100 campaigns, each with views";
  auto engine = Engine::Open(Spec(), Options());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_NO_FATAL_FAILURE(LoadCampaigns(**engine));
  ASSERT_NO_FATAL_FAILURE(IngestAds(**engine, 0, kEvents));
  ASSERT_NO_FATAL_FAILURE(ExpectOutput(**engine, expected));
  ASSERT_TRUE((*engine)->Stop().ok());
}

// Half the events, a checkpoint, a few more, a clean Stop; then Open on the same directory and
// the rest. The table is not ingested again: it comes back from the checkpoint.
TEST_F(YsbQueryTest, CountsEqualTheReferenceAcrossARestart) {
  const std::vector<WindowCount> expected = ViewsPerCampaignWindow(Gen(), kEvents, kWindowMs);
  const uint64_t half = kEvents / 2;
  const std::string spec = Spec();
  {
    auto engine = Engine::Open(spec, Options());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    ASSERT_NO_FATAL_FAILURE(LoadCampaigns(**engine));
    ASSERT_NO_FATAL_FAILURE(IngestAds(**engine, 0, half));
    ASSERT_TRUE((*engine)->WaitForPipelines(30'000).ok());
    auto checkpoint = (*engine)->CheckpointNow();
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    ASSERT_NO_FATAL_FAILURE(IngestAds(**engine, half, half + 2 * kChunkEvents));
    ASSERT_TRUE((*engine)->Stop().ok());
  }
  auto engine = Engine::Open(spec, Options());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_NO_FATAL_FAILURE(IngestAds(**engine, half + 2 * kChunkEvents, kEvents));
  ASSERT_NO_FATAL_FAILURE(ExpectOutput(**engine, expected));
  ASSERT_TRUE((*engine)->Stop().ok());
}

}  // namespace
}  // namespace impulse::ysb
