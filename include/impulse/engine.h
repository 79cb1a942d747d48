// The engine: streams backed by the embedded log, pipelines on a shard-per-core runtime.
// Thread-safe entry points for front ends (HTTP server, demo, tests); everything on the
// per-event path runs on shard threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/env.h"
#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse {

namespace model {
class ModelRepository;  // src/model/repository.h
}

enum class Durability : uint8_t {
  // Default: a request is acknowledged only after its events are fsynced. Concurrent requests
  // share one fsync per partition per shard cycle (group commit), so this is also fast.
  kSync = 0,
  // fsync at most every group_commit_ms; acks wait for the covering fsync. Fewer fsyncs,
  // higher latency, equally safe.
  kGroupCommit = 1,
  // Acknowledge after the write() only: survives a process crash, not a power loss.
  kNone = 2,
};

struct EngineOptions {
  std::string data_dir = "./impulse-data";
  uint32_t shards = 0;                       // 0 = number of cores
  uint32_t max_producers = 4;                // threads that may call Ingest concurrently
  Durability durability = Durability::kSync;
  uint32_t group_commit_ms = 5;              // only for kGroupCommit
  uint32_t ring_capacity = 256;              // commands per (producer, shard) ring
  uint64_t max_inflight_events_per_shard = 1'000'000;  // beyond: Ingest returns kUnavailable
  uint64_t max_line_bytes = 1 << 20;         // an NDJSON line longer than this is rejected
  uint32_t max_line_errors_reported = 1000;  // per request; all bad lines still dead-lettered
  uint32_t stop_drain_timeout_ms = 30'000;   // Stop() waits this long for queued work to drain
  // Checkpoints (docs/CHECKPOINTS.md): every this many ms the pipelines pause, and their input
  // positions, operator state and the ends of the streams they write are committed together.
  // A restart restores the newest one, truncates pipeline-written streams back to it and
  // replays: outputs to embedded streams and files are exactly-once. 0 = no checkpoints:
  // pipelines persist per-partition cursors instead and outputs are at-least-once.
  int64_t checkpoint_interval_ms = 10'000;
  int checkpoints_retained = 3;              // complete checkpoints kept on disk (>= 2)
  int64_t checkpoint_timeout_ms = 60'000;    // a checkpoint not done by then is abandoned
  int64_t restore_checkpoint_id = -1;        // >= 0: start from this checkpoint, not the newest
  // Keyed state of stateful operators: in memory (default) or RocksDB under data_dir/state.
  bool state_rocksdb = false;
  uint64_t state_cache_entries = 100'000;    // RocksDB: decoded entries cached per operator
  // Feature views keep each entity's latest values for LookupFeatures. false: computed into
  // the pipelines' outputs only (a backfill, which nobody queries, saves the copy per event).
  bool serve_features = true;
  // The model repository `predict` steps score with (docs/INFERENCE.md); shared with the HTTP
  // server's model routes. Required when the spec has predict steps: Open fails without it, or
  // when a step's model has no ready version or its inputs do not resolve.
  std::shared_ptr<model::ModelRepository> models;
  Clock* clock = nullptr;                    // nullptr = Clock::Real()
  Env* env = nullptr;                        // nullptr = Env::Default()
};

struct LineError {
  uint32_t line = 0;    // 1-based line number in the request body
  std::string reason;   // "field amount: expected double, got string"
};

struct IngestResult {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  std::vector<LineError> errors;  // at most max_line_errors_reported
  bool errors_truncated = false;
};

struct PartitionInfo {
  uint32_t partition = 0;
  uint64_t start_offset = 0;
  uint64_t end_offset = 0;
};

// Latency quantiles of one stage, from the engine's histograms (bucket upper bounds).
struct StageLatency {
  std::string stage;  // ingest_to_durable, ingest_to_output, pipeline_batch
  uint64_t count = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
};

struct StreamInfo {
  std::string name;
  StreamDef def;
  std::vector<PartitionInfo> partitions;
};

class Engine {
 public:
  // Completion of an ingest call; runs on a shard thread, so it must be quick (post to the
  // caller's own executor).
  using IngestCallback = std::function<void(Status, IngestResult)>;

  virtual ~Engine() = default;

