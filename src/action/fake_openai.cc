#include "action/fake_openai.h"

#include <simdjson.h>

#include "event/json_writer.h"

namespace impulse::action {

namespace {

FakeChatRequest ParseChatRequest(const RecordedRequest& req) {
  FakeChatRequest out;
  out.authorization = req.Header("authorization");
  out.idempotency_key = req.Header("idempotency-key");
  out.body = req.body;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const simdjson::padded_string padded(req.body);
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) return out;
  std::string_view model;
  simdjson::dom::array messages;
  if (root["model"].get(model) != simdjson::SUCCESS || root["messages"].get(messages) != simdjson::SUCCESS) {
    return out;
  }
  out.model = std::string(model);
  for (simdjson::dom::element m : messages) {
    std::string_view role, content;
    if (m["role"].get(role) != simdjson::SUCCESS || m["content"].get(content) != simdjson::SUCCESS) return out;
    if (role == "system") out.system = std::string(content);
    if (role == "user") out.user = std::string(content);
    ++out.messages;
  }
  double temperature = 0;
  if (root["temperature"].get(temperature) == simdjson::SUCCESS) out.temperature = temperature;
  int64_t max_tokens = 0;
  if (root["max_tokens"].get(max_tokens) == simdjson::SUCCESS) out.max_tokens = max_tokens;
  std::string_view format;
  out.json_asked = root.at_pointer("/response_format/type").get(format) == simdjson::SUCCESS && format == "json_object";
  out.valid = true;
  return out;
}

std::string ErrorBody(const std::string& message) {
  std::string body = "{\"error\":{\"message\":";
  AppendJsonString(message, &body);
  body += ",\"type\":\"fake_error\"}}";
  return body;
}

std::string CompletionBody(const FakeChatRequest& req, const std::string& content) {
  const uint64_t prompt_tokens = (req.system.size() + req.user.size()) / 4;
  const uint64_t completion_tokens = content.size() / 4 + 1;
  std::string body = "{\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion\",\"model\":";
  AppendJsonString(req.model, &body);
  body += ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";
  AppendJsonString(content, &body);
  body += "},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + std::to_string(prompt_tokens) +
          ",\"completion_tokens\":" + std::to_string(completion_tokens) +
          ",\"total_tokens\":" + std::to_string(prompt_tokens + completion_tokens) + "}}";
  return body;
}

}  // namespace

Result<std::unique_ptr<FakeOpenAi>> FakeOpenAi::Start() {
  std::unique_ptr<FakeOpenAi> fake(new FakeOpenAi());
  FakeOpenAi* self = fake.get();
  // The server is destroyed (its thread joined) before the rest of *self in ~FakeOpenAi.
  ASSIGN_OR_RETURN(fake->server_,
                   RecordingHttpServer::Start([self](const RecordedRequest& r) { return self->Handle(r); }));
  return fake;
}

FakeOpenAi::~FakeOpenAi() { server_.reset(); }

std::string FakeOpenAi::base_url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

std::string FakeOpenAi::DerivedContent(const FakeChatRequest& req) {
  if (!req.json_asked) return "echo: " + req.user;
  const bool flag = req.user.find("fraud") != std::string::npos;
  return std::string("{\"verdict\":\"") + (flag ? "flag" : "ok") +
         "\",\"prompt_chars\":" + std::to_string(req.user.size()) + "}";
}

ScriptedReply FakeOpenAi::Handle(const RecordedRequest& request) {
  ScriptedReply reply;
  if (request.target != "/v1/chat/completions" || request.method != "POST") {
    reply.status = 404;
    reply.body = ErrorBody("unknown route " + request.method + " " + request.target);
    return reply;
  }
  FakeChatRequest req = ParseChatRequest(request);
  std::lock_guard<std::mutex> lock(mu_);
  reply.delay_ms = delay_ms_;
  if (requests_.size() < kRequestsMax) requests_.push_back(req);
  if (!req.valid) {
    reply.status = 400;
    reply.body = ErrorBody("not a chat completion request");
    return reply;
  }
  if (!faults_.empty()) {
    Fault f = std::move(faults_.front());
    faults_.pop_front();
    switch (f.kind) {
      case FaultKind::kStatus:
        reply.status = f.status;
        reply.body = ErrorBody(f.status == 429 ? "Rate limit reached (fake)" : "scripted failure (fake)");
        if (!f.retry_after.empty()) reply.headers["Retry-After"] = f.retry_after;
        return reply;
      case FaultKind::kNotJson: reply.body = CompletionBody(req, "Sure! Here is the JSON: {"); return reply;
      case FaultKind::kDrop: reply.close_without_answer = true; return reply;
    }
  }
  reply.body = CompletionBody(req, content_ ? content_(req) : DerivedContent(req));
  return reply;
}

void FakeOpenAi::Push(int n, const Fault& fault) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n && faults_.size() < kFaultsMax; ++i) faults_.push_back(fault);
}

void FakeOpenAi::RateLimitNext(int n, const std::string& retry_after) {
  Push(n, {FaultKind::kStatus, 429, retry_after});
}
void FakeOpenAi::FailNext(int n, int status) { Push(n, {FaultKind::kStatus, status, ""}); }
void FakeOpenAi::NotJsonNext(int n) { Push(n, {FaultKind::kNotJson, 200, ""}); }
void FakeOpenAi::DropNext(int n) { Push(n, {FaultKind::kDrop, 0, ""}); }

void FakeOpenAi::set_delay_ms(int64_t delay_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  delay_ms_ = delay_ms;
}

void FakeOpenAi::set_content(ContentFn fn) {
  std::lock_guard<std::mutex> lock(mu_);
  content_ = std::move(fn);
}

std::vector<FakeChatRequest> FakeOpenAi::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

uint64_t FakeOpenAi::calls() const { return server_->requests_total(); }
uint32_t FakeOpenAi::concurrent_max() const { return server_->concurrent_max(); }
bool FakeOpenAi::WaitForCalls(uint64_t n, int64_t timeout_ms) const { return server_->WaitForRequests(n, timeout_ms); }

}  // namespace impulse::action
