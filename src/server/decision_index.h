// The read side of decision logs (docs/INFERENCE.md, "Decision log"): finds the records of an
// event id in a decision stream through the public Engine API only.
//
// A DecisionIndex covers one decision stream. Each partition keeps a bounded map of
// hash(event_id) -> offset, filled incrementally: a lookup first reads the partition's new
// records (ReadEvents from where the index stopped), then reads the matching records back by
// offset and keeps those whose event_id equals the one asked for (so a hash collision or a
// stale offset never answers the wrong record). The stream is keyed by event_id, so a lookup
// catches up only the partition the id hashes to (the engine's own PartitionFor/HashValue); a
// stream keyed otherwise is searched in every partition.
//
// Bounds: entries_max ids per stream (split evenly over the partitions), oldest evicted first;
// a catch-up starts no further back than the window can hold, so it reads at most
// entries_max / partitions records. Thread-safe: HTTP I/O threads call Lookup concurrently;
// one mutex per partition (held while that partition catches up), none across partitions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "impulse/engine.h"
#include "impulse/status.h"

namespace impulse::server {

struct DecisionIndexOptions {
  // Event ids indexed per stream (all partitions together); the oldest are evicted first.
  size_t entries_max = 1'000'000;
  // Records asked of ReadEvents per call while catching up.
  uint32_t read_batch_records = 1000;
  // Records returned for one event id (a replayed pipeline may log an id more than once).
  size_t records_per_id_max = 100;
};

// Whether `def` has the decision log record schema (DecisionLogStreamDef's fields, in order).
bool IsDecisionLog(const StreamDef& def);

class DecisionIndex {
 public:
  // kNotFound when `stream` is unknown or not a decision log (its schema differs).
  static Result<std::unique_ptr<DecisionIndex>> Create(const Engine* engine, std::string stream,
                                                       DecisionIndexOptions options = {});

  // Appends the records of `event_id` to `out` as JSON objects separated by commas, and returns
  // how many. A record is the stream's fields as ReadEvents writes them ("_offset",
  // "_partition", "_event_time", then each field), with features, scores and shadow embedded as
  // JSON values rather than strings. kNotFound with the reason for an unknown id (and for one
  // older than the indexed window: the message names the window's first offset).
  Result<size_t> Lookup(std::string_view event_id, std::string* out);

  const std::string& stream() const { return stream_; }

 private:
  struct Partition {
    std::mutex mu;
    uint64_t next = 0;                                    // next offset to read from the log
    bool evicted = false;                                 // some indexed or skipped records left the window
    std::deque<std::pair<uint64_t, uint64_t>> fifo;       // (id hash, offset), oldest first
    std::unordered_multimap<uint64_t, uint64_t> by_hash;  // id hash -> offset
  };

  DecisionIndex(const Engine* engine, std::string stream, uint32_t partitions, bool keyed_by_id,
                DecisionIndexOptions options);

  // Reads the records of partition `p` past `part.next` up to `end` (part.mu held).
  Status CatchUp(uint32_t p, Partition& part, uint64_t start, uint64_t end);
  void Add(Partition& part, uint64_t hash, uint64_t offset);
  // Reads back the candidate offsets of `hash` in `p` and appends those of `event_id`.
  Status AppendMatches(uint32_t p, const std::vector<uint64_t>& offsets, std::string_view event_id, size_t* found,
                       std::string* out) const;

  const Engine* const engine_;
  const std::string stream_;
  const bool keyed_by_id_;
  const DecisionIndexOptions options_;
  const size_t per_partition_max_;
  std::vector<std::unique_ptr<Partition>> parts_;
};

// The DecisionIndex of every decision stream of one engine, created on first lookup. Streams
// are the engine's (bounded by its spec). Thread-safe.
class DecisionIndexSet {
 public:
  explicit DecisionIndexSet(const Engine* engine, DecisionIndexOptions options = {})
      : engine_(engine), options_(options) {}

  // As DecisionIndex::Lookup; kNotFound for an unknown stream or one that is not a decision log.
  Result<size_t> Lookup(std::string_view stream, std::string_view event_id, std::string* out);

 private:
  const Engine* const engine_;
  const DecisionIndexOptions options_;
  std::mutex mu_;  // guards indexes_ (not the lookups)
  std::map<std::string, std::shared_ptr<DecisionIndex>, std::less<>> indexes_;
};

}  // namespace impulse::server
