// The HTTP server's own Prometheus metrics. Thread-safe (prometheus-cpp metrics are atomic;
// label lookups take the family's mutex, which is fine at request rate, never per event).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Gauge* connections_open_;
  prometheus::Counter* connections_rejected_;
  prometheus::Counter* bytes_in_;
};

}  // namespace impulse::server
