#include "checkpoint/manifest.h"

#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace impulse::checkpoint {
namespace {

CheckpointManifest Sample() {
  CheckpointManifest m;
  m.id = 42;
  m.created_ms = 1'700'000'000'123;
  m.spec_fingerprint = "sha 1 %x\nz";  // spaces, percent and newline survive escaping
  m.positions = {{"cursor/p/in/0", 17}, {"end/out stream/3", UINT64_MAX}, {"file/p", 0}};
  m.files = {{"state-0", 123, 0xDEADBEEF}, {"ops%1", 0, 0}};
  m.pause_us = -5;
  return m;
}

TEST(Manifest, RoundTripsEveryField) {
  auto enc = EncodeManifest(Sample());
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  auto dec = DecodeManifest(*enc);
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  EXPECT_EQ(*dec, Sample());
}

TEST(Manifest, EmptyManifestRoundTrips) {
  CheckpointManifest m;
  m.id = 1;
  auto dec = DecodeManifest(*EncodeManifest(m));
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(*dec, m);
}

TEST(Manifest, EveryTruncationIsDetected) {
  const std::string enc = *EncodeManifest(Sample());
  for (size_t n = 0; n < enc.size(); ++n) {
    EXPECT_EQ(DecodeManifest(enc.substr(0, n)).status().code(), StatusCode::kDataLoss) << n;
  }
}

TEST(Manifest, EveryFlippedByteIsDetected) {
  const std::string enc = *EncodeManifest(Sample());
  for (size_t i = 0; i < enc.size(); ++i) {
    std::string bad = enc;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_CODE(DecodeManifest(bad), kDataLoss) << i;
  }
}

TEST(Manifest, OtherVersionIsRejected) {
  std::string enc = *EncodeManifest(Sample());
  enc.replace(enc.find(" 1\n"), 3, " 2\n");
  auto r = DecodeManifest(enc);
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);  // also the CRC no longer matches
}

TEST(Manifest, BadNamesAreInvalidArguments) {
  CheckpointManifest m = Sample();
  m.positions.push_back({"", 1});
  EXPECT_EQ(EncodeManifest(m).status().code(), StatusCode::kInvalidArgument);
  m = Sample();
  m.files.push_back({"a/b", 1, 1});
  EXPECT_EQ(EncodeManifest(m).status().code(), StatusCode::kInvalidArgument);
  m = Sample();
  m.positions.push_back({std::string(kPositionNameBytesMax + 1, 'x'), 1});
  EXPECT_EQ(EncodeManifest(m).status().code(), StatusCode::kInvalidArgument);
}

TEST(Manifest, StateFileNames) {
  EXPECT_TRUE(ValidStateFileName("op-3.state"));
  EXPECT_FALSE(ValidStateFileName(""));
  EXPECT_FALSE(ValidStateFileName("."));
  EXPECT_FALSE(ValidStateFileName(".."));
  EXPECT_FALSE(ValidStateFileName("MANIFEST"));
  EXPECT_FALSE(ValidStateFileName("a/b"));
  EXPECT_FALSE(ValidStateFileName(std::string(kFileNameBytesMax + 1, 'x')));
}

}  // namespace
}  // namespace impulse::checkpoint
