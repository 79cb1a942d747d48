// Fixed-width little-endian (host order: checkpoints are read by the same build on the same
// machine type) integers for small state files: append, and read from the front of a view.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace impulse {

inline void PutI64(int64_t v, std::string* out) { out->append(reinterpret_cast<const char*>(&v), sizeof(v)); }

// False (and *in unchanged) when fewer than 8 bytes are left.
inline bool GetI64(std::string_view* in, int64_t* v) {
  if (in->size() < sizeof(*v)) return false;
  std::memcpy(v, in->data(), sizeof(*v));
  in->remove_prefix(sizeof(*v));
  return true;
}

}  // namespace impulse
