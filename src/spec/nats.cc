// Top-level `nats:` of the spec (docs/CONNECTORS.md): servers, connection options, JetStream
// sources and sinks. Checked without connecting; the engine connects at start.
#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spec/internal.h"

namespace impulse::plan::spec_internal {
namespace {

using Entries_ = std::vector<std::pair<std::string, YAML::Node>>;

// The connection options, named after the nats.c setters that take them (docs/CONNECTORS.md).
constexpr std::string_view kOptions[] = {"name",
                                         "user",
                                         "password",
                                         "token",
                                         "user_credentials",
                                         "secure",
                                         "ca_file",
                                         "cert_file",
                                         "key_file",
                                         "expected_hostname",
                                         "skip_server_verification",
                                         "ciphers"};

bool IsSecretOption(std::string_view key) { return key == "password" || key == "token"; }

// A subject names messages: tokens separated by '.', no whitespace; a consumer's filter and a
// sink's subject may not be empty tokens. Wildcards are allowed for a source's filter only.
bool ValidSubject(std::string_view s, bool wildcards) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return false;
    if (!wildcards && (c == '*' || c == '>')) return false;
  }
  return true;
}

// JetStream stream and consumer names: no '.', '*', '>', whitespace or path separators.
bool ValidName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c == '.' || c == '*' || c == '>' || c == ' ' || c == '\t' || c == '/' || c == '\\') return false;
  }
  return true;
}

// Whether `filter` (tokens separated by '.', '*' one token, '>' the rest) matches `subject`.
bool SubjectMatches(const std::string& filter, const std::string& subject) {
  size_t f = 0;
  size_t t = 0;
  while (f <= filter.size() && t <= subject.size()) {
    const size_t fe = std::min(filter.find('.', f), filter.size());
    const size_t te = std::min(subject.find('.', t), subject.size());
    const std::string_view ft(filter.data() + f, fe - f);
    if (ft == ">") return true;
    if (ft != "*" && ft != std::string_view(subject.data() + t, te - t)) return false;
    const bool filter_done = fe >= filter.size();
    const bool subject_done = te >= subject.size();
    if (filter_done || subject_done) return filter_done && subject_done;
    f = fe + 1;
    t = te + 1;
  }
  return false;
}

}  // namespace

