// "Did you mean" suggestions for misspelt names in specs and expressions. Load time only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace impulse {

// Edit distance (insertions, deletions, substitutions, transpositions of neighbours), capped at `cap` + 1 (names are
// short; inputs are truncated to 256).
size_t EditDistance(std::string_view a, std::string_view b, size_t cap = 8);

// Returns " (did you mean 'x'?)" for the closest candidate within a distance of
// max(1, |name| / 3) (at most 3), or "" when none is close.
std::string DidYouMean(std::string_view name, const std::vector<std::string_view>& candidates);

}  // namespace impulse
