// `impulse backfill` through its library (RunBackfill): a sliding-window spec over generated
// CSV and NDJSON input, every output row checked against a brute-force recomputation; the
// --from/--to filter; bad rows named by line; deterministic bytes.
#include "features/backfill.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/fault_env.h"
#include "common/status_matchers.h"
#include "event/timestamp.h"
#include "features/backfill_internal.h"
#include "impulse/engine.h"

namespace impulse::features {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kStartMs = 1'709'251'200'000;  // 2024-03-01T00:00:00Z

struct Tx {
  int64_t id, user;
  double amount;  // a multiple of 0.25: sums are exact whatever the order
  int64_t ts;
  std::string note;  // "" = null
};

std::vector<Tx> MakeTxs(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Tx> txs;
  int64_t ts = kStartMs;
  for (int i = 0; i < n; ++i) {
    ts += 1000 * static_cast<int64_t>(1 + rng() % 120);  // strictly increasing: no ties
    Tx t{i, static_cast<int64_t>(rng() % 25), 0.25 * static_cast<double>(1 + rng() % 4000), ts, ""};
    if (i % 50 == 7) t.note = "a,b \"quoted\"";
    if (i % 50 == 8) t.note = "plain";
    txs.push_back(t);
  }
  return txs;
}

std::string SpaceDateTime(int64_t ms) {  // "2024-03-01 00:02:01", as the fraud simulator writes
  std::string iso;
  AppendTimestampIso(ms, &iso);
  return iso.substr(0, 10) + " " + iso.substr(11, 8);
}

std::string CsvInput(const std::vector<Tx>& txs) {
  std::string s = "id,user_id,amount,ts,note\n";
  for (const Tx& t : txs) {
    std::string note = t.note;
    if (note.find(',') != std::string::npos) note = "\"a,b \"\"quoted\"\"\"";
    s += std::to_string(t.id) + "," + std::to_string(t.user) + "," + std::to_string(t.amount) + "," +
         SpaceDateTime(t.ts) + "," + note + "\n";
  }
  return s;
}

std::string NdjsonInput(const std::vector<Tx>& txs) {
  std::string s;
  for (const Tx& t : txs) {
    std::string iso;
    AppendTimestampIso(t.ts, &iso);
    std::string note = t.note.empty() ? "null" : t.note == "plain" ? "\"plain\"" : "\"a,b \\\"quoted\\\"\"";
    s += "{\"id\":" + std::to_string(t.id) + ",\"user_id\":" + std::to_string(t.user) +
         ",\"amount\":" + std::to_string(t.amount) + ",\"ts\":\"" + iso + "\",\"note\":" + note + "}\n";
  }
  return s;
}

// One RFC 4180 record per line (the test data has no embedded newlines).
std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back().push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cells.back().push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back().push_back(c);
    }
  }
  return cells;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class BackfillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("backfill_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    spec_ = (dir_ / "spec.yaml").string();
    std::ofstream(spec_) << R"(streams:
  - name: tx
    fields:
      - {name: id, type: int64}
      - {name: user_id, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
      - {name: note, type: string, nullable: true}
    key: user_id
    event_time: ts
    partitions: 4
pipelines:
  - name: velocity
    from: tx
    steps:
      - window: {sliding: 1h, key: user_id, aggregates: {n: count(), s: sum(amount)}}
    sink: {stream: tx_velocity}
)";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  BackfillOptions Options(const std::string& input, const std::string& out) {
    BackfillOptions o;
    o.spec_path = spec_;
    o.input_path = input;
    o.out_path = (dir_ / out).string();
    return o;
  }

  // Checks CSV output against a brute-force sliding window over `txs` (only those in
  // [from, to): windows start empty at `from`).
  static void ExpectMatchesBruteForce(const std::string& csv, const std::vector<Tx>& txs, int64_t from = INT64_MIN,
                                      int64_t to = INT64_MAX) {
    std::vector<Tx> in;
    for (const Tx& t : txs) {
      if (t.ts >= from && t.ts < to) in.push_back(t);
    }
    const std::vector<std::string> lines = Lines(csv);
    ASSERT_EQ(lines.size(), in.size() + 1);
    EXPECT_EQ(lines[0], "id,user_id,amount,ts,note,n,s");
    for (size_t i = 0; i < in.size(); ++i) {
      const Tx& t = in[i];  // output is in event-time order, and the input's times are distinct
      int64_t n = 0;
      double s = 0;
      for (const Tx& u : in) {
        if (u.user == t.user && u.ts > t.ts - kHourMs && u.ts <= t.ts) {
          ++n;
          s += u.amount;
        }
      }
      const std::vector<std::string> c = SplitCsv(lines[i + 1]);
      ASSERT_EQ(c.size(), 7u) << lines[i + 1];
      EXPECT_EQ(std::stoll(c[0]), t.id) << "row " << i;
      EXPECT_EQ(std::stoll(c[1]), t.user) << "row " << i;
      EXPECT_EQ(std::stod(c[2]), t.amount) << "row " << i;
      Result<int64_t> ts = ParseTimestampMs(c[3]);
      ASSERT_TRUE(ts.ok()) << c[3];
      EXPECT_EQ(*ts, t.ts) << "row " << i;
      EXPECT_EQ(c[4], t.note) << "row " << i;
      EXPECT_EQ(std::stoll(c[5]), n) << "row " << i;
      EXPECT_EQ(std::stod(c[6]), s) << "row " << i;
    }
  }

  fs::path dir_;
  std::string spec_;
};

