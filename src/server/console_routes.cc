// The web console's static files: GET / and GET /console/<path>, from the arrays compiled into
// the binary (console_assets.h). The files hold no data, so they are served without the bearer
// token; the page sends the token with every data call it makes (docs/OPERATIONS.md).
#include <algorithm>

#include "server/console_assets.h"
#include "server/json_writer.h"
#include "server/router.h"

namespace impulse::server {
namespace {

// Everything from this origin only: no CDN, no inline script or style, no framing.
constexpr std::string_view kConsoleHeaders =
    "\r\nCache-Control: no-cache"
    "\r\nContent-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    "\r\nX-Content-Type-Options: nosniff"
    "\r\nReferrer-Policy: no-referrer";

std::string_view ContentType(std::string_view path) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return "text/plain; charset=utf-8";  // LICENSE, VERSION
  }
  const std::string_view ext = path.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  return "application/octet-stream";
}

const ConsoleAsset* FindAsset(std::string_view path) {
  const auto assets = ConsoleAssets();
  const auto it = std::lower_bound(assets.begin(), assets.end(), path,
                                   [](const ConsoleAsset& a, std::string_view p) { return a.path < p; });
  return it != assets.end() && it->path == path ? &*it : nullptr;
}

}  // namespace

std::optional<std::string> ConsoleAssetPath(std::string_view path) {
  if (path == "/" || path == "/console" || path == "/console/") return std::string("index.html");
  constexpr std::string_view kPrefix = "/console/";
  if (!path.starts_with(kPrefix)) return std::nullopt;
  return std::string(path.substr(kPrefix.size()));
}

HttpReply ConsoleReply(std::string_view method, std::string_view asset_path) {
  if (method != "GET" && method != "HEAD") {
    return MakeReply(405, JsonError("method " + std::string(method) + " not allowed; use GET", "MethodNotAllowed"));
  }
  const ConsoleAsset* asset = FindAsset(asset_path);
  if (asset == nullptr) {
    return MakeReply(404, JsonError("no console file '" + std::string(asset_path) + "'", "NotFound"));
  }
  HttpReply r = MakeReply(200, std::string(asset->data), std::string(ContentType(asset->path)));
  r.extra_headers = kConsoleHeaders;
  return r;
}

}  // namespace impulse::server
