// `impulse demo personalization`: the personalization example's evaluation on a shop
// simulation (docs/SHOP_SIMULATOR.md): hit rate and NDCG at 10 of the next click and the next
// purchase on held-out days, per recommendation source: the engine's ranker (rank.yaml, backfilled
// in process), the popularity baselines and recorded lists (examples/personalization/README.md).
#pragma once

#include <string>
#include <vector>

namespace impulse::examples {

// Returns the process exit code: 0 when the evaluation ran, 2 for bad arguments, 1 on an error.
int PersonalizationDemoCommand(const std::vector<std::string>& args);

}  // namespace impulse::examples
