// The brute-force reference features on hand-made transactions whose answers are worked out
// from the definitions: window bounds (open at t - w, closed at t), ties in time, the 7-day
// label delay of the terminal features, weekend and night in UTC.
#include "datagen/fraud/features_reference.h"

#include <gtest/gtest.h>

namespace impulse::fraud {
namespace {

constexpr int64_t kDay = kSecondsPerDay;
constexpr int64_t kStartDay = 17622;  // 2018-04-01, a Sunday

Transaction Tx(uint64_t id, int64_t seconds, uint32_t customer, uint32_t terminal, int64_t cents, uint8_t fraud = 0) {
  Transaction t;
  t.transaction_id = id;
  t.tx_time_seconds = seconds;
  t.tx_time_days = seconds / kDay;
  t.customer_id = customer;
  t.terminal_id = terminal;
  t.tx_amount_cents = cents;
  t.tx_fraud = fraud;
  return t;
}

TEST(FeaturesReference, CustomerWindowIsOpenAtItsStartAndClosedAtItsEnd) {
  // Customer 1 on distinct terminals (terminal features are not under test here).
  const std::vector<Transaction> txs = {
      Tx(0, 100, 1, 10, 1000),             // A
      Tx(1, 100 + kDay - 1, 1, 11, 2000),  // B: A is 1 s less than a day before
      Tx(2, 100 + kDay, 1, 12, 4000),      // C: A is exactly a day before: out of 1d
      Tx(3, 100 + 7 * kDay, 1, 13, 8000),  // D: A exactly 7 days before: out of 7d
      Tx(4, 100, 2, 14, 500),              // another customer at A's time
  };
  auto r = ComputeReferenceFeatures(txs, kStartDay);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& f = *r;
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0].transaction_id, 0u);
  EXPECT_EQ(f[0].customer_nb_tx, (std::array<int64_t, 3>{1, 1, 1}));
  EXPECT_DOUBLE_EQ(f[0].customer_avg_amount[0], 10.0);
  EXPECT_EQ(f[1].customer_nb_tx, (std::array<int64_t, 3>{2, 2, 2}));
  EXPECT_DOUBLE_EQ(f[1].customer_avg_amount[0], 15.0);
  EXPECT_EQ(f[2].customer_nb_tx, (std::array<int64_t, 3>{2, 3, 3}));
  EXPECT_DOUBLE_EQ(f[2].customer_avg_amount[0], 30.0);  // B and C
  EXPECT_DOUBLE_EQ(f[2].customer_avg_amount[1], 70.0 / 3);
  EXPECT_EQ(f[3].customer_nb_tx, (std::array<int64_t, 3>{1, 3, 4}));  // 7d: B, C, D
  EXPECT_DOUBLE_EQ(f[3].customer_avg_amount[1], 140.0 / 3);
  EXPECT_DOUBLE_EQ(f[3].customer_avg_amount[2], 37.5);
  EXPECT_EQ(f[4].customer_nb_tx, (std::array<int64_t, 3>{1, 1, 1}));
  EXPECT_DOUBLE_EQ(f[4].customer_avg_amount[2], 5.0);
}

TEST(FeaturesReference, TransactionsAtTheSameTimeAreInEachOthersWindows) {
  // Given in reverse id order: the windows are by time, not by position or id.
  const std::vector<Transaction> txs = {Tx(2, 5000, 7, 1, 300), Tx(1, 5000, 7, 2, 100), Tx(0, 4000, 7, 3, 200)};
  auto r = ComputeReferenceFeatures(txs, kStartDay);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].customer_nb_tx[0], 3);
  EXPECT_EQ((*r)[1].customer_nb_tx[0], 3);
  EXPECT_EQ((*r)[2].customer_nb_tx[0], 1);
  EXPECT_DOUBLE_EQ((*r)[1].customer_avg_amount[0], 2.0);
}

