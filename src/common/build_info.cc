#include "common/build_info.h"

#include <string>

namespace impulse {

std::string VersionLine() {
  std::string line = "impulse " IMPULSE_VERSION " (";
  const std::string commit = BuildCommit();
  if (commit.empty()) return line + "unknown commit)";
  // 12 hex digits: unique in this repository for years, short enough to read aloud.
  line += "commit " + commit.substr(0, 12);
  if (BuildTreeDirty()) line += " with uncommitted changes";
  return line + ")";
}

}  // namespace impulse
