// Used only while join_op.cc is absent from the tree (see CMakeLists.txt).
#include "plan/stateful.h"

namespace impulse::plan {

Result<std::unique_ptr<StatefulOperator>> NewJoinOperator(const LogicalOp&, const OperatorContext&) {
  return InvalidArgument("the join operator is not part of this build");
}

}  // namespace impulse::plan
