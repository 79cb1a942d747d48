// The public face of the model repository that `predict` steps score with (docs/MODELS.md,
// docs/EMBEDDING.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/status.h"

namespace impulse {

enum class VersionState {
  kReady,        // loaded; predict steps may score with it
  kFailed,       // the last load failed (reason says why); not serving
  kUnavailable,  // on disk but not loaded (not selected by the policy, or unloaded)
};
std::string_view VersionStateName(VersionState state);  // "ready", "failed", "unavailable"

// One line of ModelRepository::List().
struct ModelVersionStatus {
  std::string name;
  // 0 for a problem of the model rather than of one version: a broken config.yaml, a version
  // directory whose name is not a number, the repository's model limit.
  uint64_t version = 0;
  std::string kind;  // "xgboost", "linear"; "" when the config never parsed
  VersionState state = VersionState::kUnavailable;
  size_t num_inputs = 0;  // inputs in the config
  std::string reason;     // why failed or unavailable; for a ready version, a failed reload
};

// A directory of models laid out like Triton's (REPO/<name>/config.yaml and numeric version
// directories REPO/<name>/<version>/<file>), with the versions its policies select loaded.
// Hand it to EngineOptions::models so the spec's `predict` steps can score; the engine and
// the application share it, so a Load/Unload/Rescan here hot-swaps what the engine serves.
//
// Threads: every method may be called from any thread; Load/Unload/Rescan run one at a time
// and never block scoring (model files are read outside the lock the scorers take). A version
// that is unloaded while a batch scores with it stays alive until that batch is done.
// Bounds: at most 1024 models, 1024 versions per model, 64 loaded versions, 512 MiB per model
// file (more is refused and listed with its reason).
//
// The only implementation is the library's: Open() returns it. The engine refuses
// (kInvalidArgument) a ModelRepository implemented outside the library.
class ModelRepository {
 public:
  virtual ~ModelRepository() = default;

  // Scans `dir` and loads what each version policy selects. Fails only if `dir` cannot be
  // listed (kNotFound if missing); broken models are listed with their reason.
  static Result<std::shared_ptr<ModelRepository>> Open(const std::string& dir);

  // One entry per model problem and per version (on disk or loaded), by name then version.
  virtual std::vector<ModelVersionStatus> List() const = 0;

  // Loads (or reloads) one version, whatever the policy (the next Rescan applies the policy
  // again). kNotFound: unknown model or no such version directory; kFailedPrecondition: the
  // model's config.yaml is broken; kResourceExhausted: too many loaded versions; the loader's
  // error otherwise. On failure a serving copy stays.
  virtual Status Load(std::string_view name, uint64_t version) = 0;

  // Stops serving a version. kNotFound if it is not loaded.
  virtual Status Unload(std::string_view name, uint64_t version) = 0;

  // Re-reads the directory: new models and versions are loaded, removed or deselected ones
  // unloaded, changed configs reloaded; a config that no longer parses keeps serving.
  virtual Status Rescan() = 0;

  // The directory it was opened on.
  virtual const std::string& dir() const = 0;
};

}  // namespace impulse
