#include "tools/impulse/http_client.h"

#include <utility>  // before Asio with g++ 12 / C++20

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <optional>

namespace impulse::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

Status ParseEngineUrl(const std::string& url, std::string* host, uint16_t* port) {
  std::string_view u = url;
  if (u.starts_with("https://")) {
    return InvalidArgument("--url " + url + ": the engine serves plain HTTP; use http://HOST:PORT");
  }
  if (u.starts_with("http://")) u.remove_prefix(7);
  while (u.ends_with('/')) u.remove_suffix(1);
  if (u.find('/') != std::string_view::npos) {
    return InvalidArgument("--url " + url + ": expected http://HOST:PORT without a path");
  }
  const size_t colon = u.rfind(':');
  *port = 8470;
  if (colon != std::string_view::npos) {
    unsigned v = 0;
    const std::string_view p = u.substr(colon + 1);
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || v == 0 || v > 65535) {
      return InvalidArgument("--url " + url + ": port '" + std::string(p) + "' is not in 1..65535");
    }
    *port = static_cast<uint16_t>(v);
    u = u.substr(0, colon);
  }
  if (u.empty()) return InvalidArgument("--url " + url + ": no host");
  *host = std::string(u);
  return Status::OK();
}

struct EngineClient::Impl {
  std::string host;
  uint16_t port = 0;
  std::string token;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point last_used;

  Status Connect(int64_t timeout_ms) {
    stream.emplace(ioc);
    asio::ip::tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return Unavailable("cannot resolve " + host + ": " + ec.message());
    stream->expires_after(std::chrono::milliseconds(timeout_ms));
    stream->connect(results, ec);
    if (ec) {
      stream.reset();
      return Unavailable("cannot connect to http://" + host + ":" + std::to_string(port) + ": " + ec.message() +
                         " (is `impulse run` listening there? --url)");
    }
    return Status::OK();
  }

  Result<HttpResponse> Exchange(http::verb verb, const std::string& target, const std::string& body, int64_t timeout_ms,
                                bool* retryable) {
    *retryable = false;
    const bool idempotent = verb == http::verb::get;
    // A POST or DELETE is never sent twice (a reset or an ingest would apply twice if the first
    // one reached the engine), so one that follows a pause (a confirmation prompt) starts on a
    // new connection rather than on one the server may have closed meanwhile.
    if (stream.has_value() && !idempotent && std::chrono::steady_clock::now() - last_used > std::chrono::seconds(1)) {
      stream.reset();
      buffer.clear();
    }
    const bool fresh = !stream.has_value();
    if (fresh) RETURN_IF_ERROR(Connect(timeout_ms));
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "impulse-cli");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (verb == http::verb::post) {
      req.set(http::field::content_type, "application/x-ndjson");
      req.body() = body;
      req.prepare_payload();
    }
    stream->expires_after(std::chrono::milliseconds(timeout_ms));
    beast::error_code ec;
    http::write(*stream, req, ec);
    const bool written = !ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 30);
    if (!ec) http::read(*stream, buffer, parser, ec);
    last_used = std::chrono::steady_clock::now();
    if (ec) {
      stream.reset();
      buffer.clear();
      // A kept-alive connection the server closed meanwhile: one retry on a new one, unless the
      // request was written and is not idempotent (the engine may have applied it).
      *retryable = !fresh && ec != beast::error::timeout && (idempotent || !written);
      if (ec == beast::error::timeout) {
        return Unavailable("no answer from http://" + host + ":" + std::to_string(port) + target + " within " +
                           std::to_string(timeout_ms) + " ms");
      }
      return Unavailable("http://" + host + ":" + std::to_string(port) + target + ": " + ec.message());
    }
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    if (auto it = res.find(http::field::retry_after); it != res.end()) {
      const std::string_view v(it->value().data(), it->value().size());
      std::from_chars(v.data(), v.data() + v.size(), out.retry_after_s);
    }
    if (!res.keep_alive()) stream.reset();
    return out;
  }

  Result<HttpResponse> Request(http::verb verb, const std::string& target, const std::string& body,
                               int64_t timeout_ms) {
    bool retryable = false;
    auto r = Exchange(verb, target, body, timeout_ms, &retryable);
    if (!r.ok() && retryable) r = Exchange(verb, target, body, timeout_ms, &retryable);
    return r;
  }
};

Result<std::unique_ptr<EngineClient>> EngineClient::Create(const std::string& url, std::string token) {
  auto impl = std::make_unique<Impl>();
  RETURN_IF_ERROR(ParseEngineUrl(url, &impl->host, &impl->port));
  impl->token = std::move(token);
  std::string shown = "http://" + impl->host + ":" + std::to_string(impl->port);
  return std::unique_ptr<EngineClient>(new EngineClient(std::move(impl), std::move(shown)));
}

EngineClient::EngineClient(std::unique_ptr<Impl> impl, std::string url)
    : impl_(std::move(impl)), url_(std::move(url)) {}
EngineClient::~EngineClient() = default;

Result<HttpResponse> EngineClient::Get(const std::string& target, int64_t timeout_ms) {
  return impl_->Request(http::verb::get, target, "", timeout_ms);
}

Result<HttpResponse> EngineClient::Post(const std::string& target, const std::string& body, int64_t timeout_ms) {
  return impl_->Request(http::verb::post, target, body, timeout_ms);
}

Result<HttpResponse> EngineClient::Delete(const std::string& target, int64_t timeout_ms) {
  return impl_->Request(http::verb::delete_, target, "", timeout_ms);
}

namespace {

// The string member `name` of an engine error body ({"error":"...","code":"..."}); nullopt when
// the body has none (an answer from something else than the engine).
std::optional<std::string> ErrorMember(const std::string& body, std::string_view name) {
  const std::string key = "\"" + std::string(name) + "\":\"";
  const size_t at = body.find(key);
  if (at == std::string::npos) return std::nullopt;
  std::string out;
  for (size_t i = at + key.size(); i < body.size() && body[i] != '"'; ++i) {
    if (body[i] == '\\' && i + 1 < body.size()) ++i;
    out.push_back(body[i]);
  }
  return out;
}

}  // namespace

std::string ErrorMessage(const HttpResponse& r) {
  if (std::optional<std::string> m = ErrorMember(r.body, "error")) return *m;
  std::string b = r.body;
  while (!b.empty() && (b.back() == '\n' || b.back() == ' ')) b.pop_back();
  return b.empty() ? "HTTP " + std::to_string(r.status) : b;
}

std::string ErrorCode(const HttpResponse& r) { return ErrorMember(r.body, "code").value_or(""); }

std::string EncodeSegment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' || u == '_' ||
        u == '.' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

}  // namespace impulse::tools
