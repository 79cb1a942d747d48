// librdkafka's mock cluster for tests and benchmarks (kafka_mock.h).
#include "connect/kafka_mock.h"

#include <librdkafka/rdkafka_mock.h>

#include <chrono>

namespace impulse::connect {
namespace {

rd_kafka_t* NewClient(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& settings) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : settings) rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) rd_kafka_conf_destroy(conf);
  return rk;
}

}  // namespace

KafkaMockCluster::KafkaMockCluster(int brokers) {
  host_ = NewClient(RD_KAFKA_PRODUCER, {{"log_level", "0"}});
  mc_ = rd_kafka_mock_cluster_new(host_, brokers);
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(mc_);
}

KafkaMockCluster::~KafkaMockCluster() {
  rd_kafka_mock_cluster_destroy(mc_);
  rd_kafka_destroy(host_);
}

void KafkaMockCluster::SetBrokerUp(int32_t id, bool up) {
  if (up) {
    rd_kafka_mock_broker_set_up(mc_, id);
  } else {
    rd_kafka_mock_broker_set_down(mc_, id);
  }
}

bool KafkaMockCluster::CreateTopic(const std::string& topic, int partitions) {
  return rd_kafka_mock_topic_create(mc_, topic.c_str(), partitions, 1) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

bool KafkaMockCluster::Produce(const std::string& topic, int32_t partition, const std::vector<std::string>& values,
                               int64_t timestamp_ms) {
  rd_kafka_t* p = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstraps_}, {"log_level", "0"}});
  bool ok = p != nullptr;
  for (size_t i = 0; ok && i < values.size(); ++i) {
    rd_kafka_vu_t vu[5] = {};
    vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vu[0].u.cstr = topic.c_str();
    vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[1].u.i32 = partition;
    vu[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[2].u.i = RD_KAFKA_MSG_F_COPY;
    vu[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[3].u.mem = {const_cast<char*>(values[i].data()), values[i].size()};  // copied, never written
    vu[4].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vu[4].u.i64 = timestamp_ms;
    while (true) {
      rd_kafka_error_t* e = rd_kafka_produceva(p, vu, 5);
      if (e == nullptr) break;
      const bool full = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
      rd_kafka_error_destroy(e);
      if (!full) {
        ok = false;
        break;
      }
      rd_kafka_poll(p, 10);
    }
  }
  if (p != nullptr) {
    ok = ok && rd_kafka_flush(p, 30'000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_destroy(p);
  }
  return ok;
}

std::map<int32_t, std::vector<std::string>> KafkaMockCluster::Consume(const std::string& topic, int partitions,
                                                                      size_t expect, int timeout_ms) {
  std::map<int32_t, std::vector<std::string>> out;
  rd_kafka_t* c = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstraps_},
                                                {"group.id", "test-reader"},
                                                {"isolation.level", "read_committed"},
                                                {"log_level", "0"}});
  if (c == nullptr) return out;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(c, list);
  rd_kafka_topic_partition_list_destroy(list);
  size_t n = 0;
  auto poll_until = [&](std::chrono::steady_clock::time_point deadline, size_t until) {
    while (std::chrono::steady_clock::now() < deadline && n < until) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 50);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        out[m->partition].emplace_back(static_cast<const char*>(m->payload), m->len);
        ++n;
      }
      rd_kafka_message_destroy(m);
    }
  };
  poll_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms), expect);
  poll_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(300), SIZE_MAX);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return out;
}

}  // namespace impulse::connect
