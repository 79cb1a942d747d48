// The personalization example's ranking (examples/personalization/rank.yaml) backfilled on a small
// shop simulation with the committed ranker (examples/personalization/models), checked against
// an independent scoring:
//   a) rank.yaml's copy of features.yaml is exact (a spec is one file);
//   b) every view event has one recommendations row; its candidate list (views_with_candidates)
//      gives exactly its `emit: candidates` rows (ranking_candidates, backfilled from a copy of
//      rank.yaml without its training sample filter), one per distinct id; rank.yaml's own
//      ranking_candidates rows are exactly those of the sampled views (event_id % 20 = 0);
//   c) each candidate row's score is the model (loaded here, from the repository's config.yaml
//      input names) scored on that row's fields; the row's cand_ITEM_VIEWS_1D is the candidate's
//      item view as of the event, recomputed by brute force from the simulated events; its
//      cand_list_rank and cand_list_count are the candidate's place (1-based) and top_k count in
//      the event's list, read here from the list;
//   d) recs: at most 10 distinct ids of the event's list, scores non-increasing, and exactly the
//      10 best of the independently scored candidate rows (score descending, ties by id);
//   e) a live engine on 2 shards, fed the events in small requests, writes the backfill's recs
//      and scores for every view.
// Label "e2e".
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "datagen/shop/format.h"
#include "datagen/shop/simulator.h"
#include "features/backfill.h"
#include "impulse/engine.h"
#include "impulse/models.h"
#include "model/model_config.h"
#include "model/xgboost_model.h"
#include "tests/personalization_ranker.h"

