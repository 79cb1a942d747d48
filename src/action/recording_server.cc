// RecordingHttpServer: an acceptor and one session per connection on a private io_context thread.
#include <utility>  // before Asio with g++ 12 / C++20

#include "action/recording_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <optional>
#include <thread>

namespace impulse::action {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

struct RecordingHttpServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  uint16_t port = 0;
  size_t requests_max = 0;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  Handler handler;
  std::deque<RecordedRequest> requests;
  uint64_t total = 0;
  uint32_t concurrent = 0;
  uint32_t concurrent_peak = 0;

  // Records the request and returns the handler's reply (called on the I/O thread).
  ScriptedReply Handle(RecordedRequest req) {
    Handler h;
    {
      std::lock_guard<std::mutex> lock(mu);
      req.index = total++;
      ++concurrent;
      concurrent_peak = std::max(concurrent_peak, concurrent);
      requests.push_back(req);
      if (requests.size() > requests_max) requests.pop_front();
      h = handler;
    }
    cv.notify_all();
    return h ? h(req) : ScriptedReply{};
  }

  void Answered() {
    std::lock_guard<std::mutex> lock(mu);
    --concurrent;
  }

  void Accept();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, RecordingHttpServer::Impl* server)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), server_(server) {}

  void Read() {
    parser_.emplace();
    parser_->header_limit(64 << 10);
    parser_->body_limit(16 << 20);
    http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      self->OnRequest();
    });
  }

 private:
  void OnRequest() {
    auto& req = parser_->get();
    RecordedRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& f : req)
      r.headers[Lower(std::string_view(f.name_string().data(), f.name_string().size()))] = std::string(f.value());
    r.body = req.body();
    r.received_ms = SteadyMs();
    keep_alive_ = req.keep_alive();
    reply_ = server_->Handle(std::move(r));
    if (reply_.delay_ms > 0) {
      timer_.expires_after(std::chrono::milliseconds(reply_.delay_ms));
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec) return self->Finish(/*answer=*/false);
        self->Finish(!self->reply_.close_without_answer);
      });
      return;
    }
    Finish(!reply_.close_without_answer);
  }

  void Finish(bool answer) {
    if (!answer) {
      server_->Answered();
      return Close();
    }
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(reply_.status));
    res_.set(http::field::content_type, reply_.content_type);
    for (const auto& [k, v] : reply_.headers) res_.set(k, v);
    res_.keep_alive(keep_alive_);
    res_.body() = reply_.body;
    res_.prepare_payload();
    http::async_write(socket_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->server_->Answered();
      if (ec || !self->keep_alive_) return self->Close();
      self->Read();
    });
  }

  void Close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  RecordingHttpServer::Impl* server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  ScriptedReply reply_;
  bool keep_alive_ = false;
};

}  // namespace

void RecordingHttpServer::Impl::Accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) std::make_shared<Session>(std::move(socket), this)->Read();
    Accept();
  });
}

Result<std::unique_ptr<RecordingHttpServer>> RecordingHttpServer::Start(Handler handler, size_t requests_max) {
  auto impl = std::make_shared<Impl>();
  impl->handler = std::move(handler);
  impl->requests_max = std::max<size_t>(1, requests_max);
  beast::error_code ec;
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("test server listen: " + ec.message());
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  impl->thread = std::thread([io = &impl->io] { io->run(); });
  return std::unique_ptr<RecordingHttpServer>(new RecordingHttpServer(std::move(impl)));
}

RecordingHttpServer::RecordingHttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

RecordingHttpServer::~RecordingHttpServer() {
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->io.stop();
  });
  impl_->thread.join();
}

uint16_t RecordingHttpServer::port() const { return impl_->port; }

std::string RecordingHttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + path;
}

void RecordingHttpServer::SetHandler(Handler handler) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->handler = std::move(handler);
}

std::vector<RecordedRequest> RecordingHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return {impl_->requests.begin(), impl_->requests.end()};
}

uint64_t RecordingHttpServer::requests_total() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->total;
}

uint32_t RecordingHttpServer::concurrent_now() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->concurrent;
}

uint32_t RecordingHttpServer::concurrent_max() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->concurrent_peak;
}

bool RecordingHttpServer::WaitForRequests(uint64_t n, int64_t timeout_ms) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return impl_->total >= n; });
}

}  // namespace impulse::action
