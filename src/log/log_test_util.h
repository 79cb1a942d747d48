// Test helpers for the log: a temp directory removed at the end, a manual clock, and file
// surgery (truncate, corrupt) to simulate crashes and bit rot.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "impulse/env.h"

namespace impulse::log::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/impulse_log_test_XXXXXX";
    char* d = mkdtemp(tmpl);
    if (d == nullptr) std::abort();
    path_ = d;
  }
  ~TempDir() { (void)std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  int64_t NowNs() const override { return now_ms_.load() * 1'000'000; }
  void Set(int64_t now_ms) { now_ms_.store(now_ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

inline std::string ReadAll(const std::string& path) {
  auto r = Env::Default()->ReadFile(path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::string();
}

// Replaces the file's contents (not atomically: the point is to leave damage behind).
inline void Overwrite(const std::string& path, const std::string& data) {
  auto w = Env::Default()->OpenWritable(path);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Truncate(0).ok());
  ASSERT_TRUE((*w)->Append(data).ok());
  ASSERT_TRUE((*w)->Close().ok());
}

inline void FlipByte(const std::string& path, size_t pos) {
  std::string data = ReadAll(path);
  ASSERT_LT(pos, data.size());
  data[pos] = static_cast<char>(data[pos] ^ 0x5A);
  Overwrite(path, data);
}

}  // namespace impulse::log::testing
