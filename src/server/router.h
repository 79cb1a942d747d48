// Routes and handlers of the HTTP API, free of Beast so they can be read (and tested) as plain
// functions: a request in, an HttpReply out (synchronously, or later from an engine thread for
// ingest). Thread-safe: one Router serves all I/O threads; it holds no per-request state.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "impulse/engine.h"
#include "server/decision_index.h"
#include "server/group_lookups.h"
#include "server/http_server.h"
#include "server/server_metrics.h"

namespace impulse::server {

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::optional<uint32_t> retry_after_s;  // set: send Retry-After (503)
  bool www_authenticate = false;          // 401: send WWW-Authenticate: Bearer
  std::string_view extra_headers;         // more header lines, each "\r\nName: value" (static text)
};

inline HttpReply MakeReply(int status, std::string body, std::string content_type = "application/json") {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

// The route a request matched, for metrics labels and method checks.
enum class Route : uint8_t {
  kUnknown,
  kHealthz,
  kMetrics,
  kListStreams,
  kStreamEvents,
  kFeatureViews,  // /v1/features
  kFeatureGet,    // /v1/features/{view}/{entity}
  kFeatureBatch,  // /v1/features/{view}:batch
  // Model routes (model_routes.cc), answered from HttpServerOptions::models.
  kModels,           // GET /v1/models
  kModelLoad,        // POST /v1/models/{name}/versions/{v}:load
  kModelUnload,      // POST /v1/models/{name}/versions/{v}:unload
  kModelsRescan,     // POST /v1/models:rescan
  kV2Live,           // GET /v2/health/live
  kV2Ready,          // GET /v2/health/ready
  kV2ModelMetadata,  // GET /v2/models/{m}[/versions/{v}]
  kV2ModelReady,     // GET /v2/models/{m}[/versions/{v}]/ready
  kV2ModelInfer,     // POST /v2/models/{m}[/versions/{v}]/infer
  kDecisionGet,      // /v1/decisions/{stream}/{event_id}
  kConsole,          // GET / and /console/... (console_routes.cc): the web console's files
  kStreamDescribe,   // GET /v1/streams/{stream}
  kPipelines,        // GET /v1/pipelines
  kStreamRecords,    // DELETE /v1/streams/{stream}/records?before=N[&partition=P]
  kPipelineReset,    // POST /v1/pipelines/{pipeline}/reset?to=beginning|end
};
// Metrics label: healthz, metrics, streams, ingest (POST events), read_events (GET events),
// feature_views, features_get, features_batch, decisions_get, console, stream_describe, pipelines,
// delete_records, pipeline_reset, unknown.
std::string_view RouteLabel(Route route, std::string_view method);

// Splits "/v1/streams/s/events?x=1" into the route, the (percent-decoded) stream name and the
// raw query string; "/v1/features/v/e" into the (percent-decoded) view and entity.
struct ParsedTarget {
  Route route = Route::kUnknown;
  std::string stream;
  std::string query;
  std::string view;                      // kFeatureGet, kFeatureBatch
  std::string entity;                    // kFeatureGet
  std::string model;                     // model routes: the (percent-decoded) model name
  std::string version;                   // model routes: the version segment as sent; "" when absent
  std::string event_id;                  // kDecisionGet (with `stream`)
  std::string pipeline;                  // kPipelineReset: the (percent-decoded) pipeline name
  std::string asset;                     // kConsole: the file's path under console/ ("index.html" for /)
  std::optional<std::string> forwarded;  // the value of kForwardedHeader when sent (group_lookups.h)
};
ParsedTarget ParseTarget(std::string_view target);

// Model routes (model_routes.cc). False when `path` is not under /v1/models or /v2/; true
// otherwise, with out->route left kUnknown for a malformed model path.
bool ParseModelTarget(std::string_view path, ParsedTarget* out);
// Metrics label of a model route: models, model_load, model_unload, models_rescan,
// v2_health_live, v2_health_ready, v2_model_metadata, v2_model_ready, v2_infer.
std::string_view ModelRouteLabel(Route route);
// True for the routes answered by Router::ModelRoute (kModels .. kV2ModelInfer).
bool IsModelRoute(Route route);
// The console file a path names ("/" and "/console/" name index.html), nullopt when the path is
// not the console's (console_routes.cc).
std::optional<std::string> ConsoleAssetPath(std::string_view path);
// The reply for a console file: the file with its Content-Type, Cache-Control and a
// Content-Security-Policy allowing this origin only; 404 for an unknown file, 405 for a method
// other than GET/HEAD.
HttpReply ConsoleReply(std::string_view method, std::string_view asset_path);
// Percent-decodes one path segment ('+' stays '+'); nullopt on a malformed escape.
std::optional<std::string> PercentDecodeSegment(std::string_view segment);
// A query string's key=value pairs in order, each key and value percent-decoded as
// application/x-www-form-urlencoded (%XX is a byte, '+' a space); empty pairs are skipped and a
// pair without '=' has an empty value. nullopt on a malformed %-escape (a '%' not followed by two
// hex digits), *error then being the 400 message naming the pair.
using QueryParams = std::vector<std::pair<std::string, std::string>>;
std::optional<QueryParams> DecodeQuery(std::string_view query, std::string* error);

class Router {
 public:
  using ReplyFn = std::function<void(HttpReply)>;

  Router(Engine* engine, const HttpServerOptions* options, const ServerMetrics* metrics)
      : engine_(engine), options_(options), metrics_(metrics), decisions_(std::make_shared<DecisionIndexSet>(engine)) {}

  // Checks made once the headers are in, before the body is read: auth (401) and a declared
  // Content-Length over max_body_bytes (413). nullopt = go on and read the body.
  std::optional<HttpReply> Precheck(const ParsedTarget& target, std::string_view authorization,
                                    std::optional<uint64_t> content_length) const;

  // Handles a complete request. `reply` is called exactly once: inline for everything but an
  // accepted ingest, whose reply comes from the engine's completion (a shard thread).
  void Handle(std::string_view method, const ParsedTarget& target, std::string body, uint32_t producer,
              ReplyFn reply) const;

 private:
  void Ingest(const std::string& stream, std::string_view query, const std::string& body, uint32_t producer,
              ReplyFn reply) const;
  // POST events with decide=... (decide_routes.cc): Engine::IngestAndDecide.
  void IngestDecide(const std::string& stream, std::string_view query, const std::string& body, uint32_t producer,
                    ReplyFn reply) const;
  // GET events (stream_routes.cc): one partition (partition=, from=) or all (cursor=), either
  // with a bounded long-poll (wait_ms=); `reply` is called inline or from the engine's
  // reader-waiter thread.
  void ReadEvents(const std::string& stream, std::string_view query, ReplyFn reply) const;
  HttpReply DescribeStream(const std::string& stream) const;
  // DELETE records (stream_routes.cc): Engine::DeleteRecords; `reply` is called inline on a
  // refusal, else from a shard thread.
  void DeleteRecords(const std::string& stream, std::string_view query, ReplyFn reply) const;
  HttpReply ListPipelines() const;
  // POST reset (pipeline_routes.cc): Engine::ResetPipeline; `reply` is called inline on a
  // refusal, else from the engine's checkpoint thread.
  void ResetPipeline(const std::string& pipeline, std::string_view query, ReplyFn reply) const;
  HttpReply ListStreams() const;
  HttpReply Metrics() const;
  // Online features (feature_routes.cc).
  HttpReply FeatureViews() const;
  HttpReply FeatureGet(const std::string& view, const std::string& entity,
                       const std::optional<std::string>& forwarded) const;
  HttpReply FeatureBatch(const std::string& view, std::string body, const std::optional<std::string>& forwarded) const;
  // Through options_->group_lookups when set, else the engine.
  Status LookupFeatures(const std::string& view, const std::vector<std::string_view>& entities,
                        const std::optional<std::string>& forwarded, std::string* out, size_t* found) const;
  // Model admin and KServe v2 routes (model_routes.cc); checks the method itself.
  HttpReply ModelRoute(std::string_view method, const ParsedTarget& target, std::string body) const;
  // Decision log records (decision_routes.cc).
  HttpReply DecisionGet(const std::string& stream, const std::string& event_id,
                        const std::optional<std::string>& forwarded) const;

  Engine* engine_;
  const HttpServerOptions* options_;
  const ServerMetrics* metrics_;
  // Mutable index state behind a const Router: the set is thread-safe.
  std::shared_ptr<DecisionIndexSet> decisions_;
  // Reads waiting with wait_ms now (stream_routes.cc), at most max_connections / 2; shared with
  // the waiting requests, which may be answered after the router is gone.
  std::shared_ptr<std::atomic<uint32_t>> waiting_reads_ = std::make_shared<std::atomic<uint32_t>>(0);
};

// Checks the request's Transfer-Encoding (all its fields joined with ", "; empty when absent)
// before the body is read. Only "chunked" is decoded: any other coding gets 501 naming it
// (RFC 9112 6.1), since reading the body while ignoring it would store the coded bytes; "chunked"
// twice gets 400. nullopt = fine.
std::optional<HttpReply> CheckTransferCoding(std::string_view transfer_encoding);

// Maps an engine error to an HTTP status and reply body; 503 carries Retry-After.
HttpReply ErrorReply(const Status& status, uint32_t retry_after_s);
// The reply for a completed ingest: 200 / 207 / 422 / 400 with the counts and line errors.
HttpReply IngestReply(const IngestResult& result);
// POST events' query with decide (decide_routes.cc): decide=<pipeline>, id=<field>,
// timeout_ms=<0..kDecideTimeoutMaxMs>, each at most once, nothing else; a message naming the
// bad parameter on failure.
std::optional<std::string> ParseDecideQuery(std::string_view query, DecideOptions* options);
// IngestReply's body plus the pipeline, id field, pending count and one entry per event.
HttpReply DecideReply(const DecideResult& result);

}  // namespace impulse::server
