// The nightly variant of the personalization example's ranking (examples/personalization/rank.yaml,
// the pipelines after ranking_candidates; README.md, evaluation (b)): the same model fed with the
// user's, the user-category's and the candidates' item features as of the previous midnight,
// backfilled on a small shop simulation and checked against an independent recomputation:
//   a) views_nightly: every view once, its user and user-category features those of the
//      entity's latest event at or before the view's midnight (brute force over the simulated
//      events), null without one or when it is older than the view's state ttl;
//   b) candidate rows of the same rank step with `emit: candidates` (a pipeline this test
//      appends to rank.yaml, reusing its pair fields): exactly the list's distinct ids, each
//      candidate's item features as of the midnight (brute force), its score the model's
//      (loaded here) on the row's inputs;
//   c) recommendations_nightly: every view once, recommendations' fields plus features_as_of
//      (the midnight), recs the 10 best of those independently scored candidates;
//   d) a live engine on 2 shards writes the backfill's recommendations_nightly rows.
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
#include <functional>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "datagen/shop/format.h"
#include "datagen/shop/simulator.h"
#include "event/timestamp.h"
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
constexpr int64_t kHour = 3'600;
constexpr size_t kK = 10;
constexpr int kMismatchesShown = 10;

const std::string kDir = std::string(IMPULSE_SOURCE_DIR) + "/examples/personalization";

// rank.yaml's nightly rank step with emit: candidates (every model input per candidate), on the
// same input and with the same pair fields (the YAML anchor rank.yaml defines them with).
constexpr char kCandidatesPipeline[] = R"yaml(
  - name: ranking_candidates_nightly
    from: views_nightly
    steps:
      - rank:
          candidates: list_CANDIDATES_1D
          view: item
          as_of_time: "date_trunc_day(event_datetime)"
          as_of_lag_max: 1d
          prefix: cand_
          model: ranker
          pair: *ranker_pair
          candidates_max: 100
          outputs: {items: recs, scores: score}
          emit: candidates
    sink: {stream: ranking_candidates_nightly}
)yaml";

// As personalization_rank_test: about 1 200 events over 3 days, so views on days 2 and 3 read
// the versions of the day before, and some entities have none (nulls).
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

