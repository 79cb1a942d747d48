#include "server/http_server.h"

#include <utility>  // before Asio with g++ 12 / C++20

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <future>
#include <thread>

#include "server/server_core.h"

namespace impulse::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr uint32_t kMaxIoThreads = 64;
constexpr uint32_t kMaxPipelinedRequests = 1024;
// After accept() failed for lack of file descriptors, the next try waits this long: the
// pending connection keeps the listening socket readable, so retrying at once would spin.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(20);

struct HttpServer::Impl {
  std::shared_ptr<ServerCore> core;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  uint32_t next_index = 0;                         // round-robin over I/O threads; used on iocs[0] only
  std::optional<asio::steady_timer> accept_retry;  // on iocs[0]
  std::mutex stop_mu;
  bool stopped = false;  // guarded by stop_mu

  void Accept() {
    ServerCore* core_ptr = core.get();
    const uint32_t index = next_index;
    next_index = (next_index + 1) % static_cast<uint32_t>(core_ptr->iocs.size());
    core_ptr->acceptor->async_accept(
        *core_ptr->iocs[index], [this, core_ptr, index](boost::system::error_code ec, tcp::socket socket) {
          if (ec == asio::error::operation_aborted || !core_ptr->acceptor->is_open()) return;
          if (!ec) OnAccepted(std::move(socket), index);
          if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec.value() == ENFILE) {
            return RetryAcceptLater();
          }
          // Other errors (ECONNABORTED) are per-connection: keep accepting.
          Accept();
        });
  }

  // Out of file descriptors (or kernel memory): free one by shedding the oldest connection
  // without a complete request head, and try again shortly rather than spinning on the
  // readable listening socket.
  void RetryAcceptLater() {
    ServerCore* c = core.get();
    c->metrics.AcceptFailed();
    if (!ShedOldest(c->idle)) ShedOldest(c->reserve_idle);
    accept_retry->expires_after(kAcceptRetryDelay);
    accept_retry->async_wait([this, c](boost::system::error_code ec) {
      if (ec || !c->acceptor->is_open()) return;
      Accept();
    });
  }

  // Closes the oldest connection of `list` without a complete request head (on its own I/O
  // thread). False when there is none.
  bool ShedOldest(IdleList& list) {
    ServerCore* c = core.get();
    auto victim = list.ClaimOldest();
    if (!victim) return false;
    c->metrics.ConnectionShed();
    c->Post(victim->second, [conn = std::move(victim->first)] { conn->Shed(); });
    return true;
  }

  // Admission: a regular slot while fewer than max_connections are open, else the slot of the
  // oldest regular connection without a complete request head (which is closed), else a reserve
  // slot while fewer than reserve_connections are open, else the slot of the oldest reserve
  // connection without a complete request head, else closed at once. So a slot is never held
  // against a new client by a connection that has sent no complete request head.
  void OnAccepted(tcp::socket socket, uint32_t index) {
    ServerCore* c = core.get();
    Slot slot = Slot::kRegular;
    bool admit = !c->stopping.load();
    if (admit && c->connections.load() >= c->options.max_connections && !ShedOldest(c->idle)) {
      slot = Slot::kReserve;
      admit = c->reserve_open.load() < c->options.reserve_connections || ShedOldest(c->reserve_idle);
    }
    if (!admit) {
      c->metrics.ConnectionRejected();  // before the close, which the client can observe
      boost::system::error_code ignored;
      socket.close(ignored);
      return;
    }
    if (slot == Slot::kReserve) {
      c->reserve_open.fetch_add(1);
      c->metrics.ConnectionReserved();
    } else {
      c->connections.fetch_add(1);
    }
    c->metrics.ConnectionOpened();
    // The socket belongs to iocs[index]; start it there.
    asio::post(*c->iocs[index],
               [s = std::move(socket), c, index, slot]() mutable { StartSession(std::move(s), c, index, slot); });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(Engine* engine, HttpServerOptions options) {
  if (engine == nullptr) return InvalidArgument("HttpServer: engine is null");
  if (options.io_threads == 0 || options.io_threads > kMaxIoThreads) {
    return InvalidArgument("HttpServer: io_threads must be in [1, " + std::to_string(kMaxIoThreads) + "], got " +
                           std::to_string(options.io_threads));
  }
  if (options.max_connections == 0) return InvalidArgument("HttpServer: max_connections must be > 0");
  if (options.max_body_bytes == 0) return InvalidArgument("HttpServer: max_body_bytes must be > 0");
  if (options.max_pipelined_requests == 0 || options.max_pipelined_requests > kMaxPipelinedRequests) {
    return InvalidArgument("HttpServer: max_pipelined_requests must be in [1, " +
                           std::to_string(kMaxPipelinedRequests) + "], got " +
                           std::to_string(options.max_pipelined_requests));
  }
  if (options.idle_timeout_ms == 0) return InvalidArgument("HttpServer: idle_timeout_ms must be > 0");
  if (options.header_timeout_ms == 0) return InvalidArgument("HttpServer: header_timeout_ms must be > 0");

  auto impl = std::make_unique<Impl>();
  impl->core = std::make_shared<ServerCore>(engine, std::move(options));
  ServerCore& core = *impl->core;
  for (uint32_t i = 0; i < core.options.io_threads; ++i) {
    core.iocs.push_back(std::make_unique<asio::io_context>(1));
  }

  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(core.options.host, ec);
  if (ec) {
    // A host name (localhost, the machine's name): its first IPv4 address, else its first one.
    // One listener binds one address; IPv4 first because the CLI and the clients default to
    // 127.0.0.1, and Debian's /etc/hosts also names ::1 localhost (which getaddrinfo may list first).
    tcp::resolver resolver(*core.iocs[0]);
    const tcp::resolver::results_type found =
        resolver.resolve(core.options.host, std::to_string(core.options.port), tcp::resolver::numeric_service, ec);
    if (ec || found.empty()) {
      return InvalidArgument("HttpServer: host '" + core.options.host + "' is neither an IP address nor a name " +
                             "that resolves: " + (ec ? ec.message() : std::string("no address")));
    }
    address = found.begin()->endpoint().address();
    for (const auto& r : found) {
      if (r.endpoint().address().is_v4()) {
        address = r.endpoint().address();
        break;
      }
    }
  }
  const tcp::endpoint endpoint(address, core.options.port);
  core.acceptor.emplace(*core.iocs[0]);
  impl->accept_retry.emplace(*core.iocs[0]);
  auto fail = [&](std::string_view what) {
    return IOError("HttpServer: " + std::string(what) + " " + core.options.host + ":" +
                   std::to_string(core.options.port) + ": " + ec.message());
  };
  if (core.acceptor->open(endpoint.protocol(), ec); ec) return fail("open");
  if (core.acceptor->set_option(tcp::acceptor::reuse_address(true), ec); ec) return fail("reuse_address");
  if (core.acceptor->bind(endpoint, ec); ec) return fail("bind");
  if (core.acceptor->listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
  impl->port = core.acceptor->local_endpoint(ec).port();
  if (ec) return fail("local_endpoint");

  impl->Accept();
  for (auto& ioc : core.iocs) {
    impl->guards.push_back(asio::make_work_guard(*ioc));
  }
  for (auto& ioc : core.iocs) {
    asio::io_context* p = ioc.get();
    impl->threads.emplace_back([p] { p->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->port; }

std::string HttpServer::MetricsText() const { return impl_->core->metrics.Text(); }

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  ServerCore& core = *impl_->core;
  core.stopping.store(true);
  // Long-polling reads are answered now (503) rather than holding the stop for their wait.
  core.engine->StopReadWaits();

  // Close the acceptor on its own thread, and wait for that.
  std::promise<void> closed;
  asio::post(*core.iocs[0], [this, &core, &closed] {
    boost::system::error_code ignored;
    core.acceptor->close(ignored);
    impl_->accept_retry->cancel();
    closed.set_value();
  });
  closed.get_future().wait();

  // In-flight requests finish (their connections close after the reply), bounded.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(core.options.stop_timeout_ms);
  while (core.inflight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  impl_->guards.clear();
  for (auto& ioc : core.iocs) ioc->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // From here a late engine completion drops its connection instead of posting.
  core.CloseGate();
}

}  // namespace impulse::server
