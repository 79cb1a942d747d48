#include "action/fake_openai.h"

#include <utility>  // before Asio with g++ 12 / C++20

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include "action/http_client.h"

namespace impulse::action {
namespace {

HttpResponse Call(const std::string& url, const std::string& body) {
  boost::asio::io_context io;
  HttpResponse out;
  HttpRequest req;
  req.url = url;
  req.body = body;
  req.headers["Idempotency-Key"] = "k1";
  req.timeout_ms = 10'000;
  AsyncRequest(io, req, [&](HttpResponse r) { out = std::move(r); });
  io.run();
  return out;
}

TEST(FakeOpenAi, DerivedContent) {
  FakeChatRequest r;
  r.user = "card 7: fraud?";
  EXPECT_EQ(FakeOpenAi::DerivedContent(r), "echo: card 7: fraud?");
  r.json_asked = true;
  EXPECT_EQ(FakeOpenAi::DerivedContent(r), R"({"verdict":"flag","prompt_chars":14})");
  r.user = "fine";
  EXPECT_EQ(FakeOpenAi::DerivedContent(r), R"({"verdict":"ok","prompt_chars":4})");
}

TEST(FakeOpenAi, AnswersRecordsAndFails) {
  auto fake = FakeOpenAi::Start();
  ASSERT_TRUE(fake.ok()) << fake.status().ToString();
  const std::string url = (*fake)->base_url() + "/v1/chat/completions";

  HttpResponse ok = Call(url, R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(ok.error.ok()) << ok.error.ToString();
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find(R"("content":"echo: hi")"), std::string::npos) << ok.body;
  EXPECT_NE(ok.body.find(R"("total_tokens":)"), std::string::npos) << ok.body;

  (*fake)->RateLimitNext(1, "7");
  HttpResponse limited = Call(url, R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.Header("retry-after"), "7");

  EXPECT_EQ(Call(url, "not json").status, 400);
  EXPECT_EQ(Call((*fake)->base_url() + "/v1/other", "{}").status, 404);

  auto reqs = (*fake)->requests();
  ASSERT_EQ(reqs.size(), 3u);  // the 404 is not a chat completion call
  EXPECT_TRUE(reqs[0].valid);
  EXPECT_EQ(reqs[0].model, "m");
  EXPECT_EQ(reqs[0].user, "hi");
  EXPECT_EQ(reqs[0].idempotency_key, "k1");
  EXPECT_FALSE(reqs[2].valid);
  EXPECT_EQ((*fake)->calls(), 4u);
}

}  // namespace
}  // namespace impulse::action