TEST_F(BackfillTest, CsvInputMatchesBruteForce) {
  // Over 256 KiB: records straddle the reader's chunks.
  const std::vector<Tx> txs = MakeTxs(8000, 1);
  BackfillOptions o = Options(Write("in.csv", CsvInput(txs)), "out.csv");
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->events_in, 8000u);
  EXPECT_EQ(st->rows_out, 8000u);
  EXPECT_EQ(st->bad_rows, 0u);
  EXPECT_EQ(st->late_events, 0u);
  ExpectMatchesBruteForce(Read(o.out_path), txs);
  EXPECT_FALSE(fs::exists(o.out_path + ".tmp"));
}

// The engine's temporary directory is thrown away: a backfill writes it through its Env but
// never fsyncs it (each fsync was 3-7 ms of idle wall time, ~180 per run of a 10-stream spec),
// and the output is the same as through the default file system.
TEST_F(BackfillTest, EngineDirectoryIsNeverSynced) {
  const std::vector<Tx> txs = MakeTxs(2000, 2);
  const std::string input = Write("in.csv", CsvInput(txs));
  BackfillOptions plain = Options(input, "plain.csv");
  ASSERT_TRUE(RunBackfill(plain).ok());
  FaultInjectionEnv env(Env::Default());
  BackfillOptions o = Options(input, "counted.csv");
  o.env = &env;
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_GT(env.ops(), 0u);  // the engine's files went through it
  EXPECT_GT(env.bytes_appended(), 0u);
  EXPECT_EQ(env.syncs(), 0u);
  EXPECT_EQ(Read(o.out_path), Read(plain.out_path));
  ExpectMatchesBruteForce(Read(o.out_path), txs);
}

// Quote-free lines take the reader's fast splitter, the rest libcsv: a file that switches from
// one to the other, with CRLF line ends and a blank line, reads the same.
TEST_F(BackfillTest, CsvFastPathAndLibcsvAgree) {
  std::vector<Tx> txs = MakeTxs(8000, 10);
  for (size_t i = 0; i < 7500; ++i) {                 // the first 256 KiB chunk holds about 6000 rows
    if (!txs[i].note.empty()) txs[i].note = "plain";  // quoted cells only late in the file
  }
  std::string csv;
  size_t line = 0;
  for (char c : CsvInput(txs)) {
    if (c != '\n') {
      csv += c;
      continue;
    }
    csv += "\r\n";
    if (++line == 100) csv += "\r\n";
  }
  BackfillOptions o = Options(Write("crlf.csv", csv), "out.csv");
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->events_in, 8000u);
  ExpectMatchesBruteForce(Read(o.out_path), txs);

  // A bad cell after the blank line, in the quote-free part: named by its line (data row 200
  // is line 202: the header and the blank line come before it).
  const size_t at = csv.find("\r\n" + std::to_string(txs[199].id) + ",") + 2;
  csv.replace(csv.find(',', at) + 1, 0, "x");  // user_id "x<digits>"
  const std::string bad = Write("bad_crlf.csv", csv);
  st = RunBackfill(Options(bad, "out2.csv"));
  ASSERT_CODE(st, kInvalidArgument);
  EXPECT_NE(st.status().message().find(bad + ":202: column 2 (user_id)"), std::string::npos) << st.status().ToString();
}

TEST_F(BackfillTest, NdjsonInputGivesTheSameBytesAsCsv) {
  const std::vector<Tx> txs = MakeTxs(8000, 2);
  BackfillOptions a = Options(Write("in.csv", CsvInput(txs)), "a.csv");
  BackfillOptions b = Options(Write("in.ndjson", NdjsonInput(txs)), "b.csv");
  ASSERT_TRUE(RunBackfill(a).ok());
  Result<BackfillStats> st = RunBackfill(b);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->rows_out, 8000u);
  const std::string csv = Read(b.out_path);
  EXPECT_EQ(csv, Read(a.out_path));
  ExpectMatchesBruteForce(csv, txs);
}

