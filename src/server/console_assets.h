// The web console's static files (console/ in the source tree), compiled into the binary by
// cmake/embed_console.cmake: the console works offline and from a relocated install.
#pragma once

#include <span>
#include <string_view>

namespace impulse::server {

struct ConsoleAsset {
  std::string_view path;  // relative to console/, e.g. "index.html", "vendor/uplot/uPlot.esm.js"
  std::string_view data;
};

// Sorted by path.
std::span<const ConsoleAsset> ConsoleAssets();

}  // namespace impulse::server
