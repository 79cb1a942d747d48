// NDJSON form of Nexmark events: one JSON object per event with a "kind" member ("person",
// "auction", "bid") first, then the event's fields in snake_case; timestamps as ISO-8601 UTC
// strings with milliseconds. The schema of each kind is in docs/NEXMARK.md and matches the
// streams of bench/nexmark/streams.yaml. Pure functions, safe from any thread.
#pragma once

#include <string>

#include "datagen/nexmark/generator.h"

namespace impulse::nexmark {

// Appends one JSON object for `event` to `out`, without a trailing newline. Allocates only
// when `out` must grow (reuse it across calls).
void AppendEventJson(const Event& event, std::string* out);

}  // namespace impulse::nexmark
