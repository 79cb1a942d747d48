// See features_client.h.
#include "bench/features_client.h"

#include <time.h>

#include <utility>  // before Asio with g++ 12 / C++20

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace impulse::bench {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kResponseBytesMax = 4 << 20;  // a larger reply is an error

double Seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// One keep-alive connection, one request in flight. Connection c of C sends requests
// c, c + C, c + 2C, ... of the global schedule (request j at start + j / request rate).
class LookupConnection {
 public:
  LookupConnection(asio::io_context& ioc, const ClientOptions& o, ClientReport* report, uint32_t index,
                   Clock::time_point start, Clock::time_point measure_from, Clock::time_point end)
      : o_(o),
        report_(report),
        socket_(ioc),
        timer_(ioc),
        index_(index),
        start_(start),
        measure_from_(measure_from),
        end_(end),
        rng_(o.seed * 0x9E3779B97F4A7C15ull + index + 1) {
    buf_.resize(64 << 10);
  }

  void Start() {
    boost::system::error_code ec;
    socket_.connect({asio::ip::make_address("127.0.0.1"), o_.port}, ec);
    if (ec) return Fail("connect: " + ec.message());
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);  // Read() waits for readiness, then reads without blocking
    Next();
  }

  void Close() {
    closed_ = true;
    boost::system::error_code ec;
    socket_.close(ec);
    timer_.cancel();
  }

  bool busy() const { return busy_; }

 private:
  uint64_t Rand() {  // xorshift64*
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 2685821657736338717ull;
  }

  void Next() {
    const double per_request = o_.batch == 0 ? 1.0 : o_.batch;
    const double request_rate = o_.rate_lookups_per_s / per_request;
    const double at_s = static_cast<double>(index_ + seq_ * o_.connections) / request_rate;
    intended_ = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at_s));
    ++seq_;
    if (intended_ >= end_) return;  // this connection's schedule is done
    BuildRequest();
    busy_ = true;
    if (intended_ > Clock::now()) {
      timer_.expires_at(intended_);
      timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) Send();
      });
    } else {
      Send();
    }
  }

  void BuildRequest() {
    req_.clear();
    if (o_.batch == 0) {
      req_.append("GET /v1/features/user/").append(std::to_string(Rand() % o_.entities + 1));
      req_.append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      return;
    }
    body_.assign("{\"entities\":[");
    for (uint32_t i = 0; i < o_.batch; ++i) {
      if (i > 0) body_.push_back(',');
      body_.append(std::to_string(Rand() % o_.entities + 1));
    }
    body_.append("]}");
    req_.append("POST /v1/features/user:batch HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    req_.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body_.size()));
    req_.append("\r\n\r\n").append(body_);
  }

  // Writes in place (a request fits the empty send buffer), then registers the wait for the
  // answer before returning to the loop, so its readiness edge cannot be missed.
  void Send() {
    have_ = 0;
    boost::system::error_code ec;
    const size_t n = socket_.write_some(asio::buffer(req_), ec);
    if (ec && ec != asio::error::would_block) return Fail("write: " + ec.message());
    if (n == req_.size()) return Read();
    asio::async_write(socket_, asio::buffer(req_.data() + n, req_.size() - n),
                      [this](boost::system::error_code wec, size_t) {
                        if (wec) return Fail("write: " + wec.message());
                        Read();
                      });
  }

  // Waits for readiness before reading: a read right after the write would almost always find
  // nothing yet, one wasted system call per request in the client that shares the cores. The
  // wait is always registered before the loop runs again (after the write, or after a read
  // that drained the socket), so no edge is lost.
  void Read() {
    socket_.async_wait(tcp::socket::wait_read, [this](boost::system::error_code ec) {
      if (ec) return Fail("wait: " + ec.message());
      if (have_ == buf_.size()) {
        if (buf_.size() >= kResponseBytesMax) return Fail("response larger than 4 MiB");
        buf_.resize(buf_.size() * 2);
      }
      const size_t n = socket_.read_some(asio::buffer(buf_.data() + have_, buf_.size() - have_), ec);
      if (ec == asio::error::would_block) return Read();
      if (ec) return Fail("read: " + ec.message());
      have_ += n;
      OnBytes();
    });
  }

  // A response is complete once its header and Content-Length bytes are in (our server
  // always sends Content-Length).
  void OnBytes() {
    const std::string_view got(buf_.data(), have_);
    const size_t header_end = got.find("\r\n\r\n");
    if (header_end == std::string_view::npos) return Read();
    const std::string_view header = got.substr(0, header_end);
    size_t cl = header.find("Content-Length: ");
    if (cl == std::string_view::npos) cl = header.find("content-length: ");
    if (cl == std::string_view::npos || header.size() < 12) return Fail("reply without Content-Length");
    const size_t length = std::strtoull(header.data() + cl + 16, nullptr, 10);
    if (have_ < header_end + 4 + length) return Read();
    const int status = std::atoi(header.data() + 9);  // "HTTP/1.1 200"
    busy_ = false;
    if (intended_ >= measure_from_) {
      if (status == 200) {
        ++report_->requests;
        report_->lookups += o_.batch == 0 ? 1 : o_.batch;
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - intended_).count();
        report_->latency.Record(static_cast<uint64_t>(std::max<int64_t>(0, ns)));
        report_->last_answer = Clock::now();
      } else {
        NoteError("HTTP " + std::to_string(status) + ": " +
                  std::string(got.substr(header_end + 4, std::min<size_t>(length, 200))));
      }
    }
    Next();
  }

  void NoteError(std::string what) {
    ++report_->errors;
    if (report_->first_error.empty()) report_->first_error = std::move(what);
  }

  void Fail(std::string what) {  // the connection is done: the rest of its schedule is lost
    busy_ = false;
    if (closed_) return;  // closed by the run's end: already counted there
    NoteError(std::move(what));
    Close();
  }

  const ClientOptions& o_;
  ClientReport* report_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  const uint32_t index_;
  const Clock::time_point start_, measure_from_, end_;
  uint64_t rng_;
  uint64_t seq_ = 0;
  bool busy_ = false;
  bool closed_ = false;
  Clock::time_point intended_;
  std::string req_, body_;
  std::vector<char> buf_;
  size_t have_ = 0;
};

}  // namespace

