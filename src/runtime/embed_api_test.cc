// The embedding API of include/impulse/engine.h: OpenSpec from a string, ReadRows, Subscribe
// (every row once, in order per partition; cancel; resume), typed feature lookups, and the
// public model repository type. Labelled concurrent with the runtime tests: also run under TSan.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "impulse/engine.h"
#include "impulse/models.h"

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
pipelines:
  - name: big
    from: clicks
    steps:
      - filter: amount > 10
      - map:
          doubled: amount * 2
    sink: {stream: big}
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

class EmbedApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse_embed_api_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EngineOptions Options() {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.shards = 2;
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 3'600'000;
    return o;
  }

  // Ingests rows (user, amount, ts) and waits for their acknowledgement.
  static void IngestRows(Engine& e, const std::vector<std::array<int64_t, 3>>& rows) {
    RowBatch batch(3);
    for (const auto& r : rows) {
      Value* v = batch.AppendRow();
      v[0] = Value::Int(r[0]);
      v[1] = Value::Int(r[1]);
      v[2] = Value::Int(r[2]);
    }
    std::promise<Status> done;
    ASSERT_TRUE(e.IngestRows("clicks", batch, 0, [&](Status st, IngestResult) { done.set_value(st); }).ok());
    ASSERT_TRUE(done.get_future().get().ok());
  }

  std::filesystem::path dir_;
};

TEST_F(EmbedApiTest, OpenSpecFromStringAndReadRowsBack) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t t0 = NowMs() - 60'000;
  IngestRows(**e, {{1, 5, t0}, {1, 20, t0 + 1}, {2, 30, t0 + 2}, {3, 11, t0 + 3}});
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());

  int doubled = -1;
  uint32_t partitions = 0;
  for (const StreamInfo& s : (*e)->ListStreams()) {
    if (s.name != "big") continue;
    doubled = s.def.schema.FieldIndex("doubled");
    partitions = static_cast<uint32_t>(s.partitions.size());
  }
  ASSERT_GE(doubled, 0);
  std::map<int64_t, int64_t> got;  // amount -> doubled
  for (uint32_t p = 0; p < partitions; ++p) {
    auto read = (*e)->ReadRows("big", p, 0, 1000);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(read->next_offset, read->end_offset);
    for (size_t i = 0; i < read->rows.size(); ++i) {
      EXPECT_EQ(read->rows.meta(i).partition, p);
      EXPECT_LT(read->rows.meta(i).offset, read->next_offset);
      EXPECT_EQ(read->rows.meta(i).event_time_ms, read->rows.row(i)[2].i64);
      got[read->rows.row(i)[1].i64] = read->rows.row(i)[doubled].i64;
    }
  }
  EXPECT_EQ(got, (std::map<int64_t, int64_t>{{11, 22}, {20, 40}, {30, 60}}));

  // Input rows carry dense offsets; a limit cuts the read and next_offset continues it.
  uint64_t total = 0;
  for (uint32_t p = 0; p < 4; ++p) {
    auto first = (*e)->ReadRows("clicks", p, 0, 1);
    ASSERT_TRUE(first.ok());
    if (first->rows.empty()) continue;
    EXPECT_EQ(first->rows.meta(0).offset, 0u);
    EXPECT_EQ(first->next_offset, 1u);
    auto rest = (*e)->ReadRows("clicks", p, first->next_offset, 1000);
    ASSERT_TRUE(rest.ok());
    total += 1 + rest->rows.size();
  }
  EXPECT_EQ(total, 4u);

  EXPECT_EQ((*e)->ReadRows("nope", 0, 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*e)->ReadRows("big", 99, 0, 10).status().code(), StatusCode::kOutOfRange);

  // At the end: OK, no rows, and end_offset is the partition's real visible end. Past it:
  // kOutOfRange (an offset no read ever returned), not an end_offset made up from `from`.
  for (const StreamInfo& s : (*e)->ListStreams()) {
    if (s.name != "clicks") continue;
    for (const PartitionInfo& p : s.partitions) {
      auto at_end = (*e)->ReadRows("clicks", p.partition, p.end_offset, 10);
      ASSERT_TRUE(at_end.ok()) << at_end.status().ToString();
      EXPECT_TRUE(at_end->rows.empty());
      EXPECT_EQ(at_end->next_offset, p.end_offset);
      EXPECT_EQ(at_end->end_offset, p.end_offset);
      auto from_start = (*e)->ReadRows("clicks", p.partition, 0, 1000);
      ASSERT_TRUE(from_start.ok());
      EXPECT_EQ(from_start->end_offset, p.end_offset);
      EXPECT_EQ((*e)->ReadRows("clicks", p.partition, p.end_offset + 1, 10).status().code(), StatusCode::kOutOfRange);
    }
  }
  EXPECT_EQ((*e)->ReadRows("big", 0, 1'000'000, 10).status().code(), StatusCode::kOutOfRange);
}

