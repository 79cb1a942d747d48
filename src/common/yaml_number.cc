#include "common/yaml_number.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

namespace impulse {
namespace {

// Parses the whole of `s` as a T; false if anything is left over or out of T's range.
template <typename T>
bool ParseWhole(const std::string& s, T* v) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string Shortest(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

template <typename T>
Result<T> ReadInteger(const YAML::Node& n, std::string_view key, T lo, T hi) {
  T v = 0;
  if (!n.IsScalar() || !ParseWhole(n.Scalar(), &v) || v < lo || v > hi) {
    return InvalidArgument("expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "] for " +
                           std::string(key));
  }
  return v;
}

}  // namespace

Result<int64_t> ReadYamlInt(const YAML::Node& n, std::string_view key, int64_t lo, int64_t hi) {
  return ReadInteger<int64_t>(n, key, lo, hi);
}

Result<uint64_t> ReadYamlUint(const YAML::Node& n, std::string_view key, uint64_t lo, uint64_t hi) {
  // from_chars for an unsigned type refuses a '-' sign itself.
  return ReadInteger<uint64_t>(n, key, lo, hi);
}

Result<double> ReadYamlDouble(const YAML::Node& n, std::string_view key, double lo, double hi) {
  double v = 0;
  if (!n.IsScalar() || !ParseWhole(n.Scalar(), &v) || !std::isfinite(v) || v < lo || v > hi) {
    return InvalidArgument("expected a number in [" + Shortest(lo) + ", " + Shortest(hi) + "] for " + std::string(key));
  }
  return v;
}

}  // namespace impulse
