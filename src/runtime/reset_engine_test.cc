// Engine::ResetPipeline through a whole engine: a dedup pipeline reset online recomputes its
// outputs from empty state (to beginning) or skips to the end, another pipeline's state is
// untouched, the reset survives a restart, and resets interleave with periodic checkpoints and
// ingest. Labelled concurrent: also run under TSan.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "impulse/engine.h"
#include "runtime/engine_test_util.h"

namespace impulse {
namespace {

using testing_util::IngestAndWait;
using testing_util::ReadAllEvents;

// Two pipelines read `events`; each passes the first event of an id (dedup state per id).
constexpr char kSpec[] = R"yaml(
streams:
  - name: events
    fields:
      - {name: id, type: int64}
      - {name: ts, type: timestamp}
    key: id
    event_time: ts
    partitions: 4
    watermark: {max_out_of_orderness: 0, idle_timeout: never}
pipelines:
  - name: first_seen
    from: events
    steps:
      - dedup: {key: [id], within: 1h}
    sink: {stream: first_seen_out}
  - name: other
    from: events
    steps:
      - dedup: {key: [id], within: 1h}
    sink: {stream: other_out}
)yaml";

class ResetEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("impulse_reset_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EngineOptions Options() {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.shards = 2;
    o.checkpoint_interval_ms = 3'600'000;  // checkpoints are taken by the resets (and Stop)
    return o;
  }
  Result<std::unique_ptr<Engine>> Open(EngineOptions o) { return Engine::OpenSpec(kSpec, std::move(o)); }

  // Events with ids [from, to), one ms apart.
  static std::string Events(int from, int to) {
    std::string body;
    for (int i = from; i < to; ++i) {
      body += "{\"id\":" + std::to_string(i) + ",\"ts\":" + std::to_string(1'700'000'000'000 + i) + "}\n";
    }
    return body;
  }

  static size_t Count(const Engine& e, const std::string& stream) {
    size_t n = 0;
    for (const std::string& l : ReadAllEvents(e, stream)) n += l.empty() ? 0 : 1;
    return n;
  }

  static void Ingest(Engine& e, int from, int to) {
    auto r = IngestAndWait(e, "events", Events(from, to));
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  }

  struct ResetOutcome {
    Status status;
    PipelineReset reset;
  };
  static ResetOutcome Reset(Engine& e, const std::string& pipeline, ResetTo to) {
    std::promise<ResetOutcome> done;
    e.ResetPipeline(pipeline, to, [&](Status st, PipelineReset r) { done.set_value({std::move(st), std::move(r)}); });
    return done.get_future().get();
  }

  std::filesystem::path dir_;
  static inline int counter_ = 0;
};

TEST_F(ResetEngineTest, ResetToBeginningRecomputesFromEmptyStateAndLeavesTheOtherPipeline) {
  auto e = Open(Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Ingest(**e, 0, 100);
  ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
  ASSERT_EQ(Count(**e, "first_seen_out"), 100u);
  ASSERT_EQ(Count(**e, "other_out"), 100u);

  ResetOutcome r = Reset(**e, "first_seen", ResetTo::kBeginning);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.reset.pipeline, "first_seen");
  EXPECT_GT(r.reset.checkpoint_id, 0u);
  ASSERT_EQ(r.reset.inputs.size(), 4u);  // one per partition of `events`
  uint64_t before = 0;
  for (size_t i = 0; i < r.reset.inputs.size(); ++i) {
    EXPECT_EQ(r.reset.inputs[i].stream, "events");
    EXPECT_EQ(r.reset.inputs[i].partition, i);
    EXPECT_EQ(r.reset.inputs[i].after, 0u);
    before += r.reset.inputs[i].before;
  }
  EXPECT_EQ(before, 100u);  // every event had been processed
  ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
  // Empty dedup state, input read again: every id passes once more, after the first outputs.
  EXPECT_EQ(Count(**e, "first_seen_out"), 200u);
  EXPECT_EQ(Count(**e, "other_out"), 100u);
  // Both states know ids 0..99 again; 100..109 are new to both.
  Ingest(**e, 0, 110);
  ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
  EXPECT_EQ(Count(**e, "first_seen_out"), 210u);
  EXPECT_EQ(Count(**e, "other_out"), 110u);
  EXPECT_NE((*e)->MetricsText().find("impulse_pipeline_resets_total{pipeline=\"first_seen\"} 1"), std::string::npos);
  EXPECT_NE((*e)->MetricsText().find("impulse_pipeline_resets_total{pipeline=\"other\"} 0"), std::string::npos);
  EXPECT_TRUE((*e)->Stop().ok());
}

