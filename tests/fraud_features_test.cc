// The fraud example (examples/fraud/features.yaml) end to end, against the brute-force
// recomputation of src/datagen/fraud/features_reference.h on a small simulation:
//   a) the backfill of the transactions in time order equals the reference for every
//      transaction (counts exactly, averages and ratios within 1e-9 relative), each once;
//   b) the same with the rows shuffled in arrival order, each displaced by less than 50 minutes
//      of event time (the spec allows 1 h of out-of-orderness);
//      (the views in point-in-time mode: the spec computes on arrival, which for shuffled input
//      gives each transaction the values of what arrived before it, not the reference's);
//   c) online == offline: a live engine fed the same transactions as small NDJSON requests
//      (in time order, and in the shuffled order of b, on arrival and point in time) writes to
//      tx_features exactly the printed values of the backfill's rows for the same arrival
//      order, and its online lookups serve each entity's values as of its last transaction;
//   d) the same for the scores: examples/fraud/score.yaml (features on arrival, both committed
//      models) live and backfilled in the shuffled order: every score equal, bit for bit.
// Label "e2e".
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "datagen/fraud/features_reference.h"
#include "datagen/fraud/format.h"
#include "features/backfill.h"
#include "fraud_features_tables.h"
#include "impulse/engine.h"
#include "impulse/models.h"

