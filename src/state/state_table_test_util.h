// Shared fixture of the StateTable tests: runs each test against both backends, in a fresh
// temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "state/state_table.h"

namespace impulse::state::test {

namespace fs = std::filesystem;
using Backend = StateOptions::Backend;

// A value with member codec, a heap-owning field and a checked encoding.
struct Agg {
  int64_t count = 0;
  double sum = 0;
  std::string last;

  void Serialize(std::string* out) const {
    out->append(reinterpret_cast<const char*>(&count), sizeof(count));
    out->append(reinterpret_cast<const char*>(&sum), sizeof(sum));
    out->append(last);
  }
  Status Deserialize(std::string_view in) {
    if (in.size() < 16) return DataLoss("Agg: short value");
    std::memcpy(&count, in.data(), 8);
    std::memcpy(&sum, in.data() + 8, 8);
    last.assign(in.substr(16));
    return Status::OK();
  }
  bool operator==(const Agg&) const = default;
};

inline std::string Key(int i) { return "key-" + std::to_string(i); }
inline Agg ValueFor(int i) { return Agg{i, i * 0.5, "v" + std::to_string(i * 7)}; }

class StateTableTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    root_ = fs::path(::testing::TempDir()) / ("impulse_state_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  StateOptions Options(size_t cache_entries_max = 100000) {
    StateOptions o;
    o.backend = GetParam();
    o.rocksdb_dir = (root_ / ("db" + std::to_string(db_counter_++))).string();
    o.cache_entries_max = cache_entries_max;
    return o;
  }

  template <typename V = Agg>
  std::unique_ptr<StateTable<V>> MustOpen(const StateOptions& o) {
    auto t = StateTable<V>::Open(o);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }

  static void Fill(StateTable<Agg>* t, int begin, int end) {
    for (int i = begin; i < end; ++i) {
      bool inserted = false;
      auto v = t->FindOrInsert(Key(i), &inserted);
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      ASSERT_TRUE(inserted) << i;
      **v = ValueFor(i);
    }
  }

  static std::map<std::string, Agg> Content(StateTable<Agg>* t) {
    std::map<std::string, Agg> out;
    Status s = t->ForEach([&](std::string_view key, Agg& v) {
      EXPECT_TRUE(out.emplace(std::string(key), v).second) << "visited twice: " << key;
      return Status::OK();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  std::string Dir(const std::string& name) { return (root_ / name).string(); }

  fs::path root_;
  int db_counter_ = 0;
};

// Rewrites `path` with one byte flipped at `offset` (a new inode: checkpoints hard-link files
// that the live DB shares).
inline void FlipByte(const fs::path& path, uint64_t offset) {
  std::string data;
  {
    std::ifstream in(path, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_LT(offset, data.size());
  data[offset] ^= 0x5a;
  fs::remove(path);
  std::ofstream(path, std::ios::binary) << data;
}

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& param_info) {
  return param_info.param == Backend::kMemory ? std::string("Memory") : std::string("RocksDb");
}

}  // namespace impulse::state::test
