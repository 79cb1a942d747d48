// StateTable costs: FindOrInsert + update per op (memory and RocksDB, uniform and hot-key skew,
// 1e5 and 1e6 keys, table prefilled), and Checkpoint of 1e6 entries.
// Run from a Release build: state_benchmark --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
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

}  // namespace
}  // namespace impulse::state

BENCHMARK_MAIN();