namespace impulse::fraud {
namespace {

// About 200 customers * 2 transactions a day * 60 days = 24 K transactions: enough for every
// window length (30 days) and the 7-day label delay to matter, small enough for ASan.
SimulatorOptions SimOptions() {
  SimulatorOptions o;
  o.customers = 200;
  o.terminals = 400;
  o.days = 60;
  o.seed = 4;
  return o;
}

constexpr uint64_t kShuffleSeed = 20'180'401;
constexpr int64_t kShuffleDisplacementMs = 50 * 60 * 1000;  // < the spec's 1 h out-of-orderness
constexpr size_t kLinesPerRequest = 50;                     // live clients send small batches
constexpr int64_t kOutputTimeoutMs = 120'000;
constexpr double kRelativeTolerance = 1e-9;
constexpr int kMismatchesShown = 10;

const std::vector<Transaction>& Transactions() {
  static const std::vector<Transaction>* all = [] {
    auto r = SimulateAll(SimOptions());
    IMPULSE_CHECK(r.ok());
    return new std::vector<Transaction>(std::move(r).value());
  }();
  return *all;
}

// The reference in point-in-time mode (kAll) or on arrival in time order (kArrived: among
// transactions at the same time, a customer's window holds those before it in the input).
const std::map<uint64_t, ReferenceFeatures>& Reference(Ties ties = Ties::kAll) {
  static const std::map<uint64_t, ReferenceFeatures>* refs[2] = {nullptr, nullptr};
  const size_t k = ties == Ties::kAll ? 0 : 1;
  static std::once_flag once[2];
  std::call_once(once[k], [&] {
    auto r = ComputeReferenceFeatures(Transactions(), SimOptions().start_epoch_day, ties);
    IMPULSE_CHECK(r.ok());
    auto* m = new std::map<uint64_t, ReferenceFeatures>;
    for (const ReferenceFeatures& f : *r) m->emplace(f.transaction_id, f);
    refs[k] = m;
  });
  return *refs[k];
}

// The transactions in a seeded arrival order: sorted by event time plus a uniform delay in
// [0, kShuffleDisplacementMs), so a row never arrives after one more than that much younger.
std::vector<Transaction> Shuffled(uint64_t seed) {
  std::vector<std::pair<int64_t, Transaction>> keyed;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> delay(0, kShuffleDisplacementMs - 1);
  for (const Transaction& tx : Transactions()) {
    keyed.emplace_back(TransactionTimeMs(tx, SimOptions().start_epoch_day) + delay(rng), tx);
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Transaction> out;
  for (auto& [key, tx] : keyed) out.push_back(tx);
  return out;
}

using tables::ParseCsv;
using tables::ParseNdjson;
using tables::Row;
using tables::Table;

// The 14 feature columns of the example, named as the handbook names them.
std::vector<std::string> FeatureColumns() {
  std::vector<std::string> names = {"TX_DURING_WEEKEND", "TX_DURING_NIGHT"};
  for (const char* prefix :
       {"CUSTOMER_ID_NB_TX_", "CUSTOMER_ID_AVG_AMOUNT_", "TERMINAL_ID_NB_TX_", "TERMINAL_ID_RISK_"}) {
    for (int64_t w : kFeatureWindowDays) names.push_back(prefix + std::to_string(w) + "DAY_WINDOW");
  }
  return names;
}

// Expected values of one reference row by column: integers for counts and flags, doubles for
// the averages and ratios.
struct Expected {
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> doubles;
};
Expected ExpectedOf(const ReferenceFeatures& f) {
  Expected e;
  e.ints["TX_DURING_WEEKEND"] = f.tx_during_weekend;
  e.ints["TX_DURING_NIGHT"] = f.tx_during_night;
  for (size_t i = 0; i < kFeatureWindowDays.size(); ++i) {
    const std::string w = std::to_string(kFeatureWindowDays[i]) + "DAY_WINDOW";
    e.ints["CUSTOMER_ID_NB_TX_" + w] = f.customer_nb_tx[i];
    e.doubles["CUSTOMER_ID_AVG_AMOUNT_" + w] = f.customer_avg_amount[i];
    e.ints["TERMINAL_ID_NB_TX_" + w] = f.terminal_nb_tx[i];
    e.doubles["TERMINAL_ID_RISK_" + w] = f.terminal_risk[i];
  }
  return e;
}

// Compares every transaction's row of `table` with the reference; `context` names the run
// (and its seed) in the failure message.
void ExpectMatchesReference(const Table& table, const std::string& context, Ties ties = Ties::kAll) {
  ASSERT_TRUE(table.errors.empty()) << context << ": " << table.errors.size()
                                    << " bad lines, the first: " << table.errors.front();
  EXPECT_TRUE(table.duplicates.empty()) << context << ": " << table.duplicates.size()
                                        << " transactions written more than once, the first: "
                                        << table.duplicates.front();
  int mismatches = 0;
  auto report = [&](uint64_t id, const std::string& column, const std::string& got, const std::string& want) {
    if (++mismatches <= kMismatchesShown) {
      ADD_FAILURE() << context << ": transaction " << id << " " << column << " = " << got << ", expected " << want;
    }
  };
  uint64_t missing = 0;
  for (const auto& [id, ref] : Reference(ties)) {
    auto it = table.rows.find(id);
    if (it == table.rows.end()) {
      ++missing;
      continue;
    }
    const Row& row = it->second;
    const Expected e = ExpectedOf(ref);
    for (const auto& [column, want] : e.ints) {
      auto c = row.find(column);
      int64_t got = 0;
      if (c == row.end() ||
          std::from_chars(c->second.data(), c->second.data() + c->second.size(), got).ec != std::errc() ||
          got != want) {
        report(id, column, c == row.end() ? "<missing>" : c->second, std::to_string(want));
      }
    }
    for (const auto& [column, want] : e.doubles) {
      auto c = row.find(column);
      char* end = nullptr;
      const double got = c == row.end() ? NAN : std::strtod(c->second.c_str(), &end);
      if (c == row.end() || end == c->second.c_str() ||
          !(std::abs(got - want) <= kRelativeTolerance * std::abs(want))) {
        std::ostringstream w;
        w.precision(17);
        w << want;
        report(id, column, c == row.end() ? "<missing>" : c->second, w.str());
      }
    }
  }
  EXPECT_EQ(missing, 0u) << context << ": transactions without a row";
  uint64_t unknown = 0;
  for (const auto& [id, row] : table.rows) unknown += Reference().count(id) == 0 ? 1 : 0;
  EXPECT_EQ(unknown, 0u) << context << ": rows for unknown transactions";
  EXPECT_EQ(mismatches, 0) << context << ": feature values differing from the reference";
}

// Which spec and which columns a live == backfill comparison runs on.
struct Comparison {
  std::string spec = std::string(IMPULSE_SOURCE_DIR) + "/examples/fraud/features.yaml";
  std::string models_dir;                                   // predict steps: the model repository
  std::string input_stream, output_stream = "tx_features";  // backfill's --into / --stream
  std::vector<std::string> columns = FeatureColumns();
  bool reference = true;       // the backfill also equals the brute force (time order, point in time)
  Ties ties = Ties::kArrived;  // which brute force: on arrival (the spec) in time order
};

class FraudFeaturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse-fraud-features-test-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ASSERT_GT(Reference().size(), 10'000u) << "the simulation is too small to test anything";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::string Spec() { return std::string(IMPULSE_SOURCE_DIR) + "/examples/fraud/features.yaml"; }

  // features.yaml with its views in point-in-time mode (each waits for the watermark).
  std::string PointInTimeSpec() const {
    std::ifstream in(Spec(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string spec = text.str();
    size_t views = 0;
    for (size_t at = 0; (at = spec.find("\n    entity: ", at)) != std::string::npos; ++views) {
      at += 1;
      spec.insert(at, "    mode: point_in_time\n");
      at += 24;
    }
    EXPECT_EQ(views, 2u);
    const std::string path = (dir_ / "features-point-in-time.yaml").string();
    std::ofstream(path, std::ios::binary) << spec;
    return path;
  }

  // Writes `txs` as the simulator's CSV (header line first) to `name` in the test directory.
  std::string WriteCsv(const std::vector<Transaction>& txs, const std::string& name) const {
    std::string text;
    AppendCsvHeader(&text);
    for (const Transaction& tx : txs) AppendTransaction(tx, SimOptions().start_epoch_day, OutputFormat::kCsv, &text);
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Backfills `input_csv` into `out_name` in `format` and returns the output's text.
  std::string Backfill(const std::string& input_csv, const std::string& out_name,
                       features::BackfillOptions::Format format, const std::string& spec = Spec()) const {
    features::BackfillOptions options;
    options.spec_path = spec;
    options.input_path = input_csv;
    options.out_path = (dir_ / out_name).string();
    options.format = format;
    auto stats = features::RunBackfill(options);
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    std::ifstream in(options.out_path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  void ExpectLiveEqualsBackfill(const std::vector<Transaction>& arrival, const std::string& context,
                                const Comparison& run = Comparison());
  // The lookup of the terminal view in tests/<spec_file>: backfill == brute force, live == backfill.
  void ExpectLookupEqualsBruteForceAndLiveEqualsBackfill(const std::string& spec_file);

  std::filesystem::path dir_;
};

TEST_F(FraudFeaturesTest, BackfillInTimeOrderEqualsBruteForce) {
  const std::string csv = WriteCsv(Transactions(), "tx.csv");
  // On arrival (the spec's mode): equal times count the transactions before, as pandas does.
  const Table table = ParseCsv(Backfill(csv, "features.csv", features::BackfillOptions::Format::kCsv));
  ExpectMatchesReference(table, "backfill in time order, on arrival", Ties::kArrived);
  // Point in time: equal times count each other.
  const Table exact = ParseCsv(Backfill(csv, "exact.csv", features::BackfillOptions::Format::kCsv, PointInTimeSpec()));
  ExpectMatchesReference(exact, "backfill in time order, point in time", Ties::kAll);
  // The two differ only at equal times of a customer, which the simulation has.
  uint64_t differ = 0;
  for (const auto& [id, ref] : Reference(Ties::kAll)) {
    differ += ref.customer_nb_tx != Reference(Ties::kArrived).at(id).customer_nb_tx ? 1 : 0;
  }
  EXPECT_GT(differ, 0u);
  EXPECT_LT(differ, Reference().size() / 100);
}

// Data from elsewhere than the simulator: the published dataset's upper-case header, and no
// tx_time_seconds, tx_time_days, tx_fraud_scenario (the simulator's own columns, optional).
TEST_F(FraudFeaturesTest, BackfillOfCsvWithoutSimulatorColumnsEqualsBruteForce) {
  std::ifstream in(WriteCsv(Transactions(), "tx-full.csv"), std::ios::binary);
  std::string text;
  bool header = true;
  for (std::string line; std::getline(in, line); header = false) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    ASSERT_EQ(cells.size(), 9u) << line;
    if (header) {
      ASSERT_EQ(cells[5], "tx_time_seconds");
      for (std::string& c : cells) std::transform(c.begin(), c.end(), c.begin(), ::toupper);
    }
    text += cells[0] + "," + cells[1] + "," + cells[2] + "," + cells[3] + "," + cells[4] + "," + cells[7] + "\n";
  }
  const std::string path = (dir_ / "tx-published.csv").string();
  std::ofstream(path, std::ios::binary) << text;
  const Table table = ParseCsv(Backfill(path, "features.csv", features::BackfillOptions::Format::kCsv));
  ExpectMatchesReference(table, "backfill of the published columns", Ties::kArrived);
}

TEST_F(FraudFeaturesTest, BackfillInShuffledArrivalOrderEqualsBruteForce) {
  const std::vector<Transaction> shuffled = Shuffled(kShuffleSeed);
  // The shuffle must really reorder (else this is test a again) and stay within the lateness.
  uint64_t out_of_order = 0;
  int64_t max_seen_ms = INT64_MIN, max_behind_ms = 0;
  for (const Transaction& tx : shuffled) {
    const int64_t t = TransactionTimeMs(tx, SimOptions().start_epoch_day);
    if (t < max_seen_ms) ++out_of_order;
    max_seen_ms = std::max(max_seen_ms, t);
    max_behind_ms = std::max(max_behind_ms, max_seen_ms - t);
  }
  ASSERT_GT(out_of_order, shuffled.size() / 10) << "seed " << kShuffleSeed;
  ASSERT_LT(max_behind_ms, kShuffleDisplacementMs) << "seed " << kShuffleSeed;
  const std::string csv = WriteCsv(shuffled, "tx-shuffled.csv");
  const Table table =
      ParseCsv(Backfill(csv, "features.csv", features::BackfillOptions::Format::kCsv, PointInTimeSpec()));
  ExpectMatchesReference(table, "backfill in shuffled order, seed " + std::to_string(kShuffleSeed), Ties::kAll);
}

// Ingests `body` and waits for its acknowledgement; retries on backpressure.
void IngestSync(Engine& engine, const std::string& body) {
  for (int attempt = 0;; ++attempt) {
    std::promise<std::pair<Status, IngestResult>> done;
    auto fut = done.get_future();
    Status st = engine.Ingest("transactions", body, 0, [&](Status s, IngestResult r) {
      done.set_value({s, std::move(r)});
    });
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

// Online lookups (Engine::LookupFeatures, behind GET /v1/features/{view}/{entity}) after the
// end of input: each customer's and terminal's served values equal the backfill row of its last
// transaction. Skipped: entities whose last two transactions share a time (either may be the
// last applied), and entities idle longer than their view's reach (30 days, 7 + 30 for the
// terminals) at the end of the run, whose state the engine may have dropped (every window is
// empty). Compared as numbers, exactly: the lookup prints 0 as 0.0.
void ExpectLookupsEqualLastRows(const Engine& engine, const Table& offline, const std::string& context) {
  struct Last {
    uint64_t id = 0;
    int64_t time_ms = INT64_MIN;
    bool tie = false;
  };
  std::map<std::string, std::map<std::string, Last>> last;  // view -> entity -> last transaction
  for (const auto& [id, ref] : Reference()) {
    const Transaction& tx = Transactions()[id];  // SimulateAll: transaction_id is the index
    for (const auto& [view, entity] : {std::pair<std::string, uint32_t>{"customer", tx.customer_id},
                                       std::pair<std::string, uint32_t>{"terminal", tx.terminal_id}}) {
      Last& l = last[view][std::to_string(entity)];
      if (ref.tx_datetime_ms > l.time_ms) {
        l = {id, ref.tx_datetime_ms, false};
      } else if (ref.tx_datetime_ms == l.time_ms) {
        l.tie = true;
      }
    }
  }
  int64_t end_ms = INT64_MIN;
  for (const auto& [id, ref] : Reference()) end_ms = std::max(end_ms, ref.tx_datetime_ms);
  const int64_t window_max_ms = kFeatureWindowDays.back() * kMsPerDay;
  uint64_t compared = 0, skipped = 0;
  int mismatches = 0;
  simdjson::dom::parser parser;
  for (const auto& [view, entities] : last) {
    const int64_t reach_ms = window_max_ms + (view == "terminal" ? kTerminalLabelDelayDays * kMsPerDay : 0);
    std::vector<std::string_view> keys;
    for (const auto& [entity, l] : entities) {
      if (!l.tie && l.time_ms > end_ms - reach_ms) {
        keys.push_back(entity);
      } else {
        ++skipped;
      }
    }
    for (size_t begin = 0; begin < keys.size(); begin += Engine::kFeatureLookupBatchMax) {
      const std::vector<std::string_view> batch(
          keys.begin() + static_cast<std::ptrdiff_t>(begin),
          keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), begin + Engine::kFeatureLookupBatchMax)));
      std::string out = "[";
      size_t found = 0;
      ASSERT_TRUE(engine.LookupFeatures(view, batch, &out, &found).ok()) << context << ": " << view;
      out += "]";
      EXPECT_EQ(found, batch.size()) << context << ": " << view << " entities without online values";
      simdjson::dom::element doc;
      ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << context << ": " << out.substr(0, 500);
      for (simdjson::dom::element item : doc.get_array()) {
        std::string_view entity;
        simdjson::dom::object features;
        ASSERT_EQ(item["entity"].get(entity), simdjson::SUCCESS);
        const uint64_t id = entities.at(std::string(entity)).id;
        if (item["features"].get(features) != simdjson::SUCCESS) {  // counted by `found`
          ADD_FAILURE() << context << ": " << view << " " << entity << ", last at "
                        << entities.at(std::string(entity)).time_ms << ": " << item;
          continue;
        }
        const Row& row = offline.rows.at(id);
        for (auto [name, value] : features) {
          double online = NAN;
          auto column = row.find(std::string(name));
          const bool ok = value.get_double().get(online) == simdjson::SUCCESS && column != row.end() &&
                          std::strtod(column->second.c_str(), nullptr) == online;
          ++compared;
          if (!ok && ++mismatches <= kMismatchesShown) {
            ADD_FAILURE() << context << ": " << view << " " << entity << " (last transaction " << id << ") " << name
                          << ": online " << value << ", backfill "
                          << (column == row.end() ? "<missing>" : column->second);
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 1000u) << context << ": too few online values compared";
  EXPECT_LT(skipped, 60u) << context << ": too many entities skipped";
  EXPECT_EQ(mismatches, 0) << context << ": online lookups differing from the backfill's last rows";
}

// Backfills `arrival` (as NDJSON) and feeds the same arrival order to a live engine; the
// tx_features rows must equal the backfill's printed values exactly. `context` names the order.
void FraudFeaturesTest::ExpectLiveEqualsBackfill(const std::vector<Transaction>& arrival, const std::string& context,
                                                 const Comparison& run) {
  // Offline: the backfill of the transactions, as NDJSON like the live stream.
  const std::string csv = WriteCsv(arrival, "tx.csv");
  features::BackfillOptions bo;
  bo.spec_path = run.spec;
  bo.input_path = csv;
  bo.input_stream = run.input_stream;
  bo.output_stream = run.output_stream;
  bo.models_dir = run.models_dir;
  bo.out_path = (dir_ / "out.ndjson").string();
  bo.format = features::BackfillOptions::Format::kNdjson;
  {
    auto stats = features::RunBackfill(bo);
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  }
  std::stringstream backfilled;
  backfilled << std::ifstream(bo.out_path, std::ios::binary).rdbuf();
  const Table offline = ParseNdjson(backfilled.str());
  if (run.reference) {
    ASSERT_NO_FATAL_FAILURE(ExpectMatchesReference(offline, context + ", backfill as NDJSON", run.ties));
  }

  // Online: a live engine fed the same transactions in small requests, as HTTP clients would.
  EngineOptions options;
  options.data_dir = (dir_ / "data").string();
  options.shards = 2;
  options.max_producers = 1;
  options.durability = Durability::kNone;
  options.checkpoint_interval_ms = 1'000;
  if (!run.models_dir.empty()) {
    auto models = ModelRepository::Open(run.models_dir);
    ASSERT_TRUE(models.ok()) << models.status().ToString();
    options.models = std::move(*models);
  }
  auto engine = Engine::Open(run.spec, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  std::string body;
  size_t lines = 0;
  for (const Transaction& tx : arrival) {
    AppendTransaction(tx, SimOptions().start_epoch_day, OutputFormat::kNdjson, &body);
    if (++lines == kLinesPerRequest) {
      ASSERT_NO_FATAL_FAILURE(IngestSync(**engine, body));
      body.clear();
      lines = 0;
    }
  }
  if (!body.empty()) {
    ASSERT_NO_FATAL_FAILURE(IngestSync(**engine, body));
  }
  ASSERT_TRUE((*engine)->EndOfInput("transactions").ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kOutputTimeoutMs);
  uint64_t written = 0;
  std::string ndjson;
  while (true) {
    (void)(*engine)->WaitForPipelines(1'000);
    ndjson = ReadAll(**engine, run.output_stream, &written);
    if (written >= Transactions().size() || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE((*engine)->WaitForPipelines(10'000).ok());
  ndjson = ReadAll(**engine, run.output_stream, &written);
  uint64_t late = 0;
  const std::string late_events = ReadAll(**engine, "_late_events", &late);
  EXPECT_EQ(late, 0u) << context << ": " << late_events.substr(0, 2000);
  if (run.output_stream == "tx_features") ExpectLookupsEqualLastRows(**engine, offline, context);
  ASSERT_TRUE((*engine)->Stop().ok());

  const Table online = ParseNdjson(ndjson);
  ASSERT_TRUE(online.errors.empty()) << context << ": " << online.errors.front();
  ASSERT_TRUE(online.duplicates.empty()) << context << ": transaction " << online.duplicates.front()
                                         << " written twice";
  ASSERT_EQ(online.rows.size(), offline.rows.size()) << context;
  int mismatches = 0;
  for (const auto& [id, live_row] : online.rows) {
    auto off = offline.rows.find(id);
    ASSERT_NE(off, offline.rows.end()) << context << ": transaction " << id << " only online";
    for (const std::string& column : run.columns) {
      auto a = live_row.find(column);
      auto b = off->second.find(column);
      const std::string got = a == live_row.end() ? "<missing>" : a->second;
      const std::string want = b == off->second.end() ? "<missing>" : b->second;
      if (got != want && ++mismatches <= kMismatchesShown) {
        ADD_FAILURE() << context << ": transaction " << id << " " << column << ": online " << got << ", offline "
                      << want;
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << context << ": online values differing from the backfill's";
}

TEST_F(FraudFeaturesTest, LiveFeaturesEqualBackfillValueForValue) {
  ExpectLiveEqualsBackfill(Transactions(), "time order");
}

TEST_F(FraudFeaturesTest, LiveFeaturesEqualBackfillInShuffledArrivalOrder) {
  Comparison run;
  run.reference = false;  // on arrival: what arrived before each transaction, not the reference
  ExpectLiveEqualsBackfill(Shuffled(kShuffleSeed), "shuffled order on arrival, seed " + std::to_string(kShuffleSeed),
                           run);
}

TEST_F(FraudFeaturesTest, LiveFeaturesEqualBackfillInShuffledArrivalOrderPointInTime) {
  Comparison run;
  run.spec = PointInTimeSpec();
  run.ties = Ties::kAll;
  ExpectLiveEqualsBackfill(Shuffled(kShuffleSeed), "shuffled order point in time, seed " + std::to_string(kShuffleSeed),
                           run);
}

TEST_F(FraudFeaturesTest, LiveScoresEqualBackfillScoresBitForBitInShuffledArrivalOrder) {
  Comparison run;
  run.spec = std::string(IMPULSE_SOURCE_DIR) + "/examples/fraud/score.yaml";
  run.models_dir = std::string(IMPULSE_SOURCE_DIR) + "/examples/fraud/models";
  run.input_stream = "transactions";
  run.output_stream = "tx_scored";
  run.columns = FeatureColumns();
  // Printed as the shortest text that reads back to the same double: equal text is equal bits.
  run.columns.insert(run.columns.end(), {"fraud_score", "fraud_lr_score"});
  run.reference = false;
  ExpectLiveEqualsBackfill(Shuffled(kShuffleSeed), "scores, shuffled order, seed " + std::to_string(kShuffleSeed), run);
}

// The lookup step (tests/fraud_lookup.yaml): each transaction reads its terminal's features as
// of one minute before it, from the terminal view another pipeline computes.
//   1. The backfill's looked-up values equal a brute force over the view's own rows (a backfill
//      of terminal_versions): the terminal's latest row at or before t - 1 min, null when there
//      is none or it is older than the view's state ttl (7 days).
//   2. A live engine fed the same transactions in a shuffled order (its re-keying, view and
//      lookup pipelines running on two shards at their own speeds) writes exactly the
//      backfill's values, compared as printed (the shortest text of a double: equal bits).
constexpr int64_t kLookupAsOfMs = -60'000;
constexpr int64_t kTerminalStateTtlMs = 7 * kMsPerDay;

void FraudFeaturesTest::ExpectLookupEqualsBruteForceAndLiveEqualsBackfill(const std::string& spec_file) {
  const std::string spec = std::string(IMPULSE_SOURCE_DIR) + "/tests/" + spec_file;
  const std::vector<Transaction> arrival = Shuffled(kShuffleSeed);
  const std::string csv = WriteCsv(arrival, "tx.csv");
  const auto backfill = [&](const std::string& stream) {
    features::BackfillOptions bo;
    bo.spec_path = spec;
    bo.input_path = csv;
    bo.output_stream = stream;
    bo.out_path = (dir_ / (stream + ".ndjson")).string();
    bo.format = features::BackfillOptions::Format::kNdjson;
    auto stats = features::RunBackfill(bo);
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    if (stats.ok()) {
      EXPECT_EQ(stats->late_events, 0u);
    }
    std::stringstream text;
    text << std::ifstream(bo.out_path, std::ios::binary).rdbuf();
    return ParseNdjson(text.str());
  };
  const Table versions = backfill("terminal_versions");
  const Table looked_up = backfill("tx_with_terminal");
  ASSERT_EQ(versions.rows.size(), Transactions().size());
  ASSERT_EQ(looked_up.rows.size(), Transactions().size());

  // Per terminal: its rows by time (the view's versions).
  std::map<uint64_t, const Transaction*> by_id;
  for (const Transaction& tx : Transactions()) by_id[tx.transaction_id] = &tx;
  const int64_t day0 = SimOptions().start_epoch_day;
  std::map<uint32_t, std::multimap<int64_t, const Row*>> history;
  for (const auto& [id, row] : versions.rows) {
    const Transaction& tx = *by_id.at(id);
    history[tx.terminal_id].emplace(TransactionTimeMs(tx, day0), &row);
  }
  const std::vector<std::string> columns = {"T_NB_TX_1DAY", "T_AVG_AMOUNT_7DAY", "T_LAST_AMOUNT"};
  uint64_t compared = 0, nulls = 0;
  int mismatches = 0;
  for (const auto& [id, row] : looked_up.rows) {
    const Transaction& tx = *by_id.at(id);
    const int64_t as_of = TransactionTimeMs(tx, day0) + kLookupAsOfMs;
    const auto& h = history[tx.terminal_id];
    auto after = h.upper_bound(as_of);
    const bool none = after == h.begin() || std::prev(after)->first < as_of - kTerminalStateTtlMs;
    const int64_t latest = none ? 0 : std::prev(after)->first;
    const bool tie = !none && h.count(latest) > 1;  // equal times: the same windows, not the same `previous`
    for (const std::string& c : columns) {
      const std::string got = row.at("terminal_" + c);
      std::string want = "null";
      if (!none) {
        if (tie && c == "T_LAST_AMOUNT") continue;
        want = std::prev(after)->second->at(c);
      }
      ++compared;
      nulls += want == "null";
      if (got != want && ++mismatches <= kMismatchesShown) {
        ADD_FAILURE() << "transaction " << id << " terminal " << tx.terminal_id << " " << c << ": looked up " << got
                      << ", the view's row at or before " << as_of << ": " << want;
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(compared, 3 * Transactions().size() - 2000);
  EXPECT_GT(nulls, 100u);          // terminals' first transactions, and those idle for a week
  EXPECT_LT(nulls, compared / 4);  // most read a value

  Comparison run;
  run.spec = spec;
  run.input_stream = "transactions";
  run.output_stream = "tx_with_terminal";
  run.columns = {"terminal_T_NB_TX_1DAY", "terminal_T_AVG_AMOUNT_7DAY", "terminal_T_LAST_AMOUNT"};
  run.reference = false;
  ExpectLiveEqualsBackfill(arrival, spec_file + ", shuffled order, seed " + std::to_string(kShuffleSeed), run);
}

TEST_F(FraudFeaturesTest, LookupOfAnotherViewEqualsBruteForceAndLiveEqualsBackfill) {
  ExpectLookupEqualsBruteForceAndLiveEqualsBackfill("fraud_lookup.yaml");
}

// A broadcast lookup (tests/fraud_lookup_broadcast.yaml): the transactions, keyed by customer
// over four partitions, read the terminal view (keyed by terminal) without re-keying; each task
// reads all four partitions of terminal_versions. The same values as the co-partitioned lookup,
// the same brute force, live on two shards == backfill.
TEST_F(FraudFeaturesTest, BroadcastLookupEqualsBruteForceAndLiveEqualsBackfill) {
  ExpectLookupEqualsBruteForceAndLiveEqualsBackfill("fraud_lookup_broadcast.yaml");
}

// The rank step (tests/fraud_rank.yaml): each transaction ranks the terminals its customer used
// in the last 14 days by a linear model over each terminal's view values as of one minute before
// it. A live engine on two shards, fed the transactions in a shuffled order, writes exactly the
// backfill's top 3 and scores; and the training rows (emit: candidates) of the backfill score
// each candidate as the ranked step did.
TEST_F(FraudFeaturesTest, RankLiveEqualsBackfillAndTrainingRowsCarryTheServingScores) {
  Comparison run;
  run.spec = std::string(IMPULSE_SOURCE_DIR) + "/tests/fraud_rank.yaml";
  run.models_dir = std::string(IMPULSE_SOURCE_DIR) + "/tests/fraud_rank_models";
  run.input_stream = "transactions";
  run.output_stream = "tx_ranked";
  run.columns = {"RECENT_TERMINALS", "top_terminals", "top_scores"};
  run.reference = false;
  const std::vector<Transaction> arrival = Shuffled(kShuffleSeed);
  ExpectLiveEqualsBackfill(arrival, "rank, shuffled order, seed " + std::to_string(kShuffleSeed), run);

  // The training rows: one per (transaction, candidate), with the score the ranked step gave it.
  const std::string csv = WriteCsv(arrival, "tx.csv");
  const auto backfill = [&](const std::string& stream) {
    features::BackfillOptions bo;
    bo.spec_path = run.spec;
    bo.models_dir = run.models_dir;
    bo.input_path = csv;
    bo.output_stream = stream;
    bo.out_path = (dir_ / (stream + ".ndjson")).string();
    bo.format = features::BackfillOptions::Format::kNdjson;
    auto stats = features::RunBackfill(bo);
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    std::stringstream text;
    text << std::ifstream(bo.out_path, std::ios::binary).rdbuf();
    return text.str();
  };
  // The backfill of tx_ranked that ExpectLiveEqualsBackfill compared the live rows with.
  std::stringstream ranked_text;
  ranked_text << std::ifstream(dir_ / "out.ndjson", std::ios::binary).rdbuf();
  const Table ranked = ParseNdjson(ranked_text.str());
  ASSERT_EQ(ranked.rows.size(), Transactions().size());
  const std::string training = backfill("tx_candidates");
  std::map<uint64_t, std::map<int64_t, double>> scored;  // transaction -> candidate -> score
  size_t rows = 0;
  simdjson::dom::parser parser;
  std::istringstream lines(training);
  for (std::string line; std::getline(lines, line);) {
    simdjson::dom::element e;
    ASSERT_EQ(parser.parse(line).get(e), simdjson::SUCCESS) << line;
    int64_t id = 0, candidate = 0;
    ASSERT_EQ(e["transaction_id"].get_int64().get(id), simdjson::SUCCESS) << line;
    ASSERT_EQ(e["candidate"].get_int64().get(candidate), simdjson::SUCCESS) << line;
    double score = NAN;
    ASSERT_EQ(e["score"].get_double().get(score), simdjson::SUCCESS) << line;
    scored[static_cast<uint64_t>(id)][candidate] = score;
    ++rows;
  }
  EXPECT_GT(rows, Transactions().size());  // most customers have several recent terminals
  uint64_t compared = 0;
  int mismatches = 0;
  for (const auto& [id, row] : ranked.rows) {
    const std::string& items = row.at("top_terminals");
    const std::string& scores = row.at("top_scores");
    if (items == "null" || items == "\"[]\"") continue;
    // "[a,b]" and "[s,t]" (JSON strings inside the row's JSON).
    std::vector<int64_t> ids;
    std::vector<double> values;
    for (const auto& [text, out] : {std::pair{items, 0}, std::pair{scores, 1}}) {
      std::string inner = text.substr(2, text.size() - 4);  // drop "\"[" and "]\""
      std::istringstream parts(inner);
      for (std::string part; std::getline(parts, part, ',');) {
        if (out == 0) {
          ids.push_back(std::stoll(part));
        } else {
          values.push_back(std::strtod(part.c_str(), nullptr));
        }
      }
    }
    ASSERT_EQ(ids.size(), values.size()) << items << " " << scores;
    const auto& candidates = scored[id];
    ASSERT_LE(ids.size(), 3u);
    ASSERT_EQ(ids.size(), std::min<size_t>(3, candidates.size())) << "transaction " << id;
    for (size_t i = 0; i < ids.size(); ++i) {
      auto c = candidates.find(ids[i]);
      ++compared;
      // The training row's score is a double of the same float32: equal once printed as one.
      if ((c == candidates.end() || static_cast<float>(c->second) != static_cast<float>(values[i])) &&
          ++mismatches <= kMismatchesShown) {
        ADD_FAILURE() << "transaction " << id << " candidate " << ids[i] << ": ranked " << values[i]
                      << ", training row " << (c == candidates.end() ? NAN : c->second);
      }
      // Best first: no candidate left out ranks before the last kept (a higher float32 score, or
      // an equal one and a smaller id).
      if (i + 1 == ids.size()) {
        const float last = static_cast<float>(values[i]);
        for (const auto& [cand, s] : candidates) {
          const float score = static_cast<float>(s);
          const bool before = score > last || (score == last && cand < ids[i]);
          if (std::find(ids.begin(), ids.end(), cand) == ids.end() && before && ++mismatches <= kMismatchesShown) {
            ADD_FAILURE() << "transaction " << id << ": candidate " << cand << " scores " << s
                          << " but is not in the top " << ids.size();
          }
        }
      }
    }
  }
  EXPECT_GT(compared, Transactions().size());
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace impulse::fraud
