// The engine's log: one line per event of note (start, stop, checkpoint, recovery, rebalance,
// an action's dead letters...) on stderr, at a level, as text for a terminal or as JSON lines
// for a log collector (`impulse run --log-level`, `--log-format`; docs/OPERATIONS.md, "Logs").
//
//   LogInfo("checkpoint", "checkpoint 12 written in 40 ms", {{"checkpoint", 12}, {"duration_ms", 40}});
//
// text:  impulse: checkpoint 12 written in 40 ms
//        (warn and error lines say "impulse: warning: ..." / "impulse: error: ...")
// json:  {"ts":"2026-01-02T03:04:05.678Z","level":"info","event":"checkpoint",
//         "message":"checkpoint 12 written in 40 ms","checkpoint":12,"duration_ms":40}
// A text line carries the message alone (it names what the fields hold); a JSON line carries
// the fields too, under their own keys. Thread-safe: a line is written whole, in one call.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace impulse {

enum class LogLevel : uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat : uint8_t { kText, kJson };

// One named value of a log line: a JSON string, number or boolean.
struct LogField {
  enum class Kind : uint8_t { kString, kNumber, kBool };
  LogField(std::string_view k, std::string_view v) : key(k), value(v), kind(Kind::kString) {}
  LogField(std::string_view k, const char* v) : key(k), value(v == nullptr ? "" : v), kind(Kind::kString) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v), kind(Kind::kString) {}
  LogField(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), kind(Kind::kBool) {}
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) LogField(std::string_view k, T v)
      : key(k), value(std::to_string(v)), kind(Kind::kNumber) {}
  // Non-finite values have no JSON number: written as the strings "nan", "inf", "-inf".
  LogField(std::string_view k, double v);

  std::string_view key;
  std::string value;
  Kind kind;
};

// "debug", "info", "warn" (or "warning"), "error"; false for anything else.
bool ParseLogLevel(std::string_view s, LogLevel* out);
// "text", "json"; false for anything else.
bool ParseLogFormat(std::string_view s, LogFormat* out);
const char* LogLevelName(LogLevel level);

// The process-wide settings: lines below `min_level` are dropped; the default is info, text,
// stderr. `out` must outlive every later log call.
void ConfigureLog(LogLevel min_level, LogFormat format, FILE* out = stderr);
bool LogEnabled(LogLevel level);

// The line Log writes, without writing it (newline included). `ts_ms`: Unix time in ms.
std::string FormatLogLine(LogFormat format, int64_t ts_ms, LogLevel level, std::string_view event,
                          std::string_view message, std::initializer_list<LogField> fields);

// `event` names the kind of line for a machine ("start", "checkpoint", "dead_letter", ...),
// `message` says it for a person.
void Log(LogLevel level, std::string_view event, std::string_view message, std::initializer_list<LogField> fields = {});
inline void LogDebug(std::string_view event, std::string_view message, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kDebug, event, message, fields);
}
inline void LogInfo(std::string_view event, std::string_view message, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, event, message, fields);
}
inline void LogWarn(std::string_view event, std::string_view message, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarn, event, message, fields);
}
inline void LogError(std::string_view event, std::string_view message, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, event, message, fields);
}

}  // namespace impulse
