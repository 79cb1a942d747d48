// The commands that talk to a running engine (impulse ingest, tail, describe, status, top)
// against a real `impulse run` child process: their output and exit codes.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/engine_process.h"

namespace impulse::e2e {
namespace {

constexpr char kSpec[] = R"yaml(
streams:
  - name: orders
    fields:
      - {name: id, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: id
    event_time: ts
    partitions: 2
pipelines:
  - name: big
    from: orders
    steps:
      - filter: "amount > 100"
    sink: {stream: big_orders}
)yaml";

std::string OrderLine(int id, double amount) {
  return "{\"id\":" + std::to_string(id) + ",\"amount\":" + std::to_string(amount) +
         ",\"ts\":" + std::to_string(1'700'000'000'000LL + id) + "}";
}

class CliRemoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("cli-remote");
    ASSERT_FALSE(dir_.empty());
    std::ofstream(dir_ + "/spec.yaml") << kSpec;
    ASSERT_TRUE(engine_.Start(dir_ + "/spec.yaml", dir_ + "/data")) << engine_.startup_log();
    url_ = " --url http://127.0.0.1:" + std::to_string(engine_.port());
  }
  void TearDown() override {
    EXPECT_EQ(engine_.Signal(SIGTERM), 0) << engine_.tail();
    std::string ignored;
    RunCapture("rm -rf " + dir_, &ignored);
  }
  int Cli(const std::string& args, std::string* out) {
    out->clear();
    return RunCapture(ImpulseBinary() + " " + args + url_, out);
  }
  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
      if (!l.empty()) out.push_back(l);
    }
    return out;
  }

  std::string dir_;
  std::string url_;
  EngineProcess engine_;
};

