// `impulse backfill`: replays history through a spec's pipelines and writes the training set,
// one row per output event (docs/BACKFILL.md).
//
// Contract: RunBackfill opens an embedded Engine on a fresh temporary data directory (the SAME
// engine code as a live run) with only the pipelines the output stream depends on
// (plan::KeepPipelinesFeeding: the others would cost time and could not change it), feeds it the input (a CSV or NDJSON
// file, or the log of an engine's data directory) as typed rows in input order, declares end of input, waits for every
// pipeline to finish, stops the engine, then reads the output stream from the temporary log and writes its rows sorted
// by event time, ties by the rows' encoded bytes: for a given input the output is byte-for-byte deterministic, whatever
// the shard count or timing. Bad input stops the run with the file, line, column and reason (or is counted and skipped
// with skip_bad_rows). Blocking; runs on the calling thread plus the engine's shard threads. Memory: the engine's
// bounded queues and state, plus the output stream's encoded rows (kOutputBytesMax) while they are sorted.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "impulse/env.h"
#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse::features {

// The sorted output is held in memory: beyond this many bytes of encoded output rows the run
// fails (kResourceExhausted) instead of exhausting memory.
inline constexpr uint64_t kBackfillOutputBytesMax = 8ull << 30;

struct BackfillOptions {
  std::string spec_path;       // the pipeline spec (YAML); required
  std::string input_path;      // .csv (header row) or NDJSON; exactly one of input_path / data_dir
  std::string data_dir;        // an engine's data directory: history from its log of input_stream
  std::string input_stream;    // "" = the spec's only stream that no pipeline writes
  std::string output_stream;   // "" = the sink stream of the last pipeline in plan order
  std::string out_path = "-";  // "-" = stdout; a file is written as <out>.tmp, then renamed
  enum class Format { kCsv, kNdjson } format = Format::kCsv;
  int64_t from_ms = INT64_MIN;  // input events with event time < from_ms are not fed
  int64_t to_ms = INT64_MAX;    // input events with event time >= to_ms are not fed
  uint32_t shards = 2;          // engine shard threads
  // Pacing (--lead): an input batch is fed only once every pipeline it feeds has a watermark
  // within this much event time of the batch's latest event, or once they have processed
  // everything fed. Without it the whole input is in the log within seconds, the pipelines'
  // tasks run at their own speeds, and what waits for the slowest (a point-in-time view's
  // events, an as-of join's waiting rows) grows with the input. 0 = no pacing.
  int64_t lead_ms = 3'600'000;
  bool progress = false;       // progress on stderr: a line about once a second, or with
  bool progress_bar = false;   // this, a bar redrawn in place (stderr is a terminal)
  bool skip_bad_rows = false;  // count and skip bad input rows instead of failing
  bool keep_data = false;      // keep the temporary data directory (its path is printed)
  std::string models_dir;      // model repository for predict steps ("" = none)
  // The file system of the engine's temporary data directory (nullptr = Env::Default(); tests
  // pass a counting one). Its fsyncs are skipped: the directory does not outlive the run.
  Env* env = nullptr;
  // CSV input: column -> field renames (--column), and whether columns naming no field are
  // skipped (--ignore-unknown-columns) rather than an error. Header names match fields
  // case-insensitively either way.
  std::vector<std::pair<std::string, std::string>> column_map;
  bool ignore_unknown_columns = false;
  // Embedded use: when set, the sorted output rows are handed to this function (the output
  // stream's schema; batches of at most 1024 rows, in output order, on the calling thread)
  // instead of being written: out_path and format are ignored. An error it returns stops the
  // run and is returned.
  std::function<Status(const Schema& schema, const RowBatch& rows)> output_rows;
};

struct BackfillStats {
  uint64_t events_in = 0, rows_out = 0, bad_rows = 0;
  double seconds = 0;
  // Breakdown (wall seconds): reading + feeding the input (the engine runs concurrently), the
  // wait for the pipelines to finish after the last input, and reading + writing the output.
  double feed_seconds = 0, drain_seconds = 0, output_seconds = 0;
  // CPU (seconds): the driver thread reading and converting the input, the driver thread in
  // IngestRows (encoding and routing to the shards), the output phase (the engine has stopped:
  // reading, sorting and writing the output) and the whole process.
  double parse_cpu_seconds = 0, ingest_cpu_seconds = 0, output_cpu_seconds = 0, cpu_seconds = 0;
  uint64_t filtered = 0;     // input events outside [from_ms, to_ms)
  double paced_seconds = 0;  // wall time the input waited for the pipelines (lead_ms)
  uint64_t late_events = 0;  // events the pipelines sent to _late_events (missing from the output)
  // Those events by "pipeline operator reason" (`p lookup#1 as_of_too_old`): not every reason
  // means late (docs/EVENT_TIME.md), and each calls for another fix.
  std::map<std::string, uint64_t> late_by_reason;
  // The spec's pipelines not run: the output stream does not depend on them.
  std::vector<std::string> pipelines_skipped;
};

// kInvalidArgument for bad options, a bad spec or bad input (naming file, line and column);
// kNotFound for missing files; kFailedPrecondition for a predict step that cannot score (as
// Engine::Open); kInternal if the output is incomplete (a bug).
Result<BackfillStats> RunBackfill(const BackfillOptions& options);

// The exit-code wrapper used by the binary: `impulse backfill SPEC.yaml ...` (backfill_command.cc).
int BackfillCommand(const std::vector<std::string>& args);

}  // namespace impulse::features
