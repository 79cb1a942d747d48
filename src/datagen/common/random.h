// Rng: the simulators' random numbers (fraud, shop), specified bit for bit (same output on every platform and
// standard library version), because std::normal_distribution / poisson_distribution are not.
// Input: a 64-bit seed. Output: draws from std::mt19937_64's raw 64-bit output (which the C++
// standard fixes exactly) through the formulas below. Not thread-safe; one Rng per stream.
// The transcendental functions (log, cos, exp, sqrt) come from libm; glibc rounds them
// correctly in practice, so outputs agree across machines, but the standard does not promise it.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace impulse::datagen {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // Derives independent stream seeds from one user seed (SplitMix64 finaliser of seed + stream).
  static uint64_t StreamSeed(uint64_t seed, uint64_t stream) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  uint64_t Next() { return engine_(); }

  // Uniform in [0, 1): the top 53 bits of one engine output.
  double Uniform01() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform in [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform01(); }

  // Uniform integer in [0, n), n > 0, unbiased by rejection of the top partial range.
  uint64_t UniformInt(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // a multiple of n
    uint64_t x = Next();
    while (x >= limit) x = Next();
    return x % n;
  }

  // Normal(mean, stddev) by Box-Muller: two uniforms per draw, the sine half is discarded so
  // every draw consumes exactly two engine outputs.
  double Normal(double mean, double stddev) {
    const double u1 = 1.0 - Uniform01();  // (0, 1]: log is finite
    const double u2 = Uniform01();
    return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

  // Poisson(lambda) by Knuth's multiplication method: exact, O(lambda) uniforms per draw; meant
  // for small lambda (the simulator's is at most 4). lambda <= 0 gives 0. Capped at 1000
  // draws so a huge lambda cannot spin (callers bound lambda far below that).
  uint32_t Poisson(double lambda) {
    if (!(lambda > 0)) return 0;
    const double limit = std::exp(-lambda);
    double p = 1.0;
    uint32_t k = 0;
    while (k < 1000) {
      p *= Uniform01();
      if (p <= limit) break;
      ++k;
    }
    return k;
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace impulse::datagen