TEST_F(CliRemoteTest, IngestTailDescribeStatusTop) {
  // NDJSON with a blank line and a bad line: the bad one is named by its file line.
  {
    std::ofstream f(dir_ + "/orders.ndjson");
    f << OrderLine(1, 50) << "\n"
      << OrderLine(2, 150) << "\n\n{\"id\":3,\"amount\":\"lots\",\"ts\":1}\n"
      << OrderLine(4, 500) << "\n";
  }
  std::string out;
  EXPECT_EQ(Cli("ingest orders " + dir_ + "/orders.ndjson --batch 2", &out), 1) << out;
  EXPECT_NE(out.find("orders.ndjson:line 4: field amount"), std::string::npos) << out;
  EXPECT_NE(out.find("orders: accepted 3, rejected 1"), std::string::npos) << out;

  // CSV, typed with the stream's schema from the engine.
  {
    std::ofstream f(dir_ + "/orders.csv");
    f << "id,amount,ts\n5,700.5,1700000000005\n6,20,1700000000006\n";
  }
  EXPECT_EQ(Cli("ingest orders " + dir_ + "/orders.csv", &out), 0) << out;
  EXPECT_NE(out.find("orders: accepted 2, rejected 0"), std::string::npos) << out;

  // tail: every event of every partition, each once, then exit (caught up).
  EXPECT_EQ(Cli("tail orders --limit 2", &out), 0) << out;
  std::set<std::string> ids;
  for (const std::string& l : Lines(out)) ids.insert(JsonField(l, "id"));
  EXPECT_EQ(ids, (std::set<std::string>{"1", "2", "4", "5", "6"})) << out;
  EXPECT_EQ(Lines(out).size(), 5u) << out;

  // tail --follow from the end prints what arrives after it started.
  const std::string followed = dir_ + "/followed.txt";
  std::string ignored;
  RunCapture("(timeout 20 " + ImpulseBinary() + " tail orders --follow" + url_ + " > " + followed +
                 " 2>&1 & echo $! > " + dir_ + "/tail.pid)",
             &ignored);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  {
    std::ofstream f(dir_ + "/late.ndjson");
    f << OrderLine(77, 1000) << "\n";
  }
  EXPECT_EQ(Cli("ingest orders " + dir_ + "/late.ndjson", &out), 0) << out;
  std::string got;
  for (int i = 0; i < 100 && got.find("\"id\":77") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(followed);
    got.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_NE(got.find("\"id\":77"), std::string::npos) << got;
  EXPECT_EQ(got.find("\"id\":1,"), std::string::npos) << "--follow starts at the end: " << got;
  RunCapture("kill $(cat " + dir_ + "/tail.pid)", &ignored);  // the timeout process, which ends the tail

  // One partition, from an offset.
  EXPECT_EQ(Cli("tail orders --partition 0 --from 0", &out), 0) << out;
  for (const std::string& l : Lines(out)) EXPECT_EQ(JsonField(l, "_partition"), "0") << l;

  EXPECT_EQ(Cli("describe orders", &out), 0) << out;
  EXPECT_NE(out.find("stream orders (ingest"), std::string::npos) << out;
  EXPECT_NE(out.find("amount"), std::string::npos) << out;
  EXPECT_NE(out.find("partitions: 2, records 6"), std::string::npos) << out;
  EXPECT_NE(out.find("read by: big"), std::string::npos) << out;
  EXPECT_NE(out.find("rejected lines since start: 1"), std::string::npos) << out;
  EXPECT_EQ(Cli("describe ordres", &out), 1) << out;
  EXPECT_NE(out.find("did you mean 'orders'"), std::string::npos) << out;

  // status: the pipeline with its lag once it caught up.
  bool caught_up = false;
  for (int i = 0; i < 100 && !caught_up; ++i) {
    EXPECT_EQ(Cli("status --json", &out), 0) << out;
    caught_up = out.find("\"name\":\"big\"") != std::string::npos && JsonField(out, "lag") == "0" &&
                JsonField(out, "events_in") == "6";
    if (!caught_up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(caught_up) << out;
  EXPECT_EQ(Cli("status", &out), 0) << out;
  EXPECT_NE(out.find("PIPELINE"), std::string::npos) << out;
  EXPECT_NE(out.find("orders -> big_orders"), std::string::npos) << out;
  EXPECT_NE(out.find("checkpoints: "), std::string::npos) << out;
  // top on a pipe: one snapshot, no escape sequences, exit 0.
  EXPECT_EQ(Cli("top", &out), 0) << out;
  EXPECT_NE(out.find("orders -> big_orders"), std::string::npos) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
  // Per-stage latency percentiles: the ingests above were made durable, so that stage has
  // observations and a p50 and p99 (a checkpoint_pause with none shows '-').
  bool stage_found = false;
  for (const std::string& l : Lines(out)) {
    if (!l.starts_with("ingest_to_durable ")) continue;
    stage_found = true;
    std::istringstream row(l);
    std::string stage, count, p50, p50_unit, p99, p99_unit;
    row >> stage >> count >> p50 >> p50_unit >> p99 >> p99_unit;
    EXPECT_GE(std::stoll(count), 3) << l;  // three ingest requests at least
    EXPECT_GT(std::stod(p50), 0) << l;
    EXPECT_TRUE(p50_unit == "us" || p50_unit == "ms" || p50_unit == "s") << l;
    EXPECT_GT(std::stod(p99), 0) << l;
  }
  EXPECT_TRUE(stage_found) << out;
  EXPECT_NE(out.find("STAGE"), std::string::npos) << out;
  // The engine's CPU (a total on a single snapshot) and resident memory.
  const size_t engine = out.find("engine: cpu ");
  ASSERT_NE(engine, std::string::npos) << out;
  EXPECT_NE(out.find(" s since start, resident memory ", engine), std::string::npos) << out;
  const std::string rss = out.substr(engine, out.find('\n', engine) - engine);
  EXPECT_TRUE(rss.ends_with(" MiB") || rss.ends_with(" GiB")) << rss;

  // The pipeline's output, read back by tail: the orders over 100.
  EXPECT_EQ(Cli("tail big_orders", &out), 0) << out;
  ids.clear();
  for (const std::string& l : Lines(out)) ids.insert(JsonField(l, "id"));
  EXPECT_EQ(ids, (std::set<std::string>{"2", "4", "5", "77"})) << out;
}

// CSV as spreadsheets write it (BOM, CRLF, upper-case extension or another one with --format
// csv, extra columns), and a cell that tries to smuggle JSON into a number column.
TEST_F(CliRemoteTest, IngestCsvFormatsAndHeaderOptions) {
  std::string out;
  std::ofstream(dir_ + "/a.CSV", std::ios::binary) << "\xEF\xBB\xBFID,Amount,ts\r\n11,1.5,1700000000011\r\n";
  EXPECT_EQ(Cli("ingest orders " + dir_ + "/a.CSV", &out), 0) << out;
  EXPECT_NE(out.find("orders: accepted 1, rejected 0"), std::string::npos) << out;
  std::ofstream(dir_ + "/b.txt") << "id,amount,ts\n12,2.5,1700000000012\n";
  EXPECT_EQ(Cli("ingest orders " + dir_ + "/b.txt --format csv", &out), 0) << out;
  EXPECT_NE(out.find("orders: accepted 1, rejected 0"), std::string::npos) << out;
  std::ofstream(dir_ + "/c.csv") << "order,amount,ts,note\n13,3.5,1700000000013,x\n";
  EXPECT_EQ(Cli("ingest orders " + dir_ + "/c.csv", &out), 1) << out;
  EXPECT_NE(out.find("'order'"), std::string::npos) << out;
  EXPECT_EQ(Cli("ingest orders " + dir_ + "/c.csv --column order=id --ignore-unknown-columns", &out), 0) << out;
  EXPECT_NE(out.find("orders: accepted 1, rejected 0"), std::string::npos) << out;
  // One data row must not become two events.
  std::ofstream(dir_ + "/d.csv")
      << "id,amount,ts\n14,\"1,\"\"ts\"\":1}\n{\"\"id\"\":99,\"\"amount\"\":9\",1700000000014\n";
  EXPECT_EQ(Cli("ingest orders " + dir_ + "/d.csv", &out), 1) << out;
  EXPECT_NE(out.find("field amount"), std::string::npos) << out;
  EXPECT_EQ(Cli("tail orders", &out), 0) << out;
  std::set<std::string> ids;
  for (const std::string& l : Lines(out)) ids.insert(JsonField(l, "id"));
  EXPECT_EQ(ids, (std::set<std::string>{"11", "12", "13"})) << out;
}

TEST_F(CliRemoteTest, BadInputIsAnErrorNamingIt) {
  std::string out;
  EXPECT_EQ(Cli("tail nope", &out), 1) << out;
  EXPECT_NE(out.find("unknown stream 'nope'"), std::string::npos) << out;
  EXPECT_EQ(Cli("tail orders --from 1,2,3", &out), 1) << out;
  EXPECT_NE(out.find("'cursor' has more than 2 offsets"), std::string::npos) << out;
  // Values that used to be taken silently: a negative offset or partition, another query
  // parameter smuggled in through --from.
  EXPECT_EQ(Cli("tail orders --partition 0 --from -5", &out), 2) << out;
  EXPECT_NE(out.find("--from '-5'"), std::string::npos) << out;
  EXPECT_EQ(Cli("tail orders --partition -2", &out), 2) << out;
  EXPECT_NE(out.find("--partition"), std::string::npos) << out;
  EXPECT_EQ(Cli("tail orders --from '0,0&wait_ms=1'", &out), 2) << out;
  EXPECT_NE(out.find("--from '0,0&wait_ms=1'"), std::string::npos) << out;
  {
    std::ofstream f(dir_ + "/bad.csv");
    f << "id,amount,color\n1,2,red\n";
  }
  EXPECT_EQ(Cli("ingest orders " + dir_ + "/bad.csv", &out), 1) << out;
  EXPECT_NE(out.find("color"), std::string::npos) << out;
  // A directory opens but cannot be read: an error, not "accepted 0".
  EXPECT_EQ(Cli("ingest orders " + dir_, &out), 1) << out;
  EXPECT_NE(out.find("cannot read"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunCapture(ImpulseBinary() + " status --url http://127.0.0.1:1", &out), 1) << out;
  EXPECT_NE(out.find("cannot connect to http://127.0.0.1:1"), std::string::npos) << out;
}

// Offline reset: refused while the engine runs and without confirmation; then the pipeline
// processes its input again at the next start (its outputs written a second time, as the
// command says), or, reset to the end, processes nothing old.
TEST_F(CliRemoteTest, ResetPipelineOffline) {
  {
    std::ofstream f(dir_ + "/orders.ndjson");
    f << OrderLine(1, 150) << "\n" << OrderLine(2, 50) << "\n" << OrderLine(3, 300) << "\n";
  }
  std::string out;
  ASSERT_EQ(Cli("ingest orders " + dir_ + "/orders.ndjson", &out), 0) << out;
  const auto big_ids = [&] {
    std::string t;
    EXPECT_EQ(Cli("tail big_orders", &t), 0) << t;
    std::multiset<std::string> ids;
    for (const std::string& l : Lines(t)) ids.insert(JsonField(l, "id"));
    return ids;
  };
  std::multiset<std::string> ids;
  for (int i = 0; i < 100 && ids.size() < 2; ++i) {
    ids = big_ids();
    if (ids.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(ids, (std::multiset<std::string>{"1", "3"}));

  const std::string reset = ImpulseBinary() + " reset big --spec " + dir_ + "/spec.yaml --data-dir " + dir_ + "/data";
  out.clear();
  EXPECT_EQ(RunCapture(reset + " --yes", &out), 1) << out;  // the engine holds the directory
  EXPECT_NE(out.find("is in use by another process"), std::string::npos) << out;
  ASSERT_EQ(engine_.Signal(SIGTERM), 0) << engine_.tail();  // a final checkpoint

  out.clear();
  EXPECT_EQ(RunCapture(reset + " < /dev/null", &out), 2) << out;  // no terminal, no --yes: nothing done
  EXPECT_NE(out.find("pass --yes"), std::string::npos) << out;
  EXPECT_NE(out.find("written again after those already in big_orders"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunCapture(ImpulseBinary() + " reset bigg --spec " + dir_ + "/spec.yaml --data-dir " + dir_ + "/data --yes",
                       &out),
            1);
  EXPECT_NE(out.find("did you mean 'big'"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(RunCapture(reset + " --yes", &out), 0) << out;
  EXPECT_NE(out.find("done: checkpoint"), std::string::npos) << out;

  // Restarted: the retained input is processed again, the outputs appended a second time.
  ASSERT_TRUE(engine_.Start(dir_ + "/spec.yaml", dir_ + "/data")) << engine_.startup_log();
  url_ = " --url http://127.0.0.1:" + std::to_string(engine_.port());
  for (int i = 0; i < 100 && ids.size() < 4; ++i) {
    ids = big_ids();
    if (ids.size() < 4) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ids, (std::multiset<std::string>{"1", "1", "3", "3"}));

  // Reset to the end: nothing old is processed again.
  ASSERT_EQ(engine_.Signal(SIGTERM), 0) << engine_.tail();
  out.clear();
  ASSERT_EQ(RunCapture(reset + " --to end --yes", &out), 0) << out;
  EXPECT_NE(out.find("not processed yet is skipped"), std::string::npos) << out;
  ASSERT_TRUE(engine_.Start(dir_ + "/spec.yaml", dir_ + "/data")) << engine_.startup_log();
  url_ = " --url http://127.0.0.1:" + std::to_string(engine_.port());
  {
    std::ofstream f(dir_ + "/more.ndjson");
    f << OrderLine(4, 400) << "\n";
  }
  ASSERT_EQ(Cli("ingest orders " + dir_ + "/more.ndjson", &out), 0) << out;
  for (int i = 0; i < 100 && ids.size() < 5; ++i) {
    ids = big_ids();
    if (ids.size() < 5) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ids, (std::multiset<std::string>{"1", "1", "3", "3", "4"}));
}

// Online reset (--url): the same confirmation rules as offline, a misspelt name named, then the
// running engine processes the retained input again; the reset is durable: after a kill -9 the
// restarted engine neither brings the old positions back (the outputs would stay at 2) nor
// processes the input a third time. Then --to end skips what is there.
TEST_F(CliRemoteTest, ResetPipelineOnlineSurvivesKillNine) {
  {
    std::ofstream f(dir_ + "/orders.ndjson");
    f << OrderLine(1, 150) << "\n" << OrderLine(2, 50) << "\n" << OrderLine(3, 300) << "\n";
  }
  std::string out;
  ASSERT_EQ(Cli("ingest orders " + dir_ + "/orders.ndjson", &out), 0) << out;
  const auto big_ids = [&] {
    std::string t;
    EXPECT_EQ(Cli("tail big_orders", &t), 0) << t;
    std::multiset<std::string> ids;
    for (const std::string& l : Lines(t)) ids.insert(JsonField(l, "id"));
    return ids;
  };
  const auto wait_ids = [&](size_t n) {
    std::multiset<std::string> ids;
    for (int i = 0; i < 100 && ids.size() < n; ++i) {
      ids = big_ids();
      if (ids.size() < n) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return ids;
  };
  ASSERT_EQ(wait_ids(2), (std::multiset<std::string>{"1", "3"}));

  EXPECT_EQ(Cli("reset big < /dev/null", &out), 2) << out;  // no terminal, no --yes: nothing done
  EXPECT_NE(out.find("pass --yes"), std::string::npos) << out;
  EXPECT_NE(out.find("written again after those already in big_orders"), std::string::npos) << out;
  EXPECT_EQ(Cli("reset bigg --yes", &out), 1) << out;
  EXPECT_NE(out.find("did you mean 'big'"), std::string::npos) << out;
  EXPECT_EQ(Cli("reset big --to middle --yes", &out), 2) << out;
  EXPECT_EQ(Cli("reset big --data-dir " + dir_ + "/data --yes", &out), 2) << out;
  ASSERT_EQ(Cli("reset big --yes", &out), 0) << out;
  EXPECT_NE(out.find("done: pipeline big reset to beginning (checkpoint"), std::string::npos) << out;
  EXPECT_NE(out.find("orders partition 0: offset "), std::string::npos) << out;
  EXPECT_EQ(wait_ids(4), (std::multiset<std::string>{"1", "1", "3", "3"}));

  engine_.Kill();
  ASSERT_TRUE(engine_.Start(dir_ + "/spec.yaml", dir_ + "/data")) << engine_.startup_log();
  url_ = " --url http://127.0.0.1:" + std::to_string(engine_.port());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a replay would have begun
  EXPECT_EQ(wait_ids(4), (std::multiset<std::string>{"1", "1", "3", "3"}));

  ASSERT_EQ(Cli("reset big --to end --yes", &out), 0) << out;
  EXPECT_NE(out.find("not processed yet is skipped"), std::string::npos) << out;
  {
    std::ofstream f(dir_ + "/more.ndjson");
    f << OrderLine(4, 400) << "\n";
  }
  ASSERT_EQ(Cli("ingest orders " + dir_ + "/more.ndjson", &out), 0) << out;
  EXPECT_EQ(wait_ids(5), (std::multiset<std::string>{"1", "1", "3", "3", "4"}));
}

// Offline delete: refused while the engine runs, without confirmation, for a misspelt or an
// internal stream; then the declared stream comes back empty (offsets go on) and its pipeline,
// reset to the beginning before, skips the deleted input (counted) instead of processing it
// again; a stream the spec no longer declares is removed with its directory.
TEST_F(CliRemoteTest, DeleteStreamOffline) {
  {
    std::ofstream f(dir_ + "/orders.ndjson");
    f << OrderLine(1, 150) << "\n" << OrderLine(2, 50) << "\n" << OrderLine(3, 300) << "\n";
  }
  std::string out;
  ASSERT_EQ(Cli("ingest orders " + dir_ + "/orders.ndjson", &out), 0) << out;
  const auto ids_of = [&](const std::string& stream) {
    std::string t;
    EXPECT_EQ(Cli("tail " + stream, &t), 0) << t;
    std::multiset<std::string> ids;
    for (const std::string& l : Lines(t)) ids.insert(JsonField(l, "id"));
    return ids;
  };
  std::multiset<std::string> ids;
  for (int i = 0; i < 100 && ids.size() < 2; ++i) {
    ids = ids_of("big_orders");
    if (ids.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(ids, (std::multiset<std::string>{"1", "3"}));

  const std::string data = dir_ + "/data";
  const std::string del = ImpulseBinary() + " delete orders --spec " + dir_ + "/spec.yaml --data-dir " + data;
  EXPECT_EQ(RunCapture(del + " --yes", &out), 1) << out;  // the engine holds the directory
  EXPECT_NE(out.find("is in use by another process"), std::string::npos) << out;
  ASSERT_EQ(engine_.Signal(SIGTERM), 0) << engine_.tail();
  out.clear();
  ASSERT_EQ(
      RunCapture(ImpulseBinary() + " reset big --spec " + dir_ + "/spec.yaml --data-dir " + data + " --yes", &out), 0)
      << out;
  // A stream an older spec declared: a copy of orders under another name.
  std::string ignored;
  ASSERT_EQ(RunCapture("cp -r " + data + "/streams/orders " + data + "/streams/old_orders", &ignored), 0);

  out.clear();
  EXPECT_EQ(RunCapture(del + " < /dev/null", &out), 2) << out;  // no terminal, no --yes: nothing done
  EXPECT_NE(out.find("pass --yes"), std::string::npos) << out;
  EXPECT_NE(out.find("2 partitions, 3 records"), std::string::npos) << out;
  EXPECT_NE(out.find("pipeline big reads it"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunCapture(ImpulseBinary() + " delete ordrs --data-dir " + data + " --yes", &out), 1) << out;
  EXPECT_NE(out.find("did you mean 'orders'"), std::string::npos) << out;
  // A name that is a path: ".." is DATA itself and "orders/0" a partition, neither declared, so
  // the undeclared form would remove them whole.
  for (const std::string name : {"..", ".", "orders/0", "../data"}) {
    out.clear();
    EXPECT_EQ(
        RunCapture(ImpulseBinary() + " delete " + name + " --spec " + dir_ + "/spec.yaml --data-dir " + data + " --yes",
                   &out),
        2)
        << name << ": " << out;
    EXPECT_NE(out.find("is not a stream name"), std::string::npos) << name << ": " << out;
    EXPECT_EQ(RunCapture("test -d " + data + "/streams/orders/0", &ignored), 0) << name << " removed data";
  }
  out.clear();
  EXPECT_EQ(RunCapture(ImpulseBinary() + " delete _dead_letter --data-dir " + data + " --yes", &out), 2) << out;
  EXPECT_NE(out.find("pass --internal"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(RunCapture(del + " --yes", &out), 0) << out;
  EXPECT_NE(out.find("done: stream orders is empty"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(
      RunCapture(ImpulseBinary() + " delete old_orders --spec " + dir_ + "/spec.yaml --data-dir " + data + " --yes",
                 &out),
      0)
      << out;
  EXPECT_NE(out.find("does not declare it"), std::string::npos) << out;
  EXPECT_NE(RunCapture("test -e " + data + "/streams/old_orders", &ignored), 0) << "not removed";

  // Restarted: orders is empty, its offsets go on; big skipped the 3 deleted events (its reset
  // cursor was below the new start) and processes the new one only.
  ASSERT_TRUE(engine_.Start(dir_ + "/spec.yaml", data)) << engine_.startup_log();
  url_ = " --url http://127.0.0.1:" + std::to_string(engine_.port());
  EXPECT_TRUE(ids_of("orders").empty());
  {
    std::ofstream f(dir_ + "/more.ndjson");
    f << OrderLine(4, 400) << "\n";
  }
  ASSERT_EQ(Cli("ingest orders " + dir_ + "/more.ndjson", &out), 0) << out;
  for (int i = 0; i < 100 && ids.size() < 3; ++i) {
    ids = ids_of("big_orders");
    if (ids.size() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ids, (std::multiset<std::string>{"1", "3", "4"}));
  EXPECT_EQ(ids_of("orders"), (std::multiset<std::string>{"4"}));
  const std::string lines = MetricLines(engine_.port(), "impulse_errors_total");
  EXPECT_NE(lines.find("kind=\"retention_skipped_events\"} 3"), std::string::npos) << lines;
}

// Online delete through DELETE /v1/streams/{s}/records: asks first, refuses a misspelt name,
// and below the end deletes every record (its active segment sealed first).
TEST_F(CliRemoteTest, DeleteRecordsOnline) {
  {
    std::ofstream f(dir_ + "/orders.ndjson");
    f << OrderLine(1, 150) << "\n" << OrderLine(2, 50) << "\n" << OrderLine(3, 300) << "\n";
  }
  std::string out;
  ASSERT_EQ(Cli("ingest orders " + dir_ + "/orders.ndjson", &out), 0) << out;
  EXPECT_EQ(Cli("delete orders --records-before 100 < /dev/null", &out), 2) << out;
  EXPECT_NE(out.find("pass --yes"), std::string::npos) << out;
  EXPECT_NE(out.find("in all: up to 3 records"), std::string::npos) << out;
  EXPECT_EQ(Cli("delete ordrs --records-before 100 --yes", &out), 1) << out;
  EXPECT_NE(out.find("did you mean 'orders'"), std::string::npos) << out;
  EXPECT_EQ(Cli("delete orders --records-before 100 --data-dir x --yes", &out), 2) << out;
  ASSERT_EQ(Cli("delete orders --records-before 100 --yes", &out), 0) << out;
  EXPECT_NE(out.find("done: 3 records deleted"), std::string::npos) << out;
  EXPECT_EQ(Cli("tail orders", &out), 0) << out;
  EXPECT_TRUE(Lines(out).empty()) << out;
}

// Reset computes the positions it writes from the spec it is given: one that is not the
// directory's (here the pipeline reads another stream) would move the cursors of the pipeline
// as the directory knows it to offsets of another stream (--to end would then process old input
// again). Refused naming the difference, with nothing written.
TEST_F(CliRemoteTest, ResetRefusesASpecThatIsNotTheDirectorys) {
  std::string out;
  {
    std::ofstream f(dir_ + "/orders.ndjson");
    f << OrderLine(1, 150) << "\n" << OrderLine(3, 300) << "\n";
  }
  ASSERT_EQ(Cli("ingest orders " + dir_ + "/orders.ndjson", &out), 0) << out;
  ASSERT_EQ(engine_.Signal(SIGTERM), 0) << engine_.tail();  // a final checkpoint
  std::string other = kSpec;
  other.replace(other.find("- name: orders"), 14, "- name: refunds");
  other.replace(other.find("from: orders"), 12, "from: refunds");
  std::ofstream(dir_ + "/other.yaml") << other;
  std::string before;
  ASSERT_EQ(RunCapture("ls " + dir_ + "/data/checkpoints", &before), 0);
  out.clear();
  EXPECT_EQ(RunCapture(ImpulseBinary() + " reset big --spec " + dir_ + "/other.yaml --data-dir " + dir_ +
                           "/data --to end --yes",
                       &out),
            1)
      << out;
  EXPECT_NE(out.find("created with another spec"), std::string::npos) << out;
  EXPECT_NE(out.find("stream refunds added"), std::string::npos) << out;
  std::string after;
  ASSERT_EQ(RunCapture("ls " + dir_ + "/data/checkpoints", &after), 0);
  EXPECT_EQ(after, before);  // no checkpoint written
  std::string ignored;
  EXPECT_NE(RunCapture("test -e " + dir_ + "/data/streams/refunds", &ignored), 0) << "reset created a stream";
  ASSERT_TRUE(engine_.Start(dir_ + "/spec.yaml", dir_ + "/data")) << engine_.startup_log();
}

// Offline reset of a pipeline with a broadcast lookup: each task's position in each partition of
// the view's stream is moved (cursor/<pipeline>/1/<q>/<task>, as the shards name them), not a
// per-partition name no task reads (the old positions would stay with an emptied table).
TEST_F(CliRemoteTest, ResetPipelineOfflineMovesEveryBroadcastPosition) {
  ASSERT_EQ(engine_.Signal(SIGTERM), 0) << engine_.tail();
  std::ofstream(dir_ + "/broadcast.yaml") << R"yaml(
streams:
  - name: items
    fields:
      - {name: item, type: int64}
      - {name: price, type: int64}
      - {name: ts, type: timestamp}
    key: item
    event_time: ts
    partitions: 3
  - name: clicks
    fields:
      - {name: user, type: int64}
      - {name: item, type: int64}
      - {name: ts, type: timestamp}
    key: user
    event_time: ts
    partitions: 2
feature_views:
  - name: item
    entity: item
    features:
      - {name: last_price, previous: price}
pipelines:
  - name: item_features
    from: items
    steps:
      - features: item
    sink: {stream: item_versions}
  - name: with_item
    from: clicks
    steps:
      - lookup: {view: item, key: item, as_of: 0s, broadcast: true}
    sink: {stream: clicks_with_item}
)yaml";
  const std::string spec = dir_ + "/broadcast.yaml", data = dir_ + "/bdata";
  ASSERT_TRUE(engine_.Start(spec, data)) << engine_.startup_log();
  url_ = " --url http://127.0.0.1:" + std::to_string(engine_.port());
  {
    std::ofstream f(dir_ + "/items.ndjson");
    for (int i = 0; i < 12; ++i)
      f << "{\"item\":" << i << ",\"price\":" << 10 * i << ",\"ts\":" << 1'700'000'000'000 + i << "}\n";
  }
  std::string out;
  ASSERT_EQ(Cli("ingest items " + dir_ + "/items.ndjson", &out), 0) << out;
  ASSERT_EQ(engine_.Signal(SIGTERM), 0) << engine_.tail();  // a final checkpoint
  out.clear();
  ASSERT_EQ(RunCapture(ImpulseBinary() + " reset with_item --spec " + spec + " --data-dir " + data + " --yes", &out), 0)
      << out;
  const size_t at = out.find("done: checkpoint ");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string id = out.substr(at + 17, out.find(';', at) - at - 17);
  std::ifstream in(data + "/checkpoints/" + id + "/MANIFEST");
  std::stringstream manifest;
  manifest << in.rdbuf();
  ASSERT_FALSE(manifest.str().empty()) << data + "/checkpoints/" + id;
  for (int q = 0; q < 3; ++q) {
    for (int t = 0; t < 2; ++t) {
      const std::string name = "position cursor/with_item/1/" + std::to_string(q) + "/" + std::to_string(t) + " 0\n";
      EXPECT_NE(manifest.str().find(name), std::string::npos) << name << " not in\n" << manifest.str();
    }
    const std::string unread = "position cursor/with_item/1/" + std::to_string(q) + " ";
    EXPECT_EQ(manifest.str().find(unread), std::string::npos) << manifest.str();
  }
  ASSERT_TRUE(engine_.Start(dir_ + "/spec.yaml", dir_ + "/data")) << engine_.startup_log();
}

// `impulse demo` empties its --data-dir at start: refused on a running engine's directory,
// which stays as it was.
TEST_F(CliRemoteTest, DemoRefusesARunningEnginesDataDir) {
  std::string out;
  std::ofstream(dir_ + "/data/streams/orders/marker") << "the engine's files";
  EXPECT_EQ(
      RunCapture(ImpulseBinary() + " demo " + dir_ + "/spec.yaml --events 10 --quiet --data-dir " + dir_ + "/data",
                 &out),
      1)
      << out;
  EXPECT_NE(out.find("is in use by another process"), std::string::npos) << out;
  std::string ignored;
  EXPECT_EQ(RunCapture("test -f " + dir_ + "/data/streams/orders/marker", &ignored), 0)
      << "the engine's directory was emptied";
  EXPECT_EQ(Cli("status", &out), 0) << out;
}

}  // namespace
}  // namespace impulse::e2e
