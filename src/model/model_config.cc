#include "model/model_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>

#include "common/suggest.h"
#include "common/yaml_number.h"

namespace impulse::model {

namespace {

std::string DidYouMean(std::string_view name, std::initializer_list<std::string_view> candidates) {
  return impulse::DidYouMean(name, std::vector<std::string_view>(candidates));
}

// Reads one config file; the first error stops it (a config is small: fix and retry).
class ConfigReader {
 public:
  explicit ConfigReader(std::string_view path) : path_(path) {}

  Status Error(const YAML::Node& n, std::string_view key, std::string_view why) const {
    std::string msg(path_);
    const YAML::Mark m = n.Mark();
    if (m.line >= 0) msg += ":" + std::to_string(m.line + 1);
    msg += ": ";
    msg += key;
    msg += ": ";
    msg += why;
    return InvalidArgument(std::move(msg));
  }

  // Checks that `n` is a mapping whose keys are plain strings in `allowed`, without duplicates.
  Status CheckMap(const YAML::Node& n, std::string_view what, std::initializer_list<std::string_view> allowed) const {
    if (!n.IsMap()) return Error(n, what, "expected a mapping");
    std::vector<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) return Error(it->first, what, "keys must be plain strings");
      const std::string& key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return Error(it->first, what, "unknown key '" + key + "'" + DidYouMean(key, allowed));
      }
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
        return Error(it->first, what, "duplicate key '" + key + "'");
      }
      seen.push_back(key);
    }
    return Status::OK();
  }

  Result<std::string> String(const YAML::Node& n, std::string_view key) const {
    if (!n.IsScalar() || n.Scalar().empty()) return Error(n, key, "expected a non-empty string");
    return n.Scalar();
  }

  // The file and line of `n` before a reader's error (which names the key).
  Status At(const YAML::Node& n, const Status& s) const {
    std::string msg(path_);
    const YAML::Mark m = n.Mark();
    if (m.line >= 0) msg += ":" + std::to_string(m.line + 1);
    return InvalidArgument(msg + ": " + s.message());
  }

  Result<int64_t> Int(const YAML::Node& n, std::string_view key, int64_t lo, int64_t hi) const {
    Result<int64_t> v = ReadYamlInt(n, key, lo, hi);
    if (!v.ok()) return At(n, v.status());
    return *v;
  }

  Result<float> Float(const YAML::Node& n, std::string_view key) const {
    // A default must be a finite float32: NaN already means missing.
    Result<double> v = ReadYamlDouble(n, key, -3.4e38, 3.4e38);
    if (!v.ok()) return At(n, v.status());
    return static_cast<float>(*v);
  }

  Status Sequence(const YAML::Node& n, std::string_view key, size_t max) const {
    if (!n.IsSequence()) return Error(n, key, "expected a list");
    if (n.size() > max) {
      return Error(n, key, "has " + std::to_string(n.size()) + " entries (limit " + std::to_string(max) + ")");
    }
    return Status::OK();
  }

  Result<ModelConfig> Read(const YAML::Node& root) const {
    if (!root.IsDefined() || root.IsNull()) return InvalidArgument(std::string(path_) + ": the config is empty");
    RETURN_IF_ERROR(CheckMap(root, "config", {"kind", "file", "inputs", "outputs", "batching", "version_policy"}));
    ModelConfig c;
    const YAML::Node kind = root["kind"];
    if (!kind) return Error(root, "kind", "missing (xgboost, lightgbm, onnx or linear)");
    ASSIGN_OR_RETURN(std::string kind_name, String(kind, "kind"));
    c.file = "model.json";
    if (kind_name == "xgboost") {
      c.kind = ModelKind::kXgboost;
    } else if (kind_name == "linear") {
      c.kind = ModelKind::kLinear;
    } else if (kind_name == "lightgbm") {
      c.kind = ModelKind::kLightgbm;
      c.file = "model.txt";
    } else if (kind_name == "onnx") {
      c.kind = ModelKind::kOnnx;
      c.file = "model.onnx";
    } else {
      return Error(kind, "kind",
                   "unknown kind '" + kind_name + "'" +
                       DidYouMean(kind_name, {"xgboost", "linear", "lightgbm", "onnx"}) +
                       " (supported: xgboost, lightgbm, onnx, linear)");
    }
    if (const YAML::Node f = root["file"]) {
      ASSIGN_OR_RETURN(c.file, String(f, "file"));
      // The file lives inside the version dir: no path separators, no "..".
      if (c.file.find('/') != std::string::npos || c.file == "." || c.file == "..") {
        return Error(f, "file", "must be a plain file name inside the version directory");
      }
    }
    RETURN_IF_ERROR(ReadInputs(root["inputs"], root, &c));
    RETURN_IF_ERROR(ReadOutputs(root["outputs"], &c));
    if (const YAML::Node b = root["batching"]) RETURN_IF_ERROR(ReadBatching(b, &c.batching));
    if (const YAML::Node p = root["version_policy"]) RETURN_IF_ERROR(ReadPolicy(p, &c.version_policy));
    return c;
  }

 private:
  Status ReadInputs(const YAML::Node& n, const YAML::Node& root, ModelConfig* c) const {
    if (!n) return Error(root, "inputs", "missing (an ordered list of {name, from, default})");
    RETURN_IF_ERROR(Sequence(n, "inputs", kInputsMax));
    if (n.size() == 0) return Error(n, "inputs", "expected at least one input");
    for (size_t i = 0; i < n.size(); ++i) {
      const YAML::Node in = n[i];
      const std::string key = "inputs[" + std::to_string(i) + "]";
      ModelInput input;
      if (in.IsScalar()) {  // shorthand: "- amount" is {name: amount, from: amount}
        ASSIGN_OR_RETURN(input.name, String(in, key));
      } else {
        RETURN_IF_ERROR(CheckMap(in, key, {"name", "from", "default"}));
        if (!in["name"]) return Error(in, key + ".name", "missing");
        ASSIGN_OR_RETURN(input.name, String(in["name"], key + ".name"));
        if (const YAML::Node from = in["from"]) {
          ASSIGN_OR_RETURN(input.from, String(from, key + ".from"));
        }
        if (const YAML::Node d = in["default"]) {
          ASSIGN_OR_RETURN(input.default_value, Float(d, key + ".default"));
        }
      }
      if (input.from.empty()) input.from = input.name;
      for (const ModelInput& prev : c->inputs) {
        if (prev.name == input.name) return Error(in, key + ".name", "duplicate input name '" + input.name + "'");
      }
      c->inputs.push_back(std::move(input));
    }
    return Status::OK();
  }

  Status ReadOutputs(const YAML::Node& n, ModelConfig* c) const {
    if (!n) {
      c->outputs = {"score"};
      return Status::OK();
    }
    RETURN_IF_ERROR(Sequence(n, "outputs", kOutputsMax));
    if (n.size() == 0) return Error(n, "outputs", "expected at least one output name");
    for (size_t i = 0; i < n.size(); ++i) {
      ASSIGN_OR_RETURN(std::string name, String(n[i], "outputs[" + std::to_string(i) + "]"));
      if (std::find(c->outputs.begin(), c->outputs.end(), name) != c->outputs.end()) {
        return Error(n[i], "outputs[" + std::to_string(i) + "]", "duplicate output name '" + name + "'");
      }
      c->outputs.push_back(std::move(name));
    }
    return Status::OK();
  }

  Status ReadBatching(const YAML::Node& n, BatchingConfig* b) const {
    RETURN_IF_ERROR(CheckMap(n, "batching", {"max_batch_size", "max_queue_delay_us"}));
    if (const YAML::Node s = n["max_batch_size"]) {
      ASSIGN_OR_RETURN(b->max_batch_size, Int(s, "batching.max_batch_size", 1, kMaxBatchSizeMax));
    }
    if (const YAML::Node d = n["max_queue_delay_us"]) {
      ASSIGN_OR_RETURN(b->max_queue_delay_us, Int(d, "batching.max_queue_delay_us", 0, kMaxQueueDelayUsMax));
    }
    return Status::OK();
  }

  Status ReadPolicy(const YAML::Node& n, VersionPolicy* p) const {
    // `version_policy: all` or a mapping with exactly one of latest / all / specific.
    if (n.IsScalar()) {
      if (n.Scalar() == "all") {
        p->kind = VersionPolicy::Kind::kAll;
        return Status::OK();
      }
      return Error(n, "version_policy", "expected 'all' or one of {latest: N}, {all: {}}, {specific: [v, ...]}");
    }
    RETURN_IF_ERROR(CheckMap(n, "version_policy", {"latest", "all", "specific"}));
    if (n.size() != 1) return Error(n, "version_policy", "expected exactly one of latest, all, specific");
    if (const YAML::Node l = n["latest"]) {
      p->kind = VersionPolicy::Kind::kLatest;
      ASSIGN_OR_RETURN(int64_t latest, Int(l, "version_policy.latest", 1, 1'000'000));
      p->latest = static_cast<uint64_t>(latest);
    } else if (n["all"]) {
      p->kind = VersionPolicy::Kind::kAll;
    } else {
      const YAML::Node s = n["specific"];
      RETURN_IF_ERROR(Sequence(s, "version_policy.specific", kSpecificVersionsMax));
      if (s.size() == 0) return Error(s, "version_policy.specific", "expected at least one version");
      p->kind = VersionPolicy::Kind::kSpecific;
      for (size_t i = 0; i < s.size(); ++i) {
        const std::string key = "version_policy.specific[" + std::to_string(i) + "]";
        if (!s[i].IsScalar()) return Error(s[i], key, "expected a version number");
        Result<uint64_t> v = ParseVersionName(s[i].Scalar());
        if (!v.ok()) return Error(s[i], key, v.status().message());
        if (std::find(p->specific.begin(), p->specific.end(), *v) != p->specific.end()) {
          return Error(s[i], key, "duplicate version " + s[i].Scalar());
        }
        p->specific.push_back(*v);
      }
      std::sort(p->specific.begin(), p->specific.end());
    }
    return Status::OK();
  }

  std::string_view path_;
};

}  // namespace

