#include "common/crc32c.h"

#include <boost/crc.hpp>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace impulse {
namespace {

using Fn = uint32_t (*)(const void*, size_t, uint32_t);

std::vector<std::pair<const char*, Fn>> Implementations() {
  std::vector<std::pair<const char*, Fn>> impls = {{"software", &crc32c_internal::Software}};
  if (crc32c_internal::HardwareAvailable()) impls.emplace_back("hardware", &crc32c_internal::Hardware);
  impls.emplace_back("dispatch", &Crc32c);
  return impls;
}

TEST(Crc32c, KnownVectors) {
  // RFC 3720 (iSCSI) appendix B.4 vectors plus the standard check value.
  std::string zeros(32, '\0'), ones(32, '\xff'), inc(32, '\0'), dec(32, '\0');
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<char>(i);
    dec[i] = static_cast<char>(31 - i);
  }
  for (auto [name, fn] : Implementations()) {
    SCOPED_TRACE(name);
    EXPECT_EQ(fn("123456789", 9, 0), 0xE3069283u);
    EXPECT_EQ(fn("", 0, 0), 0u);
    EXPECT_EQ(fn(zeros.data(), zeros.size(), 0), 0x8A9136AAu);
    EXPECT_EQ(fn(ones.data(), ones.size(), 0), 0x62A8AB43u);
    EXPECT_EQ(fn(inc.data(), inc.size(), 0), 0x46DD794Eu);
    EXPECT_EQ(fn(dec.data(), dec.size(), 0), 0x113FDB5Cu);
  }
}

TEST(Crc32c, ExtendEqualsWhole) {
  const std::string s = "hello, durable event log with a few more bytes";
  for (auto [name, fn] : Implementations()) {
    SCOPED_TRACE(name);
    for (size_t cut = 0; cut <= s.size(); ++cut) {
      EXPECT_EQ(fn(s.data() + cut, s.size() - cut, fn(s.data(), cut, 0)), fn(s.data(), s.size(), 0));
    }
  }
}

TEST(Crc32c, MatchesBoostOnRandomData) {
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 300; ++iter) {
    const size_t n = rng() % 2000;
    const size_t skew = rng() % 8;  // unaligned starts
    std::vector<unsigned char> buf(n + skew);
    for (auto& b : buf) b = static_cast<unsigned char>(rng());
    boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> oracle;
    oracle.process_bytes(buf.data() + skew, n);
    for (auto [name, fn] : Implementations()) {
      SCOPED_TRACE(name);
      ASSERT_EQ(fn(buf.data() + skew, n, 0), oracle.checksum()) << "n=" << n;
    }
  }
}

}  // namespace
}  // namespace impulse
