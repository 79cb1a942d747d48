// Loads LightGBM text models (Booster.save_model / model.txt) into the native tree evaluator
// (model/tree_ensemble.h). No LightGBM library is linked (none in Debian 12).
//
// Supported: numerical splits with every missing type (None, Zero, NaN) and default_left;
// objectives binary (sigmoid:s), multiclass (softmax, num_class:K), cross_entropy (sigmoid),
// and the identity-output ones (regression, regression_l1, huber, fair, quantile, mape,
// lambdarank, rank_xendcg, and a model without an objective line: a custom objective's raw
// score). Refused with an error naming the file, the line and the reason: categorical splits,
// linear trees, average_output (random forest), multiclassova, exp-output objectives (poisson,
// gamma, tweedie), and malformed or inconsistent models.
//
// LightGBM's split rule (tree.h NumericalDecision) is `value <= threshold` on doubles; the
// evaluator's is `value < threshold` on float32. For a float32 input x and a double threshold
// t, `x <= t` holds iff `x < nextafterf(F, +inf)` where F is the largest float32 <= t, so the
// converted threshold is exact for every float32 input (docs/MODELS.md, "LightGBM").
// Missing values: type NaN sends NaN to the default side; type None treats NaN as 0.0 (the
// default side becomes the side 0.0 goes); type Zero sends NaN and |x| <= 1e-35f to the
// default side, which one node cannot express when the threshold sends that band the other
// way: such a split is expanded into a small subtree (the children are copied), bounded by
// expanded_nodes_per_tree_max.
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

struct LightgbmLoadOptions {
  // The largest model file read, in bytes; larger files are refused (kInvalidArgument).
  size_t file_bytes_max = size_t{512} << 20;  // 512 MiB
  // Evaluator nodes one tree may become after missing-type Zero splits are expanded.
  size_t expanded_nodes_per_tree_max = size_t{1} << 20;
  // Depth of one tree (levels of splits); the loader recurses once per level.
  size_t tree_depth_max = 512;
  // Tree, node, feature and class counts; see TreeEnsembleLimits for the defaults.
  TreeEnsembleLimits limits;
  // Where the file is read from; nullptr = Env::Default().
  Env* env = nullptr;
};

// Reads and parses the model file at `path`. kNotFound if it is missing; kInvalidArgument for
// anything wrong with its content, as "PATH:LINE: reason" (or "PATH: reason" for the whole).
Result<std::unique_ptr<Model>> LoadLightgbm(const std::string& path, const LightgbmLoadOptions& options = {});

// Parses a model already in memory; `name_for_errors` starts every error message.
Result<std::unique_ptr<Model>> LoadLightgbmText(std::string_view text, std::string_view name_for_errors,
                                                const LightgbmLoadOptions& options = {});

// A LightGBM model scored by the native evaluator. Immutable; Predict is safe from any number
// of threads.
class LightgbmModel final : public Model {
 public:
  explicit LightgbmModel(TreeEnsemble ensemble) : ensemble_(std::move(ensemble)) {}
  size_t num_features() const override { return ensemble_.num_features(); }
  size_t num_outputs() const override { return ensemble_.num_outputs(); }
  void Predict(const float* rows, size_t n, float* out) const override { ensemble_.Predict(rows, n, out); }
  std::string_view kind() const override { return "lightgbm"; }
  const TreeEnsemble& ensemble() const { return ensemble_; }

 private:
  TreeEnsemble ensemble_;
};

}  // namespace impulse::model