bool ResolveNats(const YAML::Node& body, Diagnostics* d, LogicalPlan* plan) {
  Entries_ e;
  if (!Entries(body, "nats", {"servers", "options", "connect_timeout", "batch_records", "sources", "sinks"}, d, &e)) {
    return false;
  }
  NatsDef& n = plan->nats;
  n.enabled = true;
  bool ok = true;
  if (const YAML::Node* s = Get(e, "servers")) {
    std::string list;
    if (ReadText(*s, "nats servers", d, &list)) {
      size_t at = 0;
      while (at <= list.size()) {
        const size_t comma = list.find(',', at);
        std::string url = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        if (!url.empty()) n.servers.push_back(std::move(url));
        if (comma == std::string::npos) break;
        at = comma + 1;
      }
    } else {
      ok = false;
    }
  } else {
    d->Add(Diagnostics::LocOf(body), "nats needs 'servers' (nats://host:port[,nats://host:port...])");
    ok = false;
  }
  if (const YAML::Node* t = Get(e, "connect_timeout")) {
    ok &= ReadDuration(*t, "nats connect_timeout", 1, d, &n.connect_timeout_ms);
  }
  if (const YAML::Node* br = Get(e, "batch_records")) {
    uint64_t v = 0;
    if (ReadUint(*br, "nats batch_records", 1, 10'000, d, &v)) {
      n.batch_records_max = static_cast<uint32_t>(v);
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* opts = Get(e, "options")) {
    if (!opts->IsMap()) {
      d->Add(Diagnostics::LocOf(*opts), "expected a mapping of nats.c connection options for nats options");
      ok = false;
    } else {
      for (auto it = opts->begin(); it != opts->end(); ++it) {
        std::string key;
        std::string value;
        if (!ReadText(it->first, "a nats option name", d, &key) ||
            !ReadText(it->second, "nats option " + key, d, &value)) {
          ok = false;
          continue;
        }
        bool known = false;
        std::string names;
        for (std::string_view o : kOptions) {
          known |= o == key;
          names += (names.empty() ? "" : ", ") + std::string(o);
        }
        if (!known) {
          d->Add(Diagnostics::LocOf(it->first), "unknown nats option '" + key + "' (one of " + names + ")");
          ok = false;
          continue;
        }
        if (value.rfind("${", 0) == 0 && !IsEnvReference(value)) {
          d->Add(Diagnostics::LocOf(it->second),
                 "nats option " + key + ": write an environment variable as ${env:NAME}");
          ok = false;
          continue;
        }
        if (IsSecretOption(key) && !IsEnvReference(value)) {
          d->Add(Diagnostics::LocOf(it->second),
                 "nats option " + key + " is a secret: give it as ${env:NAME}, never in the spec's text");
          ok = false;
          continue;
        }
        if ((key == "secure" || key == "skip_server_verification") && value != "true" && value != "false") {
          d->Add(Diagnostics::LocOf(it->second), "nats option " + key + " is true or false");
          ok = false;
          continue;
        }
        n.options.emplace_back(key, value);
      }
    }
  }
  // subject / jetstream_stream, shared by sources and sinks.
  auto names = [&](const Entries_& se, const std::string& w, bool wildcards, std::string* subject,
                   std::string* js_stream) {
    bool good = true;
    if (const YAML::Node* t = Get(se, "subject")) {
      if (ReadText(*t, w + " subject", d, subject) && !ValidSubject(*subject, wildcards)) {
        d->Add(Diagnostics::LocOf(*t), w + ": '" + *subject + "' is not a valid subject" +
                                           (wildcards ? "" : " (no wildcards: messages are published to it)"));
        good = false;
      }
    }
    if (const YAML::Node* t = Get(se, "jetstream_stream")) {
      if (ReadText(*t, w + " jetstream_stream", d, js_stream) && !ValidName(*js_stream)) {
        d->Add(Diagnostics::LocOf(*t), w + ": '" + *js_stream + "' is not a valid JetStream stream name");
        good = false;
      }
    }
    return good;
  };
  if (const YAML::Node* sources = Get(e, "sources")) {
    if (!sources->IsSequence()) {
      d->Add(Diagnostics::LocOf(*sources), "expected a list for nats sources");
      ok = false;
    } else {
      for (const YAML::Node& sn : *sources) {
        Entries_ se;
        const YAML::Node* st = ConnectorEntry(
            sn, "nats source", {"stream", "subject", "jetstream_stream", "durable", "event_time"}, d, &se);
        if (st == nullptr) {
          ok = false;
          continue;
        }
        NatsSourceDef src;
        const StreamDef* def = ConnectorStream(*st, "nats source stream", *plan, d, &src.stream);
        if (def == nullptr) {
          ok = false;
          continue;
        }
        const std::string w = "nats source '" + src.stream + "'";
        if (def->derived || def->name.front() == '_') {
          d->Add(Diagnostics::LocOf(*st),
                 w + ": the stream is written by the engine; a source needs a declared stream");
          ok = false;
        } else if (def->options.partitions != 1) {
          // One consumer delivers in stream-sequence order: one log partition keeps that order and
          // one source position.
          d->Add(Diagnostics::LocOf(*st), w + ": the stream has " + std::to_string(def->options.partitions) +
                                              " partitions; a nats source needs a stream declared with partitions: 1");
          ok = false;
        }
        bool taken = false;
        for (const KafkaSourceDef& other : plan->kafka.sources) taken |= other.stream == src.stream;
        for (const NatsSourceDef& other : n.sources) taken |= other.stream == src.stream;
        if (taken) {
          d->Add(Diagnostics::LocOf(*st), w + ": the stream already has a source");
          ok = false;
        }
        src.subject = src.stream;
        ok &= names(se, w, /*wildcards=*/true, &src.subject, &src.jetstream_stream);
        src.durable = "impulse-" + src.stream;
        if (const YAML::Node* t = Get(se, "durable")) {
          if (ReadText(*t, w + " durable", d, &src.durable) && !ValidName(src.durable)) {
            d->Add(Diagnostics::LocOf(*t), w + ": '" + src.durable + "' is not a valid consumer name");
            ok = false;
          }
        } else if (!ValidName(src.durable)) {
          d->Add(Diagnostics::LocOf(*st), w + ": give 'durable' (the stream's name is not a valid consumer name)");
          ok = false;
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
        for (const NatsSourceDef& other : n.sources) {
          // One consumer, one reader: two sources on it would take each other's deliveries.
          if (other.durable == src.durable) {
            d->Add(Diagnostics::LocOf(*st), w + ": durable consumer '" + src.durable +
                                                "' is already the consumer of the source of stream '" + other.stream +
                                                "'");
            ok = false;
          }
        }
        n.sources.push_back(std::move(src));
      }
    }
  }
  if (const YAML::Node* sinks = Get(e, "sinks")) {
    if (!sinks->IsSequence()) {
      d->Add(Diagnostics::LocOf(*sinks), "expected a list for nats sinks");
      ok = false;
    } else {
      for (const YAML::Node& sn : *sinks) {
        Entries_ se;
        const YAML::Node* st = ConnectorEntry(sn, "nats sink", {"stream", "subject", "jetstream_stream"}, d, &se);
        if (st == nullptr) {
          ok = false;
          continue;
        }
        NatsSinkDef sink;
        if (ConnectorStream(*st, "nats sink stream", *plan, d, &sink.stream) == nullptr) {
          ok = false;
          continue;
        }
        const std::string w = "nats sink '" + sink.stream + "'";
        for (const NatsSinkDef& other : n.sinks) {
          if (other.stream == sink.stream) {
            d->Add(Diagnostics::LocOf(*st), w + ": the stream already has a nats sink");
            ok = false;
          }
        }
        sink.subject = sink.stream;
        ok &= names(se, w, /*wildcards=*/false, &sink.subject, &sink.jetstream_stream);
        // A sink's position is read back from its subject, and a subject a source here reads
        // would feed the engine its own output: one writer per subject, never a source's.
        for (const NatsSinkDef& other : n.sinks) {
          if (other.subject == sink.subject) {
            d->Add(Diagnostics::LocOf(*st), w + ": subject " + sink.subject + " is already the sink of stream '" +
                                                other.stream + "' (a subject has one sink)");
            ok = false;
          }
        }
        for (const NatsSourceDef& src : n.sources) {
          if (SubjectMatches(src.subject, sink.subject)) {
            d->Add(Diagnostics::LocOf(*st), w + ": subject " + sink.subject + " is read by the source of stream '" +
                                                src.stream + "' (" + src.subject +
                                                "): the engine would read its own output");
            ok = false;
          }
        }
        n.sinks.push_back(std::move(sink));
      }
    }
  }
  return ok;
}

}  // namespace impulse::plan::spec_internal