namespace impulse::shop {
namespace {

namespace dom = simdjson::dom;

constexpr int64_t kDay = 86'400;
constexpr size_t kK = 10;
constexpr int kMismatchesShown = 10;
constexpr char kSampleFilter[] = "filter: \"event_id % 20 = 0\"";  // ranking_candidates' training sample
constexpr int64_t kSampleModulo = 20;

const std::string kDir = std::string(IMPULSE_SOURCE_DIR) + "/examples/personalization";

// About 120 users * 3.4 events a day * 3 days: most categories get hourly lists longer than 10
// items, and items idle for more than a day (null item features); small enough for ASan (each
// view has up to 100 candidate rows).
SimulatorOptions SimOptions() {
  SimulatorOptions o;
  o.users = 120;
  o.items = 400;
  o.new_items_per_day = 5;
  o.days = 3;
  o.seed = 17;
  return o;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The file's text from its first line starting with `streams:` (the spec without its comment).
std::string SpecBody(const std::string& text) {
  const size_t at = text.find("\nstreams:");
  return at == std::string::npos ? std::string() : text.substr(at + 1);
}

// A JSON value as a model input: numbers as float, true/false as 1/0, null (or absent) as NaN.
float InputValue(dom::object row, const std::string& field) {
  dom::element v;
  if (row[field].get(v) != simdjson::SUCCESS || v.is_null()) return std::nanf("");
  if (v.is_bool()) return v.get_bool().value() ? 1.0f : 0.0f;
  double d = 0;
  if (v.get_double().get(d) != simdjson::SUCCESS) {
    ADD_FAILURE() << field << " is not a number: " << simdjson::to_string(v);
    return std::nanf("");
  }
  return static_cast<float>(d);
}

int64_t IntField(dom::object row, const char* field) {
  int64_t v = 0;
  EXPECT_EQ(row[field].get_int64().get(v), simdjson::SUCCESS) << "no int64 " << field;
  return v;
}

// A string field holding a JSON list; false when the field is null.
bool ListField(dom::object row, const char* field, std::string* out) {
  dom::element v;
  if (row[field].get(v) != simdjson::SUCCESS || v.is_null()) return false;
  std::string_view s;
  EXPECT_EQ(v.get_string().get(s), simdjson::SUCCESS) << field << " is not a string";
  *out = std::string(s);
  return true;
}

// A candidate list's entries: top_k's {"value": id, "count": n}, in order (duplicates kept).
std::vector<std::pair<int64_t, int64_t>> ListEntries(const std::string& json) {
  dom::parser parser;
  dom::array array;
  std::vector<std::pair<int64_t, int64_t>> entries;
  if (parser.parse(json).get_array().get(array) != simdjson::SUCCESS) {
    ADD_FAILURE() << "not a JSON list: " << json;
    return entries;
  }
  for (dom::element e : array) {
    int64_t id = 0, count = 0;
    EXPECT_EQ(e["value"].get_int64().get(id), simdjson::SUCCESS) << json;
    EXPECT_EQ(e["count"].get_int64().get(count), simdjson::SUCCESS) << json;
    entries.push_back({id, count});
  }
  return entries;
}

// Ids of a candidate list: plain ids or top_k's {"value": id, ...}, in order (duplicates kept).
std::vector<int64_t> ListIds(const std::string& json) {
  dom::parser parser;
  dom::array array;
  std::vector<int64_t> ids;
  if (parser.parse(json).get_array().get(array) != simdjson::SUCCESS) {
    ADD_FAILURE() << "not a JSON list: " << json;
    return ids;
  }
  for (dom::element e : array) {
    dom::object o;
    int64_t id = 0;
    if (e.get_object().get(o) == simdjson::SUCCESS) {
      EXPECT_EQ(o["value"].get_int64().get(id), simdjson::SUCCESS) << json;
    } else {
      EXPECT_EQ(e.get_int64().get(id), simdjson::SUCCESS) << json;
    }
    ids.push_back(id);
  }
  return ids;
}

std::vector<double> ListScores(const std::string& json) {
  dom::parser parser;
  dom::array array;
  std::vector<double> scores;
  if (parser.parse(json).get_array().get(array) != simdjson::SUCCESS) {
    ADD_FAILURE() << "not a JSON list: " << json;
    return scores;
  }
  for (dom::element e : array) {
    double d = 0;
    scores.push_back(e.get_double().get(d) == simdjson::SUCCESS ? d : std::nan(""));
  }
  return scores;
}

struct Candidate {
  int64_t id = 0;
  float score = 0;
};

class PersonalizationRankTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sim = Simulator::Create(SimOptions());
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();
    std::vector<Event> day;
    while ((*sim)->NextDay(&day)) events_.insert(events_.end(), day.begin(), day.end());
    dir_ = std::filesystem::temp_directory_path() / ("impulse-personalization-rank-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::string text;
    AppendEventCsvHeader(&text);
    for (const Event& e : events_) AppendEvent(e, SimOptions().start_epoch_day, OutputFormat::kCsv, &text);
    input_ = (dir_ / "events.csv").string();
    std::ofstream(input_, std::ios::binary) << text;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The backfill of `stream` of `spec` (default rank.yaml) as NDJSON text.
  std::string Backfill(const std::string& stream, const std::string& spec = kDir + "/rank.yaml") const {
    features::BackfillOptions options;
    options.spec_path = spec;
    options.input_path = input_;
    options.models_dir = kDir + "/models";
    options.output_stream = stream;
    options.format = features::BackfillOptions::Format::kNdjson;
    options.out_path = (dir_ / (std::filesystem::path(spec).stem().string() + "-" + stream + ".ndjson")).string();
    auto stats = features::RunBackfill(options);
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    if (stats.ok()) {
      EXPECT_EQ(stats->late_events, 0u);
    }
    return ReadText(options.out_path);
  }

  // rank.yaml with ranking_candidates' training sample filter made true: every view's rows.
  std::string UnsampledSpec() const {
    std::string text = ReadText(kDir + "/rank.yaml");
    const size_t at = text.find(kSampleFilter);
    EXPECT_NE(at, std::string::npos) << "rank.yaml has no " << kSampleFilter;
    EXPECT_EQ(text.find(kSampleFilter, at + 1), std::string::npos) << "rank.yaml has " << kSampleFilter << " twice";
    if (at != std::string::npos) text.replace(at, std::string_view(kSampleFilter).size(), "filter: \"true\"");
    const std::string path = (dir_ / "rank_unsampled.yaml").string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  std::vector<Event> events_;
  std::filesystem::path dir_;
  std::string input_;
};

TEST(PersonalizationRankSpecTest, RankSpecHoldsFeaturesSpecVerbatim) {
  const std::string features = SpecBody(ReadText(kDir + "/features.yaml"));
  const std::string rank = SpecBody(ReadText(kDir + "/rank.yaml"));
  ASSERT_FALSE(features.empty());
  ASSERT_GT(rank.size(), features.size());
  // Streams and views verbatim, then only more views, then the pipelines verbatim, then more.
  const size_t f_pipelines = features.find("\npipelines:\n");
  const size_t r_pipelines = rank.find("\npipelines:\n");
  ASSERT_NE(f_pipelines, std::string::npos);
  ASSERT_NE(r_pipelines, std::string::npos);
  ASSERT_GE(r_pipelines, f_pipelines);
  EXPECT_EQ(rank.substr(0, f_pipelines), features.substr(0, f_pipelines))
      << "rank.yaml must start (after its comment) with features.yaml's streams and views";
  // Between them: more entries of feature_views only (indented lines; no other top-level key).
  std::istringstream added(rank.substr(f_pipelines, r_pipelines - f_pipelines));
  for (std::string line; std::getline(added, line);) {
    EXPECT_TRUE(line.empty() || line[0] == ' ') << "rank.yaml adds '" << line << "' before its pipelines";
  }
  const std::string f_rest = features.substr(f_pipelines);
  EXPECT_EQ(rank.substr(r_pipelines, f_rest.size()), f_rest)
      << "rank.yaml's pipelines must start with features.yaml's pipelines";
}

TEST_F(PersonalizationRankTest, RecsAreTheModelsTopTenOfTheEventsCandidates) {
  // The model, loaded independently of the engine, and its input names in feature order.
  auto config = model::ParseModelConfig(ReadText(kDir + "/models/ranker/config.yaml"), "ranker/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto ranker = model::LoadXgboostJson(ServedRankerFile(kDir + "/models"));
  ASSERT_TRUE(ranker.ok()) << ranker.status().ToString();
  ASSERT_EQ((*ranker)->num_features(), config->inputs.size());

  const std::string lists_text = Backfill("views_with_candidates");
  const std::string candidates_text = Backfill("ranking_candidates", UnsampledSpec());
  const std::string sampled_text = Backfill("ranking_candidates");
  const std::string recs_text = Backfill("recommendations");

  // Each item's events' times, for the brute-force item view.
  std::map<int64_t, std::vector<std::pair<int64_t, bool>>> item_events;  // item -> (time, is view)
  std::map<int64_t, int64_t> view_time;                                  // view event id -> time
  for (const Event& e : events_) {
    item_events[e.item_id].push_back({e.time_seconds, e.type == EventType::kView});
    if (e.type == EventType::kView) view_time[static_cast<int64_t>(e.event_id)] = e.time_seconds;
  }

  dom::parser parser;
  // b) Lists.
  std::map<int64_t, std::vector<int64_t>> list_of;  // view event id -> distinct ids (no entry: null list)
  std::map<int64_t, std::map<int64_t, std::pair<int64_t, int64_t>>> place_of;  // id -> candidate -> (place, count)
  std::set<int64_t> listed;
  {
    dom::document_stream rows;
    ASSERT_EQ(parser.parse_many(lists_text).get(rows), simdjson::SUCCESS);
    for (auto doc : rows) {
      dom::object row;
      ASSERT_EQ(doc.get_object().get(row), simdjson::SUCCESS);
      const int64_t id = IntField(row, "event_id");
      EXPECT_TRUE(listed.insert(id).second) << "event " << id << " twice in views_with_candidates";
      std::string list;
      if (!ListField(row, "list_CANDIDATES_1D", &list)) continue;
      std::vector<int64_t> distinct;
      for (const auto& [c, count] : ListEntries(list)) {
        if (std::find(distinct.begin(), distinct.end(), c) != distinct.end()) continue;
        distinct.push_back(c);
        place_of[id][c] = {static_cast<int64_t>(distinct.size()), count};
      }
      list_of[id] = std::move(distinct);
    }
  }
  EXPECT_EQ(listed.size(), view_time.size()) << "views_with_candidates holds every view once";
  ASSERT_GT(list_of.size(), view_time.size() / 2) << "most views find a candidate list";

  // c) Candidate rows, scored here.
  std::map<int64_t, std::vector<Candidate>> scored;  // view event id -> its candidates, scored here
  size_t candidate_rows = 0, views_1d_checked = 0, ranks_checked = 0;
  int score_mismatches = 0, feature_mismatches = 0;
  {
    dom::document_stream rows;
    ASSERT_EQ(parser.parse_many(candidates_text).get(rows), simdjson::SUCCESS);
    std::vector<float> matrix(config->inputs.size());
    for (auto doc : rows) {
      dom::object row;
      ASSERT_EQ(doc.get_object().get(row), simdjson::SUCCESS);
      ++candidate_rows;
      const int64_t id = IntField(row, "event_id");
      const int64_t cand = IntField(row, "candidate");
      for (size_t i = 0; i < config->inputs.size(); ++i) matrix[i] = InputValue(row, config->inputs[i].from);
      float expected = 0;
      (*ranker)->Predict(matrix.data(), 1, &expected);
      const float engine = InputValue(row, "score");
      if (!(engine == expected) && ++score_mismatches <= kMismatchesShown) {
        ADD_FAILURE() << "event " << id << " candidate " << cand << ": score " << engine << ", model " << expected;
      }
      scored[id].push_back({cand, expected});
      // The pair fields rank.yaml defines.
      EXPECT_EQ(InputValue(row, "cand_is_current"), cand == IntField(row, "item_id") ? 1.0f : 0.0f) << id;
      const auto place = place_of[id].find(cand);
      if (place != place_of[id].end()) {  // else: not in its list, reported below
        const auto [rank, count] = place->second;
        EXPECT_EQ(IntField(row, "candidate_rank"), rank) << "event " << id << " candidate " << cand;
        EXPECT_EQ(IntField(row, "candidate_count"), count) << "event " << id << " candidate " << cand;
        EXPECT_EQ(InputValue(row, "cand_list_rank"), static_cast<float>(rank)) << "event " << id << " " << cand;
        EXPECT_EQ(InputValue(row, "cand_list_count"), static_cast<float>(count)) << "event " << id << " " << cand;
        ranks_checked += rank > 1;
      }

      // The candidate's item view as of the view: its latest version at or before the view's
      // second (point in time: all events of a second count), i.e. views in the day ending
      // at the item's last event up to then; null without one (docs/FEATURES.md, lookups).
      const auto t_it = view_time.find(id);
      if (t_it == view_time.end()) {
        ADD_FAILURE() << "candidate row of event " << id << ", which is not a view";
        continue;
      }
      const int64_t t = t_it->second;
      int64_t last = INT64_MIN;
      for (const auto& [time, is_view] : item_events[cand]) {
        if (time <= t) last = std::max(last, time);
      }
      // Null too when that version is older than the item view's state ttl (its 1 d window).
      double expected_views = std::nan("");
      if (last != INT64_MIN && t - last <= kDay) {
        int64_t n = 0;
        for (const auto& [time, is_view] : item_events[cand]) n += is_view && time <= last && time > last - kDay;
        expected_views = static_cast<double>(n);
      }
      const float got = InputValue(row, "cand_ITEM_VIEWS_1D");
      const bool same = std::isnan(expected_views) ? std::isnan(got) : got == static_cast<float>(expected_views);
      if (!same && ++feature_mismatches <= kMismatchesShown) {
        ADD_FAILURE() << "event " << id << " (t " << t << ") candidate " << cand << ": cand_ITEM_VIEWS_1D " << got
                      << ", brute force " << expected_views << " (its last event at " << last << ")";
      }
      ++views_1d_checked;
    }
  }
  EXPECT_EQ(score_mismatches, 0);
  EXPECT_EQ(feature_mismatches, 0);
  ASSERT_GT(candidate_rows, 0u);
  for (const auto& [id, list] : list_of) {
    std::vector<int64_t> got;
    for (const Candidate& c : scored[id]) got.push_back(c.id);
    std::vector<int64_t> want = list;
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << "event " << id << ": its candidate rows are its list's distinct ids";
  }
  for (const auto& [id, cands] : scored) {
    EXPECT_TRUE(list_of.count(id)) << "candidate rows for event " << id << " without a list";
  }
  EXPECT_GT(ranks_checked, candidate_rows / 2) << "most candidates are past the first place of their list";
  // rank.yaml's own rows: the sampled views' rows, exactly.
  {
    std::multiset<std::string> want, got;
    std::istringstream all(candidates_text), sampled(sampled_text);
    for (std::string line; std::getline(all, line);) {
      dom::object row;
      ASSERT_EQ(parser.parse(line).get_object().get(row), simdjson::SUCCESS) << line;
      if (IntField(row, "event_id") % kSampleModulo == 0) want.insert(line);
    }
    for (std::string line; std::getline(sampled, line);) got.insert(line);
    EXPECT_GT(want.size(), 0u);
    EXPECT_LT(want.size(), candidate_rows / 5);
    EXPECT_TRUE(got == want) << got.size() << " sampled rows, " << want.size() << " rows of sampled views";
  }

  // d) Recommendations.
  size_t recs_rows = 0, full_lists = 0;
  int recs_mismatches = 0;
  std::set<int64_t> recommended;
  {
    dom::document_stream rows;
    ASSERT_EQ(parser.parse_many(recs_text).get(rows), simdjson::SUCCESS);
    for (auto doc : rows) {
      dom::object row;
      ASSERT_EQ(doc.get_object().get(row), simdjson::SUCCESS);
      ++recs_rows;
      const int64_t id = IntField(row, "event_id");
      EXPECT_TRUE(recommended.insert(id).second) << "event " << id << " twice in recommendations";
      std::string recs, scores;
      const bool has_recs = ListField(row, "recs", &recs);
      EXPECT_EQ(has_recs, ListField(row, "rec_scores", &scores)) << "event " << id;
      const auto list = list_of.find(id);
      if (list == list_of.end()) {
        EXPECT_FALSE(has_recs) << "event " << id << " has no candidate list but recs " << recs;
        continue;
      }
      ASSERT_TRUE(has_recs) << "event " << id << " has a candidate list but null recs";
      const std::vector<int64_t> ids = ListIds(recs);
      const std::vector<double> s = ListScores(scores);
      ASSERT_EQ(ids.size(), s.size()) << "event " << id;
      EXPECT_EQ(ids.size(), std::min(kK, list->second.size())) << "event " << id;
      full_lists += ids.size() == kK;
      EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), ids.size()) << "event " << id << ": " << recs;
      for (int64_t c : ids) {
        EXPECT_NE(std::find(list->second.begin(), list->second.end(), c), list->second.end())
            << "event " << id << ": " << c << " is not among its candidates";
      }
      for (size_t i = 1; i < s.size(); ++i) EXPECT_GE(s[i - 1], s[i]) << "event " << id << ": " << scores;

      // The best k of the independently scored rows (no NaN scores: the model always scores).
      std::vector<Candidate> want = scored[id];
      std::sort(want.begin(), want.end(), [](const Candidate& a, const Candidate& b) {
        return a.score != b.score ? a.score > b.score : a.id < b.id;
      });
      if (want.size() > kK) want.resize(kK);
      bool same = want.size() == ids.size();
      for (size_t i = 0; same && i < want.size(); ++i) {
        same = want[i].id == ids[i] && want[i].score == static_cast<float>(s[i]);
      }
      if (!same && ++recs_mismatches <= kMismatchesShown) {
        std::string w;
        for (const Candidate& c : want) w += std::to_string(c.id) + ":" + std::to_string(c.score) + " ";
        ADD_FAILURE() << "event " << id << ": recs " << recs << " " << scores << ", model's best " << w;
      }
    }
  }
  EXPECT_EQ(recs_mismatches, 0);
  EXPECT_EQ(recommended.size(), view_time.size()) << "recommendations hold every view once";
  EXPECT_GT(full_lists, recs_rows / 5) << "a good share of views get 10 recommendations";
  std::cout << view_time.size() << " views, " << list_of.size() << " with a list, " << candidate_rows
            << " candidate rows (" << views_1d_checked << " item views checked), " << full_lists << " with 10 recs\n";
}

void IngestSync(Engine& engine, const std::string& body) {
  for (int attempt = 0;; ++attempt) {
    std::promise<std::pair<Status, IngestResult>> done;
    auto fut = done.get_future();
    Status st = engine.Ingest("events", body, 0, [&](Status s, IngestResult r) { done.set_value({s, std::move(r)}); });
    if (st.code() == StatusCode::kUnavailable && attempt < 1000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    ASSERT_TRUE(st.ok()) << st.ToString();
    auto [status, result] = fut.get();
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_EQ(result.rejected, 0u) << (result.errors.empty() ? "" : result.errors[0].reason);
    return;
  }
}

// Every event of `stream` as NDJSON lines; reads continue after the last line's "_offset"
// (offsets of pipeline-written streams are not dense: watermark markers).
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
        if (at == std::string::npos) {
          ADD_FAILURE() << "no _offset in " << out.substr(last == std::string::npos ? 0 : last);
          break;
        }
        uint64_t offset = 0;
        std::from_chars(out.data() + at + 10, out.data() + out.size(), offset);
        from = offset + 1;
        *lines += static_cast<uint64_t>(std::count(out.begin(), out.end(), '\n'));
        all += out;
      }
    }
  }
  return all;
}

