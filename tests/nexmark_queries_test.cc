// Nexmark q0..q8 end to end: each spec of bench/nexmark/ runs in an in-process engine over
// generated events (split by kind into the person / auction / bid streams, ingested in
// generation order), and its output stream must equal the brute-force reference of
// src/datagen/nexmark/reference.h exactly, row for row. Checkpoints run every 200 ms during each run;
// one test stops the engine half way and reopens it on the same data directory
// (exactly-once across a clean restart). Label "e2e".
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "datagen/nexmark/generator.h"
#include "datagen/nexmark/ndjson.h"
#include "datagen/nexmark/reference.h"
#include "impulse/engine.h"

namespace impulse::nexmark {
namespace {

// 30k events at 500 events/s span 60 s of event time: 6 q7/q8 windows, 30 q5 windows,
// 600 persons, 1800 auctions, 27.6k bids. Small enough for ASan, large enough for every
// query to have a few dozen rows or more.
constexpr uint64_t kEvents = 30'000;
constexpr uint64_t kChunkEvents = 1'000;  // events per Ingest round (split over 3 streams)
constexpr int64_t kOutputTimeoutMs = 60'000;

GeneratorConfig Config() {
  GeneratorConfig c;
  c.seed = 42;
  c.events_per_second = 500;
  return c;
}

const Events& AllEvents() {
  static const Events* events = new Events(GenerateEvents(Config(), kEvents));
  return *events;
}

// Ingest bodies for events [0, kEvents): per chunk of kChunkEvents, one NDJSON body per kind.
struct Chunk {
  std::string person, auction, bid;
};
const std::vector<Chunk>& Chunks() {
  static const std::vector<Chunk>* chunks = [] {
    auto* out = new std::vector<Chunk>;
    Generator gen(Config());
    EventStream stream(&gen, 0, kEvents);
    Event e;
    while (stream.next_index() < kEvents) {
      if (stream.next_index() % kChunkEvents == 0) out->emplace_back();
      if (!stream.Next(&e)) break;
      std::string* body = e.kind == Event::Kind::kPerson    ? &out->back().person
                          : e.kind == Event::Kind::kAuction ? &out->back().auction
                                                            : &out->back().bid;
      AppendEventJson(e, body);
      body->push_back('\n');
    }
    return out;
  }();
  return *chunks;
}

// Ingests `body` into `stream` and waits for its completion; retries on backpressure.
void IngestSync(Engine& engine, std::string_view stream, const std::string& body) {
  if (body.empty()) return;
  for (int attempt = 0;; ++attempt) {
    std::promise<std::pair<Status, IngestResult>> done;
    auto fut = done.get_future();
    Status st = engine.Ingest(stream, body, 0, [&](Status s, IngestResult r) { done.set_value({s, std::move(r)}); });
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

void IngestChunks(Engine& engine, size_t first, size_t end) {
  for (size_t i = first; i < end; ++i) {
    const Chunk& c = Chunks()[i];
    ASSERT_NO_FATAL_FAILURE(IngestSync(engine, "person", c.person));
    ASSERT_NO_FATAL_FAILURE(IngestSync(engine, "auction", c.auction));
    ASSERT_NO_FATAL_FAILURE(IngestSync(engine, "bid", c.bid));
  }
}

// Every event of `stream` as NDJSON lines. ReadEvents skips watermark markers, so the next read
// starts after the last line's _offset (not after the number of lines read).
std::string ReadAll(const Engine& engine, const std::string& stream, uint64_t* lines) {
  std::string all;
  *lines = 0;
  for (const StreamInfo& s : engine.ListStreams()) {
    if (s.name != stream) continue;
    for (const PartitionInfo& p : s.partitions) {
      uint64_t from = p.start_offset;
      while (true) {
        std::string out;
        EXPECT_TRUE(engine.ReadEvents(stream, p.partition, from, 10'000, &out).ok());
        if (out.empty()) break;
        const size_t last = out.rfind('\n', out.size() - 2);
        const size_t at = out.find("\"_offset\":", last == std::string::npos ? 0 : last);
        EXPECT_NE(at, std::string::npos) << out.substr(last == std::string::npos ? 0 : last);
        if (at == std::string::npos) break;
        uint64_t offset = 0;
        const char* begin = out.data() + at + 10;
        std::from_chars(begin, out.data() + out.size(), offset);
        from = offset + 1;
        *lines += static_cast<uint64_t>(std::count(out.begin(), out.end(), '\n'));
        all += out;
      }
    }
  }
  return all;
}

class NexmarkQueriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse-nexmark-test-" + std::to_string(::getpid()) + "-" +
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
    o.state_rocksdb = rocksdb_;
    return o;
  }

  static std::string Spec(const std::string& query) {
    return std::string(IMPULSE_SOURCE_DIR) + "/bench/nexmark/" + query + ".yaml";
  }

  // Ends the input and waits until `query`'s output has as many events as `expected` (or the
  // timeout); then compares the parsed rows with `expected` exactly.
  template <typename Row>
  void ExpectOutput(Engine& engine, const std::string& query, const std::vector<Row>& expected) {
    for (const char* s : {"person", "auction", "bid"}) ASSERT_TRUE(engine.EndOfInput(s).ok()) << s;
    const std::string stream = query + "_out";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kOutputTimeoutMs);
    std::string ndjson;
    uint64_t lines = 0;
    while (true) {
      (void)engine.WaitForPipelines(1'000);
      ndjson = ReadAll(engine, stream, &lines);
      if (lines >= expected.size() || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // Nothing more may arrive once the count is reached (a duplicate would show here).
    ASSERT_TRUE(engine.WaitForPipelines(10'000).ok());
    ndjson = ReadAll(engine, stream, &lines);
    auto rows = RowsFromNdjson<Row>(ndjson);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    uint64_t late = 0;
    const std::string late_events = ReadAll(engine, "_late_events", &late);
    EXPECT_EQ(late, 0u) << late_events.substr(0, 2000);
    // On a mismatch, name the first rows that differ in either direction.
    std::vector<Row> missing, extra;
    std::set_difference(expected.begin(), expected.end(), rows->begin(), rows->end(), std::back_inserter(missing));
    std::set_difference(rows->begin(), rows->end(), expected.begin(), expected.end(), std::back_inserter(extra));
    EXPECT_TRUE(missing.empty()) << missing.size() << " missing, the first: " << missing.front();
    EXPECT_TRUE(extra.empty()) << extra.size() << " unexpected, the first: " << extra.front();
    ASSERT_EQ(rows->size(), expected.size()) << query;
    for (size_t i = 0; i < expected.size(); ++i) ASSERT_EQ((*rows)[i], expected[i]) << query << " row " << i;
  }

  // One whole run of `query` in one engine.
  template <typename Row>
  void RunQuery(const std::string& query, const std::vector<Row>& expected) {
    ASSERT_FALSE(expected.empty()) << "the input gives " << query << " no rows: the test could not fail";
    auto engine = Engine::Open(Spec(query), Options());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    ASSERT_NO_FATAL_FAILURE(IngestChunks(**engine, 0, Chunks().size()));
    ASSERT_NO_FATAL_FAILURE(ExpectOutput(**engine, query, expected));
    ASSERT_TRUE((*engine)->Stop().ok());
  }

  // Half the input, a clean Stop, Open again on the same data directory, the other half.
  template <typename Row>
  void RunQueryWithRestart(const std::string& query, const std::vector<Row>& expected) {
    ASSERT_FALSE(expected.empty());
    const size_t half = Chunks().size() / 2;
    {
      auto engine = Engine::Open(Spec(query), Options());
      ASSERT_TRUE(engine.ok()) << engine.status().ToString();
      ASSERT_NO_FATAL_FAILURE(IngestChunks(**engine, 0, half));
      // Let a checkpoint or two cover part of the pipelines' progress before stopping.
      ASSERT_TRUE((*engine)->WaitForPipelines(30'000).ok());
      ASSERT_TRUE((*engine)->CheckpointNow().ok());
      ASSERT_NO_FATAL_FAILURE(IngestChunks(**engine, half, half + 2));
      ASSERT_TRUE((*engine)->Stop().ok());
    }
    auto engine = Engine::Open(Spec(query), Options());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    ASSERT_NO_FATAL_FAILURE(IngestChunks(**engine, half + 2, Chunks().size()));
    ASSERT_NO_FATAL_FAILURE(ExpectOutput(**engine, query, expected));
    ASSERT_TRUE((*engine)->Stop().ok());
  }

  std::filesystem::path dir_;
  bool rocksdb_ = false;  // operator state in RocksDB instead of memory
};

// q0 is a pass-through: its reference is q1 without the conversion, so compare the count and
// the (auction, price) pairs through Q2Row's parser (which ignores the other members).
TEST_F(NexmarkQueriesTest, Q0PassesEveryBidThrough) {
  std::vector<Q2Row> expected;
  for (const Bid& b : AllEvents().bids) expected.push_back({b.auction, b.price});
  std::sort(expected.begin(), expected.end());
  RunQuery("q0", expected);
}

TEST_F(NexmarkQueriesTest, Q1) { RunQuery("q1", Q1(AllEvents())); }
TEST_F(NexmarkQueriesTest, Q2) { RunQuery("q2", Q2(AllEvents())); }
TEST_F(NexmarkQueriesTest, Q3) { RunQuery("q3", Q3(AllEvents())); }
TEST_F(NexmarkQueriesTest, Q4) { RunQuery("q4", Q4(AllEvents())); }
TEST_F(NexmarkQueriesTest, Q5) { RunQuery("q5", Q5(AllEvents())); }
TEST_F(NexmarkQueriesTest, Q7) { RunQuery("q7", Q7(AllEvents())); }
TEST_F(NexmarkQueriesTest, Q8) { RunQuery("q8", Q8(AllEvents())); }

// q6 is not expressible (docs/NEXMARK.md, "Pipelines"): no test.

TEST_F(NexmarkQueriesTest, Q5ExactlyOnceAcrossARestart) { RunQueryWithRestart("q5", Q5(AllEvents())); }
TEST_F(NexmarkQueriesTest, Q8ExactlyOnceAcrossARestart) { RunQueryWithRestart("q8", Q8(AllEvents())); }
TEST_F(NexmarkQueriesTest, Q3ExactlyOnceAcrossARestart) { RunQueryWithRestart("q3", Q3(AllEvents())); }
TEST_F(NexmarkQueriesTest, Q4ExactlyOnceAcrossARestart) { RunQueryWithRestart("q4", Q4(AllEvents())); }
TEST_F(NexmarkQueriesTest, Q7ExactlyOnceAcrossARestart) { RunQueryWithRestart("q7", Q7(AllEvents())); }

// The same with operator state in RocksDB (join buffers, window panes).
TEST_F(NexmarkQueriesTest, Q3OnRocksDbAcrossARestart) {
  rocksdb_ = true;
  RunQueryWithRestart("q3", Q3(AllEvents()));
}
TEST_F(NexmarkQueriesTest, Q5OnRocksDbAcrossARestart) {
  rocksdb_ = true;
  RunQueryWithRestart("q5", Q5(AllEvents()));
}

// Rows a stateful step emits when EndOfInput moves the watermark to +infinity must reach the
// next stateful step of the same pipeline on time (they carry the watermark before the
// advance), not be sent to _late_events.
TEST_F(NexmarkQueriesTest, RowsClosedByEndOfInputPassALaterStatefulStep) {
  const std::string spec = (dir_ / "spec.yaml").string();
  std::ofstream(spec) << R"(streams:
  - name: s
    fields: [{name: k, type: int64}, {name: t, type: int64}]
    key: k
    event_time: t
    partitions: 1
pipelines:
  - name: p
    from: s
    steps:
      - window: {tumbling: 10, key: k, aggregates: {n: count()}}
      - dedup: {key: [k, window_start], within: 100}
    sink: {stream: p_out}
)";
  auto engine = Engine::Open(spec, Options());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_NO_FATAL_FAILURE(
      IngestSync(**engine, "s", "{\"k\":1,\"t\":0}\n{\"k\":1,\"t\":5}\n{\"k\":1,\"t\":15}\n{\"k\":1,\"t\":25}\n"));
  ASSERT_TRUE((*engine)->EndOfInput("s").ok());
  uint64_t lines = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (lines < 3 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE((*engine)->WaitForPipelines(10'000).ok());
    ReadAll(**engine, "p_out", &lines);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  uint64_t late = 0;
  const std::string late_events = ReadAll(**engine, "_late_events", &late);
  EXPECT_EQ(late, 0u) << late_events;
  EXPECT_EQ(lines, 3u);
  ASSERT_TRUE((*engine)->Stop().ok());
}

}  // namespace
}  // namespace impulse::nexmark
