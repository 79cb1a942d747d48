// Kafka support compiled out (librdkafka-dev was not found at build time).
#include "connect/kafka.h"

namespace impulse::connect {

bool KafkaAvailable() { return false; }

Status CheckKafkaConfig(const plan::KafkaDef&, bool, std::string*) {
  return FailedPrecondition("this build has no Kafka support (install librdkafka-dev and rebuild)");
}

Result<std::unique_ptr<Connectors>> StartKafka(Host*, const plan::KafkaDef&) {
  return FailedPrecondition("this build has no Kafka support (install librdkafka-dev and rebuild)");
}

}  // namespace impulse::connect
