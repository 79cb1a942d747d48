// The fraud demo's moving parts (fraud_demo_live.cc), used by the command (fraud_demo.cc):
// the simulated transactions, the spec variants, the webhook receiver and a live engine behind
// the HTTP server with a reader that timestamps each decision.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "action/test_server.h"
#include "fraud/simulator.h"
#include "impulse/engine.h"
#include "model/repository.h"
#include "server/http_server.h"

namespace impulse::tools::fraud_demo {

int64_t NowNs();        // steady clock
double ProcessCpuSeconds();
double ThreadCpuSeconds();  // the calling thread's

// The simulation, rendered once before any clock starts: transaction i (its id) is line i.
struct Transactions {
  std::vector<uint8_t> labels;   // tx_fraud by id
  std::vector<int64_t> customers;  // customer_id by id (the stream's key)
  std::string ndjson;            // lines without their '\n', back to back
  std::vector<uint64_t> ndjson_end;  // line i is ndjson[ndjson_end[i-1], ndjson_end[i])
  std::string csv;               // header line, then one line per transaction (with '\n')
  uint64_t csv_header_end = 0;   // csv[0, csv_header_end) is the header line
  std::vector<uint64_t> csv_end; // line i is csv[i == 0 ? csv_header_end : csv_end[i-1], csv_end[i])
  uint64_t size() const { return labels.size(); }
  void Truncate(uint64_t n);  // keeps the first n
};
Result<Transactions> Simulate(const fraud::SimulatorOptions& options);

// Rewrites the spec at `in` into `out`: with `webhook_url` non-empty the action alert_hook posts
// there; empty: the triggers' `call:` and the top-level `actions:` are removed (publish only).
Status WriteSpecVariant(const std::string& in, const std::string& out, const std::string& webhook_url);

// The local webhook receiver: answers 200 to every POST and counts distinct Idempotency-Keys.
class Receiver {
 public:
  static Result<std::unique_ptr<Receiver>> Start();
  std::string url() const { return server_->url("/alerts"); }
  uint64_t requests() const;
  uint64_t distinct_keys() const;
  void Reset();  // forget the keys and the count (a new phase)
  // Waits until distinct_keys() >= n; false on timeout.
  bool WaitForKeys(uint64_t n, int64_t timeout_ms) const;

 private:
  Receiver() = default;
  mutable std::mutex mu_;
  std::unordered_set<std::string> keys_;
  uint64_t requests_ = 0;
  std::unique_ptr<action::TestHttpServer> server_;
};

// An engine on `dir` (emptied first) behind the HTTP server on 127.0.0.1:<ephemeral>. With a
// tail, a thread reads `tx_scored` as it grows and records, per transaction id, when its
// decision first became readable (decided_ns, kNotSeen until then; polled every 0.5 ms).
class LiveEngine {
 public:
  static Result<std::unique_ptr<LiveEngine>> Open(const std::string& spec, const std::string& dir,
                                                  std::shared_ptr<model::ModelRepository> models, uint32_t shards,
                                                  Durability durability, int64_t checkpoint_interval_ms);
  ~LiveEngine();
  Engine& engine() { return *engine_; }
  uint16_t port() const { return server_->port(); }
  void StartTail(uint64_t transactions);
  // Stops the tail thread; returns its CPU seconds.
  double StopTail();
  const std::vector<int64_t>& decided_ns() const { return decided_; }
  Status Stop();  // the server, then the engine

 private:
  LiveEngine() = default;
  void Tail();
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<server::HttpServer> server_;
  std::vector<int64_t> decided_;
  std::atomic<bool> tail_stop_{false};
  std::thread tail_;
  double tail_cpu_s_ = 0;
};

// The transaction ids in the stream `alerts` of `engine`.
std::vector<uint64_t> ReadAlertIds(const Engine& engine);

}  // namespace impulse::tools::fraud_demo
