#include "server/server_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <string>

namespace impulse::server {

ServerMetrics::ServerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("impulse_http_requests_total")
                   .Help("HTTP requests by route and status code")
                   .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("impulse_http_request_duration_seconds")
                  .Help("HTTP request latency from the end of the request to the response write")
                  .Register(*registry_);
  connections_open_ = &prometheus::BuildGauge()
                           .Name("impulse_http_connections_open")
                           .Help("Open HTTP connections")
                           .Register(*registry_)
                           .Add({});
  connections_idle_ = &prometheus::BuildGauge()
                           .Name("impulse_http_connections_idle")
                           .Help(
                               "Open regular HTTP connections without a complete request head (waiting for "
                               "one, or part of it received): the ones closed first at max_connections")
                           .Register(*registry_)
                           .Add({});
  connections_rejected_ = &prometheus::BuildCounter()
                               .Name("impulse_http_connections_rejected_total")
                               .Help(
                                   "Connections closed at once: max_connections reached with no idle "
                                   "connection to close and the reserve full, or the server stopping")
                               .Register(*registry_)
                               .Add({});
  connections_shed_ =
      &prometheus::BuildCounter()
           .Name("impulse_http_connections_shed_total")
           .Help(
               "Connections without a complete request head closed to admit a new one at max_connections (or at "
               "reserve_connections)")
           .Register(*registry_)
           .Add({});
  connections_reserved_ = &prometheus::BuildCounter()
                               .Name("impulse_http_connections_reserve_total")
                               .Help(
                                   "Connections admitted to a reserve slot (max_connections reached, none "
                                   "idle): /healthz and /metrics answered, other requests 503")
                               .Register(*registry_)
                               .Add({});
  auto& timeouts = prometheus::BuildCounter()
                       .Name("impulse_http_connection_timeouts_total")
                       .Help(
                           "Connections closed by a timeout: idle (idle_timeout_ms waiting for a request), "
                           "header (header_timeout_ms), body (idle_timeout_ms)")
                       .Register(*registry_);
  timeouts_idle_ = &timeouts.Add({{"phase", "idle"}});
  timeouts_header_ = &timeouts.Add({{"phase", "header"}});
  timeouts_body_ = &timeouts.Add({{"phase", "body"}});
  accept_failures_ = &prometheus::BuildCounter()
                          .Name("impulse_http_accept_failures_total")
                          .Help(
                              "accept() failures for lack of file descriptors or memory (retried after "
                              "closing the oldest idle connection)")
                          .Register(*registry_)
                          .Add({});
  pipeline_full_ = &prometheus::BuildCounter()
                        .Name("impulse_http_pipeline_full_total")
                        .Help(
                            "Times a connection stopped reading because max_pipelined_requests of its requests "
                            "were unanswered (it reads on when one is answered)")
                        .Register(*registry_)
                        .Add({});
  bytes_in_ = &prometheus::BuildCounter()
                   .Name("impulse_http_request_body_bytes_total")
                   .Help("Request body bytes received")
                   .Register(*registry_)
                   .Add({});
}

ServerMetrics::~ServerMetrics() = default;

void ServerMetrics::RecordRequest(std::string_view route, int status, double seconds) {
  prometheus::Counter* requests = nullptr;
  prometheus::Histogram* latency = nullptr;
  {
    std::lock_guard<std::mutex> lock(series_mu_);
    for (const RequestSeries& s : series_) {
      if (s.status == status && s.route == route) {
        requests = s.requests;
        latency = s.latency;
        break;
      }
    }
    if (requests == nullptr) {
      const std::string route_s(route);
      // 50 us .. 10 s: covers an in-memory reply up to a slow fsync under load.
      static const prometheus::Histogram::BucketBoundaries buckets = {
          0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0};
      requests = &requests_->Add({{"route", route_s}, {"code", std::to_string(status)}});
      latency = &latency_->Add({{"route", route_s}}, buckets);
      series_.push_back({route_s, status, requests, latency});
    }
  }
  requests->Increment();
  latency->Observe(seconds);
}

void ServerMetrics::ConnectionOpened() { connections_open_->Increment(); }
void ServerMetrics::ConnectionClosed() { connections_open_->Decrement(); }
void ServerMetrics::ConnectionRejected() { connections_rejected_->Increment(); }
void ServerMetrics::ConnectionShed() { connections_shed_->Increment(); }
void ServerMetrics::ConnectionReserved() { connections_reserved_->Increment(); }
void ServerMetrics::ConnectionTimedOut(Timeout phase) {
  switch (phase) {
    case Timeout::kIdle: return timeouts_idle_->Increment();
    case Timeout::kHeader: return timeouts_header_->Increment();
    case Timeout::kBody: return timeouts_body_->Increment();
  }
}
void ServerMetrics::AcceptFailed() { accept_failures_->Increment(); }
void ServerMetrics::SetIdleConnections(size_t n) { connections_idle_->Set(static_cast<double>(n)); }
void ServerMetrics::PipelineFull() { pipeline_full_->Increment(); }
void ServerMetrics::BytesIn(uint64_t bytes) { bytes_in_->Increment(static_cast<double>(bytes)); }

std::string ServerMetrics::Text() const { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

}  // namespace impulse::server
