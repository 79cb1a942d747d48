// The HTTP load generator behind `impulse load`, the demo and the HTTP ingest benchmark:
// POSTs NDJSON batches to /v1/streams/{stream}/events over keep-alive connections and reports
// throughput and latency percentiles. Beast stays in loadgen.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "impulse/status.h"

namespace impulse::loadgen {

struct LoadOptions {
  std::string host = "127.0.0.1";  // IPv4/IPv6 literal of the server
  uint16_t port = 8470;
  std::string stream;                 // required
  std::string bearer_token;           // empty = no Authorization header
  uint32_t connections = 4;           // 1..1024 keep-alive connections, one request each
                                      // in flight
  uint32_t lines_per_request = 1000;  // 1..1'000'000 events per POST
  uint64_t total_events = 1'000'000;  // events to send in all
  double rate_events_per_s = 0;       // 0 = as fast as possible (closed loop); else open
                                      // loop at this rate, latency measured from each
                                      // request's intended send time (no coordinated
                                      // omission)
  uint32_t max_retries = 10;          // per request, on 503, honouring Retry-After
  uint32_t retry_after_max_s = 30;    // a larger Retry-After is capped to this
  uint32_t timeout_ms = 30000;        // per request attempt (connect, write, read)
  // Decisions in the response (docs/HTTP_API.md): non-empty = each POST asks for pipeline
  // `decide`'s output (?decide=...), so latency runs to the decision, not the ack.
  std::string decide;
  std::string decide_id;           // &id=...; empty = the server's default
  int64_t decide_timeout_ms = -1;  // &timeout_ms=...; -1 = the server's default
  // Appends the NDJSON line of event number `seq` (0-based) to *line, without '\n'. Required.
  std::function<void(uint64_t seq, std::string* line)> make_line;
};

struct LoadReport {
  uint64_t requests = 0;     // requests answered 200/207/422 (retries not counted)
  uint64_t events_sent = 0;  // events in all requests sent, failed ones included; equals
                             // accepted + rejected when errors == 0
  uint64_t accepted = 0;     // from the server's replies
  uint64_t rejected = 0;
  uint64_t pending = 0;      // with decide: events answered without their decision (timeout)
  uint64_t late = 0;         // with decide: events answered late (in _late_events, no decision)
  uint64_t retries_503 = 0;  // 503 answers that were retried
  uint64_t errors = 0;       // requests that failed for good (other status, retries exhausted,
                             // network error)
  double seconds = 0;        // wall time of the run
  double events_per_s = 0;   // (accepted + rejected) / seconds
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;  // answered requests
  std::string first_error;                                             // the first failure, for the operator
};

// Runs the load on the calling thread (one io_context, `connections` async connections).
// kInvalidArgument for bad options; kUnavailable if no connection can be opened at all.
// Request failures during the run are counted in the report, not returned.
Result<LoadReport> RunLoad(const LoadOptions& options);

// Prints a report's rate and request latency percentiles, two lines under `title`.
void PrintLoadReport(const char* title, const LoadReport& report);

}  // namespace impulse::loadgen
