// Tests only: a model repository (or any tree of files) in a fresh temporary directory,
// removed with the object. Shared by the repository, format, predict and route tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace impulse::model {

class TestRepoDir {
 public:
  TestRepoDir() {
    char tmpl[] = "/tmp/impulse_model_repo_XXXXXX";
    dir_ = mkdtemp(tmpl) != nullptr ? tmpl : "";
  }
  ~TestRepoDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TestRepoDir(const TestRepoDir&) = delete;
  TestRepoDir& operator=(const TestRepoDir&) = delete;

  const std::string& dir() const { return dir_; }
  // Writes `text` to dir/rel, creating the parent directories.
  void Write(const std::string& rel, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(dir_ + "/" + rel).parent_path());
    std::ofstream(dir_ + "/" + rel) << text;
  }
  void Copy(const std::string& from, const std::string& rel) const {
    std::filesystem::create_directories(std::filesystem::path(dir_ + "/" + rel).parent_path());
    std::filesystem::copy_file(from, dir_ + "/" + rel);
  }
  void Mkdir(const std::string& rel) const { std::filesystem::create_directories(dir_ + "/" + rel); }
  void Remove(const std::string& rel) const { std::filesystem::remove_all(dir_ + "/" + rel); }

 private:
  std::string dir_;
};

}  // namespace impulse::model
