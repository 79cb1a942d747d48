// The one integer codec of the on-disk and checkpoint formats: fixed-width little-endian
// integers and unsigned LEB128 varints. Every format (log frames, row payloads, state
// snapshots, aggregate and operator checkpoints) encodes its integers through these, so the
// byte order is written down once. Encoders append to a caller-owned string (or write into a
// buffer the caller sized); readers take bytes from the front of a view, never read past it,
// and return false (with *in unchanged) on truncated or malformed input.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace impulse {

// Raw buffers: p must have room for 4 (8) bytes. On a little-endian host the bytes are the
// integer's own, so a memcpy (one load or store) does it; g++ 12 does not merge the portable
// byte loop into one, and these run several times per row on the hot path.
inline void EncodeFixed32(char* p, uint32_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, 4);
  } else {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
  }
}
inline void EncodeFixed64(char* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, 8);
  } else {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
  }
}
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, 4);
  } else {
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  }
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, 8);
  } else {
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  }
  return v;
}

inline void PutFixed32(uint32_t v, std::string* out) {
  char b[4];
  EncodeFixed32(b, v);
  out->append(b, 4);
}
inline void PutFixed64(uint64_t v, std::string* out) {
  char b[8];
  EncodeFixed64(b, v);
  out->append(b, 8);
}
inline void PutI64(int64_t v, std::string* out) { PutFixed64(static_cast<uint64_t>(v), out); }

inline bool GetFixed32(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  *v = DecodeFixed32(in->data());
  in->remove_prefix(4);
  return true;
}
inline bool GetFixed64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = DecodeFixed64(in->data());
  in->remove_prefix(8);
  return true;
}
inline bool GetI64(std::string_view* in, int64_t* v) {
  uint64_t x;
  if (!GetFixed64(in, &x)) return false;
  *v = static_cast<int64_t>(x);
  return true;
}

// Unsigned LEB128: 7 bits a byte, low groups first, high bit set on all but the last byte;
// 1 to 10 bytes for a uint64_t.
constexpr size_t kMaxVarint64Bytes = 10;

inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
inline void PutVarint64(uint64_t v, std::string* out) {
  char b[kMaxVarint64Bytes];
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  out->append(b, n);
}
// Reads a varint of at most `max_bytes` bytes (10 for any uint64_t; a format may bound a
// length to fewer, 5 for a uint32_t). False on truncation or when no terminating byte comes
// within max_bytes; bits above 64 in a 10th byte are dropped.
inline bool GetVarint64(std::string_view* in, uint64_t* v, size_t max_bytes = kMaxVarint64Bytes) {
  uint64_t x = 0;
  const size_t limit = max_bytes < kMaxVarint64Bytes ? max_bytes : kMaxVarint64Bytes;
  for (size_t i = 0; i < limit && i < in->size(); ++i) {
    const auto b = static_cast<uint8_t>((*in)[i]);
    x |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      *v = x;
      in->remove_prefix(i + 1);
      return true;
    }
  }
  return false;
}

}  // namespace impulse
