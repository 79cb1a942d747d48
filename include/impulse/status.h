// Status and Result<T>: errors are values. Operating errors (bad input, full disk, peer down)
// are returned; broken invariants are checks (IMPULSE_CHECK), never asserts on input.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace impulse {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,  // the caller's input is wrong (schema violation, bad spec, bad flag)
  kNotFound,         // unknown stream, model, file
  kAlreadyExists,
  kOutOfRange,          // offset past the end, value outside a documented range
  kResourceExhausted,   // a limit was hit: full disk, full queue, body too large
  kUnavailable,         // transient: backpressure, shutting down; retry later
  kFailedPrecondition,  // the system is not in a state to do this (closed writer, ...)
  kDataLoss,            // corruption detected (checksum failure in a sealed segment)
  kIOError,             // an OS call failed for another reason
  kUnauthenticated,
  kInternal,  // a bug
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: line 7: field amount: expected double, got string"
  std::string ToString() const;

  // Prepends context: "open segment x: <message>".
  Status WithContext(std::string_view context) const;

  bool operator==(const Status& other) const = default;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
inline Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
inline Status AlreadyExists(std::string msg) { return {StatusCode::kAlreadyExists, std::move(msg)}; }
inline Status OutOfRange(std::string msg) { return {StatusCode::kOutOfRange, std::move(msg)}; }
inline Status ResourceExhausted(std::string msg) { return {StatusCode::kResourceExhausted, std::move(msg)}; }
inline Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
inline Status FailedPrecondition(std::string msg) { return {StatusCode::kFailedPrecondition, std::move(msg)}; }
inline Status DataLoss(std::string msg) { return {StatusCode::kDataLoss, std::move(msg)}; }
inline Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
inline Status Unauthenticated(std::string msg) { return {StatusCode::kUnauthenticated, std::move(msg)}; }
inline Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

// Maps an errno from a failed OS call to a Status: ENOSPC/EDQUOT -> kResourceExhausted,
// ENOENT -> kNotFound, others -> kIOError. `what` names the operation and the file.
Status ErrnoStatus(std::string_view what, int err);

// Result<T>: a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "Result built from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status ok_status;
    return ok() ? ok_status : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr);

}  // namespace impulse

#define IMPULSE_CONCAT_INNER(a, b) a##b
#define IMPULSE_CONCAT(a, b) IMPULSE_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)       \
  do {                              \
    ::impulse::Status _st = (expr); \
    if (!_st.ok()) return _st;      \
  } while (0)

// `tmp` is a name and `lhs` a declaration or an lvalue ("auto x", "y"): neither can be
// parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(IMPULSE_CONCAT(_result_, __LINE__), lhs, expr)

// Invariant checks: a failure is a bug, so the process stops with the location.
#define IMPULSE_CHECK(cond)                                         \
  do {                                                              \
    if (!(cond)) ::impulse::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)
