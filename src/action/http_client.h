// An asynchronous HTTP/1.1 client (Boost.Beast) for http:// URLs, used by the webhook and agent
// executors. One new TCP connection per request ("Connection: close"): simple and always fresh
// after an endpoint restarts; keep-alive pooling is a later optimisation.
//
// Bounds: the whole attempt (resolve + connect + write + read) has one deadline, `timeout_ms`;
// the response body is limited to `response_bytes_max` (kResourceExhausted beyond), the header
// to 64 KiB. A Content-Length over the limit is refused before the body is read; a chunked or
// close-delimited body is also checked after reading (whether Beast 1.74 stops such a body at the
// limit while reading is untested: its whole-message read ignored the limit in one case). Connection errors and
// timeouts come back in HttpResponse::error, never as a crash or an exception. `done` runs exactly once, on a thread
// running `io`; if `io` is stopped or destroyed first, `done` never runs (its function object is destroyed).
#pragma once

#include <utility>  // before Asio with g++ 12 / C++20

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "action/http_syntax.h"
#include "impulse/status.h"

namespace impulse::action {

struct HttpRequest {
  std::string method = "POST";  // any token Beast knows (GET, POST, PUT, ...)
  std::string url;              // http://host[:port][/path][?query]
  // Sent as given, after the http_syntax.h checks (a bad name or value fails the request with
  // kInvalidArgument and nothing is sent); Host and Content-Length are set.
  std::map<std::string, std::string> headers;
  std::string body;
  int64_t timeout_ms = 5'000;             // the whole attempt
  uint64_t response_bytes_max = 1 << 20;  // response body limit
};

struct HttpResponse {
  int status = 0;                              // 0 when there was no HTTP answer
  std::map<std::string, std::string> headers;  // names lower-cased ("retry-after")
  std::string body;
  // Not OK when there is no complete answer: kInvalidArgument (bad URL, method or header),
  // kUnavailable (resolve/connect/read/write failed, connection closed, timeout),
  // kResourceExhausted (body over the limit). `timed_out` tells the timeout apart.
  Status error;
  bool timed_out = false;

  // The value of header `lower_name` (lower-case), or "".
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

void AsyncRequest(boost::asio::io_context& io, HttpRequest request, std::function<void(HttpResponse)> done);

}  // namespace impulse::action
