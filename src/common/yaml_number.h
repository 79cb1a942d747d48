// The one reader of numbers from YAML scalars, shared by the pipeline spec (src/spec) and the
// model repository's config.yaml (src/model), so both accept and refuse the same spellings.
// Pure functions. Links yaml-cpp (library impulse_yaml_number).
#pragma once

#include <cstdint>
#include <string_view>

#include "impulse/status.h"

namespace YAML {  // NOLINT(readability-identifier-naming): yaml-cpp's namespace
class Node;
}  // namespace YAML

namespace impulse {

// An integer in [lo, hi]: the whole scalar is decimal digits with an optional leading '-'
// (ReadYamlUint: no sign). Refused with kInvalidArgument: a node that is not a scalar, an empty
// scalar, a fraction or exponent ("1.5", "1e3"), a '+' sign, spaces, hex, "true", anything
// after the digits, and values outside [lo, hi] or outside the type. The message names `key`:
// "expected an integer in [lo, hi] for <key>".
Result<int64_t> ReadYamlInt(const YAML::Node& n, std::string_view key, int64_t lo, int64_t hi);
Result<uint64_t> ReadYamlUint(const YAML::Node& n, std::string_view key, uint64_t lo, uint64_t hi);

// A finite number in [lo, hi]: decimal with an optional leading '-', fraction and exponent
// ("2", "0.25", "-1e-3"). Refused with kInvalidArgument: a node that is not a scalar, NaN and
// infinities in any spelling (".nan", "inf"), hex, a '+' sign, spaces, trailing text, values
// outside [lo, hi]. The message names `key`: "expected a number in [lo, hi] for <key>".
Result<double> ReadYamlDouble(const YAML::Node& n, std::string_view key, double lo, double hi);

}  // namespace impulse
