// StateTable costs: FindOrInsert + update per op (memory and RocksDB, uniform and hot-key skew,
// 1e5 and 1e6 keys, table prefilled), Checkpoint of 1e6 entries, and the checkpoint pause at
// 10 MB, 100 MB and 1 GB of state, the synchronous scheme against the incremental capture.
// Run from a Release build: state_benchmark --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "state/state_table.h"

namespace impulse::state {
namespace {

namespace fs = std::filesystem;

struct Counter {
  int64_t count = 0;
  double sum = 0;
};

// "auction:" + 12 zero-padded digits (20 bytes, longer than the small-string buffer, like real
// composite keys), formatted into `buf` in a few ns so the loop measures the table.
constexpr size_t kKeyBytes = 20;
std::string_view FormatKey(uint64_t i, char* buf) {
  std::memcpy(buf, "auction:", 8);
  for (int d = 19; d >= 8; --d) {
    buf[d] = static_cast<char>('0' + i % 10);
    i /= 10;
  }
  return std::string_view(buf, kKeyBytes);
}

std::string KeyOf(uint64_t i) {
  char buf[kKeyBytes];
  return std::string(FormatKey(i, buf));
}

std::string TempDir(const char* what) {
  static int counter = 0;
  return (fs::temp_directory_path() /
          ("impulse_state_bench_" + std::to_string(::getpid()) + "_" + what + "_" + std::to_string(counter++)))
      .string();
}

std::unique_ptr<StateTable<Counter>> OpenFilled(bool rocksdb, uint64_t keys, std::string* dir) {
  StateOptions o;
  o.backend = rocksdb ? StateOptions::Backend::kRocksDb : StateOptions::Backend::kMemory;
  *dir = TempDir("db");
  o.rocksdb_dir = *dir;
  auto t = StateTable<Counter>::Open(o);
  if (!t.ok()) return nullptr;
  for (uint64_t i = 0; i < keys; ++i) {
    auto v = (*t)->FindOrInsert(KeyOf(i));
    if (!v.ok()) return nullptr;
    (*v)->count = 1;
  }
  return std::move(t).value();
}

// args: backend (0 memory, 1 rocksdb), keys, skew (0 uniform, 1 hot: 15/16 of ops on 1% of keys).
void BM_FindOrInsertUpdate(benchmark::State& state) {
  const bool rocksdb = state.range(0) == 1;
  const uint64_t keys = static_cast<uint64_t>(state.range(1));
  const bool hot = state.range(2) == 1;
  std::string dir;
  auto table = OpenFilled(rocksdb, keys, &dir);
  if (table == nullptr) {
    state.SkipWithError("open/fill failed");
    return;
  }
  // Every op draws a fresh key (the whole key space is the working set, not a sample of it).
  std::mt19937_64 rng(42);
  const uint64_t hot_keys = std::max<uint64_t>(1, keys / 100);
  char buf[kKeyBytes];
  const StateStats before = table->stats();  // the fill's misses are not the loop's
  for (auto _ : state) {
    const uint64_t r = rng();
    const bool pick_hot = hot && (r >> 60) < 15;  // 15/16 ~ 94% (documented as "90%+")
    const uint64_t k = pick_hot ? (r & 0xffffffffffff) % hot_keys : (r & 0xffffffffffff) % keys;
    auto v = table->FindOrInsert(FormatKey(k, buf));
    if (!v.ok()) {
      state.SkipWithError(v.status().ToString().c_str());
      break;
    }
    (*v)->count += 1;
    (*v)->sum += 0.5;
  }
  state.SetItemsProcessed(state.iterations());
  const StateStats s = table->stats();
  const double hits = static_cast<double>(s.cache_hits - before.cache_hits);
  const double misses = static_cast<double>(s.cache_misses - before.cache_misses);
  state.counters["hit_ratio"] = hits + misses == 0 ? 1.0 : hits / (hits + misses);
  state.counters["mem_MB"] = static_cast<double>(s.memory_bytes) / 1e6;
  table.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_FindOrInsertUpdate)
    ->ArgNames({"rocksdb", "keys", "hot"})
    ->ArgsProduct({{0, 1}, {100'000, 1'000'000}, {0, 1}})
    ->Unit(benchmark::kNanosecond);

void BM_Checkpoint(benchmark::State& state) {
  const bool rocksdb = state.range(0) == 1;
  const uint64_t keys = static_cast<uint64_t>(state.range(1));
  std::string dir;
  auto table = OpenFilled(rocksdb, keys, &dir);
  if (table == nullptr) {
    state.SkipWithError("open/fill failed");
    return;
  }
  uint64_t bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string ckpt = TempDir("ckpt");
    // Touch a tenth of the keys so every checkpoint has dirty entries to write back.
    for (uint64_t i = 0; i < keys; i += 10) (*table->FindOrInsert(KeyOf(i)))->count += 1;
    state.ResumeTiming();
    auto written = table->Checkpoint(ckpt);
    state.PauseTiming();
    if (!written.ok()) {
      state.SkipWithError(written.status().ToString().c_str());
      break;
    }
    bytes = *written;
    fs::remove_all(ckpt);
    state.ResumeTiming();
  }
  state.counters["snapshot_MB"] = static_cast<double>(bytes) / 1e6;
  table.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_Checkpoint)
    ->ArgNames({"rocksdb", "keys"})
    ->ArgsProduct({{0, 1}, {1'000'000}})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

// A value of ~100 serialized bytes, like a feature view's entity state (timestamps, a few
// window aggregates, the latest values).
struct Blob {
  std::string bytes;
  void Serialize(std::string* out) const { out->append(bytes); }
  Status Deserialize(std::string_view in) {
    bytes.assign(in);
    return Status::OK();
  }
};
constexpr size_t kBlobBytes = 100;
constexpr double kRecordBytes = kKeyBytes + kBlobBytes + 8;  // snapshot record: lengths, key, value

// The pause a checkpoint imposes on the table's owner, by state size (args: scheme, MB, backend).
// scheme 0: Checkpoint, the whole snapshot written and fsynced while the owner waits.
// scheme 1: BeginCapture (the pause), then the owner goes on updating keys between slices of
//   CaptureStep (200 us, as a shard does between batches) while another thread writes and
//   syncs the file; `background_ms` is BeginCapture to durable, `owner_updates` the updates the
//   owner made meanwhile. Iteration time = the pause (manual time).
void BM_CheckpointPause(benchmark::State& state) {
  const bool incremental = state.range(0) == 1;
  const uint64_t mb = static_cast<uint64_t>(state.range(1));
  const bool rocksdb = state.range(2) == 1;
  const uint64_t keys = static_cast<uint64_t>(static_cast<double>(mb) * 1e6 / kRecordBytes);
  StateOptions o;
  o.backend = rocksdb ? StateOptions::Backend::kRocksDb : StateOptions::Backend::kMemory;
  o.entries_max = keys + 1;
  const std::string dir = TempDir("pause");
  o.rocksdb_dir = dir;
  auto opened = StateTable<Blob>::Open(o);
  if (!opened.ok()) {
    state.SkipWithError(opened.status().ToString().c_str());
    return;
  }
  std::unique_ptr<StateTable<Blob>> table = std::move(opened).value();
  const std::string blob(kBlobBytes, 'v');
  for (uint64_t i = 0; i < keys; ++i) (*table->FindOrInsert(KeyOf(i)))->bytes = blob;
  std::mt19937_64 rng(1);
  double background_ms = 0, snapshot_mb = 0;
  uint64_t owner_updates = 0;
  for (auto _ : state) {
    const std::string ckpt = TempDir("pause_ckpt");
    const auto t0 = std::chrono::steady_clock::now();
    if (!incremental) {
      auto written = table->Checkpoint(ckpt);
      const auto t1 = std::chrono::steady_clock::now();
      if (!written.ok()) {
        state.SkipWithError(written.status().ToString().c_str());
        break;
      }
      state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
      snapshot_mb = static_cast<double>(*written) / 1e6;
      background_ms = 0;
    } else {
      AsyncFiles files;
      Status begun = table->BeginCapture(ckpt, &files);
      const auto t1 = std::chrono::steady_clock::now();
      if (!begun.ok()) {
        state.SkipWithError(begun.ToString().c_str());
        break;
      }
      state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
      std::atomic<bool> written{false};
      Status write_status;
      std::thread writer([&] {
        for (const auto& f : files) {
          for (;;) {
            auto done = f->WriteQueued(Env::Default());
            if (!done.ok()) {
              write_status = done.status();
              break;
            }
            if (*done) break;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          }
        }
        written.store(true, std::memory_order_release);
      });
      owner_updates = 0;
      char buf[kKeyBytes];
      while (!written.load(std::memory_order_acquire)) {
        // A batch of the owner's own work, then one slice of capture.
        for (int i = 0; i < 1000; ++i) (*table->Find(FormatKey(rng() % keys, buf)))->bytes[0] ^= 1;
        owner_updates += 1000;
        table->CaptureStep(std::chrono::steady_clock::now() + std::chrono::microseconds(200));
      }
      writer.join();
      background_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!write_status.ok()) {
        state.SkipWithError(write_status.ToString().c_str());
        break;
      }
      uint64_t bytes = 0;
      for (const auto& f : files) bytes += f->bytes_written();
      snapshot_mb = static_cast<double>(bytes) / 1e6;
    }
    fs::remove_all(ckpt);
  }
  state.counters["snapshot_MB"] = snapshot_mb;
  state.counters["background_ms"] = background_ms;
  state.counters["owner_updates"] = static_cast<double>(owner_updates);
  table.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_CheckpointPause)
    ->ArgNames({"incremental", "MB", "rocksdb"})
    ->ArgsProduct({{0, 1}, {10, 100, 1000}, {0}})
    ->Args({0, 10, 1})
    ->Args({0, 100, 1})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace impulse::state

BENCHMARK_MAIN();
