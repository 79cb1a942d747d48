#include <gtest/gtest.h>

#include <simdjson.h>
#include <cmath>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "datagen/fraud/format.h"
#include "datagen/fraud/simulator.h"

namespace impulse::fraud {
namespace {

SimulatorOptions Small(uint64_t seed = 7) {
  SimulatorOptions o;
  o.customers = 300;
  o.terminals = 600;
  o.days = 20;
  o.seed = seed;
  return o;
}

std::vector<Transaction> RunAll(const SimulatorOptions& options) {
  auto sim = Simulator::Create(options);
  EXPECT_TRUE(sim.ok()) << sim.status().ToString();
  std::vector<Transaction> all;
  std::vector<Transaction> day;
  while ((*sim)->NextDay(&day)) all.insert(all.end(), day.begin(), day.end());
  return all;
}

std::string Render(const std::vector<Transaction>& txs, OutputFormat format) {
  std::string out;
  for (const Transaction& tx : txs) AppendTransaction(tx, 17622, format, &out);
  return out;
}

TEST(FormatTest, CsvHeaderAndTransactionLine) {
  std::string s;
  AppendCsvHeader(&s);
  EXPECT_EQ(s,
            "transaction_id,tx_datetime,customer_id,terminal_id,tx_amount,tx_time_seconds,tx_time_days,"
            "tx_fraud,tx_fraud_scenario\n");
  Transaction tx;
  tx.transaction_id = 0;
  tx.tx_time_seconds = 31;
  tx.customer_id = 596;
  tx.terminal_id = 3156;
  tx.tx_amount_cents = 5716;
  s.clear();
  AppendTransaction(tx, 17622, OutputFormat::kCsv, &s);
  EXPECT_EQ(s, "0,2018-04-01 00:00:31,596,3156,57.16,31,0,0,0\n");
}

TEST(SimulatorTest, RejectsBadOptions) {
  SimulatorOptions o = Small();
  o.customers = 0;
  EXPECT_EQ(Simulator::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Small();
  o.days = kDaysMax + 1;
  EXPECT_EQ(Simulator::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Small();
  o.radius = 0;
  EXPECT_EQ(Simulator::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Small();
  o.terminal_links_max = 10;
  EXPECT_EQ(Simulator::Create(o).status().code(), StatusCode::kResourceExhausted);
}

TEST(SimulatorTest, DeterministicPerSeedAndSeedsDiffer) {
  const auto a = Render(RunAll(Small(7)), OutputFormat::kCsv);
  const auto b = Render(RunAll(Small(7)), OutputFormat::kCsv);
  const auto c = Render(RunAll(Small(8)), OutputFormat::kCsv);
  EXPECT_GT(a.size(), 1000u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(SimulatorTest, TerminalsInRangeAreExactlyThoseWithinRadius) {
  auto sim = Simulator::Create(Small());
  ASSERT_TRUE(sim.ok());
  const Simulator& s = **sim;
  uint64_t links = 0;
  for (uint32_t c = 0; c < s.customers().size(); ++c) {
    std::vector<uint32_t> expected;
    for (uint32_t t = 0; t < s.terminals().size(); ++t) {
      const double dx = s.customers()[c].x - s.terminals()[t].x;
      const double dy = s.customers()[c].y - s.terminals()[t].y;
      if (std::sqrt(dx * dx + dy * dy) < 5) expected.push_back(t);
    }
    std::vector<uint32_t> got(s.CustomerTerminalsBegin(c), s.CustomerTerminalsEnd(c));
    ASSERT_EQ(got, expected) << "customer " << c;
    links += got.size();
  }
  // About pi * 25 / 10000 of the terminals per customer (fewer near the edges).
  const double per_customer = static_cast<double>(links) / s.customers().size();
  EXPECT_GT(per_customer, 600 * 0.0050);
  EXPECT_LT(per_customer, 600 * 0.0090);
  for (const CustomerProfile& p : s.customers()) {
    EXPECT_GE(p.mean_amount, 5);
    EXPECT_LT(p.mean_amount, 100);
    EXPECT_DOUBLE_EQ(p.std_amount, p.mean_amount / 2);
    EXPECT_GE(p.mean_tx_per_day, 0);
    EXPECT_LT(p.mean_tx_per_day, 4);
  }
}

TEST(SimulatorTest, ColumnRules) {
  const SimulatorOptions o = Small();
  auto sim = Simulator::Create(o);
  ASSERT_TRUE(sim.ok());
  std::vector<Transaction> day;
  uint64_t next_id = 0;
  int64_t last_time = 0;
  uint32_t days = 0;
  while ((*sim)->NextDay(&day)) {
    for (const Transaction& tx : day) {
      ASSERT_EQ(tx.transaction_id, next_id++);
      ASSERT_EQ(tx.tx_time_days, days);
      ASSERT_GT(tx.tx_time_seconds, days * kSecondsPerDay);
      ASSERT_LT(tx.tx_time_seconds, (days + 1) * kSecondsPerDay);
      ASSERT_GE(tx.tx_time_seconds, last_time);
      last_time = tx.tx_time_seconds;
      ASSERT_GE(tx.tx_amount_cents, 0);
      ASSERT_LT(tx.customer_id, o.customers);
      const uint32_t* b = (*sim)->CustomerTerminalsBegin(tx.customer_id);
      const uint32_t* e = (*sim)->CustomerTerminalsEnd(tx.customer_id);
      ASSERT_TRUE(std::binary_search(b, e, tx.terminal_id));
      ASSERT_EQ(tx.tx_fraud, tx.tx_fraud_scenario != 0 ? 1 : 0);
      ASSERT_LE(tx.tx_fraud_scenario, 3);
    }
    ++days;
  }
  EXPECT_EQ(days, o.days);
  // About customers * 2 (mean of U(0, 4)) * 0.97 (times kept in the day) per day, a bit less
  // for customers without terminals.
  const double per_day = static_cast<double>(next_id) / o.days;
  EXPECT_GT(per_day, o.customers * 1.5);
  EXPECT_LT(per_day, o.customers * 2.3);
  EXPECT_FALSE((*sim)->NextDay(&day));
  EXPECT_TRUE(day.empty());
  // Every amount has exactly two decimals in the text.
  const std::string csv = Render(RunAll(o), OutputFormat::kCsv);
  size_t lines = 0;
  for (size_t pos = 0; pos < csv.size();) {
    const size_t end = csv.find('\n', pos);
    std::vector<std::string> fields;
    size_t f = pos;
    for (size_t i = pos; i <= end; ++i) {
      if (i == end || csv[i] == ',') {
        fields.emplace_back(csv.substr(f, i - f));
        f = i + 1;
      }
    }
    ASSERT_EQ(fields.size(), 9u);
    const std::string& amount = fields[4];
    ASSERT_GE(amount.size(), 4u);
    ASSERT_EQ(amount[amount.size() - 3], '.') << amount;
    ++lines;
    pos = end + 1;
  }
  EXPECT_EQ(lines, next_id);
}

TEST(SimulatorTest, ScenarioOneIsExactlyTheAmountsAbove220) {
  SimulatorOptions o = Small();
  o.customers = 2000;
  o.terminals = 2000;
  o.compromised_terminals_per_day = 0;
  o.compromised_customers_per_day = 0;
  uint64_t above = 0;
  for (const Transaction& tx : RunAll(o)) {
    const bool expect = tx.tx_amount_cents > kFraudAmountCents;
    ASSERT_EQ(tx.tx_fraud, expect ? 1 : 0) << tx.tx_amount_cents;
    ASSERT_EQ(tx.tx_fraud_scenario, expect ? 1 : 0);
    above += expect;
  }
  EXPECT_GT(above, 0u);
  // The same seed with the scenarios on: the same transactions, and every amount above 220
  // before scenario 3 is still fraud (maybe relabelled 2 or 3).
  SimulatorOptions on = o;
  on.compromised_terminals_per_day = 2;
  on.compromised_customers_per_day = 3;
  const auto base = RunAll(o);
  const auto with = RunAll(on);
  ASSERT_EQ(base.size(), with.size());
  uint64_t s3 = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    ASSERT_EQ(base[i].customer_id, with[i].customer_id);
    ASSERT_EQ(base[i].tx_time_seconds, with[i].tx_time_seconds);
    if (base[i].tx_fraud) {
      ASSERT_EQ(with[i].tx_fraud, 1);
    }
    if (with[i].tx_fraud_scenario == 3) {
      ++s3;
      ASSERT_GE(with[i].tx_amount_cents, base[i].tx_amount_cents * 5);
    } else {
      ASSERT_EQ(with[i].tx_amount_cents, base[i].tx_amount_cents);
    }
  }
  EXPECT_GT(s3, 0u);
}

TEST(SimulatorTest, FraudCountsAreSane) {
  SimulatorOptions o = Small();
  o.customers = 1000;
  o.terminals = 2000;
  o.days = 40;
  uint64_t n = 0, counts[4] = {0, 0, 0, 0};
  for (const Transaction& tx : RunAll(o)) {
    ++n;
    ++counts[tx.tx_fraud_scenario];
  }
  const double ratio = 1.0 - static_cast<double>(counts[0]) / n;
  // Scenario 2 alone: up to 56 of 2000 terminals compromised (~2.8% of transactions at the
  // steady state); scenario 3: up to 42 of 1000 customers, a third of theirs (~1.4%).
  EXPECT_GT(ratio, 0.01);
  EXPECT_LT(ratio, 0.08);
  EXPECT_GT(counts[2], 0u);
  EXPECT_GT(counts[3], 0u);
  EXPECT_LT(counts[1], n / 500);
}

TEST(SimulatorTest, NdjsonLinesParse) {
  const auto txs = RunAll(Small());
  const std::string text = Render(txs, OutputFormat::kNdjson);
  simdjson::ondemand::parser parser;
  size_t i = 0;
  for (size_t pos = 0; pos < text.size(); ++i) {
    const size_t end = text.find('\n', pos);
    simdjson::padded_string line(text.substr(pos, end - pos));
    pos = end + 1;
    simdjson::ondemand::document doc;
    ASSERT_EQ(parser.iterate(line).get(doc), simdjson::SUCCESS);
    uint64_t id = 0, customer = 0, fraud = 0;
    int64_t secs = 0;
    double amount = 0;
    std::string_view dt;
    ASSERT_EQ(doc["transaction_id"].get(id), simdjson::SUCCESS);
    ASSERT_EQ(doc["tx_datetime"].get(dt), simdjson::SUCCESS);
    ASSERT_EQ(doc["customer_id"].get(customer), simdjson::SUCCESS);
    ASSERT_EQ(doc["tx_amount"].get(amount), simdjson::SUCCESS);
    ASSERT_EQ(doc["tx_time_seconds"].get(secs), simdjson::SUCCESS);
    ASSERT_EQ(doc["tx_fraud"].get(fraud), simdjson::SUCCESS);
    ASSERT_LT(i, txs.size());
    EXPECT_EQ(id, txs[i].transaction_id);
    EXPECT_EQ(customer, txs[i].customer_id);
    EXPECT_EQ(secs, txs[i].tx_time_seconds);
    EXPECT_EQ(fraud, txs[i].tx_fraud);
    EXPECT_NEAR(amount, txs[i].tx_amount_cents / 100.0, 1e-9);
    ASSERT_EQ(dt.size(), 20u);
    EXPECT_EQ(dt.substr(0, 8), "2018-04-");
    EXPECT_EQ(dt[10], 'T');
    EXPECT_EQ(dt[19], 'Z');
  }
  EXPECT_EQ(i, txs.size());
}

}  // namespace
}  // namespace impulse::fraud
