// The webhook executor (being written).
#include "action/internal.h"

namespace impulse::action {

Result<std::unique_ptr<Executor>> NewWebhookExecutor(const RuntimeInternals& /*internals*/,
                                                     const WebhookOptions& /*options*/) {
  return FailedPrecondition("webhook executor not built yet");
}

}  // namespace impulse::action
