// What the Kafka connectors and the group runner share: client configuration from the spec,
// handles whose errors are kept for messages, topic metadata.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "impulse/status.h"
#include "plan/connectors.h"

namespace impulse::connect {

// librdkafka's last error per handle, for messages that say which broker failed and why.
struct ErrorLog {
  std::mutex mu;
  std::string last;
  std::string last_log;  // the last error-level log line (a refused connect is logged, not always an error event)
  std::atomic<uint64_t> count{0};
  std::string Last() {
    std::lock_guard<std::mutex> l(mu);
    // Both when they differ: the last error event is often a summary ("all brokers are down") that
    // arrives after the log line naming the cause ("Connection refused").
    if (last.empty()) return last_log;
    if (last_log.empty() || last.find(last_log) != std::string::npos) return last;
    return last + "; " + last_log;
  }
};

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;

// An error callback recording into the ErrorLog passed as the handle's opaque.
void OnError(rd_kafka_t*, int err, const char* reason, void* opaque);
// A log callback writing librdkafka's lines to stderr and keeping the last error-level one in
// the ErrorLog that is the handle's opaque (declare the ErrorLog before the handle: librdkafka
// logs from its own threads until the handle is destroyed).
void OnLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
// The spec's properties over the engine's settings (which the spec may not override). With
// `unset`, variables not set are named there instead of failing (validation).
Result<ConfPtr> MakeConf(const plan::KafkaDef& def, const std::vector<std::pair<std::string, std::string>>& own,
                         std::string* unset = nullptr);
// A handle whose errors go to `log`; `what` names it in errors.
Result<HandlePtr> NewHandle(rd_kafka_type_t type, ConfPtr conf, ErrorLog* log, const std::string& what);
// Partition count of `topic`, waiting at most the spec's connect timeout for the brokers.
Result<int> TopicPartitions(rd_kafka_t* rk, const plan::KafkaDef& def, const std::string& topic, ErrorLog* log);
// Whether a consumer's position in topic/partition reached `end` (a read back to a known end:
// transaction markers take offsets, which the position passes; read-committed, it stops at the
// last stable offset).
bool PositionReached(rd_kafka_t* rk, const std::string& topic, int32_t partition, int64_t end);

}  // namespace impulse::connect
