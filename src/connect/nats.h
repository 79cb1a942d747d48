// NATS JetStream sources and sinks (docs/CONNECTORS.md), on nats.c. Built when libnats-dev is
// found (IMPULSE_WITH_NATS); otherwise StartNats says so.
#pragma once

#include <memory>
#include <string>

#include "connect/host.h"
#include "impulse/status.h"
#include "plan/connectors.h"

namespace impulse::connect {

// True when this build has NATS support.
bool NatsAvailable();

// The connection options applied to nats.c's options object without connecting (nats.c loads
// and checks certificate and credentials files there). With require_env (at start) every
// ${env:NAME} must be set; without (`impulse validate`), unset ones are listed in *unset.
Status CheckNatsConfig(const plan::NatsDef& def, bool require_env, std::string* unset = nullptr);

// Connects within def.connect_timeout_ms (else kUnavailable naming the servers and nats.c's
// reason), finds each subject's JetStream stream, creates the sources' consumers and reads the
// sinks' positions, then starts one thread per source and per sink.
Result<std::unique_ptr<Connectors>> StartNats(Host* host, const plan::NatsDef& def);

}  // namespace impulse::connect
