// Test helpers for decisions in the response (Engine::IngestAndDecide), shared by the engine
// tests and the HTTP route tests: a temporary directory with a spec and a linear model, and a
// decide call waited for.
//
// The spec: `tx` (id, customer key, amount, ts) feeds `enrich` (a map) into `tx2`, which `score`
// filters (amount < 1000), scores (fraud_score = amount, decision log `decisions`), and fires the
// rule `big` (fraud_score >= 200, publishing to `alerts`) on, then projects without ts into
// `scored`. `approve` joins `tx` with `ok` (same customer, within 10 s) into `approved`: a
// decision that waits for another event.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <string>

#include "impulse/engine.h"
#include "impulse/models.h"

namespace impulse::decide_test {

inline constexpr char kSpec[] = R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: string}
      - {name: customer, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 4
  - name: ok
    fields:
      - {name: customer, type: int64}
      - {name: ts, type: timestamp}
    key: customer
    event_time: ts
    partitions: 4
pipelines:
  - name: enrich
    from: tx
    steps:
      - map: {doubled: "amount * 2"}
    sink: {stream: tx2}
  - name: score
    from: tx2
    steps:
      - filter: "amount < 1000"
      - predict: {model: fraud, outputs: [fraud_score], entity: customer, event_id: id, decision_log: decisions}
      - trigger:
          name: big
          when: "fraud_score >= 200"
          event_id: id
          publish:
            - stream: alerts
              fields: {id: id, fraud_score: fraud_score}
      - project: [id, customer, amount, doubled, fraud_score]
    sink: {stream: scored}
  - name: approve
    from: tx
    steps:
      - join: {stream: ok, on: {left: customer, right: customer}, between: [-10s, 10s], prefix: ok_}
    sink: {stream: approved}
)yaml";

// A temporary directory holding the spec and the model (score = amount); removed at the end.
class DecideDir {
 public:
  DecideDir() {
    static std::atomic<int> seq{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("impulse_decide_" + std::to_string(::getpid()) + "_" + std::to_string(seq++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "models/fraud/1");
    std::ofstream(dir_ / "spec.yaml") << kSpec;
    std::ofstream(dir_ / "models/fraud/config.yaml")
        << "kind: linear\nversion_policy: all\ninputs:\n  - {name: amount}\noutputs: [fraud_score]\n";
    std::ofstream(dir_ / "models/fraud/1/model.json") << R"({"kind":"linear","weights":[1.0],"bias":0})";
  }
  ~DecideDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  DecideDir(const DecideDir&) = delete;
  DecideDir& operator=(const DecideDir&) = delete;

  EngineOptions Options(uint32_t shards = 2) const {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.shards = shards;
    o.max_producers = 8;
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 3'600'000;  // stateful steps need checkpoints; none is taken here
    auto repo = ModelRepository::Open((dir_ / "models").string());
    if (repo.ok()) o.models = std::move(*repo);
    return o;
  }
  Result<std::unique_ptr<Engine>> Open(const EngineOptions& o) const {
    return Engine::Open((dir_ / "spec.yaml").string(), o);
  }

 private:
  std::filesystem::path dir_;
};

struct DecideOutcome {
  Status status;  // the call's refusal, or the callback's status
  DecideResult result;
};

inline DecideOutcome DecideAndWait(Engine& e, std::string_view stream, std::string_view body,
                                   const DecideOptions& options, uint32_t producer = 0) {
  std::promise<DecideOutcome> done;
  auto fut = done.get_future();
  Status st = e.IngestAndDecide(stream, body, producer, options, [&](Status s, DecideResult r) {
    done.set_value({std::move(s), std::move(r)});
  });
  if (!st.ok()) return {st, {}};
  return fut.get();
}

// One NDJSON line of `tx`.
inline std::string TxLine(const std::string& id, int64_t customer, double amount, int64_t ts_ms) {
  return "{\"id\":\"" + id + "\",\"customer\":" + std::to_string(customer) + ",\"amount\":" + std::to_string(amount) +
         ",\"ts\":" + std::to_string(ts_ms) + "}\n";
}

}  // namespace impulse::decide_test