TEST_F(BackfillTest, NdjsonOutputHasOneObjectPerEvent) {
  const std::vector<Tx> txs = MakeTxs(500, 3);
  BackfillOptions o = Options(Write("in.csv", CsvInput(txs)), "out.ndjson");
  o.format = BackfillOptions::Format::kNdjson;
  ASSERT_TRUE(RunBackfill(o).ok());
  const std::vector<std::string> lines = Lines(Read(o.out_path));
  ASSERT_EQ(lines.size(), 500u);
  std::string iso;
  AppendTimestampIso(txs[0].ts, &iso);
  EXPECT_EQ(lines[0].rfind("{\"id\":0,\"user_id\":" + std::to_string(txs[0].user), 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("\"ts\":\"" + iso + "\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"n\":1,"), std::string::npos) << lines[0];
  EXPECT_NE(lines[7].find("\"note\":\"a,b \\\"quoted\\\"\""), std::string::npos) << lines[7];
}

TEST_F(BackfillTest, FromToFeedsOnlyThatRangeAndWindowsStartEmpty) {
  const std::vector<Tx> txs = MakeTxs(3000, 4);
  BackfillOptions o = Options(Write("in.csv", CsvInput(txs)), "out.csv");
  o.from_ms = txs[1000].ts;
  o.to_ms = txs[2000].ts;
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->events_in, 1000u);
  EXPECT_EQ(st->filtered, 2000u);
  ExpectMatchesBruteForce(Read(o.out_path), txs, o.from_ms, o.to_ms);
}

TEST_F(BackfillTest, BadRowFailsNamingFileLineAndColumn) {
  std::string csv = CsvInput(MakeTxs(20, 5));
  // Data row 7 is line 8 (after the header); its amount (column 3) becomes text.
  std::vector<std::string> lines = Lines(csv);
  std::vector<std::string> cells = SplitCsv(lines[7]);
  cells[2] = "12,5x";
  lines[7] = cells[0] + "," + cells[1] + ",\"12,5x\"," + cells[3] + "," + cells[4];
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  const std::string in = Write("bad.csv", text);
  BackfillOptions o = Options(in, "out.csv");
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.status().message().find(in + ":8: column 3 (amount)"), std::string::npos) << st.status().ToString();
  EXPECT_FALSE(fs::exists(o.out_path));

  o.skip_bad_rows = true;
  st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->bad_rows, 1u);
  EXPECT_EQ(st->events_in, 19u);
  EXPECT_EQ(st->rows_out, 19u);
}

TEST_F(BackfillTest, CsvHeaderMatchesCaseInsensitivelyAndMapsColumns) {
  const std::vector<Tx> txs = MakeTxs(200, 21);
  std::string csv = CsvInput(txs);
  // A published file: upper-case names, one renamed column, one column the stream lacks.
  csv.replace(0, csv.find('\n'), "ID,USER,Amount,TS,NOTE");
  std::string extra;
  for (const std::string& l : Lines(csv)) extra += l + (extra.empty() ? ",IS_FRAUD\n" : ",0\n");
  const std::string in = Write("upper.csv", extra);
  BackfillOptions o = Options(in, "out.csv");
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_CODE(st, kInvalidArgument);
  EXPECT_NE(st.status().message().find(in + ":1: column 2 'USER' is not a field of stream tx"), std::string::npos)
      << st.status().ToString();
  o.column_map = {{"user", "user_id"}};
  st = RunBackfill(o);
  ASSERT_CODE(st, kInvalidArgument);
  EXPECT_NE(st.status().message().find("column 6 'IS_FRAUD'"), std::string::npos) << st.status().ToString();
  o.ignore_unknown_columns = true;
  st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->late_events, 0u);
  ExpectMatchesBruteForce(Read(o.out_path), txs);
}

TEST_F(BackfillTest, ColumnOptionsRefusedForNdjson) {
  const std::string in = Write("in.ndjson", NdjsonInput(MakeTxs(5, 22)));
  BackfillOptions o = Options(in, "out.csv");
  o.ignore_unknown_columns = true;
  ASSERT_CODE(RunBackfill(o), kInvalidArgument);
}

TEST_F(BackfillTest, BadNdjsonLineIsNamed) {
  std::string nd = NdjsonInput(MakeTxs(10, 6));
  nd.insert(nd.find('\n', nd.find('\n') + 1) + 1, "{\"id\":\"x\"}\n");  // becomes line 3
  const std::string in = Write("bad.ndjson", nd);
  Result<BackfillStats> st = RunBackfill(Options(in, "out.csv"));
  ASSERT_CODE(st, kInvalidArgument);
  EXPECT_NE(st.status().message().find(in + ":3:"), std::string::npos) << st.status().ToString();
}

TEST_F(BackfillTest, TwoRunsWriteIdenticalBytes) {
  const std::vector<Tx> txs = MakeTxs(3000, 7);
  const std::string in = Write("in.csv", CsvInput(txs));
  BackfillOptions a = Options(in, "a.csv");
  BackfillOptions b = Options(in, "b.csv");
  b.shards = 1;  // another shard count: still the same bytes
  ASSERT_TRUE(RunBackfill(a).ok());
  ASSERT_TRUE(RunBackfill(b).ok());
  const std::string x = Read(a.out_path);
  EXPECT_GT(x.size(), 3000u * 20);
  EXPECT_EQ(x, Read(b.out_path));
}

