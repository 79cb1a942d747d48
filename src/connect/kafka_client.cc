#include "connect/kafka_client.h"

#include <string>

#include "common/logger.h"
#include "connect/connector_util.h"

namespace impulse::connect {

void OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* log = static_cast<ErrorLog*>(opaque);
  log->count.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> l(log->mu);
  log->last = std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason;
}

// librdkafka's lines through the engine's log (event `kafka_client`, its syslog level mapped:
// 0..3 error, 4 warn, 5..6 info, 7 debug), plus the last error-level line kept for start-up
// errors. Called on librdkafka's threads, where the handle's opaque is already set.
void OnLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const LogLevel at = level <= 3   ? LogLevel::kError
                      : level == 4 ? LogLevel::kWarn
                      : level <= 6 ? LogLevel::kInfo
                                   : LogLevel::kDebug;
  if (LogEnabled(at)) {
    const char* name = rd_kafka_name(rk);
    Log(at, "kafka_client", std::string("librdkafka ") + name + ": " + fac + ": " + buf,
        {{"client", name}, {"facility", fac}, {"syslog_level", level}});
  }
  if (level > 3) return;
  auto* log = static_cast<ErrorLog*>(rd_kafka_opaque(rk));
  if (log == nullptr) return;
  std::lock_guard<std::mutex> l(log->mu);
  log->last_log = std::string(fac) + ": " + buf;
}

namespace {

Status Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    return InvalidArgument("kafka property " + key + ": " + err);
  }
  return Status::OK();
}

}  // namespace

Result<ConfPtr> MakeConf(const plan::KafkaDef& def, const std::vector<std::pair<std::string, std::string>>& own,
                         std::string* unset) {
  ConfPtr conf(rd_kafka_conf_new());
  RETURN_IF_ERROR(Set(conf.get(), "bootstrap.servers", def.brokers));
  RETURN_IF_ERROR(Set(conf.get(), "log_level", "3"));  // errors reach us through the error callback
  for (const auto& [k, v] : def.properties) {
    ASSIGN_OR_RETURN(std::string value, ResolveEnv("kafka property " + k, v, unset));
    if (unset != nullptr && value.empty() && v.rfind("${env:", 0) == 0) continue;  // validating, unset
    RETURN_IF_ERROR(Set(conf.get(), k, value));
  }
  for (const auto& [k, v] : own) RETURN_IF_ERROR(Set(conf.get(), k, v));
  return conf;
}

Result<HandlePtr> NewHandle(rd_kafka_type_t type, ConfPtr conf, ErrorLog* log, const std::string& what) {
  rd_kafka_conf_set_error_cb(conf.get(), OnError);
  rd_kafka_conf_set_log_cb(conf.get(), OnLog);
  rd_kafka_conf_set_opaque(conf.get(), log);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof(err));
  if (rk == nullptr) return InvalidArgument(what + ": " + err);
  (void)conf.release();  // owned by the handle now
  return HandlePtr(rk);
}

Result<int> TopicPartitions(rd_kafka_t* rk, const plan::KafkaDef& def, const std::string& topic, ErrorLog* log) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, static_cast<int>(def.connect_timeout_ms));
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_poll(rk, 0);  // serves the error callbacks queued meanwhile: the last error names the broker
    const std::string last = log->Last();
    return Unavailable("kafka brokers " + def.brokers + " unreachable within " +
                       std::to_string(def.connect_timeout_ms) + " ms (" + rd_kafka_err2str(err) + ")" +
                       (last.empty() ? "" : "; last error: " + last));
  }
  int n = -1;
  std::string why;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic != md->topics[i].topic) continue;
    if (md->topics[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      why = rd_kafka_err2str(md->topics[i].err);
    } else {
      n = md->topics[i].partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(md);
  if (n <= 0) {
    return NotFound("kafka topic " + topic + " not found on " + def.brokers + (why.empty() ? "" : " (" + why + ")"));
  }
  return n;
}

bool PositionReached(rd_kafka_t* rk, const std::string& topic, int32_t partition, int64_t end) {
  rd_kafka_topic_partition_list_t* pos = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(pos, topic.c_str(), partition);
  const bool reached = rd_kafka_position(rk, pos) == RD_KAFKA_RESP_ERR_NO_ERROR && pos->elems[0].offset >= end;
  rd_kafka_topic_partition_list_destroy(pos);
  return reached;
}

}  // namespace impulse::connect
