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
  void ConnectionRejected();
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
  prometheus::Counter* connections_rejected_;
  prometheus::Counter* bytes_in_;
};

}  // namespace impulse::server
