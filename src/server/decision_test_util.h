// Test helpers for the decision log readers (the HTTP route and `impulse decisions`): an
// embedded engine whose spec declares decision-schema streams. DecisionLogStreamDef is derived
// (written by `predict` only, ingest refused), so the spec declares equal non-derived streams
// ("decisions" with 4 partitions and "decisions1" with 1, keyed by event_id, event time
// event_time, plus "orders", which is not a decision log) that tests fill through IngestRows.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "impulse/engine.h"
#include "impulse/row.h"

namespace impulse::decision_test {

// One decision record; features/scores/shadow are JSON text.
struct Decision {
  std::string event_id;
  std::string features = "{}";
  std::string scores = "{\"score\":0.5}";
  std::string shadow = "{}";
  int64_t version = 1;
  std::string variant = "primary";
  int64_t event_time_ms = 1'700'000'000'000;
  std::string entity = "";
};

inline std::string DecisionFields() {
  return R"(      - {name: event_id, type: string}
      - {name: pipeline, type: string}
      - {name: step, type: string}
      - {name: source_partition, type: int64}
      - {name: source_offset, type: int64}
      - {name: entity, type: string}
      - {name: model, type: string}
      - {name: version, type: int64}
      - {name: variant, type: string}
      - {name: features, type: string}
      - {name: scores, type: string}
      - {name: shadow, type: string}
      - {name: event_time, type: timestamp}
      - {name: decided_at, type: timestamp}
)";
}

// A temporary data dir with the spec above; removed at the end.
class DecisionEngineDir {
 public:
  DecisionEngineDir() {
    char tmpl[] = "/tmp/decision_test_XXXXXX";
    dir_ = mkdtemp(tmpl) != nullptr ? tmpl : "/tmp/decision_test_fallback";
    std::ofstream(dir_ + "/spec.yaml")
        << "streams:\n  - name: decisions\n    fields:\n"
        << DecisionFields() << "    key: event_id\n    event_time: event_time\n    partitions: 4\n"
        << "  - name: decisions1\n    fields:\n"
        << DecisionFields() << "    key: event_id\n    event_time: event_time\n    partitions: 1\n"
        << "  - name: orders\n    fields:\n      - {name: id, type: string}\n    key: id\n    partitions: 1\n";
  }
  ~DecisionEngineDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  DecisionEngineDir(const DecisionEngineDir&) = delete;
  DecisionEngineDir& operator=(const DecisionEngineDir&) = delete;

  std::string data_dir() const { return dir_ + "/data"; }

  Result<std::unique_ptr<Engine>> Open() const {
    EngineOptions o;
    o.data_dir = data_dir();
    o.shards = 1;
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 0;
    return Engine::Open(dir_ + "/spec.yaml", o);
  }

 private:
  std::string dir_;
};

// Writes `decisions` into `stream` and waits until they are durable.
inline Status Write(Engine& engine, const std::string& stream, const std::vector<Decision>& decisions) {
  RowBatch rows(14);
  for (size_t i = 0; i < decisions.size(); ++i) {
    const Decision& d = decisions[i];
    Value* r = rows.AppendRow();
    r[0] = Value::String(d.event_id);
    r[1] = Value::String("score");
    r[2] = Value::String("predict#0");
    r[3] = Value::Int(0);
    r[4] = Value::Int(static_cast<int64_t>(i));
    r[5] = Value::String(d.entity);
    r[6] = Value::String("fraud");
    r[7] = Value::Int(d.version);
    r[8] = Value::String(d.variant);
    r[9] = Value::String(d.features);
    r[10] = Value::String(d.scores);
    r[11] = Value::String(d.shadow);
    r[12] = Value::Int(d.event_time_ms);
    r[13] = Value::Int(d.event_time_ms + 1);
  }
  std::promise<Status> done;
  Status st = engine.IngestRows(stream, rows, 0, [&](Status s, IngestResult) { done.set_value(s); });
  if (!st.ok()) return st;
  return done.get_future().get();
}

}  // namespace impulse::decision_test
