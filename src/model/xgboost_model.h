// Loads XGBoost models saved as JSON (XGBoosterSaveModel to a ".json" path, format 1.x) into
// the native tree evaluator (model/tree_ensemble.h). libxgboost itself is never linked: it is
// only the oracle of the tests.
//
// Supported: booster gbtree with numerical splits; objectives binary:logistic, binary:logitraw,
// reg:logistic, reg:squarederror (and reg:linear, its old name), multi:softprob. base_score is
// turned into a margin as libxgboost 1.7 does: logit(base_score) for binary:logistic and
// reg:logistic, the stored value itself for the others (binary:logitraw included).
// Refused with an error naming the file and the reason: gblinear and dart boosters, categorical
// splits, multi-target trees, other objectives, and malformed or inconsistent models.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "impulse/env.h"
#include "impulse/status.h"
#include "model/model.h"
#include "model/tree_ensemble.h"

namespace impulse::model {

struct XgboostLoadOptions {
  // The largest model file read, in bytes; larger files are refused (kInvalidArgument).
  size_t file_bytes_max = size_t{512} << 20;  // 512 MiB
  // Tree, node, feature and class counts; see TreeEnsembleLimits for the defaults.
  TreeEnsembleLimits limits;
  // Where the file is read from; nullptr = Env::Default().
  Env* env = nullptr;
};

// Reads and parses the model file at `path`. kNotFound if it is missing; kInvalidArgument for
// anything wrong with its content. Every message starts with the path.
Result<std::unique_ptr<Model>> LoadXgboostJson(const std::string& path, const XgboostLoadOptions& options = {});

// Parses a model already in memory; `name_for_errors` starts every error message.
Result<std::unique_ptr<Model>> LoadXgboostJsonText(std::string_view json, std::string_view name_for_errors,
                                                   const XgboostLoadOptions& options = {});

// The Model that both loaders return: an XGBoost model scored by the native evaluator.
// Immutable; Predict is safe from any number of threads.
class XgboostModel final : public Model {
 public:
  explicit XgboostModel(TreeEnsemble ensemble) : ensemble_(std::move(ensemble)) {}
  size_t num_features() const override { return ensemble_.num_features(); }
  size_t num_outputs() const override { return ensemble_.num_outputs(); }
  void Predict(const float* rows, size_t n, float* out) const override { ensemble_.Predict(rows, n, out); }
  std::string_view kind() const override { return "xgboost"; }
  const TreeEnsemble& ensemble() const { return ensemble_; }

 private:
  TreeEnsemble ensemble_;
};

}  // namespace impulse::model