// --data DIR: the history is a (stopped) engine's log of the input stream; its partitions are
// merged by event time, so the training set is the same as from the original file.
TEST_F(BackfillTest, DataDirReplaysTheInputStreamsLog) {
  const std::vector<Tx> txs = MakeTxs(3000, 9);
  const std::string live = (dir_ / "live").string();
  {
    EngineOptions eo;
    eo.data_dir = live;
    eo.shards = 1;
    eo.durability = Durability::kNone;
    eo.checkpoint_interval_ms = 3'600'000;
    auto engine = Engine::Open(spec_, eo);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    const std::string body = NdjsonInput(txs);
    while (true) {
      std::promise<Status> done;
      Status st = (*engine)->Ingest("tx", body, 0, [&](Status s, IngestResult r) {
        done.set_value(r.rejected > 0 ? InvalidArgument("rejected lines") : s);
      });
      if (st.code() == StatusCode::kUnavailable) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      ASSERT_TRUE(st.ok()) << st.ToString();
      const Status acked = done.get_future().get();
      ASSERT_TRUE(acked.ok()) << acked.ToString();
      break;
    }
    ASSERT_TRUE((*engine)->Stop().ok());
  }
  BackfillOptions o;
  o.spec_path = spec_;
  o.data_dir = live;
  o.out_path = (dir_ / "from_log.csv").string();
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->events_in, 3000u);
  ExpectMatchesBruteForce(Read(o.out_path), txs);

  o.from_ms = txs[500].ts;
  o.to_ms = txs[1500].ts;
  st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->events_in, 1000u);
  ExpectMatchesBruteForce(Read(o.out_path), txs, o.from_ms, o.to_ms);
}

// --data-dir of a running engine: refused (opening its partitions would recover them, cutting
// the "torn tail" the engine is still writing), the engine's lock says so.
TEST_F(BackfillTest, DataDirOfARunningEngineIsRefused) {
  const std::string live = (dir_ / "live").string();
  EngineOptions eo;
  eo.data_dir = live;
  eo.shards = 1;
  eo.durability = Durability::kNone;
  eo.checkpoint_interval_ms = 3'600'000;
  auto engine = Engine::Open(spec_, eo);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  BackfillOptions o;
  o.spec_path = spec_;
  o.data_dir = live;
  o.out_path = (dir_ / "from_log.csv").string();
  Result<BackfillStats> st = RunBackfill(o);
  EXPECT_EQ(st.status().code(), StatusCode::kFailedPrecondition) << st.status().ToString();
  EXPECT_NE(st.status().message().find("is in use by another process"), std::string::npos) << st.status().ToString();
  ASSERT_TRUE((*engine)->Stop().ok());
  st = RunBackfill(o);
  EXPECT_TRUE(st.ok()) << st.status().ToString();
}

// Equal event times, and an output re-keyed so that every output partition has several
// writers whose interleaving depends on timing: the bytes still do not change.
TEST_F(BackfillTest, TiesAndManyWritersPerPartitionStayDeterministic) {
  std::ofstream(spec_) << R"(streams:
  - name: tx
    fields:
      - {name: id, type: int64}
      - {name: user_id, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
      - {name: note, type: string, nullable: true}
    key: user_id
    event_time: ts
    partitions: 4
pipelines:
  - name: velocity
    from: tx
    steps:
      - window: {sliding: 1h, key: user_id, aggregates: {n: count(), s: sum(amount)}}
      - key_by: id
    sink: {stream: by_id}
  - name: copy
    from: by_id
    steps:
      - filter: n > 0
    sink: {stream: out}
)";
  std::vector<Tx> txs = MakeTxs(4000, 11);
  for (size_t i = 0; i < txs.size(); ++i) txs[i].ts = txs[i - i % 8].ts;  // 8 events per time
  const std::string in = Write("ties.csv", CsvInput(txs));
  std::string first;
  for (uint32_t shards : {2u, 1u, 2u}) {
    BackfillOptions o = Options(in, "ties_out.csv");
    o.shards = shards;
    Result<BackfillStats> st = RunBackfill(o);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    EXPECT_EQ(st->rows_out, 4000u);
    const std::string text = Read(o.out_path);
    if (first.empty()) {
      first = text;
    } else {
      EXPECT_EQ(text, first) << "shards " << shards;
    }
  }
}

// The CSV writer's fast path for doubles prints exactly what std::to_chars prints.
TEST(BackfillCsvDouble, SameTextAsToChars) {
  std::mt19937_64 rng(12);
  auto to_chars = [](double v) {
    char buf[64];
    return std::string(buf, std::to_chars(buf, buf + sizeof(buf), v).ptr);
  };
  std::vector<double> values = {
      0.0,     -0.0, 1.0,  -1.0,      0.01,   0.1,  0.05,  99999.99, 100000.0,          10000.0,
      20000.0, 1e15, 1e16, 123456.78, 5e-324, 1e-7, 0.015, 17.84,    17.840000000000003};
  for (int i = 0; i < 200'000; ++i) {
    const int64_t cents = static_cast<int64_t>(rng() % 20'000'000) - 10'000'000;
    values.push_back(static_cast<double>(cents) / 100.0);                                        // amounts
    values.push_back(static_cast<double>(cents) / 100.0 / static_cast<double>(1 + rng() % 30));  // averages
    values.push_back(static_cast<double>(rng() % 1000) / 1000.0);                                // ratios
    values.push_back(std::ldexp(static_cast<double>(rng() >> 11), static_cast<int>(rng() % 80) - 60));
  }
  for (double v : values) {
    std::string got;
    backfill_internal::AppendCsvDouble(v, &got);
    ASSERT_EQ(got, to_chars(v)) << v;
  }
}

