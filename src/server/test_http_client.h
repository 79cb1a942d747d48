// A small synchronous HTTP/1.1 client for the server tests (Beast, blocking, one connection).
#pragma once

#include <utility>  // before Asio with g++ 12 / C++20

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <string>

namespace impulse::server {

struct TestResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // field name as sent -> value
  bool keep_alive = false;
  std::string error;  // non-empty if the exchange failed at the socket level

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

inline TestResponse ErrorResponse(std::string error) {
  TestResponse r;
  r.error = std::move(error);
  return r;
}

class TestHttpClient {
 public:
  explicit TestHttpClient(uint16_t port) : socket_(ioc_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  }

  TestResponse Request(boost::beast::http::verb method, const std::string& target, const std::string& body = "",
                       const std::map<std::string, std::string>& headers = {}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "localhost");
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == http::verb::post) {
      req.body() = body;
      req.prepare_payload();
    }
    boost::beast::error_code ec;
    http::write(socket_, req, ec);
    if (ec) return ErrorResponse(ec.message());
    return Read();
  }

  // Sends raw bytes (chunked bodies, pipelined requests); read the answers with Read().
  boost::beast::error_code WriteRaw(const std::string& bytes) {
    boost::beast::error_code ec;
    boost::asio::write(socket_, boost::asio::buffer(bytes), ec);
    return ec;
  }

  TestResponse Read() {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    boost::beast::error_code ec;
    http::read(socket_, buffer_, parser, ec);
    if (ec) return ErrorResponse(ec.message());
    TestResponse out;
    const auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    out.keep_alive = res.keep_alive();
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    return out;
  }

  // Half-closes the connection: the server reads end of input, the client can still read.
  void ShutdownSend() {
    boost::beast::error_code ec;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
  }

  // Raw bytes from the socket (0 on EOF or error).
  size_t ReadSome(char* buf, size_t n) {
    boost::beast::error_code ec;
    return socket_.read_some(boost::asio::buffer(buf, n), ec);
  }

  // True once the server has closed the connection (reads EOF).
  bool ServerClosed() {
    boost::beast::error_code ec;
    char c;
    socket_.read_some(boost::asio::buffer(&c, 1), ec);
    return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace impulse::server
