#include <cstdlib>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "action/agent.h"
#include "common/status_matchers.h"

namespace impulse::action {
namespace {

AgentOptions Options() {
  AgentOptions o;
  o.base_url = "http://127.0.0.1:1";
  o.model = "gpt-test";
  return o;
}

TEST(AgentWire, RequestHasModelMessagesAndParameters) {
  AgentOptions o = Options();
  o.system_prompt = "You are \"careful\".";
  o.temperature = 0.25;
  o.max_tokens = 77;
  o.json = true;
  const std::string body = BuildChatRequest(o, "line1\nline2");
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(body);
  EXPECT_EQ(std::string_view(root["model"]), "gpt-test");
  simdjson::dom::array messages = root["messages"];
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(std::string_view(messages.at(0)["role"]), "system");
  EXPECT_EQ(std::string_view(messages.at(0)["content"]), "You are \"careful\".");
  EXPECT_EQ(std::string_view(messages.at(1)["role"]), "user");
  EXPECT_EQ(std::string_view(messages.at(1)["content"]), "line1\nline2");
  EXPECT_DOUBLE_EQ(double(root["temperature"]), 0.25);
  EXPECT_EQ(int64_t(root["max_tokens"]), 77);
  EXPECT_EQ(std::string_view(root.at_pointer("/response_format/type")), "json_object");
}

TEST(AgentWire, RequestWithoutSystemPromptOrJson) {
  const std::string body = BuildChatRequest(Options(), "hi");
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(body);
  simdjson::dom::array messages = root["messages"];
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(std::string_view(messages.at(0)["role"]), "user");
  EXPECT_EQ(root["response_format"].error(), simdjson::NO_SUCH_FIELD);
}

TEST(AgentWire, ParsesTextAnswerAndUsage) {
  auto a = ParseChatResponse(
      R"({"choices":[{"message":{"role":"assistant","content":"hello"}}],"usage":{"total_tokens":42}})",
      /*json=*/false);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->content, "hello");
  EXPECT_TRUE(a->has_usage);
  EXPECT_EQ(a->total_tokens, 42u);
}

TEST(AgentWire, JsonAnswerMustParse) {
  const char* good = R"({"choices":[{"message":{"content":"{\"verdict\":\"fraud\"}"}}]})";
  auto a = ParseChatResponse(good, /*json=*/true);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->content, R"({"verdict":"fraud"})");
  EXPECT_FALSE(a->has_usage);

  auto bad = ParseChatResponse(R"({"choices":[{"message":{"content":"sure! {verdict"}}]})", true);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind("answer is not JSON", 0), 0u) << bad.status().message();
  // The same text is fine when JSON was not asked for.
  EXPECT_TRUE(ParseChatResponse(R"({"choices":[{"message":{"content":"sure! {verdict"}}]})", false).ok());
}

TEST(AgentWire, MalformedResponsesAreErrors) {
  EXPECT_CODE(ParseChatResponse("", false), kInvalidArgument);
  EXPECT_CODE(ParseChatResponse("not json", false), kInvalidArgument);
  EXPECT_CODE(ParseChatResponse(R"({"choices":[]})", false), kInvalidArgument);
  EXPECT_CODE(ParseChatResponse(R"({"choices":[{"message":{"content":7}}]})", false), kInvalidArgument);
}

TEST(AgentWire, ErrorSummaryPrefersOpenAiMessage) {
  EXPECT_EQ(SummarizeErrorBody(R"({"error":{"message":"Rate limit reached","type":"x"}})"), "Rate limit reached");
  EXPECT_EQ(SummarizeErrorBody("plain\ntext"), "plain text");
  EXPECT_EQ(SummarizeErrorBody(std::string(500, 'x')).size(), 203u);
}

TEST(AgentWire, StaleReasonText) {
  EXPECT_EQ(StaleReason(1500, 1000), "stale: fired 1500 ms ago (max_event_age 1000 ms)");
}

TEST(AgentWire, OptionsChecked) {
  EXPECT_TRUE(CheckAgentOptions(Options()).ok());
  AgentOptions o = Options();
  o.base_url = "https://api.openai.com";
  EXPECT_EQ(CheckAgentOptions(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.model = "";
  EXPECT_CODE(CheckAgentOptions(o), kInvalidArgument);
  o = Options();
  o.concurrency_max = 0;
  EXPECT_CODE(CheckAgentOptions(o), kInvalidArgument);
  o = Options();
  o.retries_max = 101;
  EXPECT_CODE(CheckAgentOptions(o), kInvalidArgument);
  o.retries_max = 100;
  EXPECT_TRUE(CheckAgentOptions(o).ok());
  o = Options();
  o.backoff_initial_ms = 10;
  o.backoff_max_ms = 5;
  EXPECT_CODE(CheckAgentOptions(o), kInvalidArgument);
  o = Options();
  o.queue_max = 0;
  EXPECT_CODE(CheckAgentOptions(o), kInvalidArgument);
}

TEST(AgentWire, ApiKeyFromEnvironmentOrLoadError) {
  AgentOptions o = Options();
  o.api_key_env = "IMPULSE_AGENT_WIRE_TEST_KEY";
  ::unsetenv("IMPULSE_AGENT_WIRE_TEST_KEY");
  auto missing = CheckAgentOptions(o);
  ASSERT_CODE(missing, kInvalidArgument);
  EXPECT_NE(missing.status().message().find("IMPULSE_AGENT_WIRE_TEST_KEY"), std::string::npos);
  ::setenv("IMPULSE_AGENT_WIRE_TEST_KEY", "sk-123", 1);
  auto key = CheckAgentOptions(o);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, "sk-123");
  ::unsetenv("IMPULSE_AGENT_WIRE_TEST_KEY");
}

}  // namespace
}  // namespace impulse::action