TEST_F(BackfillTest, StreamChoiceErrors) {
  BackfillOptions o = Options(Write("in.csv", CsvInput(MakeTxs(5, 8))), "out.csv");
  o.output_stream = "tx";  // not written by a pipeline
  Result<BackfillStats> st = RunBackfill(o);
  EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument);
  o.output_stream.clear();
  o.input_stream = "tx_velocity";  // written by a pipeline
  st = RunBackfill(o);
  EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument);
  o.input_stream = "nope";
  st = RunBackfill(o);
  EXPECT_EQ(st.status().code(), StatusCode::kNotFound);
  o.input_stream.clear();
  o.output_stream = "tx_velocty";  // no such stream: said so, with the near name
  st = RunBackfill(o);
  EXPECT_EQ(st.status().code(), StatusCode::kNotFound);
  EXPECT_NE(st.status().message().find("did you mean 'tx_velocity'"), std::string::npos) << st.status().ToString();
}

// A predict step scores in a backfill as live (--models), and its decision log is not taken for
// an input stream.
TEST_F(BackfillTest, PredictStepScoresWithTheRepository) {
  fs::create_directories(dir_ / "models/m/1");
  std::ofstream(dir_ / "models/m/config.yaml") << "kind: linear\ninputs:\n  - {name: amount}\n  - {name: n}\n";
  std::ofstream(dir_ / "models/m/1/model.json") << R"({"kind":"linear","weights":[2,10],"bias":1})";
  std::ofstream(spec_, std::ios::app) << R"(  - name: score
    from: tx_velocity
    steps:
      - predict: {model: m, outputs: [score], event_id: id, decision_log: decisions}
    sink: {stream: tx_scored}
)";
  const std::vector<Tx> txs = MakeTxs(500, 3);
  BackfillOptions o = Options(Write("in.csv", CsvInput(txs)), "out.csv");
  o.models_dir = (dir_ / "models").string();
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  const std::vector<std::string> lines = Lines(Read(o.out_path));
  ASSERT_EQ(lines.size(), 501u);
  EXPECT_EQ(lines[0], "id,user_id,amount,ts,note,n,s,score");
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> cells;
    std::stringstream ss(lines[i]);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    ASSERT_GE(cells.size(), 8u) << lines[i];  // a quoted note may hold commas: n and score from the end
    const size_t k = cells.size();
    const float want = 2.0f * std::stof(cells[2]) + 10.0f * std::stof(cells[k - 3]) + 1.0f;
    EXPECT_FLOAT_EQ(std::stof(cells[k - 1]), want) << lines[i];
  }
  o.models_dir.clear();  // without a repository the step cannot score: refused up front
  Result<BackfillStats> refused = RunBackfill(o);
  ASSERT_CODE(refused, kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("no model repository"), std::string::npos) << refused.status().ToString();
}

}  // namespace
}  // namespace impulse::features

namespace impulse::features {
namespace {

// A backfill runs only the pipelines its output stream depends on: a pipeline that cannot even
// start (a predict step without a model repository) but feeds another stream does not stop a
// backfill of tx_velocity, whose rows are those of the spec without it; asked for, its stream
// is still refused.
TEST_F(BackfillTest, RunsOnlyThePipelinesTheOutputDependsOn) {
  const std::vector<Tx> txs = MakeTxs(400, 11);
  BackfillOptions o = Options(Write("in.csv", CsvInput(txs)), "out.csv");
  o.output_stream = "tx_velocity";
  Result<BackfillStats> before = RunBackfill(o);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_TRUE(before->pipelines_skipped.empty());
  const std::string want = Read(o.out_path);
  ExpectMatchesBruteForce(want, txs);

  std::ofstream(spec_, std::ios::app) << R"(  - name: unscorable
    from: tx
    steps:
      - predict: {model: missing, outputs: [score]}
    sink: {stream: tx_scored}
)";
  Result<BackfillStats> pruned = RunBackfill(o);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->pipelines_skipped, std::vector<std::string>{"unscorable"});
  EXPECT_EQ(Read(o.out_path), want);

  o.output_stream = "tx_scored";
  ASSERT_CODE(RunBackfill(o), kFailedPrecondition);
}

