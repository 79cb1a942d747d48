// A scriptable Engine for the server and loadgen tests. One stream "orders" (2 partitions,
// fields id int64 key, amount double, ts timestamp event time). Ingest stores every line
// that does not contain "bad" into partition 0 (one offset per line) and rejects the others
// with reason "bad line". Completions run on the fake's own "shard" thread, like the real
// engine's. Online features: views are empty until SetFeatures() gives them entities; lookups
// answer in the format of Engine::LookupFeatures. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "impulse/engine.h"

namespace impulse::server {

class FakeEngine : public Engine {
 public:
  FakeEngine();
  ~FakeEngine() override;

  // The next `count` Ingest calls return `status` at once (no callback).
  void FailNextIngest(Status status, int count = 1);
  // The next Ingest completes with `status` (through the callback) instead of OK.
  // `stored_lines`: the IngestResult::stored_lines of that failed completion.
  void FailNextCompletion(Status status, std::vector<uint32_t> stored_lines = {});
  // While held, completions queue up; ReleaseCompletions() runs them.
  void HoldCompletions();
  void ReleaseCompletions();
  size_t held_completions() const;
  uint64_t ingest_calls() const;
  // Benchmarks: count accepted lines but do not keep them (memory stays flat).
  void DiscardLines();
  uint32_t last_producer() const;

  // Declares feature view `view` (idempotent; listed by FeatureViews in creation order).
  void AddFeatureView(const std::string& view);
  // Sets the values of `entity` in `view` (created if new): `features_json` is the JSON object
  // text served as "features", as of event time `as_of_ms` (age_ms is always 0 here).
  void SetFeatures(const std::string& view, const std::string& entity, std::string features_json, int64_t as_of_ms = 0);
  uint64_t lookup_calls() const;

  Status Ingest(std::string_view stream, std::string_view ndjson, uint32_t producer, IngestCallback done) override;
  std::vector<StreamInfo> ListStreams() const override;
  Status ReadEvents(std::string_view stream, uint32_t partition, uint64_t from, uint32_t limit,
                    std::string* out) const override;
  std::string MetricsText() const override;
  std::vector<StageLatency> StageLatencies() const override { return {}; }
  Status WaitForPipelines(int64_t /*timeout_ms*/) const override { return Status::OK(); }
  Status Stop() override;
  uint32_t shard_count() const override { return 1; }
  Status EndOfInput(std::string_view) override { return Status::OK(); }
  Status IngestRows(std::string_view, const RowBatch&, uint32_t, IngestCallback) override {
    return InvalidArgument("the fake engine takes NDJSON only");
  }
  Result<uint64_t> CheckpointNow() override { return Unavailable("the fake engine has no checkpoints"); }
  Status LookupFeatures(std::string_view view, const std::vector<std::string_view>& entities, std::string* out,
                        size_t* found) const override;
  std::vector<std::string> FeatureViews() const override;

 private:
  void Run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // completions ready to run on the thread
  std::vector<std::function<void()>> held_;  // completions waiting for ReleaseCompletions
  bool hold_ = false;
  bool quit_ = false;
  Status fail_ingest_;
  int fail_ingest_count_ = 0;
  Status fail_completion_;
  std::vector<uint32_t> fail_stored_lines_;
  uint64_t ingest_calls_ = 0;
  uint32_t last_producer_ = 0;
  std::vector<std::string> partition0_;
  bool keep_lines_ = true;
  uint64_t discarded_ = 0;
  StreamDef def_;
  struct FeatureValues {
    std::string json;
    int64_t as_of_ms = 0;
  };
  std::vector<std::string> view_names_;
  std::unordered_map<std::string, std::unordered_map<std::string, FeatureValues>> views_;
  mutable uint64_t lookup_calls_ = 0;
  std::thread thread_;
};

}  // namespace impulse::server
