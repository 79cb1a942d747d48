// The HTTP API of Impulse: ingest (NDJSON), stream listing, readback, online features, health
// and metrics.
// Boost.Beast stays behind a pimpl so that only this library compiles it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "impulse/engine.h"
#include "impulse/status.h"

namespace impulse::model {
class ModelRepository;
}  // namespace impulse::model

namespace impulse::server {

class GroupLookups;  // group_lookups.h

struct HttpServerOptions {
  std::string host = "127.0.0.1";                      // address to bind
  uint16_t port = 8470;                                // 0 = ephemeral (tests); see HttpServer::port()
  uint32_t io_threads = 1;                             // 1..64; thread i is Engine producer i, so this must
                                                       // be <= EngineOptions::max_producers
  uint64_t max_body_bytes = 32ull << 20;               // larger request bodies get 413
  uint64_t max_feature_batch_body_bytes = 1ull << 20;  // POST /v1/features/{view}:batch bodies
                                                       // larger than this get 413 (1000 entities fit
                                                       // with room to spare; bounds the JSON parser)
  uint32_t max_header_bytes = 16 << 10;                // larger request headers get 431
  uint32_t max_connections = 1024;                     // at the limit a new connection closes the oldest
                                                       // idle one (no complete request head yet); with
                                                       // none idle it gets a reserve slot
  uint32_t reserve_connections = 16;                   // beyond max_connections, with no idle connection
                                                       // to close: one request each, /healthz and
                                                       // /metrics answered, others 503; beyond: the
                                                       // oldest idle reserve one is closed, else closed
  uint32_t idle_timeout_ms = 60000;                    // a connection waiting this long for a request, or
                                                       // whose body is not complete this long after its
                                                       // header, is closed
  uint32_t header_timeout_ms = 10000;                  // a request header not complete this long after its
                                                       // first byte: the connection is closed
  uint32_t max_pipelined_requests = 16;                // 1..1024 requests read and not yet answered per
                                                       // connection (HTTP/1.1 pipelining); at the limit
                                                       // the connection reads no more until one is
                                                       // answered (metric impulse_http_pipeline_full_total)
  uint32_t retry_after_s = 1;                          // Retry-After sent with 503
  uint32_t stop_timeout_ms = 5000;                     // Stop() waits this long for in-flight requests
  std::string bearer_token;                            // empty = no auth; else every route but /healthz
                                                       // needs "Authorization: Bearer <token>"
  model::ModelRepository* models = nullptr;            // serves /v1/models and the KServe v2 routes;
                                                       // null: they answer 404 (must outlive the server)
  uint32_t infer_rows_max = 10000;                     // rows per POST .../infer; beyond: 413
  GroupLookups* group_lookups = nullptr;               // an instance of a group: feature and decision
                                                       // lookups go through it (must outlive the server)
};

// An HTTP/1.1 server in front of an Engine. Start() binds and spawns io_threads threads; each
// owns an io_context and its connections. A connection reads its next requests while earlier
// ones wait for the engine (HTTP/1.1 pipelining, up to max_pipelined_requests) and writes the
// replies in request order. Ingest responses are sent when the engine's completion fires, i.e.
// once the events are durable. Thread-safe: port(), MetricsText() and Stop() may be
// called from any thread. The engine must outlive the server (or at least Stop()).
class HttpServer {
 public:
  // kInvalidArgument for bad options, kIOError if the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(Engine* engine, HttpServerOptions options);

  ~HttpServer();  // calls Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;  // the bound port

  // Stops accepting, lets in-flight requests finish (up to stop_timeout_ms), stops and joins
  // the I/O threads and closes the connections. Idempotent. Not from an I/O thread (a
  // handler), since it joins them.
  void Stop();

  // The server's own metrics (requests, latency, connections, bytes) in Prometheus text
  // format 0.0.4. /metrics serves Engine::MetricsText() followed by this.
  std::string MetricsText() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace impulse::server
