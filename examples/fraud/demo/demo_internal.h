// The fraud demo's moving parts, used by the command (fraud_demo.cc): the simulated
// transactions, the spec variants, the webhook receiver, a live engine behind the HTTP server
// with a reader that timestamps each decision (fraud_demo_live.cc), and the scheduled batch job
// (fraud_demo_batch.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "action/recording_server.h"
#include "common/cpu_time.h"
#include "datagen/fraud/simulator.h"
#include "examples/fraud/demo/demo.h"
#include "impulse/engine.h"
#include "model/repository.h"
#include "server/http_server.h"

namespace impulse::examples::fraud_demo {

int64_t NowNs();  // steady clock

// The simulation, rendered once before any clock starts: transaction i (its id) is line i.
struct Transactions {
  std::vector<uint8_t> labels;       // tx_fraud by id
  std::vector<int64_t> customers;    // customer_id by id (the stream's key)
  std::string ndjson;                // lines without their '\n', back to back
  std::vector<uint64_t> ndjson_end;  // line i is ndjson[ndjson_end[i-1], ndjson_end[i])
  std::string csv;                   // header line, then one line per transaction (with '\n')
  uint64_t csv_header_end = 0;       // csv[0, csv_header_end) is the header line
  std::vector<uint64_t> csv_end;     // line i is csv[i == 0 ? csv_header_end : csv_end[i-1], csv_end[i])
  uint64_t size() const { return labels.size(); }
  void Truncate(uint64_t n);  // keeps the first n
};
// `on_day` (optional) is called after each simulated day with the days done.
Result<Transactions> Simulate(const fraud::SimulatorOptions& options,
                              const std::function<void(uint32_t days)>& on_day = {});

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
  std::unique_ptr<action::RecordingHttpServer> server_;
};

// An engine on `dir` (emptied first) behind the HTTP server on 127.0.0.1:<ephemeral>. With a
// tail, a thread reads `tx_scored` as it grows and records, per transaction id, when its
// decision first became readable (decided_ns, kNotSeen until then; polled every 0.5 ms).
class LiveEngine {
 public:
  static Result<std::unique_ptr<LiveEngine>> Open(const std::string& spec, const std::string& dir,
                                                  const std::shared_ptr<model::ModelRepository>& models,
                                                  uint32_t shards, Durability durability,
                                                  int64_t checkpoint_interval_ms);
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

// Send times by transaction id: written by the senders, read by the batch job as they run.
class SentTimes {
 public:
  explicit SentTimes(uint64_t n) : n_(n), t_(new std::atomic<int64_t>[n]) {
    for (uint64_t i = 0; i < n; ++i) t_[i].store(kNotSeen, std::memory_order_relaxed);
  }
  uint64_t size() const { return n_; }
  void Set(uint64_t id, int64_t ns) { t_[id].store(ns, std::memory_order_relaxed); }
  int64_t Get(uint64_t id) const { return t_[id].load(std::memory_order_relaxed); }
  std::vector<int64_t> Snapshot() const {
    std::vector<int64_t> v(n_);
    for (uint64_t i = 0; i < n_; ++i) v[i] = Get(i);
    return v;
  }

 private:
  uint64_t n_;
  std::unique_ptr<std::atomic<int64_t>[]> t_;
};

// The scheduled batch job: on its own thread, every interval_s (or right after the previous run
// if that took longer), a backfill of `spec` over every transaction sent so far, until a run has
// read all of them. Prints a line per run.
class BatchJob {
 public:
  struct Options {
    std::string spec;    // the spec without webhook calls (a backfill must not call out)
    std::string models;  // model repository
    std::string dir;     // its input and output files
    double interval_s = 5;
  };
  BatchJob(Options options, const Transactions& tx, const SentTimes& sent)
      : o_(std::move(options)), tx_(tx), sent_(sent) {}
  void Start();
  // Ends the job after the current run (the stream failed: some transactions will never come).
  void Cancel() { cancel_ = true; }
  Status Join();
  const std::vector<BatchRun>& runs() const { return runs_; }

 private:
  Status Run();
  const Options o_;
  const Transactions& tx_;
  const SentTimes& sent_;
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  Status status_;
  std::vector<BatchRun> runs_;
};

// The transaction ids in the stream `alerts` of `engine`.
std::vector<uint64_t> ReadAlertIds(const Engine& engine);

}  // namespace impulse::examples::fraud_demo
