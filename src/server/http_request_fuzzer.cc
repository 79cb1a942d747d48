// Fuzzes the HTTP request path below the router: raw bytes (one or more pipelined requests)
// through Beast's request parser with the server's limits, then the checks the connection
// makes on a parsed header (CheckRequestHead: transfer coding, auth, declared size), then the
// router with the body, against a FakeEngine; repeated while the connection would stay open.
// Must never crash, hang, leak or trip a sanitizer, and every reply must be a valid status.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/fake_engine.h"
#include "server/request_head.h"
#include "server/router.h"

namespace {

namespace http = boost::beast::http;
using impulse::server::HttpReply;

void CheckReply(const HttpReply& reply) {
  if (reply.status < 100 || reply.status > 599) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace impulse::server;
  static FakeEngine* engine = [] {
    auto* e = new FakeEngine();
    e->DiscardLines();
    return e;
  }();
  static ServerMetrics* metrics = new ServerMetrics();
  static HttpServerOptions* options = [] {
    auto* o = new HttpServerOptions();
    o->max_body_bytes = 4096;
    o->max_header_bytes = 2048;
    o->bearer_token = "tok";
    return o;
  }();
  static Router router(engine, options, metrics);

  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Requests on one connection, as the session reads them; bounded by the input's length
  // (every round consumes at least one byte or stops).
  while (!in.empty()) {
    RequestParser parser;
    parser.header_limit(options->max_header_bytes);
    parser.body_limit(options->max_body_bytes);
    parser.eager(false);
    boost::beast::error_code ec;
    // The header first, as async_read_header does.
    size_t used = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
    if (ec == http::error::need_more) return 0;  // the connection would wait (header timeout)
    if (ec) return 0;                            // 400 / 431 and close
    in.remove_prefix(used);
    if (!parser.is_header_done()) return 0;
    const auto& req = parser.get();
    const ParsedTarget target = ParseTarget(std::string_view(req.target().data(), req.target().size()));
    if (auto early = CheckRequestHead(router, parser, target)) {
      CheckReply(early->reply);
      if (early->close || !parser.is_done()) return 0;
      continue;
    }
    // Then the body.
    parser.eager(true);
    while (!parser.is_done()) {
      if (in.empty()) return 0;  // the connection would wait for the rest (idle timeout)
      used = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
      if (ec == http::error::need_more && used == 0) return 0;
      if (ec && ec != http::error::need_more) return 0;  // 413 / 400 and close
      in.remove_prefix(used);
    }
    if (!parser.is_done()) return 0;
    const bool keep_alive = req.keep_alive();
    const std::string method(req.method_string());
    std::string body = std::move(parser.get().body());
    router.Handle(method, target, std::move(body), /*producer=*/0, [](HttpReply reply) { CheckReply(reply); });
    if (!keep_alive) return 0;
  }
  return 0;
}
