#include "datagen/fraud/features_reference.h"

#include <cstdint>
#include <string>
#include <unordered_map>

namespace impulse::fraud {
namespace {

// Indices into the input of each entity's transactions.
using Groups = std::unordered_map<uint32_t, std::vector<size_t>>;

// Count and sum of `value` over the transactions of `group` with time in (lo_ms, hi_ms]; those
// at exactly hi_ms only up to index `last_at_hi`.
template <typename Value>
void ScanWindow(const std::vector<size_t>& group, const std::vector<int64_t>& time_ms, int64_t lo_ms, int64_t hi_ms,
                Value value, int64_t* count, double* sum, size_t last_at_hi = SIZE_MAX) {
  *count = 0;
  *sum = 0;
  for (size_t j : group) {
    if (time_ms[j] > lo_ms && (time_ms[j] < hi_ms || (time_ms[j] == hi_ms && j <= last_at_hi))) {
      ++*count;
      *sum += value(j);
    }
  }
}

}  // namespace

int64_t TransactionTimeMs(const Transaction& tx, int64_t start_epoch_day) {
  return (start_epoch_day * kSecondsPerDay + tx.tx_time_seconds) * 1000;
}

Result<std::vector<ReferenceFeatures>> ComputeReferenceFeatures(std::span<const Transaction> transactions,
                                                                int64_t start_epoch_day, Ties ties) {
  if (transactions.size() > kReferenceTransactionsMax) {
    return InvalidArgument("reference features: " + std::to_string(transactions.size()) + " transactions, at most " +
                           std::to_string(kReferenceTransactionsMax));
  }
  const size_t n = transactions.size();
  std::vector<int64_t> time_ms(n);
  Groups by_customer, by_terminal;
  for (size_t i = 0; i < n; ++i) {
    time_ms[i] = TransactionTimeMs(transactions[i], start_epoch_day);
    by_customer[transactions[i].customer_id].push_back(i);
    by_terminal[transactions[i].terminal_id].push_back(i);
  }
  auto amount = [&](size_t j) { return static_cast<double>(transactions[j].tx_amount_cents) / 100.0; };
  auto fraud = [&](size_t j) { return static_cast<double>(transactions[j].tx_fraud); };

  std::vector<ReferenceFeatures> out(n);
  for (size_t i = 0; i < n; ++i) {
    const Transaction& tx = transactions[i];
    ReferenceFeatures& f = out[i];
    const int64_t t = time_ms[i];
    f.transaction_id = tx.transaction_id;
    f.tx_datetime_ms = t;
    const int64_t epoch_seconds = t / 1000;  // the simulator's times are >= 0
    const int64_t epoch_day = epoch_seconds / kSecondsPerDay;
    // 1970-01-01 was a Thursday: with Monday = 0, weekday = (day + 3) mod 7; 5, 6 = Sat, Sun.
    const int64_t weekday = (epoch_day + 3) % 7;
    f.tx_during_weekend = weekday >= 5 ? 1 : 0;
    f.tx_during_night = (epoch_seconds % kSecondsPerDay) / 3600 <= 6 ? 1 : 0;
    for (size_t w = 0; w < kFeatureWindowDays.size(); ++w) {
      const int64_t window_ms = kFeatureWindowDays[w] * kMsPerDay;
      double sum = 0;
      ScanWindow(by_customer[tx.customer_id], time_ms, t - window_ms, t, amount, &f.customer_nb_tx[w], &sum,
                 ties == Ties::kArrived ? i : SIZE_MAX);
      // The transaction itself is always in its customer's window, so the count is >= 1.
      f.customer_avg_amount[w] = sum / static_cast<double>(f.customer_nb_tx[w]);
      const int64_t delay_ms = kTerminalLabelDelayDays * kMsPerDay;
      ScanWindow(by_terminal[tx.terminal_id], time_ms, t - delay_ms - window_ms, t - delay_ms, fraud,
                 &f.terminal_nb_tx[w], &sum);
      f.terminal_risk[w] = f.terminal_nb_tx[w] == 0 ? 0.0 : sum / static_cast<double>(f.terminal_nb_tx[w]);
    }
  }
  return out;
}

Result<std::vector<Transaction>> SimulateAll(const SimulatorOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Simulator> sim, Simulator::Create(options));
  std::vector<Transaction> all, day;
  while (sim->NextDay(&day)) {
    if (all.size() + day.size() > kReferenceTransactionsMax) {
      return InvalidArgument("simulation has more than " + std::to_string(kReferenceTransactionsMax) + " transactions");
    }
    all.insert(all.end(), day.begin(), day.end());
  }
  return all;
}

}  // namespace impulse::fraud
