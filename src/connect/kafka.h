// Kafka sources and sinks (docs/CONNECTORS.md), on librdkafka. Built when librdkafka-dev is
// found (IMPULSE_WITH_KAFKA); otherwise StartKafka says so.
#pragma once

#include <memory>
#include <string>

#include "connect/host.h"
#include "impulse/status.h"
#include "plan/connectors.h"

namespace impulse::connect {

// True when this build has Kafka support.
bool KafkaAvailable();

// The properties as librdkafka will see them, checked by librdkafka without connecting
// (unknown names, bad values). With require_env (at start) every ${env:NAME} must be set; without
// (`impulse validate`), unset ones are reported in *unset and checked with a placeholder.
Status CheckKafkaConfig(const plan::KafkaDef& def, bool require_env, std::string* unset = nullptr);

// Connects (the metadata of every topic within def.connect_timeout_ms, else kUnavailable
// naming the brokers and librdkafka's last error), checks partition counts, then starts one
// thread per source and per sink.
Result<std::unique_ptr<Connectors>> StartKafka(Host* host, const plan::KafkaDef& def);

}  // namespace impulse::connect
