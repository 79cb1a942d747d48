#include "model/tree_ensemble.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace impulse::model {

namespace {

// Rows scored together per tree in the batch path: 64 rows of margins stay in L1 while the
// tree's nodes are reused by every row of the block.
constexpr size_t kBlockRows = 64;
// Rows of one tree walked in lockstep (tree_benchmark on this VM: 8 beats 4 and 16).
constexpr size_t kBatchLanes = 8;
// Deeper trees are walked one at a time: a lockstep walk costs the depth of the deepest
// tree of its group for every lane, which is wasteful for deep, unbalanced trees.
constexpr uint32_t kLockstepDepthMax = 24;

std::string Where(size_t tree, size_t node) { return "tree " + std::to_string(tree) + " node " + std::to_string(node); }

// Appends the reachable nodes of `t` to `out` in depth-first order (left subtree first).
// Every index is checked before it is used; a node reached twice is a cycle or a shared child.
Status Flatten(const RawTree& t, size_t tree_index, size_t num_features, size_t nodes_max,
               std::vector<TreeEnsemble::Node>& out, uint32_t& depth_out) {
  const size_t n = t.left.size();
  if (n == 0) return InvalidArgument("tree " + std::to_string(tree_index) + " has no nodes");
  if (t.right.size() != n || t.feature.size() != n || t.value.size() != n || t.default_left.size() != n) {
    return InvalidArgument("tree " + std::to_string(tree_index) + ": node arrays differ in length (left " +
                           std::to_string(n) + ", right " + std::to_string(t.right.size()) + ", feature " +
                           std::to_string(t.feature.size()) + ", value " + std::to_string(t.value.size()) +
                           ", default_left " + std::to_string(t.default_left.size()) + ")");
  }
  std::vector<uint8_t> seen(n, 0);
  // Raw node id, index in `out` of the parent whose right link waits for it (or SIZE_MAX),
  // depth of the node (root 0).
  struct Pending {
    uint32_t id;
    size_t patch_right_of;
    uint32_t depth;
  };
  std::vector<Pending> stack;
  stack.push_back({0, SIZE_MAX, 0});
  depth_out = 0;
  while (!stack.empty()) {
    const auto [id, patch_right_of, depth] = stack.back();
    stack.pop_back();
    depth_out = std::max(depth_out, depth);
    if (seen[id]) {
      return InvalidArgument(Where(tree_index, id) + " is reached twice (a cycle or shared child)");
    }
    seen[id] = 1;
    if (out.size() >= nodes_max) {
      return InvalidArgument("more than " + std::to_string(nodes_max) + " nodes in the model");
    }
    const uint32_t self = static_cast<uint32_t>(out.size());
    if (patch_right_of != SIZE_MAX) out[patch_right_of].right = self;
    const int32_t l = t.left[id];
    const int32_t r = t.right[id];
    TreeEnsemble::Node node{0, t.value[id], 0, 0};
    if (l == -1 || r == -1) {
      if (l != r) {
        return InvalidArgument(Where(tree_index, id) + ": one child is -1 and the other is not");
      }
      if (!std::isfinite(node.value)) {
        return InvalidArgument(Where(tree_index, id) + ": leaf value is not finite");
      }
      // Both links point to the leaf itself, so a lockstep walk may step past it harmlessly;
      // feature 0 keeps its read in range.
      node.bits = TreeEnsemble::kLeafBit;
      node.left = self;
      node.right = self;
      out.push_back(node);
      continue;
    }
    if (l < 0 || r < 0 || static_cast<size_t>(l) >= n || static_cast<size_t>(r) >= n) {
      return InvalidArgument(Where(tree_index, id) + ": child index " + std::to_string(l) + "/" + std::to_string(r) +
                             " out of range [0, " + std::to_string(n) + ")");
    }
    if (l == r) return InvalidArgument(Where(tree_index, id) + ": both children are the same node");
    if (t.feature[id] >= num_features) {
      return InvalidArgument(Where(tree_index, id) + ": feature index " + std::to_string(t.feature[id]) +
                             " >= num_feature " + std::to_string(num_features));
    }
    // NaN thresholds would send every present value right; a model file never has one.
    if (std::isnan(node.value)) {
      return InvalidArgument(Where(tree_index, id) + ": split condition is NaN");
    }
    node.bits = t.feature[id] | (t.default_left[id] ? TreeEnsemble::kDefaultLeftBit : 0u);
    node.left = self + 1;  // depth-first: the left subtree follows immediately
    out.push_back(node);
    // Right is popped after the whole left subtree, then patched into this node.
    stack.push_back({static_cast<uint32_t>(r), self, depth + 1});
    stack.push_back({static_cast<uint32_t>(l), SIZE_MAX, depth + 1});
  }
  return Status::OK();
}

}  // namespace

