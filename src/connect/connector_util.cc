// Pieces every connector uses (connector_util.h).
#include "connect/connector_util.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/logger.h"

namespace impulse::connect {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

Result<std::string> ResolveEnv(const std::string& what, const std::string& value, std::string* unset) {
  if (value.rfind("${env:", 0) != 0) return value;
  const std::string name = value.substr(6, value.size() - 7);
  const char* v = std::getenv(name.c_str());
  if (v != nullptr) return std::string(v);
  if (unset == nullptr) return FailedPrecondition(what + ": environment variable " + name + " is not set");
  *unset += (unset->empty() ? "" : ", ") + name;
  return std::string();
}

void AppendValueLine(const char* value, size_t len, size_t max_line_bytes, std::string* ndjson) {
  bool blank = true;
  for (size_t i = 0; value != nullptr && i < len && blank; ++i) {
    blank = value[i] == ' ' || value[i] == '\t' || value[i] == '\n' || value[i] == '\r';
  }
  if (value == nullptr || blank) {
    ndjson->append("null\n");
    return;
  }
  len = std::min(len, max_line_bytes + 1);
  const size_t at = ndjson->size();
  ndjson->append(value, len);
  bool in_string = false;
  bool escaped = false;
  for (size_t i = at; i < ndjson->size(); ++i) {
    char& c = (*ndjson)[i];
    if (escaped) {
      escaped = false;
    } else if (in_string && c == '\\') {
      escaped = true;
    } else if (c == '"') {
      in_string = !in_string;
    }
    if (c == '\n' || c == '\r') c = in_string ? '\x01' : ' ';
  }
  ndjson->push_back('\n');
}

void Notes::Say(const std::string& what, std::atomic<uint64_t>* counter) {
  counter->fetch_add(1, std::memory_order_relaxed);
  const int64_t now = WallMs();
  if (now - last_ms_ < 1000) {
    ++suppressed_;
    return;
  }
  last_ms_ = now;
  LogWarn("connector", prefix_ + ": " + what, {{"connector", prefix_}, {"note", what}, {"suppressed", suppressed_}});
  suppressed_ = 0;
}

bool AppendWithRetry(Host* host, uint32_t stream, uint32_t partition, const RowBatch& rows, std::vector<BadLine>* bad,
                     std::string_view trailer, uint64_t* end, const std::atomic<bool>& stop,
                     const std::function<void(const Status&)>& on_error) {
  int64_t backoff = 1;
  while (true) {
    Status st = host->AppendSourceBatch(stream, partition, rows, bad, trailer, end);
    if (st.ok()) return true;
    if (st.code() == StatusCode::kFailedPrecondition || stop.load(std::memory_order_acquire)) return false;
    if (st.code() != StatusCode::kUnavailable) on_error(st);
    SleepMs(backoff);
    backoff = std::min<int64_t>(backoff * 2, st.code() == StatusCode::kUnavailable ? 50 : 1000);
  }
}

}  // namespace impulse::connect