// The embedded output: the rows handed to output_rows are the file's rows, in its order.
TEST_F(BackfillTest, OutputRowsGetsTheSortedRows) {
  const std::vector<Tx> txs = MakeTxs(300, 12);
  BackfillOptions o = Options(Write("in.csv", CsvInput(txs)), "out.csv");
  ASSERT_TRUE(RunBackfill(o).ok());
  const std::vector<std::string> lines = Lines(Read(o.out_path));
  std::vector<int64_t> ids;
  std::vector<int64_t> counts;
  o.out_path = (dir_ / "not_written.csv").string();
  o.output_rows = [&](const Schema& schema, const RowBatch& rows) {
    EXPECT_EQ(schema.field(0).name, "id");
    EXPECT_EQ(schema.field(5).name, "n");
    for (size_t r = 0; r < rows.size(); ++r) {
      ids.push_back(rows.row(r)[0].i64);
      counts.push_back(rows.row(r)[5].i64);
    }
    return Status::OK();
  };
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->rows_out, txs.size());
  EXPECT_FALSE(fs::exists(o.out_path));
  ASSERT_EQ(ids.size() + 1, lines.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::vector<std::string> c = SplitCsv(lines[i + 1]);
    EXPECT_EQ(ids[i], std::stoll(c[0])) << i;
    EXPECT_EQ(counts[i], std::stoll(c[5])) << i;
  }
  o.output_rows = [](const Schema&, const RowBatch&) { return Unavailable("enough"); };
  ASSERT_CODE(RunBackfill(o), kUnavailable);
}

// Events a step refuses are counted by pipeline, step and reason: an as-of time out of its
// bounds is not an input-order problem and must not be reported as one.
TEST_F(BackfillTest, RefusedEventsAreCountedByStepAndReason) {
  std::ofstream(spec_) << R"(streams:
  - {name: ev, key: item, event_time: ts, partitions: 1, fields: [{name: item, type: int64}, {name: ts, type: timestamp}, {name: t2, type: timestamp, nullable: true}]}
feature_views:
  - name: item
    entity: item
    features:
      - {name: N_1D, agg: count(), window: 1d}
pipelines:
  - name: item_features
    from: ev
    steps:
      - features: item
    sink: {stream: item_versions}
  - name: p
    from: ev
    steps:
      - lookup: {view: item, key: item, as_of_time: t2, as_of_lag_max: 1d}
    sink: {stream: out}
)";
  // One null as-of time, one after its event, one a year before it, one in bounds.
  BackfillOptions o = Options(Write("in.csv",
                                    "item,ts,t2\n"
                                    "1,2024-01-01T10:00:00Z,\n"
                                    "1,2024-01-02T01:00:00Z,2024-01-02T05:00:00Z\n"
                                    "1,2024-01-02T02:00:00Z,2023-01-01T00:00:00Z\n"
                                    "1,2024-01-02T03:00:00Z,2024-01-02T01:30:00Z\n"),
                              "out.csv");
  o.output_stream = "out";
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->rows_out, 1u);
  EXPECT_EQ(st->late_events, 3u);
  const std::map<std::string, uint64_t> want{
      {"p lookup#1 as_of_after_event", 1}, {"p lookup#1 as_of_too_old", 1}, {"p lookup#1 invalid", 1}};
  EXPECT_EQ(st->late_by_reason, want);
}

