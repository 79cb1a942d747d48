// The personalization example's served ranker file, for the tests that score its rows
// independently of the engine.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>

namespace impulse::shop {

// `repository`/ranker/<highest numeric version>/model.json: the version `version_policy:
// {latest: 1}` serves; "" when there is none.
inline std::string ServedRankerFile(const std::string& repository) {
  uint64_t best = 0;
  for (const auto& entry : std::filesystem::directory_iterator(repository + "/ranker")) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    best = std::max<uint64_t>(best, std::stoull(name));
  }
  return best == 0 ? "" : repository + "/ranker/" + std::to_string(best) + "/model.json";
}

}  // namespace impulse::shop
