// Reading a stream back through Engine::ReadEvents, for the commands that check what the
// engine wrote (demo, nexmark).
#pragma once

#include <cstdint>
#include <string>

#include "impulse/engine.h"

namespace impulse::runtime {

// The events (not watermark markers) of every partition of `stream`; their NDJSON lines are
// appended to `ndjson` unless it is null. Offsets of pipeline-written streams are not dense, so
// each read continues after the last event's "_offset".
uint64_t ReadBackEvents(const Engine& engine, const std::string& stream, std::string* ndjson);

}  // namespace impulse::runtime