TEST_F(EmbedApiTest, BadSpecStringIsInvalidArgument) {
  EXPECT_EQ(Engine::OpenSpec("streams: [", Options()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Engine::OpenSpec("streams:\n  - name: s\n    fields: []\n    bogus: 1\n", Options()).status().code(),
            StatusCode::kInvalidArgument);
}

// What a subscription delivered: per partition, the offsets in callback order and the amounts.
struct Received {
  std::mutex mu;
  std::map<uint32_t, std::vector<uint64_t>> offsets;
  std::vector<int64_t> amounts;
  std::thread::id thread;
  bool bad_next = false;

  Engine::SubscribeCallback Callback() {
    return [this](const RowBatch& rows, uint32_t partition, uint64_t next_offset) {
      std::lock_guard<std::mutex> lock(mu);
      thread = std::this_thread::get_id();
      for (size_t i = 0; i < rows.size(); ++i) {
        if (rows.meta(i).partition != partition || rows.meta(i).offset >= next_offset) bad_next = true;
        offsets[partition].push_back(rows.meta(i).offset);
        amounts.push_back(rows.row(i)[1].i64);
      }
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return amounts.size();
  }
};

TEST_F(EmbedApiTest, SubscribeDeliversEveryRowOnceInOrderPerPartition) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t t0 = NowMs() - 60'000;
  std::vector<std::array<int64_t, 3>> rows;
  for (int64_t i = 0; i < 200; ++i) rows.push_back({i % 17, 100 + i, t0 + i});
  IngestRows(**e, {rows.begin(), rows.begin() + 100});  // before the subscription

  Received got;
  SubscribeOptions so;
  so.start = SubscribeOptions::Start::kBeginning;
  so.batch_rows_max = 7;  // many batches
  auto sub = (*e)->Subscribe("clicks", so, got.Callback());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  IngestRows(**e, {rows.begin() + 100, rows.end()});  // while it runs
  ASSERT_TRUE((*sub)->WaitCaughtUp(30'000).ok());

  EXPECT_EQ((*sub)->rows_delivered(), 200u);
  std::lock_guard<std::mutex> lock(got.mu);
  EXPECT_FALSE(got.bad_next);
  EXPECT_NE(got.thread, std::this_thread::get_id());
  std::vector<int64_t> amounts = got.amounts;
  std::sort(amounts.begin(), amounts.end());
  std::vector<int64_t> want;
  for (int64_t i = 0; i < 200; ++i) want.push_back(100 + i);
  EXPECT_EQ(amounts, want);  // every row exactly once
  std::vector<uint64_t> next = (*sub)->next_offsets();
  for (const auto& [p, offs] : got.offsets) {
    for (size_t i = 0; i < offs.size(); ++i) EXPECT_EQ(offs[i], i) << "partition " << p;  // in order, no gap
    EXPECT_EQ(next[p], offs.size());
  }
}

TEST_F(EmbedApiTest, CancelStopsDeliveryAndResumeFromNextOffsetsHasNoGapOrRepeat) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t t0 = NowMs() - 60'000;
  Received first;
  auto sub = (*e)->Subscribe("clicks", {}, first.Callback());  // from the end: nothing yet
  ASSERT_TRUE(sub.ok());
  IngestRows(**e, {{1, 1, t0}, {2, 2, t0}, {3, 3, t0}});
  ASSERT_TRUE((*sub)->WaitCaughtUp(30'000).ok());
  EXPECT_EQ(first.size(), 3u);
  (*sub)->Cancel();
  (*sub)->Cancel();  // idempotent
  EXPECT_EQ((*sub)->WaitCaughtUp(10).code(), StatusCode::kFailedPrecondition);
  const std::vector<uint64_t> resume = (*sub)->next_offsets();

  IngestRows(**e, {{4, 4, t0}, {5, 5, t0}});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // 10 poll intervals
  EXPECT_EQ(first.size(), 3u);                                 // cancelled: nothing more
  EXPECT_EQ((*sub)->rows_delivered(), 3u);

  Received second;
  SubscribeOptions so;
  so.from_offsets = resume;
  auto again = (*e)->Subscribe("clicks", so, second.Callback());
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->WaitCaughtUp(30'000).ok());
  std::lock_guard<std::mutex> lock(second.mu);
  std::vector<int64_t> amounts = second.amounts;
  std::sort(amounts.begin(), amounts.end());
  EXPECT_EQ(amounts, (std::vector<int64_t>{4, 5}));
}

TEST_F(EmbedApiTest, SubscribeRefusesBadArguments) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok());
  auto noop = [](const RowBatch&, uint32_t, uint64_t) {};
  EXPECT_EQ((*e)->Subscribe("nope", {}, noop).status().code(), StatusCode::kNotFound);
  SubscribeOptions wrong_size;
  wrong_size.from_offsets = {0, 0};
  EXPECT_EQ((*e)->Subscribe("clicks", wrong_size, noop).status().code(), StatusCode::kInvalidArgument);
  SubscribeOptions zero_batch;
  zero_batch.batch_rows_max = 0;
  EXPECT_EQ((*e)->Subscribe("clicks", zero_batch, noop).status().code(), StatusCode::kInvalidArgument);
  SubscribeOptions slow_poll;
  slow_poll.poll_interval_ms = 5000;
  EXPECT_EQ((*e)->Subscribe("clicks", slow_poll, noop).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*e)->Subscribe("clicks", {}, nullptr).status().code(), StatusCode::kInvalidArgument);
  // A start beyond a partition's visible end would silently skip the rows up to it.
  SubscribeOptions beyond;
  beyond.from_offsets = {999'999, 0, 0, 0};
  EXPECT_EQ((*e)->Subscribe("clicks", beyond, noop).status().code(), StatusCode::kOutOfRange);
  beyond.from_offsets = {0, 0, 0, 1};
  EXPECT_EQ((*e)->Subscribe("clicks", beyond, noop).status().code(), StatusCode::kOutOfRange);
  SubscribeOptions at_end;
  at_end.from_offsets = {0, 0, 0, 0};  // empty partitions: their end
  EXPECT_TRUE((*e)->Subscribe("clicks", at_end, noop).ok());
}

TEST_F(EmbedApiTest, SubscriptionLeftOpenIsCancelledByTheEngineAndOutlivesIt) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok());
  Received got;
  auto sub = (*e)->Subscribe("clicks", {}, got.Callback());
  ASSERT_TRUE(sub.ok());
  e->reset();  // the engine joins the subscription's thread first
  EXPECT_EQ((*sub)->WaitCaughtUp(10).code(), StatusCode::kFailedPrecondition);
  (*sub)->Cancel();
  sub->reset();
}

// A callback cancels its own subscription (allowed) and keeps using the engine while another
// thread destroys the engine: the engine's destructor waits for that callback to return (it
// joins the thread), so the callback never touches a destroyed engine and never runs after the
// engine is gone.
TEST_F(EmbedApiTest, EngineDestroyedWhileACancelledCallbackStillRunsWaitsForIt) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Engine* engine = e->get();
  std::promise<Subscription*> handle;
  std::shared_future<Subscription*> handle_ready = handle.get_future().share();
  std::promise<void> cancelled;
  std::atomic<bool> first{true};
  std::atomic<bool> returned{false};
  std::atomic<int> reads_ok{0};
  auto sub = (*e)->Subscribe("clicks", {}, [&](const RowBatch&, uint32_t, uint64_t) {
    if (!first.exchange(false)) return;
    handle_ready.get()->Cancel();  // from inside the callback: returns at once
    cancelled.set_value();
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (std::chrono::steady_clock::now() < until) {
      if (engine->ReadRows("clicks", 0, 0, 10).ok()) reads_ok.fetch_add(1);
    }
    returned.store(true);
  });
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  handle.set_value(sub->get());
  IngestRows(**e, {{1, 1, NowMs()}});
  cancelled.get_future().wait();
  e->reset();  // must wait for the callback
  EXPECT_TRUE(returned.load());
  EXPECT_GT(reads_ok.load(), 0);
  EXPECT_EQ((*sub)->WaitCaughtUp(10).code(), StatusCode::kFailedPrecondition);
  sub->reset();  // the handle outlived the engine: inert
}

