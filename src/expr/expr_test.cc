// Expression language: parsing, type checking, operators and three-valued logic.
#include <gtest/gtest.h>

#include "expr/parser.h"
#include "expr/test_util.h"

namespace impulse::plan {
namespace {

using testing::RunExpr;

TEST(ExprArithmetic, IntegerOperators) {
  EXPECT_EXPR_INT("1 + 2 * 3", 7);
  EXPECT_EXPR_INT("(1 + 2) * 3", 9);
  EXPECT_EXPR_INT("10 - 4 - 3", 3);  // left associative
  EXPECT_EXPR_INT("7 / 2", 3);
  EXPECT_EXPR_INT("-7 / 2", -3);  // truncation toward zero, like SQL
  EXPECT_EXPR_INT("7 % 3", 1);
  EXPECT_EXPR_INT("-7 % 3", -1);
  EXPECT_EXPR_INT("-i", -7);
  EXPECT_EXPR_INT("i * i - 1", 48);
  EXPECT_EXPR_INT("--i", 7);
}

TEST(ExprArithmetic, MixingIntAndDoublePromotesToDouble) {
  EXPECT_EXPR_DOUBLE("i + d", 9.5);
  EXPECT_EXPR_DOUBLE("d * 2", 5.0);
  EXPECT_EXPR_DOUBLE("i / 2.0", 3.5);
  EXPECT_EXPR_DOUBLE("1.5e2", 150.0);
  EXPECT_EXPR_DOUBLE(".5 + 1E-1", 0.6);
  EXPECT_EXPR_DOUBLE("d % 1", 0.5);
  EXPECT_EXPR_DOUBLE("-d", -2.5);
}

TEST(ExprArithmetic, DivisionByZeroIsNull) {
  EXPECT_EXPR_NULL("i / 0");
  EXPECT_EXPR_NULL("i % 0");
  EXPECT_EXPR_NULL("d / 0");
  EXPECT_EXPR_NULL("d / 0.0");
  EXPECT_EXPR_NULL("d % 0");
}

TEST(ExprArithmetic, OverflowIsNull) {
  EXPECT_EXPR_NULL("big + 1");
  EXPECT_EXPR_NULL("big * 2");
  EXPECT_EXPR_NULL("-big - 2");
  EXPECT_EXPR_NULL("(-big - 1) / -1");
  EXPECT_EXPR_INT("(-big - 1) % -1", 0);
  EXPECT_EXPR_NULL("-(-big - 1)");
  EXPECT_EXPR_NULL("abs(-big - 1)");
  EXPECT_EXPR_INT("big - 1 + 1", INT64_MAX);
}

TEST(ExprArithmetic, NullOperandsPropagate) {
  EXPECT_EXPR_NULL("n + 1");
  EXPECT_EXPR_NULL("1 - n");
  EXPECT_EXPR_NULL("n * d");
  EXPECT_EXPR_NULL("null + 1");
  EXPECT_EXPR_NULL("-n");
  EXPECT_EXPR_NULL("n > 1");
  EXPECT_EXPR_NULL("s = null");
}

TEST(ExprArithmetic, TimestampArithmetic) {
  EXPECT_EXPR_BOOL("t + 1000 > t", true);
  EXPECT_EXPR_INT("(t + 1000) - t", 1000);
  EXPECT_EXPR_BOOL("t - 86400000 < t", true);
  EXPECT_EXPR_BOOL("t > timestamp '2024-01-01T00:00:00Z'", true);
  EXPECT_EXPR_BOOL("t = timestamp '2024-03-15 13:45:30.250'", true);
  EXPECT_EXPR_BOOL("t = timestamp '2024-03-15T15:45:30.250+02:00'", true);
  EXPECT_EXPR_BOOL("t > 0", true);  // timestamps compare with integer milliseconds
}

TEST(ExprComparison, AllOperatorsAndTypes) {
  EXPECT_EXPR_BOOL("i = 7", true);
  EXPECT_EXPR_BOOL("i == 7", true);
  EXPECT_EXPR_BOOL("i != 7", false);
  EXPECT_EXPR_BOOL("i <> 8", true);
  EXPECT_EXPR_BOOL("i < 8", true);
  EXPECT_EXPR_BOOL("i <= 7", true);
  EXPECT_EXPR_BOOL("i > 7", false);
  EXPECT_EXPR_BOOL("i >= 8", false);
  EXPECT_EXPR_BOOL("d > 2", true);  // double vs int
  EXPECT_EXPR_BOOL("2 < d", true);  // int vs double
  EXPECT_EXPR_BOOL("i = 7.0", true);
  EXPECT_EXPR_BOOL("i < d * 3", true);
  EXPECT_EXPR_BOOL("s = 'Hello'", true);
  EXPECT_EXPR_BOOL("s < 'Help'", true);
  EXPECT_EXPR_BOOL("'abc' < s", false);
  EXPECT_EXPR_BOOL("e = ''", true);
  EXPECT_EXPR_BOOL("b = true", true);
  EXPECT_EXPR_BOOL("false < b", true);
  EXPECT_EXPR_BOOL("t = t", true);
}

TEST(ExprComparison, BetweenAndIn) {
  EXPECT_EXPR_BOOL("i between 1 and 10", true);
  EXPECT_EXPR_BOOL("i between 8 and 10", false);
  EXPECT_EXPR_BOOL("i not between 8 and 10", true);
  EXPECT_EXPR_BOOL("d between 2 and 2.5", true);
  EXPECT_EXPR_BOOL("s between 'A' and 'Z'", true);
  EXPECT_EXPR_BOOL("i between 8 and n", false);  // false AND null = false
  EXPECT_EXPR_NULL("i between 1 and n");         // true AND null = null
  EXPECT_EXPR_NULL("n between 1 and 2");
  EXPECT_EXPR_BOOL("i in (1, 7, 9)", true);
  EXPECT_EXPR_BOOL("i in (1, 2)", false);
  EXPECT_EXPR_BOOL("i not in (1, 2)", true);
  EXPECT_EXPR_BOOL("i in (7.0)", true);
  EXPECT_EXPR_BOOL("s in ('a', 'Hello')", true);
  EXPECT_EXPR_BOOL("i in (n, 7)", true);
  EXPECT_EXPR_NULL("i in (n, 8)");
  EXPECT_EXPR_NULL("i not in (n, 8)");
  EXPECT_EXPR_NULL("n in (1, 2)");
}

// The full SQL three-valued truth table for AND, OR, NOT over true, false, null.
TEST(ExprLogic, ThreeValuedTruthTable) {
  struct Row {
    const char* a;
    const char* b;
    const char* and_result;
    const char* or_result;
  };
  const Row rows[] = {
      {"true", "true", "true", "true"},   {"true", "false", "false", "true"},   {"true", "null", "null", "true"},
      {"false", "true", "false", "true"}, {"false", "false", "false", "false"}, {"false", "null", "false", "null"},
      {"null", "true", "null", "true"},   {"null", "false", "false", "null"},   {"null", "null", "null", "null"},
  };
  auto check = [](const std::string& text, const std::string& expected) {
    auto o = RunExpr(text);
    ASSERT_TRUE(o.ok) << text << "\n" << testing::Diags(o);
    if (expected == "null") {
      EXPECT_TRUE(o.value.null) << text;
    } else {
      EXPECT_FALSE(o.value.null) << text;
      EXPECT_EQ(o.value.b, expected == "true") << text;
    }
  };
  // Use null-valued bool expressions from the row too, not only literals.
  for (const Row& r : rows) {
    check(std::string(r.a) + " and " + r.b, r.and_result);
    check(std::string(r.a) + " or " + r.b, r.or_result);
    std::string a = std::string(r.a) == "null" ? "(n > 0)" : r.a;
    std::string b = std::string(r.b) == "null" ? "(n > 0)" : r.b;
    check(a + " AND " + b, r.and_result);
    check(a + " OR " + b, r.or_result);
  }
  check("not true", "false");
  check("not false", "true");
  check("not (n > 0)", "null");
  EXPECT_EXPR_BOOL("not i > 8", true);                // NOT binds looser than comparison
  EXPECT_EXPR_BOOL("true or false and false", true);  // AND binds tighter than OR
}

TEST(ExprLogic, IsNull) {
  EXPECT_EXPR_BOOL("n is null", true);
  EXPECT_EXPR_BOOL("n is not null", false);
  EXPECT_EXPR_BOOL("i is null", false);
  EXPECT_EXPR_BOOL("s IS NOT NULL", true);
  EXPECT_EXPR_BOOL("null is null", true);
  EXPECT_EXPR_BOOL("(i / 0) is null", true);
  auto o = RunExpr("n is null");
  EXPECT_FALSE(o.nullable);
}

TEST(ExprConditional, IfAndCase) {
  EXPECT_EXPR_STRING("if(i > 5, 'big', 'small')", "big");
  EXPECT_EXPR_STRING("if(i > 50, 'big', 'small')", "small");
  EXPECT_EXPR_STRING("if(n > 5, 'big', 'small')", "small");  // null condition -> else
  EXPECT_EXPR_DOUBLE("if(b, 1, 2.5)", 1.0);                  // branches unify to double
  EXPECT_EXPR_NULL("if(b, null, 1)");
  EXPECT_EXPR_STRING("case when i < 5 then 'a' when i < 10 then 'b' else 'c' end", "b");
  EXPECT_EXPR_STRING("case when i < 5 then 'a' else 'c' end", "c");
  EXPECT_EXPR_NULL("case when i < 5 then 'a' end");
  EXPECT_EXPR_STRING("CASE WHEN n = 1 THEN 'x' ELSE 'y' END", "y");
  EXPECT_EXPR_INT("case when true then 1 when true then 2 end", 1);
}

TEST(ExprParse, KeywordsAndQuoting) {
  EXPECT_EXPR_STRING("'it''s'", "it's");
  EXPECT_EXPR_INT("`i` + 1", 8);
  EXPECT_EXPR_BOOL("TRUE", true);
  EXPECT_EXPR_INT("  i\t+\n1 ", 8);
  EXPECT_EXPR_INT("9223372036854775807", INT64_MAX);
}

TEST(ExprParse, SyntaxErrorsPointAtTheToken) {
  EXPECT_EXPR_ERROR("i +", 3, "expected an expression");
  EXPECT_EXPR_ERROR("i + * 2", 4, "expected an expression");
  EXPECT_EXPR_ERROR("(i + 1", 6, "expected ')'");
  EXPECT_EXPR_ERROR("i 1", 2, "unexpected '1'");
  EXPECT_EXPR_ERROR("'abc", 0, "unterminated string");
  EXPECT_EXPR_ERROR("i # 2", 2, "unexpected character '#'");
  EXPECT_EXPR_ERROR("99999999999999999999", 0, "out of range");
  EXPECT_EXPR_ERROR("i is 1", 5, "expected null");
  EXPECT_EXPR_ERROR("cast(i as float)", 10, "expected a type");
  EXPECT_EXPR_ERROR("timestamp '2024-13-01'", 10, "invalid timestamp");
  EXPECT_EXPR_ERROR("case i end", 5, "expected WHEN");
  EXPECT_EXPR_ERROR("", 0, "expected an expression");
  EXPECT_EXPR_ERROR("12abc", 0, "malformed number");
  EXPECT_EXPR_ERROR("and", 0, "keyword");
}

TEST(ExprParse, DepthIsBounded) {
  std::string deep(500, '(');
  deep += "1" + std::string(500, ')');
  EXPECT_EXPR_ERROR(deep, 128, "nested too deeply");
  // Nesting mixed with chains: every level is an operator, so the height bound applies too.
  std::string nested_unary(200, '-');
  nested_unary += "1";
  EXPECT_EXPR_ERROR(nested_unary, 128, "nested too deeply");
}

// A flat chain is a loop in the parser, not nesting: hundreds of terms are fine.
TEST(ExprParse, FlatChainIsNotNesting) {
  std::string sum = "i";
  for (int k = 1; k < 1000; ++k) sum += "+i";
  EXPECT_EXPR_INT(sum, 1000 * 7);  // i = 7 in the test row
  std::string mixed = "1";
  for (int k = 0; k < 600; ++k) mixed += (k % 2 == 0 ? "*2" : "-1");
  auto o = RunExpr(mixed);
  EXPECT_TRUE(o.ok) << testing::Diags(o);
  std::string conj = "b";
  for (int k = 0; k < 500; ++k) conj += " and b";
  EXPECT_TRUE(RunExpr(conj).ok);
}

// The tree the checker and evaluator walk recursively stays bounded, with its own message.
TEST(ExprParse, ChainLongerThanTheHeightBoundIsRefusedAsTooLarge) {
  std::string chain = "1";
  for (int k = 0; k < kExprHeightMax; ++k) chain += "+1";
  auto o = RunExpr(chain);
  ASSERT_FALSE(o.ok);
  ASSERT_FALSE(o.diags.empty());
  EXPECT_NE(o.diags[0].message.find("expression too large"), std::string::npos) << testing::Diags(o);
  EXPECT_EQ(o.diags[0].message.find("nested"), std::string::npos) << testing::Diags(o);
  std::string at_bound = "1";
  for (int k = 1; k < kExprHeightMax; ++k) at_bound += "+1";
  EXPECT_EXPR_INT(at_bound, kExprHeightMax);
  // The longest chain the text bound admits (~32 K terms) is refused, not a stack overflow.
  std::string longest = "1";
  while (longest.size() + 2 <= kExprTextBytesMax) longest += "+1";
  EXPECT_FALSE(RunExpr(longest).ok);
}

TEST(ExprCheck, TypeErrorsPointAtTheOperator) {
  EXPECT_EXPR_ERROR("d > 'x'", 2, "cannot compare double with string");
  EXPECT_EXPR_ERROR("s + 1", 2, "cannot apply '+' to string and int64 (use concat() for strings)");
  EXPECT_EXPR_ERROR("amout > 1", 0, "unknown field 'amout'");
  EXPECT_EXPR_ERROR("1 + dd", 4, "did you mean 'd'?");
  EXPECT_EXPR_ERROR("lowr(s)", 0, "unknown function 'lowr' (did you mean 'lower'?)");
  EXPECT_EXPR_ERROR("lower(s, s)", 0, "expects 1 argument, got 2");
  EXPECT_EXPR_ERROR("lower(i)", 6, "expects string for argument 1, got int64");
  EXPECT_EXPR_ERROR("substr(s)", 0, "expects 2 to 3 arguments");
  EXPECT_EXPR_ERROR("i and b", 0, "AND expects bool");
  EXPECT_EXPR_ERROR("not i", 0, "NOT expects bool");
  EXPECT_EXPR_ERROR("if(i, 1, 2)", 3, "condition must be bool");
  EXPECT_EXPR_ERROR("if(b, 1, 'x')", 9, "different types: int64 and string");
  EXPECT_EXPR_ERROR("if(b, 1)", 0, "expects 3 arguments");
  EXPECT_EXPR_ERROR("cast(b as timestamp)", 0, "cannot cast bool to timestamp");
  EXPECT_EXPR_ERROR("i in (1, 'a')", 9, "cannot compare int64 with string");
  EXPECT_EXPR_ERROR("-s", 0, "cannot negate string");
  EXPECT_EXPR_ERROR("min(b, b)", 0, "does not accept bool");
}

TEST(ExprCheck, ReportsEveryIndependentError) {
  auto o = RunExpr("foo > 1 and lower(1) = 'x' and bar");
  ASSERT_FALSE(o.ok);
  ASSERT_EQ(o.diags.size(), 3u) << testing::Diags(o);
  EXPECT_EQ(o.diags[0].pos, 0u);
  EXPECT_EQ(o.diags[1].pos, 18u);
  EXPECT_EQ(o.diags[2].pos, 31u);
}

TEST(ExprCheck, NullabilityIsInferred) {
  EXPECT_FALSE(RunExpr("i + 0.5").nullable);  // double arithmetic on a non-null field
  EXPECT_TRUE(RunExpr("i + 1").nullable);     // int64 overflow -> null
  EXPECT_TRUE(RunExpr("i / 2.0").nullable);   // division by zero -> null
  EXPECT_TRUE(RunExpr("d + 1.0").nullable);   // nullable field
  EXPECT_FALSE(RunExpr("i > 1").nullable);
  EXPECT_FALSE(RunExpr("coalesce(d, 0.0)").nullable);
  EXPECT_TRUE(RunExpr("cast(i * 1.0 as int64)").nullable);  // out of range -> null
  EXPECT_FALSE(RunExpr("cast(i as string)").nullable);
}

TEST(ExprAst, ToStringRoundTrips) {
  std::vector<ExprDiag> diags;
  Schema schema = testing::TestSchema();
  for (const char* text : {"i + 2 * d > 3 and not b", "case when i in (1, 2) then 'x''y' else null end",
                           "cast(s as int64) between -1 and 1.5", "t > timestamp '2024-01-01T00:00:00Z'"}) {
    ExprPtr e = ParseAndCheck(text, schema, &diags);
    ASSERT_NE(e, nullptr) << text;
    std::string printed = ExprToString(*e);
    ExprPtr again = ParseAndCheck(printed, schema, &diags);
    ASSERT_NE(again, nullptr) << printed;
    EXPECT_EQ(ExprToString(*again), printed);
  }
  EXPECT_TRUE(diags.empty());
}

}  // namespace
}  // namespace impulse::plan
