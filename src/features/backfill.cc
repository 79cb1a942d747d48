#include "features/backfill.h"

#include "common/progress.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "common/cpu_time.h"
#include "common/suggest.h"
#include "features/backfill_internal.h"
#include "impulse/engine.h"
#include "impulse/env.h"
#include "model/repository.h"
#include "runtime/engine_impl.h"
#include "spec/spec.h"

namespace impulse::features {

namespace bi = backfill_internal;

namespace {

constexpr int64_t kCheckpointIntervalMs = 3'600'000;  // stateful steps need checkpoints; a backfill rarely takes one
constexpr int kMaxInflightRequests = 16;              // IngestRows calls not yet acknowledged
constexpr int64_t kBackpressureSleepUs = 200;         // wait before retrying a refused batch
constexpr int64_t kSettleCheckMs = 20;                // after end of input: streams re-checked this often
constexpr int kSettleRounds = 5;                      // unchanged this many times in a row = done
constexpr int64_t kWaitChunkMs = 10'000;              // one WaitForPipelines call
constexpr int64_t kNoProgressMs = 300'000;            // pipelines behind and no stream growing: give up
constexpr int64_t kPaceCheckUs = 2000;  // pacing: watermarks re-read this often (each read locks every shard's stats)

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Acknowledgements of IngestRows calls, shared with the callbacks (which run on shard threads
// and may outlive a failed run, hence shared ownership).
struct Acks {
  std::mutex mu;
  std::condition_variable cv;
  int inflight = 0;
  Status first_error;

  void Done(const Status& st) {
    std::lock_guard<std::mutex> lock(mu);
    --inflight;
    if (!st.ok() && first_error.ok()) first_error = st;
    cv.notify_all();
  }
  // Waits until fewer than `max` calls are outstanding; the first failure, if any.
  Status WaitBelow(int max) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return inflight < max; });
    return first_error;
  }
};

// Feeds one batch; retries while the engine refuses it for backpressure.
Status Feed(Engine& engine, const std::string& stream, const RowBatch& rows, const std::shared_ptr<Acks>& acks) {
  RETURN_IF_ERROR(acks->WaitBelow(kMaxInflightRequests));
  {
    std::lock_guard<std::mutex> lock(acks->mu);
    ++acks->inflight;
  }
  while (true) {
    Status st = engine.IngestRows(stream, rows, 0, [acks](const Status& s, const IngestResult&) { acks->Done(s); });
    if (st.code() == StatusCode::kUnavailable) {
      std::this_thread::sleep_for(std::chrono::microseconds(kBackpressureSleepUs));
      continue;
    }
    if (!st.ok()) acks->Done(st);
    return st;
  }
}

// Total records of every stream (rows and watermark markers): it stops changing when the
// pipelines are done.
uint64_t TotalRecords(const Engine& engine) {
  uint64_t n = 0;
  for (const StreamInfo& s : engine.ListStreams()) {
    for (const PartitionInfo& p : s.partitions) n += p.end_offset;
  }
  return n;
}

// Waits until every pipeline has processed everything, including what closing the windows at
// end of input produced downstream.
Status Settle(const Engine& engine) {
  uint64_t last = UINT64_MAX;
  int stable = 0;
  auto last_change = Clock::now();
  while (stable < kSettleRounds) {
    Status st = engine.WaitForPipelines(kWaitChunkMs);
    if (!st.ok() && st.code() != StatusCode::kUnavailable) return st;
    const uint64_t now = TotalRecords(engine);
    if (now != last) last_change = Clock::now();
    if (st.ok() && now == last) {
      ++stable;
    } else {
      stable = 0;
      last = now;
    }
    // A pipeline that cannot write (a full disk) never catches up: fail instead of waiting forever.
    if (!st.ok() && Clock::now() - last_change > std::chrono::milliseconds(kNoProgressMs)) {
      return Unavailable("the pipelines made no progress for " + std::to_string(kNoProgressMs / 1000) +
                         " s: " + st.message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kSettleCheckMs));
  }
  return Status::OK();
}

