// The online feature routes of the Router (docs/HTTP_API.md, "Online features"):
//   GET  /v1/features                        -> {"views":[...]}
//   GET  /v1/features/{view}/{entity}        -> the entity's object (200, or 404 without values)
//   POST /v1/features/{view}:batch           -> {"view":...,"results":[...]} in request order
// The values come from Engine::LookupFeatures, which writes the per-entity JSON objects; this
// file only parses requests and frames replies. Runs on the I/O threads; the batch parser is
// one simdjson parser per thread, bounded by max_feature_batch_body_bytes.
#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "server/json_writer.h"
#include "server/router.h"

namespace impulse::server {
namespace {

namespace od = simdjson::ondemand;

HttpReply BadRequest(const std::string& message) { return MakeReply(400, JsonError(message, "InvalidArgument")); }

std::string JsonErrorText(simdjson::error_code e) { return std::string("invalid JSON: ") + simdjson::error_message(e); }

// Parses {"entities": [...]} into entity texts ("42" for an integer). nullopt on success, else
// the reply to send (400 with a message naming the problem, 413 beyond `max_entities`).
std::optional<HttpReply> ParseBatchBody(std::string* body, size_t max_entities, std::vector<std::string>* entities) {
  thread_local od::parser parser;
  const size_t len = body->size();
  body->resize(len + simdjson::SIMDJSON_PADDING, ' ');
  od::document doc;
  if (auto e = parser.iterate(body->data(), len, body->size()).get(doc); e) {
    return BadRequest(JsonErrorText(e));
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj); e) {
    return BadRequest(e == simdjson::INCORRECT_TYPE ? "request body must be a JSON object "
                                                      "{\"entities\": [...]}"
                                                    : JsonErrorText(e));
  }
  bool saw_entities = false;
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key); e) return BadRequest(JsonErrorText(e));
    if (key != "entities") {
      return BadRequest("unknown field '" + std::string(key) + "' (expected entities)");
    }
    if (saw_entities) return BadRequest("duplicate field 'entities'");
    saw_entities = true;
    od::array arr;
    if (auto e = field.value().get_array().get(arr); e) {
      return BadRequest(e == simdjson::INCORRECT_TYPE ? "field 'entities' must be an array" : JsonErrorText(e));
    }
    size_t index = 0;
    for (auto element : arr) {
      const std::string where = "entities[" + std::to_string(index) + "]";
      od::value v;
      if (auto e = element.get(v); e) return BadRequest(where + ": " + JsonErrorText(e));
      if (entities->size() >= max_entities) {
        return MakeReply(413, JsonError("more than " + std::to_string(max_entities) + " entities in one batch",
                                        "ResourceExhausted"));
      }
      od::json_type type;
      if (auto e = v.type().get(type); e) return BadRequest(where + ": " + JsonErrorText(e));
      if (type == od::json_type::string) {
        std::string_view s;
        if (auto e = v.get_string().get(s); e) return BadRequest(where + ": " + JsonErrorText(e));
        entities->emplace_back(s);
      } else if (type == od::json_type::number) {
        od::number_type nt;
        if (auto e = v.get_number_type().get(nt); e) {
          return BadRequest(where + ": integer out of range or bad number: " + JsonErrorText(e));
        }
        if (nt == od::number_type::signed_integer) {
          int64_t i = 0;
          if (v.get_int64().get(i)) return BadRequest(where + ": integer out of range (64 bits)");
          entities->push_back(std::to_string(i));
        } else if (nt == od::number_type::unsigned_integer) {
          uint64_t u = 0;
          if (v.get_uint64().get(u)) return BadRequest(where + ": integer out of range (64 bits)");
          entities->push_back(std::to_string(u));
        } else {
          return BadRequest(where + ": expected a string or an integer, got a non-integer number");
        }
      } else {
        const char* got = type == od::json_type::array     ? "an array"
                          : type == od::json_type::object  ? "an object"
                          : type == od::json_type::boolean ? "a boolean"
                                                           : "null";
        return BadRequest(where + ": expected a string or an integer, got " + got);
      }
      ++index;
    }
  }
  if (!saw_entities) return BadRequest("missing field 'entities'");
  // The object is complete; a token after it ("{...} x") is an error.
  const char* rest = nullptr;
  if (doc.current_location().get(rest) == simdjson::SUCCESS) {
    return BadRequest("trailing content after the JSON object");
  }
  return std::nullopt;
}

}  // namespace

HttpReply Router::FeatureViews() const {
  std::string body = "{\"views\":[";
  bool first = true;
  for (const std::string& v : engine_->FeatureViews()) {
    if (!first) body.push_back(',');
    first = false;
    AppendJsonString(v, &body);
  }
  body.append("]}");
  return MakeReply(200, std::move(body));
}

Status Router::LookupFeatures(const std::string& view, const std::vector<std::string_view>& entities,
                              const std::optional<std::string>& forwarded, std::string* out, size_t* found) const {
  if (options_->group_lookups != nullptr) {
    return options_->group_lookups->LookupFeatures(view, entities, forwarded, out, found);
  }
  return engine_->LookupFeatures(view, entities, out, found);
}

HttpReply Router::FeatureGet(const std::string& view, const std::string& entity,
                             const std::optional<std::string>& forwarded) const {
  HttpReply r;
  size_t found = 0;
  const std::vector<std::string_view> entities = {entity};
  const Status st = LookupFeatures(view, entities, forwarded, &r.body, &found);
  if (!st.ok()) return ErrorReply(st, options_->retry_after_s);
  // Without values the object is still the answer: it carries the reason.
  r.status = found == 0 ? 404 : 200;
  return r;
}

HttpReply Router::FeatureBatch(const std::string& view, std::string body,
                               const std::optional<std::string>& forwarded) const {
  if (body.size() > options_->max_feature_batch_body_bytes) {
    return MakeReply(413, JsonError("request body of " + std::to_string(body.size()) +
                                        " bytes exceeds max_feature_batch_body_bytes " +
                                        std::to_string(options_->max_feature_batch_body_bytes),
                                    "ResourceExhausted"));
  }
  std::vector<std::string> texts;
  if (auto err = ParseBatchBody(&body, Engine::kFeatureLookupBatchMax, &texts)) return std::move(*err);
  const std::vector<std::string_view> entities(texts.begin(), texts.end());
  HttpReply r;
  r.body = "{\"view\":";
  AppendJsonString(view, &r.body);
  r.body.append(",\"results\":[");
  const Status st = LookupFeatures(view, entities, forwarded, &r.body, /*found=*/nullptr);
  if (!st.ok()) return ErrorReply(st, options_->retry_after_s);
  r.body.append("]}");
  return r;
}

}  // namespace impulse::server
