#include "action/http_syntax.h"

#include <cctype>

#include "common/json_string.h"

namespace impulse::action {

namespace {

// The URL as it appears in an error: quoted and escaped, so a CR/LF shows as \r\n instead of
// splitting the log line.
std::string Quote(std::string_view s) { return JsonString(s); }

bool IsTchar(unsigned char c) {
  if (std::isalnum(c) != 0) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~': return true;
    default: return false;
  }
}

}  // namespace

Result<ParsedUrl> ParseHttpUrl(std::string_view url) {
  for (size_t i = 0; i < url.size(); ++i) {
    auto c = static_cast<unsigned char>(url[i]);
    if (c <= 0x20 || c >= 0x7f) {
      return InvalidArgument("url " + Quote(url) + " has a control character, space or non-ASCII byte at offset " +
                             std::to_string(i) + " (percent-encode it)");
    }
  }
  constexpr std::string_view kScheme = "http://";
  bool http = url.size() >= kScheme.size();
  for (size_t i = 0; http && i < kScheme.size(); ++i) {
    http = std::tolower(static_cast<unsigned char>(url[i])) == kScheme[i];
  }
  if (!http) return InvalidArgument("url must start with http:// (https is not supported yet): " + Quote(url));
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  ParsedUrl out;
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (!out.target.empty() && out.target[0] == '?') out.target = "/" + out.target;
  if (authority.find('@') != std::string_view::npos) return InvalidArgument("url with user info: " + Quote(url));
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument("bad IPv6 host in url: " + Quote(url));
    out.host = std::string(authority.substr(1, close - 1));
    if (authority.size() > close + 1 && authority[close + 1] != ':') {
      return InvalidArgument("bad IPv6 host in url: " + Quote(url));
    }
    colon = authority.size() > close + 1 ? close + 1 : std::string_view::npos;
  } else {
    out.host = std::string(authority.substr(0, colon));
  }
  out.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  if (out.host.empty()) return InvalidArgument("url without a host: " + Quote(url));
  if (out.port.empty() || out.port.size() > 5) return InvalidArgument("bad port in url: " + Quote(url));
  int port = 0;
  for (char c : out.port) {
    if (c < '0' || c > '9') return InvalidArgument("bad port in url: " + Quote(url));
    port = port * 10 + (c - '0');
  }
  if (port == 0 || port > 65535) return InvalidArgument("port out of range 1..65535 in url: " + Quote(url));
  return out;
}

Status CheckHeaderName(std::string_view name) {
  if (name.empty()) return InvalidArgument("empty header name");
  for (char c : name) {
    if (!IsTchar(static_cast<unsigned char>(c))) {
      return InvalidArgument("header name " + Quote(name) +
                             " is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~ only)");
    }
  }
  return Status::OK();
}

Status CheckHeaderValue(std::string_view name, std::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return InvalidArgument("value of header " + Quote(name) +
                             " has a control character (CR, LF, NUL, ...) at offset " + std::to_string(i) + ": " +
                             Quote(value));
    }
  }
  return Status::OK();
}

}  // namespace impulse::action