// A lookup of a list of keys (`keys:`), backfilled with no model repository: one row per distinct
// key of each event's list, with the view's values as of the event (here every item's count of
// events so far: all within the 1 d window); null or empty lists give no row; a bad list is
// refused and counted.
TEST_F(BackfillTest, ListLookupGivesEveryKeysValuesAsOfTheEvent) {
  std::ofstream(spec_) << R"(streams:
  - {name: ev, key: item, event_time: ts, partitions: 2, fields: [{name: item, type: int64}, {name: ts, type: timestamp}, {name: basket, type: string, nullable: true}]}
feature_views:
  - name: item
    entity: item
    features:
      - {name: N_1D, agg: count(), window: 1d}
pipelines:
  - name: item_features
    from: ev
    steps:
      - features: item
    sink: {stream: item_versions}
  - name: p
    from: ev
    steps:
      - lookup: {view: item, keys: basket, as_of: 0s, keys_max: 4}
    sink: {stream: out}
)";
  struct Ev {
    int64_t item, t_ms;
    std::vector<int64_t> basket;  // empty: "[]" or a null field
    bool null_basket = false;
  };
  std::mt19937_64 rng(7);
  std::vector<Ev> evs;
  std::string csv = "item,ts,basket\n";
  std::vector<std::string> ndjson;  // the same events, for the live engine
  for (int i = 0; i < 400; ++i) {
    Ev e{static_cast<int64_t>(rng() % 10) + 1, 1'704'067'200'000 + int64_t{i} * 17'000, {}};  // 2024-01-01, 17 s apart
    const int n = static_cast<int>(rng() % 5);  // 0..4 keys, items 1..12 (11, 12 have no events)
    for (int k = 0; k < n; ++k) e.basket.push_back(static_cast<int64_t>(rng() % 12) + 1);
    e.null_basket = n == 0 && i % 2 == 0;
    std::string list = "[";
    for (size_t k = 0; k < e.basket.size(); ++k) list += (k > 0 ? "," : "") + std::to_string(e.basket[k]);
    list += "]";
    csv += std::to_string(e.item) + ",";
    AppendTimestampIso(e.t_ms, &csv);
    csv += "," + (e.null_basket ? std::string() : "\"" + list + "\"") + "\n";
    std::string json = "{\"item\":" + std::to_string(e.item) + ",\"ts\":" + std::to_string(e.t_ms) +
                       ",\"basket\":" + (e.null_basket ? std::string("null") : "\"" + list + "\"") + "}\n";
    ndjson.push_back(std::move(json));
    evs.push_back(std::move(e));
  }
  csv += "1,2024-01-02T00:00:00Z,\"[1,2,3,4,5]\"\n";  // 5 distinct keys > keys_max: refused
  ndjson.push_back(R"({"item":1,"ts":"2024-01-02T00:00:00Z","basket":"[1,2,3,4,5]"})"
                   "\n");
  BackfillOptions o = Options(Write("in.csv", csv), "out.csv");
  o.output_stream = "out";
  std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, std::optional<int64_t>>> got;  // (t, key) -> (rank, N_1D)
  o.output_rows = [&](const Schema& schema, const RowBatch& rows) {
    EXPECT_EQ(schema.FieldIndex("key"), 3);
    EXPECT_EQ(schema.FieldIndex("item_N_1D"), 6);
    for (size_t r = 0; r < rows.size(); ++r) {
      const Value* v = rows.row(r);
      const auto at = std::pair{v[1].i64, v[3].i64};
      EXPECT_EQ(got.count(at), 0u) << "a key twice for one event";
      got[at] = {v[4].i64, v[6].null ? std::nullopt : std::optional<int64_t>(v[6].i64)};
    }
    return Status::OK();
  };
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->late_by_reason, (std::map<std::string, uint64_t>{{"p lookup#1 too_large", 1}}));
  // Brute force: per event, its distinct keys in list order, each with the events of that item so far.
  size_t want_rows = 0;
  for (const Ev& e : evs) {
    std::vector<int64_t> seen;
    for (int64_t k : e.basket) {
      if (std::find(seen.begin(), seen.end(), k) != seen.end()) continue;
      seen.push_back(k);
      int64_t n = 0;
      for (const Ev& f : evs) n += f.item == k && f.t_ms <= e.t_ms ? 1 : 0;
      auto it = got.find({e.t_ms, k});
      ASSERT_NE(it, got.end()) << "event at " << e.t_ms << ", key " << k;
      EXPECT_EQ(it->second.first, static_cast<int64_t>(seen.size())) << e.t_ms << " " << k;
      EXPECT_EQ(it->second.second, n == 0 ? std::nullopt : std::optional<int64_t>(n)) << e.t_ms << " " << k;
      ++want_rows;
    }
  }
  EXPECT_EQ(got.size(), want_rows);
  EXPECT_EQ(st->rows_out, want_rows);

  // A live engine on 2 shards, the same events in small batches in arrival order: the same rows.
  EngineOptions eo;
  eo.data_dir = (dir_ / "live").string();
  eo.shards = 2;
  eo.durability = Durability::kNone;
  eo.checkpoint_interval_ms = 200;
  auto engine = Engine::Open(spec_, eo);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  std::string body;
  auto send = [&] {
    while (true) {
      std::promise<Status> done;
      Status sent = (*engine)->Ingest("ev", body, 0, [&](Status s, IngestResult r) {
        done.set_value(r.rejected > 0 ? InvalidArgument(r.errors.empty() ? "rejected" : r.errors[0].reason) : s);
      });
      if (sent.code() == StatusCode::kUnavailable) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      ASSERT_TRUE(sent.ok()) << sent.ToString();
      const Status acked = done.get_future().get();
      ASSERT_TRUE(acked.ok()) << acked.ToString();
      break;
    }
    body.clear();
  };
  for (size_t i = 0; i < ndjson.size(); ++i) {
    body += ndjson[i];
    if (i % 25 == 24 || i + 1 == ndjson.size()) {
      ASSERT_NO_FATAL_FAILURE(send());
    }
  }
  ASSERT_TRUE((*engine)->EndOfInput("ev").ok());
  std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, std::optional<int64_t>>> live;
  std::map<int64_t, int64_t> live_place;  // per event (by time): the place of its last row read
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (live.size() < want_rows && std::chrono::steady_clock::now() < deadline) {
    (void)(*engine)->WaitForPipelines(1'000);
    live.clear();
    live_place.clear();
    for (uint32_t partition = 0; partition < 2; ++partition) {
      for (uint64_t from = 0;;) {
        Result<RowsRead> r = (*engine)->ReadRows("out", partition, from, Engine::kReadRowsMax);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        for (size_t i = 0; i < r->rows.size(); ++i) {
          const Value* v = r->rows.row(i);
          const auto [it, added] = live.try_emplace({v[1].i64, v[3].i64}, v[4].i64,
                                                    v[6].null ? std::nullopt : std::optional<int64_t>(v[6].i64));
          EXPECT_TRUE(added) << "a key twice for the event at " << v[1].i64;
          // An event's rows are read in list order: the next place after the previous row's.
          int64_t& last = live_place[v[1].i64];
          EXPECT_EQ(v[4].i64, last + 1) << "the rows of the event at " << v[1].i64 << " are not in list order";
          last = v[4].i64;
        }
        if (r->next_offset == r->end_offset) break;
        from = r->next_offset;
      }
    }
  }
  ASSERT_TRUE((*engine)->Stop().ok());
  EXPECT_EQ(live, got) << "live rows differ from the backfill's";
}

