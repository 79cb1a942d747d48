#include "impulse/engine.h"

#include "spec/spec.h"
#include "runtime/engine_impl.h"

namespace impulse {

Result<std::unique_ptr<Engine>> Engine::Open(const std::string& spec_path, EngineOptions options) {
  ASSIGN_OR_RETURN(plan::LogicalPlan plan, plan::CompileSpecFile(spec_path, nullptr));
  ASSIGN_OR_RETURN(auto engine, runtime::EngineImpl::Create(std::move(plan), std::move(options)));
  return std::unique_ptr<Engine>(std::move(engine));
}

Result<std::unique_ptr<Engine>> Engine::OpenSpec(std::string_view spec_yaml, EngineOptions options) {
  ASSIGN_OR_RETURN(plan::LogicalPlan plan, plan::CompileSpec(spec_yaml, "<spec>", nullptr));
  ASSIGN_OR_RETURN(auto engine, runtime::EngineImpl::Create(std::move(plan), std::move(options)));
  return std::unique_ptr<Engine>(std::move(engine));
}

// Engines implemented outside the library (test fakes) need not support the embedding calls.
Result<RowsRead> Engine::ReadRows(std::string_view, uint32_t, uint64_t, uint32_t) const {
  return FailedPrecondition("ReadRows is not supported by this engine");
}

Result<std::unique_ptr<Subscription>> Engine::Subscribe(std::string_view, SubscribeOptions, SubscribeCallback) {
  return FailedPrecondition("Subscribe is not supported by this engine");
}

Result<FeatureRows> Engine::LookupFeatureRows(std::string_view, const std::vector<std::string_view>&) const {
  return FailedPrecondition("LookupFeatureRows is not supported by this engine");
}

}  // namespace impulse