Result<TreeEnsemble> TreeEnsemble::Create(std::span<const RawTree> trees, size_t num_features, size_t num_outputs,
                                          float base_margin, OutputTransform transform,
                                          const TreeEnsembleLimits& limits) {
  // The node format bounds what a caller's limits may allow: 30-bit feature indices and
  // 32-bit node indices.
  const size_t features_max = std::min<size_t>(limits.num_features_max, kFeatureMask);
  const size_t nodes_max = std::min<size_t>(limits.nodes_max, UINT32_MAX);
  if (num_features == 0 || num_features > features_max) {
    return InvalidArgument("num_feature " + std::to_string(num_features) + " outside [1, " +
                           std::to_string(features_max) + "]");
  }
  if (num_outputs == 0 || num_outputs > limits.num_outputs_max) {
    return InvalidArgument("number of outputs " + std::to_string(num_outputs) + " outside [1, " +
                           std::to_string(limits.num_outputs_max) + "]");
  }
  if (trees.size() > limits.trees_max) {
    return InvalidArgument(std::to_string(trees.size()) + " trees, more than the limit " +
                           std::to_string(limits.trees_max));
  }
  if (!std::isfinite(base_margin)) return InvalidArgument("base margin is not finite");
  TreeEnsemble e;
  e.num_features_ = num_features;
  e.num_outputs_ = num_outputs;
  e.base_margin_ = base_margin;
  e.transform_ = transform;
  e.roots_.reserve(trees.size());
  e.groups_.reserve(trees.size());
  for (size_t i = 0; i < trees.size(); ++i) {
    if (trees[i].group >= num_outputs) {
      return InvalidArgument("tree " + std::to_string(i) + ": group " + std::to_string(trees[i].group) +
                             " >= number of outputs " + std::to_string(num_outputs));
    }
    e.roots_.push_back(static_cast<uint32_t>(e.nodes_.size()));
    e.groups_.push_back(trees[i].group);
    uint32_t depth = 0;
    RETURN_IF_ERROR(Flatten(trees[i], i, num_features, nodes_max, e.nodes_, depth));
    e.depths_.push_back(depth);
    if (i % kLanes == 0) {
      e.lane_group_depths_.push_back(depth);
    } else {
      e.lane_group_depths_.back() = std::max(e.lane_group_depths_.back(), depth);
    }
  }
  e.nodes_.shrink_to_fit();
  return e;
}

// One level of a walk. libxgboost's rule: a missing value goes to the default side, a present
// one left iff fvalue < split_condition. Written without branches (the outcome is random).
inline uint32_t Step(const TreeEnsemble::Node* nodes, uint32_t i, const float* row) {
  const TreeEnsemble::Node& node = nodes[i];
  const float f = row[node.bits & TreeEnsemble::kFeatureMask];
  const bool missing_left = std::isnan(f) & ((node.bits & TreeEnsemble::kDefaultLeftBit) != 0);
  const bool go_left = (f < node.value) | missing_left;
  // A mask, not a conditional: compilers may turn `?:` into a branch that mispredicts half
  // the time.
  const uint32_t left_mask = 0u - static_cast<uint32_t>(go_left);
  return (node.left & left_mask) | (node.right & ~left_mask);
}

// Step with `?:`: g++ 12 makes it a conditional move in the single-row lockstep loop, where it
// measured faster than the mask (tree_benchmark), but a branch in the batch loop.
inline uint32_t StepSelect(const TreeEnsemble::Node* nodes, uint32_t i, const float* row) {
  const TreeEnsemble::Node& node = nodes[i];
  const float f = row[node.bits & TreeEnsemble::kFeatureMask];
  const bool missing_left = std::isnan(f) & ((node.bits & TreeEnsemble::kDefaultLeftBit) != 0);
  const bool go_left = (f < node.value) | missing_left;
  return go_left ? node.left : node.right;
}

