// The MANIFEST of a checkpoint: encoding and decoding (format: docs/CHECKPOINT_FORMAT.md).
// A versioned, line-oriented text file whose last line is the CRC32C of everything before it,
// so a torn or bit-flipped manifest is detected. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

#include "checkpoint/checkpoint_store.h"

namespace impulse::checkpoint {

inline constexpr int kManifestVersion = 1;
inline constexpr const char* kManifestName = "MANIFEST";

// kInvalidArgument if the manifest breaks a limit (checkpoint_store.h) or has an empty or
// over-long name; kResourceExhausted if the encoding exceeds kManifestBytesMax.
Result<std::string> EncodeManifest(const CheckpointManifest& manifest);
// kDataLoss for anything that is not a valid version-1 manifest (reason in the message).
Result<CheckpointManifest> DecodeManifest(std::string_view data);

// Whether `name` may be a state file name (plain, not MANIFEST, within kFileNameBytesMax).
bool ValidStateFileName(std::string_view name);

}  // namespace impulse::checkpoint