TEST_F(ResetEngineTest, ResetToEndMovesToTheLogEndWritesNothingAgainAndForgetsTheState) {
  auto e = Open(Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Ingest(**e, 0, 50);
  ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
  ResetOutcome r = Reset(**e, "first_seen", ResetTo::kEnd);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.reset.inputs.size(), 4u);
  std::vector<uint64_t> ends;
  for (const StreamInfo& s : (*e)->ListStreams()) {
    if (s.name != "events") continue;
    for (const PartitionInfo& p : s.partitions) ends.push_back(p.end_offset);
  }
  ASSERT_EQ(ends.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(r.reset.inputs[i].after, ends[i]) << "partition " << i;
  ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
  EXPECT_EQ(Count(**e, "first_seen_out"), 50u);  // nothing read again
  // The state is gone: ids seen before pass again in first_seen only.
  Ingest(**e, 0, 50);
  ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
  EXPECT_EQ(Count(**e, "first_seen_out"), 100u);
  EXPECT_EQ(Count(**e, "other_out"), 50u);
  EXPECT_TRUE((*e)->Stop().ok());
}

TEST_F(ResetEngineTest, TheResetCheckpointRestoresTheResetAfterARestart) {
  uint64_t reset_checkpoint = 0;
  {
    auto e = Open(Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Ingest(**e, 0, 60);
    ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
    ASSERT_TRUE((*e)->CheckpointNow().ok());  // a checkpoint with the old state and positions
    ResetOutcome r = Reset(**e, "first_seen", ResetTo::kBeginning);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    reset_checkpoint = r.reset.checkpoint_id;
    ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
    EXPECT_EQ(Count(**e, "first_seen_out"), 120u);
    EXPECT_TRUE((*e)->Stop().ok());  // its final checkpoint holds the replayed state
  }
  {
    // As after a crash right after the reset answered: its own checkpoint is where a restart
    // resumes. It holds the first 60 outputs, positions 0 and empty state, so the replay gives
    // the same 120 outputs; the checkpoint before the reset would give 60.
    EngineOptions o = Options();
    o.restore_checkpoint_id = static_cast<int64_t>(reset_checkpoint);
    auto e = Open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
    EXPECT_EQ(Count(**e, "first_seen_out"), 120u);
    EXPECT_EQ(Count(**e, "other_out"), 60u);
    EXPECT_TRUE((*e)->Stop().ok());
  }
  {
    // A plain restart: the state replayed after the reset is restored, nothing is written again.
    auto e = Open(Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Ingest(**e, 0, 60);
    ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
    EXPECT_EQ(Count(**e, "first_seen_out"), 120u);
    EXPECT_EQ(Count(**e, "other_out"), 60u);
    EXPECT_TRUE((*e)->Stop().ok());
  }
}

TEST_F(ResetEngineTest, RefusalsNameTheProblemAndChangeNothing) {
  auto e = Open(Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Ingest(**e, 0, 10);
  ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
  ResetOutcome r = Reset(**e, "first_sen", ResetTo::kBeginning);
  EXPECT_EQ(r.status.code(), StatusCode::kNotFound);
  EXPECT_NE(r.status.message().find("did you mean 'first_seen'"), std::string::npos) << r.status.ToString();
  ASSERT_TRUE((*e)->EndOfInput("events").ok());
  r = Reset(**e, "first_seen", ResetTo::kBeginning);
  EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition) << r.status.ToString();
  ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
  EXPECT_EQ(Count(**e, "first_seen_out"), 10u);
  EXPECT_TRUE((*e)->Stop().ok());

  EngineOptions o = Options();
  o.data_dir = (dir_ / "data_no_checkpoints").string();
  o.checkpoint_interval_ms = 0;
  // Stateful steps need checkpoints: a stateless spec for the refusal without them.
  auto plain = Engine::OpenSpec(R"yaml(
streams:
  - {name: s, fields: [{name: x, type: int64}]}
pipelines:
  - {name: copy, from: s, sink: {stream: s2}}
)yaml",
                                o);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  r = Reset(**plain, "copy", ResetTo::kEnd);
  EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition) << r.status.ToString();
  EXPECT_TRUE((*plain)->Stop().ok());

  // The RocksDB backend: its live directory is held open by the task (offline reset only).
  EngineOptions rocks = Options();
  rocks.data_dir = (dir_ / "data_rocksdb").string();
  rocks.state_rocksdb = true;
  auto re = Open(rocks);
  ASSERT_TRUE(re.ok()) << re.status().ToString();
  r = Reset(**re, "first_seen", ResetTo::kBeginning);
  EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition) << r.status.ToString();
  EXPECT_NE(r.status.message().find("impulse reset PIPELINE --spec"), std::string::npos) << r.status.ToString();
  EXPECT_TRUE((*re)->Stop().ok());
}

