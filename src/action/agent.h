// The agent action (docs/ACTIONS.md, "Agent"): one OpenAI-compatible chat completion per firing.
// The executor itself is created by ActionRuntime::NewAgent (NewAgentExecutor in internal.h);
// this header holds the wire format of the call, pure functions safe from any thread, so the
// request and the parsing are tested without a server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "action/action.h"
#include "impulse/status.h"

namespace impulse::action {

// Load-time checks of the options (base_url http://host[:port], a model, non-zero limits) and
// of the API key: kInvalidArgument naming the field, or the unset environment variable.
// Returns the API key read from getenv(options.api_key_env) (empty when api_key_env is empty:
// no Authorization header is sent, for local endpoints that need none).
Result<std::string> CheckAgentOptions(const AgentOptions& options);

// The JSON body of POST /v1/chat/completions: model, messages (the system prompt when set,
// then the user prompt), temperature, max_tokens, and response_format json_object when
// options.json.
std::string BuildChatRequest(const AgentOptions& options, std::string_view prompt);

// What a successful completion returned.
struct ChatAnswer {
  std::string content;        // choices[0].message.content
  uint64_t total_tokens = 0;  // usage.total_tokens (0 if absent)
  bool has_usage = false;     // whether the endpoint reported usage
};

// Parses the body of a 2xx answer. kInvalidArgument when it is not a chat completion
// ("no choices[0].message.content"), or, with `json`, when the content does not parse as JSON
// ("answer is not JSON: ...").
Result<ChatAnswer> ParseChatResponse(std::string_view body, bool json);

// A one-line summary of an error answer for Outcome.error: the OpenAI "error.message" when the
// body has one, else the start of the body (at most 200 bytes).
std::string SummarizeErrorBody(std::string_view body);

// The Outcome.error of a firing skipped for age:
// "stale: fired N ms ago (max_event_age M ms)".
std::string StaleReason(int64_t age_ms, int64_t max_event_age_ms);

}  // namespace impulse::action
