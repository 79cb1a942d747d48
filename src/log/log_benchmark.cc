// Append throughput of the durable log: 100-byte events, group commit (a Sync every N
// appends), on a temp directory of the real file system.
#include <stdlib.h>

#include <string>

#include <benchmark/benchmark.h>

#include "impulse/env.h"
#include "log/partition_log.h"

namespace impulse::log {
namespace {

class BenchDir {
 public:
  BenchDir() {
    char tmpl[] = "/tmp/impulse_log_bench_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~BenchDir() { (void)std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// state.range(0): appends per Sync. state.range(1): payload bytes. state.range(2): 0 =
// blocking Sync (the writer waits for fdatasync), 1 = SyncAsync (fdatasync overlaps appends).
void BM_AppendWithGroupCommit(benchmark::State& state) {
  const bool async = state.range(2) != 0;
  const auto per_sync = static_cast<uint64_t>(state.range(0));
  const std::string payload(static_cast<size_t>(state.range(1)), 'x');
  BenchDir dir;
  LogOptions o;
  o.retention_bytes = 256 << 20;  // keep the temp dir bounded on long runs
  auto log = PartitionLog::Open(Env::Default(), Clock::Real(), dir.path(), o);
  if (!log.ok()) {
    state.SkipWithError(log.status().ToString().c_str());
    return;
  }
  uint64_t n = 0;
  for (auto _ : state) {
    auto off = (*log)->Append(payload, 1);
    if (!off.ok()) {
      state.SkipWithError(off.status().ToString().c_str());
      break;
    }
    if (++n % per_sync == 0) {
      const Status s = async ? (*log)->SyncAsync() : (*log)->Sync();
      if (!s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        break;
      }
      if (n % (per_sync * 64) == 0) (void)(*log)->EnforceRetention(0);
    }
  }
  (void)(*log)->Sync();  // after the loop: not timed
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.SetBytesProcessed(static_cast<int64_t>(n * payload.size()));
  state.counters["syncs"] = static_cast<double>((*log)->syncs());
}
BENCHMARK(BM_AppendWithGroupCommit)
    ->ArgNames({"per_sync", "bytes", "async"})
    ->Args({1000, 100, 0})
    ->Args({100, 100, 0})
    ->Args({1000, 100, 1})
    ->Args({100, 100, 1})
    ->Args({1'000'000'000, 100, 0})  // no fsync at all: the write() path
    ->UseRealTime();

// The device's floor for a blocking group commit: one 116 KB write (1000 frames of 100
// bytes) plus fdatasync, through the Env. A blocking Sync every 1000 events cannot beat
// 1000 / this latency events per second; SyncAsync overlaps it with appends.
void BM_WriteAndFdatasync116KB(benchmark::State& state) {
  BenchDir dir;
  auto f = Env::Default()->OpenWritable(dir.path() + "/f");
  if (!f.ok()) {
    state.SkipWithError(f.status().ToString().c_str());
    return;
  }
  const std::string block(116'000, 'x');
  for (auto _ : state) {
    if ((*f)->Size() > (256u << 20)) (void)(*f)->Truncate(0);
    if (!(*f)->Append(block).ok() || !(*f)->Sync().ok()) {
      state.SkipWithError("write or sync failed");
      break;
    }
  }
}
BENCHMARK(BM_WriteAndFdatasync116KB)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Sequential reads of 1000 records of 100 bytes per call, from the page cache.
void BM_ReadSequential(benchmark::State& state) {
  BenchDir dir;
  auto log = PartitionLog::Open(Env::Default(), Clock::Real(), dir.path(), {});
  if (!log.ok()) {
    state.SkipWithError(log.status().ToString().c_str());
    return;
  }
  const std::string payload(100, 'x');
  constexpr uint64_t kRecords = 1'000'000;
  for (uint64_t i = 0; i < kRecords; ++i) (void)(*log)->Append(payload, 1);
  (void)(*log)->Flush();
  std::vector<Record> recs;
  std::string storage;
  uint64_t from = 0, n = 0;
  for (auto _ : state) {
    if (from >= kRecords) from = 0;
    const Status s = (*log)->Read(from, 1000, 1 << 20, &recs, &storage);
    if (!s.ok() || recs.empty()) {
      state.SkipWithError("read failed");
      break;
    }
    from = recs.back().offset + 1;
    n += recs.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
}
BENCHMARK(BM_ReadSequential)->UseRealTime();

}  // namespace
}  // namespace impulse::log

BENCHMARK_MAIN();
