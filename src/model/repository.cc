#include "model/repository.h"

#include "common/suggest.h"

#include <algorithm>
#include <exception>

#include "model/lightgbm_model.h"
#include "model/linear_model.h"
#include "model/onnx_model.h"
#include "model/xgboost_model.h"
#include "model/xgboost_ubjson.h"

namespace impulse::model {

namespace {

constexpr const char* kConfigName = "config.yaml";

// JSON or UBJSON by the file's extension (.ubj).
Result<std::unique_ptr<Model>> DefaultXgboostLoader(const std::string& path) { return LoadXgboostFile(path); }
Result<std::unique_ptr<Model>> DefaultLightgbmLoader(const std::string& path) { return LoadLightgbm(path); }

// Reads a whole file, refusing one larger than `max` bytes before reading it.
Result<std::string> ReadBoundedFile(Env* env, const std::string& path, uint64_t max) {
  ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> f, env->OpenRandomAccess(path));
  ASSIGN_OR_RETURN(uint64_t size, f->Size());
  if (size > max) {
    return InvalidArgument(path + ": " + std::to_string(size) + " bytes (limit " + std::to_string(max) + ")");
  }
  std::string text(size, '\0');
  ASSIGN_OR_RETURN(size_t n, f->Read(0, size, text.data()));
  text.resize(n);
  return text;
}

// What one model directory holds, read without any lock.
struct ScannedModel {
  std::string name;
  std::shared_ptr<const ModelConfig> config;  // null when `error` is set
  std::string config_text;
  std::string error;
  std::vector<std::string> problems;
  std::vector<uint64_t> versions;
};

ScannedModel ScanModel(Env* env, const std::string& dir, const std::string& name, size_t versions_max) {
  ScannedModel s;
  s.name = name;
  const std::string model_dir = dir + "/" + name;
  const std::string config_path = model_dir + "/" + kConfigName;
  Result<std::string> text = ReadBoundedFile(env, config_path, kConfigBytesMax);
  if (!text.ok()) {
    s.error = text.status().code() == StatusCode::kNotFound ? config_path + ": missing" : text.status().message();
  } else {
    Result<ModelConfig> c = ParseModelConfig(*text, config_path);
    if (c.ok()) {
      s.config = std::make_shared<const ModelConfig>(std::move(c).value());
      s.config_text = std::move(text).value();
    } else {
      s.error = c.status().message();
    }
  }
  Result<std::vector<std::string>> entries = env->ListDir(model_dir);
  if (!entries.ok()) {
    s.problems.push_back(entries.status().message());
    return s;
  }
  std::sort(entries->begin(), entries->end());
  for (const std::string& e : *entries) {
    if (e.empty() || e[0] == '.') continue;  // hidden: editors' and rsync's temporaries
    Result<bool> is_dir = env->IsDirectory(model_dir + "/" + e);
    if (!is_dir.ok() || !*is_dir) continue;  // config.yaml, READMEs
    Result<uint64_t> v = ParseVersionName(e);
    if (!v.ok()) {
      s.problems.push_back(model_dir + "/" + e + ": " + v.status().message());
    } else if (s.versions.size() >= versions_max) {
      s.problems.push_back(model_dir + "/" + e + ": more than " + std::to_string(versions_max) +
                           " version directories (versions_per_model_max); ignored");
    } else {
      s.versions.push_back(*v);
    }
  }
  return s;
}

}  // namespace

ModelRepository::ModelRepository(std::string dir, RepositoryOptions options)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      env_(options_.env != nullptr ? options_.env : Env::Default()) {}

Result<std::unique_ptr<ModelRepository>> ModelRepository::Open(const std::string& dir, RepositoryOptions options) {
  std::unique_ptr<ModelRepository> repo(new ModelRepository(dir, std::move(options)));
  ASSIGN_OR_RETURN(bool is_dir, repo->env_->IsDirectory(dir));
  if (!is_dir) return InvalidArgument("model repository " + dir + ": not a directory");
  RETURN_IF_ERROR(repo->Rescan());
  return repo;
}

}  // namespace impulse::model

