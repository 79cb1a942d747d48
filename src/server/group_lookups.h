// Lookups across a group of instances (docs/SCALE_OUT.md, "Lookups"): an instance of a group runs
// some partitions; what it does not hold is asked of the instances that do. The Router calls this
// instead of the engine for the feature and decision routes when HttpServerOptions::group_lookups
// is set. `forwarded` is set for a request another instance sent: the value of its header
// Impulse-Forwarded, the partitions that instance expects this one to run ("0,2"). Such a request
// is answered from this instance's partitions only, never forwarded again (no loops), and refused
// (kUnavailable) when this instance does not run every partition it names (it moved meanwhile):
// a not-found from an instance that does not hold the partition would be a wrong answer.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/status.h"

namespace impulse::server {

// The request header that marks a forwarded lookup.
inline constexpr std::string_view kForwardedHeader = "Impulse-Forwarded";

class GroupLookups {
 public:
  virtual ~GroupLookups() = default;
  // As Engine::LookupFeatures, over the whole group.
  virtual Status LookupFeatures(std::string_view view, const std::vector<std::string_view>& entities,
                                const std::optional<std::string>& forwarded, std::string* out, size_t* found) = 0;
  // As DecisionIndexSet::Lookup, over the whole group: the records of `event_id` in decision log
  // `stream`, appended to `out` comma-separated; kNotFound with the reason.
  virtual Result<size_t> LookupDecisions(std::string_view stream, std::string_view event_id,
                                         const std::optional<std::string>& forwarded, std::string* out) = 0;
};

}  // namespace impulse::server
