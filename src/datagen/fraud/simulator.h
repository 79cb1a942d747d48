// The credit card transaction simulator of the "Reproducible Machine Learning for Credit Card
// Fraud Detection - Practical Handbook" (Le Borgne et al.), chapter "Transaction data
// simulator", reimplemented from its published rules (see docs/FRAUD_SIMULATOR.md for the
// rules and every deviation).
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "datagen/common/random.h"
#include "impulse/status.h"

namespace impulse::fraud {

struct SimulatorOptions {
  uint32_t customers = 5000;        // number of customer profiles, 1..kCustomersMax
  uint32_t terminals = 10000;       // number of terminal profiles, 1..kTerminalsMax
  uint32_t days = 183;              // days simulated, 1..kDaysMax
  int64_t start_epoch_day = 17622;  // first day, days since 1970-01-01 (17622 = 2018-04-01)
  uint64_t seed = 0;                // all output is a pure function of the options
  double radius = 5;                // a customer uses the terminals within this distance
  // Scenario 2: terminals compromised per day, and for how many days (from that day on).
  uint32_t compromised_terminals_per_day = 2;
  uint32_t terminal_compromise_days = 28;
  // Scenario 3: customers compromised per day, for how many days, and the multiplier applied
  // to the amount of a third of their transactions in that period.
  uint32_t compromised_customers_per_day = 3;
  uint32_t customer_compromise_days = 14;
  // Bound on the sum over customers of terminals in range (memory of the profiles).
  uint64_t terminal_links_max = 50'000'000;
};

inline constexpr uint32_t kCustomersMax = 1'000'000;
inline constexpr uint32_t kTerminalsMax = 1'000'000;
inline constexpr uint32_t kDaysMax = 36'500;
// start_epoch_day's range: 1970-01-01 .. 7445-10-25, which keeps every tx_time_seconds and
// datetime far inside int64 and the year 9999.
inline constexpr int64_t kStartDayMin = 0;
inline constexpr int64_t kStartDayMax = 2'000'000;
inline constexpr double kAreaSize = 100;  // locations are uniform on [0, 100)^2
inline constexpr int64_t kSecondsPerDay = 86'400;
inline constexpr int64_t kFraudAmountCents = 22'000;  // scenario 1: amount > 220 is fraud
inline constexpr int64_t kScenario3Multiplier = 5;

struct CustomerProfile {
  double x = 0;
  double y = 0;
  double mean_amount = 0;        // U(5, 100)
  double std_amount = 0;         // mean_amount / 2
  double mean_tx_per_day = 0;    // U(0, 4)
  uint32_t terminals_begin = 0;  // [begin, end) into the simulator's terminal link table
  uint32_t terminals_end = 0;
};

struct TerminalProfile {
  double x = 0;
  double y = 0;
};

// One transaction. Amounts are integer cents so rounding to 2 decimals and the x5 of scenario
// 3 are exact.
struct Transaction {
  uint64_t transaction_id = 0;  // index in time order over the whole run, from 0
  int64_t tx_time_seconds = 0;  // seconds since the start day's midnight UTC
  int64_t tx_time_days = 0;     // whole days since the start
  uint32_t customer_id = 0;
  uint32_t terminal_id = 0;
  int64_t tx_amount_cents = 0;    // >= 0
  uint8_t tx_fraud = 0;           // 0 or 1
  uint8_t tx_fraud_scenario = 0;  // 0 (genuine), 1, 2 or 3
};

// Simulator: generates the transactions day by day. Create() draws the customer and terminal
// profiles (memory O(customers + terminals + links), bounded by terminal_links_max); each
// NextDay() call returns one day's transactions sorted by time with ids and fraud labels, so a
// run of any length streams in memory of one day (about customers * 2 transactions) plus the
// scenario 2/3 state of the last 28/14 days. Single-threaded; output is a pure function of
// the options.
class Simulator {
 public:
  static Result<std::unique_ptr<Simulator>> Create(const SimulatorOptions& options);

  // Replaces *out with the next day's transactions. Returns false (and leaves *out empty) when
  // all days are done.
  bool NextDay(std::vector<Transaction>* out);

  const SimulatorOptions& options() const { return options_; }
  const std::vector<CustomerProfile>& customers() const { return customers_; }
  const std::vector<TerminalProfile>& terminals() const { return terminals_; }
  // Terminal ids in range of customer c, ascending.
  const uint32_t* CustomerTerminalsBegin(uint32_t c) const { return &links_[customers_[c].terminals_begin]; }
  const uint32_t* CustomerTerminalsEnd(uint32_t c) const { return links_.data() + customers_[c].terminals_end; }

 private:
  explicit Simulator(const SimulatorOptions& options);
  Status BuildProfiles();
  void GenerateDay(std::vector<Transaction>* out);
  void LabelDay(std::vector<Transaction>* out);

  SimulatorOptions options_;
  datagen::Rng profile_rng_;
  datagen::Rng tx_rng_;
  datagen::Rng fraud_rng_;
  std::vector<CustomerProfile> customers_;
  std::vector<TerminalProfile> terminals_;
  std::vector<uint32_t> links_;  // concatenated per-customer terminal lists
  uint32_t day_ = 0;             // next day to generate
  uint64_t next_id_ = 0;
  // Compromises still active: (first day, id), oldest first; at most per_day * duration each.
  std::vector<std::pair<uint32_t, uint32_t>> terminal_compromises_;
  std::vector<std::pair<uint32_t, uint32_t>> customer_compromises_;
};

}  // namespace impulse::fraud