// event_id -> (recs, rec_scores) as printed ("null" for null) of NDJSON recommendations rows.
std::map<int64_t, std::pair<std::string, std::string>> RecsById(const std::string& ndjson) {
  std::map<int64_t, std::pair<std::string, std::string>> out;
  dom::parser parser;
  std::istringstream lines(ndjson);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    dom::object row;
    if (parser.parse(line).get_object().get(row) != simdjson::SUCCESS) {
      ADD_FAILURE() << "not a JSON object: " << line;
      continue;
    }
    std::string recs = "null", scores = "null";
    ListField(row, "recs", &recs);
    ListField(row, "rec_scores", &scores);
    EXPECT_TRUE(out.emplace(IntField(row, "event_id"), std::pair{recs, scores}).second) << "twice: " << line;
  }
  return out;
}

TEST_F(PersonalizationRankTest, LiveEngineOnTwoShardsWritesTheBackfillsRecs) {
  const auto offline = RecsById(Backfill("recommendations"));
  size_t views = 0;
  for (const Event& e : events_) views += e.type == EventType::kView;
  ASSERT_EQ(offline.size(), views);

  EngineOptions options;
  options.data_dir = (dir_ / "data").string();
  options.shards = 2;
  options.max_producers = 1;
  options.durability = Durability::kNone;
  options.checkpoint_interval_ms = 1'000;
  auto models = ModelRepository::Open(kDir + "/models");
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  options.models = std::move(*models);
  auto engine = Engine::Open(kDir + "/rank.yaml", options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  std::string body;
  size_t lines = 0;
  for (const Event& e : events_) {
    AppendEvent(e, SimOptions().start_epoch_day, OutputFormat::kNdjson, &body);
    if (++lines == 50) {  // live clients send small batches
      ASSERT_NO_FATAL_FAILURE(IngestSync(**engine, body));
      body.clear();
      lines = 0;
    }
  }
  if (!body.empty()) {
    ASSERT_NO_FATAL_FAILURE(IngestSync(**engine, body));
  }
  ASSERT_TRUE((*engine)->EndOfInput("events").ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  uint64_t written = 0;
  std::string ndjson;
  while (true) {
    (void)(*engine)->WaitForPipelines(1'000);
    ndjson = ReadAll(**engine, "recommendations", &written);
    if (written >= views || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE((*engine)->WaitForPipelines(10'000).ok());
  ndjson = ReadAll(**engine, "recommendations", &written);
  uint64_t late = 0;
  const std::string late_events = ReadAll(**engine, "_late_events", &late);
  EXPECT_EQ(late, 0u) << late_events.substr(0, 2000);
  const auto online = RecsById(ndjson);

  // Per user, the online features API serves the list of the user's latest view (the latest
  // event time; among views of that time, any: the later arrival wins).
  std::map<int64_t, std::pair<int64_t, std::set<int64_t>>> latest;  // user -> (time, its views)
  std::set<int64_t> users;
  for (const Event& e : events_) {
    users.insert(e.user_id);
    if (e.type != EventType::kView) continue;
    auto [it, added] = latest.try_emplace(e.user_id, e.time_seconds, std::set<int64_t>{});
    if (e.time_seconds > it->second.first) it->second = {e.time_seconds, {}};
    if (e.time_seconds == it->second.first) it->second.second.insert(static_cast<int64_t>(e.event_id));
  }
  std::vector<std::string> keys;
  for (int64_t u : users) keys.push_back(std::to_string(u));
  size_t served = 0;
  dom::parser parser;
  for (size_t begin = 0; begin < keys.size(); begin += Engine::kFeatureLookupBatchMax) {
    const std::vector<std::string_view> batch(
        keys.begin() + static_cast<std::ptrdiff_t>(begin),
        keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), begin + Engine::kFeatureLookupBatchMax)));
    std::string json = "[";
    ASSERT_TRUE((*engine)->LookupFeatures("user_recommendations", batch, &json, nullptr).ok());
    json += "]";
    dom::array entities;
    ASSERT_EQ(parser.parse(json).get_array().get(entities), simdjson::SUCCESS) << json.substr(0, 500);
    for (dom::element entity : entities) {
      const int64_t user = std::stoll(std::string(entity["entity"].get_string().value()));
      const auto want = latest.find(user);
      dom::object features;
      if (entity["features"].get_object().get(features) != simdjson::SUCCESS) {
        EXPECT_EQ(want, latest.end()) << "user " << user
                                      << " viewed, but has no recommendations: " << simdjson::to_string(entity);
        continue;
      }
      ASSERT_NE(want, latest.end()) << "user " << user << " has recommendations without a view";
      const int64_t id = features["RECS_EVENT_ID"].get_int64().value();
      EXPECT_EQ(want->second.second.count(id), 1u) << "user " << user << ": list of view " << id;
      const auto recs = online.find(id);
      ASSERT_NE(recs, online.end()) << id;
      dom::element list = features["RECS"];
      EXPECT_EQ(list.is_null() ? std::string("null") : std::string(list.get_string().value()), recs->second.first)
          << "user " << user;
      ++served;
    }
  }
  EXPECT_EQ(served, latest.size());
  ASSERT_TRUE((*engine)->Stop().ok());

  ASSERT_EQ(online.size(), offline.size());
  int mismatches = 0;
  for (const auto& [id, recs] : online) {
    const auto off = offline.find(id);
    ASSERT_NE(off, offline.end()) << "event " << id << " only online";
    if (recs != off->second && ++mismatches <= kMismatchesShown) {
      ADD_FAILURE() << "event " << id << ": online " << recs.first << " " << recs.second << ", backfill "
                    << off->second.first << " " << off->second.second;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace impulse::shop
