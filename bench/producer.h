// One producer thread's asynchronous Ingest / IngestRows calls with a bound on the calls in
// flight, for the in-process benchmark drivers (nexmark_bench.cc, ysb_bench.cc).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "impulse/engine.h"

namespace impulse::bench {

constexpr int kMaxInflightRequests = 8;  // outstanding Ingest calls per producer

// One producer thread's Ingest calls, at most kMaxInflightRequests outstanding.
class Producer {
 public:
  Producer(Engine* engine, uint32_t index) : engine_(engine), index_(index) {}

  // Ingests `body` (NDJSON) or `rows` (typed) into `stream`; both are copied by the engine
  // before the call returns.
  Status Send(std::string_view stream, const std::string& body) { return SendAny(stream, &body, nullptr); }
  Status SendRows(std::string_view stream, const RowBatch& rows) { return SendAny(stream, nullptr, &rows); }

  Status SendAny(std::string_view stream, const std::string* body, const RowBatch* rows) {
    if (body != nullptr ? body->empty() : rows->empty()) return Status::OK();
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return inflight_ < kMaxInflightRequests; });
      ++inflight_;
    }
    while (true) {
      auto done = [this](const Status& s, const IngestResult& r) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!s.ok() && first_error_.ok()) first_error_ = s;
        rejected_ += r.rejected;
        --inflight_;
        cv_.notify_all();
      };
      Status st = body != nullptr ? engine_->Ingest(stream, *body, index_, done)
                                  : engine_->IngestRows(stream, *rows, index_, done);
      if (st.code() == StatusCode::kUnavailable) {  // backpressure: the shards are behind
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        --inflight_;
        return st;
      }
      return Status::OK();
    }
  }

  // Waits for every outstanding call; the first error, or kInvalidArgument if lines were rejected.
  Status Drain() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return inflight_ == 0; });
    if (!first_error_.ok()) return first_error_;
    if (rejected_ > 0) return InvalidArgument(std::to_string(rejected_) + " lines rejected");
    return Status::OK();
  }

 private:
  Engine* engine_;
  uint32_t index_;
  std::mutex mu_;
  std::condition_variable cv_;
  int inflight_ = 0;
  uint64_t rejected_ = 0;
  Status first_error_;
};

}  // namespace impulse::bench
