// The quickstart demo (`impulse demo examples/quickstart/pipeline.yaml`): an engine in this
// process, generated clicks over real HTTP, the outputs checked against what was sent.
#pragma once

#include <string>
#include <vector>

namespace impulse::examples {

// Returns the process exit code: 0 when every event is accounted for, 1 otherwise, 2 on usage.
int QuickstartDemo(const std::vector<std::string>& args);

}  // namespace impulse::examples
