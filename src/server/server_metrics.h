// The HTTP server's own Prometheus metrics. Thread-safe (prometheus-cpp metrics are atomic;
// label lookups take the family's mutex, which is fine at request rate, never per event).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
template <typename T>
class Family;
class Histogram;
}  // namespace prometheus

namespace impulse::server {

class ServerMetrics {
 public:
  ServerMetrics();
  ~ServerMetrics();

  // One finished request: counted by route and status code; latency in seconds by route.
  void RecordRequest(std::string_view route, int status, double seconds);
  void ConnectionOpened();
  void ConnectionClosed();
  void ConnectionRejected();  // closed at once: stopping, or max_connections and the reserve full
  void ConnectionShed();      // a connection without a complete request head closed to admit a new one
  void ConnectionReserved();  // admitted to a reserve slot
  // A connection closed by a timeout.
  enum class Timeout : uint8_t {
    kIdle,    // idle_timeout_ms waiting for a request
    kHeader,  // header incomplete header_timeout_ms after its first byte
    kBody,    // body not complete within idle_timeout_ms
  };
  void ConnectionTimedOut(Timeout phase);
  void AcceptFailed();                // accept() failed for lack of file descriptors or memory
  void SetIdleConnections(size_t n);  // regular connections without a complete request head
  void PipelineFull();                // a connection reached max_pipelined_requests unanswered and paused reading
  void BytesIn(uint64_t bytes);

  // Text exposition format 0.0.4.
  std::string Text() const;

 private:
  // Family::Add builds a metric (a histogram with its buckets) before finding the existing one,
  // so the (route, status) pairs seen are cached: a few dozen at most.
  struct RequestSeries {
    std::string route;
    int status = 0;
    prometheus::Counter* requests = nullptr;
    prometheus::Histogram* latency = nullptr;
  };
  std::mutex series_mu_;
  std::vector<RequestSeries> series_;  // guarded by series_mu_

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Gauge* connections_open_;
  prometheus::Gauge* connections_idle_;
  prometheus::Counter* connections_rejected_;
  prometheus::Counter* connections_shed_;
  prometheus::Counter* connections_reserved_;
  prometheus::Counter* timeouts_idle_;
  prometheus::Counter* timeouts_header_;
  prometheus::Counter* timeouts_body_;
  prometheus::Counter* accept_failures_;
  prometheus::Counter* pipeline_full_;
  prometheus::Counter* bytes_in_;
};

}  // namespace impulse::server
