// The rank step (rank_op.cc) through a compiled spec and a pipeline instance: scores of a linear
// model over event, candidate and pair fields; order, k and ties; candidates without versions;
// as-of versions; waiting for the watermark; emit: candidates; each candidate's place and count
// in its list; malformed and oversized candidate
// lists to _late_events; checkpoint and restore; spec errors at their line and column. A `lookup`
// of a list of keys (the same op without a model): one row per key, its errors.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "event/json_writer.h"
#include "model/repository.h"
#include "model/test_repo_dir.h"
#include "ops/operator.h"
#include "plan/physical.h"
#include "spec/spec.h"

namespace impulse::plan {
namespace {

// Lines 1-28 ("- rank:" last); the step's entries start at line 29, column 11.
constexpr char kHead[] = R"(streams:
  - name: items
    fields: [{name: item, type: int64}, {name: category, type: int64}, {name: price, type: double}, {name: ts, type: timestamp}]
    key: item
    event_time: ts
    partitions: 2
  - name: visits
    fields: [{name: user, type: int64}, {name: category, type: int64}, {name: cands, type: string, nullable: true}, {name: ts, type: timestamp}]
    key: user
    event_time: ts
    partitions: 2
feature_views:
  - name: item
    entity: item
    features:
      - {name: cat, expr: category}
      - {name: cur_price, expr: price}
pipelines:
  - name: item_features
    from: items
    steps:
      - features: item
    sink: {stream: item_versions}
  - name: p
    from: visits
    steps:
      - map: {one: "1"}
      - rank:
)";

// The step's body, one entry per line at indentation 10.
std::string Spec(const std::string& body) { return std::string(kHead) + body + "    sink: {stream: out}\n"; }

// The same spec with a `lookup:` step (same lines and columns) instead of `rank:`.
std::string LookupSpec(const std::string& body) {
  std::string s = Spec(body);
  const size_t at = s.find("      - rank:\n");
  return s.replace(at, 14, "      - lookup:\n");
}

// A lookup of the list `cands`: lines 29-32.
constexpr char kListBody[] = R"(          keys: cands
          view: item
          as_of: -100
          keys_max: 5
)";

constexpr char kBody[] = R"(          candidates: cands
          view: item
          as_of: 100ms
          model: ranker
          pair: {same_cat: "item_cat = category"}
          k: 3
          candidates_max: 5
          outputs: {items: recs, scores: rec_scores}
)";

std::string Body(const std::string& extra = "", const std::string& as_of = "-100") {
  std::string b = kBody;
  b.replace(b.find("100ms"), 5, as_of);
  return b + extra;
}

// score = cur_price + 10 * same_cat + 0 * one; a missing value adds nothing.
void WriteModel(const model::TestRepoDir& t) {
  t.Write("ranker/config.yaml",
          "kind: linear\ninputs:\n  - {name: item_cur_price}\n  - {name: same_cat}\n  - {name: one}\noutputs: "
          "[score]\n");
  t.Write("ranker/1/model.json", R"({"kind":"linear","weights":[1,10,0],"bias":0})");
}

struct Item {
  int64_t item, category;
  double price;
  int64_t ts;
};
struct Visit {
  int64_t user, category;
  const char* cands;  // null: a null field
  int64_t ts;
};

class RankOpTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteModel(repo_dir_); }

  // Compiles `body` (of a rank step, or with `lookup`, of a lookup step), opens the repository,
  // and makes instances of both pipelines.
  void Make(const std::string& body, bool lookup = false) {
    auto plan = CompileSpec(lookup ? LookupSpec(body) : Spec(body), "t.yaml", nullptr);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    plan_ = std::move(*plan);
    auto repo = model::ModelRepository::Open(repo_dir_.dir());
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(*repo);
    ASSERT_TRUE(CheckRankStep(plan_.pipelines[1].ops[1], repo_.get()).ok());
    for (int i = 0; i < 2; ++i) {
      auto phys = PhysicalPipeline::Create(plan_.pipelines[static_cast<size_t>(i)], plan_);
      ASSERT_TRUE(phys.ok()) << phys.status().ToString();
      phys_[i] = std::move(*phys);
    }
    ASSERT_EQ(plan_.pipelines[1].name, "p");
    inst_ = NewInstance();
  }

  std::unique_ptr<PipelineInstance> NewInstance() {
    InstanceOptions io;
    io.models = repo_.get();
    auto inst = phys_[1]->NewInstance(io);
    EXPECT_TRUE(inst.ok()) << inst.status().ToString();
    return inst.ok() ? std::move(*inst) : nullptr;
  }

  // The item view's versions for `items` (the item_features pipeline's output), into side 1.
  void AddItems(const std::vector<Item>& items, PipelineInstance* inst = nullptr) {
    InstanceOptions io;
    auto view = phys_[0]->NewInstance(io);
    ASSERT_TRUE(view.ok());
    RowBatch in(4), versions(phys_[0]->output_schema().size()), late(LateEventsStreamDef().schema.size());
    for (const Item& it : items) {
      Value* r = in.AppendRow();
      r[0] = Value::Int(it.item);
      r[1] = Value::Int(it.category);
      r[2] = Value::Double(it.price);
      r[3] = Value::Int(it.ts);
      in.meta(in.size() - 1).event_time_ms = it.ts;
    }
    ASSERT_TRUE((*view)->Run(0, in, INT64_MIN, &versions, &late).ok());
    ASSERT_EQ(versions.size(), items.size());
    Run(1, versions, INT64_MIN, inst);
  }

  void AddVisits(const std::vector<Visit>& visits, int64_t watermark, PipelineInstance* inst = nullptr) {
    RowBatch in(4);
    for (const Visit& v : visits) {
      Value* r = in.AppendRow();
      r[0] = Value::Int(v.user);
      r[1] = Value::Int(v.category);
      r[2] = v.cands == nullptr ? Value::Null() : Value::String(in.arena().Copy(v.cands));
      r[3] = Value::Int(v.ts);
      RowMeta& m = in.meta(in.size() - 1);
      m.event_time_ms = v.ts;
      m.watermark_ms = watermark;
      m.offset = 7 + in.size();
    }
    Run(0, in, watermark, inst);
  }

  void Run(int side, const RowBatch& in, int64_t wm, PipelineInstance* inst = nullptr) {
    RowBatch out(phys_[1]->output_schema().size()), late(LateEventsStreamDef().schema.size());
    ASSERT_TRUE((inst != nullptr ? inst : inst_.get())->Run(side, in, wm, &out, &late).ok());
    for (size_t i = 0; i < out.size(); ++i) {
      std::string line;
      AppendRowJson(phys_[1]->output_schema(), out.row(i), &line);
      rows_.push_back(line);
    }
    for (size_t i = 0; i < late.size(); ++i) {
      std::string line;
      AppendRowJson(LateEventsStreamDef().schema, late.row(i), &line);
      late_.push_back(line);
    }
  }

  // Items 1..4; item 1 changes price after the visits' as-of time (not read).
  static std::vector<Item> Items() {
    return {{1, 1, 5.0, 100}, {2, 2, 7.0, 110}, {3, 1, 5.0, 120}, {4, 2, 1.0, 130}, {1, 1, 100.0, 950}};
  }

  model::TestRepoDir repo_dir_;
  LogicalPlan plan_;
  std::unique_ptr<model::ModelRepository> repo_;
  std::unique_ptr<PhysicalPipeline> phys_[2];
  std::unique_ptr<PipelineInstance> inst_;
  std::vector<std::string> rows_, late_;
};

TEST_F(RankOpTest, KeepsTheBestKBestFirstTiesByIdAsOfTheEvent) {
  Make(Body());
  AddItems(Items());
  // Scores: 1 and 3 same category (5 + 10 = 15: a tie, the smaller id first), 2: 7, 4: 1, 9 has
  // no versions (null features: 0). Top 3. The top_k form reads the same.
  AddVisits({{1, 1, "[4,3,2,1,9]", 1000},
             {2, 2, R"([{"value":2,"count":5},{"value":4,"count":1}])", 1000},
             {3, 2, "[9]", 1000}},
            /*watermark=*/950);
  ASSERT_EQ(rows_.size(), 3u) << ::testing::PrintToString(late_);
  EXPECT_NE(rows_[0].find(R"("user":1,"category":1,"cands":"[4,3,2,1,9]","ts":)"), std::string::npos) << rows_[0];
  EXPECT_NE(rows_[0].find(R"("recs":"[1,3,2]","rec_scores":"[15,15,7]")"), std::string::npos) << rows_[0];
  EXPECT_NE(rows_[1].find(R"("recs":"[2,4]","rec_scores":"[17,11]")"), std::string::npos) << rows_[1];
  EXPECT_NE(rows_[2].find(R"("recs":"[9]","rec_scores":"[0]")"), std::string::npos) << rows_[2];
  EXPECT_TRUE(late_.empty());
  const auto stats = inst_->Stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].first, "rank#2");
  EXPECT_EQ(stats[0].second.scored, 8u);
}

