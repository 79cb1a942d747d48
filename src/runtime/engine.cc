#include "impulse/engine.h"

#include "runtime/engine_impl.h"
#include "spec/spec.h"

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

}  // namespace impulse
