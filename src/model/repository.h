// The model repository (docs/MODELS.md): a directory laid out like Triton's,
//   REPO/<name>/config.yaml       kind, file, inputs, outputs, batching, version policy
//   REPO/<name>/<version>/<file>  numeric version directories (1, 2, ...) holding the model
// Open and Rescan load the versions each model's version policy selects and unload the others;
// Load and Unload act on one version at run time. A version that fails to load records why
// and leaves every other loaded version (and a serving copy of itself) untouched.
//
// Thread safety: every method may be called from any thread. Get never waits for a load (model
// files are read and parsed outside the lock that Get takes); Rescan/Load/Unload run one at a
// time. Get returns a shared_ptr, so an unload or a swap never frees a model still in use: it
// is freed when the last holder drops it.
// Bounds: RepositoryOptions (models, versions per model, loaded versions, file sizes).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/env.h"
#include "impulse/models.h"
#include "impulse/status.h"
#include "model/model.h"
#include "model/model_config.h"
#include "model/model_metrics.h"
#include "model/predict_metrics.h"

namespace impulse::model {

// One loaded version: immutable, shared by every batch that scores with it.
struct LoadedModel {
  std::string name;
  uint64_t version = 0;
  ModelConfig config;                  // as read when this version was loaded
  std::shared_ptr<const Model> model;  // never null
};

// The version states and List() lines are the public ones (include/impulse/models.h).
using impulse::ModelVersionStatus;
using impulse::VersionState;
using impulse::VersionStateName;

// Reads a model file. Returns kInvalidArgument/kNotFound naming the file on failure.
using ModelLoader = std::function<Result<std::unique_ptr<Model>>(const std::string& path)>;

struct RepositoryOptions {
  size_t models_max = 1024;                      // model directories scanned; more are refused
  size_t versions_per_model_max = 1024;          // version directories per model
  size_t loaded_versions_max = 64;               // ready versions, all models together
  uint64_t model_file_bytes_max = 512ull << 20;  // a model file larger than this is refused
  Env* env = nullptr;                            // file system for scans; null: Env::Default()
  // Loader per kind; an empty function means the built-in loader for that kind.
  ModelLoader linear_loader = nullptr;
  ModelLoader xgboost_loader = nullptr;
};

// The library's implementation of the public impulse::ModelRepository (which the engine's
// options carry); internal code uses this class directly for Get and the metrics.
class ModelRepository final : public impulse::ModelRepository {
 public:
  // Scans `dir` and loads what each version policy selects. Fails only if `dir` cannot be
  // listed (kNotFound if missing); broken models are listed with their reason.
  static Result<std::unique_ptr<ModelRepository>> Open(const std::string& dir, RepositoryOptions options = {});

  // Re-reads the directory: new models and versions are loaded, removed or deselected ones
  // unloaded, versions whose config.yaml changed are reloaded. A config.yaml that no longer
  // parses keeps the model's loaded versions serving and records the error.
  Status Rescan() override;

  // One entry per model problem and per version (on disk or loaded), by name then version.
  std::vector<ModelVersionStatus> List() const override;

  // Loads (or reloads) one version of a model known from the last scan, whatever the policy
  // (the next Rescan applies the policy again). kNotFound: unknown model or no such version
  // directory; kFailedPrecondition: the model's config.yaml is broken; kResourceExhausted:
  // loaded_versions_max; the loader's error otherwise. On failure a serving copy stays.
  Status Load(std::string_view name, uint64_t version) override;

  // Stops serving a version (in-flight holders of it keep it alive). kNotFound if not loaded.
  Status Unload(std::string_view name, uint64_t version) override;

  // The given version, or the highest ready one. kNotFound: unknown model; kUnavailable: that
  // version (or any version) is not ready, with the reason.
  Result<std::shared_ptr<const LoadedModel>> Get(std::string_view name,
                                                 std::optional<uint64_t> version = std::nullopt) const;

  // Changes whenever a version becomes ready or stops being ready. A caller on the per-event
  // path may keep what Get returned and call Get again only when this changed (one atomic load
  // instead of a lock per batch). Read it before calling Get, so a change in between is seen.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  const std::string& dir() const override { return dir_; }

  // Per-model metrics of everything that scores with this repository's models.
  ModelMetrics& metrics() { return metrics_; }
  // Per predict step metrics: rows and scores by version and role.
  PredictMetrics& predict_metrics() { return predict_metrics_; }

 private:
  struct VersionSlot {
    bool on_disk = false;
    VersionState state = VersionState::kUnavailable;
    std::string reason;
    std::shared_ptr<const LoadedModel> loaded;  // non-null iff state == kReady
    std::string config_text;                    // config.yaml text `loaded` was built with
  };
  struct ModelSlot {
    std::shared_ptr<const ModelConfig> config;  // last config that parsed; null if none
    std::string config_text;                    // its text
    std::string config_error;                   // the last scan's error; "" when it parsed
    std::vector<std::string> problems;          // non-numeric version dirs, limits
    std::map<uint64_t, VersionSlot> versions;
  };

  ModelRepository(std::string dir, RepositoryOptions options);

  // Reads and loads one version outside mu_ (the caller holds load_mu_).
  Result<std::shared_ptr<const LoadedModel>> LoadVersion(const std::string& name, uint64_t version,
                                                         const ModelConfig& config) const;
  // Load with load_mu_ held.
  Status LoadLocked(const std::string& name, uint64_t version);
  size_t ReadyCountLocked() const;  // mu_ held

  // The NotFound message for a model the repository lacks (call with mu_ held).
  std::string NotInRepository(std::string_view name) const;

  const std::string dir_;
  const RepositoryOptions options_;
  Env* const env_;

  std::mutex load_mu_;     // serializes Rescan/Load/Unload; held while files are read
  mutable std::mutex mu_;  // guards models_; held only briefly (never during file I/O)
  std::map<std::string, ModelSlot, std::less<>> models_;
  std::atomic<uint64_t> generation_{0};  // bumped under mu_ after each change of a ready set
  ModelMetrics metrics_;
  PredictMetrics predict_metrics_;
};

}  // namespace impulse::model
