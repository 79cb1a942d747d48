// NATS support compiled out (libnats-dev was not found at build time).
#include "connect/nats.h"

namespace impulse::connect {

bool NatsAvailable() { return false; }

Status CheckNatsConfig(const plan::NatsDef&, bool, std::string*) {
  return FailedPrecondition("this build has no NATS support (install libnats-dev and rebuild)");
}

Result<std::unique_ptr<Connectors>> StartNats(Host*, const plan::NatsDef&) {
  return FailedPrecondition("this build has no NATS support (install libnats-dev and rebuild)");
}

}  // namespace impulse::connect
