// The model routes of the Router (docs/HTTP_API.md, "Models"), answered from the model
// repository (HttpServerOptions::models) without the pipeline:
//   GET  /v1/models                                   -> {"models":[...]} (ModelRepository::List)
//   POST /v1/models/{name}/versions/{v}:load|:unload  -> {"ok":true,...}
//   POST /v1/models:rescan                            -> {"ok":true,...}
//   KServe v2 / Open Inference Protocol: GET /v2/health/live, /v2/health/ready,
//   GET /v2/models/{m}[/versions/{v}], GET .../ready, POST .../infer.
// Runs on the I/O threads. Load/unload/rescan read model files on the calling I/O thread (they
// are rare admin calls; the repository serializes them). An infer calls Model::Predict inline.
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/model_config.h"
#include "model/repository.h"
#include "server/infer_codec.h"
#include "server/json_writer.h"
#include "server/router.h"

namespace impulse::server {
namespace {

using model::ModelRepository;
using model::ModelVersionStatus;
using model::VersionState;

HttpReply Error(int status, std::string_view message, StatusCode code) {
  return MakeReply(status, JsonError(message, StatusCodeName(code)));
}

// A repository error as an HTTP reply. `load_error_http` is used for a model file that does not
// load (kInvalidArgument and the loader's other errors): 422 for admin calls.
HttpReply ModelErrorReply(const Status& st, int load_error_http) {
  int http = load_error_http;
  switch (st.code()) {
    case StatusCode::kNotFound: http = 404; break;
    case StatusCode::kFailedPrecondition: http = 409; break;  // broken config.yaml
    case StatusCode::kResourceExhausted: http = 507; break;   // loaded_versions_max
    case StatusCode::kUnavailable: http = 503; break;         // no ready version
    default: break;
  }
  return Error(http, st.message(), st.code());
}

// The version segment of a path; nullopt (and a 400 in *bad) when it is not a version number.
std::optional<uint64_t> ParseVersion(const std::string& text, HttpReply* bad) {
  Result<uint64_t> v = model::ParseVersionName(text);
  if (!v.ok()) {
    *bad = Error(400, "version '" + text + "' is not a version number (1, 2, ...)", StatusCode::kInvalidArgument);
    return std::nullopt;
  }
  return *v;
}

bool IsListed(const std::vector<ModelVersionStatus>& list, std::string_view name, uint64_t version) {
  for (const ModelVersionStatus& s : list) {
    if (s.name == name && s.version == version) return true;
  }
  return false;
}

void AppendStatusJson(const ModelVersionStatus& s, std::string* out) {
  out->append("{\"name\":");
  AppendJsonString(s.name, out);
  out->append(",\"version\":").append(s.version == 0 ? "null" : std::to_string(s.version));
  out->append(",\"kind\":");
  AppendJsonString(s.kind, out);
  out->append(",\"state\":");
  AppendJsonString(model::VersionStateName(s.state), out);
  out->append(",\"inputs\":").append(std::to_string(s.num_inputs));
  out->append(",\"reason\":");
  AppendJsonString(s.reason, out);
  out->push_back('}');
}

HttpReply ListModels(const ModelRepository& repo) {
  std::string body = "{\"models\":[";
  bool first = true;
  for (const ModelVersionStatus& s : repo.List()) {
    if (!first) body.push_back(',');
    first = false;
    AppendStatusJson(s, &body);
  }
  body.append("]}");
  return MakeReply(200, std::move(body));
}

HttpReply AdminOk(std::string_view name, uint64_t version, std::string_view state) {
  std::string body = "{\"ok\":true,\"model\":";
  AppendJsonString(name, &body);
  body.append(",\"version\":").append(std::to_string(version)).append(",\"state\":");
  AppendJsonString(state, &body);
  body.push_back('}');
  return MakeReply(200, std::move(body));
}

HttpReply LoadOrUnload(ModelRepository* repo, const ParsedTarget& target, bool load) {
  HttpReply bad;
  const std::optional<uint64_t> version = ParseVersion(target.version, &bad);
  if (!version) return bad;
  if (load) {
    // A version the scan knows whose file is missing is a load error (422), not an unknown one.
    const bool listed = IsListed(repo->List(), target.model, *version);
    const Status st = repo->Load(target.model, *version);
    if (!st.ok()) {
      if (listed && st.code() == StatusCode::kNotFound) return Error(422, st.message(), st.code());
      return ModelErrorReply(st, 422);
    }
    return AdminOk(target.model, *version, "ready");
  }
  const Status st = repo->Unload(target.model, *version);
  if (!st.ok()) return ModelErrorReply(st, 422);
  return AdminOk(target.model, *version, "unavailable");
}

HttpReply Rescan(ModelRepository* repo) {
  const Status st = repo->Rescan();
  if (!st.ok()) return ModelErrorReply(st, 500);
  size_t ready = 0;
  size_t failed = 0;
  for (const ModelVersionStatus& s : repo->List()) {
    ready += s.state == VersionState::kReady ? 1 : 0;
    failed += s.state == VersionState::kFailed ? 1 : 0;
  }
  return MakeReply(200,
                   "{\"ok\":true,\"ready\":" + std::to_string(ready) + ",\"failed\":" + std::to_string(failed) + "}");
}

// Ready when every model whose config parsed has a ready version.
HttpReply HealthReady(const ModelRepository& repo) {
  const std::vector<ModelVersionStatus> list = repo.List();
  std::string not_ready;
  for (size_t i = 0; i < list.size();) {
    size_t j = i;
    bool has_config = false;
    bool ready = false;
    for (; j < list.size() && list[j].name == list[i].name; ++j) {
      has_config = has_config || !list[j].kind.empty();
      ready = ready || list[j].state == VersionState::kReady;
    }
    if (has_config && !ready && not_ready.empty()) not_ready = list[i].name;
    i = j;
  }
  if (not_ready.empty()) return MakeReply(200, "{\"ready\":true}");
  std::string body = "{\"ready\":false,\"error\":";
  AppendJsonString("model '" + not_ready + "' has no ready version", &body);
  body.push_back('}');
  return MakeReply(503, std::move(body));
}

std::optional<uint64_t> OptionalVersion(const ParsedTarget& target, HttpReply* bad, bool* ok) {
  *ok = true;
  if (target.version.empty()) return std::nullopt;
  std::optional<uint64_t> v = ParseVersion(target.version, bad);
  *ok = v.has_value();
  return v;
}

HttpReply ModelReady(const ModelRepository& repo, const ParsedTarget& target) {
  HttpReply bad;
  bool ok = true;
  const std::optional<uint64_t> version = OptionalVersion(target, &bad, &ok);
  if (!ok) return bad;
  auto got = repo.Get(target.model, version);
  std::string body = "{\"name\":";
  AppendJsonString(target.model, &body);
  if (version) body.append(",\"version\":\"").append(std::to_string(*version)).append("\"");
  if (got.ok()) return MakeReply(200, body + ",\"ready\":true}");
  if (got.status().code() == StatusCode::kNotFound) return ModelErrorReply(got.status(), 404);
  body.append(",\"ready\":false,\"error\":");
  AppendJsonString(got.status().message(), &body);
  body.push_back('}');
  return MakeReply(503, std::move(body));
}

void AppendTensorMeta(std::string_view name, size_t width, std::string* out) {
  out->append("[{\"name\":");
  AppendJsonString(name, out);
  out->append(",\"datatype\":\"FP32\",\"shape\":[-1,").append(std::to_string(width)).append("]}]");
}

void AppendNames(const std::vector<std::string>& names, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(names[i], out);
  }
  out->push_back(']');
}

HttpReply ModelMetadata(const ModelRepository& repo, const ParsedTarget& target) {
  HttpReply bad;
  bool ok = true;
  const std::optional<uint64_t> version = OptionalVersion(target, &bad, &ok);
  if (!ok) return bad;
  auto got = repo.Get(target.model, version);
  if (!got.ok()) return ModelErrorReply(got.status(), 500);
  const model::LoadedModel& m = **got;
  std::vector<std::string> versions;
  for (const ModelVersionStatus& s : repo.List()) {
    if (s.name == m.name && s.state == VersionState::kReady) versions.push_back(std::to_string(s.version));
  }
  std::vector<std::string> features;
  for (const model::ModelInput& in : m.config.inputs) features.push_back(in.name);
  std::string body = "{\"name\":";
  AppendJsonString(m.name, &body);
  body.append(",\"versions\":");
  AppendNames(versions, &body);
  body.append(",\"platform\":");
  AppendJsonString("impulse-" + std::string(m.model->kind()), &body);
  body.append(",\"inputs\":");
  AppendTensorMeta("input", m.model->num_features(), &body);
  body.append(",\"outputs\":");
  AppendTensorMeta("output", m.model->num_outputs(), &body);
  body.append(",\"parameters\":{\"version\":\"").append(std::to_string(m.version)).append("\",\"input_names\":");
  AppendNames(features, &body);
  body.append(",\"output_names\":");
  AppendNames(m.config.outputs, &body);
  body.append("}}");
  return MakeReply(200, std::move(body));
}

// One output tensor: column `column` of the scores, or all of them (column < 0) as [n, K].
void AppendOutputTensor(std::string_view name, const std::vector<float>& scores, size_t rows, size_t k, int64_t column,
                        std::string* out) {
  out->append("{\"name\":");
  AppendJsonString(name, out);
  out->append(",\"datatype\":\"FP32\",\"shape\":[").append(std::to_string(rows));
  if (column < 0) out->append(",").append(std::to_string(k));
  out->append("],\"data\":[");
  bool first = true;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < k; ++c) {
      if (column >= 0 && c != static_cast<size_t>(column)) continue;
      if (!first) out->push_back(',');
      first = false;
      AppendJsonFloat(scores[r * k + c], out);
    }
  }
  out->append("]}");
}