TEST_F(ResetEngineTest, ResetsInterleaveWithPeriodicCheckpointsAndIngest) {
  EngineOptions o = Options();
  o.checkpoint_interval_ms = 5;
  auto e = Open(o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::atomic<bool> stop{false};
  std::thread ingest([&] {
    for (int i = 0; i < 40 && !stop.load(); ++i) Ingest(**e, i * 25, i * 25 + 25);
  });
  std::vector<std::thread> resets;
  std::vector<ResetOutcome> outcomes(6);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    resets.emplace_back(
        [&, i] { outcomes[i] = Reset(**e, "first_seen", i % 2 == 0 ? ResetTo::kBeginning : ResetTo::kEnd); });
  }
  for (std::thread& t : resets) t.join();
  stop.store(true);
  ingest.join();
  std::vector<uint64_t> ids;
  for (const ResetOutcome& r : outcomes) {
    // Queued behind each other (fewer than Engine::kResetsQueuedMax): each its own checkpoint.
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    ids.push_back(r.reset.checkpoint_id);
  }
  ASSERT_FALSE(ids.empty());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());  // one checkpoint per reset
  ASSERT_TRUE((*e)->WaitForPipelines(20'000).ok());
  // The other pipeline never lost or repeated an id.
  EXPECT_EQ(Count(**e, "other_out"), 1000u);
  EXPECT_TRUE((*e)->Stop().ok());
}

// A chain: `counts` windows what `first_seen` writes. Resetting `first_seen` does not reset
// `counts`, whose watermark (the largest each writer sent) has passed the outputs written again:
// its window step takes them as late events instead of counting them twice.
TEST_F(ResetEngineTest, ADownstreamWindowTakesTheOutputsWrittenAgainAsLate) {
  EngineOptions o = Options();
  auto e = Engine::OpenSpec(std::string(kSpec) + R"yaml(
  - name: counts
    from: first_seen_out
    steps:
      - window: {tumbling: 1000, key: id, aggregates: {n: count()}}
    sink: {stream: counts_out}
)yaml",
                            o);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Ingest(**e, 0, 100);
  // A later event in every partition moves the watermark past the first events' window.
  std::string later;
  for (int i = 0; i < 40; ++i) {
    later += "{\"id\":" + std::to_string(1000 + i) + ",\"ts\":" + std::to_string(1'700'000'010'000 + i) + "}\n";
  }
  ASSERT_TRUE(IngestAndWait(**e, "events", later).status.ok());
  std::vector<std::string> counted;
  for (int i = 0; i < 500 && counted.size() < 100; ++i) {
    counted = testing_util::WaitForEvents(**e, "counts_out", 100, 20);
  }
  ASSERT_EQ(counted.size(), 100u);  // ids 0..99, one window each
  const size_t late_before = Count(**e, "_late_events");
  ResetOutcome r = Reset(**e, "first_seen", ResetTo::kBeginning);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_TRUE((*e)->WaitForPipelines(10'000).ok());
  EXPECT_EQ(Count(**e, "first_seen_out"), 280u);  // 140 outputs, then the same 140 again
  // The 100 old ids come again with event times the downstream watermark has passed.
  EXPECT_EQ(Count(**e, "counts_out"), 100u);
  EXPECT_EQ(Count(**e, "_late_events"), late_before + 100);
  EXPECT_TRUE((*e)->Stop().ok());
}

}  // namespace
}  // namespace impulse
