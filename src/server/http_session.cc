// One HTTP/1.1 connection: read a header, run the prechecks (auth, declared size), read the
// body (bounded), hand the request to the Router, write the reply, repeat (keep-alive).
// Pipelining: while a request waits for the engine (an ingest waits for its fsync), the next
// ones are read and handed over, up to max_pipelined_requests unanswered per connection, so
// that requests on one connection share a group commit instead of paying one fsync each.
// Replies are written in request order. Runs on its I/O thread only;
// engine completions are posted back to that thread through ServerCore::Post.
#include <utility>  // before Asio with g++ 12 / C++20

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
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

// One request of the connection, from its complete head until its reply is written.
struct PendingRequest {
  uint64_t seq = 0;
  std::string method;
  Route route = Route::kUnknown;
  unsigned version = 11;
  bool keep_alive = true;  // the request allows more requests after it
  bool close = false;      // the connection closes after this reply (an error, a reserve slot)
  std::optional<HttpReply> reply;
  std::chrono::steady_clock::time_point started;
};

class Session : public IdleConnection, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerCore* core, uint32_t index, Slot slot)
      : stream_(std::move(socket)), core_(core), index_(index), slot_(slot) {}

  ~Session() override {
    if (idle_handle_) (void)IdleListOfSlot().Remove(*idle_handle_, &shed_claimed_);
    EndAll();
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

  // Starts reading the next request unless a read is under way, the connection reads no more,
  // or max_pipelined_requests of its requests are unanswered (then it resumes when one is
  // written; until then TCP holds the client back). Reading ahead is for requests that wait for
  // the engine (an ingest's fsync); replies already made are written first.
  void MaybeRead() {
    if (reading_ || no_more_reads_ || closed_) return;
    if (!pending_.empty() && std::all_of(pending_.begin(), pending_.end(), [](const auto& p) { return p.reply; })) {
      return;  // OnWrite reads on
    }
    if (pending_.size() >= core_->options.max_pipelined_requests) {
      if (!paused_) core_->metrics.PipelineFull();
      paused_ = true;
      return;
    }
    paused_ = false;
    ReadHeader();
  }

  // Waits for the next request. While none of the connection's requests is unanswered, and
  // until its request head is complete, the connection may be shed for a new client (whether
  // or not some bytes of it arrived): it waits idle_timeout_ms for the first bytes, then the
  // header must be complete within header_timeout_ms. A reserve connection is not kept idle:
  // it waits header_timeout_ms at most. With requests unanswered (pipelining) the wait for the
  // first bytes has no timeout: the connection is not idle, the engine bounds the answers.
  void ReadHeader() {
    reading_ = true;
    parser_.emplace();
    parser_->header_limit(core_->options.max_header_bytes);
    parser_->body_limit(core_->options.max_body_bytes);
    if (pending_.empty()) idle_handle_ = IdleListOfSlot().Add(weak_from_this(), index_, &shed_claimed_);
    if (buffer_.size() > 0) return ReadRestOfHeader();
    ReadFirstBytes();
  }

  void ReadFirstBytes() {
    waiting_first_bytes_ = true;
    first_read_timed_ = pending_.empty();
    if (first_read_timed_) {
      stream_.expires_after(slot_ == Slot::kRegular ? IdleTimeout() : HeaderTimeout());
    } else {
      stream_.expires_never();  // only the read's timer: a write in progress keeps its own
    }
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnFirstBytes(ec, n); });
  }

  // The last unanswered request was written while the next read waits without a timeout:
  // restart that wait as an idle connection's (sheddable, idle_timeout_ms).
  void RearmFirstRead() {
    if (!waiting_first_bytes_ || first_read_timed_ || rearming_) return;
    rearming_ = true;
    beast::error_code ec;
    stream_.socket().cancel(ec);  // no write is in progress: only the read is cancelled
  }

  // False when the acceptor claimed the connection (it must close); else it is out of the list.
  bool LeaveIdleList() {
    if (!idle_handle_) return true;
    const bool kept = IdleListOfSlot().Remove(*idle_handle_, &shed_claimed_);
    idle_handle_.reset();
    return kept;
  }

  void OnFirstBytes(beast::error_code ec, size_t n) {
    waiting_first_bytes_ = false;
    const bool rearm = std::exchange(rearming_, false);
    if (closed_) return;
    if (rearm && ec == boost::asio::error::operation_aborted) {
      idle_handle_ = IdleListOfSlot().Add(weak_from_this(), index_, &shed_claimed_);
      return ReadFirstBytes();
    }
    if (ec == beast::error::timeout) {
      core_->metrics.ConnectionTimedOut(slot_ == Slot::kRegular ? ServerMetrics::Timeout::kIdle
                                                                : ServerMetrics::Timeout::kHeader);
    }
    if (ec) {  // disconnect or idle timeout: nothing to answer
      (void)LeaveIdleList();
      return EndOfInput();
    }
    buffer_.commit(n);
    ReadRestOfHeader();
  }

  void ReadRestOfHeader() {
    stream_.expires_after(HeaderTimeout());
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (closed_) return;
    if (!LeaveIdleList()) return CloseNow();  // shed: a request head that raced in is not served
    if (ec == beast::error::timeout) core_->metrics.ConnectionTimedOut(ServerMetrics::Timeout::kHeader);
    if (ec) return FailRead(ec, /*header_read=*/false);
    const auto& req = parser_->get();
    method_ = std::string(req.method_string());
    target_ = ParseTarget(std::string_view(req.target().data(), req.target().size()));
    if (auto it = req.find(beast::string_view(kForwardedHeader.data(), kForwardedHeader.size())); it != req.end()) {
      target_.forwarded = std::string(it->value());
    }
    version_ = req.version();
    keep_alive_ = req.keep_alive() && slot_ == Slot::kRegular;
    BeginRequest();
    if (slot_ == Slot::kReserve && !ServedFromReserve()) {
      HttpReply busy = MakeReply(503, JsonError("max_connections (" + std::to_string(core_->options.max_connections) +
                                                    ") reached and no idle connection to close; retry later",
                                                "Unavailable"));
      busy.retry_after_s = core_->options.retry_after_s;
      return Answer(pending_.back().seq, std::move(busy), /*close=*/true);
    }
    if (auto early = CheckRequestHead(core_->router, *parser_, target_)) {
      // The body (if any) is unread: close after the reply rather than read or skip it.
      reading_ = false;
      const bool close = !keep_alive_ || !parser_->is_done() || early->close;
      Answer(pending_.back().seq, std::move(early->reply), close);
      return MaybeRead();
    }
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      // The interim reply goes out in order: after the replies of earlier requests.
      continue_wanted_ = true;
      return MaybeContinue();
    }
    ReadBody();
  }

  // Sends "100 Continue" for the request being read once it is the only unanswered one.
  void MaybeContinue() {
    if (!continue_wanted_ || writing_ || pending_.size() != 1) return;
    continue_wanted_ = false;
    writing_ = true;
    auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, version_);
    stream_.expires_after(IdleTimeout());
    http::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code wec, size_t) {
      self->writing_ = false;
      if (self->closed_) return;
      if (wec) return self->Close();
      self->ReadBody();
    });
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
    if (closed_) return;
    if (ec == beast::error::timeout) core_->metrics.ConnectionTimedOut(ServerMetrics::Timeout::kBody);
    if (ec) return FailRead(ec, /*header_read=*/true);
    reading_ = false;
    std::string body = std::move(parser_->get().body());
    core_->metrics.BytesIn(body.size());
    // Called once, inline or from a shard thread; the reply always goes back to our I/O
    // thread. The completion owns the core (so a late completion after Stop() still finds
    // it) and hands the session over to the posted handler, so the session is never
    // destroyed on a shard thread while the I/O thread runs.
    // A reply made on this I/O thread (everything but ingest) is answered at once: posting it
    // would cost a handler round trip per lookup.
    auto reply = [self = shared_from_this(), core = core_->shared_from_this(), index = index_,
                  seq = pending_.back().seq, io_thread = std::this_thread::get_id()](HttpReply r) mutable {
      if (std::this_thread::get_id() == io_thread) return self->Answer(seq, std::move(r), /*close=*/false);
      auto handler = [s = std::move(self), seq, r = std::move(r)]() mutable {
        s->Answer(seq, std::move(r), /*close=*/false);
      };
      core->Post(index, std::move(handler));  // if dropped, the session dies here, core alive
    };
    const bool more = keep_alive_;
    core_->router.Handle(method_, target_, std::move(body), index_, std::move(reply));
    // Pipelining: the next request is read and handed over while this one waits for its
    // answer (e.g. its fsync); replies are written in request order.
    if (!more) no_more_reads_ = true;
    MaybeRead();
  }

  // A read failed: quietly stop reading on disconnect or timeout (the answers of earlier
  // requests are still written), else answer 4xx and close.
  void FailRead(beast::error_code ec, bool header_read) {
    reading_ = false;
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == boost::asio::error::operation_aborted || ec == boost::asio::error::connection_reset ||
        ec == boost::asio::error::eof || (!header_read && buffer_.size() == 0 && !parser_->got_some())) {
      if (header_read) DropLast();  // its body never came: there is nothing to answer
      return EndOfInput();
    }
    if (!header_read) {
      keep_alive_ = false;
      BeginRequest();
    }
    const uint64_t seq = pending_.back().seq;
    if (ec == http::error::body_limit) {
      return Answer(seq,
                    MakeReply(413, JsonError("request body exceeds max_body_bytes " +
                                                 std::to_string(core_->options.max_body_bytes),
                                             "ResourceExhausted")),
                    /*close=*/true);
    }
    if (ec == http::error::header_limit) {
      return Answer(seq, MakeReply(431, JsonError("request header too large", "ResourceExhausted")), /*close=*/true);
    }
    Answer(seq, MakeReply(400, JsonError("malformed HTTP request: " + ec.message(), "InvalidArgument")),
           /*close=*/true);
  }

  // No more requests come: close once the unanswered ones are written.
  void EndOfInput() {
    reading_ = false;
    no_more_reads_ = true;
    if (pending_.empty()) Close();
  }

  // The answer to request `seq`; `close` closes the connection after it (and reads no more).
  void Answer(uint64_t seq, HttpReply reply, bool close) {
    if (closed_ || pending_.empty() || seq < pending_.front().seq) return;
    const uint64_t i = seq - pending_.front().seq;
    if (i >= pending_.size()) return;
    PendingRequest& p = pending_[i];
    p.reply = std::move(reply);
    if (close) {
      p.close = true;
      no_more_reads_ = true;
    }
    Flush();
  }

  // Writes the answered requests at the front of the queue, in order, with one call. The
  // responses are serialized by hand into one reused buffer: Beast's serializer walks a chain
  // of small buffers, which cost a tenth of the server's CPU on small feature lookups.
  void Flush() {
    if (writing_ || closed_) return;
    out_.clear();
    size_t n = 0;
    bool close = false;
    const bool stopping = core_->stopping.load();
    for (PendingRequest& p : pending_) {
      if (!p.reply) break;
      ++n;
      close = p.close || !p.keep_alive || stopping;
      Serialize(p, !close);
      if (close) break;
    }
    if (n == 0) return;
    writing_ = true;
    stream_.expires_after(IdleTimeout());
    boost::asio::async_write(
        stream_, boost::asio::buffer(out_),
        [self = shared_from_this(), n, close](beast::error_code ec, size_t) { self->OnWrite(ec, n, close); });
  }

  void Serialize(const PendingRequest& p, bool keep_alive) {
    const HttpReply& reply = *p.reply;
    const bool http10 = p.version == 10;
    out_.append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ").append(std::to_string(reply.status)).push_back(' ');
    const auto reason = http::obsolete_reason(static_cast<http::status>(reply.status));
    out_.append(reason.data(), reason.size());
    out_.append("\r\nServer: impulse\r\nContent-Type: ").append(reply.content_type);
    if (reply.retry_after_s) out_.append("\r\nRetry-After: ").append(std::to_string(*reply.retry_after_s));
    if (reply.www_authenticate) out_.append("\r\nWWW-Authenticate: Bearer realm=\"impulse\"");
    out_.append(reply.extra_headers);
    if (!keep_alive && !http10) out_.append("\r\nConnection: close");
    if (keep_alive && http10) out_.append("\r\nConnection: keep-alive");
    out_.append("\r\nContent-Length: ").append(std::to_string(reply.body.size())).append("\r\n\r\n");
    if (p.method != "HEAD") out_.append(reply.body);
  }

  void OnWrite(beast::error_code ec, size_t n, bool close) {
    writing_ = false;
    if (out_.capacity() > kResponseBufferKeepBytes) std::string().swap(out_);
    for (size_t i = 0; i < n && !pending_.empty(); ++i) {
      EndRequest(pending_.front());
      pending_.pop_front();
    }
    if (closed_) return;
    if (ec || close) return Close();
    if (pending_.empty()) {
      if (no_more_reads_) return Close();
      RearmFirstRead();
    }
    MaybeContinue();
    Flush();
    MaybeRead();
  }

  // Lingering close: send FIN, then read and drop what the client still sends (bounded)
  // before closing. Closing with unread input would make the kernel send RST, and a client
  // still writing its (e.g. too large) body would see "connection reset" instead of our reply.
  // With a read in progress (a write failed) the connection closes at once.
  void Close() {
    if (closed_) return;
    closed_ = true;
    (void)LeaveIdleList();  // closing anyway: no need to be shed
    EndAll();
    if (reading_ || waiting_first_bytes_) return CloseNow();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return CloseNow();
    drain_ = std::make_unique<char[]>(kDrainChunkBytes);
    stream_.expires_after(std::chrono::milliseconds(kLingerMs));
    Drain();
  }

  void CloseNow() {
    closed_ = true;
    EndAll();
    stream_.close();
  }

  void Drain() {
    stream_.async_read_some(boost::asio::buffer(drain_.get(), kDrainChunkBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_bytes_ += n;
                              if (ec || self->drained_bytes_ > kLingerBytesMax) return self->stream_.close();
                              self->Drain();
                            });
  }

  // A request head is complete: it joins the connection's unanswered requests.
  void BeginRequest() {
    PendingRequest& p = pending_.emplace_back();
    p.seq = next_seq_++;
    p.method = method_;
    p.route = target_.route;
    p.version = version_;
    p.keep_alive = keep_alive_;
    p.started = std::chrono::steady_clock::now();
    core_->inflight.fetch_add(1);
  }

  void EndRequest(const PendingRequest& p) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - p.started).count();
    if (p.reply) core_->metrics.RecordRequest(RouteLabel(p.route, p.method), p.reply->status, seconds);
    core_->inflight.fetch_sub(1);
  }

  // The request being read is dropped (its body did not come).
  void DropLast() {
    if (pending_.empty()) return;
    core_->inflight.fetch_sub(1);
    pending_.pop_back();
  }

  // Closing: requests not yet written are not answered.
  void EndAll() {
    for (const PendingRequest& p : pending_) {
      if (!p.reply)
        core_->inflight.fetch_sub(1);
      else
        EndRequest(p);
    }
    pending_.clear();
  }

  beast::tcp_stream stream_;
  ServerCore* const core_;
  const uint32_t index_;  // I/O thread index = Engine producer index
  const Slot slot_;
  std::optional<IdleList::Handle> idle_handle_;  // set while in IdleListOfSlot()
  bool shed_claimed_ = false;                    // guarded by core_->idle's mutex
  beast::flat_buffer buffer_;
  std::string out_;  // the responses being written; reused across requests
  std::optional<RequestParser> parser_;
  // The request being read.
  std::string method_;
  ParsedTarget target_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  // Requests whose head is complete and whose reply is not yet written, oldest first.
  std::deque<PendingRequest> pending_;
  uint64_t next_seq_ = 0;
  bool reading_ = false;              // a request is being read
  bool waiting_first_bytes_ = false;  // the read waits for a request's first bytes
  bool first_read_timed_ = false;     // ... with the idle timeout (no request unanswered)
  bool rearming_ = false;             // that wait was cancelled to restart it with a timeout
  bool no_more_reads_ = false;        // end of input, an error or Connection: close
  bool paused_ = false;               // reading waits for max_pipelined_requests to free up
  bool writing_ = false;
  bool continue_wanted_ = false;   // a "100 Continue" waits for the earlier replies
  bool closed_ = false;            // Close() ran: no more reads or writes but the drain
  std::unique_ptr<char[]> drain_;  // only while closing
  uint64_t drained_bytes_ = 0;
};

}  // namespace

void StartSession(tcp::socket socket, ServerCore* core, uint32_t index, Slot slot) {
  std::make_shared<Session>(std::move(socket), core, index, slot)->Start();
}

}  // namespace impulse::server
