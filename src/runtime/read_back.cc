#include "runtime/read_back.h"

#include <algorithm>
#include <cstdlib>

namespace impulse::runtime {

uint64_t ReadBackEvents(const Engine& engine, const std::string& stream, std::string* ndjson) {
  uint64_t n = 0;
  for (const StreamInfo& s : engine.ListStreams()) {
    if (s.name != stream) continue;
    for (const PartitionInfo& p : s.partitions) {
      uint64_t from = p.start_offset;
      std::string out;
      while (from < p.end_offset) {
        out.clear();
        if (!engine.ReadEvents(stream, p.partition, from, 100'000, &out).ok() || out.empty()) break;
        n += static_cast<uint64_t>(std::count(out.begin(), out.end(), '\n'));
        // ReadEvents skips watermark markers: continue after the last event's offset.
        const size_t last = out.rfind('\n', out.size() - 2);
        const size_t at = out.find("\"_offset\":", last == std::string::npos ? 0 : last + 1);
        if (ndjson != nullptr) ndjson->append(out);
        if (at == std::string::npos) break;
        from = std::strtoull(out.c_str() + at + 10, nullptr, 10) + 1;
      }
    }
  }
  return n;
}

}  // namespace impulse::runtime