inline float TreeEnsemble::Leaf(uint32_t root, const float* row) const {
  const Node* nodes = nodes_.data();
  uint32_t i = root;
  while (!(nodes[i].bits & kLeafBit)) i = Step(nodes, i, row);
  return nodes[i].value;
}

void TreeEnsemble::MarginSingle(const float* row, float* out) const {
  std::fill(out, out + num_outputs_, base_margin_);
  const Node* nodes = nodes_.data();
  const size_t trees = roots_.size();
  for (size_t g = 0; g < trees; g += kLanes) {
    const uint32_t depth = lane_group_depths_[g / kLanes];
    if (trees - g < kLanes || depth > kLockstepDepthMax) {
      const size_t end = std::min(trees, g + kLanes);
      for (size_t t = g; t < end; ++t) out[groups_[t]] += Leaf(roots_[t], row);
      continue;
    }
    // kLanes trees walked in lockstep; leaves loop on themselves until the deepest is done.
    uint32_t idx[kLanes];
    for (size_t l = 0; l < kLanes; ++l) idx[l] = roots_[g + l];
    for (uint32_t d = 0; d < depth; ++d) {
      for (size_t l = 0; l < kLanes; ++l) idx[l] = StepSelect(nodes, idx[l], row);
    }
    // Added in tree order, as libxgboost does: float sums depend on the order.
    for (size_t l = 0; l < kLanes; ++l) out[groups_[g + l]] += nodes[idx[l]].value;
  }
}

void TreeEnsemble::MarginBlock(const float* rows, size_t n, float* out) const {
  const size_t k = num_outputs_;
  const size_t f = num_features_;
  std::fill(out, out + n * k, base_margin_);
  const Node* nodes = nodes_.data();
  const size_t trees = roots_.size();
  for (size_t t = 0; t < trees; ++t) {
    const uint32_t root = roots_[t];
    const uint32_t depth = depths_[t];
    float* o = out + groups_[t];
    size_t r = 0;
    if (depth <= kLockstepDepthMax) {
      // kBatchLanes rows walked in lockstep through this tree.
      for (; r + kBatchLanes <= n; r += kBatchLanes) {
        uint32_t idx[kBatchLanes];
        const float* row[kBatchLanes];
        for (size_t l = 0; l < kBatchLanes; ++l) {
          idx[l] = root;
          row[l] = rows + (r + l) * f;
        }
        for (uint32_t d = 0; d < depth; ++d) {
          for (size_t l = 0; l < kBatchLanes; ++l) idx[l] = Step(nodes, idx[l], row[l]);
        }
        for (size_t l = 0; l < kBatchLanes; ++l) o[(r + l) * k] += nodes[idx[l]].value;
      }
    }
    for (; r < n; ++r) o[r * k] += Leaf(root, rows + r * f);
  }
}

void TreeEnsemble::PredictMargin(const float* rows, size_t n, float* out) const {
  if (n == 1) {
    MarginSingle(rows, out);
    return;
  }
  for (size_t start = 0; start < n; start += kBlockRows) {
    const size_t m = std::min(kBlockRows, n - start);
    MarginBlock(rows + start * num_features_, m, out + start * num_outputs_);
  }
}

void TreeEnsemble::Transform(float* out, size_t n) const {
  switch (transform_) {
    case OutputTransform::kIdentity: return;
    case OutputTransform::kSigmoid:
      for (size_t i = 0; i < n * num_outputs_; ++i) out[i] = 1.0f / (1.0f + std::exp(-out[i]));
      return;
    case OutputTransform::kSoftmax:
      for (size_t r = 0; r < n; ++r) {
        float* o = out + r * num_outputs_;
        float wmax = o[0];
        for (size_t j = 1; j < num_outputs_; ++j) wmax = std::max(wmax, o[j]);
        double wsum = 0;
        for (size_t j = 0; j < num_outputs_; ++j) {
          o[j] = std::exp(o[j] - wmax);
          wsum += o[j];
        }
        for (size_t j = 0; j < num_outputs_; ++j) o[j] /= static_cast<float>(wsum);
      }
      return;
  }
}

void TreeEnsemble::Predict(const float* rows, size_t n, float* out) const {
  PredictMargin(rows, n, out);
  Transform(out, n);
}

}  // namespace impulse::model
