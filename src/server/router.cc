#include "server/router.h"

#include <charconv>
#include <utility>
#include <vector>

#include "model/repository.h"
#include "server/json_writer.h"

namespace impulse::server {
namespace {

HttpReply JsonReply(int status, std::string body) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpReply Error(int status, std::string_view message, std::string_view code) {
  return JsonReply(status, JsonError(message, code));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a path segment or query value; nullopt on a malformed escape.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Compares in time that depends only on the expected token's length, not on where the
// first difference is.
bool ConstantTimeEquals(std::string_view given, std::string_view expected) {
  unsigned diff = given.size() == expected.size() ? 0u : 1u;
  for (size_t i = 0; i < expected.size(); ++i) {
    const char g = i < given.size() ? given[i] : '\0';
    diff |= static_cast<unsigned>(static_cast<unsigned char>(g ^ expected[i]));
  }
  return diff == 0;
}

bool IEqualsPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (a != prefix[i]) return false;
  }
  return true;
}

// "", "v1", "features", "<view>:batch"  or  "", "v1", "features", "<view>", "<entity>".
// The ":batch" suffix is matched before decoding, so a view name holding an encoded ':'
// (%3A) is still a view name.
void ParseFeatureTarget(const std::vector<std::string_view>& parts, ParsedTarget* out) {
  constexpr std::string_view kBatch = ":batch";
  if (parts.size() == 4 && parts[3].size() > kBatch.size() && parts[3].ends_with(kBatch)) {
    auto view = PercentDecode(parts[3].substr(0, parts[3].size() - kBatch.size()), false);
    if (!view || view->empty()) return;
    out->route = Route::kFeatureBatch;
    out->view = std::move(*view);
  } else if (parts.size() == 5 && !parts[3].empty() && !parts[4].empty()) {
    auto view = PercentDecode(parts[3], /*plus_is_space=*/false);
    auto entity = PercentDecode(parts[4], /*plus_is_space=*/false);
    if (!view || view->empty() || !entity || entity->empty()) return;
    out->route = Route::kFeatureGet;
    out->view = std::move(*view);
    out->entity = std::move(*entity);
  }
}

}  // namespace

std::optional<std::string> PercentDecodeSegment(std::string_view segment) {
  return PercentDecode(segment, /*plus_is_space=*/false);
}

std::optional<QueryParams> DecodeQuery(std::string_view query, std::string* error) {
  QueryParams out;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::optional<std::string> key = PercentDecode(pair.substr(0, eq), /*plus_is_space=*/true);
    std::optional<std::string> value =
        PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), /*plus_is_space=*/true);
    if (!key || !value) {
      *error = "query parameter '" + std::string(pair.substr(0, eq)) +
               "' has a malformed %-escape (a '%' must be followed by two hex digits)";
      return std::nullopt;
    }
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

std::string_view RouteLabel(Route route, std::string_view method) {
  if (IsModelRoute(route)) return ModelRouteLabel(route);
  switch (route) {
    case Route::kHealthz: return "healthz";
    case Route::kMetrics: return "metrics";
    case Route::kListStreams: return "streams";
    case Route::kStreamEvents: return method == "POST" ? "ingest" : "read_events";
    case Route::kFeatureViews: return "feature_views";
    case Route::kFeatureGet: return "features_get";
    case Route::kFeatureBatch: return "features_batch";
    case Route::kDecisionGet: return "decisions_get";
    case Route::kConsole: return "console";
    case Route::kStreamDescribe: return "stream_describe";
    case Route::kStreamRecords: return "delete_records";
    case Route::kPipelines: return "pipelines";
    case Route::kPipelineReset: return "pipeline_reset";
    default: break;  // kUnknown; the model routes are labelled above
  }
  return "unknown";
}