// The last handle destroyed inside its own callback cannot join its own thread: the engine
// joins it when it is destroyed, and the callback is not called again meanwhile.
TEST_F(EmbedApiTest, HandleDestroyedInsideItsCallbackIsJoinedByTheEngine) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::unique_ptr<Subscription> owned;
  std::mutex mu;
  std::atomic<int> calls{0};
  std::promise<void> destroyed;
  auto sub = (*e)->Subscribe("clicks", {}, [&](const RowBatch&, uint32_t, uint64_t) {
    if (calls.fetch_add(1) != 0) return;
    std::unique_ptr<Subscription> mine;
    {
      std::lock_guard<std::mutex> lock(mu);
      mine = std::move(owned);
    }
    mine.reset();  // the last handle, on the subscription's own thread
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    destroyed.set_value();
  });
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  {
    std::lock_guard<std::mutex> lock(mu);
    owned = std::move(*sub);
  }
  const int64_t t0 = NowMs();
  IngestRows(**e, {{1, 1, t0}, {2, 2, t0}, {3, 3, t0}, {4, 4, t0}});
  destroyed.get_future().wait();
  IngestRows(**e, {{5, 5, t0}, {6, 6, t0}});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // 10 poll intervals
  EXPECT_EQ(calls.load(), 1);
  e->reset();  // joins the thread
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(EmbedApiTest, TypedFeatureLookup) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok());
  const int64_t t0 = NowMs() - 60'000;
  IngestRows(**e, {{1, 5, t0}, {1, 7, t0 + 1000}, {2, 4, t0 + 2000}});
  ASSERT_TRUE((*e)->EndOfInput("clicks").ok());
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());

  auto got = (*e)->LookupFeatureRows("user", {"1", "2", "9", "x"});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->schema.size(), 2u);
  EXPECT_EQ(got->schema.field(0).name, "n_10s");
  ASSERT_EQ(got->rows.size(), 4u);
  EXPECT_EQ(got->states,
            (std::vector<FeatureLookupState>{FeatureLookupState::kFound, FeatureLookupState::kFound,
                                             FeatureLookupState::kUnknownEntity, FeatureLookupState::kInvalidKey}));
  EXPECT_EQ(got->rows.row(0)[0].i64, 2);
  EXPECT_EQ(got->rows.row(0)[1].i64, 12);
  EXPECT_EQ(got->rows.meta(0).event_time_ms, t0 + 1000);
  EXPECT_EQ(got->rows.row(1)[0].i64, 1);
  EXPECT_EQ(got->rows.row(1)[1].i64, 4);
  EXPECT_TRUE(got->rows.row(2)[0].null);
  EXPECT_TRUE(got->rows.row(3)[1].null);

  EXPECT_EQ((*e)->LookupFeatureRows("nope", {"1"}).status().code(), StatusCode::kNotFound);
  std::vector<std::string_view> many(Engine::kFeatureLookupBatchMax + 1, "1");
  EXPECT_EQ((*e)->LookupFeatureRows("user", many).status().code(), StatusCode::kInvalidArgument);
}

