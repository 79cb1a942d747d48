// Decisions in the response through the whole engine (Engine::IngestAndDecide): the decision is
// the row the pipeline wrote to its sink and the record in its decision log, the rules reported
// are the published firings, a timeout lists what is pending and those events are still
// processed, refused lines are reported in order, and hostile options are refused before
// anything is queued. Labelled concurrent: also run under TSan.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "event/json_writer.h"
#include "runtime/decide_test_util.h"
#include "runtime/engine_test_util.h"

namespace impulse {
namespace {

using decide_test::DecideAndWait;
using decide_test::TxLine;

// Every row of `stream` rendered as JSON (its schema's fields), by the value of `key_field`;
// with `text_field`, that string field's value instead.
std::map<std::string, std::string> RowsById(const Engine& e, const std::string& stream, const std::string& key_field,
                                            const std::string& text_field = "") {
  std::map<std::string, std::string> out;
  for (const StreamInfo& s : e.ListStreams()) {
    if (s.name != stream) continue;
    const int key = s.def.schema.FieldIndex(key_field);
    EXPECT_GE(key, 0);
    for (const PartitionInfo& p : s.partitions) {
      Result<RowsRead> r = e.ReadRows(stream, p.partition, p.start_offset, Engine::kReadRowsMax);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok()) continue;
      for (size_t i = 0; i < r->rows.size(); ++i) {
        std::string json;
        if (text_field.empty()) {
          AppendRowJson(s.def.schema, r->rows.row(i), &json);
        } else {
          json = r->rows.row(i)[s.def.schema.FieldIndex(text_field)].sv();
        }
        out[std::string(r->rows.row(i)[key].sv())] = json;
      }
    }
  }
  return out;
}

// The double after `"name":` in a JSON text.
double NumberAfter(const std::string& json, const std::string& name) {
  const size_t at = json.find("\"" + name + "\":");
  EXPECT_NE(at, std::string::npos) << json;
  return at == std::string::npos ? -1 : std::strtod(json.c_str() + at + name.size() + 3, nullptr);
}

class DecideEngineTest : public ::testing::Test {
 protected:
  void Open(EngineOptions o) {
    auto e = dir_.Open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
  }
  void TearDown() override {
    if (engine_) {
      EXPECT_TRUE(engine_->Stop().ok());
    }
  }
  static DecideOptions Score(uint32_t timeout_ms = 10'000) {
    DecideOptions o;
    o.pipeline = "score";
    o.timeout_ms = timeout_ms;
    return o;
  }
  decide_test::DecideDir dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(DecideEngineTest, DecisionIsTheSinkRowTheDecisionLogRecordAndThePublishedFirings) {
  Open(dir_.Options());
  std::string body;
  for (int i = 0; i < 40; ++i) body += TxLine("t" + std::to_string(i), i % 7, i * 10.0, 1'000'000 + i);
  auto out = DecideAndWait(*engine_, "tx", body, Score());
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  const DecideResult& r = out.result;
  EXPECT_EQ(r.ingest.accepted, 40u);
  EXPECT_EQ(r.id_field, "id");  // inferred: the trigger's event_id
  EXPECT_EQ(r.pending, 0u);
  ASSERT_EQ(r.events.size(), 40u);
  ASSERT_TRUE(engine_->WaitForPipelines(10'000).ok());
  const auto scored = RowsById(*engine_, "scored", "id");
  const auto decisions = RowsById(*engine_, "decisions", "event_id", "scores");  // {"fraud_score":...}
  const auto alerts = RowsById(*engine_, "alerts", "id");
  std::set<std::string> fired;
  for (size_t i = 0; i < r.events.size(); ++i) {
    const EventDecision& e = r.events[i];
    const std::string id = "t" + std::to_string(i);
    EXPECT_EQ(e.line, i + 1);
    EXPECT_EQ(e.id, id);
    ASSERT_EQ(e.state, EventDecision::State::kDecided) << id;
    std::string json;
    AppendRowJson(r.schema, r.rows.row(static_cast<size_t>(e.row)), &json);
    ASSERT_TRUE(scored.count(id)) << id;
    EXPECT_EQ(json, scored.at(id));  // the same row as the sink holds, every field
    ASSERT_TRUE(decisions.count(id)) << id;
    const double score = r.rows.row(static_cast<size_t>(e.row))[r.schema.FieldIndex("fraud_score")].f64;
    EXPECT_EQ(score, i * 10.0);
    EXPECT_EQ(NumberAfter(decisions.at(id), "fraud_score"), score);  // the decision log's record
    EXPECT_EQ(e.rules, score >= 200 ? std::vector<std::string>{"big"} : std::vector<std::string>{}) << id;
    if (!e.rules.empty()) fired.insert(id);
  }
  std::set<std::string> published;
  for (const auto& [id, row] : alerts) published.insert(id);
  EXPECT_EQ(fired, published);
  EXPECT_EQ(fired.size(), 20u);
  const std::string metrics = engine_->MetricsText();
  EXPECT_NE(metrics.find("impulse_decide_requests_total{outcome=\"answered\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("impulse_decide_events_total{state=\"decided\"} 40"), std::string::npos);
  EXPECT_NE(metrics.find("impulse_decide_waiters 0"), std::string::npos);
}

TEST_F(DecideEngineTest, TimeoutListsPendingEventsWhichAreStillProcessed) {
  Open(dir_.Options());
  ASSERT_TRUE(testing_util::IngestAndWait(*engine_, "ok", "{\"customer\":1,\"ts\":5000}\n").status.ok());
  ASSERT_TRUE(engine_->WaitForPipelines(10'000).ok());
  DecideOptions o;
  o.pipeline = "approve";
  o.id_field = "id";
  o.timeout_ms = 1000;  // long enough for a loaded machine to decide "a"
  const auto t0 = std::chrono::steady_clock::now();
  auto out =
      DecideAndWait(*engine_, "tx", TxLine("a", 1, 5, 5000) + TxLine("b", 2, 5, 5000) + TxLine("c", 3, 5, 5000), o);
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_GE(waited, std::chrono::milliseconds(1000));
  const DecideResult& r = out.result;
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[0].state, EventDecision::State::kDecided);  // its match was there already
  EXPECT_EQ(r.events[1].state, EventDecision::State::kPending);
  EXPECT_EQ(r.events[2].state, EventDecision::State::kPending);
  EXPECT_EQ(r.pending, 2u);
  EXPECT_NE(engine_->MetricsText().find("impulse_decide_requests_total{outcome=\"timed_out\"} 1"), std::string::npos);
  // Pending, not dropped: b's match arrives later and b is joined then; c never is.
  ASSERT_TRUE(testing_util::IngestAndWait(*engine_, "ok", "{\"customer\":2,\"ts\":6000}\n").status.ok());
  ASSERT_TRUE(engine_->WaitForPipelines(10'000).ok());
  const auto approved = RowsById(*engine_, "approved", "id");
  EXPECT_EQ(approved.size(), 2u);
  EXPECT_TRUE(approved.count("a"));
  EXPECT_TRUE(approved.count("b"));
  EXPECT_NE(engine_->MetricsText().find("impulse_decide_waiters 0"), std::string::npos);
}

TEST_F(DecideEngineTest, FilteredEventIsPendingAndRefusedLineIsRejectedInRequestOrder) {
  Open(dir_.Options());
  const std::string body = TxLine("x1", 1, 10, 1000) + "{\"id\":\"x2\",\"customer\":2,\"amount\":\"ten\",\"ts\":1}\n" +
                           TxLine("x3", 3, 5000, 1000) + TxLine("x4", 4, 30, 1000);
  auto out =
      DecideAndWait(*engine_, "tx", body, Score(2000));  // x3 waits it out: a loaded machine still decides the others
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  const DecideResult& r = out.result;
  EXPECT_EQ(r.ingest.accepted, 3u);
  EXPECT_EQ(r.ingest.rejected, 1u);
  ASSERT_EQ(r.events.size(), 4u);
  EXPECT_EQ(r.events[0].state, EventDecision::State::kDecided);
  EXPECT_EQ(r.events[1].state, EventDecision::State::kRejected);
  EXPECT_EQ(r.events[1].line, 2u);
  EXPECT_FALSE(r.events[1].reason.empty());
  EXPECT_EQ(r.events[2].state, EventDecision::State::kPending);  // amount >= 1000: filtered out
  EXPECT_EQ(r.events[2].id, "x3");
  EXPECT_EQ(r.events[3].state, EventDecision::State::kDecided);
  EXPECT_EQ(r.pending, 1u);
  EXPECT_EQ(testing_util::ReadAllEvents(*engine_, std::string(kDeadLetterStream)).size(), 1u);
}

// Stop answers the calls still waiting (a filtered event never decides) instead of leaving them to
// their timeout, up to a minute after the engine stopped.
TEST_F(DecideEngineTest, StopAnswersCallsStillWaiting) {
  Open(dir_.Options());
  std::promise<DecideResult> answered;
  auto fut = answered.get_future();
  ASSERT_TRUE(engine_
                  ->IngestAndDecide("tx", TxLine("f1", 1, 5000, 1000), 0, Score(60'000),
                                    [&](Status st, DecideResult r) {
                                      EXPECT_TRUE(st.ok()) << st.ToString();
                                      answered.set_value(std::move(r));
                                    })
                  .ok());
  ASSERT_TRUE(engine_->WaitForPipelines(30'000).ok());
  ASSERT_TRUE(engine_->Stop().ok());
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(0)), std::future_status::ready) << "still waiting after Stop";
  const DecideResult r = fut.get();
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].state, EventDecision::State::kPending);
}

// The timer thread is woken only for a new earliest deadline: a call with a short timeout that
// comes after one with a long timeout still answers at its own deadline, and a call whose
// deadline is later than a waiting one's is answered after the timer has served the earlier.
// Filtered events (amount >= 1000) never decide, so each call answers at its timeout.
TEST_F(DecideEngineTest, EachCallAnswersAtItsOwnTimeoutWhateverTheOrderOfDeadlines) {
  Open(dir_.Options());
  auto call = [&](const std::string& id, uint32_t timeout_ms) {
    auto done = std::make_shared<std::promise<DecideResult>>();
    auto fut = done->get_future();
    EXPECT_TRUE(engine_
                    ->IngestAndDecide("tx", TxLine(id, 1, 5000, 1000), 0, Score(timeout_ms),
                                      [done](Status st, DecideResult r) {
                                        EXPECT_TRUE(st.ok()) << st.ToString();
                                        done->set_value(std::move(r));
                                      })
                    .ok());
    return fut;
  };
  auto long_wait = call("long", 60'000);
  ASSERT_TRUE(engine_->WaitForPipelines(30'000).ok());  // "long" is acknowledged: its timer is set
  const auto t0 = std::chrono::steady_clock::now();
  auto short_wait = call("short", 200);
  // A timer thread that slept until the 60 s deadline would leave "short" waiting for a minute.
  ASSERT_EQ(short_wait.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200));
  EXPECT_EQ(short_wait.get().pending, 1u);
  auto first = call("first", 100);
  auto second = call("second", 400);  // not the earliest deadline when set
  ASSERT_EQ(first.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  ASSERT_EQ(second.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(first.get().pending, 1u);
  EXPECT_EQ(second.get().pending, 1u);
  EXPECT_EQ(long_wait.wait_for(std::chrono::seconds(0)), std::future_status::timeout);  // still waiting
  ASSERT_TRUE(engine_->Stop().ok());                                                    // answers it
  EXPECT_EQ(long_wait.get().pending, 1u);
}

TEST_F(DecideEngineTest, HostileOptionsAreRefusedBeforeAnythingIsQueued) {
  EngineOptions eo = dir_.Options();
  eo.decide_waiters_max = 2;
  Open(eo);
  const std::string one = TxLine("h1", 1, 10, 1000);
  auto code = [&](DecideOptions o, const std::string& body, const std::string& stream = "tx") {
    return DecideAndWait(*engine_, stream, body, o).status.code();
  };
  DecideOptions o = Score();
  o.pipeline = "nope";
  EXPECT_EQ(code(o, one), StatusCode::kInvalidArgument);
  o = Score();
  o.id_field = "nope";  // not in the stream
  EXPECT_EQ(code(o, one), StatusCode::kInvalidArgument);
  o.id_field = "ts";  // in the stream, projected away from score's output
  EXPECT_EQ(code(o, one), StatusCode::kInvalidArgument);
  o = Score();
  o.timeout_ms = DecideOptions::kDecideTimeoutMaxMs + 1;
  EXPECT_EQ(code(o, one), StatusCode::kInvalidArgument);
  o = Score();
  EXPECT_EQ(code(o, "{\"customer\":1,\"ts\":1}\n", "ok"), StatusCode::kInvalidArgument);  // score does not read ok
  o.pipeline = "approve";  // no trigger or predict event_id to default to
  EXPECT_EQ(code(o, one), StatusCode::kInvalidArgument);
  o = Score();
  EXPECT_EQ(code(o, one + TxLine("h2", 2, 10, 1000) + TxLine("h1", 3, 10, 1000)), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(o, one + TxLine("h2", 2, 10, 1000) + TxLine("h3", 3, 10, 1000)), StatusCode::kUnavailable);
  std::string many;
  for (uint32_t i = 0; i <= DecideOptions::kDecideEventsMax; ++i) many += TxLine("m" + std::to_string(i), i, 1, 1);
  EXPECT_EQ(code(o, many), StatusCode::kOutOfRange);
  EXPECT_TRUE(testing_util::ReadAllEvents(*engine_, "tx").empty());  // nothing was queued
  EXPECT_NE(engine_->MetricsText().find("impulse_decide_refused_total{reason=\"waiters_full\"} 1"), std::string::npos);
  // Still usable within the bound.
  auto ok = DecideAndWait(*engine_, "tx", one, Score());
  ASSERT_TRUE(ok.status.ok()) << ok.status.ToString();
  EXPECT_EQ(ok.result.events.at(0).state, EventDecision::State::kDecided);
}

TEST_F(DecideEngineTest, RowsFormAndConcurrentCallersEachGetTheirOwnDecisions) {
  Open(dir_.Options());
  constexpr int kThreads = 4, kCalls = 20, kPerCall = 10;
  std::vector<std::thread> threads;
  std::atomic<int> decided{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        RowBatch rows(4);
        for (int k = 0; k < kPerCall; ++k) {
          Value* v = rows.AppendRow();
          const std::string id = "r" + std::to_string(t) + "_" + std::to_string(c) + "_" + std::to_string(k);
          v[0] = Value::String(rows.arena().Copy(id));
          v[1] = Value::Int(k);
          v[2] = Value::Double(k * 25.0);
          v[3] = Value::Int(1000 + c);
        }
        std::promise<decide_test::DecideOutcome> done;
        DecideOptions o = Score();
        Status st =
            engine_->IngestRowsAndDecide("tx", rows, static_cast<uint32_t>(t), o, [&](Status s, DecideResult r) {
              done.set_value({s, std::move(r)});
            });
        ASSERT_TRUE(st.ok()) << st.ToString();
        auto out = done.get_future().get();
        ASSERT_TRUE(out.status.ok()) << out.status.ToString();
        for (int k = 0; k < kPerCall; ++k) {
          const EventDecision& e = out.result.events.at(static_cast<size_t>(k));
          ASSERT_EQ(e.state, EventDecision::State::kDecided);
          EXPECT_EQ(e.line, static_cast<uint32_t>(k + 1));
          const Value* row = out.result.rows.row(static_cast<size_t>(e.row));
          EXPECT_EQ(row[out.result.schema.FieldIndex("id")].sv(), e.id);
          EXPECT_EQ(row[out.result.schema.FieldIndex("fraud_score")].f64, k * 25.0);
          EXPECT_EQ(e.rules.size(), k * 25.0 >= 200 ? 1u : 0u);
          decided.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(decided.load(), kThreads * kCalls * kPerCall);
}

}  // namespace
}  // namespace impulse
