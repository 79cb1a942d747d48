#include "common/share_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace impulse {
namespace {

namespace fs = std::filesystem;

// Restores IMPULSE_SHARE_DIR as the test found it.
class ShareDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* v = getenv("IMPULSE_SHARE_DIR")) saved_ = v, had_ = true;
    unsetenv("IMPULSE_SHARE_DIR");
  }
  void TearDown() override {
    if (had_) {
      setenv("IMPULSE_SHARE_DIR", saved_.c_str(), 1);
    } else {
      unsetenv("IMPULSE_SHARE_DIR");
    }
  }

 private:
  std::string saved_;
  bool had_ = false;
};

TEST_F(ShareDirTest, ABuildTreeFindsTheFilesOfItsSourceTree) {
  // This test binary sits in a build tree configured from the source tree holding the examples.
  auto found = FindSharedFile("examples/quickstart/pipeline.yaml");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_TRUE(fs::is_regular_file(*found));
  EXPECT_EQ(fs::path(*found).filename(), "pipeline.yaml");
}

TEST_F(ShareDirTest, AnUnknownFileIsNotFound) {
  EXPECT_EQ(FindSharedFile("examples/no-such-example/spec.yaml").status().code(), StatusCode::kNotFound);
}

TEST_F(ShareDirTest, TheEnvironmentVariableIsTheOnlyPlaceLookedInWhenSet) {
  const fs::path dir = fs::temp_directory_path() / ("impulse-share-" + std::to_string(getpid()));
  fs::create_directories(dir / "examples" / "x");
  std::ofstream(dir / "examples" / "x" / "spec.yaml") << "streams: []\n";
  setenv("IMPULSE_SHARE_DIR", dir.c_str(), 1);
  auto found = FindSharedFile("examples/x/spec.yaml");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(fs::path(*found), dir / "examples" / "x" / "spec.yaml");
  // The source tree has this file, but the variable says where to look.
  EXPECT_EQ(FindSharedFile("examples/quickstart/pipeline.yaml").status().code(), StatusCode::kNotFound);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace impulse
