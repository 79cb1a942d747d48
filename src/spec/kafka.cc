// Top-level `kafka:` of the spec (docs/CONNECTORS.md): brokers, group, client properties,
// source topics and sink topics. Checked without connecting; the engine connects at start.
#include <cctype>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spec/internal.h"

namespace impulse::plan::spec_internal {
namespace {

using Entries_ = std::vector<std::pair<std::string, YAML::Node>>;

// Properties whose values are credentials: never in the spec's text, only "${env:NAME}".
bool IsSecretProperty(std::string_view key) {
  return key.find("password") != std::string_view::npos || key.find("secret") != std::string_view::npos ||
         key == "sasl.oauthbearer.config" || key == "ssl.key.pem" || key == "ssl.keystore.password";
}

}  // namespace

bool IsEnvReference(std::string_view v) {
  if (v.size() < 8 || v.substr(0, 6) != "${env:" || v.back() != '}') return false;
  for (char c : v.substr(6, v.size() - 7)) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// A group of instances (docs/SCALE_OUT.md) moves a topic partition with everything computed
// from it: what a spec may hold then.
bool CheckGroup(const YAML::Node& body, Diagnostics* d, const LogicalPlan& plan) {
  const KafkaDef& k = plan.kafka;
  const std::string w = "kafka state_topic " + k.state_topic;
  const Loc at = Diagnostics::LocOf(body["state_topic"]);
  bool ok = true;
  auto fail = [&](const std::string& why) {
    d->Add(at, w + ": " + why);
    ok = false;
  };
  for (const KafkaSourceDef& s : k.sources) {
    if (s.topic == k.state_topic) fail("is the source of stream '" + s.stream + "'");
  }
  for (const KafkaSinkDef& s : k.sinks) {
    if (s.topic == k.state_topic) fail("is the sink of stream '" + s.stream + "'");
  }
  if (k.sources.size() != 1) {
    fail(
        "a group shares the partitions of one kafka source topic (the unit that moves between instances); "
        "this spec has " +
        std::to_string(k.sources.size()));
  }
  if (plan.nats.enabled) fail("a group of instances reads Kafka only (remove nats:, or run one instance)");
  if (plan.uses_outbox) {
    fail("actions are not moved between instances yet (their delivery cursors are per machine): run one instance");
  }
  for (const StreamDef& s : plan.streams) {
    if (s.derived || s.name.empty() || s.name[0] == '_') continue;
    bool fed = false;
    for (const KafkaSourceDef& src : k.sources) fed |= src.stream == s.name;
    if (!fed) fail("stream '" + s.name + "' has no kafka source; in a group every input comes from Kafka");
  }
  // A stream a key_by pipeline writes moves between instances through a repartition topic
  // (PlanRepartitions): every pipeline writing it must key it so.
  std::map<std::string, std::pair<std::string, std::string>> writers;  // stream -> (keyed by, not keyed)
  for (const LogicalPipeline& lp : plan.pipelines) {
    if (lp.sink.kind == SinkDef::Kind::kFile) {
      fail("pipeline '" + lp.name + "' writes a file, which cannot move between machines");
      continue;
    }
    if (lp.sink.kind != SinkDef::Kind::kStream) continue;
    bool keyed = false;
    for (const LogicalOp& op : lp.ops) keyed |= op.kind == LogicalOp::Kind::kKeyBy;
    auto& w2 = writers[lp.sink.target];
    (keyed ? w2.first : w2.second) = lp.name;
    const std::string topic = RepartitionTopic(k, lp.sink.target);
    if (!keyed) continue;
    for (const KafkaSourceDef& s : k.sources) {
      if (s.topic == topic)
        fail("topic " + topic + " is the group's repartition topic of stream '" + lp.sink.target + "'");
    }
    for (const KafkaSinkDef& s : k.sinks) {
      if (s.topic == topic)
        fail("topic " + topic + " is the group's repartition topic of stream '" + lp.sink.target + "'");
    }
    if (k.state_topic == topic) fail("is the group's repartition topic of stream '" + lp.sink.target + "'");
  }
  for (const auto& [stream, w2] : writers) {
    if (!w2.first.empty() && !w2.second.empty()) {
      fail("stream '" + stream + "' is written with key_by (pipeline '" + w2.first + "') and without (pipeline '" +
           w2.second + "'): in a group every writer of a re-keyed stream needs the same key_by");
    }
  }
  return ok;
}

bool ResolveKafkaSources(const YAML::Node& body, Diagnostics* d, LogicalPlan* plan) {
  const std::string what = "kafka";
  Entries_ e;
  if (!Entries(
          body, what,
          {"brokers", "group", "properties", "connect_timeout", "batch_records", "sources", "sinks", "state_topic"}, d,
          &e)) {
    return false;
  }
  KafkaDef& k = plan->kafka;
  k.enabled = true;
  bool ok = true;
  if (const YAML::Node* b = Get(e, "brokers")) {
    ok &= ReadText(*b, "kafka brokers", d, &k.brokers);
  } else {
    d->Add(Diagnostics::LocOf(body), "kafka needs 'brokers' (host:port[,host:port...])");
    ok = false;
  }
  if (const YAML::Node* g = Get(e, "group")) {
    ok &= ReadText(*g, "kafka group", d, &k.group);
  } else {
    d->Add(Diagnostics::LocOf(body), "kafka needs 'group' (the consumer group and the prefix of transactional ids)");
    ok = false;
  }
  if (const YAML::Node* t = Get(e, "connect_timeout"))
    ok &= ReadDuration(*t, "kafka connect_timeout", 1, d, &k.connect_timeout_ms);
  if (const YAML::Node* br = Get(e, "batch_records")) {
    uint64_t v = 0;
    if (ReadUint(*br, "kafka batch_records", 1, 100'000, d, &v)) {
      k.batch_records_max = static_cast<uint32_t>(v);
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* st = Get(e, "state_topic")) ok &= ReadText(*st, "kafka state_topic", d, &k.state_topic);
  if (const YAML::Node* props = Get(e, "properties")) {
    if (!props->IsMap()) {
      d->Add(Diagnostics::LocOf(*props), "expected a mapping of librdkafka properties for kafka properties");
      ok = false;
    } else {
      for (auto it = props->begin(); it != props->end(); ++it) {
        std::string key;
        std::string value;
        if (!ReadText(it->first, "a kafka property name", d, &key) ||
            !ReadText(it->second, "kafka property " + key, d, &value)) {
          ok = false;
          continue;
        }
        if (key == "bootstrap.servers" || key == "group.id" || key == "transactional.id" ||
            key == "enable.auto.commit" || key == "isolation.level") {
          d->Add(Diagnostics::LocOf(it->first), "kafka property " + key + " is set by the engine (docs/CONNECTORS.md)");
          ok = false;
          continue;
        }
        if (value.rfind("${", 0) == 0 && !IsEnvReference(value)) {
          d->Add(Diagnostics::LocOf(it->second),
                 "kafka property " + key + ": write an environment variable as ${env:NAME}");
          ok = false;
          continue;
        }
        if (IsSecretProperty(key) && !IsEnvReference(value)) {
          d->Add(Diagnostics::LocOf(it->second),
                 "kafka property " + key + " is a secret: give it as ${env:NAME}, never in the spec's text");
          ok = false;
          continue;
        }
        k.properties.emplace_back(key, value);
      }
    }
  }
  if (const YAML::Node* sources = Get(e, "sources")) {
    if (!sources->IsSequence()) {
      d->Add(Diagnostics::LocOf(*sources), "expected a list for kafka sources");
      ok = false;
    } else {
      for (const YAML::Node& sn : *sources) {
        Entries_ se;
        const YAML::Node* st = ConnectorEntry(sn, "kafka source",
                                              {"stream", "topic", "event_time", "start", "partitioned_by_key"}, d, &se);
        if (st == nullptr) {
          ok = false;
          continue;
        }
        KafkaSourceDef src;
        if (!ReadText(*st, "kafka source stream", d, &src.stream)) {
          ok = false;
          continue;
        }
        StreamDef* def = nullptr;
        for (StreamDef& sd : plan->streams) {
          if (sd.name == src.stream && !sd.derived && sd.name.front() != '_') def = &sd;
        }
        // Unknown here (or pipeline-written, known only after the pipelines): ResolveKafkaSinks says which.
        if (def == nullptr) continue;
        const std::string w = "kafka source '" + src.stream + "'";
        for (const KafkaSourceDef& other : k.sources) {
          if (other.stream == src.stream) {
            d->Add(Diagnostics::LocOf(*st), w + ": the stream already has a kafka source");
            ok = false;
          }
        }
        src.topic = src.stream;
        if (const YAML::Node* t = Get(se, "topic")) ok &= ReadText(*t, w + " topic", d, &src.topic);
        // One consumer group: two sources of one topic would split its partitions between them.
        for (const KafkaSourceDef& other : k.sources) {
          if (other.topic == src.topic) {
            d->Add(Diagnostics::LocOf(*st), w + ": topic " + src.topic + " is already the source of stream '" +
                                                other.stream + "' (a topic feeds one stream)");
            ok = false;
          }
        }
        if (const YAML::Node* t = Get(se, "event_time")) {
          std::string v;
          if (ReadText(*t, w + " event_time", d, &v) && (v == "field" || v == "record_timestamp")) {
            src.time_from_record = v == "record_timestamp";
            if (src.time_from_record && def->time_field < 0) {
              d->Add(Diagnostics::LocOf(*t), w + ": event_time: record_timestamp needs the stream's event_time field");
              ok = false;
            }
          } else {
            d->Add(Diagnostics::LocOf(*t), w + ": event_time is field or record_timestamp");
            ok = false;
          }
        }
        if (const YAML::Node* t = Get(se, "start")) {
          std::string v;
          if (ReadText(*t, w + " start", d, &v) && (v == "earliest" || v == "latest")) {
            src.from_earliest = v == "earliest";
          } else {
            d->Add(Diagnostics::LocOf(*t), w + ": start is earliest or latest");
            ok = false;
          }
        }
        if (const YAML::Node* t = Get(se, "partitioned_by_key")) {
          std::string v;
          if (ReadText(*t, w + " partitioned_by_key", d, &v) && (v == "true" || v == "false")) {
            def->external_by_key = v == "true";
            if (def->external_by_key && def->key_field < 0) {
              d->Add(Diagnostics::LocOf(*t), w + ": partitioned_by_key needs the stream's key");
              ok = false;
            }
          } else {
            d->Add(Diagnostics::LocOf(*t), w + ": partitioned_by_key is true or false");
            ok = false;
          }
        }
        def->external_partitions = true;
        k.sources.push_back(std::move(src));
      }
    }
  }
  return ok;
}

bool ResolveKafkaSinks(const YAML::Node& body, Diagnostics* d, LogicalPlan* plan) {
  if (!body.IsMap()) return false;  // reported by ResolveKafkaSources
  KafkaDef& k = plan->kafka;
  bool ok = true;
  // Sources whose stream was not a declared one: now that the pipelines' streams exist, say why.
  if (const YAML::Node sources = body["sources"]; sources.IsDefined() && sources.IsSequence()) {
    for (const YAML::Node& sn : sources) {
      if (!sn.IsMap()) continue;
      const YAML::Node st = sn["stream"];
      if (!st.IsDefined() || !st.IsScalar() || st.Scalar().empty()) continue;
      bool resolved = false;
      for (const KafkaSourceDef& src : k.sources) resolved |= src.stream == st.Scalar();
      if (resolved) continue;
      const StreamDef* def = plan->FindStream(st.Scalar());
      d->Add(Diagnostics::LocOf(st), def == nullptr ? "kafka source stream: unknown stream '" + st.Scalar() + "'"
                                                    : "kafka source '" + st.Scalar() +
                                                          "': the stream is written by the engine; a source "
                                                          "needs a declared stream");
      ok = false;
    }
  }
  const YAML::Node sinks_node = body["sinks"];
  const YAML::Node* sinks = sinks_node.IsDefined() ? &sinks_node : nullptr;
  if (sinks != nullptr) {
    if (!sinks->IsSequence()) {
      d->Add(Diagnostics::LocOf(*sinks), "expected a list for kafka sinks");
      ok = false;
    } else {
      for (const YAML::Node& sn : *sinks) {
        Entries_ se;
        const YAML::Node* st = ConnectorEntry(sn, "kafka sink", {"stream", "topic", "delivery"}, d, &se);
        if (st == nullptr) {
          ok = false;
          continue;
        }
        KafkaSinkDef sink;
        if (ConnectorStream(*st, "kafka sink stream", *plan, d, &sink.stream) == nullptr) {
          ok = false;
          continue;
        }
        const std::string w = "kafka sink '" + sink.stream + "'";
        for (const KafkaSinkDef& other : k.sinks) {
          if (other.stream == sink.stream) {
            d->Add(Diagnostics::LocOf(*st), w + ": the stream already has a kafka sink");
            ok = false;
          }
        }
        sink.topic = sink.stream;
        if (const YAML::Node* t = Get(se, "topic")) ok &= ReadText(*t, w + " topic", d, &sink.topic);
        if (const YAML::Node* t = Get(se, "delivery")) {
          std::string v;
          if (ReadText(*t, w + " delivery", d, &v) && (v == "exactly_once" || v == "at_least_once")) {
            sink.exactly_once = v == "exactly_once";
          } else {
            d->Add(Diagnostics::LocOf(*t), w + ": delivery is exactly_once or at_least_once");
            ok = false;
          }
        }
        // A sink's position is read back from its topic, and a topic read by a source here
        // would feed the engine its own output: one writer per topic, never a source's.
        for (const KafkaSinkDef& other : k.sinks) {
          if (other.topic == sink.topic) {
            d->Add(Diagnostics::LocOf(*st), w + ": topic " + sink.topic + " is already the sink of stream '" +
                                                other.stream + "' (a topic has one sink)");
            ok = false;
          }
        }
        for (const KafkaSourceDef& src : k.sources) {
          if (src.topic == sink.topic) {
            d->Add(Diagnostics::LocOf(*st), w + ": topic " + sink.topic + " is the source of stream '" + src.stream +
                                                "': the engine would read its own output");
            ok = false;
          }
        }
        k.sinks.push_back(std::move(sink));
      }
    }
  }
  if (!k.state_topic.empty()) ok &= CheckGroup(body, d, *plan);
  return ok;
}

}  // namespace impulse::plan::spec_internal