std::string_view ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kXgboost: return "xgboost";
    case ModelKind::kLinear: return "linear";
    case ModelKind::kLightgbm: return "lightgbm";
    case ModelKind::kOnnx: return "onnx";
  }
  return "unknown";
}

Result<ModelConfig> ParseModelConfig(std::string_view yaml_text, std::string_view path) {
  if (yaml_text.size() > kConfigBytesMax) {
    return InvalidArgument(std::string(path) + ": " + std::to_string(yaml_text.size()) + " bytes (limit " +
                           std::to_string(kConfigBytesMax) + ")");
  }
  // yaml-cpp throws on syntax errors and on some node accesses: nothing escapes this function.
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    return ConfigReader(path).Read(root);
  } catch (const YAML::Exception& e) {
    std::string msg(path);
    if (e.mark.line >= 0) msg += ":" + std::to_string(e.mark.line + 1);
    return InvalidArgument(msg + ": invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string(path) + ": " + e.what());
  }
}

Result<uint64_t> ParseVersionName(std::string_view dir_name) {
  const auto bad = [&](std::string_view why) {
    return InvalidArgument("version '" + std::string(dir_name.substr(0, 64)) + "' " + std::string(why));
  };
  if (dir_name.empty() || dir_name.size() > 18) return bad("must be a number of 1 to 18 digits");
  for (char ch : dir_name) {
    if (ch < '0' || ch > '9') return bad("is not numeric (version directories are numbers: 1, 2, ...)");
  }
  if (dir_name[0] == '0') return bad("must be >= 1 without leading zeros");
  uint64_t v = 0;
  for (char ch : dir_name) v = v * 10 + static_cast<uint64_t>(ch - '0');
  return v;
}

std::vector<uint64_t> SelectVersions(const VersionPolicy& policy, std::vector<uint64_t> available) {
  std::sort(available.begin(), available.end());
  available.erase(std::unique(available.begin(), available.end()), available.end());
  switch (policy.kind) {
    case VersionPolicy::Kind::kAll: return available;
    case VersionPolicy::Kind::kLatest:
      if (available.size() > policy.latest) {
        available.erase(available.begin(), available.end() - static_cast<ptrdiff_t>(policy.latest));
      }
      return available;
    case VersionPolicy::Kind::kSpecific: {
      std::vector<uint64_t> out;
      for (uint64_t v : available) {
        if (std::binary_search(policy.specific.begin(), policy.specific.end(), v)) out.push_back(v);
      }
      return out;
    }
  }
  return {};
}

}  // namespace impulse::model
