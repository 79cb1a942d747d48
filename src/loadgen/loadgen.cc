#include "loadgen/loadgen.h"

#include <utility>  // before Asio with g++ 12 / C++20

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "loadgen/latency_histogram.h"

namespace impulse::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kMaxConnections = 1024;
constexpr uint32_t kMaxLinesPerRequest = 1'000'000;
constexpr uint64_t kMaxResponseBytes = 64ull << 20;

// Reads the unsigned number after "key": in a JSON reply; 0 if absent.
uint64_t JsonCount(std::string_view body, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":";
  const size_t pos = body.find(needle);
  if (pos == std::string_view::npos) return 0;
  uint64_t v = 0;
  const char* begin = body.data() + pos + needle.size();
  std::from_chars(begin, body.data() + body.size(), v);
  return v;
}

class Runner;

// One keep-alive connection with at most one request in flight.
class Connection {
 public:
  Connection(Runner* runner, asio::io_context& ioc) : runner_(runner), stream_(ioc), timer_(ioc) {}
  void Start() { Next(); }

 private:
  void Next();
  void Connect();
  void Send();
  void OnResponse(beast::error_code ec);
  void Fail(std::string what);

  Runner* runner_;
  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  bool connected_ = false;
  bool reconnect_failed_ = false;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::string_body>> parser_;
  uint64_t lines_ = 0;
  uint32_t attempts_ = 0;
  Clock::time_point intended_;
};

class Runner {
 public:
  explicit Runner(const LoadOptions& o) : o_(o) {}

  Result<LoadReport> Run() {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(o_.host, ec);
    if (ec) return InvalidArgument("loadgen: bad host '" + o_.host + "': " + ec.message());
    endpoint_ = tcp::endpoint(address, o_.port);
    target_ = "/v1/streams/" + o_.stream + "/events";
    if (!o_.decide.empty()) {
      target_ += "?decide=" + o_.decide;
      if (!o_.decide_id.empty()) target_ += "&id=" + o_.decide_id;
      if (o_.decide_timeout_ms >= 0) target_ += "&timeout_ms=" + std::to_string(o_.decide_timeout_ms);
    }
    host_header_ = o_.host + ":" + std::to_string(o_.port);
    start_ = Clock::now();
    for (uint32_t i = 0; i < o_.connections; ++i) {
      conns_.push_back(std::make_unique<Connection>(this, ioc_));
    }
    for (auto& c : conns_) c->Start();
    ioc_.run();
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    report_.seconds = seconds;
    if (report_.requests == 0 && report_.errors > 0 && connect_failures_ == report_.errors) {
      return Unavailable("loadgen: cannot connect to " + host_header_ + ": " + report_.first_error);
    }
    const uint64_t answered = report_.accepted + report_.rejected;
    report_.events_per_s = seconds > 0 ? static_cast<double>(answered) / seconds : 0;
    auto ms = [](uint64_t ns) { return static_cast<double>(ns) / 1e6; };
    report_.p50_ms = ms(latency_.Quantile(0.50));
    report_.p90_ms = ms(latency_.Quantile(0.90));
    report_.p99_ms = ms(latency_.Quantile(0.99));
    report_.p999_ms = ms(latency_.Quantile(0.999));
    report_.max_ms = ms(latency_.max_ns());
    return report_;
  }

  // Claims the next batch of events: fills `body`, returns its line count (0 = all sent) and
  // the time it should be sent at.
  uint64_t NextBatch(std::string* body, Clock::time_point* intended) {
    if (next_seq_ >= o_.total_events) return 0;
    const uint64_t n = std::min<uint64_t>(o_.lines_per_request, o_.total_events - next_seq_);
    body->clear();
    for (uint64_t i = 0; i < n; ++i) {
      o_.make_line(next_seq_ + i, body);
      body->push_back('\n');
    }
    if (o_.rate_events_per_s > 0) {
      const double at_s = static_cast<double>(next_seq_) / o_.rate_events_per_s;
      *intended = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at_s));
    } else {
      *intended = Clock::now();
    }
    next_seq_ += n;
    report_.events_sent += n;
    return n;
  }

  void Answered(uint64_t lines, std::string_view body, Clock::time_point intended) {
    (void)lines;
    ++report_.requests;
    report_.accepted += JsonCount(body, "accepted");
    report_.rejected += JsonCount(body, "rejected");
    report_.pending += JsonCount(body, "pending");
    // With decide: events answered late (sent to _late_events; no decision will come).
    if (body.find("\"decisions\":") != std::string_view::npos) {
      // An answer's entry, not an output row's field that happens to be called status.
      constexpr std::string_view kLate = "\"status\":\"late\",\"reason\":";
      for (size_t at = body.find(kLate); at != std::string_view::npos; at = body.find(kLate, at + kLate.size())) {
        ++report_.late;
      }
    }
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - intended).count();
    latency_.Record(static_cast<uint64_t>(std::max<int64_t>(0, ns)));
  }

  void Failed(std::string what, bool connect_failure) {
    ++report_.errors;
    if (connect_failure) ++connect_failures_;
    if (report_.first_error.empty()) report_.first_error = std::move(what);
  }

  const LoadOptions& o_;
  asio::io_context ioc_{1};
  tcp::endpoint endpoint_;
  std::string target_;
  std::string host_header_;
  LoadReport report_;
  uint64_t connect_failures_ = 0;

 private:
  std::vector<std::unique_ptr<Connection>> conns_;
  Clock::time_point start_;
  uint64_t next_seq_ = 0;
  LatencyHistogram latency_;
};

