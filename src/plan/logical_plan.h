// The logical plan: streams and pipelines as plain, front-end-neutral data. The YAML spec
// compiler (spec.h) produces it; a SQL front end can produce the same structures. Every
// expression in it is already parsed and type-checked against the schema it reads, and every
// op records the schema it reads and the schema it produces, so the physical layer only
// compiles and never re-resolves names. Immutable once built; share freely between threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/schema.h"
#include "plan/expr_ast.h"

namespace impulse::plan {

struct SinkDef {
  enum class Kind { kStream, kFile, kStdout };
  Kind kind = Kind::kStdout;
  std::string target;  // stream name (kStream) or file path (kFile); empty for kStdout
};

// One named output expression of a map or project.
struct NamedExpr {
  std::string name;
  std::shared_ptr<const Expr> expr;  // checked against the op's input schema
};

struct LogicalOp {
  enum class Kind {
    kFilter,   // keeps rows where `predicate` is true (null counts as false)
    kMap,      // output = input fields, with `exprs` replacing same-named fields in place and
               // appending the others in order
    kProject,  // output = exactly `exprs`, in order (a kept field is a field-reference expr)
    kKeyBy,    // output = input; the pipeline's output key becomes `key_field`
  };
  Kind kind = Kind::kFilter;
  std::shared_ptr<const Expr> predicate;  // kFilter
  std::vector<NamedExpr> exprs;           // kMap, kProject
  std::string key_field;                  // kKeyBy
  Schema input;                           // the schema this op reads
  Schema output;                          // the schema it produces
};

std::string_view LogicalOpKindName(LogicalOp::Kind kind);

struct LogicalPipeline {
  std::string name;
  std::string source;  // stream read
  std::vector<LogicalOp> ops;
  SinkDef sink;
  // The output stream's definition: schema (== ops.back().output, or the source schema when
  // there are no ops), key_field, time_field, options. For stream sinks, the sink stream's def.
  StreamDef output;
};

struct LogicalPlan {
  std::vector<StreamDef> streams;  // declared and derived (pipeline sink streams)
  std::vector<LogicalPipeline> pipelines;  // in dependency order: a pipeline comes after the
                                           // pipelines writing its source

  const StreamDef* FindStream(std::string_view name) const;
  const LogicalPipeline* FindPipeline(std::string_view name) const;
  // A readable multi-line rendering, for `impulse plan` and tests.
  std::string ToString() const;
};

}  // namespace impulse::plan