  // Loads the spec at `spec_path`, opens (and recovers) the logs under options.data_dir and
  // starts the shards. kInvalidArgument for a bad spec, kDataLoss for a corrupt sealed segment,
  // kFailedPrecondition for a predict step that cannot score (no repository, no ready version,
  // an input that names no field).
  static Result<std::unique_ptr<Engine>> Open(const std::string& spec_path, EngineOptions options);

  // Parses and validates an NDJSON body for `stream` in the calling thread, routes the valid
  // events to the shards owning their partitions and dead-letters the bad lines. `done` runs
  // once the accepted events and dead letters are durable (see Durability). Returns
  // immediately with an error (and `done` is not called) for: kNotFound (unknown stream),
  // kUnavailable (backpressure: queues or in-flight limit full; nothing was accepted),
  // kInvalidArgument (a stream written by pipelines: not ingestible),
  // kFailedPrecondition (stopping). `producer` is the caller's index < max_producers: each
  // producer owns its own single-producer rings.
  virtual Status Ingest(std::string_view stream, std::string_view ndjson, uint32_t producer,
                        IngestCallback done) = 0;

  // The embedded form of Ingest: typed rows of the stream's schema (width and field types as
  // declared; strings only need to live for the call), no parsing. The event time is the time
  // field's value (else the ingest time). kInvalidArgument, naming the row and field, for a
  // null in a non-nullable field or a width mismatch: nothing is queued then. Otherwise as
  // Ingest.
  virtual Status IngestRows(std::string_view stream, const RowBatch& rows, uint32_t producer,
                            IngestCallback done) = 0;

  virtual std::vector<StreamInfo> ListStreams() const = 0;

  // Appends up to `limit` events of stream/partition starting at `from` as NDJSON lines,
  // each an object with "_offset", "_partition", "_event_time" and the fields. Past the end:
  // appends nothing and returns OK.
  virtual Status ReadEvents(std::string_view stream, uint32_t partition, uint64_t from,
                            uint32_t limit, std::string* out) const = 0;

  // Prometheus text exposition of all engine metrics.
  virtual std::string MetricsText() const = 0;
  virtual std::vector<StageLatency> StageLatencies() const = 0;

  // Waits until every pipeline has processed all durable input (lag 0). kUnavailable on
  // timeout; the error of a pipeline task that stopped on a failure (its state backend failed:
  // the task waits for a restart, counted in impulse_pipeline_tasks_failed). For tests, the demo
  // and orderly shutdown; not for the per-event path.
  virtual Status WaitForPipelines(int64_t timeout_ms) const = 0;

  // Stops accepting, drains queued work, flushes and syncs, stops the shards. Idempotent.
  virtual Status Stop() = 0;

  virtual uint32_t shard_count() const = 0;

  // Declares that `stream` has no more input for this run: once the pipelines have read all of
  // it, its watermark jumps to +infinity, so every window closes (bounded runs, tests,
  // benchmarks). Not persisted. kNotFound for an unknown stream, kInvalidArgument for a stream
  // that pipelines write (its watermark follows its writers).
  virtual Status EndOfInput(std::string_view stream) = 0;

  // Takes a checkpoint now and waits for it (kUnavailable when checkpoints are disabled or it
  // times out). Returns its id.
  virtual Result<uint64_t> CheckpointNow() = 0;

  // Online features (docs/FEATURES.md): the current values of feature view `view` for each
  // entity in `entities` (the entity key as text: "42" for an int64 entity, the string itself
  // for a string entity). Appends to `out` one JSON object per entity, comma-separated, in
  // order (the caller writes the enclosing array or object):
  //   {"entity":"42","found":true,"as_of":"<RFC 3339>","as_of_ms":N,"age_ms":N,
  //    "features":{"name":value,...}}
  // An unknown entity, a key that is not valid for the entity's type, or values older than the
  // view's ttl come back with "features":null and a "reason". `*found` (if non-null) receives
  // the number of entities returned with values. kNotFound for an unknown view;
  // kInvalidArgument for more than kFeatureLookupBatchMax entities.
  static constexpr size_t kFeatureLookupBatchMax = 1000;
  virtual Status LookupFeatures(std::string_view view, const std::vector<std::string_view>& entities,
                                std::string* out, size_t* found) const = 0;
  // Names of the feature views of the loaded spec.
  virtual std::vector<std::string> FeatureViews() const = 0;
};

}  // namespace impulse
