// POST /v1/streams/{stream}/events?decide=PIPELINE[&id=FIELD][&timeout_ms=N]: the ingest, and in
// the same response what the pipeline output for each event (docs/HTTP_API.md, "Decisions in
// the response"). Engine::IngestAndDecide does the waiting; this file parses the query and
// renders the answer.
#include <charconv>

#include "event/json_writer.h"
#include "server/json_writer.h"
#include "server/router.h"

namespace impulse::server {
namespace {

HttpReply BadQuery(const std::string& message) {
  HttpReply r;
  r.status = 400;
  r.body = JsonError(message, "InvalidArgument");
  return r;
}

void AppendIdJson(std::string_view id, FieldType type, std::string* out) {
  if (type == FieldType::kString) {
    AppendJsonString(id, out);
  } else {
    out->append(id);  // numbers and booleans are their own JSON text (AppendIdText)
  }
}

}  // namespace

std::optional<std::string> ParseDecideQuery(std::string_view query, DecideOptions* options) {
  bool saw_decide = false, saw_id = false, saw_timeout = false;
  std::string malformed;
  const std::optional<QueryParams> params = DecodeQuery(query, &malformed);
  if (!params) return malformed;
  for (const auto& [key, value] : *params) {
    bool* seen = key == "decide" ? &saw_decide : key == "id" ? &saw_id : key == "timeout_ms" ? &saw_timeout : nullptr;
    if (seen == nullptr) {
      return "unknown query parameter '" + std::string(key) + "' (expected decide, id, timeout_ms)";
    }
    if (*seen) return "query parameter '" + std::string(key) + "' given more than once";
    *seen = true;
    if (key == "timeout_ms") {
      uint64_t v = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() ||
          v > DecideOptions::kDecideTimeoutMaxMs) {
        return "query parameter 'timeout_ms' must be an integer in [0, " +
               std::to_string(DecideOptions::kDecideTimeoutMaxMs) + "], got '" + value + "'";
      }
      options->timeout_ms = static_cast<uint32_t>(v);
    } else if (value.empty()) {
      return "query parameter '" + std::string(key) + "' is empty";
    } else if (key == "decide") {
      options->pipeline = value;
    } else {
      options->id_field = value;
    }
  }
  if (!saw_decide) return std::string("query parameters id and timeout_ms need decide=<pipeline>");
  return std::nullopt;
}

HttpReply DecideReply(const DecideResult& result) {
  HttpReply r = IngestReply(result.ingest);
  if (r.status == 400) return r;  // no events
  const int id_index = result.schema.FieldIndex(result.id_field);
  const FieldType id_type = id_index >= 0 ? result.schema.field(id_index).type : FieldType::kString;
  std::string& body = r.body;
  body.pop_back();  // '}'
  body.append(",\"pipeline\":");
  AppendJsonString(result.pipeline, &body);
  body.append(",\"id_field\":");
  AppendJsonString(result.id_field, &body);
  body.append(",\"pending\":").append(std::to_string(result.pending)).append(",\"decisions\":[");
  for (size_t i = 0; i < result.events.size(); ++i) {
    const EventDecision& e = result.events[i];
    if (i > 0) body.push_back(',');
    body.append("{\"line\":").append(std::to_string(e.line));
    if (e.state == EventDecision::State::kRejected) {
      body.append(",\"status\":\"rejected\",\"reason\":");
      AppendJsonString(e.reason, &body);
      body.push_back('}');
      continue;
    }
    body.append(",\"id\":");
    AppendIdJson(e.id, id_type, &body);
    if (e.state == EventDecision::State::kPending) {
      body.append(",\"status\":\"pending\"}");
      continue;
    }
    if (e.state == EventDecision::State::kLate) {
      body.append(",\"status\":\"late\",\"reason\":");
      AppendJsonString(e.reason, &body);
      body.push_back('}');
      continue;
    }
    body.append(",\"status\":\"decided\",\"output\":");
    AppendRowJson(result.schema, result.rows.row(static_cast<size_t>(e.row)), &body);
    body.append(",\"rules\":[");
    for (size_t k = 0; k < e.rules.size(); ++k) {
      if (k > 0) body.push_back(',');
      AppendJsonString(e.rules[k], &body);
    }
    body.append("]}");
  }
  body.append("]}");
  return r;
}

void Router::IngestDecide(const std::string& stream, std::string_view query, const std::string& body, uint32_t producer,
                          ReplyFn reply) const {
  DecideOptions options;
  if (auto err = ParseDecideQuery(query, &options)) return reply(BadQuery(*err));
  auto shared_reply = std::make_shared<ReplyFn>(std::move(reply));
  const Status st = engine_->IngestAndDecide(
      stream, body, producer, options,
      [shared_reply, retry = options_->retry_after_s](const Status& done_status, const DecideResult& result) {
        if (!done_status.ok()) {
          HttpReply r = ErrorReply(done_status, retry);
          const std::vector<uint32_t>& stored = result.ingest.stored_lines;
          if (!stored.empty()) {
            // As for a plain ingest: the lines stored before another part failed.
            r.body.pop_back();
            r.body.append(",\"stored_lines\":[");
            for (size_t i = 0; i < stored.size(); ++i)
              r.body.append(i > 0 ? "," : "").append(std::to_string(stored[i]));
            r.body.append("]}");
          }
          return (*shared_reply)(std::move(r));
        }
        (*shared_reply)(DecideReply(result));
      });
  if (st.ok()) return;
  if (st.code() == StatusCode::kOutOfRange)
    return (*shared_reply)(MakeReply(413, JsonError(st.message(), "OutOfRange")));
  (*shared_reply)(ErrorReply(st, options_->retry_after_s));
}

}  // namespace impulse::server