HttpReply Infer(ModelRepository* repo, const HttpServerOptions& options, const ParsedTarget& target, std::string body) {
  HttpReply bad;
  bool ok = true;
  const std::optional<uint64_t> version = OptionalVersion(target, &bad, &ok);
  if (!ok) return bad;
  auto got = repo->Get(target.model, version);
  if (!got.ok()) return ModelErrorReply(got.status(), 500);
  const model::LoadedModel& m = **got;
  model::ModelMetrics::Series* series = repo->metrics().For(m.name, m.version);
  if (body.size() > options.max_body_bytes) {
    model::ModelMetrics::RecordError(series, 0);
    return Error(413, "request body exceeds max_body_bytes " + std::to_string(options.max_body_bytes),
                 StatusCode::kResourceExhausted);
  }
  std::vector<std::string> names;
  for (const model::ModelInput& in : m.config.inputs) names.push_back(in.name);
  Result<InferRequest> req = ParseInferRequest(&body, names, options.infer_rows_max);
  if (!req.ok()) {
    model::ModelMetrics::RecordError(series, 0);
    return Error(req.status().code() == StatusCode::kResourceExhausted ? 413 : 400, req.status().message(),
                 req.status().code());
  }
  // A missing value (null) takes the config's default, as the predict step does, so the HTTP
  // path scores a row exactly as the pipeline would.
  const size_t n_features = names.size();
  for (size_t f = 0; f < n_features; ++f) {
    const std::optional<float>& fill = m.config.inputs[f].default_value;
    if (!fill) continue;
    for (size_t r = 0; r < req->rows; ++r) {
      float& v = req->features[r * n_features + f];
      if (std::isnan(v)) v = *fill;
    }
  }
  const size_t k = m.model->num_outputs();
  // Resolve the requested outputs before scoring: "output" is the [n, K] matrix, a config
  // output name is its column [n].
  std::vector<int64_t> columns;
  for (const std::string& name : req->outputs) {
    int64_t column = name == "output" ? -1 : -2;
    for (size_t c = 0; c < m.config.outputs.size() && column == -2; ++c) {
      if (m.config.outputs[c] == name) column = static_cast<int64_t>(c);
    }
    if (column == -2) {
      model::ModelMetrics::RecordError(series, req->rows);
      std::string known;
      for (const std::string& o : m.config.outputs) known += ", " + o;
      return Error(400,
                   "output '" + name + "' is not an output of model '" + m.name + "' (expected output" + known + ")",
                   StatusCode::kInvalidArgument);
    }
    columns.push_back(column);
  }
  if (columns.empty()) columns.push_back(-1);
  std::vector<float> scores(req->rows * k);
  const auto start = std::chrono::steady_clock::now();
  if (req->rows > 0) m.model->Predict(req->features.data(), req->rows, scores.data());
  const auto compute_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  model::ModelMetrics::Record(series, req->rows, /*queue_ns=*/-1, compute_ns);

  std::string out = "{\"model_name\":";
  AppendJsonString(m.name, &out);
  out.append(",\"model_version\":\"").append(std::to_string(m.version)).append("\"");
  if (req->id) {
    out.append(",\"id\":");
    AppendJsonString(*req->id, &out);
  }
  out.append(",\"outputs\":[");
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) out.push_back(',');
    const std::string_view name = columns[i] < 0 ? std::string_view("output")
                                                 : std::string_view(m.config.outputs[static_cast<size_t>(columns[i])]);
    AppendOutputTensor(name, scores, req->rows, k, columns[i], &out);
  }
  out.append("]}");
  return MakeReply(200, std::move(out));
}

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size() && parts.size() <= 8) {  // longer paths are no model route anyway
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Decodes a non-empty name segment; false if malformed or empty.
bool DecodeName(std::string_view segment, std::string* out) {
  std::optional<std::string> d = PercentDecodeSegment(segment);
  if (!d || d->empty()) return false;
  *out = std::move(*d);
  return true;
}

}  // namespace

