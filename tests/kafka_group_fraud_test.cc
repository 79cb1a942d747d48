// The fraud example (examples/fraud/score.yaml, unchanged but for its kafka section) as a group of
// three instances on librdkafka's mock cluster, hosted by this test process. Its two key_by hops
// (customer -> terminal -> customer) cross instances through the repartition topics. One
// instance is killed with -9 mid-stream, one leaves gracefully and another joins, while the
// simulated transactions keep arriving. At the end every transaction has exactly one decision
// in the exactly-once sink topic, and every column of it (the features of both views, both
// models' scores) equals a single-instance `impulse backfill` of the same input, exactly.
//
// Why exact: the customer view computes on arrival over one customer's transactions, whose
// order the partitioning keeps (all of a customer's in one partition, in file order); the
// terminal view's windows are all delayed 7 days, so it holds each event until the watermark
// has passed its windows and they are complete whatever the arrival order across partitions.
//
// As in tests/kafka_group_test.cc, the mock cluster writes no transaction markers, so this test
// cannot show an aborted transaction being skipped (docs/SCALE_OUT.md, "Guarantees").
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "connect/kafka_mock.h"
#include "tests/engine_process.h"

namespace impulse {
namespace {

constexpr int kPartitions = 3;  // every topic, so each instance runs at most one partition of 3

// A flat JSON object's fields: null, bool, int64, double or string.
using Value = std::variant<std::monostate, bool, int64_t, double, std::string>;
using Fields = std::map<std::string, Value>;

bool Parse(const std::string& line, Fields* out) {
  static simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(line).get(obj) != simdjson::SUCCESS) return false;
  out->clear();
  for (auto [key, v] : obj) {
    Value& value = (*out)[std::string(key)];
    switch (v.type()) {
      case simdjson::dom::element_type::INT64: value = int64_t(v); break;
      case simdjson::dom::element_type::UINT64: value = static_cast<double>(uint64_t(v)); break;
      case simdjson::dom::element_type::DOUBLE: value = double(v); break;
      case simdjson::dom::element_type::STRING: value = std::string(std::string_view(v)); break;
      case simdjson::dom::element_type::BOOL: value = bool(v); break;
      case simdjson::dom::element_type::NULL_VALUE: value = std::monostate{}; break;
      default: return false;  // nested: not a row of tx_scored
    }
  }
  return true;
}

std::string Text(const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return "null";
  if (const bool* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const int64_t* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const double* d = std::get_if<double>(&v)) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.17g", *d);
    return buf;
  }
  return "\"" + std::get<std::string>(v) + "\"";
}

// Numbers compare as doubles with ==: both sides come from the same engine code over the same
// events in the same per-entity order, so any difference, however small, is a real one.
bool Same(const Value& a, const Value& b) {
  const bool an = std::holds_alternative<int64_t>(a) || std::holds_alternative<double>(a);
  const bool bn = std::holds_alternative<int64_t>(b) || std::holds_alternative<double>(b);
  if (!an || !bn) return a == b;
  if (std::holds_alternative<int64_t>(a) && std::holds_alternative<int64_t>(b)) return a == b;
  auto d = [](const Value& v) {
    return std::holds_alternative<double>(v) ? std::get<double>(v) : static_cast<double>(std::get<int64_t>(v));
  };
  return d(a) == d(b);
}

int64_t Id(const Fields& row) {
  auto it = row.find("transaction_id");
  return it != row.end() && std::holds_alternative<int64_t>(it->second) ? std::get<int64_t>(it->second) : -1;
}

// The sink's decisions against the reference rows, by transaction_id.
struct Verdict {
  std::vector<int64_t> missing;          // reference transactions without a decision
  std::map<int64_t, int> repeated;       // transactions with more than one decision
  size_t foreign = 0;                    // decisions of no reference transaction
  size_t rows_differing = 0;             // decisions with a column unlike the reference's
  std::vector<std::string> differences;  // the first few, "transaction N column C: want W got G"