namespace impulse {

std::string_view VersionStateName(VersionState state) {
  switch (state) {
    case VersionState::kReady: return "ready";
    case VersionState::kFailed: return "failed";
    case VersionState::kUnavailable: return "unavailable";
  }
  return "unknown";
}

Result<std::shared_ptr<ModelRepository>> ModelRepository::Open(const std::string& dir) {
  ASSIGN_OR_RETURN(std::unique_ptr<model::ModelRepository> repo, model::ModelRepository::Open(dir));
  return std::shared_ptr<ModelRepository>(std::move(repo));
}

}  // namespace impulse

namespace impulse::model {

Status ModelRepository::Rescan() {
  std::lock_guard load_lock(load_mu_);
  Result<std::vector<std::string>> entries = env_->ListDir(dir_);
  if (!entries.ok()) return entries.status().WithContext("model repository");
  std::sort(entries->begin(), entries->end());
  std::vector<ScannedModel> scanned;
  for (const std::string& e : *entries) {
    if (e.empty() || e[0] == '.') continue;
    Result<bool> is_dir = env_->IsDirectory(dir_ + "/" + e);
    if (!is_dir.ok() || !*is_dir) continue;
    if (scanned.size() >= options_.models_max) {
      ScannedModel s;
      s.name = e;
      s.error = dir_ + "/" + e + ": more than " + std::to_string(options_.models_max) +
                " models in the repository (models_max); ignored";
      scanned.push_back(std::move(s));
      continue;
    }
    scanned.push_back(ScanModel(env_, dir_, e, options_.versions_per_model_max));
  }

  std::vector<std::pair<std::string, uint64_t>> to_load;
  {
    std::lock_guard lock(mu_);
    // Models whose directory is gone: dropped (holders of their versions keep them alive).
    for (auto it = models_.begin(); it != models_.end();) {
      const bool present =
          std::any_of(scanned.begin(), scanned.end(), [&](const ScannedModel& s) { return s.name == it->first; });
      if (!present) generation_.fetch_add(1, std::memory_order_release);
      it = present ? std::next(it) : models_.erase(it);
    }
    for (ScannedModel& s : scanned) {
      ModelSlot& slot = models_[s.name];
      slot.config_error = std::move(s.error);
      slot.problems = std::move(s.problems);
      if (s.config != nullptr) {
        slot.config = std::move(s.config);
        slot.config_text = std::move(s.config_text);
      }
      for (auto& [v, vs] : slot.versions) vs.on_disk = false;
      for (uint64_t v : s.versions) slot.versions[v].on_disk = true;
      if (std::erase_if(slot.versions, [](const auto& kv) { return !kv.second.on_disk; }) > 0) {
        generation_.fetch_add(1, std::memory_order_release);
      }
      // A broken config keeps what serves; the policy applies once it parses again.
      if (!slot.config_error.empty() || slot.config == nullptr) {
        for (auto& [v, vs] : slot.versions) {
          if (vs.state != VersionState::kReady) vs.reason = "not loaded: config.yaml has errors";
        }
        continue;
      }
      const std::vector<uint64_t> selected = SelectVersions(slot.config->version_policy, s.versions);
      for (auto& [v, vs] : slot.versions) {
        if (std::binary_search(selected.begin(), selected.end(), v)) {
          if (vs.state != VersionState::kReady || vs.config_text != slot.config_text) to_load.emplace_back(s.name, v);
        } else {
          if (vs.state == VersionState::kReady) generation_.fetch_add(1, std::memory_order_release);
          vs.state = VersionState::kUnavailable;
          vs.loaded.reset();
          vs.reason = "not selected by the version policy";
        }
      }
    }
  }
  // Loads run one by one outside mu_; each records its own outcome in its slot.
  for (const auto& [name, v] : to_load) (void)LoadLocked(name, v);
  return Status::OK();
}

std::vector<ModelVersionStatus> ModelRepository::List() const {
  std::lock_guard lock(mu_);
  std::vector<ModelVersionStatus> out;
  for (const auto& [model_name, slot] : models_) {
    const std::string& name = model_name;  // a lambda cannot capture a structured binding (C++20, clang 14)
    const std::string kind = slot.config != nullptr ? std::string(ModelKindName(slot.config->kind)) : "";
    const size_t num_inputs = slot.config != nullptr ? slot.config->inputs.size() : 0;
    auto model_problem = [&](const std::string& reason) {
      out.push_back({name, 0, kind, VersionState::kFailed, num_inputs, reason});
    };
    if (!slot.config_error.empty()) model_problem(slot.config_error);
    for (const std::string& p : slot.problems) model_problem(p);
    for (const auto& [v, vs] : slot.versions) {
      ModelVersionStatus st{name, v, kind, vs.state, num_inputs, vs.reason};
      if (vs.loaded != nullptr) {  // what serves, which may predate a config change
        st.kind = std::string(ModelKindName(vs.loaded->config.kind));
        st.num_inputs = vs.loaded->config.inputs.size();
      }
      out.push_back(std::move(st));
    }
  }
  return out;
}

Status ModelRepository::Load(std::string_view name, uint64_t version) {
  std::lock_guard load_lock(load_mu_);
  return LoadLocked(std::string(name), version);
}

size_t ModelRepository::ReadyCountLocked() const {
  size_t n = 0;
  for (const auto& [name, slot] : models_) {
    for (const auto& [v, vs] : slot.versions) n += vs.state == VersionState::kReady ? 1 : 0;
  }
  return n;
}

Status ModelRepository::LoadLocked(const std::string& name, uint64_t version) {
  std::shared_ptr<const ModelConfig> config;
  std::string config_text;
  {
    std::lock_guard lock(mu_);
    auto it = models_.find(name);
    if (it == models_.end()) {
      return NotFound("model '" + name + "' is not in repository " + dir_ + " (as of its last scan)");
    }
    if (!it->second.config_error.empty()) return FailedPrecondition(it->second.config_error);
    if (it->second.config == nullptr) return FailedPrecondition("model '" + name + "' has no valid config");
    config = it->second.config;
    config_text = it->second.config_text;
  }
  const std::string version_dir = dir_ + "/" + name + "/" + std::to_string(version);
  Result<bool> is_dir = env_->IsDirectory(version_dir);
  if (!is_dir.ok() || !*is_dir) return NotFound(version_dir + ": no such version directory");
  {
    std::lock_guard lock(mu_);
    VersionSlot& vs = models_[name].versions[version];
    vs.on_disk = true;
    if (vs.state != VersionState::kReady && ReadyCountLocked() >= options_.loaded_versions_max) {
      vs.state = VersionState::kFailed;
      vs.reason = "not loaded: " + std::to_string(options_.loaded_versions_max) +
                  " versions are loaded already (loaded_versions_max)";
      return ResourceExhausted(version_dir + ": " + vs.reason);
    }
  }
  Result<std::shared_ptr<const LoadedModel>> loaded = LoadVersion(name, version, *config);
  std::lock_guard lock(mu_);
  VersionSlot& vs = models_[name].versions[version];
  if (!loaded.ok()) {
    if (vs.state == VersionState::kReady) {
      vs.reason = "reload failed (the earlier load still serves): " + loaded.status().message();
    } else {
      vs.state = VersionState::kFailed;
      vs.reason = loaded.status().message();
    }
    return loaded.status();
  }
  vs.state = VersionState::kReady;
  vs.reason.clear();
  vs.loaded = std::move(loaded).value();
  vs.config_text = std::move(config_text);
  generation_.fetch_add(1, std::memory_order_release);
  return Status::OK();
}

Result<std::shared_ptr<const LoadedModel>> ModelRepository::LoadVersion(const std::string& name, uint64_t version,
                                                                        const ModelConfig& config) const {
  const std::string path = dir_ + "/" + name + "/" + std::to_string(version) + "/" + config.file;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> f, env_->OpenRandomAccess(path));
    ASSIGN_OR_RETURN(uint64_t size, f->Size());
    if (size > options_.model_file_bytes_max) {
      return ResourceExhausted(path + ": " + std::to_string(size) + " bytes (limit " +
                               std::to_string(options_.model_file_bytes_max) + ", model_file_bytes_max)");
    }
  }
  ModelLoader loader;
  switch (config.kind) {
    case ModelKind::kLinear: loader = options_.linear_loader ? options_.linear_loader : LoadLinearJson; break;
    case ModelKind::kXgboost: loader = options_.xgboost_loader ? options_.xgboost_loader : DefaultXgboostLoader; break;
    case ModelKind::kLightgbm: loader = DefaultLightgbmLoader; break;
    case ModelKind::kOnnx: {
      // OpenCV 4.6 does not expose the net's input width: config.yaml's inputs give it.
      const size_t num_features = config.inputs.size();
      loader = [num_features](const std::string& p) { return LoadOnnx(p, {.num_features = num_features}); };
      break;
    }
  }
  std::unique_ptr<Model> model;
  try {  // a loader is a library boundary: nothing it throws (bad_alloc) escapes
    ASSIGN_OR_RETURN(model, loader(path));
  } catch (const std::exception& e) {
    return Internal(path + ": the loader threw: " + e.what());
  }
  if (model == nullptr) return Internal(path + ": the loader returned no model");
  if (model->kind() != ModelKindName(config.kind)) {
    return InvalidArgument(path + ": the loader made a '" + std::string(model->kind()) + "' model, config.yaml says '" +
                           std::string(ModelKindName(config.kind)) + "'");
  }
  if (model->num_features() != config.inputs.size()) {
    return InvalidArgument(path + ": the model has " + std::to_string(model->num_features()) +
                           " features but config.yaml lists " + std::to_string(config.inputs.size()) + " inputs");
  }
  if (model->num_outputs() != config.outputs.size()) {
    return InvalidArgument(path + ": the model has " + std::to_string(model->num_outputs()) +
                           " outputs but config.yaml lists " + std::to_string(config.outputs.size()));
  }
  auto lm = std::make_shared<LoadedModel>();
  lm->name = name;
  lm->version = version;
  lm->config = config;
  lm->model = std::move(model);
  return std::shared_ptr<const LoadedModel>(std::move(lm));
}