TEST(FeaturesReference, TerminalCountsOnlyLabelsAtLeastSevenDaysOld) {
  const std::vector<Transaction> txs = {
      Tx(0, 0, 1, 5, 100, /*fraud=*/1), Tx(1, 3 * kDay, 2, 5, 100, /*fraud=*/0),
      Tx(2, 7 * kDay - 1, 3, 5, 100),  // tx 0 is 1 s short of 7 days old: not yet known
      Tx(3, 7 * kDay, 4, 5, 100),      // tx 0 exactly 7 days old: in (t - 8d, t - 7d]
      Tx(4, 8 * kDay, 5, 5, 100),      // tx 0 exactly 8 days old: out of 1d, in 7d
      Tx(5, 10 * kDay, 6, 5, 100),     // 1d: tx 1 (7 days old) only; 7d: tx 0 and 1
      Tx(6, 10 * kDay, 6, 9, 100),     // another terminal: nothing
  };
  auto r = ComputeReferenceFeatures(txs, kStartDay);
  ASSERT_TRUE(r.ok());
  const auto& f = *r;
  EXPECT_EQ(f[0].terminal_nb_tx, (std::array<int64_t, 3>{0, 0, 0}));
  EXPECT_EQ(f[0].terminal_risk, (std::array<double, 3>{0, 0, 0}));
  EXPECT_EQ(f[2].terminal_nb_tx, (std::array<int64_t, 3>{0, 0, 0}));
  EXPECT_EQ(f[3].terminal_nb_tx, (std::array<int64_t, 3>{1, 1, 1}));
  EXPECT_DOUBLE_EQ(f[3].terminal_risk[0], 1.0);
  EXPECT_EQ(f[4].terminal_nb_tx, (std::array<int64_t, 3>{0, 1, 1}));
  EXPECT_DOUBLE_EQ(f[4].terminal_risk[0], 0.0);
  EXPECT_DOUBLE_EQ(f[4].terminal_risk[1], 1.0);
  EXPECT_EQ(f[5].terminal_nb_tx, (std::array<int64_t, 3>{1, 2, 2}));
  EXPECT_DOUBLE_EQ(f[5].terminal_risk[0], 0.0);
  EXPECT_DOUBLE_EQ(f[5].terminal_risk[1], 0.5);
  EXPECT_EQ(f[6].terminal_nb_tx, (std::array<int64_t, 3>{0, 0, 0}));
}

TEST(FeaturesReference, WeekendAndNightInUtc) {
  const std::vector<Transaction> txs = {
      Tx(0, 6 * 3600 + 3599, 1, 1, 100),       // Sunday 06:59:59: weekend, night
      Tx(1, 7 * 3600, 1, 1, 100),              // Sunday 07:00:00: weekend, day
      Tx(2, kDay, 1, 1, 100),                  // Monday 00:00:00: night
      Tx(3, 6 * kDay + 23 * 3600, 1, 1, 100),  // Saturday 23:00
      Tx(4, 5 * kDay + 86399, 1, 1, 100),      // Friday 23:59:59
  };
  auto r = ComputeReferenceFeatures(txs, kStartDay);
  ASSERT_TRUE(r.ok());
  const auto& f = *r;
  EXPECT_EQ(f[0].tx_during_weekend, 1);
  EXPECT_EQ(f[0].tx_during_night, 1);
  EXPECT_EQ(f[1].tx_during_weekend, 1);
  EXPECT_EQ(f[1].tx_during_night, 0);
  EXPECT_EQ(f[2].tx_during_weekend, 0);
  EXPECT_EQ(f[2].tx_during_night, 1);
  EXPECT_EQ(f[3].tx_during_weekend, 1);
  EXPECT_EQ(f[3].tx_during_night, 0);
  EXPECT_EQ(f[4].tx_during_weekend, 0);
  EXPECT_EQ(f[4].tx_during_night, 0);
  EXPECT_EQ(f[0].tx_datetime_ms, (kStartDay * kDay + 6 * 3600 + 3599) * 1000);
}

TEST(FeaturesReference, SimulateAllReturnsEveryDayInTimeOrder) {
  SimulatorOptions o;
  o.customers = 20;
  o.terminals = 40;
  o.days = 10;
  o.seed = 3;
  auto all = SimulateAll(o);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_GT(all->size(), 10u);
  for (size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].transaction_id, i);
    if (i > 0) {
      EXPECT_LE((*all)[i - 1].tx_time_seconds, (*all)[i].tx_time_seconds);
    }
  }
  EXPECT_EQ(all->back().tx_time_days, 9);
}

TEST(FeaturesReference, SimulateAllRefusesBadOptions) {
  SimulatorOptions o;
  o.customers = 0;
  EXPECT_EQ(SimulateAll(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace impulse::fraud
