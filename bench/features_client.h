// The open-loop HTTP client of `impulse-bench features`: --rate feature lookups/s over
// keep-alive connections, GET /v1/features/user/{id} or POST /v1/features/user:batch, random
// entities 1..N. Latency runs from each request's intended send time, so a slow answer
// delays the next request of its connection but is not hidden (no coordinated omission).
//
// A few raw Asio sockets on the calling thread, not Beast's parser: the client shares the
// machine with the server, so it has to be cheaper than what it measures. Single-threaded.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "loadgen/latency_histogram.h"

namespace impulse::bench {

struct ClientOptions {
  uint16_t port = 0;
  uint32_t connections = 8;
  double rate_lookups_per_s = 50'000;
  double duration_s = 10;
  double warmup_s = 1;          // requests intended before this are sent but not recorded
  uint32_t batch = 0;           // 0 = GET single lookups; else POST :batch of this many
  uint64_t entities = 100'000;  // entity ids are 1..entities
  uint64_t seed = 1;
  uint32_t timeout_ms = 5'000;  // after the schedule ends, wait this long for answers
};

struct ClientReport {
  uint64_t requests = 0;  // answered 200 in the measured window
  uint64_t lookups = 0;   // entities in those requests
  uint64_t errors = 0;    // other status, socket errors, unanswered at the end
  std::string first_error;
  double seconds = 0;  // measured window, or up to the last answer if that came later
  std::chrono::steady_clock::time_point last_answer;
  double cpu_process_s = 0;  // whole process (server, engine, client) over the window
  double cpu_client_s = 0;   // the client thread alone
  loadgen::LatencyHistogram latency;
};

// Runs the schedule on the calling thread against 127.0.0.1:port. Failures are counted in the
// report; a connection that fails stops (the rest of its schedule is lost and not counted).
ClientReport RunFeatureClient(const ClientOptions& o);

}  // namespace impulse::bench