  bool ok() const { return missing.empty() && repeated.empty() && foreign == 0 && rows_differing == 0; }
  std::string Describe() const {
    std::string s = std::to_string(missing.size()) + " missing, " + std::to_string(repeated.size()) + " repeated, " +
                    std::to_string(foreign) + " foreign, " + std::to_string(rows_differing) + " differing";
    for (size_t i = 0; i < missing.size() && i < 5; ++i) s += "\n  missing transaction " + std::to_string(missing[i]);
    int shown = 0;
    for (const auto& [id, n] : repeated) {
      if (++shown > 5) break;
      s += "\n  transaction " + std::to_string(id) + " has " + std::to_string(n) + " decisions";
    }
    for (const std::string& d : differences) s += "\n  " + d;
    return s;
  }
};

Verdict Compare(const std::map<int64_t, Fields>& reference, const std::vector<Fields>& sink) {
  Verdict v;
  std::map<int64_t, int> seen;
  for (const Fields& row : sink) {
    const int64_t id = Id(row);
    auto ref = reference.find(id);
    if (ref == reference.end()) {
      ++v.foreign;
      continue;
    }
    ++seen[id];
    bool differs = false;
    auto note = [&](const std::string& column, const std::string& want, const std::string& got) {
      differs = true;
      if (v.differences.size() < 10) {
        v.differences.push_back("transaction " + std::to_string(id) + " column " + column + ": want " + want + " got " +
                                got);
      }
    };
    for (const auto& [column, want] : ref->second) {
      auto got = row.find(column);
      if (got == row.end()) {
        note(column, Text(want), "(absent)");
      } else if (!Same(want, got->second)) {
        note(column, Text(want), Text(got->second));
      }
    }
    for (const auto& [column, got] : row) {
      if (ref->second.count(column) == 0) note(column, "(absent)", Text(got));
    }
    v.rows_differing += differs ? 1 : 0;
  }
  for (const auto& [id, row] : reference) {
    auto it = seen.find(id);
    if (it == seen.end()) {
      v.missing.push_back(id);
    } else if (it->second > 1) {
      v.repeated[id] = it->second;
    }
  }
  return v;
}

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Waits until an instance runs a partition of the group (impulse_group_members >= 1).
bool RunsAPartition(const e2e::EngineProcess& instance, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  do {
    const std::string line = e2e::MetricLines(instance.port(), "impulse_group_members ");
    if (!line.empty() && std::atof(line.c_str() + line.find(' ') + 1) >= 1) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

int Run(const std::string& cmd) { return std::system(cmd.c_str()); }  // NOLINT(cert-env33-c): test tool

// Simulated transactions (NDJSON, in time order) and their single-instance scoring by backfill.
bool MakeInputAndReference(const std::string& dir, const std::string& simulation, std::vector<std::string>* input,
                           std::map<int64_t, Fields>* reference, std::string* error) {
  const std::string bin = e2e::ImpulseBinary();
  const std::string fraud = e2e::SourceDir() + "/examples/fraud";
  if (Run(bin + " generate fraud " + simulation + " --format ndjson > " + dir + "/tx.ndjson 2> " + dir +
          "/generate.err") != 0) {
    *error = "impulse generate fraud failed";
    return false;
  }
  if (Run(bin + " backfill " + fraud + "/score.yaml --models " + fraud + "/models --input " + dir +
          "/tx.ndjson --into transactions --stream tx_scored --out " + dir + "/ref.ndjson 2> " + dir +
          "/backfill.err") != 0) {
    *error = "impulse backfill failed: see " + dir + "/backfill.err";
    return false;
  }
  *input = Lines(dir + "/tx.ndjson");
  for (const std::string& line : Lines(dir + "/ref.ndjson")) {
    Fields row;
    if (!Parse(line, &row) || Id(row) < 0) {
      *error = "unreadable reference row: " + line;
      return false;
    }
    (*reference)[Id(row)] = std::move(row);
  }
  return true;
}

// The comparison itself can fail: every column is compared exactly, and a repeated, a missing
// and a foreign decision are each seen. (The group test below would pass vacuously otherwise.)
TEST(KafkaGroupFraud, ComparisonSeesEveryColumnAndEveryMissingOrRepeatedDecision) {
  const std::string dir = e2e::TempDir("kafka-group-fraud-compare");
  ASSERT_FALSE(dir.empty());
  std::vector<std::string> input;
  std::map<int64_t, Fields> reference;
  std::string error;
  ASSERT_TRUE(MakeInputAndReference(dir, "--customers 40 --terminals 40 --days 9", &input, &reference, &error))
      << error;
  ASSERT_GT(reference.size(), 100u);
  ASSERT_EQ(reference.size(), input.size());
  std::vector<Fields> sink;
  sink.reserve(reference.size());
  for (const auto& [id, row] : reference) sink.push_back(row);
  ASSERT_TRUE(Compare(reference, sink).ok()) << Compare(reference, sink).Describe();

  // Each column of one row, changed by the least step its type has (one ulp for a double).
  const size_t k = sink.size() / 2;
  ASSERT_GE(sink[k].size(), 20u) << "tx_scored's columns";
  for (const auto& [column, value] : reference.at(Id(sink[k]))) {
    if (column == "transaction_id") continue;
    std::vector<Fields> changed = sink;
    Value& v = changed[k][column];
    if (auto* d = std::get_if<double>(&v)) {
      *d = std::nextafter(*d, std::numeric_limits<double>::infinity());
    } else if (auto* i = std::get_if<int64_t>(&v)) {
      *i += 1;
    } else if (auto* s = std::get_if<std::string>(&v)) {
      *s += "x";
    } else if (auto* b = std::get_if<bool>(&v)) {
      *b = !*b;
    } else {
      v = int64_t{0};
    }
    const Verdict verdict = Compare(reference, changed);
    EXPECT_EQ(verdict.rows_differing, 1u) << column;
    ASSERT_EQ(verdict.differences.size(), 1u) << column;
    EXPECT_NE(verdict.differences[0].find(" column " + column + ":"), std::string::npos) << verdict.differences[0];
  }
  std::vector<Fields> extra_column = sink;
  extra_column[k]["unexpected"] = int64_t{1};
  EXPECT_EQ(Compare(reference, extra_column).rows_differing, 1u);

  std::vector<Fields> repeated = sink;
  repeated.push_back(sink[k]);
  EXPECT_EQ(Compare(reference, repeated).repeated.size(), 1u);
  std::vector<Fields> missing = sink;
  missing.erase(missing.begin() + static_cast<std::ptrdiff_t>(k));
  EXPECT_EQ(Compare(reference, missing).missing, std::vector<int64_t>{Id(sink[k])});
  std::vector<Fields> foreign = sink;
  foreign.push_back(sink[k]);
  foreign.back()["transaction_id"] = int64_t{-5};
  EXPECT_EQ(Compare(reference, foreign).foreign, 1u);
  std::filesystem::remove_all(dir);
}

TEST(KafkaGroupFraud, EveryTransactionScoredOnceAsByOneInstanceAcrossKillLeaveAndJoin) {
  const auto began = std::chrono::steady_clock::now();
  const std::string dir = e2e::TempDir("kafka-group-fraud");
  ASSERT_FALSE(dir.empty());
  // About 4 100 transactions over 20 days: enough for the 7-day-delayed terminal windows to fill.
  std::vector<std::string> input;
  std::map<int64_t, Fields> reference;
  std::string error;
  ASSERT_TRUE(
      MakeInputAndReference(dir, "--customers 150 --terminals 200 --days 20 --seed 3", &input, &reference, &error))
      << error;
  ASSERT_EQ(reference.size(), input.size()) << "the backfill scores every transaction";
  ASSERT_GT(input.size(), 3000u);
  // The terminal hop matters: many decisions read terminal windows with transactions of other
  // customers (so of other partitions) in them, and fraud among them.
  size_t terminal_rows = 0;
  size_t terminal_risk = 0;
  for (const auto& [id, row] : reference) {
    terminal_rows += Same(row.at("TERMINAL_ID_NB_TX_7DAY_WINDOW"), Value{int64_t{0}}) ? 0 : 1;
    terminal_risk += Same(row.at("TERMINAL_ID_RISK_7DAY_WINDOW"), Value{int64_t{0}}) ? 0 : 1;
  }
  EXPECT_GT(terminal_rows, input.size() / 3);
  EXPECT_GT(terminal_risk, 50u);

  connect::KafkaMockCluster cluster(3);
  // The engine creates no topics (docs/SCALE_OUT.md): the source, the sink, the state topic and a
  // repartition topic per key_by stream, each with the source's partition count.
  for (const char* topic :
       {"tx", "scored", "fraud-state", "fraud.repartition.tx_by_terminal", "fraud.repartition.tx_features"}) {
    ASSERT_TRUE(cluster.CreateTopic(topic, kPartitions)) << topic;
  }
  const std::string spec = dir + "/score.yaml";
  {
    std::ifstream example(e2e::SourceDir() + "/examples/fraud/score.yaml");
    ASSERT_TRUE(example.good());
    std::ofstream out(spec);
    out << example.rdbuf() << R"yaml(
kafka:
  brokers: ")yaml"
        << cluster.bootstraps() << R"yaml("
  group: fraud
  state_topic: fraud-state
  batch_records: 200
  # A killed instance is given up after the session timeout.
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
  sources: [{stream: transactions, topic: tx, partitioned_by_key: true}]
  sinks: [{stream: tx_scored, topic: scored}]
)yaml";
  }
  const std::vector<std::string> args = {
      "--models", e2e::SourceDir() + "/examples/fraud/models", "--checkpoint-interval-ms", "300", "--shards", "1"};

  // The input in file order, in rounds while instances come and go: all of a customer's
  // transactions go to partition customer_id % 3, in their order.
  size_t next = 0;
  auto produce = [&](size_t n) {
    std::vector<std::string> by_partition[kPartitions];
    for (const size_t end = std::min(input.size(), next + n); next < end; ++next) {
      const int64_t customer = std::atoll(e2e::JsonField(input[next], "customer_id").c_str());
      by_partition[customer % kPartitions].push_back(input[next]);
    }
    for (int p = 0; p < kPartitions; ++p) {
      if (!by_partition[p].empty()) {
        ASSERT_TRUE(cluster.Produce("tx", p, by_partition[p]));
      }
    }
  };
  auto outputs = [&](size_t want, int timeout_ms) {
    size_t n = 0;
    for (const auto& [p, v] : cluster.Consume("scored", kPartitions, want, timeout_ms)) n += v.size();
    return n;
  };
  auto wait_outputs = [&](size_t want, int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    size_t n = 0;
    while ((n = outputs(want, 2000)) < want && std::chrono::steady_clock::now() < deadline) {
    }
    return n;
  };
  const size_t total = input.size();

  e2e::EngineProcess a, b, c;
  ASSERT_TRUE(a.Start(spec, dir + "/a", args)) << a.startup_log();
  ASSERT_TRUE(b.Start(spec, dir + "/b", args)) << b.startup_log();
  ASSERT_TRUE(c.Start(spec, dir + "/c", args)) << c.startup_log();
  // One partition each, so that the instance killed below holds state.
  for (const e2e::EngineProcess* instance : {&a, &b, &c}) {
    ASSERT_TRUE(RunsAPartition(*instance, 60)) << "an instance without a partition";
  }
  produce(total / 4);
  // Once decisions flow from every hop, kill one instance mid-stream.
  ASSERT_GE(wait_outputs(total / 8, 60), total / 8) << "too few decisions from the group";
  // ... and from every partition (a member's decisions are released only once its snapshot is
  // written), so that the killed instance's partition has a snapshot to restore.
  for (int i = 0; i < 60; ++i) {
    // `expect` beyond what can be there: the read covers every partition until the timeout.
    const auto got = cluster.Consume("scored", kPartitions, total, 2000);
    bool each = got.size() == static_cast<size_t>(kPartitions);
    for (const auto& [p, v] : got) each = each && !v.empty();
    if (each) break;
    ASSERT_LT(i, 59) << "a partition released no decision in time";
  }
  produce(total / 5);
  b.Kill();
  produce(total / 6);
  // A new instance joins while the survivors take over the killed one's partition.
  e2e::EngineProcess d;
  ASSERT_TRUE(d.Start(spec, dir + "/d", args)) << d.startup_log();
  produce(total / 8);
  // The join is done when the newcomer runs a partition (it restored it from its snapshot).
  ASSERT_TRUE(RunsAPartition(d, 60)) << "the new instance was given no partition";
  // A graceful leave: its partitions move with a last snapshot. (Its own restores are read first.)
  const std::string restored_a = e2e::MetricLines(a.port(), "impulse_group_restore_bytes");
  ASSERT_EQ(a.Signal(SIGTERM), 0) << a.tail();
  produce(total);
  ASSERT_EQ(next, total);

  // Every transaction has its decision, once, with the single instance's values.
  std::map<int32_t, std::vector<std::string>> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (size_t n = 0; n < total && std::chrono::steady_clock::now() < deadline;) {
    got = cluster.Consume("scored", kPartitions, total, 2000);
    n = 0;
    for (const auto& [p, v] : got) n += v.size();
  }
  std::vector<Fields> sink;
  for (const auto& [p, values] : got) {
    for (const std::string& value : values) {
      Fields row;
      EXPECT_TRUE(Parse(value, &row)) << "partition " << p << ": " << value;
      sink.push_back(std::move(row));
    }
  }
  // The survivors' metrics (kept with the data if the test fails) and restores, read before they
  // stop; their logs are complete only after.
  for (const auto& [name, instance] : {std::pair{"c", &c}, std::pair{"d", &d}}) {
    std::string metrics;
    e2e::RunCapture("curl -s http://127.0.0.1:" + std::to_string(instance->port()) + "/metrics", &metrics);
    std::ofstream(dir + "/" + name + ".metrics") << metrics;
  }
  const std::string restored_c = e2e::MetricLines(c.port(), "impulse_group_restore_bytes");
  const std::string restored_d = e2e::MetricLines(d.port(), "impulse_group_restore_bytes");
  EXPECT_EQ(c.Signal(SIGTERM), 0) << c.tail();
  EXPECT_EQ(d.Signal(SIGTERM), 0) << d.tail();
  const std::string logs = "\n--- a (left):\n" + a.tail() + "\n--- c:\n" + c.tail() + "\n--- d (joined):\n" + d.tail();

  const Verdict verdict = Compare(reference, sink);
  EXPECT_TRUE(verdict.ok()) << sink.size() << " decisions for " << total << " transactions: " << verdict.Describe()
                            << logs;
  EXPECT_EQ(sink.size(), total);
  if (!verdict.missing.empty()) {
    // Where the missing ones come from: the source partition of their customer, and their span.
    std::map<int64_t, size_t> by_partition;
    for (int64_t id : verdict.missing) {
      ++by_partition[std::get<int64_t>(reference.at(id).at("customer_id")) % kPartitions];
    }
    std::string where;
    for (const auto& [p, n] : by_partition) where += " tx partition " + std::to_string(p) + ": " + std::to_string(n);
    std::string sunk;
    for (const auto& [p, v] : got) sunk += " scored partition " + std::to_string(p) + ": " + std::to_string(v.size());
    std::ofstream dump(dir + "/scored.ndjson");  // the sink as read, to compare with ref.ndjson
    for (const auto& [p, values] : got) {
      for (const std::string& value : values) dump << value << "\n";
    }
    ADD_FAILURE() << "missing decisions by source partition:" << where << "; transactions " << verdict.missing.front()
                  << ".." << verdict.missing.back() << "; decisions" << sunk << "; data kept in " << dir;
  }

  // The killed and the departed instances' partitions were restored from snapshots elsewhere.
  size_t restored = 0;
  for (const std::string& text : {restored_a, restored_c, restored_d}) {
    for (size_t at = text.find("} "); at != std::string::npos; at = text.find("} ", at + 1)) {
      restored += std::atof(text.c_str() + at + 2) > 0 ? 1 : 0;
    }
  }
  EXPECT_GE(restored, 2u) << "partitions restored from a snapshot:\n" << restored_a << restored_c << restored_d << logs;
  if (std::getenv("IMPULSE_TEST_VERBOSE") != nullptr) {
    std::fprintf(stderr, "%s\n%s%s%s%zu transactions, %.1f s\n", logs.c_str(), restored_a.c_str(), restored_c.c_str(),
                 restored_d.c_str(), total,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  }
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace impulse
