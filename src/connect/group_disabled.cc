// Kafka support compiled out (librdkafka-dev was not found at build time): no group either.
#include "connect/group.h"

namespace impulse::connect {

Result<std::unique_ptr<Group>> Group::Start(const GroupOptions&) {
  return FailedPrecondition("this build has no Kafka support, which a group of instances needs");
}

}  // namespace impulse::connect
