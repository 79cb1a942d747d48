// EngineClient against a scripted server: a GET is sent again when a kept-alive connection
// drops, a POST once written never is (a reset or an ingest would apply twice), and a POST after
// a pause opens a new connection first.
#include "tools/impulse/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace impulse::tools {
namespace {

// Accepts connections one at a time and answers each request "200 ok", except: `/drop` closes
// the connection without an answer; `/flaky` does so the first time only.
class ScriptedServer {
 public:
  ScriptedServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  int connections() const { return connections_.load(); }

 private:
  void Serve() {
    bool flaky_dropped = false;
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      connections_.fetch_add(1);
      std::string in;
      char buf[4096];
      for (;;) {
        size_t head_end = in.find("\r\n\r\n");
        while (head_end == std::string::npos) {
          const ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          in.append(buf, static_cast<size_t>(n));
          head_end = in.find("\r\n\r\n");
        }
        if (head_end == std::string::npos) break;
        size_t body = 0;
        if (const size_t cl = in.find("Content-Length: "); cl != std::string::npos && cl < head_end) {
          body = std::stoul(in.substr(cl + 16));
        }
        while (in.size() < head_end + 4 + body) {
          const ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          in.append(buf, static_cast<size_t>(n));
        }
        const std::string line = in.substr(0, in.find("\r\n"));
        in.erase(0, head_end + 4 + body);
        {
          std::lock_guard<std::mutex> l(mu_);
          requests_.push_back(line.substr(0, line.rfind(' ')));
        }
        const bool flaky = line.find(" /flaky ") != std::string::npos;
        if (line.find(" /drop ") != std::string::npos || (flaky && !flaky_dropped)) {
          flaky_dropped = flaky_dropped || flaky;
          break;
        }
        const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        if (::write(c, reply.data(), reply.size()) != static_cast<ssize_t>(reply.size())) break;
      }
      ::close(c);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<std::string> requests_;
};

TEST(EngineClientTest, AWrittenPostIsNotSentAgainWhenTheConnectionDrops) {
  ScriptedServer server;
  auto client = EngineClient::Create(server.url(), "");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto r = (*client)->Post("/ok", "x");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  r = (*client)->Post("/drop", "x");  // on the kept-alive connection, which the server drops
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(server.requests(), (std::vector<std::string>{"POST /ok", "POST /drop"}));
}

TEST(EngineClientTest, AGetIsSentAgainOnANewConnectionWhenTheKeptAliveOneDrops) {
  ScriptedServer server;
  auto client = EngineClient::Create(server.url(), "");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_TRUE((*client)->Get("/ok").ok());
  auto r = (*client)->Get("/flaky");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server.requests(), (std::vector<std::string>{"GET /ok", "GET /flaky", "GET /flaky"}));
  EXPECT_EQ(server.connections(), 2);
}

TEST(EngineClientTest, APostAfterAPauseOpensANewConnection) {
  ScriptedServer server;
  auto client = EngineClient::Create(server.url(), "");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_TRUE((*client)->Get("/ok").ok());
  ASSERT_TRUE((*client)->Post("/ok", "x").ok());  // right after: the same connection
  EXPECT_EQ(server.connections(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_TRUE((*client)->Post("/ok", "x").ok());
  EXPECT_EQ(server.connections(), 2);
}

}  // namespace
}  // namespace impulse::tools
