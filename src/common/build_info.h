// What a binary was built from: the project version and the git commit of the source tree,
// captured at build time (cmake/build_info.cmake), for `impulse --version` and bug reports.
#pragma once

#include <string>

namespace impulse {

// The full hash of the commit the binary was built from; empty when the source tree was not a
// git checkout (a source tarball) or git was not found.
const char* BuildCommit();
// Whether tracked files differed from BuildCommit() when the binary was built.
bool BuildTreeDirty();
// "impulse 0.1.0 (commit 0123456789ab)", "impulse 0.1.0 (commit 0123456789ab with uncommitted
// changes)" or "impulse 0.1.0 (unknown commit)". IMPULSE_VERSION is the project() version.
std::string VersionLine();

}  // namespace impulse