ParsedTarget ParseTarget(std::string_view target) {
  ParsedTarget out;
  const size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) out.query = std::string(target.substr(q + 1));
  if (path == "/healthz") {
    out.route = Route::kHealthz;
  } else if (path == "/metrics") {
    out.route = Route::kMetrics;
  } else if (path == "/v1/streams" || path == "/v1/streams/") {
    out.route = Route::kListStreams;
  } else if (path == "/v1/features" || path == "/v1/features/") {
    out.route = Route::kFeatureViews;
  } else if (auto asset = ConsoleAssetPath(path)) {
    out.route = Route::kConsole;
    out.asset = std::move(*asset);
  } else if (path == "/v1/pipelines" || path == "/v1/pipelines/") {
    out.route = Route::kPipelines;
  } else if (ParseModelTarget(path, &out)) {
    // model_routes.cc set the route (kUnknown for a malformed model path)
  } else {
    const auto parts = SplitPath(path);
    if (parts.size() >= 4 && parts[0].empty() && parts[1] == "v1" && parts[2] == "features") {
      ParseFeatureTarget(parts, &out);
      return out;
    }
    // "", "v1", "decisions", "<stream>", "<event_id>"
    if (parts.size() == 5 && parts[0].empty() && parts[1] == "v1" && parts[2] == "decisions") {
      auto name = PercentDecode(parts[3], /*plus_is_space=*/false);
      auto id = PercentDecode(parts[4], /*plus_is_space=*/false);
      if (name && !name->empty() && id && !id->empty()) {
        out.route = Route::kDecisionGet;
        out.stream = std::move(*name);
        out.event_id = std::move(*id);
      }
      return out;
    }
    // "", "v1", "pipelines", "<pipeline>", "reset"
    if (parts.size() == 5 && parts[0].empty() && parts[1] == "v1" && parts[2] == "pipelines" && parts[4] == "reset") {
      auto name = PercentDecode(parts[3], /*plus_is_space=*/false);
      if (name && !name->empty()) {
        out.route = Route::kPipelineReset;
        out.pipeline = std::move(*name);
      }
      return out;
    }
    // "", "v1", "streams", "<stream>"
    if (parts.size() == 4 && parts[0].empty() && parts[1] == "v1" && parts[2] == "streams" && !parts[3].empty()) {
      auto name = PercentDecode(parts[3], /*plus_is_space=*/false);
      if (name && !name->empty()) {
        out.route = Route::kStreamDescribe;
        out.stream = std::move(*name);
      }
      return out;
    }
    // "", "v1", "streams", "<stream>", "events" or "records"
    if (parts.size() == 5 && parts[0].empty() && parts[1] == "v1" && parts[2] == "streams" && !parts[3].empty() &&
        (parts[4] == "events" || parts[4] == "records")) {
      auto name = PercentDecode(parts[3], /*plus_is_space=*/false);
      if (name && !name->empty()) {
        out.route = parts[4] == "events" ? Route::kStreamEvents : Route::kStreamRecords;
        out.stream = std::move(*name);
      }
    }
  }
  return out;
}

std::optional<HttpReply> CheckTransferCoding(std::string_view transfer_encoding) {
  if (transfer_encoding.empty()) return std::nullopt;
  int chunked = 0;
  std::vector<std::string> others;
  size_t start = 0;
  while (start <= transfer_encoding.size()) {
    size_t end = transfer_encoding.find(',', start);
    if (end == std::string_view::npos) end = transfer_encoding.size();
    std::string_view coding = transfer_encoding.substr(start, end - start);
    start = end + 1;
    while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) coding.remove_prefix(1);
    while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) coding.remove_suffix(1);
    if (coding.empty()) continue;  // RFC 9110 5.6.1: empty list elements are ignored
    if (coding.size() == 7 && IEqualsPrefix(coding, "chunked")) {
      ++chunked;
    } else {
      others.emplace_back(coding);
    }
  }
  if (!others.empty()) {
    std::string names;
    for (const std::string& o : others) names.append(names.empty() ? "'" : ", '").append(o).append("'");
    return Error(501,
                 "transfer coding " + names +
                     " not supported: send the body as is (Content-Length) or with Transfer-Encoding: chunked only",
                 "Unimplemented");
  }
  if (chunked > 1) return Error(400, "transfer coding 'chunked' applied more than once", "InvalidArgument");
  return std::nullopt;
}

HttpReply ErrorReply(const Status& status, uint32_t retry_after_s) {
  int http = 500;
  switch (status.code()) {
    case StatusCode::kNotFound: http = 404; break;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange: http = 400; break;
    case StatusCode::kUnavailable:
    case StatusCode::kFailedPrecondition: http = 503; break;  // backpressure or stopping
    case StatusCode::kResourceExhausted: http = 507; break;   // disk full
    case StatusCode::kUnauthenticated: http = 401; break;
    default: http = 500; break;
  }
  HttpReply r = Error(http, status.message(), StatusCodeName(status.code()));
  if (http == 503) r.retry_after_s = retry_after_s;
  return r;
}