// The input is fed no further than `lead_ms` of event time ahead of the slowest pipeline: a
// lookup whose view is computed by another pipeline then holds a bounded number of waiting
// events. Fed all at once (lead 0), the lookup's task reads far ahead of the view's watermark,
// and this input had 6 000-18 000 events refused for rows_max (state_limit) in trial runs.
TEST_F(BackfillTest, PacedInputBoundsTheRowsWaitingForAView) {
  std::ofstream(spec_) << R"(streams:
  - {name: ev, key: item, event_time: ts, partitions: 2, fields: [{name: item, type: int64}, {name: ts, type: timestamp}]}
feature_views:
  - name: item
    entity: item
    features:
      - {name: N_1H, agg: count(), window: 1h}
pipelines:
  - name: item_features
    from: ev
    steps:
      - features: item
    sink: {stream: item_versions}
  - name: p
    from: ev
    steps:
      - lookup: {view: item, key: item, as_of: 0s, rows_max: 10000}
    sink: {stream: out}
)";
  constexpr int kEvents = 60'000;  // one a second; 30 000 per task, rows_max 10 000
  std::string csv = "item,ts\n";
  for (int i = 0; i < kEvents; ++i) csv += std::to_string(i % 50) + "," + SpaceDateTime(kStartMs + i * 1000) + "\n";
  BackfillOptions o = Options(Write("in.csv", csv), "out.csv");
  o.output_stream = "out";
  o.lead_ms = 600'000;
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->late_by_reason, (std::map<std::string, uint64_t>{}));
  EXPECT_EQ(st->rows_out, static_cast<uint64_t>(kEvents));
  EXPECT_GT(st->paced_seconds, 0.0);  // the input did wait
}

// A trigger's published stream is written by its pipeline: not an input stream (the spec's only
// input is then found without --into), and a backfill can write it out.
TEST_F(BackfillTest, TriggerPublishedStreamIsAnOutputNotAnInput) {
  std::ofstream(spec_) << R"(streams:
  - {name: ev, key: item, event_time: ts, partitions: 2, fields: [{name: item, type: int64}, {name: ts, type: timestamp}]}
pipelines:
  - name: a
    from: ev
    steps:
      - trigger: {name: big, when: "item > 1", publish: [{stream: big_items, fields: {item: item}}]}
    sink: {stream: a_out}
)";
  BackfillOptions o = Options(
      Write("in.csv", "item,ts\n1,2024-01-01T00:00:00Z\n2,2024-01-01T00:00:01Z\n3,2024-01-01T00:00:02Z\n"), "out.csv");
  o.output_stream = "big_items";
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->rows_out, 2u);
  o.input_stream = "big_items";
  o.output_stream = "a_out";
  ASSERT_CODE(RunBackfill(o), kInvalidArgument);
}

// A backfill replays history: a trigger's webhook is not called (its firings were acted on when
// they happened), the spec's only input is found despite the actions' dead-letter stream, and
// the firings are readable as the _outbox stream.
TEST_F(BackfillTest, TriggerActionsAreNotCalled) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 64), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::ofstream(spec_) << R"(streams:
  - {name: ev, key: item, event_time: ts, partitions: 1, fields: [{name: item, type: int64}, {name: ts, type: timestamp}]}
actions:
  - name: hook
    webhook: {url: "http://127.0.0.1:)"
                       << ntohs(addr.sin_port) << R"(/alerts", timeout: 2s, retries: 0}
pipelines:
  - name: a
    from: ev
    steps:
      - trigger: {name: big, when: "item > 1", call: [{action: hook, body: {item: item}}]}
    sink: {stream: a_out}
)";
  BackfillOptions o = Options(
      Write("in.csv", "item,ts\n1,2024-01-01T00:00:00Z\n2,2024-01-01T00:00:01Z\n3,2024-01-01T00:00:02Z\n"), "out.csv");
  o.output_stream = "_outbox";
  Result<BackfillStats> st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->rows_out, 2u);
  o.output_stream = "a_out";
  st = RunBackfill(o);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->rows_out, 3u);
  pollfd p{listener, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "the backfill connected to the webhook";
  ::close(listener);
  o.output_stream = "_action_dead_letter";
  ASSERT_CODE(RunBackfill(o), kInvalidArgument);
}

}  // namespace
}  // namespace impulse::features
