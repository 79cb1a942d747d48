// librdkafka's mock cluster (brokers on loopback ports, hosted by this process) with the
// producer and reader the Kafka tests and benchmarks need. Tests and benchmarks only.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

struct rd_kafka_mock_cluster_s;  // librdkafka/rdkafka_mock.h, kept out of includers

namespace impulse::connect {

class KafkaMockCluster {
 public:
  explicit KafkaMockCluster(int brokers);
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  const std::string& bootstraps() const { return bootstraps_; }
  // False if the topic exists (the cluster creates topics on first use, with 4 partitions).
  bool CreateTopic(const std::string& topic, int partitions);
  // Takes broker `id` (1..brokers) down (its connections closed, new ones refused) or up again.
  void SetBrokerUp(int32_t id, bool up);
  // Produces `values` to topic/partition (timestamp 0: now) and waits for every delivery;
  // false if one failed.
  bool Produce(const std::string& topic, int32_t partition, const std::vector<std::string>& values,
               int64_t timestamp_ms = 0);
  // Committed records (read_committed) of the topic per partition, in order: until `expect`
  // records or timeout_ms, then 300 ms more (anything beyond `expect` is a duplicate to see).
  std::map<int32_t, std::vector<std::string>> Consume(const std::string& topic, int partitions, size_t expect,
                                                      int timeout_ms);

 private:
  rd_kafka_t* host_ = nullptr;
  ::rd_kafka_mock_cluster_s* mc_ = nullptr;
  std::string bootstraps_;
};

}  // namespace impulse::connect