// Picks the input and output streams and counts the output's writers (for the completeness
// check of WriteOutput).
Status ResolveStreams(const plan::LogicalPlan& plan, BackfillOptions* o, uint32_t* writers) {
  std::set<std::string> written;
  for (const plan::LogicalPipeline& lp : plan.pipelines) {
    if (lp.sink.kind == plan::SinkDef::Kind::kStream) written.insert(lp.sink.target);
    // Side streams: a predict step's decision log, a trigger's published streams.
    written.insert(lp.side_streams.begin(), lp.side_streams.end());
  }
  // Not an input either: the action dispatcher writes it (and sends nothing in a backfill).
  if (plan.FindStream(kActionDeadLetterStream) != nullptr) written.insert(std::string(kActionDeadLetterStream));
  if (o->input_stream.empty()) {
    std::string candidates;
    int n = 0;
    for (const StreamDef& s : plan.streams) {
      if (written.count(s.name) > 0) continue;
      candidates += (n++ > 0 ? ", " : "") + s.name;
      o->input_stream = s.name;
    }
    if (n != 1) {
      return InvalidArgument(n == 0
                                 ? "the spec has no input stream (every stream is written by a pipeline)"
                                 : "the spec has several input streams (" + candidates + "): choose one with --into");
    }
  } else {
    if (plan.FindStream(o->input_stream) == nullptr) return NotFound("no stream '" + o->input_stream + "' in the spec");
    if (written.count(o->input_stream) > 0) {
      return InvalidArgument("stream '" + o->input_stream + "' is written by a pipeline; --into needs an input stream");
    }
  }
  if (o->output_stream == kActionDeadLetterStream) {
    return InvalidArgument("a backfill calls no action, so " + o->output_stream + " stays empty; --stream " +
                           std::string(kOutboxStream) + " writes the firings it would have sent");
  }
  if (o->output_stream.empty()) {
    if (plan.pipelines.empty()) return InvalidArgument("the spec has no pipelines");
    const plan::LogicalPipeline& last = plan.pipelines.back();
    if (last.sink.kind != plan::SinkDef::Kind::kStream) {
      return InvalidArgument("the last pipeline (" + last.name + ") does not write a stream: choose one with --stream");
    }
    o->output_stream = last.sink.target;
  } else if (written.count(o->output_stream) == 0) {
    std::vector<std::string_view> outputs(written.begin(), written.end());
    if (plan.FindStream(o->output_stream) == nullptr) {
      return NotFound("no stream '" + o->output_stream + "' in the spec" + DidYouMean(o->output_stream, outputs));
    }
    std::string names;
    for (const std::string& w : written) names += (names.empty() ? "" : ", ") + w;
    return InvalidArgument("stream '" + o->output_stream + "' is not written by a pipeline (choose one of: " + names +
                           ")");
  }
  *writers = 0;
  for (const plan::LogicalPipeline& lp : plan.pipelines) {
    if (lp.sink.kind != plan::SinkDef::Kind::kStream || lp.sink.target != o->output_stream) continue;
    const StreamDef* src = plan.FindStream(lp.source);
    if (src == nullptr) return Internal("pipeline " + lp.name + ": unknown source");
    *writers += src->options.partitions;
  }
  return Status::OK();
}

// The engine's file system, without fsyncs. The data directory is a temporary one, removed at
// the end (or kept for inspection after the run), so no record of it needs to survive a machine
// crash; a crashed backfill is run again from its input. Writes still reach the files (pwrite),
// so everything the engine reads back within the run is there. On a 2-core VM's ext4 disk the
// engine's ~180 fsyncs of stream and segment creation (3-7 ms each) were 0.4-0.6 s of wall
// time with no CPU: a third of a small backfill (docs/BENCHMARKS.md, "Backfill: wall time vs
// CPU time").
class NoSyncFile final : public WritableFile {
 public:
  explicit NoSyncFile(std::unique_ptr<WritableFile> base) : base_(std::move(base)) {}
  Status Append(std::string_view data) override { return base_->Append(data); }
  Status Sync() override { return Status::OK(); }
  Status Truncate(uint64_t size) override { return base_->Truncate(size); }
  Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  std::unique_ptr<WritableFile> base_;
};

class NoSyncEnv final : public Env {
 public:
  explicit NoSyncEnv(Env* base) : base_(base) {}
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path) override {
    ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, base_->OpenWritable(path));
    return std::unique_ptr<WritableFile>(new NoSyncFile(std::move(f)));
  }
  Result<std::unique_ptr<RandomAccessFile>> OpenRandomAccess(const std::string& path) override {
    return base_->OpenRandomAccess(path);
  }
  Status CreateDirs(const std::string& path) override { return base_->CreateDirs(path); }
  Result<std::vector<std::string>> ListDir(const std::string& path) override { return base_->ListDir(path); }
  Status DeleteFile(const std::string& path) override { return base_->DeleteFile(path); }
  Status RenameFile(const std::string& from, const std::string& to) override { return base_->RenameFile(from, to); }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Status SyncDir(const std::string&) override { return Status::OK(); }
  Status DeleteDir(const std::string& path) override { return base_->DeleteDir(path); }
  Result<bool> IsDirectory(const std::string& path) override { return base_->IsDirectory(path); }
  Result<std::string> ReadFile(const std::string& path) override { return base_->ReadFile(path); }

 private:
  Env* const base_;
};

