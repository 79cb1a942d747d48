// FakeOpenAi: an OpenAI-compatible chat completions endpoint for tests, on top of
// RecordingHttpServer. POST /v1/chat/completions answers with a deterministic content derived from
// the prompt, and usage tokens:
//   - text (no response_format): "echo: <last user message>"
//   - JSON asked (response_format json_object): {"verdict":"flag"|"ok","prompt_chars":N}, where
//     the verdict is "flag" when the user message contains "fraud" and N is its length in bytes;
//   - or whatever set_content() returns.
// usage: prompt_tokens = (system + user bytes) / 4, completion_tokens = content bytes / 4 + 1.
// Faults are scripted per call, consumed in order by the next calls (429 with Retry-After, a
// status, a content that is not JSON, a dropped connection), plus a delay for every answer.
// Every request is recorded (model, messages, parameters, headers); a body that is not a chat
// completion request gets 400, other paths 404.
//
// Threads: the server's own I/O thread runs the handler; every method is thread-safe.
// Bounds: recorded requests up to kRequestsMax (later ones are answered, counted in calls(), not
// recorded); scripted faults up to kFaultsMax (more are ignored: a test asking for more is wrong).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "action/recording_server.h"
#include "impulse/status.h"

namespace impulse::action {

// One chat completion request as the fake saw it.
struct FakeChatRequest {
  std::string model;
  std::string system;           // the system message ("" if none)
  std::string user;             // the last user message
  size_t messages = 0;          // how many messages
  double temperature = -1;      // -1 when absent
  int64_t max_tokens = -1;      // -1 when absent
  bool json_asked = false;      // response_format.type == "json_object"
  std::string authorization;    // the Authorization header as sent
  std::string idempotency_key;  // the Idempotency-Key header
  std::string body;             // raw
  bool valid = false;           // parsed as a chat completion request
};

class FakeOpenAi {
 public:
  static constexpr size_t kFaultsMax = 100'000;
  static constexpr size_t kRequestsMax = 100'000;
  using ContentFn = std::function<std::string(const FakeChatRequest&)>;

  static Result<std::unique_ptr<FakeOpenAi>> Start();
  ~FakeOpenAi();

  // "http://127.0.0.1:<port>": what AgentOptions::base_url takes.
  std::string base_url() const;

  // The next `n` calls answer 429 with this Retry-After ("" for none).
  void RateLimitNext(int n, const std::string& retry_after = "1");
  // The next `n` calls answer `status` with an OpenAI-style error body.
  void FailNext(int n, int status = 500);
  // The next `n` calls answer 200 with a content that is not JSON ("Sure! Here is the JSON: {").
  void NotJsonNext(int n);
  // The next `n` calls are dropped without an answer.
  void DropNext(int n);
  // Every answer (faults included) waits this long first. 0: none.
  void set_delay_ms(int64_t delay_ms);
  // Replaces the derived content; nullptr restores it.
  void set_content(ContentFn fn);

  std::vector<FakeChatRequest> requests() const;  // chat completion calls, in arrival order
  uint64_t calls() const;                         // all requests the server received
  uint32_t concurrent_max() const;                // most requests being answered at once
  bool WaitForCalls(uint64_t n, int64_t timeout_ms) const;

  // The content the fake derives for `request` when no set_content() is in force.
  static std::string DerivedContent(const FakeChatRequest& request);

 private:
  enum class FaultKind { kStatus, kNotJson, kDrop };
  struct Fault {
    FaultKind kind = FaultKind::kStatus;
    int status = 500;
    std::string retry_after;
  };

  FakeOpenAi() = default;
  ScriptedReply Handle(const RecordedRequest& request);
  void Push(int n, const Fault& fault);

  std::unique_ptr<RecordingHttpServer> server_;
  mutable std::mutex mu_;
  std::deque<Fault> faults_;
  std::vector<FakeChatRequest> requests_;
  int64_t delay_ms_ = 0;
  ContentFn content_;
};

}  // namespace impulse::action
