// Where the files the project ships beside its binaries (example specs and models, the Nexmark
// query specs) are found at run time, so that an installed binary finds them without paths
// compiled in from the source tree.
#pragma once

#include <string>
#include <string_view>

#include "impulse/status.h"

namespace impulse {

// The absolute path of `relative` (e.g. "examples/fraud/alerts.yaml"), looked up in order in:
//   1. $IMPULSE_SHARE_DIR, when set (and only there);
//   2. <directory of the running binary>/../share/impulse (the installed layout);
//   3. in a build tree (the nearest ancestor of the binary's directory holds CMakeCache.txt): the
//      source tree that build was configured from.
// kNotFound naming every place looked in.
Result<std::string> FindSharedFile(std::string_view relative);

}  // namespace impulse
