// Test helpers: assert that a Status or Result<T> failed with a given code, so a test that
// expects, say, kInvalidArgument is not passed by an unrelated failure (a missing file, a bug).
//
//   EXPECT_CODE(ParseDate("2018-13-01"), kInvalidArgument);
//   ASSERT_CODE(r, kNotFound) << "while loading " << path;
//
// The expression is evaluated once; on a mismatch the message shows the status it returned.
#pragma once

#include <gtest/gtest.h>

#include "impulse/status.h"

namespace impulse::status_matchers {

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

template <typename S>
::testing::AssertionResult HasCode(const char* expr_text, const char* /*code_text*/, const S& s, StatusCode want) {
  const Status& st = StatusOf(s);
  if (st.code() == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << expr_text << " returned " << (st.ok() ? "OK" : st.ToString())
                                       << ", want code " << StatusCodeName(want);
}

}  // namespace impulse::status_matchers

#define EXPECT_CODE(expr, code) \
  EXPECT_PRED_FORMAT2(::impulse::status_matchers::HasCode, expr, ::impulse::StatusCode::code)
#define ASSERT_CODE(expr, code) \
  ASSERT_PRED_FORMAT2(::impulse::status_matchers::HasCode, expr, ::impulse::StatusCode::code)
