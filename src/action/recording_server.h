// A small in-process HTTP/1.1 server that records what it receives (Boost.Beast): listens on
// 127.0.0.1:<ephemeral>, answers each request with what a scriptable handler returns (status,
// headers, body, a delay, or closing the connection without an answer), and records every
// request with its arrival time. The fraud demo's webhook receiver, and the scripted endpoint of
// the webhook tests, the engine's action tests and the fake OpenAI endpoint.
//
// Threads: one I/O thread of its own. The handler runs on it and must be quick (use
// Reply::delay_ms to be slow: the delay is a timer, other connections keep being served).
// requests(), counters and the handler setter are thread-safe.
// Bounds: request header 64 KiB, body 16 MiB; recorded requests up to requests_max (older ones
// dropped first, counted in requests_total()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "impulse/status.h"

namespace impulse::action {

struct RecordedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased ("idempotency-key")
  std::string body;
  int64_t received_ms = 0;  // steady clock, ms (compare requests with each other only)
  uint64_t index = 0;       // 0, 1, 2 ... in arrival order

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct ScriptedReply {
  int status = 200;
  std::map<std::string, std::string> headers;  // e.g. {"Retry-After", "1"}
  std::string body;
  std::string content_type = "application/json";
  int64_t delay_ms = 0;               // wait this long before answering (or closing)
  bool close_without_answer = false;  // drop the connection instead of answering

  static ScriptedReply Status(int status, std::string body = "") {
    ScriptedReply r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static ScriptedReply TooManyRequests(std::string retry_after) {
    ScriptedReply r;
    r.status = 429;
    r.headers["Retry-After"] = std::move(retry_after);
    return r;
  }
  static ScriptedReply Drop() {
    ScriptedReply r;
    r.close_without_answer = true;
    return r;
  }
  static ScriptedReply Delay(int64_t delay_ms, int status = 200) {
    ScriptedReply r;
    r.status = status;
    r.delay_ms = delay_ms;
    return r;
  }
};

class RecordingHttpServer {
 public:
  using Handler = std::function<ScriptedReply(const RecordedRequest&)>;

  // Starts listening; the default handler answers 200 with an empty body.
  static Result<std::unique_ptr<RecordingHttpServer>> Start(Handler handler = nullptr, size_t requests_max = 100'000);
  ~RecordingHttpServer();  // stops: open connections are closed, delayed replies dropped

  uint16_t port() const;
  std::string url(const std::string& path = "/") const;  // "http://127.0.0.1:<port><path>"
  void SetHandler(Handler handler);

  std::vector<RecordedRequest> requests() const;
  uint64_t requests_total() const;
  // Requests being handled right now (read, not yet answered or dropped), and the most ever.
  uint32_t concurrent_now() const;
  uint32_t concurrent_max() const;
  // Waits until at least `n` requests arrived; false on timeout.
  bool WaitForRequests(uint64_t n, int64_t timeout_ms) const;

  struct Impl;

 private:
  explicit RecordingHttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace impulse::action
