// The native tree evaluator: an additive ensemble of binary decision trees flattened into one
// array of 16-byte nodes, scored on float32 rows with NaN as missing (docs/MODELS.md, "Tree
// evaluator").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "impulse/status.h"

namespace impulse::model {

// One tree as a format stores it: parallel arrays indexed by node id, node 0 the root.
// A node is a leaf when left[i] == -1 (then right[i] must be -1 too and value[i] is the leaf
// value); otherwise it sends a row left when row[feature[i]] < value[i], and a missing (NaN)
// feature to the side default_left[i] names. Unreachable nodes (deleted by pruning) are allowed
// and dropped.
struct RawTree {
  std::vector<int32_t> left;
  std::vector<int32_t> right;
  std::vector<uint32_t> feature;
  std::vector<float> value;
  std::vector<uint8_t> default_left;
  uint32_t group = 0;  // which output the tree adds to (a class of multi:softprob)
};

// What is done to the accumulated margins of a row to give the outputs.
enum class OutputTransform : uint8_t {
  kIdentity,  // regression, binary:logitraw
  kSigmoid,   // binary:logistic, reg:logistic: 1 / (1 + exp(-margin))
  kSoftmax,   // multi:softprob: softmax over the num_outputs margins of a row
};

// Limits checked by TreeEnsemble::Create; each has a default wide enough for any model a
// person trains on purpose.
struct TreeEnsembleLimits {
  size_t trees_max = 1u << 20;  // trees in one ensemble
  size_t nodes_max = 1u << 26;  // reachable nodes over all trees (16 bytes each: 1 GiB)
  size_t num_features_max = 1u << 24;
  size_t num_outputs_max = 1u << 16;  // classes of a multiclass model
};

// An immutable, flattened tree ensemble. Built once by Create (which validates every index,
// so Predict needs no checks), then Predict is const and safe from any number of threads.
// Nodes of a tree are laid out depth-first (left child right after its parent), so the path
// that goes left is contiguous in memory; all trees share one array. A walk is a chain of
// dependent loads, so kLanes walks go in lockstep (trees of a row, rows of a tree): leaves
// link to themselves, and a lockstep walk runs for the depth of the deepest tree.
// Margins are accumulated in float32 in tree order, starting from base_margin, as libxgboost
// does, so results agree with it to the last bits before the transform.
class TreeEnsemble {
 public:
  // kInvalidArgument naming the tree and node when a child index is out of range, a node is
  // reached twice (a cycle or a shared child), a feature index is >= num_features, a group is
  // >= num_outputs, the arrays of a tree differ in length, or a limit is exceeded.
  static Result<TreeEnsemble> Create(std::span<const RawTree> trees, size_t num_features, size_t num_outputs,
                                     float base_margin, OutputTransform transform,
                                     const TreeEnsembleLimits& limits = {});

  size_t num_features() const { return num_features_; }
  size_t num_outputs() const { return num_outputs_; }
  size_t num_trees() const { return roots_.size(); }
  size_t num_nodes() const { return nodes_.size(); }

  // rows: n * num_features() values (NaN = missing); out: n * num_outputs() values.
  // n == 1 walks each tree once; n > 1 goes tree-major over blocks of rows so a tree's nodes
  // stay in cache while the block goes through it. Both give bit-identical results.
  void Predict(const float* rows, size_t n, float* out) const;
  // The margins before the transform (same layout as Predict's output).
  void PredictMargin(const float* rows, size_t n, float* out) const;

  // 16 bytes. bits: feature index in the low 30 bits, kDefaultLeftBit, kLeafBit.
  // value: the threshold of a split, the value of a leaf. left/right: absolute node indices.
  struct Node {
    uint32_t bits;
    float value;
    uint32_t left;
    uint32_t right;
  };
  static constexpr uint32_t kLeafBit = 1u << 31;
  static constexpr uint32_t kDefaultLeftBit = 1u << 30;
  static constexpr uint32_t kFeatureMask = kDefaultLeftBit - 1;
  // Trees of one row walked in lockstep: a walk is a chain of dependent loads (about 5 ns a
  // level alone); independent walks overlap.
  static constexpr size_t kLanes = 8;

 private:
  TreeEnsemble() = default;
  float Leaf(uint32_t root, const float* row) const;
  void MarginSingle(const float* row, float* out) const;
  void MarginBlock(const float* rows, size_t n, float* out) const;
  void Transform(float* out, size_t n) const;

  std::vector<Node> nodes_;
  std::vector<uint32_t> roots_;              // per tree, index of its root in nodes_
  std::vector<uint32_t> groups_;             // per tree, the output it adds to
  std::vector<uint32_t> depths_;             // per tree, its depth (a lone leaf: 0)
  std::vector<uint32_t> lane_group_depths_;  // per kLanes consecutive trees, the deepest
  size_t num_features_ = 0;
  size_t num_outputs_ = 1;
  float base_margin_ = 0;
  OutputTransform transform_ = OutputTransform::kIdentity;
};

}  // namespace impulse::model
