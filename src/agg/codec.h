// Internal to src/agg: the checkpoint forms' bytes, doubles and length-prefixed strings, over
// the integers of common/fixed_codec.h. The readers never read past the input and return false
// on truncated or malformed bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/fixed_codec.h"

namespace impulse::agg::detail {

inline void PutU8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }
inline void PutBytes(std::string* out, std::string_view s) {
  PutVarint64(s.size(), out);
  out->append(s.data(), s.size());
}
inline void PutDouble(std::string* out, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  PutFixed64(bits, out);
}

inline bool GetU8(std::string_view* in, uint8_t* v) {
  if (in->empty()) return false;
  *v = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  return true;
}
inline bool GetDouble(std::string_view* in, double* d) {
  uint64_t x;
  if (!GetFixed64(in, &x)) return false;
  std::memcpy(d, &x, 8);
  return true;
}
// A length-prefixed byte string, as a view into *in.
inline bool GetBytes(std::string_view* in, std::string_view* s) {
  uint64_t n;
  if (!GetVarint64(in, &n) || n > in->size()) return false;
  *s = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

}  // namespace impulse::agg::detail
