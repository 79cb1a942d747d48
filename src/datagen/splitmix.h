// The deterministic generators' random streams (Nexmark, YSB): splitmix64 seeded from
// (seed, salt, stream id). Tiny state, a few ns per draw; a fresh stream per event is what makes
// every event reproducible alone. Distinct salts keep a generator's streams independent.
#pragma once

#include <cstdint>

namespace impulse::datagen {

// splitmix64's output function: a bijective 64-bit mixer with good avalanche.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class SplitMixStream {
 public:
  SplitMixStream(uint64_t seed, uint64_t salt, uint64_t stream)
      : state_(Mix64(Mix64(seed ^ salt) + stream * kGolden)) {}

  uint64_t Next() {
    state_ += kGolden;
    return Mix64(state_);
  }
  // Uniform in [0, n), n >= 1 (multiply-shift on the high 32 bits: no division, bias < n / 2^32).
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }
  // Uniform enough in [0, n), n >= 1 (modulo bias < n / 2^64, negligible for the generators' n).
  uint64_t Below64(uint64_t n) { return Next() % n; }
  // Uniform in [0, 1).
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  static constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
  uint64_t state_;
};

}  // namespace impulse::datagen
