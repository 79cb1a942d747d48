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
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "impulse/engine.h"
#include "server/http_server.h"
#include "server/router.h"
#include "server/server_metrics.h"

namespace impulse::server {

// A connection that holds a slot without a complete request head: waiting for its next request,
// or with part of its header received. The one to close when a new client needs its slot, so
// that sending a byte and stalling does not keep a slot.
class IdleConnection {
 public:
  virtual ~IdleConnection() = default;
  // Runs on the connection's I/O thread after IdleList::ClaimOldest chose it: closes it.
  virtual void Shed() = 0;
};

// The idle connections (above) of all I/O threads of one slot kind, oldest first. Thread-safe.
// A connection adds itself when it starts waiting for a request and removes itself when its
// request head is complete (or it closes); the acceptor claims the oldest to close it. A claimed
// connection is committed to closing: if a request head raced in, Remove() says so and the
// connection closes without serving it, so a claim always frees a slot.
class IdleList {
 public:
  struct Entry {
    std::weak_ptr<IdleConnection> conn;
    uint32_t io_index = 0;
    bool* claimed = nullptr;  // the connection's flag, written under mu_
  };
  using Handle = std::list<Entry>::iterator;

  // `metrics` (may be null) gets the list's size as the idle-connections gauge.
  explicit IdleList(ServerMetrics* metrics) : metrics_(metrics) {}

  // `*claimed` must stay valid until Remove(handle) returns.
  Handle Add(std::weak_ptr<IdleConnection> conn, uint32_t io_index, bool* claimed) {
    std::lock_guard<std::mutex> lock(mu_);
    *claimed = false;
    auto handle = list_.insert(list_.end(), Entry{std::move(conn), io_index, claimed});
    if (metrics_ != nullptr) metrics_->SetIdleConnections(list_.size());
    return handle;
  }

  // False when the connection was claimed (it must close); else it is no longer idle.
  bool Remove(Handle handle, const bool* claimed) {
    std::lock_guard<std::mutex> lock(mu_);
    if (*claimed) return false;
    list_.erase(handle);
    if (metrics_ != nullptr) metrics_->SetIdleConnections(list_.size());
    return true;
  }

  // Takes the oldest idle connection that is still alive: marks it claimed and returns it
  // with its I/O thread. nullopt when none is idle.
  std::optional<std::pair<std::shared_ptr<IdleConnection>, uint32_t>> ClaimOldest() {
    std::lock_guard<std::mutex> lock(mu_);
    while (!list_.empty()) {
      Entry e = list_.front();
      list_.pop_front();
      *e.claimed = true;
      if (metrics_ != nullptr) metrics_->SetIdleConnections(list_.size());
      if (auto conn = e.conn.lock()) return std::make_pair(std::move(conn), e.io_index);
    }
    return std::nullopt;
  }

 private:
  ServerMetrics* const metrics_;
  std::mutex mu_;
  std::list<Entry> list_;  // guarded by mu_; oldest first
};

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
  std::atomic<uint32_t> connections{0};   // open connections but the reserve's: max_connections, plus
                                          // briefly the claimed idle ones still closing
  std::atomic<uint32_t> reserve_open{0};  // open reserve connections: reserve_connections, plus briefly
                                          // the claimed ones still closing
  IdleList idle{&metrics};                // regular connections without a complete request head
  IdleList reserve_idle{nullptr};         // reserve connections without a complete request head
  std::atomic<int64_t> inflight{0};       // requests read but not yet answered
  std::atomic<bool> stopping{false};      // responses close their connection

  std::mutex gate_mu;
  bool gate_closed = false;  // guarded by gate_mu

  std::vector<std::unique_ptr<boost::asio::io_context>> iocs;  // one per I/O thread
  std::optional<boost::asio::ip::tcp::acceptor> acceptor;      // used on iocs[0] only
};

// Which slot a connection holds.
enum class Slot : uint8_t {
  kRegular,  // counted in ServerCore::connections; keep-alive
  kReserve,  // counted in ServerCore::reserve_open; one request (/healthz, /metrics, else 503)
};

// Creates a connection on I/O thread `index` (the caller is on that thread) and starts it.
void StartSession(boost::asio::ip::tcp::socket socket, ServerCore* core, uint32_t index, Slot slot);

}  // namespace impulse::server
