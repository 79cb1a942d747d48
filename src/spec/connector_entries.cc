// What the `kafka:` and `nats:` sections of the spec read alike (spec/internal.h).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spec/internal.h"

namespace impulse::plan::spec_internal {

bool ReadText(const YAML::Node& n, const std::string& what, Diagnostics* d, std::string* out) {
  if (!n.IsScalar() || n.Scalar().empty()) {
    d->Add(Diagnostics::LocOf(n), "expected a non-empty string for " + what);
    return false;
  }
  *out = n.Scalar();
  return true;
}

const YAML::Node* ConnectorEntry(const YAML::Node& entry, const std::string& what,
                                 std::initializer_list<std::string_view> keys, Diagnostics* d,
                                 std::vector<std::pair<std::string, YAML::Node>>* fields) {
  if (!Entries(entry, "a " + what, keys, d, fields)) return nullptr;
  const YAML::Node* stream = Get(*fields, "stream");
  if (stream == nullptr) d->Add(Diagnostics::LocOf(entry), "a " + what + " needs 'stream'");
  return stream;
}

const StreamDef* ConnectorStream(const YAML::Node& n, const std::string& what, const LogicalPlan& plan, Diagnostics* d,
                                 std::string* name) {
  if (!ReadText(n, what, d, name)) return nullptr;
  const StreamDef* s = plan.FindStream(*name);
  if (s == nullptr) d->Add(Diagnostics::LocOf(n), what + ": unknown stream '" + *name + "'");
  return s;
}

}  // namespace impulse::plan::spec_internal
