// AsyncRequest: resolve, connect, write, read, all on one strand, under one deadline timer that
// closes the socket when it fires (so every pending operation completes with an error).
#include "action/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>

namespace impulse::action {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr uint32_t kHeaderBytesMax = 64 << 10;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One request in flight. Owned by its pending handlers (shared_from_this); every member is used
// on `strand_` only.
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(asio::io_context& io, ParsedUrl url, HttpRequest request, std::function<void(HttpResponse)> done)
      : strand_(asio::make_strand(io)),
        resolver_(strand_),
        socket_(strand_),
        timer_(strand_),
        url_(std::move(url)),
        request_(std::move(request)),
        done_(std::move(done)) {}

  void Start(http::verb verb) {
    req_.method(verb);
    req_.target(url_.target);
    req_.version(11);
    req_.set(http::field::host, url_.port == "80" ? url_.host : url_.host + ":" + url_.port);
    req_.set(http::field::connection, "close");
    for (const auto& [k, v] : request_.headers) req_.set(k, v);
    req_.body() = std::move(request_.body);
    req_.prepare_payload();
    asio::dispatch(strand_, [self = shared_from_this()] { self->Begin(); });
  }

 private:
  void Begin() {
    timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(1, request_.timeout_ms)));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      self->timed_out_ = true;
      self->resolver_.cancel();
      beast::error_code ignored;
      self->socket_.close(ignored);
    });
    resolver_.async_resolve(
        url_.host, url_.port,
        [self = shared_from_this()](beast::error_code ec, const tcp::resolver::results_type& results) {
          self->OnResolve(ec, results);
        });
  }

  void OnResolve(beast::error_code ec, const tcp::resolver::results_type& results) {
    if (ec || timed_out_) return Fail("resolve " + url_.host, ec);
    asio::async_connect(socket_, results, [self = shared_from_this()](beast::error_code cec, const tcp::endpoint&) {
      self->OnConnect(cec);
    });
  }

  void OnConnect(beast::error_code ec) {
    if (ec || timed_out_) return Fail("connect " + url_.host + ":" + url_.port, ec);
    beast::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    http::async_write(socket_, req_,
                      [self = shared_from_this()](beast::error_code wec, size_t) { self->OnWrite(wec); });
  }

  void OnWrite(beast::error_code ec) {
    if (ec || timed_out_) return Fail("write", ec);
    parser_.header_limit(kHeaderBytesMax);
    parser_.body_limit(request_.response_bytes_max);
    // Header first: Beast 1.74's whole-message async_read did not report body_limit here (a 5000
    // byte body passed a 100 byte limit), while read_header does; the body size is checked again
    // after the read.
    http::async_read_header(socket_, buffer_, parser_, [self = shared_from_this()](beast::error_code hec, size_t) {
      if (hec) return self->OnRead(hec);
      if (self->parser_.is_done()) return self->OnRead(hec);
      http::async_read(self->socket_, self->buffer_, self->parser_,
                       [self](beast::error_code rec, size_t) { self->OnRead(rec); });
    });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit ||
        (!ec && parser_.is_header_done() && parser_.get().body().size() > request_.response_bytes_max)) {
      HttpResponse r;
      r.status = static_cast<int>(parser_.get().result_int());
      r.error = ResourceExhausted("response body over " + std::to_string(request_.response_bytes_max) + " bytes");
      return Finish(std::move(r));
    }
    if (ec || timed_out_) return Fail("read", ec);
    HttpResponse r;
    auto& res = parser_.get();
    r.status = static_cast<int>(res.result_int());
    for (const auto& f : res)
      r.headers[Lower(std::string_view(f.name_string().data(), f.name_string().size()))] = std::string(f.value());
    r.body = std::move(res.body());
    Finish(std::move(r));
  }

  void Fail(const std::string& what, beast::error_code ec) {
    HttpResponse r;
    if (timed_out_) {
      r.timed_out = true;
      r.error = Unavailable("timeout after " + std::to_string(request_.timeout_ms) + " ms");
    } else {
      r.error = Unavailable(what + ": " + ec.message());
    }
    Finish(std::move(r));
  }

  void Finish(HttpResponse r) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    auto done = std::move(done_);
    done(std::move(r));
  }

  asio::strand<asio::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  ParsedUrl url_;
  HttpRequest request_;
  std::function<void(HttpResponse)> done_;
  http::request<http::string_body> req_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
  bool timed_out_ = false;
  bool finished_ = false;
};

}  // namespace

void AsyncRequest(asio::io_context& io, HttpRequest request, std::function<void(HttpResponse)> done) {
  auto fail_soon = [&io](std::function<void(HttpResponse)> d, Status st) {
    asio::post(io, [d = std::move(d), st = std::move(st)]() mutable {
      HttpResponse r;
      r.error = std::move(st);
      d(std::move(r));
    });
  };
  Result<ParsedUrl> url = ParseHttpUrl(request.url);
  if (!url.ok()) return fail_soon(std::move(done), url.status());
  // Values may come from run time (an event's id in Idempotency-Key, an API key from the
  // environment): checked here too, so none can add a header or split the request.
  for (const auto& [name, value] : request.headers) {
    Status st = CheckHeaderName(name);
    if (st.ok()) st = CheckHeaderValue(name, value);
    if (!st.ok()) return fail_soon(std::move(done), std::move(st));
  }
  http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown)
    return fail_soon(std::move(done), InvalidArgument("unknown HTTP method " + request.method));
  auto call = std::make_shared<Call>(io, std::move(url).value(), std::move(request), std::move(done));
  call->Start(verb);
}

}  // namespace impulse::action
