#include "common/suggest.h"

#include <algorithm>

namespace impulse {

size_t EditDistance(std::string_view a, std::string_view b, size_t cap) {
  a = a.substr(0, 256);
  b = b.substr(0, 256);
  if (a.size() > b.size() + cap || b.size() > a.size() + cap) return cap + 1;
  // Three rows: a transposition of neighbours ("yse" for "yes") looks two rows back.
  std::vector<size_t> prev2(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return std::min(prev[b.size()], cap + 1);
}

std::string DidYouMean(std::string_view name, const std::vector<std::string_view>& candidates) {
  size_t limit = std::min<size_t>(3, std::max<size_t>(1, name.size() / 3));
  size_t best = limit + 1;
  std::string_view best_name;
  for (std::string_view c : candidates) {
    size_t d = EditDistance(name, c, limit);
    if (d < best) {
      best = d;
      best_name = c;
    }
  }
  if (best_name.empty()) return "";
  return " (did you mean '" + std::string(best_name) + "'?)";
}

}  // namespace impulse
