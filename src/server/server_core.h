// State shared by the acceptor, the connections and the engine completions of one
// HttpServer. Private to src/server (it pulls in Asio).
//
// Lifetime: owned through shared_ptr by HttpServer and by every pending ingest completion, so
// an engine callback that fires after Stop() still finds valid io_contexts (it then drops its
// connection instead of posting). Connections hold a raw pointer: they only live inside this
// core's io_contexts or inside such a completion.
#pragma once

#include <utility>  // before Asio with g++ 12 / C++20

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "impulse/engine.h"
#include "server/http_server.h"
#include "server/router.h"
#include "server/server_metrics.h"

namespace impulse::server {

struct ServerCore : std::enable_shared_from_this<ServerCore> {
  ServerCore(Engine* e, HttpServerOptions opts) : options(std::move(opts)), engine(e), router(e, &options, &metrics) {}

  // Runs `fn` on I/O thread `index` unless Stop() has closed the gate. Returns false when the
  // handler was dropped (it is destroyed before this returns, while the core is alive).
  template <typename F>
  bool Post(uint32_t index, F&& fn) {
    std::lock_guard<std::mutex> lock(gate_mu);
    if (gate_closed) return false;
    boost::asio::post(*iocs[index], std::forward<F>(fn));
    return true;
  }

  void CloseGate() {
    std::lock_guard<std::mutex> lock(gate_mu);
    gate_closed = true;
  }

  // Declaration order is destruction order reversed: connections (inside iocs) and the
  // acceptor go first, while metrics and options are still there.
  const HttpServerOptions options;
  Engine* const engine;
  ServerMetrics metrics;
  const Router router;
  std::atomic<uint32_t> connections{0};  // open connections, bounded by max_connections
  std::atomic<int64_t> inflight{0};      // requests read but not yet answered
  std::atomic<bool> stopping{false};     // responses close their connection

  std::mutex gate_mu;
  bool gate_closed = false;  // guarded by gate_mu

  std::vector<std::unique_ptr<boost::asio::io_context>> iocs;  // one per I/O thread
  std::optional<boost::asio::ip::tcp::acceptor> acceptor;      // used on iocs[0] only
};

// Creates a connection on I/O thread `index` (the caller is on that thread) and starts it.
void StartSession(boost::asio::ip::tcp::socket socket, ServerCore* core, uint32_t index);

}  // namespace impulse::server
