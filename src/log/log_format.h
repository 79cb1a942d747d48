// The event log's on-disk format (docs/LOG_FORMAT.md is the normative description):
// segment file names, the 32-byte segment header and the 16-byte record frame header.
// All integers little-endian. Pure functions over byte buffers; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/fixed_codec.h"  // EncodeFixed32/64, DecodeFixed32/64

namespace impulse::log {

// Segment header: magic "IMPLSLOG", u32 version, u32 reserved (0), u64 base offset,
// u32 CRC32C of bytes [0, 24), u32 reserved (0).
inline constexpr size_t kSegmentHeaderBytes = 32;
inline constexpr char kSegmentMagic[8] = {'I', 'M', 'P', 'L', 'S', 'L', 'O', 'G'};
inline constexpr uint32_t kFormatVersion = 1;

// Frame: u32 payload length, u32 CRC32C of everything after it (timestamp + payload),
// i64 timestamp_ms, payload bytes.
inline constexpr size_t kFrameHeaderBytes = 16;
// The format's hard ceiling on one payload, whatever LogOptions say: a length above it is
// corruption, never an allocation request.
inline constexpr uint32_t kMaxPayloadBytesFormat = 1u << 30;

inline constexpr std::string_view kSegmentSuffix = ".log";
inline constexpr size_t kSegmentNameDigits = 20;

// "00000000000000001234.log"
std::string SegmentFileName(uint64_t base_offset);
// The base offset of a segment file name, or nullopt if `name` is not one.
std::optional<uint64_t> ParseSegmentFileName(std::string_view name);

void EncodeSegmentHeader(uint64_t base_offset, char out[kSegmentHeaderBytes]);
// Checks magic, version and CRC; nullopt with *why set when the header is invalid.
std::optional<uint64_t> DecodeSegmentHeader(const char* in, std::string* why);

struct FrameHeader {
  uint32_t payload_bytes;
  uint32_t crc;
  int64_t timestamp_ms;
};

// Writes the 16-byte header of a frame for `payload` into out[0, 16).
void EncodeFrameHeader(std::string_view payload, int64_t timestamp_ms, char* out);
FrameHeader DecodeFrameHeader(const char* in);
// CRC32C over the frame's timestamp and payload, the bytes after the CRC field.
// `frame` points at the frame start; the whole frame must be in memory.
bool FrameCrcMatches(const char* frame, const FrameHeader& h);

}  // namespace impulse::log
