// The checks made on a request once its header is parsed and before its body is read, shared
// by the connection (http_session.cc) and the parser fuzzer, so that the fuzzer runs the code
// the server runs. Private to src/server (it pulls in Beast).
#pragma once

#include <utility>  // before Asio with g++ 12 / C++20

#include <boost/beast/http.hpp>
#include <optional>
#include <string>

#include "server/router.h"

namespace impulse::server {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// An answer given before the body is read; the body (if any) is then not read, so the
// connection closes after the reply unless the request is complete.
struct EarlyReply {
  HttpReply reply;
  bool close = false;  // true: close even if the request is complete (its framing is not trusted)
};

// Checks a parsed header, in order: transfer coding (501/400: CheckTransferCoding), then auth
// and declared size (Router::Precheck). nullopt: read the body and handle the request.
std::optional<EarlyReply> CheckRequestHead(const Router& router, const RequestParser& parser,
                                           const ParsedTarget& target);

}  // namespace impulse::server