// A repository not made by the library cannot be handed to the engine.
class ForeignRepository final : public ModelRepository {
 public:
  std::vector<ModelVersionStatus> List() const override { return {}; }
  Status Load(std::string_view, uint64_t) override { return Status::OK(); }
  Status Unload(std::string_view, uint64_t) override { return Status::OK(); }
  Status Rescan() override { return Status::OK(); }
  const std::string& dir() const override { return dir_; }

 private:
  std::string dir_;
};

TEST_F(EmbedApiTest, PublicModelRepository) {
  // Documented: kNotFound for a missing directory; a file is not a repository either.
  EXPECT_EQ(ModelRepository::Open((dir_ / "no-such-dir").string()).status().code(), StatusCode::kNotFound);
  std::filesystem::create_directories(dir_ / "models");
  { std::ofstream((dir_ / "a-file").string()) << "x"; }
  EXPECT_EQ(ModelRepository::Open((dir_ / "a-file").string()).status().code(), StatusCode::kInvalidArgument);
  auto repo = ModelRepository::Open((dir_ / "models").string());
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  EXPECT_TRUE((*repo)->List().empty());
  EXPECT_EQ((*repo)->Unload("none", 1).code(), StatusCode::kNotFound);
  EngineOptions o = Options();
  o.models = *repo;
  EXPECT_TRUE(Engine::OpenSpec(kSpec, o).ok());
  o.models = std::make_shared<ForeignRepository>();
  EXPECT_EQ(Engine::OpenSpec(kSpec, o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace impulse

namespace impulse {
namespace {

// WaitReadable: refused inputs, an inline answer when records are there, a wait woken by the
// shard that makes a row readable (on a derived stream too: the pipeline's output), the timeout,
// and Stop answering the waiters still there.
TEST_F(EmbedApiTest, WaitReadableAnswersWhenRecordsArriveOrAtTheTimeout) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Engine& engine = **e;
  const auto ignore = [](bool) {};
  EXPECT_EQ(engine.WaitReadable("nope", {0, 0, 0, 0}, 10, ignore).code(), StatusCode::kNotFound);
  EXPECT_EQ(engine.WaitReadable("clicks", {0, 0}, 10, ignore).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine.WaitReadable("clicks", {0, 0, 0, 0}, Engine::kWaitReadableMaxMs + 1, ignore).code(),
            StatusCode::kInvalidArgument);

  // Nothing there: answered false at the timeout, not before.
  auto start = std::chrono::steady_clock::now();
  std::promise<bool> timed_out;
  ASSERT_TRUE(engine.WaitReadable("clicks", {0, 0, 0, 0}, 150, [&](bool r) { timed_out.set_value(r); }).ok());
  EXPECT_FALSE(timed_out.get_future().get());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(145));

  // Waiting on the input and on the pipeline's output; one row makes both readable.
  std::promise<bool> in_ready, out_ready;
  start = std::chrono::steady_clock::now();
  ASSERT_TRUE(engine.WaitReadable("clicks", {0, 0, 0, 0}, 20'000, [&](bool r) { in_ready.set_value(r); }).ok());
  std::vector<uint64_t> big_ends;
  for (const StreamInfo& s : engine.ListStreams()) {
    if (s.name == "big") {
      for (const PartitionInfo& p : s.partitions) big_ends.push_back(p.end_offset);
    }
  }
  ASSERT_TRUE(engine.WaitReadable("big", big_ends, 20'000, [&](bool r) { out_ready.set_value(r); }).ok());
  auto in_fut = in_ready.get_future();
  EXPECT_EQ(in_fut.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  IngestRows(engine, {{1, 50, NowMs()}});
  EXPECT_TRUE(in_fut.get());
  EXPECT_TRUE(out_ready.get_future().get());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));

  // Already readable: answered inline.
  bool inline_answer = false;
  ASSERT_TRUE(engine.WaitReadable("clicks", {0, 0, 0, 0}, 20'000, [&](bool r) { inline_answer = r; }).ok());
  EXPECT_TRUE(inline_answer);

  // Stop answers a waiter at once (false) and refuses new ones.
  std::promise<bool> at_stop;
  ASSERT_TRUE(engine.WaitReadable("clicks", {99, 99, 99, 99}, 20'000, [&](bool r) { at_stop.set_value(r); }).ok());
  start = std::chrono::steady_clock::now();
  ASSERT_TRUE(engine.Stop().ok());
  EXPECT_FALSE(at_stop.get_future().get());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(engine.WaitReadable("clicks", {99, 99, 99, 99}, 100, ignore).code(), StatusCode::kFailedPrecondition);
}

// Many short waits racing rows made readable by another thread: none is lost (each waiter is
// answered true well before its long timeout).
TEST_F(EmbedApiTest, WaitReadableLosesNoWakeup) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Engine& engine = **e;
  for (int i = 0; i < 50; ++i) {
    std::vector<uint64_t> ends;
    for (const StreamInfo& s : engine.ListStreams()) {
      if (s.name == "clicks") {
        for (const PartitionInfo& p : s.partitions) ends.push_back(p.end_offset);
      }
    }
    std::promise<bool> ready;
    std::thread writer([&] { IngestRows(engine, {{i, 1, NowMs()}}); });
    ASSERT_TRUE(engine.WaitReadable("clicks", ends, 20'000, [&](bool r) { ready.set_value(r); }).ok());
    auto fut = ready.get_future();
    ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "iteration " << i;
    EXPECT_TRUE(fut.get());
    writer.join();
  }
}

// One engine per data directory: a second one is refused while the first runs, and opens once
// it has stopped.
TEST_F(EmbedApiTest, ASecondEngineOnTheSameDataDirIsRefused) {
  auto first = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = Engine::OpenSpec(kSpec, Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("is in use by another process"), std::string::npos)
      << second.status().ToString();
  ASSERT_TRUE((*first)->Stop().ok());
  auto third = Engine::OpenSpec(kSpec, Options());
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST_F(EmbedApiTest, ListPipelinesReportsSourcesSinksAndProgress) {
  auto e = Engine::OpenSpec(kSpec, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t t0 = NowMs() - 60'000;
  IngestRows(**e, {{1, 5, t0}, {1, 20, t0 + 1}, {2, 30, t0 + 2}});
  ASSERT_TRUE((*e)->WaitForPipelines(30'000).ok());
  const std::vector<PipelineInfo> ps = (*e)->ListPipelines();
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0].name, "big");
  EXPECT_EQ(ps[0].sources, std::vector<std::string>{"clicks"});
  EXPECT_EQ(ps[0].sink_kind, "stream");
  EXPECT_EQ(ps[0].sink, "big");
  EXPECT_EQ(ps[0].events_in, 3u);
  EXPECT_EQ(ps[0].events_out, 2u);  // amount > 10
  EXPECT_EQ(ps[0].lag, 0u);
  ASSERT_EQ(ps[0].inputs.size(), 4u);
  uint64_t processed = 0;
  for (uint32_t p = 0; p < 4; ++p) {
    EXPECT_EQ(ps[0].inputs[p].partition, p);
    EXPECT_EQ(ps[0].inputs[p].processed_offset, ps[0].inputs[p].end_offset);
    processed += ps[0].inputs[p].processed_offset;
  }
  EXPECT_EQ(processed, 3u);
  // The watermark is the one /metrics exports (absent there while there is none).
  const std::string metrics = (*e)->MetricsText();
  const std::string series = "impulse_pipeline_watermark_ms{pipeline=\"big\"} ";
  const size_t at = metrics.find(series);
  if (ps[0].watermark_ms == INT64_MIN) {
    EXPECT_EQ(at, std::string::npos) << metrics;
  } else {
    ASSERT_NE(at, std::string::npos) << metrics;
    EXPECT_EQ(std::stod(metrics.substr(at + series.size())), static_cast<double>(ps[0].watermark_ms));
    EXPECT_LE(ps[0].watermark_ms, t0 + 2);
  }
  EXPECT_EQ(ps[1].name, "user_features");
  EXPECT_EQ(ps[1].sink, "clicks_with_features");
  ASSERT_TRUE((*e)->Stop().ok());
}

}  // namespace
}  // namespace impulse
