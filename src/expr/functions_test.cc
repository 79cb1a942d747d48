// Built-in functions and casts.
#include <gtest/gtest.h>

#include <cmath>

#include "expr/test_util.h"

namespace impulse::plan {
namespace {

TEST(ExprStringFunctions, Values) {
  EXPECT_EXPR_STRING("lower(s)", "hello");
  EXPECT_EXPR_STRING("upper(s)", "HELLO");
  EXPECT_EXPR_STRING("upper(e)", "");
  EXPECT_EXPR_STRING("concat(s, ', ', 'world')", "Hello, world");
  EXPECT_EXPR_STRING("concat(e)", "");
  EXPECT_EXPR_STRING("concat('a','b','c','d','e','f','g','h','i','j','k','l','m','n','o','p','q','r')",
                     "abcdefghijklmnopqr");  // more arguments than the stack buffer
  EXPECT_EXPR_STRING("substr(s, 2)", "ello");
  EXPECT_EXPR_STRING("substr(s, 2, 3)", "ell");
  EXPECT_EXPR_STRING("substr(s, 0, 3)", "He");  // SQL: positions 0..2 intersect 1..5
  EXPECT_EXPR_STRING("substr(s, -5, 3)", "");
  EXPECT_EXPR_STRING("substr(s, 4, 100)", "lo");
  EXPECT_EXPR_STRING("substr(s, 10)", "");
  EXPECT_EXPR_STRING("substr(s, 2, 9223372036854775807)", "ello");
  EXPECT_EXPR_STRING("substr('héllo', 2, 2)", "él");  // code points, not bytes
  EXPECT_EXPR_NULL("substr(s, 1, -1)");
  EXPECT_EXPR_BOOL("starts_with(s, 'He')", true);
  EXPECT_EXPR_BOOL("starts_with(s, 'he')", false);
  EXPECT_EXPR_BOOL("ends_with(s, 'llo')", true);
  EXPECT_EXPR_BOOL("contains(s, 'ell')", true);
  EXPECT_EXPR_BOOL("contains(s, 'xyz')", false);
  EXPECT_EXPR_BOOL("contains(s, '')", true);
  EXPECT_EXPR_INT("length(s)", 5);
  EXPECT_EXPR_INT("length('héllo')", 5);
  EXPECT_EXPR_INT("length(e)", 0);
}

TEST(ExprStringFunctions, NullsPropagate) {
  EXPECT_EXPR_NULL("lower(null)");
  EXPECT_EXPR_NULL("concat(s, null)");
  EXPECT_EXPR_NULL("substr(s, n)");
  EXPECT_EXPR_NULL("starts_with(null, 'a')");
  EXPECT_EXPR_NULL("length(cast(n as string))");
}

TEST(ExprMathFunctions, Values) {
  EXPECT_EXPR_INT("abs(-3)", 3);
  EXPECT_EXPR_DOUBLE("abs(-d)", 2.5);
  EXPECT_EXPR_INT("min(3, i, 9)", 3);
  EXPECT_EXPR_INT("max(3, i, 9)", 9);
  EXPECT_EXPR_DOUBLE("max(i, d)", 7.0);  // mixed -> double
  EXPECT_EXPR_STRING("min('b', 'a', 'c')", "a");
  EXPECT_EXPR_BOOL("max(t, timestamp '1970-01-01') = t", true);
  EXPECT_EXPR_NULL("min(1, n)");
  EXPECT_EXPR_DOUBLE("round(d)", 3.0);
  EXPECT_EXPR_DOUBLE("round(-d)", -3.0);  // half away from zero
  EXPECT_EXPR_DOUBLE("round(3.14159, 2)", 3.14);
  EXPECT_EXPR_DOUBLE("round(1234.5, -2)", 1200.0);
  EXPECT_EXPR_INT("round(i)", 7);
  EXPECT_EXPR_DOUBLE("floor(d)", 2.0);
  EXPECT_EXPR_DOUBLE("floor(-d)", -3.0);
  EXPECT_EXPR_DOUBLE("ceil(d)", 3.0);
  EXPECT_EXPR_INT("ceil(i)", 7);
  EXPECT_EXPR_DOUBLE("log(exp(1))", 1.0);
  EXPECT_EXPR_DOUBLE("log10(1000)", 3.0);
  EXPECT_EXPR_DOUBLE("exp(0)", 1.0);
  EXPECT_EXPR_DOUBLE("sqrt(16)", 4.0);
  EXPECT_EXPR_DOUBLE("pow(2, 10)", 1024.0);
  EXPECT_EXPR_DOUBLE("pow(d, 2)", 6.25);
}

TEST(ExprMathFunctions, DomainErrorsAreNull) {
  EXPECT_EXPR_NULL("log(0)");
  EXPECT_EXPR_NULL("log(-1)");
  EXPECT_EXPR_NULL("log10(-1)");
  EXPECT_EXPR_NULL("sqrt(-1)");
  EXPECT_EXPR_NULL("exp(1000)");     // overflow
  EXPECT_EXPR_NULL("pow(-8, 0.5)");  // NaN
  EXPECT_EXPR_NULL("abs(n)");
  EXPECT_EXPR_NULL("round(d, n)");
}

TEST(ExprCoalesce, FirstNonNull) {
  EXPECT_EXPR_INT("coalesce(n, 3)", 3);
  EXPECT_EXPR_INT("coalesce(n, n, i)", 7);
  EXPECT_EXPR_DOUBLE("coalesce(n, d)", 2.5);
  EXPECT_EXPR_STRING("coalesce(s, 'x')", "Hello");
  EXPECT_EXPR_NULL("coalesce(n, null)");
}

TEST(ExprTimeFunctions, PartsOfTimestamp) {
  // t = 2024-03-15T13:45:30.250Z, a Friday.
  EXPECT_EXPR_INT("hour(t)", 13);
  EXPECT_EXPR_INT("minute(t)", 45);
  EXPECT_EXPR_INT("second(t)", 30);
  EXPECT_EXPR_INT("day_of_week(t)", 5);
  EXPECT_EXPR_INT("day_of_month(t)", 15);
  EXPECT_EXPR_INT("month(t)", 3);
  EXPECT_EXPR_INT("year(t)", 2024);
  EXPECT_EXPR_BOOL("date_trunc_day(t) = timestamp '2024-03-15'", true);
  EXPECT_EXPR_INT("day_of_week(timestamp '2024-03-17T23:59:59Z')", 7);  // Sunday
  EXPECT_EXPR_INT("day_of_week(timestamp '2024-03-18')", 1);            // Monday
  EXPECT_EXPR_INT("day_of_week(timestamp '1970-01-01')", 4);            // Thursday
  // Before the epoch: floor, not truncation.
  EXPECT_EXPR_INT("hour(timestamp '1969-12-31T23:30:00Z')", 23);
  EXPECT_EXPR_INT("year(timestamp '1969-12-31T23:30:00Z')", 1969);
  EXPECT_EXPR_INT("day_of_month(timestamp '2024-02-29')", 29);
  EXPECT_EXPR_NULL("hour(cast(n as timestamp))");
}

TEST(ExprCast, NumericCasts) {
  EXPECT_EXPR_INT("cast(d * 100 as int64)", 250);
  EXPECT_EXPR_INT("cast(-2.9 as int64)", -2);  // truncates toward zero
  EXPECT_EXPR_INT("cast(2.9 as int64)", 2);
  EXPECT_EXPR_NULL("cast(1e19 as int64)");  // out of range
  EXPECT_EXPR_NULL("cast(-1e19 as int64)");
  EXPECT_EXPR_NULL("cast(9223372036854775807.0 as int64)");  // 2^63 after rounding
  EXPECT_EXPR_INT("cast(-9223372036854775808.0 as int64)", INT64_MIN);
  EXPECT_EXPR_NULL("cast(sqrt(-1) as int64)");
  EXPECT_EXPR_DOUBLE("cast(i as double)", 7.0);
  EXPECT_EXPR_INT("cast(true as int64)", 1);
  EXPECT_EXPR_BOOL("cast(0 as bool)", false);
  EXPECT_EXPR_BOOL("cast(d as bool)", true);
  EXPECT_EXPR_INT("cast(t as int64)", 1710510330250);
  EXPECT_EXPR_BOOL("cast(1710510330250 as timestamp) = t", true);
}

TEST(ExprCast, StringCasts) {
  EXPECT_EXPR_INT("cast('42' as int64)", 42);
  EXPECT_EXPR_INT("cast('-42' as int64)", -42);
  EXPECT_EXPR_NULL("cast('42x' as int64)");
  EXPECT_EXPR_NULL("cast('' as int64)");
  EXPECT_EXPR_NULL("cast('99999999999999999999' as int64)");
  EXPECT_EXPR_DOUBLE("cast('2.5e1' as double)", 25.0);
  EXPECT_EXPR_NULL("cast('abc' as double)");
  EXPECT_EXPR_BOOL("cast('TRUE' as bool)", true);
  EXPECT_EXPR_NULL("cast('yes' as bool)");
  EXPECT_EXPR_BOOL("cast('2024-03-15T13:45:30.250Z' as timestamp) = t", true);
  EXPECT_EXPR_NULL("cast('not a time' as timestamp)");
  EXPECT_EXPR_STRING("cast(i as string)", "7");
  EXPECT_EXPR_STRING("cast(-big - 1 as string)", "-9223372036854775808");
  EXPECT_EXPR_STRING("cast(d as string)", "2.5");
  EXPECT_EXPR_STRING("cast(0.1 as string)", "0.1");
  EXPECT_EXPR_STRING("cast(b as string)", "true");
  EXPECT_EXPR_STRING("cast(t as string)", "2024-03-15T13:45:30.250Z");
  EXPECT_EXPR_STRING("cast(s as string)", "Hello");
  EXPECT_EXPR_NULL("cast(null as string)");
  EXPECT_EXPR_NULL("cast(n as double)");
}

// One event's computed strings are bounded as a whole, not only each string: terms of 8 MiB each
// (under the 16 MiB string bound) stop at the 32 MiB event budget with an error, instead of
// allocating as much as the expression asks for (600 such terms were 4.8 GB, bad_alloc).
TEST(ExprComputedBytes, AnEventsComputedStringsStopAtItsBudget) {
  const Schema schema({{"s", FieldType::kString, false}});
  std::string term = "length(concat(s, s, s, s, s, s, s, s))";
  std::string text = term;
  for (int k = 1; k < 600; ++k) text += " + " + term;
  std::vector<ExprDiag> diags;
  ExprPtr e = ParseAndCheck(text, schema, &diags);
  ASSERT_TRUE(e) << (diags.empty() ? "" : diags[0].message);
  auto c = CompiledExpr::Compile(*e);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const std::string big(1u << 20, 'b');
  const Value row[] = {Value::String(big)};
  Arena arena;
  TakeEvalError();
  BeginEventEval();
  const Value v = c->Eval(row, &arena);
  EXPECT_TRUE(v.null);
  EXPECT_TRUE(EvalErrorPending());
  EXPECT_LE(arena.bytes_used(), kEventComputedBytesMax);
  EXPECT_NE(TakeEvalError().find("for one event"), std::string::npos);
  // The next event has its own budget: one term fits.
  ExprPtr one = ParseAndCheck(term, schema, &diags);
  ASSERT_TRUE(one);
  auto c1 = CompiledExpr::Compile(*one);
  ASSERT_TRUE(c1.ok());
  Arena arena1;
  BeginEventEval();
  const Value w = c1->Eval(row, &arena1);
  ASSERT_FALSE(w.null);
  EXPECT_EQ(w.i64, 8 << 20);
  EXPECT_FALSE(EvalErrorPending());
}

// A concat of more than 16 arguments evaluates each once: a second pass charged the budget twice
// (refusing what fits) and, when it ran out there, returned bytes it never wrote.
TEST(ExprComputedBytes, AManyArgumentConcatIsChargedOnceAndWrittenWhole) {
  const Schema schema({{"s", FieldType::kString, false}});
  std::string text = "concat(upper(s)";
  for (int k = 1; k < 17; ++k) text += ", upper(s)";
  text += ")";
  std::vector<ExprDiag> diags;
  ExprPtr e = ParseAndCheck(text, schema, &diags);
  ASSERT_TRUE(e) << (diags.empty() ? "" : diags[0].message);
  auto c = CompiledExpr::Compile(*e);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const std::string s(720u << 10, 'x');  // 17 x 720 KiB: 12 MiB; charged twice 24, thrice 36 MiB
  const Value row[] = {Value::String(s)};
  Arena arena;
  BeginEventEval();
  const Value v = c->Eval(row, &arena);
  ASSERT_FALSE(v.null);
  EXPECT_FALSE(EvalErrorPending());
  ASSERT_EQ(v.len, 17u * s.size());
  EXPECT_EQ(std::string_view(v.sv()).find_first_not_of('X'), std::string_view::npos);
}

}  // namespace
}  // namespace impulse::plan