ClientReport RunFeatureClient(const ClientOptions& o) {
  ClientReport report;
  asio::io_context ioc(1);
  const Clock::time_point start = Clock::now() + std::chrono::milliseconds(20);
  auto at = [&](double s) {
    return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const Clock::time_point measure_from = at(o.warmup_s);
  const Clock::time_point end = at(o.warmup_s + o.duration_s);
  std::vector<std::unique_ptr<LookupConnection>> conns;
  for (uint32_t i = 0; i < o.connections; ++i) {
    conns.push_back(std::make_unique<LookupConnection>(ioc, o, &report, i, start, measure_from, end));
    conns.back()->Start();
  }
  // CPU is sampled over the measured window only (warmup excluded).
  double cpu_process_0 = 0, cpu_client_0 = 0;
  asio::steady_timer sample(ioc, measure_from);
  sample.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    cpu_process_0 = Seconds(CLOCK_PROCESS_CPUTIME_ID);
    cpu_client_0 = Seconds(CLOCK_THREAD_CPUTIME_ID);
    sample.expires_at(end);
    sample.async_wait([&](boost::system::error_code ec2) {
      if (ec2) return;
      report.cpu_process_s = Seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_process_0;
      report.cpu_client_s = Seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_client_0;
    });
  });
  // After the schedule ends, every 10 ms: done once no request is in flight; answers still
  // missing timeout_ms after the end are errors.
  const Clock::time_point give_up = end + std::chrono::milliseconds(o.timeout_ms);
  asio::steady_timer poll(ioc);
  std::function<void()> check = [&] {
    poll.expires_at(std::max(end, Clock::now() + std::chrono::milliseconds(10)));
    poll.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      size_t busy = 0;
      for (auto& c : conns) busy += c->busy() ? 1 : 0;
      if (busy > 0 && Clock::now() < give_up) return check();
      if (busy > 0) {
        report.errors += busy;
        if (report.first_error.empty()) {
          report.first_error = "connections still behind their schedule " + std::to_string(o.timeout_ms) +
                               " ms after its end (the server fell behind)";
        }
      }
      sample.cancel();
      for (auto& c : conns) c->Close();
    });
  };
  check();
  ioc.run();
  report.seconds = std::max(o.duration_s, std::chrono::duration<double>(report.last_answer - measure_from).count());
  return report;
}

}  // namespace impulse::bench