// A string field; false when it is null or absent.
bool StringField(dom::object row, const char* field, std::string* out) {
  dom::element v;
  if (row[field].get(v) != simdjson::SUCCESS || v.is_null()) return false;
  std::string_view s;
  EXPECT_EQ(v.get_string().get(s), simdjson::SUCCESS) << field << " is not a string";
  *out = std::string(s);
  return true;
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

// Calls fn on each object of an NDJSON text.
void ForEachRow(const std::string& ndjson, const std::function<void(dom::object)>& fn) {
  dom::parser parser;
  dom::document_stream rows;
  ASSERT_EQ(parser.parse_many(ndjson).get(rows), simdjson::SUCCESS);
  for (auto doc : rows) {
    dom::object row;
    ASSERT_EQ(doc.get_object().get(row), simdjson::SUCCESS);
    fn(row);
  }
}

// The brute-force versions of one entity of a view: its events (time, event), in time order.
// A view's version at its event time t counts the entity's events in (t - window, t]; the
// version a read as of T gets is that of the entity's latest event at or before T (all events
// of that second counted), none when it has none or when T is more than `ttl` after it.
class Entity {
 public:
  void Add(const Event& e) { events_.push_back(&e); }

  // The time of the version read as of `as_of`, or INT64_MIN for none.
  int64_t VersionAt(int64_t as_of, int64_t ttl) const {
    int64_t last = INT64_MIN;
    for (const Event* e : events_) {
      if (e->time_seconds <= as_of) last = std::max(last, e->time_seconds);
    }
    return last != INT64_MIN && as_of - last <= ttl ? last : INT64_MIN;
  }

  // Events in (version - window, version] passing `keep`; NaN without a version.
  double Count(int64_t version, int64_t window, const std::function<bool(const Event&)>& keep) const {
    if (version == INT64_MIN) return std::nan("");
    int64_t n = 0;
    for (const Event* e : events_) n += e->time_seconds <= version && e->time_seconds > version - window && keep(*e);
    return static_cast<double>(n);
  }
  double DistinctSessions(int64_t version, int64_t window) const {
    if (version == INT64_MIN) return std::nan("");
    std::set<uint64_t> sessions;
    for (const Event* e : events_) {
      if (e->time_seconds <= version && e->time_seconds > version - window) sessions.insert(e->session_id);
    }
    return static_cast<double>(sessions.size());
  }

 private:
  std::vector<const Event*> events_;
};

bool Any(const Event&) { return true; }
bool IsView(const Event& e) { return e.type == EventType::kView; }
bool IsCart(const Event& e) { return e.type == EventType::kCart; }
bool IsPurchase(const Event& e) { return e.type == EventType::kPurchase; }

// Compares a feature value (NaN: null) with its brute force; counts and reports mismatches.
void ExpectFeature(dom::object row, const std::string& field, double want, const std::string& what, int* mismatches) {
  const float got = InputValue(row, field);
  const bool same = std::isnan(want) ? std::isnan(got) : got == static_cast<float>(want);
  if (!same && ++*mismatches <= kMismatchesShown) {
    ADD_FAILURE() << what << ": " << field << " " << got << ", brute force " << want;
  }
}

struct Candidate {
  int64_t id = 0;
  float score = 0;
};

class PersonalizationNightlyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sim = Simulator::Create(SimOptions());
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();
    std::vector<Event> day;
    while ((*sim)->NextDay(&day)) events_.insert(events_.end(), day.begin(), day.end());
    dir_ = std::filesystem::temp_directory_path() / ("impulse-personalization-nightly-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::string text;
    AppendEventCsvHeader(&text);
    for (const Event& e : events_) AppendEvent(e, SimOptions().start_epoch_day, OutputFormat::kCsv, &text);
    input_ = (dir_ / "events.csv").string();
    std::ofstream(input_, std::ios::binary) << text;
    // rank.yaml with the candidate rows of its nightly rank step (a spec is one file).
    spec_ = (dir_ / "rank_nightly_candidates.yaml").string();
    std::ofstream(spec_, std::ios::binary) << ReadText(kDir + "/rank.yaml") << kCandidatesPipeline;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The backfill of `stream` (of `spec`) as NDJSON text; nothing in _late_events.
  std::string Backfill(const std::string& spec, const std::string& stream) const {
    features::BackfillOptions options;
    options.spec_path = spec;
    options.input_path = input_;
    options.models_dir = kDir + "/models";
    options.output_stream = stream;
    options.format = features::BackfillOptions::Format::kNdjson;
    options.out_path = (dir_ / (stream + ".ndjson")).string();
    auto stats = features::RunBackfill(options);
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    if (stats.ok()) {
      EXPECT_EQ(stats->late_events, 0u);
    }
    return ReadText(options.out_path);
  }

  // The ISO text of a simulated time's previous midnight (the expected features_as_of).
  static std::string MidnightIso(int64_t time_seconds) {
    std::string s;
    AppendTimestampIso((SimOptions().start_epoch_day * kDay + time_seconds / kDay * kDay) * 1000, &s);
    return s;
  }

  std::vector<Event> events_;
  std::filesystem::path dir_;
  std::string input_, spec_;
};

TEST_F(PersonalizationNightlyTest, InputsAreTheViewsAsOfMidnightAndRecsTheModelsTopTen) {
  auto config = model::ParseModelConfig(ReadText(kDir + "/models/ranker/config.yaml"), "ranker/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto ranker = model::LoadXgboostJson(ServedRankerFile(kDir + "/models"));
  ASSERT_TRUE(ranker.ok()) << ranker.status().ToString();
  ASSERT_EQ((*ranker)->num_features(), config->inputs.size());

  // The entities of the three views, and each view event by id.
  std::map<int64_t, Entity> users, user_categories, items;
  std::map<int64_t, const Event*> views;
  for (const Event& e : events_) {
    users[e.user_id].Add(e);
    user_categories[int64_t{e.user_id} * 1000 + e.category].Add(e);
    items[e.item_id].Add(e);
    if (e.type == EventType::kView) views[static_cast<int64_t>(e.event_id)] = &e;
  }
  // The views' state ttls (features.yaml: their longest window).
  constexpr int64_t kUserTtl = 7 * kDay, kUserCategoryTtl = 7 * kDay, kItemTtl = kDay;

  // a) views_nightly: user and user-category features as of the view's midnight.
  std::map<int64_t, std::vector<int64_t>> list_of;  // view id -> its list's distinct ids (none: null list)
  std::set<int64_t> seen;
  int mismatches = 0;
  size_t user_nulls = 0, read_before_today = 0;
  ForEachRow(Backfill(spec_, "views_nightly"), [&](dom::object row) {
    const int64_t id = IntField(row, "event_id");
    EXPECT_TRUE(seen.insert(id).second) << "event " << id << " twice in views_nightly";
    const auto v = views.find(id);
    if (v == views.end()) {
      ADD_FAILURE() << "views_nightly row of event " << id << ", which is not a view";
      return;
    }
    const Event& e = *v->second;
    const int64_t midnight = e.time_seconds / kDay * kDay;
    const std::string what = "event " + std::to_string(id) + " (t " + std::to_string(e.time_seconds) + ")";
    const Entity& user = users[e.user_id];
    const int64_t uv = user.VersionAt(midnight, kUserTtl);
    user_nulls += uv == INT64_MIN;
    read_before_today += uv != INT64_MIN && uv < midnight;
    ExpectFeature(row, "USER_EVENTS_1H", user.Count(uv, kHour, Any), what, &mismatches);
    ExpectFeature(row, "USER_VIEWS_1D", user.Count(uv, kDay, IsView), what, &mismatches);
    ExpectFeature(row, "USER_VIEWS_7D", user.Count(uv, 7 * kDay, IsView), what, &mismatches);
    ExpectFeature(row, "USER_PURCHASES_7D", user.Count(uv, 7 * kDay, IsPurchase), what, &mismatches);
    ExpectFeature(row, "USER_SESSIONS_7D", user.DistinctSessions(uv, 7 * kDay), what, &mismatches);
    const Entity& uc = user_categories[int64_t{e.user_id} * 1000 + e.category];
    const int64_t ucv = uc.VersionAt(midnight, kUserCategoryTtl);
    ExpectFeature(row, "UC_EVENTS_1H", uc.Count(ucv, kHour, Any), what, &mismatches);
    ExpectFeature(row, "UC_EVENTS_1D", uc.Count(ucv, kDay, Any), what, &mismatches);
    ExpectFeature(row, "UC_EVENTS_7D", uc.Count(ucv, 7 * kDay, Any), what, &mismatches);
    ExpectFeature(row, "UC_CARTS_7D", uc.Count(ucv, 7 * kDay, IsCart), what, &mismatches);
    std::string list;
    if (StringField(row, "list_CANDIDATES_1D", &list)) {
      std::vector<int64_t> distinct;
      for (int64_t c : ListIds(list)) {
        if (std::find(distinct.begin(), distinct.end(), c) == distinct.end()) distinct.push_back(c);
      }
      list_of[id] = std::move(distinct);
    }
  });
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(seen.size(), views.size()) << "views_nightly holds every view once";
  // Both cases occur: users without a version before their view's midnight (the first day),
  // and users read from an earlier day's version.
  EXPECT_GT(user_nulls, 0u);
  EXPECT_GT(read_before_today, views.size() / 4);
  ASSERT_GT(list_of.size(), views.size() / 2);

  // b) Candidate rows: item features as of midnight, scores the model's.
  std::map<int64_t, std::vector<Candidate>> scored;
  size_t candidate_rows = 0, item_nulls = 0;
  int score_mismatches = 0, feature_mismatches = 0;
  std::vector<float> matrix(config->inputs.size());
  ForEachRow(Backfill(spec_, "ranking_candidates_nightly"), [&](dom::object row) {
    ++candidate_rows;
    const int64_t id = IntField(row, "event_id");
    const int64_t cand = IntField(row, "candidate");
    const auto v = views.find(id);
    if (v == views.end()) {
      ADD_FAILURE() << "candidate row of event " << id << ", which is not a view";
      return;
    }
    for (size_t i = 0; i < config->inputs.size(); ++i) matrix[i] = InputValue(row, config->inputs[i].from);
    float expected = 0;
    (*ranker)->Predict(matrix.data(), 1, &expected);
    const float engine = InputValue(row, "score");
    if (!(engine == expected) && ++score_mismatches <= kMismatchesShown) {
      ADD_FAILURE() << "event " << id << " candidate " << cand << ": score " << engine << ", model " << expected;
    }
    scored[id].push_back({cand, expected});
    const int64_t midnight = v->second->time_seconds / kDay * kDay;
    const Entity& item = items[cand];
    const int64_t iv = item.VersionAt(midnight, kItemTtl);
    item_nulls += iv == INT64_MIN;
    const std::string what = "event " + std::to_string(id) + " candidate " + std::to_string(cand);
    ExpectFeature(row, "cand_ITEM_VIEWS_1H", item.Count(iv, kHour, IsView), what, &feature_mismatches);
    ExpectFeature(row, "cand_ITEM_VIEWS_1D", item.Count(iv, kDay, IsView), what, &feature_mismatches);
    ExpectFeature(row, "cand_ITEM_CARTS_1D", item.Count(iv, kDay, IsCart), what, &feature_mismatches);
    ExpectFeature(row, "cand_ITEM_PURCHASES_1D", item.Count(iv, kDay, IsPurchase), what, &feature_mismatches);
  });
  EXPECT_EQ(score_mismatches, 0);
  EXPECT_EQ(feature_mismatches, 0);
  ASSERT_GT(candidate_rows, 0u);
  EXPECT_GT(item_nulls, 0u);  // candidates without a version at midnight occur
  for (const auto& [id, list] : list_of) {
    std::vector<int64_t> got;
    for (const Candidate& c : scored[id]) got.push_back(c.id);
    std::vector<int64_t> want = list;
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << "event " << id << ": its candidate rows are its list's distinct ids";
  }

  // c) recommendations_nightly.
  std::set<int64_t> recommended;
  size_t full_lists = 0;
  int recs_mismatches = 0;
  const std::set<std::string> fields = {"event_id", "event_datetime", "user_id",    "session_id",    "item_id",
                                        "category", "recs",           "rec_scores", "features_as_of"};
  ForEachRow(Backfill(spec_, "recommendations_nightly"), [&](dom::object row) {
    const int64_t id = IntField(row, "event_id");
    EXPECT_TRUE(recommended.insert(id).second) << "event " << id << " twice in recommendations_nightly";
    std::set<std::string> got_fields;
    for (auto field : row) {
      if (!field.key.starts_with("_")) got_fields.insert(std::string(field.key));  // not _offset and the like
    }
    EXPECT_EQ(got_fields, fields) << "event " << id;
    const auto v = views.find(id);
    if (v == views.end()) {
      ADD_FAILURE() << "recommendations_nightly row of event " << id << ", which is not a view";
      return;
    }
    std::string as_of;
    EXPECT_TRUE(StringField(row, "features_as_of", &as_of)) << id;
    EXPECT_EQ(as_of, MidnightIso(v->second->time_seconds)) << "event " << id;
    std::string recs, scores;
    const bool has_recs = StringField(row, "recs", &recs);
    EXPECT_EQ(has_recs, StringField(row, "rec_scores", &scores)) << "event " << id;
    const auto list = list_of.find(id);
    if (list == list_of.end()) {
      EXPECT_FALSE(has_recs) << "event " << id << " has no candidate list but recs " << recs;
      return;
    }
    ASSERT_TRUE(has_recs) << "event " << id << " has a candidate list but null recs";
    const std::vector<int64_t> ids = ListIds(recs);
    const std::vector<double> s = ListScores(scores);
    std::vector<Candidate> want = scored[id];
    std::sort(want.begin(), want.end(), [](const Candidate& a, const Candidate& b) {
      return a.score != b.score ? a.score > b.score : a.id < b.id;
    });
    if (want.size() > kK) want.resize(kK);
    bool same = want.size() == ids.size() && ids.size() == s.size();
    for (size_t i = 0; same && i < want.size(); ++i) {
      same = want[i].id == ids[i] && want[i].score == static_cast<float>(s[i]);
    }
    full_lists += ids.size() == kK;
    if (!same && ++recs_mismatches <= kMismatchesShown) {
      std::string w;
      for (const Candidate& c : want) w += std::to_string(c.id) + ":" + std::to_string(c.score) + " ";
      ADD_FAILURE() << "event " << id << ": recs " << recs << " " << scores << ", model's best " << w;
    }
  });
  EXPECT_EQ(recs_mismatches, 0);
  EXPECT_EQ(recommended.size(), views.size()) << "recommendations_nightly holds every view once";
  EXPECT_GT(full_lists, views.size() / 5);
  std::cout << views.size() << " views, " << list_of.size() << " with a list, " << candidate_rows
            << " nightly candidate rows (" << item_nulls << " without an item version at midnight), " << user_nulls
            << " views without a user version at midnight, " << full_lists << " with 10 recs\n";
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

// event_id -> "recs rec_scores features_as_of" as printed ("null" for null).
std::map<int64_t, std::string> NightlyById(const std::string& ndjson) {
  std::map<int64_t, std::string> out;
  dom::parser parser;
  std::istringstream lines(ndjson);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    dom::object row;
    if (parser.parse(line).get_object().get(row) != simdjson::SUCCESS) {
      ADD_FAILURE() << "not a JSON object: " << line;
      continue;
    }
    std::string recs = "null", scores = "null", as_of = "null";
    StringField(row, "recs", &recs);
    StringField(row, "rec_scores", &scores);
    StringField(row, "features_as_of", &as_of);
    EXPECT_TRUE(out.emplace(IntField(row, "event_id"), recs + " " + scores + " " + as_of).second) << "twice: " << line;
  }
  return out;
}

TEST_F(PersonalizationNightlyTest, LiveEngineOnTwoShardsWritesTheBackfillsNightlyRecs) {
  const auto offline = NightlyById(Backfill(kDir + "/rank.yaml", "recommendations_nightly"));
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
    ndjson = ReadAll(**engine, "recommendations_nightly", &written);
    if (written >= views || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE((*engine)->WaitForPipelines(10'000).ok());
  ndjson = ReadAll(**engine, "recommendations_nightly", &written);
  uint64_t late = 0;
  const std::string late_events = ReadAll(**engine, "_late_events", &late);
  EXPECT_EQ(late, 0u) << late_events.substr(0, 2000);
  ASSERT_TRUE((*engine)->Stop().ok());

  const auto online = NightlyById(ndjson);
  ASSERT_EQ(online.size(), offline.size());
  int mismatches = 0;
  for (const auto& [id, row] : online) {
    const auto off = offline.find(id);
    ASSERT_NE(off, offline.end()) << "event " << id << " only online";
    if (row != off->second && ++mismatches <= kMismatchesShown) {
      ADD_FAILURE() << "event " << id << ": online " << row << ", backfill " << off->second;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace impulse::shop
