// The engine's ranker in `impulse demo personalization`: the ranking spec
// (examples/personalization/rank.yaml) backfilled over the demo's simulation by the same code as
// `impulse backfill` (features::RunBackfill), and a recommendations stream of it read into
// RecordedRecommendations for the evaluation. Blocking; runs on the calling thread plus the
// backfill's engine shards.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datagen/shop/simulator.h"
#include "examples/personalization/demo/evaluation.h"
#include "features/backfill.h"
#include "impulse/status.h"

namespace impulse::examples::personalization {

// Writes `events` as `impulse generate shop` does (CSV with a header) to `path`.
Status WriteEventsCsv(std::span<const shop::Event> events, int64_t start_epoch_day, const std::string& path);

struct RankerRunOptions {
  std::string spec_path;   // the ranking spec; required
  std::string models_dir;  // its model repository; required
  std::string input_csv;   // the simulation, as WriteEventsCsv wrote it
  uint32_t shards = 2;     // the backfill engine's shards
  int64_t start_epoch_day = 0;
  // Lists of events before this time (seconds since the simulation's start) are not kept: they
  // are never evaluated (the training days).
  int64_t keep_from_seconds = 0;
};

// A recommendations stream read back.
struct RankerLists {
  RecordedRecommendations lists;  // the kept lists (events at or after keep_from_seconds)
  uint64_t rows = 0;              // rows of the stream (every view ranked)
  features::BackfillStats backfill;
};

// Backfills `stream` of the spec (fields event_id int64, event_datetime timestamp, recs a string
// holding a JSON array of item ids (null: no list), and `as_of_field`, a timestamp or int64 epoch
// ms: the time the list's features are as of) and reads its lists. kInvalidArgument when the stream lacks a field or a
// row is bad (naming it); the backfill's errors as RunBackfill returns them.
Result<RankerLists> RunRanker(const RankerRunOptions& options, const std::string& stream,
                              const std::string& as_of_field);

// Whether the spec at `spec_path` declares or derives a stream `name` (kInvalidArgument for a
// spec that does not compile).
Result<bool> SpecHasStream(const std::string& spec_path, const std::string& name);

// The version of `model` the repository at `models_dir` serves (the highest ready one, as the
// rank step reads it); the repository's error when it has none.
Result<uint64_t> ServedVersion(const std::string& models_dir, std::string_view model);

}  // namespace impulse::examples::personalization
