// The Fraud Detection Handbook's baseline features, recomputed by brute force straight from
// their definitions: the oracle that examples/fraud/features.yaml (computed by the engine's
// feature operators, live or by backfill) is tested against. Deliberately naive: every
// transaction scans all transactions of its customer and of its terminal (O(n * n_entity)), so
// it is for test sizes only (kReferenceTransactionsMax). Pure functions, any thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "datagen/fraud/simulator.h"
#include "impulse/status.h"

namespace impulse::fraud {

// The three window lengths of the handbook, in days, in the order of the feature arrays below.
inline constexpr std::array<int64_t, 3> kFeatureWindowDays = {1, 7, 30};
// Terminal features only count transactions whose fraud label is known: 7 days old or more.
inline constexpr int64_t kTerminalLabelDelayDays = 7;
inline constexpr int64_t kMsPerDay = 86'400'000;
// Bound on the input of ComputeReferenceFeatures (the brute force is quadratic per entity).
inline constexpr size_t kReferenceTransactionsMax = 2'000'000;

// The features of one transaction. Windows are by event time t (ms of tx_datetime, UTC), not
// by arrival order; transactions at exactly time t: see Ties.
struct ReferenceFeatures {
  uint64_t transaction_id = 0;
  int64_t tx_datetime_ms = 0;
  int64_t tx_during_weekend = 0;  // 1 on Saturday or Sunday (UTC)
  int64_t tx_during_night = 0;    // 1 when the hour (UTC) is <= 6
  // Per customer, window (t - w days, t], this transaction included, w = kFeatureWindowDays[i].
  std::array<int64_t, 3> customer_nb_tx{};
  std::array<double, 3> customer_avg_amount{};  // mean tx_amount (in currency units, not cents)
  // Per terminal, window (t - (7 + w) days, t - 7 days].
  std::array<int64_t, 3> terminal_nb_tx{};
  std::array<double, 3> terminal_risk{};  // mean tx_fraud; 0 when terminal_nb_tx is 0
};

// Milliseconds since the epoch of a transaction's tx_datetime (start_epoch_day: the run's first
// day, SimulatorOptions::start_epoch_day).
int64_t TransactionTimeMs(const Transaction& tx, int64_t start_epoch_day);

// Which transactions at exactly the same time t as a transaction are in its customer's windows:
// kAll, every one (point in time: the time range decides); kArrived, only those before it in
// `transactions` (computed on arrival, in that order; as pandas' time-based rolling windows
// over rows sorted by time, the handbook's own computation, do).
enum class Ties { kAll, kArrived };

// The features of every transaction of `transactions` (any order, ids unique), in the same
// order. kInvalidArgument beyond kReferenceTransactionsMax transactions.
Result<std::vector<ReferenceFeatures>> ComputeReferenceFeatures(std::span<const Transaction> transactions,
                                                                int64_t start_epoch_day, Ties ties = Ties::kAll);

// Runs a simulation to its end and returns all its transactions in time order (for tests: the
// whole run is held in memory). kInvalidArgument for bad options or more than
// kReferenceTransactionsMax transactions.
Result<std::vector<Transaction>> SimulateAll(const SimulatorOptions& options);

}  // namespace impulse::fraud
