// Test helpers: evaluate expression text against a fixed schema and row.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "event/timestamp.h"
#include "expr/check.h"
#include "expr/eval.h"

namespace impulse::plan::testing {

// i int64 = 7, d double = 2.5, s string = 'Hello', b bool = true,
// t timestamp = 2024-03-15T13:45:30.250Z (a Friday), n int64 = null, e string = '',
// big int64 = INT64_MAX. All nullable except i.
inline Schema TestSchema() {
  return Schema({{"i", FieldType::kInt64, false},
                 {"d", FieldType::kDouble, true},
                 {"s", FieldType::kString, true},
                 {"b", FieldType::kBool, true},
                 {"t", FieldType::kTimestamp, true},
                 {"n", FieldType::kInt64, true},
                 {"e", FieldType::kString, true},
                 {"big", FieldType::kInt64, true}});
}

inline std::vector<Value> TestRow() {
  return {Value::Int(7),
          Value::Double(2.5),
          Value::String("Hello"),
          Value::Bool(true),
          Value::Int(*ParseTimestampMs("2024-03-15T13:45:30.250Z")),
          Value::Null(),
          Value::String(""),
          Value::Int(INT64_MAX)};
}

struct Outcome {
  bool ok = false;
  ExprType type = ExprType::kError;
  bool nullable = true;
  Value value;
  std::string str;  // value as a string when type is kString
  std::vector<ExprDiag> diags;
};

inline Outcome RunExpr(const std::string& text) {
  Outcome out;
  Schema schema = TestSchema();
  ExprPtr e = ParseAndCheck(text, schema, &out.diags);
  if (!e) return out;
  Result<CompiledExpr> c = CompiledExpr::Compile(*e);
  if (!c.ok()) {
    out.diags.push_back({0, c.status().message()});
    return out;
  }
  out.ok = true;
  out.type = c->type();
  out.nullable = c->nullable();
  std::vector<Value> row = TestRow();
  Arena arena;
  BeginEventEval();
  TakeEvalError();
  out.value = c->Eval(row.data(), &arena);
  if (out.type == ExprType::kString && !out.value.null) out.str = std::string(out.value.sv());
  return out;
}

inline std::string Diags(const Outcome& o) {
  std::string s;
  for (const ExprDiag& d : o.diags) s += std::to_string(d.pos) + ": " + d.message + "\n";
  return s;
}

}  // namespace impulse::plan::testing

#define EXPECT_EXPR_INT(text, expected)                                          \
  do {                                                                           \
    auto _o = ::impulse::plan::testing::RunExpr(text);                           \
    ASSERT_TRUE(_o.ok) << (text) << "\n" << ::impulse::plan::testing::Diags(_o); \
    EXPECT_EQ(_o.type, ::impulse::plan::ExprType::kInt64) << (text);             \
    EXPECT_FALSE(_o.value.null) << (text);                                       \
    EXPECT_EQ(_o.value.i64, (expected)) << (text);                               \
  } while (0)

#define EXPECT_EXPR_DOUBLE(text, expected)                                       \
  do {                                                                           \
    auto _o = ::impulse::plan::testing::RunExpr(text);                           \
    ASSERT_TRUE(_o.ok) << (text) << "\n" << ::impulse::plan::testing::Diags(_o); \
    EXPECT_EQ(_o.type, ::impulse::plan::ExprType::kDouble) << (text);            \
    EXPECT_FALSE(_o.value.null) << (text);                                       \
    EXPECT_DOUBLE_EQ(_o.value.f64, (expected)) << (text);                        \
  } while (0)

#define EXPECT_EXPR_BOOL(text, expected)                                         \
  do {                                                                           \
    auto _o = ::impulse::plan::testing::RunExpr(text);                           \
    ASSERT_TRUE(_o.ok) << (text) << "\n" << ::impulse::plan::testing::Diags(_o); \
    EXPECT_EQ(_o.type, ::impulse::plan::ExprType::kBool) << (text);              \
    EXPECT_FALSE(_o.value.null) << (text);                                       \
    EXPECT_EQ(_o.value.b, (expected)) << (text);                                 \
  } while (0)

#define EXPECT_EXPR_STRING(text, expected)                                       \
  do {                                                                           \
    auto _o = ::impulse::plan::testing::RunExpr(text);                           \
    ASSERT_TRUE(_o.ok) << (text) << "\n" << ::impulse::plan::testing::Diags(_o); \
    EXPECT_EQ(_o.type, ::impulse::plan::ExprType::kString) << (text);            \
    EXPECT_FALSE(_o.value.null) << (text);                                       \
    EXPECT_EQ(_o.str, (expected)) << (text);                                     \
  } while (0)

#define EXPECT_EXPR_NULL(text)                                                            \
  do {                                                                                    \
    auto _o = ::impulse::plan::testing::RunExpr(text);                                    \
    ASSERT_TRUE(_o.ok) << (text) << "\n" << ::impulse::plan::testing::Diags(_o);          \
    EXPECT_TRUE(_o.value.null) << (text);                                                 \
    EXPECT_TRUE(_o.nullable) << (text) << ": null result from a non-nullable expression"; \
  } while (0)

// An error at byte offset `pos` whose message contains `substring`.
#define EXPECT_EXPR_ERROR(text, expected_pos, substring)                                                      \
  do {                                                                                                        \
    auto _o = ::impulse::plan::testing::RunExpr(text);                                                        \
    ASSERT_FALSE(_o.ok) << (text);                                                                            \
    ASSERT_FALSE(_o.diags.empty()) << (text);                                                                 \
    EXPECT_EQ(_o.diags[0].pos, static_cast<uint32_t>(expected_pos)) << (text) << "\n"                         \
                                                                    << ::impulse::plan::testing::Diags(_o);   \
    EXPECT_NE(_o.diags[0].message.find(substring), std::string::npos) << (text) << "\n"                       \
                                                                      << ::impulse::plan::testing::Diags(_o); \
  } while (0)