// "model 'x' is not in the repository DIR (it holds a, b)": what to fix is the name or the path.
std::string ModelRepository::NotInRepository(std::string_view name) const {
  std::vector<std::string_view> held;
  for (const auto& m : models_) held.push_back(m.first);
  std::string holds;
  for (std::string_view h : held) holds += (holds.empty() ? "" : ", ") + std::string(h);
  return "model '" + std::string(name) + "' is not in the repository " + dir_ +
         (holds.empty() ? " (it holds no model directory)" : " (it holds " + holds + ")") + DidYouMean(name, held);
}

Status ModelRepository::Unload(std::string_view name, uint64_t version) {
  std::lock_guard load_lock(load_mu_);
  std::lock_guard lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound(NotInRepository(name));
  auto v = it->second.versions.find(version);
  if (v == it->second.versions.end() || v->second.state != VersionState::kReady) {
    return NotFound("model '" + std::string(name) + "' version " + std::to_string(version) + " is not loaded");
  }
  v->second.state = VersionState::kUnavailable;
  v->second.reason = "unloaded";
  v->second.loaded.reset();  // in-flight holders keep their shared_ptr
  generation_.fetch_add(1, std::memory_order_release);
  return Status::OK();
}

Result<std::shared_ptr<const LoadedModel>> ModelRepository::Get(std::string_view name,
                                                                std::optional<uint64_t> version) const {
  std::lock_guard lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound(NotInRepository(name));
  const ModelSlot& slot = it->second;
  if (version.has_value()) {
    auto v = slot.versions.find(*version);
    if (v == slot.versions.end()) {
      return NotFound("model '" + std::string(name) + "' has no version " + std::to_string(*version));
    }
    if (v->second.state != VersionState::kReady) {
      return Unavailable("model '" + std::string(name) + "' version " + std::to_string(*version) + " is " +
                         std::string(VersionStateName(v->second.state)) + ": " + v->second.reason);
    }
    return v->second.loaded;
  }
  for (auto v = slot.versions.rbegin(); v != slot.versions.rend(); ++v) {
    if (v->second.state == VersionState::kReady) return v->second.loaded;
  }
  std::string why = slot.config_error;
  if (why.empty() && !slot.versions.empty()) why = slot.versions.rbegin()->second.reason;
  if (why.empty()) why = "no version directories";
  return Unavailable("model '" + std::string(name) + "' has no ready version: " + why);
}

}  // namespace impulse::model
