// Helpers shared by the engine tests: an ingest waited for, a stream read back whole as NDJSON lines.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "impulse/engine.h"

namespace impulse::testing_util {

// What an Ingest call ended with: its status (a refusal at the call, or the callback's) and result.
struct IngestOutcome {
  Status status;
  IngestResult result;
};

// Calls Ingest and waits for its completion.
inline IngestOutcome IngestAndWait(Engine& e, std::string_view stream, std::string_view body, uint32_t producer = 0) {
  std::promise<IngestOutcome> done;
  auto fut = done.get_future();
  Status st = e.Ingest(stream, body, producer, [&](Status s, IngestResult r) {
    done.set_value({std::move(s), std::move(r)});
  });
  if (!st.ok()) return {st, {}};
  return fut.get();
}

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

// Polls `stream` until it holds `n` non-empty events or `ms` pass; the events seen.
inline std::vector<std::string> WaitForEvents(const Engine& e, const std::string& stream, size_t n, int ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  std::vector<std::string> got;
  while (true) {
    got.clear();
    for (const std::string& l : ReadAllEvents(e, stream)) {
      if (!l.empty()) got.push_back(l);
    }
    if (got.size() >= n || std::chrono::steady_clock::now() > deadline) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace impulse::testing_util
