// What the in-process benchmark drivers (nexmark_bench.cc, ysb_bench.cc) share: one producer
// thread's asynchronous Ingest / IngestRows calls with a bound on the calls in flight, the run's
// data directory, and the query spec found beside the binary.
#pragma once

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/share_dir.h"
#include "impulse/engine.h"

namespace impulse::bench {

// The data directory of a run: the one given (kept), or a fresh temp directory named after
// `what` and the process, removed with this object.
class RunDataDir {
 public:
  RunDataDir(std::string given, const std::string& what) : path_(std::move(given)), temp_(path_.empty()) {
    if (!temp_) return;
    path_ = (std::filesystem::temp_directory_path() / ("impulse-" + what + "-" + std::to_string(::getpid()))).string();
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ~RunDataDir() {
    std::error_code ec;
    if (temp_) std::filesystem::remove_all(path_, ec);
  }
  RunDataDir(const RunDataDir&) = delete;
  RunDataDir& operator=(const RunDataDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool temp_;
};

// Fills an empty *spec with the shipped file `shared` (common/share_dir.h); false, with the
// error on stderr for `command`, when it cannot be found.
inline bool FindSpec(const char* command, const std::string& shared, std::string* spec) {
  if (!spec->empty()) return true;
  auto found = FindSharedFile(shared);
  if (!found.ok()) {
    std::fprintf(stderr, "impulse-bench: %s: %s\n", command, found.status().ToString().c_str());
    return false;
  }
  *spec = *found;
  return true;
}

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