bool ParseModelTarget(std::string_view path, ParsedTarget* out) {
  if (path == "/v1/models" || path == "/v1/models/") {
    out->route = Route::kModels;
    return true;
  }
  if (path == "/v1/models:rescan") {
    out->route = Route::kModelsRescan;
    return true;
  }
  if (path == "/v2/health/live") {
    out->route = Route::kV2Live;
    return true;
  }
  if (path == "/v2/health/ready") {
    out->route = Route::kV2Ready;
    return true;
  }
  const std::vector<std::string_view> parts = Split(path);
  if (parts.size() < 4 || !parts[0].empty() || parts[2] != "models" || (parts[1] != "v1" && parts[1] != "v2")) {
    return false;
  }
  ParsedTarget t;
  if (parts[1] == "v1") {
    // "", "v1", "models", "<name>", "versions", "<v>:load" (the suffix matched before decoding)
    if (parts.size() == 6 && parts[4] == "versions" && DecodeName(parts[3], &t.model)) {
      for (auto [suffix, route] : {std::pair{std::string_view(":load"), Route::kModelLoad},
                                   std::pair{std::string_view(":unload"), Route::kModelUnload}}) {
        if (parts[5].size() > suffix.size() && parts[5].ends_with(suffix) &&
            DecodeName(parts[5].substr(0, parts[5].size() - suffix.size()), &t.version)) {
          t.route = route;
        }
      }
    }
  } else if (DecodeName(parts[3], &t.model)) {
    // "", "v2", "models", "<m>" [, "versions", "<v>"] [, "ready" | "infer"]
    size_t next = 4;
    bool ok = true;
    if (parts.size() >= 6 && parts[4] == "versions") {
      ok = DecodeName(parts[5], &t.version);
      next = 6;
    }
    if (ok && parts.size() == next) {
      t.route = Route::kV2ModelMetadata;
    } else if (ok && parts.size() == next + 1 && parts[next] == "ready") {
      t.route = Route::kV2ModelReady;
    } else if (ok && parts.size() == next + 1 && parts[next] == "infer") {
      t.route = Route::kV2ModelInfer;
    }
  }
  if (t.route == Route::kUnknown) return true;  // under /v1/models or /v2/models: no other route
  out->route = t.route;
  out->model = std::move(t.model);
  out->version = std::move(t.version);
  return true;
}

