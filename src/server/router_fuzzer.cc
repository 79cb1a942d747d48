// Fuzzes the request handling behind the socket: target parsing, auth and size prechecks,
// query parsing and every handler, against a FakeEngine and a model repository of one linear
// model "lin" (inputs x0, x1, x2; versions 1 and 2) in a temporary directory, so the model
// and KServe v2 routes reach their success paths. Input: method \n target \n authorization \n
// body. Must never crash, leak or trip a sanitizer.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "model/repository.h"
#include "server/fake_engine.h"
#include "server/router.h"

namespace {

std::string_view NextField(std::string_view* in) {
  const size_t nl = in->find('\n');
  std::string_view field = in->substr(0, nl);
  in->remove_prefix(nl == std::string_view::npos ? in->size() : nl + 1);
  return field;
}

// The repository lives for the whole run; its directory is left in /tmp (a few hundred bytes).
impulse::model::ModelRepository* MakeRepository() {
  char tmpl[] = "/tmp/router_fuzzer_models_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return nullptr;
  const std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/lin/1");
  std::filesystem::create_directories(dir + "/lin/2");
  std::ofstream(dir + "/lin/config.yaml") << "kind: linear\ninputs: [x0, {name: x1, default: 1}, x2]\n";
  std::ofstream(dir + "/lin/1/model.json") << R"({"kind":"linear","weights":[1,1,1]})";
  std::ofstream(dir + "/lin/2/model.json") << R"({"kind":"logistic","weights":[1,2,3],"bias":-1})";
  auto repo = impulse::model::ModelRepository::Open(dir);
  return repo.ok() ? std::move(repo).value().release() : nullptr;
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
    o->models = MakeRepository();
    o->infer_rows_max = 64;
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