// Events released together are scored in chunks of whole events (batch_rows_max rows, at least
// one event): the same rows, in the same order, as one matrix.
TEST_F(RankOpTest, EventsReleasedTogetherAreScoredInChunksOfWholeEvents) {
  Make(Body("          batch_rows_max: 2\n", "0"));
  AddItems(Items());
  AddVisits({{1, 1, "[4,3,2,1,9]", 940}, {2, 2, "[2]", 940}, {3, 2, "[2,4]", 945}, {4, 2, "[9]", 945}}, 900);
  ASSERT_TRUE(rows_.empty());
  RowBatch none(4);
  Run(0, none, 1000);  // all four at once
  ASSERT_EQ(rows_.size(), 4u) << ::testing::PrintToString(late_);
  EXPECT_NE(rows_[0].find(R"("user":1,"category":1,"cands":"[4,3,2,1,9]","ts":)"), std::string::npos) << rows_[0];
  EXPECT_NE(rows_[0].find(R"("recs":"[1,3,2]","rec_scores":"[15,15,7]")"), std::string::npos) << rows_[0];
  EXPECT_NE(rows_[1].find(R"("user":2,)"), std::string::npos) << rows_[1];
  EXPECT_NE(rows_[1].find(R"("recs":"[2]","rec_scores":"[17]")"), std::string::npos) << rows_[1];
  EXPECT_NE(rows_[2].find(R"("recs":"[2,4]","rec_scores":"[17,11]")"), std::string::npos) << rows_[2];
  EXPECT_NE(rows_[3].find(R"("recs":"[9]","rec_scores":"[0]")"), std::string::npos) << rows_[3];
  EXPECT_EQ(inst_->Stats()[0].second.scored, 9u);
}

