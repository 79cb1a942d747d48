// Online feature lookups (docs/FEATURES.md).
#include "runtime/engine_impl.h"

namespace impulse::runtime {

// Not wired yet: feature views are being added (issue 4).
Status EngineImpl::LookupFeatures(std::string_view view, const std::vector<std::string_view>&, std::string*,
                                  size_t*) const {
  return NotFound("unknown feature view '" + std::string(view) + "'");
}

std::vector<std::string> EngineImpl::FeatureViews() const { return {}; }

}  // namespace impulse::runtime