HttpReply IngestReply(const IngestResult& result) {
  if (result.accepted == 0 && result.rejected == 0) {
    return Error(400, "request body holds no events", "InvalidArgument");
  }
  std::string body = "{\"accepted\":" + std::to_string(result.accepted) +
                     ",\"rejected\":" + std::to_string(result.rejected) + ",\"errors\":[";
  for (size_t i = 0; i < result.errors.size(); ++i) {
    if (i > 0) body.push_back(',');
    body.append("{\"line\":").append(std::to_string(result.errors[i].line)).append(",\"reason\":");
    AppendJsonString(result.errors[i].reason, &body);
    body.push_back('}');
  }
  body.append("],\"errors_truncated\":").append(result.errors_truncated ? "true" : "false");
  body.push_back('}');
  const int status = result.rejected == 0 ? 200 : (result.accepted == 0 ? 422 : 207);
  return JsonReply(status, std::move(body));
}

std::optional<HttpReply> Router::Precheck(const ParsedTarget& target, std::string_view authorization,
                                          std::optional<uint64_t> content_length) const {
  // The console's files hold no data; its data calls carry the token.
  if (!options_->bearer_token.empty() && target.route != Route::kHealthz && target.route != Route::kConsole) {
    bool ok = IEqualsPrefix(authorization, "bearer ");
    if (ok) {
      std::string_view token = authorization.substr(7);
      while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
      ok = ConstantTimeEquals(token, options_->bearer_token);
    }
    if (!ok) {
      HttpReply r = Error(401, "missing or invalid bearer token", "Unauthenticated");
      r.www_authenticate = true;
      return r;
    }
  }
  if (content_length && *content_length > options_->max_body_bytes) {
    return Error(413,
                 "request body of " + std::to_string(*content_length) + " bytes exceeds max_body_bytes " +
                     std::to_string(options_->max_body_bytes),
                 "ResourceExhausted");
  }
  if (target.route == Route::kFeatureBatch && content_length &&
      *content_length > options_->max_feature_batch_body_bytes) {
    return Error(413,
                 "request body of " + std::to_string(*content_length) + " bytes exceeds max_feature_batch_body_bytes " +
                     std::to_string(options_->max_feature_batch_body_bytes),
                 "ResourceExhausted");
  }
  return std::nullopt;
}

void Router::Handle(std::string_view method, const ParsedTarget& target, std::string body, uint32_t producer,
                    ReplyFn reply) const {
  auto method_not_allowed = [&](std::string_view allowed) {
    reply(
        Error(405, "method " + std::string(method) + " not allowed; use " + std::string(allowed), "MethodNotAllowed"));
  };
  if (IsModelRoute(target.route)) return reply(ModelRoute(method, target, std::move(body)));
  switch (target.route) {
    case Route::kHealthz:
      if (method != "GET" && method != "HEAD") return method_not_allowed("GET");
      return reply(MakeReply(200, "ok", "text/plain"));
    case Route::kMetrics:
      if (method != "GET" && method != "HEAD") return method_not_allowed("GET");
      return reply(Metrics());
    case Route::kListStreams:
      if (method != "GET" && method != "HEAD") return method_not_allowed("GET");
      return reply(ListStreams());
    case Route::kStreamEvents:
      if (method == "POST") return Ingest(target.stream, target.query, body, producer, std::move(reply));
      if (method == "GET" || method == "HEAD") return ReadEvents(target.stream, target.query, std::move(reply));
      return method_not_allowed("GET or POST");
    case Route::kFeatureViews:
      if (method != "GET" && method != "HEAD") return method_not_allowed("GET");
      return reply(FeatureViews());
    case Route::kFeatureGet:
      if (method != "GET" && method != "HEAD") return method_not_allowed("GET");
      return reply(FeatureGet(target.view, target.entity, target.forwarded));
    case Route::kFeatureBatch:
      if (method != "POST") return method_not_allowed("POST");
      return reply(FeatureBatch(target.view, std::move(body), target.forwarded));
    case Route::kDecisionGet:
      if (method != "GET" && method != "HEAD") return method_not_allowed("GET");
      return reply(DecisionGet(target.stream, target.event_id, target.forwarded));
    case Route::kConsole: return reply(ConsoleReply(method, target.asset));
    case Route::kStreamDescribe:
      if (method != "GET" && method != "HEAD") return method_not_allowed("GET");
      return reply(DescribeStream(target.stream));
    case Route::kPipelines:
      if (method != "GET" && method != "HEAD") return method_not_allowed("GET");
      return reply(ListPipelines());
    case Route::kStreamRecords:
      if (method != "DELETE") return method_not_allowed("DELETE");
      return DeleteRecords(target.stream, target.query, std::move(reply));
    case Route::kPipelineReset:
      if (method != "POST") return method_not_allowed("POST");
      return ResetPipeline(target.pipeline, target.query, std::move(reply));
    default: break;  // kUnknown; the model routes are answered above
  }
  reply(Error(404, "no such route", "NotFound"));
}

