// What a connector (a Kafka or NATS source or sink, docs/CONNECTORS.md) needs from the engine
// that runs it. The engine implements it; connectors never see the engine's internals.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "event/ndjson.h"
#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse::connect {

class Host {
 public:
  virtual ~Host() = default;

  // The stream's definition and index, or nullptr.
  virtual const StreamDef* FindStream(std::string_view name, uint32_t* index) const = 0;

  // Sources. The position in the external partition copied into `partition` up to which the
  // log holds it (the last source position record, read at start), or -1 when it holds none.
  virtual int64_t SourceResumePosition(uint32_t stream, uint32_t partition) const = 0;
  // Appends the dead letters *bad (durably, first; *bad is cleared once they are, so a retry
  // after a later failure does not repeat them), then `rows` and the control record `trailer`
  // to `partition` of a source stream in one append (rows may be empty), and returns once they
  // are durable, with *end the partition's end after them. The connector must be the
  // partition's only writer and have one call in flight. kUnavailable: backpressure, retry.
  virtual Status AppendSourceBatch(uint32_t stream, uint32_t partition, const RowBatch& rows, std::vector<BadLine>* bad,
                                   std::string_view trailer, uint64_t* end) = 0;
  // The limits HTTP ingest validates lines with (max_line_bytes), for the same validation.
  virtual NdjsonLimits SourceLimits() const = 0;
  // Records a request may hold for one shard (max_inflight_events_per_shard): a batch must fit.
  virtual uint64_t SourceBatchMax() const = 0;
  // The offset below which every pipeline reading the partition has processed it.
  virtual uint64_t ProcessedOffset(uint32_t stream, uint32_t partition) const = 0;

  // Sinks. The end of what is readable (acknowledged), and of what is final: for a
  // pipeline-written stream the end recorded by the newest completed checkpoint (a restart
  // never truncates below it), for other streams the readable end.
  virtual uint64_t ReadableEnd(uint32_t stream, uint32_t partition) const = 0;
  // The first offset still in the log (retention deletes older ones).
  virtual uint64_t FirstOffset(uint32_t stream, uint32_t partition) const = 0;
  virtual uint64_t CommittedEnd(uint32_t stream, uint32_t partition) const = 0;
  // Rows of [from, end) (control records skipped), at most `limit`; *next where to continue.
  virtual Status ReadRows(uint32_t stream, uint32_t partition, uint64_t from, uint64_t end, uint32_t limit,
                          RowBatch* out, uint64_t* next) const = 0;
  // ReadRows that also raises writer_wm[w] to each watermark marker of writer w it passes.
  virtual Status ReadRowsAndMarks(uint32_t stream, uint32_t partition, uint64_t from, uint64_t end, uint32_t limit,
                                  RowBatch* out, uint64_t* next, std::vector<int64_t>* writer_wm) const = 0;
  // The writers of a pipeline-written stream (the ids its watermark markers carry).
  virtual uint32_t WriterCount(uint32_t stream) const = 0;
};

// One sample of a connector's metrics, added to the engine's /metrics.
struct MetricSample {
  std::string family;  // e.g. impulse_kafka_consumer_lag
  std::string help;
  bool counter = true;  // else a gauge
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

// The connectors of one engine, started after its recovery and stopped before its shards.
class Connectors {
 public:
  virtual ~Connectors() = default;
  // Sources stop copying (returns once no append is in flight).
  virtual void StopSources() = 0;
  // Sinks export what is final (up to the last checkpoint for exactly-once), then stop.
  virtual void StopSinks() = 0;
  virtual std::vector<MetricSample> Metrics() const = 0;
  // The first offset of stream/partition its sinks have not exported yet; UINT64_MAX: no sink.
  virtual uint64_t ExportedFrom(const std::string& stream, uint32_t partition) const {
    (void)stream, (void)partition;
    return UINT64_MAX;
  }
};

}  // namespace impulse::connect
