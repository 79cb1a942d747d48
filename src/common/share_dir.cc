#include "common/share_dir.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace impulse {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSourceDirKey = "CMAKE_HOME_DIRECTORY:INTERNAL=";

// The source tree of the build the binary sits in: the nearest ancestor holding CMakeCache.txt
// names it. Only a build tree has one, so an installed binary never looks outside its prefix.
fs::path BuildSourceDir(const fs::path& exe_dir) {
  std::error_code ec;
  for (fs::path dir = exe_dir; !dir.empty(); dir = dir.parent_path()) {
    const fs::path cache = dir / "CMakeCache.txt";
    if (fs::is_regular_file(cache, ec)) {
      // Only this project's build: another project's build tree must not lend its source tree.
      std::ifstream in(cache);
      std::string line;
      fs::path source;
      bool ours = false;
      while (std::getline(in, line)) {
        if (line.rfind(kSourceDirKey, 0) == 0) source = line.substr(kSourceDirKey.size());
        if (line == "CMAKE_PROJECT_NAME:STATIC=impulse") ours = true;
      }
      return ours ? source : fs::path();
    }
    if (dir == dir.root_path()) break;
  }
  return {};
}

}  // namespace

Result<std::string> FindSharedFile(std::string_view relative) {
  const fs::path rel{std::string(relative)};
  std::error_code ec;
  if (const char* env = std::getenv("IMPULSE_SHARE_DIR"); env != nullptr && *env != '\0') {
    const fs::path p = fs::path(env) / rel;
    if (fs::exists(p, ec)) return fs::absolute(p, ec).string();
    return NotFound("'" + rel.string() + "' is not under IMPULSE_SHARE_DIR=" + env);
  }
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return NotFound("'" + rel.string() + "': cannot read /proc/self/exe: " + ec.message());
  const fs::path installed = exe.parent_path().parent_path() / "share" / "impulse" / rel;
  if (fs::exists(installed, ec)) return installed.string();
  std::string looked = installed.string();
  if (const fs::path source = BuildSourceDir(exe.parent_path()); !source.empty()) {
    const fs::path p = source / rel;
    if (fs::exists(p, ec)) return p.string();
    looked += " and " + p.string();
  }
  return NotFound("'" + rel.string() + "' not found: looked in " + looked +
                  " (set IMPULSE_SHARE_DIR or pass the path)");
}

}  // namespace impulse
