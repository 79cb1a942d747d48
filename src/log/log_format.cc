#include "log/log_format.h"

#include <cstdio>
#include <cstring>

#include "common/crc32c.h"

namespace impulse::log {

std::string SegmentFileName(uint64_t base_offset) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu.log", static_cast<unsigned long long>(base_offset));
  return buf;
}

std::optional<uint64_t> ParseSegmentFileName(std::string_view name) {
  if (name.size() != kSegmentNameDigits + kSegmentSuffix.size()) return std::nullopt;
  if (name.substr(kSegmentNameDigits) != kSegmentSuffix) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < kSegmentNameDigits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;  // 20 digits can overflow u64
    v = v * 10 + d;
  }
  return v;
}

void EncodeSegmentHeader(uint64_t base_offset, char out[kSegmentHeaderBytes]) {
  std::memset(out, 0, kSegmentHeaderBytes);
  std::memcpy(out, kSegmentMagic, sizeof(kSegmentMagic));
  EncodeFixed32(out + 8, kFormatVersion);
  EncodeFixed64(out + 16, base_offset);
  EncodeFixed32(out + 24, Crc32c(out, 24));
}

std::optional<uint64_t> DecodeSegmentHeader(const char* in, std::string* why) {
  if (std::memcmp(in, kSegmentMagic, sizeof(kSegmentMagic)) != 0) {
    *why = "bad segment magic";
    return std::nullopt;
  }
  if (DecodeFixed32(in + 24) != Crc32c(in, 24)) {
    *why = "segment header checksum mismatch";
    return std::nullopt;
  }
  const uint32_t version = DecodeFixed32(in + 8);
  if (version != kFormatVersion) {
    *why = "unsupported segment format version " + std::to_string(version);
    return std::nullopt;
  }
  return DecodeFixed64(in + 16);
}

void EncodeFrameHeader(std::string_view payload, int64_t timestamp_ms, char* out) {
  EncodeFixed32(out, static_cast<uint32_t>(payload.size()));
  EncodeFixed64(out + 8, static_cast<uint64_t>(timestamp_ms));
  const uint32_t crc = Crc32c(payload.data(), payload.size(), Crc32c(out + 8, 8));
  EncodeFixed32(out + 4, crc);
}

FrameHeader DecodeFrameHeader(const char* in) {
  return FrameHeader{DecodeFixed32(in), DecodeFixed32(in + 4), static_cast<int64_t>(DecodeFixed64(in + 8))};
}

bool FrameCrcMatches(const char* frame, const FrameHeader& h) {
  return Crc32c(frame + 8, 8 + static_cast<size_t>(h.payload_bytes)) == h.crc;
}

}  // namespace impulse::log