std::string_view ModelRouteLabel(Route route) {
  switch (route) {
    case Route::kModels: return "models";
    case Route::kModelLoad: return "model_load";
    case Route::kModelUnload: return "model_unload";
    case Route::kModelsRescan: return "models_rescan";
    case Route::kV2Live: return "v2_health_live";
    case Route::kV2Ready: return "v2_health_ready";
    case Route::kV2ModelMetadata: return "v2_model_metadata";
    case Route::kV2ModelReady: return "v2_model_ready";
    case Route::kV2ModelInfer: return "v2_infer";
    default: return "unknown";
  }
}

std::optional<std::string_view> ModelRouteMethod(Route route) {
  switch (route) {
    case Route::kModels:
    case Route::kV2Live:
    case Route::kV2Ready:
    case Route::kV2ModelMetadata:
    case Route::kV2ModelReady: return "GET";
    case Route::kModelLoad:
    case Route::kModelUnload:
    case Route::kModelsRescan:
    case Route::kV2ModelInfer: return "POST";
    default: return std::nullopt;
  }
}

bool IsModelRoute(Route route) { return ModelRouteMethod(route).has_value(); }

HttpReply Router::ModelRoute(std::string_view method, const ParsedTarget& target, std::string body) const {
  const std::optional<std::string_view> allowed = ModelRouteMethod(target.route);
  if (!allowed) return Error(404, "no such route", StatusCode::kNotFound);
  const bool get_ok = *allowed == "GET" && (method == "GET" || method == "HEAD");
  if (!get_ok && method != *allowed) {
    return MakeReply(405, JsonError("method " + std::string(method) + " not allowed; use " + std::string(*allowed),
                                    "MethodNotAllowed"));
  }
  if (target.route == Route::kV2Live) return MakeReply(200, "{\"live\":true}");
  model::ModelRepository* repo = options_->models;
  if (repo == nullptr) {
    return Error(404, "no model repository: start with --models DIR", StatusCode::kNotFound);
  }
  switch (target.route) {
    case Route::kModels: return ListModels(*repo);
    case Route::kModelLoad: return LoadOrUnload(repo, target, /*load=*/true);
    case Route::kModelUnload: return LoadOrUnload(repo, target, /*load=*/false);
    case Route::kModelsRescan: return Rescan(repo);
    case Route::kV2Ready: return HealthReady(*repo);
    case Route::kV2ModelMetadata: return ModelMetadata(*repo, target);
    case Route::kV2ModelReady: return ModelReady(*repo, target);
    case Route::kV2ModelInfer: return Infer(repo, *options_, target, std::move(body));
    default: break;
  }
  return Error(404, "no such route", StatusCode::kNotFound);
}

}  // namespace impulse::server