void Router::Ingest(const std::string& stream, std::string_view query, const std::string& body, uint32_t producer,
                    ReplyFn reply) const {
  if (body.empty()) return reply(Error(400, "empty request body", "InvalidArgument"));
  if (!query.empty()) return IngestDecide(stream, query, body, producer, std::move(reply));
  // The engine parses `body` before Ingest returns (string_view contract), so it can be
  // dropped afterwards; the callback only needs the reply function.
  auto shared_reply = std::make_shared<ReplyFn>(std::move(reply));
  const Status st = engine_->Ingest(
      stream, body, producer,
      [shared_reply, retry = options_->retry_after_s](const Status& done_status, const IngestResult& result) {
        if (!done_status.ok()) {
          HttpReply r = ErrorReply(done_status, retry);
          if (!result.stored_lines.empty()) {
            // Some parts of the request were stored before another failed: say which.
            r.body.pop_back();
            r.body.append(",\"stored_lines\":[");
            for (size_t i = 0; i < result.stored_lines.size(); ++i) {
              if (i > 0) r.body.push_back(',');
              r.body.append(std::to_string(result.stored_lines[i]));
            }
            r.body.append("]}");
          }
          return (*shared_reply)(std::move(r));
        }
        (*shared_reply)(IngestReply(result));
      });
  if (st.ok()) return;
  // kOutOfRange from Ingest: the request alone exceeds an admission bound, so it can never be
  // admitted and a retry would get the same answer: 413, not 503.
  if (st.code() == StatusCode::kOutOfRange) return (*shared_reply)(Error(413, st.message(), "OutOfRange"));
  (*shared_reply)(ErrorReply(st, options_->retry_after_s));
}

HttpReply Router::ListStreams() const {
  std::string body = "{\"streams\":[";
  bool first_stream = true;
  for (const StreamInfo& s : engine_->ListStreams()) {
    if (!first_stream) body.push_back(',');
    first_stream = false;
    const Schema& schema = s.def.schema;
    body.append("{\"name\":");
    AppendJsonString(s.name, &body);
    body.append(",\"fields\":");
    AppendSchemaFields(schema, &body);
    body.append(",\"key\":");
    auto field_or_null = [&](int index) {
      if (index >= 0 && static_cast<size_t>(index) < schema.size()) {
        AppendJsonString(schema.field(static_cast<size_t>(index)).name, &body);
      } else {
        body.append("null");
      }
    };
    field_or_null(s.def.key_field);
    body.append(",\"event_time\":");
    field_or_null(s.def.time_field);
    body.append(",\"partitions\":[");
    for (size_t i = 0; i < s.partitions.size(); ++i) {
      const PartitionInfo& p = s.partitions[i];
      if (i > 0) body.push_back(',');
      body.append("{\"partition\":").append(std::to_string(p.partition));
      body.append(",\"start_offset\":").append(std::to_string(p.start_offset));
      body.append(",\"end_offset\":").append(std::to_string(p.end_offset)).append("}");
    }
    body.append("]}");
  }
  body.append("]}");
  return JsonReply(200, std::move(body));
}

HttpReply Router::Metrics() const {
  HttpReply r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = engine_->MetricsText();
  if (!r.body.empty() && r.body.back() != '\n') r.body.push_back('\n');
  r.body.append(metrics_->Text());
  if (options_->models != nullptr) {
    options_->models->metrics().AppendPrometheusText(&r.body);
    options_->models->predict_metrics().AppendPrometheusText(&r.body);
    const std::vector<model::ModelVersionStatus> list = options_->models->List();
    model::ModelMetrics::AppendLoadedText(list, &r.body);
  }
  return r;
}

}  // namespace impulse::server
