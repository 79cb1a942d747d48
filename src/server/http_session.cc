// One HTTP/1.1 connection: read a header, run the prechecks (auth, declared size), read the
// body (bounded), hand the request to the Router, write the reply, repeat (keep-alive). One
// request at a time, so pipelined requests are answered in order. Runs on its I/O thread only;
// engine completions are posted back to that thread through ServerCore::Post.
#include <utility>  // before Asio with g++ 12 / C++20

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "server/json_writer.h"
#include "server/request_head.h"
#include "server/server_core.h"

namespace impulse::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// Lingering close bounds: after an early reply (413, 401) the client may still be sending.
constexpr size_t kDrainChunkBytes = 16 << 10;
constexpr uint64_t kLingerBytesMax = 64ull << 20;  // twice the default max_body_bytes
constexpr uint32_t kLingerMs = 2000;
// A connection keeps its response buffer between requests up to this size (a large read-back
// reply is not held for the connection's lifetime).
constexpr size_t kResponseBufferKeepBytes = 64 << 10;
// The first read of a request (while the connection is idle) asks for this much.
constexpr size_t kFirstReadBytes = 4 << 10;

class Session : public IdleConnection, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerCore* core, uint32_t index, Slot slot)
      : stream_(std::move(socket)), core_(core), index_(index), slot_(slot) {}

  ~Session() override {
    if (idle_handle_) (void)IdleListOfSlot().Remove(*idle_handle_, &shed_claimed_);
    EndRequest();
    if (slot_ == Slot::kReserve) {
      core_->reserve_open.fetch_sub(1);
    } else {
      core_->connections.fetch_sub(1);
    }
    core_->metrics.ConnectionClosed();
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);  // a failure only costs latency
    ReadHeader();
  }

  // Claimed by the acceptor before its request head was complete: close now. If the head raced
  // in, OnHeader has already closed the connection without serving it, and this is a no-op.
  void Shed() override { stream_.close(); }

 private:
  std::chrono::milliseconds IdleTimeout() const { return std::chrono::milliseconds(core_->options.idle_timeout_ms); }
  std::chrono::milliseconds HeaderTimeout() const {
    return std::chrono::milliseconds(core_->options.header_timeout_ms);
  }

  IdleList& IdleListOfSlot() const { return slot_ == Slot::kRegular ? core_->idle : core_->reserve_idle; }

  // Waits for the next request. Until its request head is complete the connection may be shed
  // for a new client (whether or not some bytes of it arrived). With nothing buffered it waits
  // idle_timeout_ms for the first bytes, then the header must be complete within
  // header_timeout_ms. A reserve connection is not kept idle: it waits header_timeout_ms at most.
  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(core_->options.max_header_bytes);
    parser_->body_limit(core_->options.max_body_bytes);
    idle_handle_ = IdleListOfSlot().Add(weak_from_this(), index_, &shed_claimed_);
    if (buffer_.size() > 0) return ReadRestOfHeader();
    stream_.expires_after(slot_ == Slot::kRegular ? IdleTimeout() : HeaderTimeout());
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnFirstBytes(ec, n); });
  }

  // False when the acceptor claimed the connection (it must close); else it is out of the list.
  bool LeaveIdleList() {
    if (!idle_handle_) return true;
    const bool kept = IdleListOfSlot().Remove(*idle_handle_, &shed_claimed_);
    idle_handle_.reset();
    return kept;
  }

  void OnFirstBytes(beast::error_code ec, size_t n) {
    if (ec == beast::error::timeout) {
      core_->metrics.ConnectionTimedOut(slot_ == Slot::kRegular ? ServerMetrics::Timeout::kIdle
                                                                : ServerMetrics::Timeout::kHeader);
    }
    if (ec) return Close();  // disconnect or idle timeout: nothing to answer
    buffer_.commit(n);
    ReadRestOfHeader();
  }

  void ReadRestOfHeader() {
    stream_.expires_after(HeaderTimeout());
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (!LeaveIdleList()) return stream_.close();  // shed: a request head that raced in is not served
    if (ec == beast::error::timeout) core_->metrics.ConnectionTimedOut(ServerMetrics::Timeout::kHeader);
    if (ec) return FailRead(ec, /*header_read=*/false);
    BeginRequest();
    const auto& req = parser_->get();
    method_ = std::string(req.method_string());
    target_ = ParseTarget(std::string_view(req.target().data(), req.target().size()));
    version_ = req.version();
    keep_alive_ = req.keep_alive() && slot_ == Slot::kRegular;
    if (slot_ == Slot::kReserve && !ServedFromReserve()) {
      HttpReply busy = MakeReply(503, JsonError("max_connections (" + std::to_string(core_->options.max_connections) +
                                                    ") reached and no idle connection to close; retry later",
                                                "Unavailable"));
      busy.retry_after_s = core_->options.retry_after_s;
      return Send(std::move(busy), /*keep_alive=*/false);
    }
    if (auto early = CheckRequestHead(core_->router, *parser_, target_)) {
      // The body (if any) is unread: close after the reply rather than read or skip it.
      const bool body_pending = !parser_->is_done();
      return Send(std::move(early->reply), keep_alive_ && !body_pending && !early->close);
    }
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, version_);
      stream_.expires_after(IdleTimeout());
      return http::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code wec, size_t) {
        if (wec) return self->Close();
        self->ReadBody();
      });
    }
    ReadBody();
  }

  // What a reserve connection answers: health and metrics, so that monitoring sees a server
  // whose regular slots are all busy.
  bool ServedFromReserve() const {
    return (target_.route == Route::kHealthz || target_.route == Route::kMetrics) &&
           (method_ == "GET" || method_ == "HEAD");
  }

  void ReadBody() {
    stream_.expires_after(IdleTimeout());
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (ec == beast::error::timeout) core_->metrics.ConnectionTimedOut(ServerMetrics::Timeout::kBody);
    if (ec) return FailRead(ec, /*header_read=*/true);
    std::string body = std::move(parser_->get().body());
    core_->metrics.BytesIn(body.size());
    stream_.expires_never();  // the engine bounds the wait; Stop() bounds it too
    // Called once, inline or from a shard thread; the reply always goes back to our I/O
    // thread. The completion owns the core (so a late completion after Stop() still finds
    // it) and hands the session over to the posted handler, so the session is never
    // destroyed on a shard thread while the I/O thread runs.
    // A reply made on this I/O thread (everything but ingest) is sent at once: posting it
    // would cost a handler round trip per lookup.
    auto reply = [self = shared_from_this(), core = core_->shared_from_this(), index = index_,
                  io_thread = std::this_thread::get_id()](HttpReply r) mutable {
      if (std::this_thread::get_id() == io_thread) return self->Send(std::move(r), self->keep_alive_);
      auto handler = [s = std::move(self), r = std::move(r)]() mutable { s->Send(std::move(r), s->keep_alive_); };
      core->Post(index, std::move(handler));  // if dropped, the session dies here, core alive
    };
    core_->router.Handle(method_, target_, std::move(body), index_, std::move(reply));
  }

  // A read failed: quietly close on disconnect or timeout, else answer 4xx and close.
  void FailRead(beast::error_code ec, bool header_read) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == boost::asio::error::operation_aborted || ec == boost::asio::error::connection_reset ||
        ec == boost::asio::error::eof || (!header_read && buffer_.size() == 0 && !parser_->got_some())) {
      return Close();
    }
    BeginRequest();
    if (ec == http::error::body_limit) {
      return Send(MakeReply(413, JsonError("request body exceeds max_body_bytes " +
                                               std::to_string(core_->options.max_body_bytes),
                                           "ResourceExhausted")),
                  /*keep_alive=*/false);
    }
    if (ec == http::error::header_limit) {
      return Send(MakeReply(431, JsonError("request header too large", "ResourceExhausted")),
                  /*keep_alive=*/false);
    }
    Send(MakeReply(400, JsonError("malformed HTTP request: " + ec.message(), "InvalidArgument")),
         /*keep_alive=*/false);
  }

  // The response is serialized by hand into one reused buffer and written with one call:
  // Beast's serializer walks a chain of small buffers, which cost a tenth of the server's CPU
  // on small feature lookups.
  void Send(HttpReply reply, bool keep_alive) {
    keep_alive = keep_alive && !core_->stopping.load();
    const bool http10 = version_ == 10;
    out_.clear();
    out_.append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ").append(std::to_string(reply.status)).push_back(' ');
    const auto reason = http::obsolete_reason(static_cast<http::status>(reply.status));
    out_.append(reason.data(), reason.size());
    out_.append("\r\nServer: impulse\r\nContent-Type: ").append(reply.content_type);
    if (reply.retry_after_s) out_.append("\r\nRetry-After: ").append(std::to_string(*reply.retry_after_s));
    if (reply.www_authenticate) out_.append("\r\nWWW-Authenticate: Bearer realm=\"impulse\"");
    if (!keep_alive && !http10) out_.append("\r\nConnection: close");
    if (keep_alive && http10) out_.append("\r\nConnection: keep-alive");
    out_.append("\r\nContent-Length: ").append(std::to_string(reply.body.size())).append("\r\n\r\n");
    if (method_ != "HEAD") out_.append(reply.body);
    status_ = reply.status;
    stream_.expires_after(IdleTimeout());
    boost::asio::async_write(
        stream_, boost::asio::buffer(out_),
        [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) { self->OnWrite(ec, keep_alive); });
  }

  void OnWrite(beast::error_code ec, bool keep_alive) {
    if (out_.capacity() > kResponseBufferKeepBytes) std::string().swap(out_);
    EndRequest();
    if (ec || !keep_alive) return Close();
    ReadHeader();
  }

  // Lingering close: send FIN, then read and drop what the client still sends (bounded)
  // before closing. Closing with unread input would make the kernel send RST, and a client
  // still writing its (e.g. too large) body would see "connection reset" instead of our reply.
  void Close() {
    (void)LeaveIdleList();  // closing anyway: no need to be shed
    EndRequest();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec || closing_) return stream_.close();
    closing_ = true;
    drain_ = std::make_unique<char[]>(kDrainChunkBytes);
    stream_.expires_after(std::chrono::milliseconds(kLingerMs));
    Drain();
  }

  void Drain() {
    stream_.async_read_some(boost::asio::buffer(drain_.get(), kDrainChunkBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_bytes_ += n;
                              if (ec || self->drained_bytes_ > kLingerBytesMax) return self->stream_.close();
                              self->Drain();
                            });
  }

  void BeginRequest() {
    if (in_request_) return;
    in_request_ = true;
    status_ = 0;
    started_ = std::chrono::steady_clock::now();
    core_->inflight.fetch_add(1);
  }

  void EndRequest() {
    if (!in_request_) return;
    in_request_ = false;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (status_ != 0) core_->metrics.RecordRequest(RouteLabel(target_.route, method_), status_, seconds);
    core_->inflight.fetch_sub(1);
  }

  beast::tcp_stream stream_;
  ServerCore* const core_;
  const uint32_t index_;  // I/O thread index = Engine producer index
  const Slot slot_;
  std::optional<IdleList::Handle> idle_handle_;  // set while in IdleListOfSlot()
  bool shed_claimed_ = false;                    // guarded by core_->idle's mutex
  beast::flat_buffer buffer_;
  std::string out_;  // the response being written; reused across requests
  std::optional<RequestParser> parser_;
  std::string method_;
  ParsedTarget target_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool in_request_ = false;
  bool closing_ = false;           // lingering close in progress
  std::unique_ptr<char[]> drain_;  // only while closing
  uint64_t drained_bytes_ = 0;
  int status_ = 0;  // of the reply being written, for metrics
  std::chrono::steady_clock::time_point started_;
};

}  // namespace

void StartSession(tcp::socket socket, ServerCore* core, uint32_t index, Slot slot) {
  std::make_shared<Session>(std::move(socket), core, index, slot)->Start();
}

}  // namespace impulse::server