TEST_F(RankOpTest, NullAndEmptyListsPassMalformedAndOversizedOnesGoToLateEvents) {
  Make(Body());
  AddItems(Items());
  AddVisits({{1, 1, nullptr, 1000},
             {2, 1, "[]", 1000},
             {3, 1, R"([1, "x"])", 1000},
             {4, 1, "[1,2,3,4,5,6]", 1000},
             {5, 1, "{\"value\":1}", 1000}},
            950);
  ASSERT_EQ(rows_.size(), 2u);
  EXPECT_NE(rows_[0].find(R"("recs":null,"rec_scores":null)"), std::string::npos) << rows_[0];
  EXPECT_NE(rows_[1].find(R"("recs":"[]","rec_scores":"[]")"), std::string::npos) << rows_[1];
  ASSERT_EQ(late_.size(), 3u);
  // What (the event), where (pipeline, step, partition and offset), why (the reason).
  EXPECT_NE(late_[0].find(R"("pipeline":"p","operator":"rank#2","reason":"invalid")"), std::string::npos) << late_[0];
  EXPECT_NE(late_[0].find(R"(\"user\":3)"), std::string::npos) << late_[0];
  EXPECT_NE(late_[1].find(R"("reason":"too_large")"), std::string::npos) << late_[1];
  EXPECT_NE(late_[2].find(R"("reason":"invalid")"), std::string::npos) << late_[2];
  EXPECT_EQ(inst_->Stats()[0].second.late_events, 3u);
}

TEST_F(RankOpTest, AnEventWaitsForTheWatermarkToPassItsAsOfTime) {
  Make(Body("", "0"));
  AddItems(Items());
  AddVisits({{1, 1, "[1,2]", 940}}, 900);  // as of 940: the watermark (900) has not passed it
  EXPECT_TRUE(rows_.empty());
  // Item 1's version at 950 comes after 940: not read even once it has arrived.
  RowBatch none(4);
  Run(0, none, 1000);
  ASSERT_EQ(rows_.size(), 1u);
  EXPECT_NE(rows_[0].find(R"("recs":"[1,2]","rec_scores":"[15,7]")"), std::string::npos) << rows_[0];
}

TEST_F(RankOpTest, RestoredWaitingEventsAreRankedAsUninterrupted) {
  Make(Body("", "0"));
  AddItems(Items());
  AddVisits({{1, 1, "[1,2,3]", 940}, {2, 2, "[4,2]", 945}}, 900);
  ASSERT_TRUE(rows_.empty());
  char tmpl[] = "/tmp/rank_op_test.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ASSERT_TRUE(inst_->Checkpoint(dir + "/cp").ok());
  std::unique_ptr<PipelineInstance> restored = NewInstance();
  ASSERT_TRUE(restored->Restore(dir + "/cp").ok());
  // A new event after the restore gets its own number: not mixed with the waiting ones.
  AddVisits({{3, 1, "[3]", 946}}, 900, restored.get());
  RowBatch none(4);
  Run(0, none, 1000, restored.get());
  std::filesystem::remove_all(dir);
  ASSERT_EQ(rows_.size(), 3u);
  EXPECT_NE(rows_[0].find(R"("recs":"[1,3,2]","rec_scores":"[15,15,7]")"), std::string::npos) << rows_[0];
  EXPECT_NE(rows_[1].find(R"("recs":"[2,4]","rec_scores":"[17,11]")"), std::string::npos) << rows_[1];
  EXPECT_NE(rows_[2].find(R"("recs":"[3]","rec_scores":"[15]")"), std::string::npos) << rows_[2];
}

// A backfill runs far ahead of the watermark: many events wait at once, each with ~100
// candidates and a candidate list of kilobytes. The step holds each waiting event once plus small
// per-candidate rows, not the event once per candidate (which this bound excludes: 100 copies).
TEST_F(RankOpTest, AWaitingEventIsHeldOnceNotOncePerCandidate) {
  std::string body = Body("", "0");
  body.replace(body.find("candidates_max: 5"), 17, "candidates_max: 100");
  Make(body);
  AddItems(Items());
  // 100 ids padded to ~2.5 KB (JSON whitespace): the size of the shop's candidate lists.
  std::string list = "[";
  for (int id = 1; id <= 100; ++id) list += std::to_string(id) + (id < 100 ? "," : "");
  list += std::string(2500 - list.size(), ' ') + "]";
  constexpr int kEvents = 20;
  std::vector<Visit> visits;
  for (int u = 0; u < kEvents; ++u) visits.push_back({u, 1, list.c_str(), 940});
  AddVisits(visits, /*watermark=*/900);  // as of 940: all wait
  ASSERT_TRUE(rows_.empty());
  ASSERT_TRUE(late_.empty()) << late_[0];
  const OperatorStats waiting = inst_->Stats()[0].second;
  // One copy of each event (~2.6 KB encoded) and at most 256 bytes per candidate row.
  EXPECT_LT(waiting.state_bytes, kEvents * (2 * list.size() + 100 * 256)) << waiting.state_bytes;
  EXPECT_GE(waiting.state_bytes, kEvents * list.size());  // the events are counted
  EXPECT_GE(waiting.entries, static_cast<uint64_t>(kEvents) * 100);

  // A checkpoint taken while they wait, restored: the same outputs as the uninterrupted step.
  char tmpl[] = "/tmp/rank_op_test.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ASSERT_TRUE(inst_->Checkpoint(dir + "/cp").ok());
  std::unique_ptr<PipelineInstance> restored = NewInstance();
  ASSERT_TRUE(restored->Restore(dir + "/cp").ok());
  std::filesystem::remove_all(dir);
  EXPECT_EQ(restored->Stats()[0].second.entries, waiting.entries);
  RowBatch none(4);
  Run(0, none, 1000);
  const std::vector<std::string> uninterrupted = rows_;
  rows_.clear();
  Run(0, none, 1000, restored.get());
  ASSERT_EQ(uninterrupted.size(), static_cast<size_t>(kEvents));
  EXPECT_NE(uninterrupted[0].find(R"("recs":"[1,3,2]","rec_scores":"[15,15,7]")"), std::string::npos)
      << uninterrupted[0];
  EXPECT_EQ(rows_, uninterrupted);
  EXPECT_TRUE(late_.empty());
  // Released: no event nor candidate row is held any more, only the items' versions (at most 5).
  EXPECT_LE(inst_->Stats()[0].second.entries, 5u);
  EXPECT_LE(restored->Stats()[0].second.entries, 5u);
}

// rows_max bounds the candidate rows waiting in the join: a refused one goes to _late_events as
// the whole candidate row (the event's fields with it), and its event, incomplete, is dropped.
TEST_F(RankOpTest, ACandidateRefusedByRowsMaxIsALateRowWithItsEventsFields) {
  Make(Body("          rows_max: 5\n", "0"));  // the 5 item versions; 5 waiting candidate rows
  AddItems(Items());
  AddVisits({{1, 1, "[1,2,3]", 940}, {2, 2, "[4,2,1]", 940}}, /*watermark=*/900);
  ASSERT_EQ(late_.size(), 1u) << ::testing::PrintToString(late_);
  EXPECT_NE(late_[0].find(R"("reason":"state_limit")"), std::string::npos) << late_[0];
  EXPECT_NE(late_[0].find(R"(\"user\":2,\"category\":2,\"cands\":\"[4,2,1]\")"), std::string::npos) << late_[0];
  EXPECT_NE(late_[0].find(R"(\"_rank_seq\":1,\"_rank_count\":3,\"candidate\":1,)"), std::string::npos) << late_[0];
  RowBatch none(4);
  Run(0, none, 1000);
  ASSERT_EQ(rows_.size(), 1u);  // user 2's event is incomplete: dropped
  EXPECT_NE(rows_[0].find(R"("user":1,)"), std::string::npos) << rows_[0];
  const OperatorStats s = inst_->Stats()[0].second;
  EXPECT_EQ(s.limit_dropped, 2u);  // the refused row, then its event
  EXPECT_LE(s.entries, 5u);        // no event is held any more: only the items' versions
}

TEST_F(RankOpTest, EmitCandidatesGivesOneRowPerCandidateWithEveryModelInput) {
  Make(Body("          emit: candidates\n          batch_rows_max: 2\n"));
  AddItems(Items());
  AddVisits({{1, 1, "[2,9,1]", 1000}}, 950);
  ASSERT_EQ(rows_.size(), 3u);
  // The event, the candidate, its features, the pair field, the score: what a trainer labels.
  EXPECT_NE(rows_[0].find(
                R"("one":1,"candidate":2,"candidate_rank":1,"candidate_count":null,"item_cat":2,"item_cur_price":7.0,)"
                R"("same_cat":false,"rec_scores":7.0})"),
            std::string::npos)
      << rows_[0];
  EXPECT_NE(rows_[1].find(R"("candidate":9,"candidate_rank":2,"candidate_count":null,"item_cat":null,)"
                          R"("item_cur_price":null,"same_cat":null,"rec_scores":0.0})"),
            std::string::npos)
      << rows_[1];
  EXPECT_NE(rows_[2].find(R"("candidate":1,"candidate_rank":3,"candidate_count":null,"item_cat":1,)"
                          R"("item_cur_price":5.0,"same_cat":true,"rec_scores":15.0})"),
            std::string::npos)
      << rows_[2];
}

// A lookup of a list of keys: one row per distinct key (first place kept) with the view's values
// as of the event; no model, no score; a null or empty list gives no row; a bad or oversized one
// goes to _late_events as in rank.
TEST_F(RankOpTest, ListLookupGivesOneRowPerKeyWithTheViewsValuesAsOfTheEvent) {
  Make(kListBody, /*lookup=*/true);
  const Schema& out = phys_[1]->output_schema();
  ASSERT_EQ(out.size(), 10u);
  EXPECT_EQ(out.field(5).name, "key");
  EXPECT_EQ(out.field(6).name, "key_rank");
  EXPECT_EQ(out.field(7).name, "key_count");
  EXPECT_EQ(out.field(9).name, "item_cur_price");
  AddItems(Items());
  // As of 900: item 1's price is 5, not its version at 950 (100).
  AddVisits(
      {{1, 1, R"([{"value":4,"count":6},{"value":1,"count":2},{"value":9,"count":1},{"value":4,"count":1}])", 1000},
       {2, 2, nullptr, 1000},
       {3, 2, "[]", 1000},
       {4, 2, "[1,2,3,4,5,6]", 1000},
       {5, 2, "[3]", 1000}},
      950);
  ASSERT_EQ(rows_.size(), 4u) << ::testing::PrintToString(rows_);
  EXPECT_NE(rows_[0].find(R"("user":1,)"), std::string::npos) << rows_[0];
  EXPECT_NE(rows_[0].find(R"("one":1,"key":4,"key_rank":1,"key_count":6,"item_cat":2,"item_cur_price":1.0})"),
            std::string::npos)
      << rows_[0];
  EXPECT_NE(rows_[1].find(R"("key":1,"key_rank":2,"key_count":2,"item_cat":1,"item_cur_price":5.0})"),
            std::string::npos)
      << rows_[1];
  EXPECT_NE(rows_[2].find(R"("key":9,"key_rank":3,"key_count":1,"item_cat":null,"item_cur_price":null})"),
            std::string::npos)
      << rows_[2];
  EXPECT_NE(rows_[3].find(R"("user":5,)"), std::string::npos) << rows_[3];
  EXPECT_NE(rows_[3].find(R"("key":3,"key_rank":1,"key_count":null,"item_cat":1,"item_cur_price":5.0})"),
            std::string::npos)
      << rows_[3];
  ASSERT_EQ(late_.size(), 1u);
  EXPECT_NE(late_[0].find(R"("pipeline":"p","operator":"lookup#2","reason":"too_large")"), std::string::npos)
      << late_[0];
  const OperatorStats s = inst_->Stats()[0].second;
  EXPECT_EQ(s.scored + s.unscored, 0u);  // nothing to score
  EXPECT_EQ(s.late_events, 1u);
}

// Waiting for the watermark and a restore, as in rank: the rows are those of an uninterrupted run.
TEST_F(RankOpTest, ListLookupWaitsForTheWatermarkAndSurvivesARestore) {
  std::string body = kListBody;
  body.replace(body.find("-100"), 4, "0");
  Make(body + "          key_field: item_key\n", /*lookup=*/true);
  AddItems(Items());
  AddVisits({{1, 1, "[2,-1,1]", 940}}, 900);  // as of 940: waits
  EXPECT_TRUE(rows_.empty());
  char tmpl[] = "/tmp/rank_op_test.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ASSERT_TRUE(inst_->Checkpoint(dir + "/cp").ok());
  std::unique_ptr<PipelineInstance> restored = NewInstance();
  ASSERT_TRUE(restored->Restore(dir + "/cp").ok());
  RowBatch none(4);
  Run(0, none, 1000, restored.get());
  std::filesystem::remove_all(dir);
  ASSERT_EQ(rows_.size(), 3u);  // in list order, whatever order the join releases them in
  EXPECT_NE(rows_[0].find(R"("item_key":2,"key_rank":1,"key_count":null,"item_cat":2,"item_cur_price":7.0})"),
            std::string::npos)
      << rows_[0];
  EXPECT_NE(rows_[1].find(R"("item_key":-1,"key_rank":2,"key_count":null,"item_cat":null,"item_cur_price":null})"),
            std::string::npos)
      << rows_[1];
  EXPECT_NE(rows_[2].find(R"("item_key":1,"key_rank":3,"key_count":null,"item_cat":1,"item_cur_price":5.0})"),
            std::string::npos)
      << rows_[2];
}

TEST_F(RankOpTest, ACandidatesPlaceAndTopKCountAreModelInputs) {
  // score = 10 * count - place; a plain id has no count (missing: adds nothing).
  repo_dir_.Write("ranker/config.yaml",
                  "kind: linear\ninputs:\n  - {name: candidate_rank}\n  - {name: candidate_count}\n  - {name: one}\n"
                  "outputs: [score]\n");
  repo_dir_.Write("ranker/1/model.json", R"({"kind":"linear","weights":[-1,10,0],"bias":0})");
  Make(Body());
  AddItems(Items());
  // The repeated 4 keeps its first place and count: 4 (place 1, count 1), 3 (2, 5), 2 (3, 5).
  AddVisits(
      {{1, 1, R"([{"value":4,"count":1},{"value":3,"count":5},{"value":4,"count":9},{"value":2,"count":5}])", 1000},
       {2, 2, "[2,1]", 1000}},
      950);
  ASSERT_EQ(rows_.size(), 2u) << ::testing::PrintToString(late_);
  EXPECT_NE(rows_[0].find(R"("recs":"[3,2,4]","rec_scores":"[48,47,9]")"), std::string::npos) << rows_[0];
  EXPECT_NE(rows_[1].find(R"("recs":"[2,1]","rec_scores":"[-1,-2]")"), std::string::npos) << rows_[1];
}

TEST_F(RankOpTest, RenamedPlaceAndCountAreInPairExpressionsAndCandidateRows) {
  std::string body = Body("          emit: candidates\n          candidate_rank: pos\n          candidate_count: n\n");
  const std::string pair = R"(pair: {same_cat: "item_cat = category"})";
  body.replace(body.find(pair), pair.size(), R"(pair: {same_cat: "item_cat = category", weight: "n * 100 + pos"})");
  Make(body);
  AddItems(Items());
  AddVisits(
      {{1, 1, R"([{"value":3,"count":7},{"value":1,"count":2},{"value":3,"count":1}])", 1000}, {2, 1, "[4]", 1000}},
      950);
  ASSERT_EQ(rows_.size(), 3u) << ::testing::PrintToString(late_);
  EXPECT_NE(rows_[0].find(R"("candidate":3,"pos":1,"n":7,"item_cat":1,"item_cur_price":5.0,"same_cat":true,)"
                          R"("weight":701,"rec_scores":15.0})"),
            std::string::npos)
      << rows_[0];
  EXPECT_NE(rows_[1].find(R"("candidate":1,"pos":2,"n":2,)"), std::string::npos) << rows_[1];
  EXPECT_NE(rows_[1].find(R"("weight":202,)"), std::string::npos) << rows_[1];
  EXPECT_NE(rows_[2].find(R"("candidate":4,"pos":1,"n":null,)"), std::string::npos) << rows_[2];
  EXPECT_NE(rows_[2].find(R"("weight":null,)"), std::string::npos) << rows_[2];
}

TEST_F(RankOpTest, WithoutAServingVersionOutputsAreNullAndRowsCountedUnscored) {
  Make(Body());
  AddItems(Items());
  ASSERT_TRUE(repo_->Unload("ranker", 1).ok());
  AddVisits({{1, 1, "[1,2]", 1000}}, 950);
  ASSERT_EQ(rows_.size(), 1u);
  EXPECT_NE(rows_[0].find(R"("recs":null,"rec_scores":null)"), std::string::npos) << rows_[0];
  EXPECT_EQ(inst_->Stats()[0].second.unscored, 2u);
  EXPECT_EQ(inst_->Stats()[0].second.scored, 0u);
  // Served again: scored again.
  ASSERT_TRUE(repo_->Load("ranker", 1).ok());
  AddVisits({{2, 1, "[1,2]", 1001}}, 951);
  ASSERT_EQ(rows_.size(), 2u);
  EXPECT_NE(rows_[1].find(R"("recs":"[1,2]","rec_scores":"[15,7]")"), std::string::npos) << rows_[1];
}

TEST_F(RankOpTest, AModelInputNoFieldProvidesIsRefusedAtStart) {
  repo_dir_.Write("ranker/config.yaml",
                  "kind: linear\ninputs:\n  - {name: item_price}\n  - {name: same_cat}\n  - {name: one}\noutputs: "
                  "[score]\n");
  auto plan = CompileSpec(Spec(Body()), "t.yaml", nullptr);
  ASSERT_TRUE(plan.ok());
  auto repo = model::ModelRepository::Open(repo_dir_.dir());
  ASSERT_TRUE(repo.ok());
  const Status st = CheckRankStep(plan->pipelines[1].ops[1], repo->get());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("input 'item_price' reads field 'item_price', which is neither"), std::string::npos)
      << st.ToString();
}

// The one error compiling `spec` gives, at its line and column.
void ExpectOneErrorInSpec(const std::string& spec, int line, int col, const std::string& text) {
  std::vector<SpecError> errors;
  auto plan = CompileSpec(spec, "t.yaml", &errors);
  ASSERT_FALSE(plan.ok());
  ASSERT_EQ(errors.size(), 1u) << errors[0].ToString();
  EXPECT_EQ(errors[0].line, line) << errors[0].ToString();
  EXPECT_EQ(errors[0].column, col) << errors[0].ToString();
  EXPECT_NE(errors[0].message.find(text), std::string::npos) << errors[0].ToString();
}

void ExpectOneError(const std::string& body, int line, int col, const std::string& text) {
  ExpectOneErrorInSpec(Spec(body), line, col, text);
}

// Body() with `as_of: ...` replaced by `as_of_time: "expr"` (and, if given, as_of_lag_max).
std::string AsOfTimeBody(const std::string& expr, const std::string& lag_max = "", const std::string& extra = "") {
  std::string b = kBody;
  const std::string line = "          as_of: 100ms\n";
  std::string with = "          as_of_time: \"" + expr + "\"\n";
  if (!lag_max.empty()) with += "          as_of_lag_max: " + lag_max + "\n";
  b.replace(b.find(line), line.size(), with);
  return b + extra;
}

TEST_F(RankOpTest, AsOfTimeScoresTheCandidatesAsOfTheComputedTime) {
  // Items' versions at 100..130 and item 1's new price at 950; visits at 1000.
  Make(AsOfTimeBody("if(user = 1, ts - 900, if(user = 8, ts - 901, if(user = 9, ts + 1, ts - 10)))", "900ms"));
  AddItems(Items());
  AddVisits({{1, 1, "[1,2,3]", 1000}, {2, 1, "[1,2,3]", 1000}, {8, 1, "[1,2,3]", 1000}, {9, 1, "[1,2,3]", 1000}},
            /*watermark=*/995);
  // User 1 asks for 100 (as far back as as_of_lag_max allows): only item 1's first version
  // (5 + 10); 2 and 3 have none yet (null features: 0). User 2 asks for 990: item 1 at its new
  // price (100 + 10).
  ASSERT_EQ(rows_.size(), 2u) << ::testing::PrintToString(late_);
  EXPECT_NE(rows_[0].find(R"("user":1,)"), std::string::npos) << rows_[0];
  EXPECT_NE(rows_[0].find(R"("recs":"[1,2,3]","rec_scores":"[15,0,0]")"), std::string::npos) << rows_[0];
  EXPECT_NE(rows_[1].find(R"("recs":"[1,3,2]","rec_scores":"[110,15,7]")"), std::string::npos) << rows_[1];
  // User 8 asks for more than as_of_lag_max (900 ms) back, user 9 for after its event: one late
  // row each (the event, not its candidates), with the reason.
  ASSERT_EQ(late_.size(), 2u);
  EXPECT_NE(late_[0].find(R"("pipeline":"p","operator":"rank#2","reason":"as_of_too_old")"), std::string::npos)
      << late_[0];
  EXPECT_NE(late_[0].find(R"(\"user\":8)"), std::string::npos) << late_[0];
  EXPECT_NE(late_[1].find(R"("reason":"as_of_after_event")"), std::string::npos) << late_[1];
  EXPECT_EQ(inst_->Stats()[0].second.late_events, 2u);
}

TEST(RankSpec, ErrorsAtTheirLineAndColumn) {
  std::string b = Body();
  ExpectOneError(std::string(b).replace(b.find("cands"), 5, "cats"), 29, 23, "candidates of rank#2");
  ExpectOneError(std::string(b).replace(b.find("cands"), 5, "user"), 29, 23, "is int64, not a string");
  ExpectOneError(std::string(b).replace(b.find("k: 3"), 4, "k: 0"), 34, 14, "k of rank#2");
  ExpectOneError(Body("          emit: all\n"), 37, 17, "emit of rank#2");
  ExpectOneError(std::string(b).replace(b.find("item_cat = category"), 19, "item_cat = nope"), 33, 40,
                 "unknown field 'nope'");
  ExpectOneError(Body("          candidate: user\n"), 37, 22, "candidate field 'user' clashes");
  ExpectOneError(Body("          candidate_rank: user\n"), 37, 27, "candidate_rank field 'user' clashes");
  ExpectOneError(Body("          candidate_count: candidate\n"), 37, 28, "candidate_count field 'candidate' clashes");
  ExpectOneError(Body("          candidate_count: 1x\n"), 37, 28, "candidate_count of rank#2");
  ExpectOneError(std::string(b).replace(b.find("same_cat"), 8, "candidate_rank"), 33, 18,
                 "pair field 'candidate_rank'");
  ExpectOneError(std::string(b).replace(b.find("rec_scores"), 10, "user"), 36, 20, "clashes with a field");
  // as_of_time (line 31, where as_of was) is over the event's fields and a timestamp.
  ExpectOneError(AsOfTimeBody("cands"), 31, 24, "as_of_time is a timestamp, not string");
  ExpectOneError(AsOfTimeBody("date_trunc_day(item_cur_price)"), 31, 39, "unknown field 'item_cur_price'");
  ExpectOneError(Body("          as_of_time: ts\n"), 37, 23, "takes one of 'as_of' and 'as_of_time', not both");
  // One event's candidates must be able to wait together.
  ExpectOneError(Body("          rows_max: 3\n"), 37, 21, "is more than its rows_max 3");
}

void ExpectOneLookupError(const std::string& body, int line, int col, const std::string& text) {
  ExpectOneErrorInSpec(LookupSpec(body), line, col, text);
}

TEST(ListLookupSpec, ErrorsAtTheirLineAndColumn) {
  const std::string b = kListBody;
  ExpectOneLookupError(std::string(b).replace(b.find("cands"), 5, "cats"), 29, 17, "keys of lookup#2");
  ExpectOneLookupError(std::string(b).replace(b.find("cands"), 5, "user"), 29, 17, "is int64, not a string");
  ExpectOneLookupError(b + "          key: user\n", 33, 16, "takes one of 'key: field'");
  ExpectOneLookupError(b + "          broadcast: false\n", 33, 22, "cannot hold");
  ExpectOneLookupError(b + "          model: ranker\n", 33, 11, "unknown key 'model'");
  ExpectOneLookupError(b + "          key_field: user\n", 33, 22, "key_field field 'user' clashes");
  ExpectOneLookupError(std::string(b).replace(b.find("keys_max: 5"), 11, "keys_max: 0"), 32, 21,
                       "keys_max of lookup#2");
  ExpectOneLookupError(std::string(b).replace(b.find("keys_max: 5"), 11, "keys_max: 10001"), 32, 21,
                       "keys_max of lookup#2");
  {
    // The default keys_max (1000) above a lower rows_max says it is the default.
    std::string no_max = b;
    no_max.erase(no_max.find("          keys_max: 5\n"), 22);
    ExpectOneLookupError(no_max + "          rows_max: 500\n", 32, 21, "keys_max 1000 (the default) of lookup#2");
  }
  ExpectOneLookupError(b + "          rows_max: 3\n", 33, 21,
                       "keys_max 5 of lookup#2 of pipeline 'p' is more than its rows_max 3");
  // The boundaries are accepted: keys_max 10 000, keys_max equal to rows_max.
  std::vector<SpecError> errors;
  for (const char* ok : {"keys_max: 10000", "keys_max: 5\n          rows_max: 5"}) {
    errors.clear();
    EXPECT_TRUE(CompileSpec(LookupSpec(std::string(b).replace(b.find("keys_max: 5"), 11, ok)), "t.yaml", &errors).ok())
        << ok << ": " << (errors.empty() ? "" : errors[0].ToString());
  }
  // A lookup of one key per event is unchanged.
  errors.clear();
  EXPECT_TRUE(CompileSpec(LookupSpec("          key: category\n          view: item\n          as_of: -100\n"
                                     "          broadcast: true\n"),
                          "t.yaml", &errors)
                  .ok())
      << (errors.empty() ? "" : errors[0].ToString());
}

}  // namespace
}  // namespace impulse::plan
