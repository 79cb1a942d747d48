// The engine's internals: streams and their partition logs, the shards that own them, and the
// rings between producers (front-end threads) and shards and between shards.
//
// Ownership: partition p of every stream belongs to shard p % shards. Only that shard appends
// to it, runs pipeline tasks whose source it is, and syncs it. Producers parse and encode in
// their own thread and hand pre-encoded records to owners through single-producer rings.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "event/ndjson.h"
#include "impulse/engine.h"
#include "impulse/row.h"
#include "log/partition_log.h"
#include "plan/logical_plan.h"
#include "plan/physical.h"
#include "runtime/metrics.h"
#include "runtime/spsc_ring.h"
#include "runtime/waker.h"

namespace impulse::runtime {

class EngineImpl;
class Shard;

// One front-end request's progress across the shards it touched.
struct IngestRequest {
  std::atomic<uint32_t> pending{0};
  std::mutex mu;  // guards status (per request, never per event)
  Status status;
  IngestResult result;
  Engine::IngestCallback done;
  int64_t start_ns = 0;
};

// Pre-encoded records for partitions of one stream owned by one shard.
struct AppendCommand {
  struct Rec {
    uint32_t partition;
    uint32_t begin;  // into data
    uint32_t len;
    int64_t timestamp_ms;  // the record's ingest time (log retention by age)
  };
  uint32_t stream = 0;
  std::string data;
  std::vector<Rec> recs;
  std::shared_ptr<IngestRequest> request;  // null for shard-to-shard exchange
  int64_t arrival_ns = 0;
};
using CommandPtr = std::unique_ptr<AppendCommand>;
using Ring = SpscRing<CommandPtr>;

struct StreamState {
  StreamDef def;
  uint32_t index = 0;
  std::vector<std::unique_ptr<log::PartitionLog>> partitions;
  std::atomic<uint64_t> events_rejected{0};  // by producers, per request
  std::atomic<uint64_t> requests{0};
};

// A per-shard sink for NDJSON files or stdout: lines are buffered per batch and written under
// the sink's mutex, once per batch.
class LineSink {
 public:
  static Result<std::unique_ptr<LineSink>> Open(const plan::SinkDef& def);
  ~LineSink();
  Status Write(std::string_view lines);
  Status Flush();

 private:
  std::mutex mu_;
  int fd_ = -1;
  bool owns_fd_ = false;
  std::string path_;
};

class EngineImpl final : public Engine {
 public:
  static Result<std::unique_ptr<EngineImpl>> Create(plan::LogicalPlan plan, EngineOptions options);
  ~EngineImpl() override;

  Status Ingest(std::string_view stream, std::string_view ndjson, uint32_t producer,
                IngestCallback done) override;
  std::vector<StreamInfo> ListStreams() const override;
  Status ReadEvents(std::string_view stream, uint32_t partition, uint64_t from, uint32_t limit,
                    std::string* out) const override;
  std::string MetricsText() const override;
  std::vector<StageLatency> StageLatencies() const override;
  Status WaitForPipelines(int64_t timeout_ms) const override;
  Status Stop() override;
  uint32_t shard_count() const override { return static_cast<uint32_t>(shards_.size()); }

  // Shard-facing.
  const EngineOptions& options() const { return options_; }
  StreamState& stream(uint32_t i) { return *streams_[i]; }
  uint32_t stream_count() const { return static_cast<uint32_t>(streams_.size()); }
  uint32_t OwnerOf(uint32_t partition) const { return partition % shard_count(); }
  Ring& exchange_ring(uint32_t src, uint32_t dst) { return *exchange_[dst][src]; }
  Ring& ingest_ring(uint32_t producer, uint32_t shard) { return *ingest_[shard][producer]; }
  Shard& shard(uint32_t i) { return *shards_[i]; }
  const std::vector<std::unique_ptr<plan::PhysicalPipeline>>& pipelines() const { return pipelines_; }
  LineSink* line_sink(size_t pipeline) { return line_sinks_[pipeline].get(); }
  Clock* clock() const { return clock_; }
  Env* env() const { return env_; }
  bool stopping() const { return stopping_.load(std::memory_order_seq_cst); }
  // Set by Stop() once every shard is quiescent and every ring is empty: shards leave their loop.
  bool exiting() const { return exiting_.load(std::memory_order_acquire); }
  // Whether Stop() saw the engine drained before asking shards to exit (read after exiting()).
  bool drained() const { return drained_.load(std::memory_order_acquire); }
  // Bumped by a shard whenever it wakes or does work; Stop() uses it to see a quiet engine.
  std::atomic<uint64_t> activity{0};
  int StreamIndex(std::string_view name) const;
  std::string CursorPath(const std::string& pipeline, uint32_t partition) const;

  std::atomic<uint64_t> backpressure_rejections{0};

 private:
  EngineImpl(plan::LogicalPlan plan, EngineOptions options);
  Status OpenStreams();
  Status Start();

  struct Producer {
    std::vector<std::unique_ptr<NdjsonParser>> parsers;  // per stream
    RowBatch rows;
    std::vector<BadLine> bad;
    std::vector<CommandPtr> per_shard;
    std::atomic<bool> busy{false};  // detects two threads misusing one producer index
  };

  plan::LogicalPlan plan_;
  EngineOptions options_;
  Clock* clock_;
  Env* env_;
  std::vector<std::unique_ptr<StreamState>> streams_;
  std::unordered_map<std::string, uint32_t> stream_index_;
  std::vector<std::unique_ptr<plan::PhysicalPipeline>> pipelines_;
  std::vector<std::unique_ptr<LineSink>> line_sinks_;  // per pipeline; null for stream sinks
  std::vector<std::vector<std::unique_ptr<Ring>>> ingest_;    // [shard][producer]
  std::vector<std::vector<std::unique_ptr<Ring>>> exchange_;  // [dst][src]
  std::vector<std::unique_ptr<Producer>> producers_;
  std::vector<std::unique_ptr<Shard>> shards_;
  uint32_t dead_letter_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> exiting_{false};
  std::atomic<bool> drained_{false};
  std::atomic<uint32_t> active_ingests_{0};  // Ingest calls in progress; Stop waits for 0
  // True when no shard has work, no ring holds a command and nothing changed meanwhile.
  bool Quiescent() const;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace impulse::runtime