// A fresh temporary directory, removed on destruction unless kept.
class TempDir {
 public:
  static Result<std::unique_ptr<TempDir>> Create(bool keep) {
    std::error_code ec;
    std::string tmpl = (std::filesystem::temp_directory_path(ec) / "impulse-backfill-XXXXXX").string();
    if (ec) tmpl = "/tmp/impulse-backfill-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return ErrnoStatus("create temporary directory " + tmpl, errno);
    return std::unique_ptr<TempDir>(new TempDir(tmpl, keep));
  }
  ~TempDir() {
    if (keep_) {
      std::fprintf(stderr, "backfill: kept the engine's data directory %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  TempDir(std::string path, bool keep) : path_(std::move(path)), keep_(keep) {}
  std::string path_;
  bool keep_;
};

// Tallies a _late_events partition's rows by pipeline, operator and reason.
Status CountLateReasons(const Engine& engine, const PartitionInfo& p, std::map<std::string, uint64_t>* out) {
  const StreamDef late = LateEventsStreamDef();
  const int pipeline = late.schema.FieldIndex("pipeline"), op = late.schema.FieldIndex("operator"),
            reason = late.schema.FieldIndex("reason");
  for (uint64_t at = p.start_offset; at < p.end_offset;) {
    Result<RowsRead> r = engine.ReadRows(kLateEventsStream, p.partition, at, Engine::kReadRowsMax);
    if (!r.ok()) return r.status();
    for (size_t i = 0; i < r->rows.size(); ++i) {
      const Value* row = r->rows.row(i);
      std::string key(row[pipeline].sv());
      key.append(" ").append(row[op].sv()).append(" ").append(row[reason].sv());
      ++(*out)[key];
    }
    if (r->next_offset <= at) break;  // caught up
    at = r->next_offset;
  }
  return Status::OK();
}

// The pipelines an input stream feeds, directly or through the streams they write.
std::set<std::string> PipelinesFedBy(const plan::LogicalPlan& plan, const std::string& input) {
  std::set<std::string> streams{input}, fed;
  for (bool grew = true; grew;) {
    grew = false;
    for (const plan::LogicalPipeline& lp : plan.pipelines) {
      if (fed.count(lp.name) > 0) continue;
      if (streams.count(lp.source) == 0 && (lp.second_source.empty() || streams.count(lp.second_source) == 0)) continue;
      fed.insert(lp.name);
      if (lp.sink.kind == plan::SinkDef::Kind::kStream) streams.insert(lp.sink.target);
      streams.insert(lp.side_streams.begin(), lp.side_streams.end());
      grew = true;
    }
  }
  return fed;
}

// Holds the input back to `lead_ms` of event time ahead of the slowest pipeline it feeds
// (BackfillOptions::lead_ms). A batch goes in once that pipeline's watermark is within the lead
// of the batch's latest event, or once nothing fed is left to process (then only more input can
// move the watermarks: a partition without events in the lead holds its own back until its next
// event).
class Pacer {
 public:
  // `time_field`: the input's event-time field (none: no pacing).
  Pacer(int64_t lead_ms, int time_field, std::set<std::string> pipelines)
      : lead_ms_(time_field >= 0 ? lead_ms : 0), time_field_(time_field), pipelines_(std::move(pipelines)) {}

  void Wait(const Engine& engine, const RowBatch& rows, Acks& acks, BackfillStats* stats) {
    if (lead_ms_ <= 0 || off_ || rows.empty()) return;
    int64_t latest = INT64_MIN;
    for (size_t i = 0; i < rows.size(); ++i) {
      const Value& t = rows.row(i)[time_field_];
      if (!t.null) latest = std::max(latest, t.i64);
    }
    const int64_t needed = latest == INT64_MIN ? INT64_MIN : latest - lead_ms_;
    if (needed <= watermark_) return;
    const auto t0 = Clock::now();
    auto last_change = t0;
    uint64_t last_lag = UINT64_MAX;
    while (true) {
      uint64_t lag = 0;
      int64_t w = INT64_MAX;
      bool failed = false;
      for (const PipelineInfo& p : engine.ListPipelines()) {
        if (pipelines_.count(p.name) == 0) continue;
        w = std::min(w, p.watermark_ms);
        lag += p.lag;
        failed = failed || p.tasks_failed > 0;
      }
      if (w != watermark_ || lag != last_lag) last_change = Clock::now();
      watermark_ = w;
      last_lag = lag;
      if (w >= needed) break;
      if (lag == 0) {
        std::lock_guard<std::mutex> lock(acks.mu);
        if (acks.inflight == 0) break;
      }
      // A stopped task, or pipelines that stopped moving (a full disk), would hold the input
      // forever: feed the rest unpaced, and the wait after the input reports why.
      if (failed || Clock::now() - last_change > std::chrono::milliseconds(kNoProgressMs)) {
        off_ = true;
        std::fprintf(
            stderr, "backfill: pacing stopped (%s); the rest of the input is fed at once\n",
            failed ? "a pipeline task failed"
                   : ("the pipelines made no progress for " + std::to_string(kNoProgressMs / 1000) + " s").c_str());
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(kPaceCheckUs));
    }
    stats->paced_seconds += SecondsSince(t0);
  }

 private:
  const int64_t lead_ms_;
  const int time_field_;
  const std::set<std::string> pipelines_;
  int64_t watermark_ = INT64_MIN;  // the slowest pipeline's, when last read
  bool off_ = false;               // given up on (see Wait)
};

}  // namespace

Result<BackfillStats> RunBackfill(const BackfillOptions& options) {
  const auto t0 = Clock::now();
  BackfillOptions o = options;
  if (o.spec_path.empty()) return InvalidArgument("no spec given");
  if (o.input_path.empty() == o.data_dir.empty())
    return InvalidArgument("give exactly one of --input FILE and --data DIR");
  if (o.from_ms >= o.to_ms) return InvalidArgument("--from must be before --to");
  if (o.shards == 0 || o.shards > 256) return InvalidArgument("--shards must be in 1..256");

  std::vector<plan::SpecError> errors;
  ASSIGN_OR_RETURN(plan::LogicalPlan plan, plan::CompileSpecFile(o.spec_path, &errors));
  uint32_t writers = 0;
  RETURN_IF_ERROR(ResolveStreams(plan, &o, &writers));
  const StreamDef in_def = *plan.FindStream(o.input_stream);
  const StreamDef out_def = *plan.FindStream(o.output_stream);
  BackfillStats stats;
  stats.pipelines_skipped = plan::KeepPipelinesFeeding(&plan, {o.output_stream});
  if (o.progress && !stats.pipelines_skipped.empty()) {
    std::string names;
    for (const std::string& n : stats.pipelines_skipped) names += (names.empty() ? "" : ", ") + n;
    std::fprintf(stderr, "backfill: not running %zu pipeline(s) %s does not depend on: %s\n",
                 stats.pipelines_skipped.size(), o.output_stream.c_str(), names.c_str());
  }

  bi::SourceOptions so;
  so.def = &in_def;
  so.from_ms = o.from_ms;
  so.to_ms = o.to_ms;
  so.filter = o.from_ms != INT64_MIN || o.to_ms != INT64_MAX;
  so.skip_bad_rows = o.skip_bad_rows;
  so.header.column_map = o.column_map;
  so.header.ignore_unknown_columns = o.ignore_unknown_columns;
  const bool csv_input = o.data_dir.empty() && EndsWith(o.input_path, ".csv");
  if (!csv_input && (!o.column_map.empty() || o.ignore_unknown_columns)) {
    return InvalidArgument("--column and --ignore-unknown-columns apply to CSV input (a .csv --input) only");
  }
  if (so.filter && in_def.time_field < 0) {
    return InvalidArgument("stream " + in_def.name + " has no event_time field: --from/--to cannot apply");
  }
  std::unique_ptr<bi::RowSource> source;
  if (!o.data_dir.empty()) {
    ASSIGN_OR_RETURN(source, bi::OpenLogSource(o.data_dir, so));
  } else if (csv_input) {
    ASSIGN_OR_RETURN(source, bi::OpenCsvSource(o.input_path, so));
  } else {
    ASSIGN_OR_RETURN(source, bi::OpenNdjsonSource(o.input_path, so));
  }

  ASSIGN_OR_RETURN(std::unique_ptr<TempDir> tmp, TempDir::Create(o.keep_data));
  NoSyncEnv env(o.env != nullptr ? o.env : Env::Default());  // outlives the engine (reset below, or on return)
  EngineOptions eo;
  eo.env = &env;
  eo.data_dir = tmp->path();
  eo.shards = o.shards;
  eo.max_producers = 1;
  eo.durability = Durability::kNone;
  eo.checkpoint_interval_ms = kCheckpointIntervalMs;
  eo.stop_drain_timeout_ms = 600'000;
  eo.serve_features = false;    // nobody looks features up during a backfill: skip the online copy
  eo.dispatch_actions = false;  // history: its trigger firings were acted on when they happened
  if (!o.models_dir.empty()) {
    ASSIGN_OR_RETURN(eo.models, model::ModelRepository::Open(o.models_dir));
  }
  Pacer pacer(o.lead_ms, in_def.time_field, PipelinesFedBy(plan, o.input_stream));
  // The plan compiled above (pruned), not the spec file again: the engine runs exactly it.
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, runtime::EngineImpl::Create(std::move(plan), eo));

  auto acks = std::make_shared<Acks>();
  RowBatch rows(in_def.schema.size());
  // The input's bytes when its size is known (a file), else the events fed.
  const bool by_bytes = source->bytes_total() > 0;
  ProgressBar progress(stderr, "backfill", by_bytes ? "B" : "events", source->bytes_total(),
                       !o.progress      ? ProgressBar::Mode::kOff
                       : o.progress_bar ? ProgressBar::Mode::kBar
                                        : ProgressBar::Mode::kLines);
  Status fed;
  const double cpu0 = ProcessCpuSeconds();
  while (fed.ok()) {
    const double c0 = ThreadCpuSeconds();
    Result<bool> more = source->Next(&rows);
    const double c1 = ThreadCpuSeconds();
    stats.parse_cpu_seconds += c1 - c0;
    if (!more.ok()) {
      fed = more.status();
      break;
    }
    if (!rows.empty()) {
      pacer.Wait(*engine, rows, *acks, &stats);
      fed = Feed(*engine, o.input_stream, rows, acks);
      stats.events_in += rows.size();
      stats.ingest_cpu_seconds += ThreadCpuSeconds() - c1;
    }
    progress.Update(by_bytes ? source->bytes_done() : stats.events_in);
    if (!*more) break;
  }
  progress.Finish();
  Status acked = acks->WaitBelow(1);
  if (fed.ok()) fed = acked;
  if (!fed.ok()) {
    // The backfill failed: its engine's directory is thrown away, a final checkpoint is not wanted.
    (void)engine->Abandon();
    return fed;
  }
  stats.feed_seconds = SecondsSince(t0);
  if (o.progress) {
    std::fprintf(stderr, "backfill: input done (%llu events, %.1f s); waiting for the pipelines\n",
                 static_cast<unsigned long long>(stats.events_in), stats.feed_seconds);
  }
  if (Status st = engine->EndOfInput(o.input_stream); !st.ok()) {
    (void)engine->Abandon();
    return st;
  }
  Status settled = Settle(*engine);
  Status late_read;
  for (const StreamInfo& s : engine->ListStreams()) {
    if (s.name != kLateEventsStream) continue;
    for (const PartitionInfo& p : s.partitions) {
      stats.late_events += p.end_offset - p.start_offset;
      if (settled.ok() && late_read.ok()) late_read = CountLateReasons(*engine, p, &stats.late_by_reason);
    }
  }
  Status stopped = settled.ok() ? engine->Stop() : engine->Abandon();
  RETURN_IF_ERROR(settled);
  RETURN_IF_ERROR(stopped);
  RETURN_IF_ERROR(late_read);
  engine.reset();
  stats.drain_seconds = SecondsSince(t0) - stats.feed_seconds;
  if (o.progress) std::fprintf(stderr, "backfill: pipelines done (%.1f s); writing the output\n", SecondsSince(t0));
  const double cpu_output0 = ProcessCpuSeconds();
  ASSIGN_OR_RETURN(stats.rows_out,
                   bi::WriteOutput(tmp->path(), out_def, writers, o.format, o.out_path, o.shards, o.output_rows));
  stats.bad_rows = source->bad_rows();
  stats.filtered = source->filtered_rows();
  stats.seconds = SecondsSince(t0);
  stats.cpu_seconds = ProcessCpuSeconds() - cpu0;
  stats.output_cpu_seconds = ProcessCpuSeconds() - cpu_output0;
  stats.output_seconds = stats.seconds - stats.feed_seconds - stats.drain_seconds;
  return stats;
}

}  // namespace impulse::features
