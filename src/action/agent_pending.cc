// Until src/action/agent.cc lands (written in parallel), agent actions fail at creation.
#include "action/internal.h"

namespace impulse::action {

Result<std::unique_ptr<Executor>> NewAgentExecutor(const RuntimeInternals& /*internals*/,
                                                   const AgentOptions& /*options*/) {
  return FailedPrecondition("agent actions are not built yet (src/action/agent.cc is missing)");
}

}  // namespace impulse::action
