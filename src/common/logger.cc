#include "common/logger.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <mutex>

#include "common/json_string.h"

namespace impulse {

namespace {

std::atomic<LogLevel> g_min_level{LogLevel::kInfo};
std::atomic<LogFormat> g_format{LogFormat::kText};
std::atomic<FILE*> g_out{nullptr};  // nullptr: stderr (not a constant expression here)
// Lines are built whole and written under this lock, so lines of concurrent threads never
// interleave even when `out` is a pipe read in pieces.
std::mutex g_write_mu;

void AppendTimestamp(int64_t ts_ms, std::string* out) {
  const time_t secs = static_cast<time_t>(ts_ms / 1000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  out->append(buf, n);
  std::snprintf(buf, sizeof buf, ".%03dZ", static_cast<int>(ts_ms % 1000));
  out->append(buf);
}

}  // namespace

LogField::LogField(std::string_view k, double v) : key(k), kind(Kind::kNumber) {
  if (std::isnan(v)) {
    value = "nan";
    kind = Kind::kString;
  } else if (std::isinf(v)) {
    value = v > 0 ? "inf" : "-inf";
    kind = Kind::kString;
  } else {
    // The shortest text that reads back as the same double: 0.8 rather than 0.80000000000000004.
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    value.assign(buf, r.ptr);
  }
}

bool ParseLogLevel(std::string_view s, LogLevel* out) {
  if (s == "debug") {
    *out = LogLevel::kDebug;
  } else if (s == "info") {
    *out = LogLevel::kInfo;
  } else if (s == "warn" || s == "warning") {
    *out = LogLevel::kWarn;
  } else if (s == "error") {
    *out = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

bool ParseLogFormat(std::string_view s, LogFormat* out) {
  if (s == "text") {
    *out = LogFormat::kText;
  } else if (s == "json") {
    *out = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

void ConfigureLog(LogLevel min_level, LogFormat format, FILE* out) {
  g_min_level.store(min_level, std::memory_order_relaxed);
  g_format.store(format, std::memory_order_relaxed);
  g_out.store(out, std::memory_order_release);
}

bool LogEnabled(LogLevel level) { return level >= g_min_level.load(std::memory_order_relaxed); }

std::string FormatLogLine(LogFormat format, int64_t ts_ms, LogLevel level, std::string_view event,
                          std::string_view message, std::initializer_list<LogField> fields) {
  std::string line;
  if (format == LogFormat::kText) {
    // The prefix every message of the binary has had, so scripts reading stderr keep working;
    // a line that asks for attention says so.
    line = "impulse: ";
    if (level == LogLevel::kWarn) line += "warning: ";
    if (level == LogLevel::kError) line += "error: ";
    if (level == LogLevel::kDebug) line += "debug: ";
    // One event, one line: a message holding a newline (an error text from a peer) stays on it,
    // and other control characters (a peer's terminal escapes) are shown as \xNN, not obeyed.
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : message) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '\n' || c == '\r') {
        line += ' ';
      } else if (u < 0x20 || u == 0x7f) {
        line += "\\x";
        line += kHex[u >> 4];
        line += kHex[u & 0xf];
      } else {
        line += c;
      }
    }
    line += '\n';
    return line;
  }
  line = "{\"ts\":\"";
  AppendTimestamp(ts_ms, &line);
  line += "\",\"level\":\"";
  line += LogLevelName(level);
  line += "\",\"event\":";
  AppendJsonString(event, &line);
  line += ",\"message\":";
  AppendJsonString(message, &line);
  for (const LogField& f : fields) {
    line += ',';
    AppendJsonString(f.key, &line);
    line += ':';
    if (f.kind == LogField::Kind::kString) {
      AppendJsonString(f.value, &line);
    } else {
      line += f.value;
    }
  }
  line += "}\n";
  return line;
}

void Log(LogLevel level, std::string_view event, std::string_view message, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string line =
      FormatLogLine(g_format.load(std::memory_order_relaxed), now_ms, level, event, message, fields);
  FILE* out = g_out.load(std::memory_order_acquire);
  if (out == nullptr) out = stderr;
  std::lock_guard<std::mutex> lock(g_write_mu);
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

}  // namespace impulse
