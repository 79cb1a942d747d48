// libFuzzer target: parses, type-checks, compiles and evaluates arbitrary expression text
// against a fixed schema and row (with nulls, extremes and UTF-8). Must never crash, leak or
// trip a sanitizer, whatever the input.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "expr/check.h"
#include "expr/eval.h"

using impulse::Arena;
using impulse::Field;
using impulse::FieldType;
using impulse::Schema;
using impulse::Value;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Schema schema({{"i", FieldType::kInt64, false},
                              {"d", FieldType::kDouble, true},
                              {"s", FieldType::kString, true},
                              {"b", FieldType::kBool, true},
                              {"t", FieldType::kTimestamp, true},
                              {"n", FieldType::kInt64, true},
                              {"big", FieldType::kInt64, false},
                              {"nan", FieldType::kDouble, false}});
  static const std::vector<Value> row = {
      Value::Int(-7),
      Value::Double(-1e300),
      Value::String("h\xc3\xa9llo W\xffrld"),
      Value::Bool(true),
      Value::Int(std::numeric_limits<int64_t>::min()),
      Value::Null(),
      Value::Int(std::numeric_limits<int64_t>::max()),
      Value::Double(std::numeric_limits<double>::quiet_NaN()),
  };
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<impulse::plan::ExprDiag> diags;
  impulse::plan::ExprPtr e = impulse::plan::ParseAndCheck(text, schema, &diags);
  if (!e) return 0;
  (void)impulse::plan::ExprToString(*e);
  auto compiled = impulse::plan::CompiledExpr::Compile(*e);
  if (!compiled.ok()) return 0;
  Arena arena;
  impulse::plan::BeginEventEval();  // each input is one event
  Value v = compiled->Eval(row.data(), &arena);
  impulse::plan::TakeEvalError();
  if (!v.null && compiled->type() == impulse::plan::ExprType::kString && v.len > 0) {
    // Touch every byte so ASan checks the string is readable.
    volatile char sink = 0;
    for (uint32_t k = 0; k < v.len; ++k) sink = static_cast<char>(sink ^ v.str[k]);
    (void)sink;
  }
  return 0;
}
