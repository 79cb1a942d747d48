// TreeEnsemble on hand-built trees: the paths the oracle test does not reach (trees deeper
// than the lockstep limit, lone-leaf trees, groups of trees smaller than a lane group).
#include "model/tree_ensemble.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "common/status_matchers.h"

namespace impulse::model {
namespace {

// A chain of `depth` splits on feature 0: node 2i splits at threshold i, its left child (2i+1)
// is a leaf worth i, its right child continues; the last right child is a leaf worth `depth`.
// So a row x scores the smallest i with x < i (or `depth`); missing goes right all the way.
RawTree Chain(int depth) {
  RawTree t;
  for (int i = 0; i < depth; ++i) {
    const int split = 2 * i;
    t.left.push_back(split + 1);
    t.right.push_back(split + 2);
    t.feature.push_back(0);
    t.value.push_back(static_cast<float>(i));
    t.default_left.push_back(0);
    t.left.push_back(-1);  // the leaf
    t.right.push_back(-1);
    t.feature.push_back(0);
    t.value.push_back(static_cast<float>(i));
    t.default_left.push_back(0);
  }
  t.left.push_back(-1);
  t.right.push_back(-1);
  t.feature.push_back(0);
  t.value.push_back(static_cast<float>(depth));
  t.default_left.push_back(0);
  return t;
}

RawTree Leaf(float value) {
  RawTree t;
  t.left = {-1};
  t.right = {-1};
  t.feature = {0};
  t.value = {value};
  t.default_left = {0};
  return t;
}

float ChainScore(float x, int depth) {
  if (std::isnan(x)) return static_cast<float>(depth);
  for (int i = 0; i < depth; ++i) {
    if (x < static_cast<float>(i)) return static_cast<float>(i);
  }
  return static_cast<float>(depth);
}

TEST(TreeEnsemble, DeepAndShallowTreesScoreTheSameInSingleAndBatchPaths) {
  // 8 deep chains (past the lockstep depth limit), 8 shallow chains (lockstep), 3 lone leaves
  // (a partial lane group).
  std::vector<RawTree> trees;
  for (int i = 0; i < 8; ++i) trees.push_back(Chain(40));
  for (int i = 0; i < 8; ++i) trees.push_back(Chain(5));
  for (int i = 0; i < 3; ++i) trees.push_back(Leaf(0.25f));
  auto e = TreeEnsemble::Create(trees, /*num_features=*/2, /*num_outputs=*/1, /*base_margin=*/1.0f,
                                OutputTransform::kIdentity);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->num_trees(), 19u);

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-3, 45);
  const size_t n = 100;
  std::vector<float> rows(n * 2);
  for (size_t r = 0; r < n; ++r) {
    rows[r * 2] = r % 10 == 0 ? NAN : (r % 10 == 1 ? std::floor(u(rng)) : u(rng));
    rows[r * 2 + 1] = 0;
  }
  std::vector<float> batch(n);
  e->Predict(rows.data(), n, batch.data());
  for (size_t r = 0; r < n; ++r) {
    const float x = rows[r * 2];
    float expected = 1.0f;
    for (int i = 0; i < 8; ++i) expected += ChainScore(x, 40);
    for (int i = 0; i < 8; ++i) expected += ChainScore(x, 5);
    for (int i = 0; i < 3; ++i) expected += 0.25f;
    EXPECT_EQ(batch[r], expected) << "row " << r << " x " << x;
    float single = 0;
    e->Predict(rows.data() + r * 2, 1, &single);
    EXPECT_EQ(single, batch[r]) << "row " << r;
  }
}

TEST(TreeEnsemble, SharedChildIsRefused) {
  RawTree t = Chain(2);
  t.right[0] = 1;  // both children of the root are node 1
  t.left[0] = 1;
  EXPECT_CODE(TreeEnsemble::Create({&t, 1}, 1, 1, 0, OutputTransform::kIdentity), kInvalidArgument);
  RawTree u = Chain(3);
  u.right[2] = 1;  // node 2 links back to node 1, a leaf already reached
  EXPECT_CODE(TreeEnsemble::Create({&u, 1}, 1, 1, 0, OutputTransform::kIdentity), kInvalidArgument);
}

TEST(TreeEnsemble, NodeLimitIsEnforced) {
  RawTree t = Chain(10);  // 21 nodes
  TreeEnsembleLimits limits;
  limits.nodes_max = 20;
  EXPECT_CODE(TreeEnsemble::Create({&t, 1}, 1, 1, 0, OutputTransform::kIdentity, limits), kInvalidArgument);
  limits.nodes_max = 21;
  EXPECT_TRUE(TreeEnsemble::Create({&t, 1}, 1, 1, 0, OutputTransform::kIdentity, limits).ok());
}

}  // namespace
}  // namespace impulse::model
