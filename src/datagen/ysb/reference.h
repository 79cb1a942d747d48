// Reference result of the Yahoo Streaming Benchmark query, by brute force over the generated
// events (the oracle of the engine's bench/ysb/ysb.yaml): per campaign and tumbling window, the
// number of `view` events of the campaign's ads.
#pragma once

#include <compare>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "datagen/ysb/generator.h"

namespace impulse::ysb {

// One row of the query's output (bench/ysb/ysb.yaml, stream ysb_out).
struct WindowCount {
  std::string campaign_id;
  int64_t window_start = 0;  // ms since the Unix epoch; the window is [window_start, window_end)
  int64_t window_end = 0;
  int64_t views = 0;
  auto operator<=>(const WindowCount&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misfires here
};
std::ostream& operator<<(std::ostream& os, const WindowCount& row);

// The counts of events [0, events) in windows of window_ms aligned to the epoch, sorted by
// (campaign_id, window_start). Only non-zero counts (a window without views has no row, as in
// the engine). Joins through a map from ad id string to campaign id string built from the
// generator's table, not through AdEvent::ad_index, so a wrong table would show.
std::vector<WindowCount> ViewsPerCampaignWindow(const Generator& gen, uint64_t events, int64_t window_ms);

}  // namespace impulse::ysb
