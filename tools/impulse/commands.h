// The impulse binary's commands. Each returns the process exit code: 0 success, 1 failure,
// 2 usage error.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace impulse::tools {

// The project() version (CMakeLists.txt); `impulse --version` adds the commit (common/build_info.h).
inline constexpr const char* kVersion = IMPULSE_VERSION;

int RunCommand(const std::vector<std::string>& args);
int ValidateCommand(const std::vector<std::string>& args);
int LoadCommand(const std::vector<std::string>& args);
int RepairCommand(const std::vector<std::string>& args);
int GenerateCommand(const std::vector<std::string>& args);
// `impulse decisions rescore ...`: model::Rescore with its report as text or JSON.
int DecisionsCommand(const std::vector<std::string>& args);
// Commands that talk to a running engine over HTTP (stream_commands.cc): tail, ingest,
// describe, status, top. -1 when `name` is none of them.
int RemoteCommand(std::string_view name, const std::vector<std::string>& args);

}  // namespace impulse::tools
