// Test helpers for the log: a temp directory removed at the end, a manual clock, and file
// surgery (truncate, corrupt) to simulate crashes and bit rot.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "common/manual_clock.h"
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
