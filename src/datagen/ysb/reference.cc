#include "datagen/ysb/reference.h"

#include <map>
#include <string_view>
#include <utility>

namespace impulse::ysb {

std::ostream& operator<<(std::ostream& os, const WindowCount& row) {
  return os << "{campaign_id " << row.campaign_id << ", window [" << row.window_start << ", " << row.window_end
            << "), views " << row.views << "}";
}

std::vector<WindowCount> ViewsPerCampaignWindow(const Generator& gen, uint64_t events, int64_t window_ms) {
  std::map<std::string_view, std::string_view> campaign_of_ad;
  for (uint32_t a = 0; a < gen.num_ads(); ++a) campaign_of_ad[gen.ad_id(a)] = gen.campaign_id(gen.CampaignOfAd(a));
  std::map<std::pair<std::string_view, int64_t>, int64_t> counts;
  AdEvent e;
  for (uint64_t i = 0; i < events; ++i) {
    gen.EventAt(i, &e);
    if (e.event_type != "view") continue;
    const int64_t start = e.event_time - (((e.event_time % window_ms) + window_ms) % window_ms);
    ++counts[{campaign_of_ad.at(e.ad_id), start}];
  }
  std::vector<WindowCount> out;
  out.reserve(counts.size());
  for (const auto& [key, n] : counts) {
    out.push_back({std::string(key.first), key.second, key.second + window_ms, n});
  }
  return out;
}

}  // namespace impulse::ysb
