// Helpers shared by the engine tests: a stream read back whole as NDJSON lines.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "impulse/engine.h"

namespace impulse::testing_util {

// Every event of `stream`, partition by partition, as Engine::ReadEvents' NDJSON lines
// ("_offset", "_partition", "_event_time", then the fields).
inline std::vector<std::string> ReadAllEvents(const Engine& e, const std::string& stream) {
  std::vector<std::string> lines;
  for (const StreamInfo& s : e.ListStreams()) {
    if (s.name != stream) continue;
    for (const PartitionInfo& p : s.partitions) {
      std::string out;
      EXPECT_TRUE(e.ReadEvents(stream, p.partition, p.start_offset, 10'000'000, &out).ok());
      size_t start = 0;
      while (start < out.size()) {
        size_t nl = out.find('\n', start);
        if (nl == std::string::npos) nl = out.size();
        lines.push_back(out.substr(start, nl - start));
        start = nl + 1;
      }
    }
  }
  return lines;
}

}  // namespace impulse::testing_util
