#include "datagen/fraud/simulator.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace impulse::fraud {
namespace {

// Independent random streams derived from the seed, so each part's draws do not shift when
// another part changes (e.g. a scenario switched off keeps the same transactions).
constexpr uint64_t kProfileStream = 0;
constexpr uint64_t kTransactionStream = 1;
constexpr uint64_t kFraudStream = 2;

constexpr uint32_t kCompromisedPerDayMax = 1000;
constexpr uint32_t kCompromiseDaysMax = 3650;
constexpr double kRadiusMax = 2 * kAreaSize;  // beyond this every terminal is in range
// Scenario 3 can multiply one amount by 5 once per active compromise of its customer; amounts
// saturate here rather than overflow (1e10 currency units, far beyond any real draw).
constexpr int64_t kAmountCentsMax = 1'000'000'000'000;

// k distinct values of [0, n) (all of them if k >= n), by Floyd's algorithm: exactly k draws,
// returned in draw order.
std::vector<uint32_t> SampleDistinct(datagen::Rng* rng, uint32_t n, uint32_t k) {
  std::vector<uint32_t> out;
  if (k >= n) {
    for (uint32_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  std::unordered_set<uint32_t> chosen;
  for (uint32_t j = n - k; j < n; ++j) {
    const auto t = static_cast<uint32_t>(rng->UniformInt(uint64_t{j} + 1));
    const uint32_t pick = chosen.count(t) ? j : t;
    chosen.insert(pick);
    out.push_back(pick);
  }
  return out;
}

}  // namespace

Simulator::Simulator(const SimulatorOptions& options)
    : options_(options),
      profile_rng_(datagen::Rng::StreamSeed(options.seed, kProfileStream)),
      tx_rng_(datagen::Rng::StreamSeed(options.seed, kTransactionStream)),
      fraud_rng_(datagen::Rng::StreamSeed(options.seed, kFraudStream)) {}

Result<std::unique_ptr<Simulator>> Simulator::Create(const SimulatorOptions& options) {
  if (options.customers < 1 || options.customers > kCustomersMax) {
    return InvalidArgument("fraud: customers must be in 1.." + std::to_string(kCustomersMax));
  }
  if (options.terminals < 1 || options.terminals > kTerminalsMax) {
    return InvalidArgument("fraud: terminals must be in 1.." + std::to_string(kTerminalsMax));
  }
  if (options.days < 1 || options.days > kDaysMax) {
    return InvalidArgument("fraud: days must be in 1.." + std::to_string(kDaysMax));
  }
  if (options.start_epoch_day < kStartDayMin || options.start_epoch_day > kStartDayMax) {
    return InvalidArgument("fraud: start day must be in " + std::to_string(kStartDayMin) + ".." +
                           std::to_string(kStartDayMax) + " (1970-01-01 .. 7445-10-25)");
  }
  if (!(options.radius > 0) || options.radius > kRadiusMax) {
    return InvalidArgument("fraud: radius must be in (0, 200]");
  }
  if (options.compromised_terminals_per_day > kCompromisedPerDayMax ||
      options.compromised_customers_per_day > kCompromisedPerDayMax) {
    return InvalidArgument("fraud: at most 1000 compromised terminals / customers per day");
  }
  if (options.terminal_compromise_days > kCompromiseDaysMax || options.customer_compromise_days > kCompromiseDaysMax) {
    return InvalidArgument("fraud: a compromise lasts at most 3650 days");
  }
  std::unique_ptr<Simulator> sim(new Simulator(options));
  RETURN_IF_ERROR(sim->BuildProfiles());
  return sim;
}

Status Simulator::BuildProfiles() {
  customers_.resize(options_.customers);
  for (CustomerProfile& c : customers_) {
    c.x = profile_rng_.Uniform(0, kAreaSize);
    c.y = profile_rng_.Uniform(0, kAreaSize);
    c.mean_amount = profile_rng_.Uniform(5, 100);
    c.std_amount = c.mean_amount / 2;
    c.mean_tx_per_day = profile_rng_.Uniform(0, 4);
  }
  terminals_.resize(options_.terminals);
  for (TerminalProfile& t : terminals_) {
    t.x = profile_rng_.Uniform(0, kAreaSize);
    t.y = profile_rng_.Uniform(0, kAreaSize);
  }
  // Grid of square cells so each customer checks only nearby terminals; at most 256 x 256
  // cells, a cell at least `radius` wide unless that would exceed the bound.
  const double cell = std::max(options_.radius, kAreaSize / 256);
  const int dim = static_cast<int>(std::ceil(kAreaSize / cell));
  const int reach = static_cast<int>(std::ceil(options_.radius / cell));
  auto cell_of = [&](double v) { return std::clamp(static_cast<int>(v / cell), 0, dim - 1); };
  std::vector<std::vector<uint32_t>> grid(static_cast<size_t>(dim) * dim);
  for (uint32_t t = 0; t < terminals_.size(); ++t) {
    grid[static_cast<size_t>(cell_of(terminals_[t].y)) * dim + cell_of(terminals_[t].x)].push_back(t);
  }
  std::vector<uint32_t> near;
  for (CustomerProfile& c : customers_) {
    near.clear();
    const int cx = cell_of(c.x);
    const int cy = cell_of(c.y);
    for (int gy = std::max(0, cy - reach); gy <= std::min(dim - 1, cy + reach); ++gy) {
      for (int gx = std::max(0, cx - reach); gx <= std::min(dim - 1, cx + reach); ++gx) {
        for (uint32_t t : grid[static_cast<size_t>(gy) * dim + gx]) {
          const double dx = c.x - terminals_[t].x;
          const double dy = c.y - terminals_[t].y;
          if (std::sqrt(dx * dx + dy * dy) < options_.radius) near.push_back(t);
        }
      }
    }
    std::sort(near.begin(), near.end());
    if (links_.size() + near.size() > options_.terminal_links_max || links_.size() + near.size() > UINT32_MAX) {
      return ResourceExhausted("fraud: customer-terminal links exceed terminal_links_max (" +
                               std::to_string(options_.terminal_links_max) + "); use fewer customers or terminals");
    }
    c.terminals_begin = static_cast<uint32_t>(links_.size());
    links_.insert(links_.end(), near.begin(), near.end());
    c.terminals_end = static_cast<uint32_t>(links_.size());
  }
  return Status::OK();
}

bool Simulator::NextDay(std::vector<Transaction>* out) {
  out->clear();
  if (day_ >= options_.days) return false;
  GenerateDay(out);
  LabelDay(out);
  ++day_;
  return true;
}

void Simulator::GenerateDay(std::vector<Transaction>* out) {
  const int64_t day_start = static_cast<int64_t>(day_) * kSecondsPerDay;
  for (uint32_t c = 0; c < customers_.size(); ++c) {
    const CustomerProfile& p = customers_[c];
    const uint32_t n = tx_rng_.Poisson(p.mean_tx_per_day);
    for (uint32_t i = 0; i < n; ++i) {
      // The handbook's draw order: time, then amount, then terminal; a time outside the day
      // drops the transaction before the amount is drawn.
      const double time_draw = tx_rng_.Normal(kSecondsPerDay / 2.0, 20000);
      const auto time_of_day = static_cast<int64_t>(time_draw);  // int(): toward zero
      if (time_of_day <= 0 || time_of_day >= kSecondsPerDay) continue;
      double amount = tx_rng_.Normal(p.mean_amount, p.std_amount);
      if (amount < 0) amount = tx_rng_.Uniform(0, 2 * p.mean_amount);
      const auto cents = static_cast<int64_t>(std::llround(amount * 100));
      const uint32_t links = p.terminals_end - p.terminals_begin;
      if (links == 0) continue;
      Transaction tx;
      tx.tx_time_seconds = day_start + time_of_day;
      tx.tx_time_days = day_;
      tx.customer_id = c;
      tx.terminal_id = links_[p.terminals_begin + tx_rng_.UniformInt(links)];
      tx.tx_amount_cents = cents;
      out->push_back(tx);
    }
  }
  // Time order; ties keep generation order (customer id, then draw order).
  std::stable_sort(out->begin(), out->end(),
                   [](const Transaction& a, const Transaction& b) { return a.tx_time_seconds < b.tx_time_seconds; });
  for (Transaction& tx : *out) tx.transaction_id = next_id_++;
}

void Simulator::LabelDay(std::vector<Transaction>* out) {
  // Today's compromises start today; expired ones (started `duration` days ago) are dropped.
  for (uint32_t t : SampleDistinct(&fraud_rng_, options_.terminals, options_.compromised_terminals_per_day)) {
    terminal_compromises_.emplace_back(day_, t);
  }
  for (uint32_t c : SampleDistinct(&fraud_rng_, options_.customers, options_.compromised_customers_per_day)) {
    customer_compromises_.emplace_back(day_, c);
  }
  std::erase_if(terminal_compromises_, [&](const auto& e) {
    return static_cast<uint64_t>(e.first) + options_.terminal_compromise_days <= day_;
  });
  std::erase_if(customer_compromises_, [&](const auto& e) {
    return static_cast<uint64_t>(e.first) + options_.customer_compromise_days <= day_;
  });
  std::unordered_set<uint32_t> bad_terminals;
  for (const auto& e : terminal_compromises_) bad_terminals.insert(e.second);
  std::unordered_map<uint32_t, uint32_t> bad_customers;  // customer -> active compromises
  for (const auto& e : customer_compromises_) ++bad_customers[e.second];

  for (Transaction& tx : *out) {
    if (tx.tx_amount_cents > kFraudAmountCents) {
      tx.tx_fraud = 1;
      tx.tx_fraud_scenario = 1;
    }
    if (bad_terminals.count(tx.terminal_id)) {
      tx.tx_fraud = 1;
      tx.tx_fraud_scenario = 2;
    }
    auto it = bad_customers.find(tx.customer_id);
    if (it == bad_customers.end()) continue;
    // Each active compromise independently picks the transaction with probability 1/3 (the
    // handbook samples exactly a third of the period's transactions; see the docs).
    for (uint32_t k = 0; k < it->second; ++k) {
      if (fraud_rng_.UniformInt(3) != 0) continue;
      tx.tx_amount_cents = std::min(tx.tx_amount_cents * kScenario3Multiplier, kAmountCentsMax);
      tx.tx_fraud = 1;
      tx.tx_fraud_scenario = 3;
    }
  }
}

}  // namespace impulse::fraud
