// Helpers shared by the server's tests.
#pragma once

#include "server/http_server.h"

namespace impulse::server {

// Options with an ephemeral port and the fields set by `f`.
template <typename F>
HttpServerOptions With(F f) {
  HttpServerOptions o;
  o.port = 0;
  f(o);
  return o;
}

}  // namespace impulse::server
