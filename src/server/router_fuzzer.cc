// Fuzzes the request handling behind the socket: target parsing, auth and size prechecks,
// query parsing and every handler, against a FakeEngine. Input: method \n target \n
// authorization \n body. Must never crash, leak or trip a sanitizer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/fake_engine.h"
#include "server/router.h"

namespace {

std::string_view NextField(std::string_view* in) {
  const size_t nl = in->find('\n');
  std::string_view field = in->substr(0, nl);
  in->remove_prefix(nl == std::string_view::npos ? in->size() : nl + 1);
  return field;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace impulse::server;
  static FakeEngine* engine = [] {
    auto* e = new FakeEngine();
    e->DiscardLines();
    e->SetFeatures("v", "1", "{\"n\":1}");  // so the feature routes reach their success path
    return e;
  }();
  static ServerMetrics* metrics = new ServerMetrics();
  static HttpServerOptions* options = [] {
    auto* o = new HttpServerOptions();
    o->max_body_bytes = 4096;
    o->bearer_token = "tok";
    return o;
  }();
  static Router router(engine, options, metrics);

  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view method = NextField(&in);
  const std::string_view target = NextField(&in);
  const std::string_view auth = NextField(&in);
  const ParsedTarget parsed = ParseTarget(target);
  if (router.Precheck(parsed, auth, in.size())) return 0;
  router.Handle(method, parsed, std::string(in), /*producer=*/0, [](HttpReply reply) {
    if (reply.status < 100 || reply.status > 599) __builtin_trap();
  });
  return 0;
}
