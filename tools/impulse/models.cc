// `impulse models list --repository DIR [--json]`: every model and version of a model repository
// (docs/MODELS.md) with its state. Opening the repository loads what each version policy
// selects, so "ready" means the file loaded and matched its config; nothing is written.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "common/json_string.h"
#include "model/repository.h"

namespace impulse::tools {

namespace po = boost::program_options;

int ModelsCommand(const std::vector<std::string>& args) {
  const char* usage = "impulse models list --models DIR [--json]";
  po::options_description opts("models options");
  std::string action;
  std::string repository;
  opts.add_options()("action", po::value(&action), "what to do: list")(
      "models", po::value(&repository), "the model repository: DIR/<name>/config.yaml, DIR/<name>/<version>/")(
      "json", "print a JSON array instead of one line per model version");
  po::variables_map vm;
  HiddenOptions hidden;
  hidden.aliases = {{"repository", "models"}};
  if (int rc = ParseCommandLine(args, usage, opts, &vm, "action", Positional::kOptional, hidden); rc >= 0) return rc;
  if (action != "list" || repository.empty()) {
    return UsageError(usage, "models: expected 'list --models DIR'");
  }
  Result<std::unique_ptr<model::ModelRepository>> repo = model::ModelRepository::Open(repository);
  if (!repo.ok()) {
    std::fprintf(stderr, "impulse: models list: %s\n", repo.status().ToString().c_str());
    return 1;
  }
  const std::vector<model::ModelVersionStatus> list = (*repo)->List();
  if (vm.count("json") > 0) {
    std::string out = "[";
    for (size_t i = 0; i < list.size(); ++i) {
      const model::ModelVersionStatus& s = list[i];
      out += i == 0 ? "\n" : ",\n";
      // version null: a problem of the model itself (config.yaml, a non-numeric directory).
      out += "  {\"name\": " + JsonString(s.name) +
             ", \"version\": " + (s.version == 0 ? std::string("null") : std::to_string(s.version)) +
             ", \"kind\": " + JsonString(s.kind) + ", \"state\": " + JsonString(model::VersionStateName(s.state)) +
             ", \"inputs\": " + std::to_string(s.num_inputs) + ", \"reason\": " + JsonString(s.reason) + "}";
    }
    out += list.empty() ? "]\n" : "\n]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  if (list.empty()) {
    std::printf("no models in %s\n", repository.c_str());
    return 0;
  }
  std::printf("%-24s %-8s %-8s %-12s %-7s %s\n", "NAME", "VERSION", "KIND", "STATE", "INPUTS", "REASON");
  for (const model::ModelVersionStatus& s : list) {
    const std::string version = s.version == 0 ? "-" : std::to_string(s.version);
    std::printf("%-24s %-8s %-8s %-12s %-7zu %s\n", s.name.c_str(), version.c_str(),
                s.kind.empty() ? "-" : s.kind.c_str(), std::string(model::VersionStateName(s.state)).c_str(),
                s.num_inputs, s.reason.c_str());
  }
  return 0;
}

}  // namespace impulse::tools
