// The fraud demo's bookkeeping (`impulse demo fraud`, fraud_demo.cc): alert quality against
// the simulator's labels, decision latency per transaction, and when a scheduled batch job
// would have decided each transaction. Pure functions of their inputs (fraud_demo_test checks
// them without an engine); any thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "impulse/status.h"

namespace impulse::examples::fraud_demo {

// A time (steady clock, ns) not recorded: never sent, or never decided.
inline constexpr int64_t kNotSeen = -1;

struct AlertQuality {
  uint64_t alerts = 0;          // distinct transaction ids alerted
  uint64_t duplicates = 0;      // alerts repeating an id already counted
  uint64_t unknown_ids = 0;     // alerted ids with no label (outside the simulation)
  uint64_t true_positives = 0;  // alerted and labelled fraud
  uint64_t frauds = 0;          // transactions labelled fraud
  double precision() const;     // true_positives / alerts; 0 without alerts
  double recall() const;        // true_positives / frauds; 0 without frauds
};

// labels[id] is 1 for a fraud, 0 otherwise; `alerted` holds the alerted ids in any order.
AlertQuality ScoreAlerts(std::span<const uint8_t> labels, std::span<const uint64_t> alerted);

struct LatencySummary {
  uint64_t count = 0;    // transactions with both a send and a decision time
  uint64_t missing = 0;  // sent but not decided
  double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
};

// Exact nearest-rank quantiles of decided_ns[i] - sent_ns[i] over the i where both are set
// (not kNotSeen). A decision before its send (clock misuse upstream) counts as 0.
// kInvalidArgument when the spans differ in length.
Result<LatencySummary> SummarizeLatency(std::span<const int64_t> sent_ns, std::span<const int64_t> decided_ns);

// When the open-loop load generator (src/loadgen) sends event `seq`: its request holds events
// [k * lines_per_request, (k + 1) * lines_per_request) and is due at start_ns + k *
// lines_per_request / rate seconds. lines_per_request >= 1, rate > 0.
int64_t IntendedSendNs(uint64_t seq, uint32_t lines_per_request, double rate_events_per_s, int64_t start_ns);

// One run of the scheduled batch job: a backfill over every transaction sent by started_ns
// (`events` of them), finished at finished_ns.
struct BatchRun {
  uint64_t events = 0;
  int64_t started_ns = 0;
  int64_t finished_ns = 0;
};

// The next run starts `interval_ns` after the previous one started, or when it finished if it
// ran longer (runs never overlap).
int64_t NextBatchStartNs(const BatchRun& previous, int64_t interval_ns);

// The batch job's decision time of each event: the finish of the first run that started at or
// after the event was sent (so read it); kNotSeen for an event no run read or never sent.
// kInvalidArgument when a run finishes before it starts or starts before the previous one
// finished.
Result<std::vector<int64_t>> BatchDecisions(std::span<const BatchRun> runs, std::span<const int64_t> sent_ns);

}  // namespace impulse::examples::fraud_demo

namespace impulse::examples {

// `impulse demo fraud`: returns the process exit code (0 when every check holds).
int FraudDemoCommand(const std::vector<std::string>& args);

}  // namespace impulse::examples