void Connection::Next() {
  lines_ = runner_->NextBatch(&req_.body(), &intended_);
  if (lines_ == 0) {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    return;
  }
  attempts_ = 0;
  const LoadOptions& o = runner_->o_;
  req_.method(http::verb::post);
  req_.target(runner_->target_);
  req_.version(11);
  req_.set(http::field::host, runner_->host_header_);
  req_.set(http::field::content_type, "application/x-ndjson");
  if (!o.bearer_token.empty()) req_.set(http::field::authorization, "Bearer " + o.bearer_token);
  req_.keep_alive(true);
  req_.prepare_payload();
  if (intended_ > Clock::now()) {
    timer_.expires_at(intended_);
    timer_.async_wait([this](beast::error_code) { Connect(); });
  } else {
    Connect();
  }
}

void Connection::Connect() {
  if (connected_) return Send();
  stream_.expires_after(std::chrono::milliseconds(runner_->o_.timeout_ms));
  stream_.async_connect(runner_->endpoint_, [this](beast::error_code ec) {
    if (ec) {
      runner_->Failed("connect: " + ec.message(), /*connect_failure=*/true);
      // Give up on this connection after a failed reconnect: the server is gone.
      if (reconnect_failed_) return;
      reconnect_failed_ = true;
      return Next();
    }
    reconnect_failed_ = false;
    connected_ = true;
    beast::error_code ignored;
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    Send();
  });
}

void Connection::Send() {
  ++attempts_;
  stream_.expires_after(std::chrono::milliseconds(runner_->o_.timeout_ms));
  http::async_write(stream_, req_, [this](beast::error_code ec, size_t) {
    if (ec) return Fail("write: " + ec.message());
    parser_.emplace();
    parser_->body_limit(kMaxResponseBytes);
    http::async_read(stream_, buffer_, *parser_, [this](beast::error_code rec, size_t) { OnResponse(rec); });
  });
}

void Connection::Fail(std::string what) {
  runner_->Failed(std::move(what), /*connect_failure=*/false);
  beast::error_code ec;
  stream_.socket().close(ec);
  connected_ = false;
  buffer_.clear();
  Next();
}

void Connection::OnResponse(beast::error_code ec) {
  if (ec) return Fail("read: " + ec.message());
  const auto& res = parser_->get();
  const unsigned status = res.result_int();
  if (!res.keep_alive()) {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    connected_ = false;
    buffer_.clear();
  }
  if (status == 200 || status == 207 || status == 422) {
    runner_->Answered(lines_, res.body(), intended_);
    return Next();
  }
  if (status == 503 && attempts_ <= runner_->o_.max_retries) {
    ++runner_->report_.retries_503;
    uint32_t wait_s = 1;  // without a (numeric) Retry-After
    const auto ra = res[http::field::retry_after];
    std::from_chars(ra.data(), ra.data() + ra.size(), wait_s);
    wait_s = std::min(wait_s, runner_->o_.retry_after_max_s);
    timer_.expires_after(std::chrono::seconds(wait_s));
    timer_.async_wait([this](beast::error_code) { Connect(); });
    return;
  }
  runner_->Failed("HTTP " + std::to_string(status) + ": " + std::string(res.body().substr(0, 200)),
                  /*connect_failure=*/false);
  Next();
}

}  // namespace

Result<LoadReport> RunLoad(const LoadOptions& options) {
  if (options.stream.empty()) return InvalidArgument("loadgen: stream is required");
  if (!options.make_line) return InvalidArgument("loadgen: make_line is required");
  if (options.connections == 0 || options.connections > kMaxConnections) {
    return InvalidArgument("loadgen: connections must be in [1, " + std::to_string(kMaxConnections) + "]");
  }
  if (options.lines_per_request == 0 || options.lines_per_request > kMaxLinesPerRequest) {
    return InvalidArgument("loadgen: lines_per_request must be in [1, " + std::to_string(kMaxLinesPerRequest) + "]");
  }
  if (options.rate_events_per_s < 0) return InvalidArgument("loadgen: rate_events_per_s must be >= 0");
  if (options.timeout_ms == 0) return InvalidArgument("loadgen: timeout_ms must be > 0");
  Runner runner(options);
  return runner.Run();
}

void PrintLoadReport(const char* title, const LoadReport& r) {
  std::printf("  %-26s %9.0f events/s  (%llu events in %.2f s, %llu requests, %llu retried on 503)\n", title,
              r.events_per_s, static_cast<unsigned long long>(r.events_sent), r.seconds,
              static_cast<unsigned long long>(r.requests), static_cast<unsigned long long>(r.retries_503));
  std::printf("  %-26s p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms\n", "request latency",
              r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms, r.max_ms);
}

}  // namespace impulse::loadgen
