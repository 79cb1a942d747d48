// External brokers in the spec (docs/CONNECTORS.md): Kafka topics and NATS JetStream subjects
// copied into source streams, and streams exported to Kafka topics and NATS subjects. Plain data, resolved by the spec
// compiler; the runtime's connectors (src/connect/) carry them out.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace impulse::plan {

// A topic whose records become the events of a declared stream: topic partition k is copied,
// in order, into stream partition k (the stream has as many partitions as the topic).
struct KafkaSourceDef {
  std::string stream;
  std::string topic;
  // The event time: the stream's event_time field (false), or the record's timestamp (true),
  // which then replaces any value the JSON holds.
  bool time_from_record = false;
  // Where a partition starts when the engine holds no position for it and the group has no
  // committed offset: the oldest record (true) or new records only.
  bool from_earliest = true;
  // A group's repartition topic (docs/SCALE_OUT.md): records with an impulse.wm header are the
  // watermark markers of the member named by impulse.from, not rows.
  bool repartition = false;
};

// A stream copied to a topic: stream partition p to topic partition p (the topic has at least
// as many), the value the row as JSON, the key the stream's key field as text.
struct KafkaSinkDef {
  std::string stream;
  std::string topic;
  // true: transactions that commit up to each completed checkpoint (outputs appear once, at
  // checkpoint pace); false: idempotent producer, records sent as soon as durable here
  // (at-least-once across crashes).
  bool exactly_once = true;
  // A group's repartition topic: each row goes to the topic partition of its key's hash (the
  // engine's own), whatever the stream partition; records say which member wrote them
  // (impulse.from) and the stream's watermark follows them as marker records (impulse.wm).
  bool by_key = false;
};

struct KafkaDef {
  bool enabled = false;
  std::string brokers;  // bootstrap.servers
  std::string group;    // consumer group of the sources; prefix of transactional ids and sink positions
  // Passed to librdkafka as given (e.g. security.protocol, sasl.*, ssl.*). A value
  // "${env:NAME}" is read from the environment when the engine starts; secrets must be given so.
  std::vector<std::pair<std::string, std::string>> properties;
  int64_t connect_timeout_ms = 10'000;  // metadata at start: beyond it the broker is unreachable
  uint32_t batch_records_max = 10'000;  // records copied per append (one fsync, one source position)
  std::vector<KafkaSourceDef> sources;
  std::vector<KafkaSinkDef> sinks;
  // Scale-out (docs/SCALE_OUT.md): the instances running this spec with this group share the
  // sources' partitions, and each partition's state moves through this compacted topic. Empty:
  // one instance holds every partition.
  std::string state_topic;
  // Set by the group runner, never by the spec: the one topic partition a member engine handles
  // (its streams then have one partition: topic partition k <-> stream partition 0). -1: all.
  int32_t member_partition = -1;
  int32_t group_partitions = 0;  // members: the source topic's partition count
};

// A JetStream subject whose messages become the events of a declared stream of one partition,
// in stream-sequence order, through a durable pull consumer.
struct NatsSourceDef {
  std::string stream;
  std::string subject;            // the consumer's filter subject (default: the stream's name)
  std::string jetstream_stream;   // the JetStream stream holding it; empty: looked up by subject
  std::string durable;            // the consumer's name (default: impulse-<stream>)
  bool time_from_record = false;  // event time from the message's JetStream timestamp
};

// A stream published to a subject, each row once with Nats-Msg-Id <stream>/<partition>/<offset>,
// rows up to the newest completed checkpoint's end.
struct NatsSinkDef {
  std::string stream;
  std::string subject;           // default: the stream's name
  std::string jetstream_stream;  // holding the subject (positions are read back from it); empty: looked up
};

struct NatsDef {
  bool enabled = false;
  std::vector<std::string> servers;  // nats://host:port URLs
  // Connection options named after the nats.c setters (docs/CONNECTORS.md): user, password,
  // token, user_credentials, secure, ca_file, cert_file, key_file, expected_hostname,
  // skip_server_verification, ciphers, name. Secrets are given as "${env:NAME}".
  std::vector<std::pair<std::string, std::string>> options;
  int64_t connect_timeout_ms = 10'000;  // connection and JetStream API calls at start
  uint32_t batch_records_max = 1'000;   // messages fetched per pull (one append, one source position)
  std::vector<NatsSourceDef> sources;
  std::vector<NatsSinkDef> sinks;
};

}  // namespace impulse::plan
