// A small synchronous HTTP/1.1 client for the commands that talk to a running engine (tail,
// ingest, describe, status, top, delete --records-before): one keep-alive connection, bearer token, a timeout per
// request. Plain HTTP only (the engine's listener).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "impulse/status.h"

namespace impulse::tools {

struct HttpResponse {
  int status = 0;
  std::string body;
  uint32_t retry_after_s = 0;  // Retry-After of a 503, else 0
};

// Parses --url: "http://HOST:PORT[/]", "HOST:PORT" or "HOST" (port 8470). kInvalidArgument
// naming the flag otherwise (https is not served by the engine).
Status ParseEngineUrl(const std::string& url, std::string* host, uint16_t* port);

class EngineClient {
 public:
  // `url` as ParseEngineUrl takes it; `token` empty: no Authorization header.
  static Result<std::unique_ptr<EngineClient>> Create(const std::string& url, std::string token);
  ~EngineClient();
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  // One request; a GET reconnects once when a kept-alive connection was closed by the server. A
  // POST or DELETE is not sent again once written; after a second of idleness it opens a new
  // connection first.
  // kUnavailable for a refused connection or a timeout (the message names the URL).
  Result<HttpResponse> Get(const std::string& target, int64_t timeout_ms = 10'000);
  Result<HttpResponse> Post(const std::string& target, const std::string& body, int64_t timeout_ms = 60'000);
  Result<HttpResponse> Delete(const std::string& target, int64_t timeout_ms = 60'000);

  const std::string& url() const { return url_; }

 private:
  struct Impl;
  EngineClient(std::unique_ptr<Impl> impl, std::string url);
  std::unique_ptr<Impl> impl_;
  std::string url_;
};

// The "error" member of an engine error body, else the body itself (trimmed).
std::string ErrorMessage(const HttpResponse& r);
// The "code" member of an engine error body (a StatusCode name: "Unavailable",
// "FailedPrecondition", ...), else "".
std::string ErrorCode(const HttpResponse& r);

// Percent-encodes a path segment (stream names).
std::string EncodeSegment(std::string_view s);

}  // namespace impulse::tools
