// libFuzzer target: compiles arbitrary text as a pipeline spec (YAML -> logical plan, the whole
// validation), and every pipeline of a spec that compiles into its physical form (every
// expression compiled). Must never crash, leak, hang or trip a sanitizer: a bad spec is a list
// of errors, whatever the input.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "plan/physical.h"
#include "spec/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<impulse::plan::SpecError> errors;
  auto plan = impulse::plan::CompileSpec(text, "fuzz.yaml", &errors);
  if (!plan.ok()) {
    // A refused spec says why: at least one error, or a status message.
    if (errors.empty() && plan.status().message().empty()) __builtin_trap();
    return 0;
  }
  if (!errors.empty()) __builtin_trap();  // a compiled spec reports no error
  for (const auto& p : plan->pipelines) {
    auto physical = impulse::plan::PhysicalPipeline::Create(p, *plan);
    (void)physical;
  }
  return 0;
}
