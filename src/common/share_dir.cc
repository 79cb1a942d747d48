#include "common/share_dir.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace impulse {

namespace fs = std::filesystem;

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
  std::string looked;
  const fs::path installed = exe.parent_path().parent_path() / "share" / "impulse" / rel;
  if (fs::exists(installed, ec)) return installed.string();
  looked = installed.string();
  for (fs::path dir = exe.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    const fs::path p = dir / rel;
    if (fs::exists(p, ec)) return p.string();
    if (dir == dir.root_path()) break;
  }
  return NotFound("'" + rel.string() + "' not found: looked in " + looked + " and in the ancestors of " +
                  exe.parent_path().string() + " (set IMPULSE_SHARE_DIR or pass the path)");
}

}  // namespace impulse
