// The wire format of the agent action: request body, response parsing, error summaries.
#include <cstdlib>
#include <string>

#include <simdjson.h>

#include "action/agent.h"
#include "action/http_syntax.h"
#include "event/json_writer.h"

namespace impulse::action {

namespace {
constexpr size_t kErrorSummaryBytesMax = 200;
// More retries than this is a configuration mistake (hours of retrying one firing).
constexpr int kRetriesMaxLimit = 100;

std::string Truncate(std::string_view s, size_t n) {
  std::string out(s.substr(0, n));
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (s.size() > n) out += "...";
  return out;
}
}  // namespace

Result<std::string> CheckAgentOptions(const AgentOptions& o) {
  if (Result<ParsedUrl> url = ParseHttpUrl(o.base_url); !url.ok()) return url.status().WithContext("agent base_url");
  if (o.model.empty()) return InvalidArgument("agent model is empty");
  if (o.concurrency_max == 0) return InvalidArgument("agent concurrency_max must be at least 1");
  if (o.timeout_ms <= 0) return InvalidArgument("agent timeout_ms must be positive");
  if (o.retries_max < 0 || o.retries_max > kRetriesMaxLimit) {
    return InvalidArgument("agent retries_max must be in [0, " + std::to_string(kRetriesMaxLimit) + "]");
  }
  if (o.backoff_initial_ms < 0 || o.backoff_max_ms < o.backoff_initial_ms) {
    return InvalidArgument("agent backoff: need 0 <= backoff_initial_ms <= backoff_max_ms");
  }
  if (o.queue_max == 0) return InvalidArgument("agent queue_max must be at least 1");
  if (o.response_bytes_max == 0) return InvalidArgument("agent response_bytes_max must be at least 1");
  if (o.max_event_age_ms <= 0) return InvalidArgument("agent max_event_age_ms must be positive");
  if (o.api_key_env.empty()) return std::string();
  const char* key = std::getenv(o.api_key_env.c_str());
  if (key == nullptr || *key == '\0') {
    return InvalidArgument("agent api_key_env: environment variable " + o.api_key_env + " is not set");
  }
  return std::string(key);
}

std::string BuildChatRequest(const AgentOptions& o, std::string_view prompt) {
  std::string out;
  out.reserve(128 + o.system_prompt.size() + prompt.size());
  out += "{\"model\":";
  AppendJsonString(o.model, &out);
  out += ",\"messages\":[";
  if (!o.system_prompt.empty()) {
    out += "{\"role\":\"system\",\"content\":";
    AppendJsonString(o.system_prompt, &out);
    out += "},";
  }
  out += "{\"role\":\"user\",\"content\":";
  AppendJsonString(prompt, &out);
  out += "}],\"temperature\":";
  AppendJsonDouble(o.temperature, &out);
  out += ",\"max_tokens\":";
  out += std::to_string(o.max_tokens);
  if (o.json) out += ",\"response_format\":{\"type\":\"json_object\"}";
  out += '}';
  return out;
}

Result<ChatAnswer> ParseChatResponse(std::string_view body, bool json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const simdjson::padded_string padded(body);
  if (auto e = parser.parse(padded).get(root); e != simdjson::SUCCESS) {
    return InvalidArgument(std::string("response is not JSON: ") + simdjson::error_message(e) + ": " +
                           Truncate(body, kErrorSummaryBytesMax));
  }
  std::string_view content;
  if (root.at_pointer("/choices/0/message/content").get(content) != simdjson::SUCCESS) {
    return InvalidArgument("response has no choices[0].message.content: " + Truncate(body, kErrorSummaryBytesMax));
  }
  ChatAnswer answer;
  answer.content = std::string(content);
  uint64_t tokens = 0;
  if (root.at_pointer("/usage/total_tokens").get(tokens) == simdjson::SUCCESS) {
    answer.total_tokens = tokens;
    answer.has_usage = true;
  }
  if (json) {
    simdjson::dom::parser content_parser;
    simdjson::dom::element ignored;
    const simdjson::padded_string padded_content(answer.content);
    if (auto e = content_parser.parse(padded_content).get(ignored); e != simdjson::SUCCESS) {
      return InvalidArgument(std::string("answer is not JSON: ") + simdjson::error_message(e) + ": " +
                             Truncate(answer.content, kErrorSummaryBytesMax));
    }
  }
  return answer;
}

std::string SummarizeErrorBody(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const simdjson::padded_string padded(body);
  std::string_view message;
  if (parser.parse(padded).get(root) == simdjson::SUCCESS &&
      root.at_pointer("/error/message").get(message) == simdjson::SUCCESS) {
    return Truncate(message, kErrorSummaryBytesMax);
  }
  return Truncate(body, kErrorSummaryBytesMax);
}

std::string StaleReason(int64_t age_ms, int64_t max_event_age_ms) {
  return "stale: fired " + std::to_string(age_ms) + " ms ago (max_event_age " + std::to_string(max_event_age_ms) +
         " ms)";
}

}  // namespace impulse::action
