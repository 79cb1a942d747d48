#include "model/lightgbm_model.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <unordered_map>
#include <vector>

#include "model/model_file.h"

namespace impulse::model {

namespace {

// LightGBM's kZeroThreshold (meta.h): |x| <= 1e-35f counts as zero for missing type Zero.
constexpr float kZeroThreshold = 1e-35f;
// decision_type bits (tree.h).
constexpr int kCategoricalMask = 1;
constexpr int kDefaultLeftMask = 2;
enum MissingType { kMissingNone = 0, kMissingZero = 1, kMissingNaN = 2 };

// One `key=value` line and where it was.
struct Field {
  std::string_view value;
  size_t line = 0;
};
using Section = std::unordered_map<std::string_view, Field>;

// The evaluator's `<` threshold equal to LightGBM's `<= t` on every float32 input (see the
// header). `t` must be finite.
float LessThanEquivalent(double t) {
  constexpr double kMax = std::numeric_limits<float>::max();
  float floor_t;  // the largest float32 <= t
  if (t >= kMax) {
    floor_t = std::numeric_limits<float>::max();
  } else if (t < -kMax) {
    floor_t = -std::numeric_limits<float>::infinity();
  } else {
    floor_t = static_cast<float>(t);
    if (static_cast<double>(floor_t) > t) {
      floor_t = std::nextafter(floor_t, -std::numeric_limits<float>::infinity());
    }
  }
  return std::nextafter(floor_t, std::numeric_limits<float>::infinity());
}

class Parser {
 public:
  Parser(std::string_view text, std::string name, const LightgbmLoadOptions& options)
      : text_(text), name_(std::move(name)), options_(options) {}

  Result<TreeEnsemble> Parse() {
    // Sections: the header up to the first "Tree=", one per tree, then "end of trees".
    Section header;
    std::vector<Section> trees;
    Section* current = &header;
    bool ended = false;
    size_t line_no = 0;
    size_t pos = 0;
    while (pos < text_.size()) {
      size_t end = text_.find('\n', pos);
      if (end == std::string_view::npos) end = text_.size();
      std::string_view line = text_.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line == "end of trees") {
        ended = true;
        break;
      }
      const size_t eq = line.find('=');
      if (eq == std::string_view::npos) continue;  // "tree", blank lines
      const std::string_view key = line.substr(0, eq);
      if (key == "Tree") {
        if (trees.size() >= options_.limits.trees_max) {
          return AtLine(line_no, "more than " + std::to_string(options_.limits.trees_max) + " trees (trees_max)");
        }
        trees.emplace_back();
        current = &trees.back();
        tree_lines_.push_back(line_no);
        continue;
      }
      (*current)[key] = Field{line.substr(eq + 1), line_no};
    }
    if (!ended)
      return InvalidArgument(name_ + ": no 'end of trees' line: the file is truncated or not a LightGBM text model");
    RETURN_IF_ERROR(ReadHeader(header));
    std::vector<RawTree> raw;
    raw.reserve(trees.size());
    for (size_t i = 0; i < trees.size(); ++i) {
      ASSIGN_OR_RETURN(RawTree t, ReadTree(trees[i], i));
      t.group = static_cast<uint32_t>(i % trees_per_iteration_);
      raw.push_back(std::move(t));
    }
    auto ensemble = TreeEnsemble::Create(raw, num_features_, num_outputs_, 0.0f, transform_, options_.limits);
    if (!ensemble.ok()) return ensemble.status().WithContext(name_);
    return ensemble;
  }

 private:
  // "PATH:LINE: what", or "PATH: what" for line 0 (the file as a whole).
  Status AtLine(size_t line, const std::string& what) const {
    if (line == 0) return InvalidArgument(name_ + ": " + what);
    return InvalidArgument(name_ + ":" + std::to_string(line) + ": " + what);
  }

  Result<Field> Get(const Section& s, std::string_view key, size_t section_line) const {
    auto it = s.find(key);
    if (it == s.end()) {
      return AtLine(section_line,
                    "missing '" + std::string(key) + "='" + (section_line == 0 ? " in the header" : " in this tree"));
    }
    return it->second;
  }

  Result<int64_t> Int(const Field& f, std::string_view key) const {
    int64_t v = 0;
    const char* b = f.value.data();
    auto r = std::from_chars(b, b + f.value.size(), v);
    if (r.ec != std::errc() || r.ptr != b + f.value.size()) {
      return AtLine(f.line, std::string(key) + " '" + std::string(f.value) + "' is not an integer");
    }
    return v;
  }

  // Space-separated numbers; exactly `count` of them.
  template <typename T>
  Result<std::vector<T>> List(const Field& f, std::string_view key, size_t count) const {
    std::vector<T> out;
    out.reserve(std::min<size_t>(count, f.value.size() / 2 + 1));
    const char* p = f.value.data();
    const char* end = p + f.value.size();
    while (p < end) {
      while (p < end && *p == ' ') ++p;
      if (p == end) break;
      if (out.size() == count) break;  // too many: reported below
      T v{};
      auto r = std::from_chars(p, end, v);
      if (r.ec != std::errc() || (r.ptr != end && *r.ptr != ' ')) {
        return AtLine(f.line, std::string(key) + "[" + std::to_string(out.size()) + "] is not a number");
      }
      if constexpr (std::is_floating_point_v<T>) {
        if (!std::isfinite(v)) {
          return AtLine(f.line, std::string(key) + "[" + std::to_string(out.size()) + "] is not finite");
        }
      }
      out.push_back(v);
      p = r.ptr;
    }
    while (p < end && *p == ' ') ++p;
    if (out.size() != count || p != end) {
      return AtLine(f.line, std::string(key) + " has " +
                                (p != end ? "more than " + std::to_string(count) : std::to_string(out.size())) +
                                " values, expected " + std::to_string(count));
    }
    return out;
  }

  Status ReadHeader(const Section& h) {
    const size_t first_line = 0;  // a missing header key: no line to name
    if (h.count("average_output")) {
      return AtLine(h.at("average_output").line, "average_output (a random forest) is not supported");
    }
    ASSIGN_OR_RETURN(Field nc, Get(h, "num_class", first_line));
    ASSIGN_OR_RETURN(int64_t num_class, Int(nc, "num_class"));
    ASSIGN_OR_RETURN(Field ntpi, Get(h, "num_tree_per_iteration", first_line));
    ASSIGN_OR_RETURN(int64_t per_iter, Int(ntpi, "num_tree_per_iteration"));
    ASSIGN_OR_RETURN(Field mfi, Get(h, "max_feature_idx", first_line));
    ASSIGN_OR_RETURN(int64_t max_feature, Int(mfi, "max_feature_idx"));
    if (num_class < 1 || static_cast<uint64_t>(num_class) > options_.limits.num_outputs_max) {
      return AtLine(nc.line, "num_class " + std::to_string(num_class) + " outside [1, " +
                                 std::to_string(options_.limits.num_outputs_max) + "]");
    }
    if (max_feature < 0 || static_cast<uint64_t>(max_feature) >= options_.limits.num_features_max) {
      return AtLine(mfi.line, "max_feature_idx " + std::to_string(max_feature) + " outside [0, " +
                                  std::to_string(options_.limits.num_features_max) + ")");
    }
    num_features_ = static_cast<size_t>(max_feature) + 1;

    std::string_view name;
    std::string_view params;
    size_t obj_line = first_line;
    if (auto it = h.find("objective"); it != h.end()) {
      obj_line = it->second.line;
      const std::string_view v = it->second.value;
      const size_t sp = v.find(' ');
      name = v.substr(0, sp);
      params = sp == std::string_view::npos ? std::string_view() : v.substr(sp + 1);
    }
    auto param = [&](std::string_view key) -> std::optional<std::string_view> {
      size_t p = 0;
      while (p < params.size()) {
        size_t e = params.find(' ', p);
        if (e == std::string_view::npos) e = params.size();
        const std::string_view tok = params.substr(p, e - p);
        if (tok.size() > key.size() && tok.substr(0, key.size()) == key && tok[key.size()] == ':') {
          return tok.substr(key.size() + 1);
        }
        p = e + 1;
      }
      return std::nullopt;
    };
    num_outputs_ = 1;
    if (name == "binary") {
      transform_ = OutputTransform::kSigmoid;
      if (auto s = param("sigmoid")) {
        double v = 0;
        auto r = std::from_chars(s->data(), s->data() + s->size(), v);
        if (r.ec != std::errc() || r.ptr != s->data() + s->size() || !(v > 0) || !std::isfinite(v)) {
          return AtLine(obj_line, "sigmoid:" + std::string(*s) + " is not a positive number");
        }
        leaf_scale_ = v;
      }
    } else if (name == "cross_entropy" || name == "xentropy") {
      transform_ = OutputTransform::kSigmoid;
    } else if (name == "multiclass" || name == "softmax") {
      transform_ = OutputTransform::kSoftmax;
      num_outputs_ = static_cast<size_t>(num_class);
    } else if (name.empty() || name == "regression" || name == "regression_l2" || name == "regression_l1" ||
               name == "huber" || name == "fair" || name == "quantile" || name == "mape" || name == "lambdarank" ||
               name == "rank_xendcg") {
      transform_ = OutputTransform::kIdentity;
    } else {
      return AtLine(obj_line, "objective '" + std::string(name) +
                                  "' is not supported (binary, multiclass, cross_entropy and "
                                  "the identity-output regressions are)");
    }
    if (num_outputs_ == 1 && num_class != 1) {
      return AtLine(nc.line, "num_class " + std::to_string(num_class) + " with the single-output objective '" +
                                 std::string(name) + "'");
    }
    if (per_iter != static_cast<int64_t>(num_outputs_)) {
      return AtLine(ntpi.line, "num_tree_per_iteration " + std::to_string(per_iter) + " differs from the " +
                                   std::to_string(num_outputs_) + " outputs of objective '" + std::string(name) + "'");
    }
    trees_per_iteration_ = num_outputs_;
    return Status::OK();
  }

  Result<RawTree> ReadTree(const Section& s, size_t index) {
    const size_t at = tree_lines_[index];
    if (auto it = s.find("is_linear"); it != s.end() && it->second.value != "0") {
      return AtLine(it->second.line, "linear trees (is_linear=1) are not supported");
    }
    if (auto it = s.find("num_cat"); it != s.end() && it->second.value != "0") {
      return AtLine(it->second.line, "categorical splits (num_cat > 0) are not supported");
    }
    ASSIGN_OR_RETURN(Field nl, Get(s, "num_leaves", at));
    ASSIGN_OR_RETURN(int64_t num_leaves, Int(nl, "num_leaves"));
    if (num_leaves < 1 || static_cast<uint64_t>(num_leaves) > options_.limits.nodes_max) {
      return AtLine(nl.line, "num_leaves " + std::to_string(num_leaves) + " outside [1, " +
                                 std::to_string(options_.limits.nodes_max) + "]");
    }
    const size_t leaves = static_cast<size_t>(num_leaves);
    const size_t inner = leaves - 1;
    ASSIGN_OR_RETURN(Field lv, Get(s, "leaf_value", at));
    ASSIGN_OR_RETURN(leaf_value_, List<double>(lv, "leaf_value", leaves));
    if (inner > 0) {
      ASSIGN_OR_RETURN(Field f, Get(s, "split_feature", at));
      ASSIGN_OR_RETURN(split_feature_, List<int64_t>(f, "split_feature", inner));
      ASSIGN_OR_RETURN(Field t, Get(s, "threshold", at));
      ASSIGN_OR_RETURN(threshold_, List<double>(t, "threshold", inner));
      ASSIGN_OR_RETURN(Field d, Get(s, "decision_type", at));
      ASSIGN_OR_RETURN(decision_type_, List<int64_t>(d, "decision_type", inner));
      ASSIGN_OR_RETURN(Field l, Get(s, "left_child", at));
      ASSIGN_OR_RETURN(left_child_, List<int64_t>(l, "left_child", inner));
      ASSIGN_OR_RETURN(Field r, Get(s, "right_child", at));
      ASSIGN_OR_RETURN(right_child_, List<int64_t>(r, "right_child", inner));
      for (size_t i = 0; i < inner; ++i) {
        if (decision_type_[i] & kCategoricalMask) {
          return AtLine(d.line, "node " + std::to_string(i) + ": categorical splits are not supported");
        }
        if (decision_type_[i] < 0 || decision_type_[i] > 15 || ((decision_type_[i] >> 2) & 3) == 3) {
          return AtLine(d.line, "node " + std::to_string(i) + ": decision_type " + std::to_string(decision_type_[i]) +
                                    " is not valid");
        }
        if (split_feature_[i] < 0 || static_cast<uint64_t>(split_feature_[i]) >= num_features_) {
          return AtLine(f.line, "node " + std::to_string(i) + ": split_feature " + std::to_string(split_feature_[i]) +
                                    " >= max_feature_idx + 1 = " + std::to_string(num_features_));
        }
        for (const auto& [c, line] : {std::pair{left_child_[i], l.line}, std::pair{right_child_[i], r.line}}) {
          // A child is an inner node index >= 0 or ~leaf < 0.
          if (c >= static_cast<int64_t>(inner) || (c < 0 && ~c >= num_leaves)) {
            return AtLine(line, "node " + std::to_string(i) + ": child " + std::to_string(c) + " out of range");
          }
        }
      }
    }
    RawTree t;
    emitted_ = 0;
    auto root = Emit(inner > 0 ? 0 : ~int64_t{0}, 0, leaves, t);
    if (!root.ok()) {
      return AtLine(at, "tree " + std::to_string(index) + ": " + root.status().message());
    }
    return t;
  }

  uint32_t AddNode(RawTree& t) {
    t.left.push_back(-1);
    t.right.push_back(-1);
    t.feature.push_back(0);
    t.value.push_back(0);
    t.default_left.push_back(0);
    return static_cast<uint32_t>(t.left.size() - 1);
  }

  Result<uint32_t> NewNode(RawTree& t) {
    if (++emitted_ > options_.expanded_nodes_per_tree_max) {
      return InvalidArgument("more than " + std::to_string(options_.expanded_nodes_per_tree_max) +
                             " nodes after expanding missing-type Zero splits "
                             "(expanded_nodes_per_tree_max)");
    }
    return AddNode(t);
  }

  // A split node on `feature` sending x < threshold (and NaN iff default_left) to `l`.
  void SetSplit(RawTree& t, uint32_t id, uint32_t feature, float threshold, bool default_left, uint32_t l, uint32_t r) {
    t.feature[id] = feature;
    t.value[id] = threshold;
    t.default_left[id] = default_left;
    t.left[id] = static_cast<int32_t>(l);
    t.right[id] = static_cast<int32_t>(r);
  }

  // Emits the subtree of LightGBM node `ref` (inner index, or ~leaf) into `t`; returns its id.
  // A valid tree is never deeper than its leaf count; deeper means a cycle.
  Result<uint32_t> Emit(int64_t ref, size_t depth, size_t leaves, RawTree& t) {
    if (depth > leaves) return InvalidArgument("the child links form a cycle");
    if (depth > options_.tree_depth_max) {
      return InvalidArgument("deeper than " + std::to_string(options_.tree_depth_max) + " levels (tree_depth_max)");
    }
    if (ref < 0) {
      const double v = leaf_value_[static_cast<size_t>(~ref)] * leaf_scale_;
      if (!(std::abs(v) <= std::numeric_limits<float>::max())) {
        return InvalidArgument("leaf " + std::to_string(~ref) + " value is outside the float32 range");
      }
      ASSIGN_OR_RETURN(uint32_t id, NewNode(t));
      t.value[id] = static_cast<float>(v);
      return id;
    }
    const size_t i = static_cast<size_t>(ref);
    const uint32_t feature = static_cast<uint32_t>(split_feature_[i]);
    const double th = threshold_[i];
    const float cut = LessThanEquivalent(th);
    const bool default_left = (decision_type_[i] & kDefaultLeftMask) != 0;
    const int missing = static_cast<int>((decision_type_[i] >> 2) & 3);
    // Whether the band |x| <= kZeroThreshold all goes left, all right, or splits, by `<= th`.
    const double z = kZeroThreshold;
    const bool band_left = th >= z;
    const bool band_right = th < -z;
    if (missing != kMissingZero || (default_left ? band_left : band_right)) {
      ASSIGN_OR_RETURN(uint32_t id, NewNode(t));
      ASSIGN_OR_RETURN(uint32_t l, Emit(left_child_[i], depth + 1, leaves, t));
      ASSIGN_OR_RETURN(uint32_t r, Emit(right_child_[i], depth + 1, leaves, t));
      bool nan_left = default_left;
      if (missing == kMissingNone) nan_left = 0.0 <= th;  // NaN is scored as 0.0
      SetSplit(t, id, feature, cut, nan_left, l, r);
      return id;
    }
    // Missing type Zero with the band going the other way from the default:
    //   A: x < -z ? C1 : B        (NaN -> B)
    //   B: x <= z ? D : C2        (NaN -> D, the default child)
    //   C1, C2: the split itself (x <= th) over copies of the children.
    ASSIGN_OR_RETURN(uint32_t a, NewNode(t));
    ASSIGN_OR_RETURN(uint32_t c1, NewNode(t));
    ASSIGN_OR_RETURN(uint32_t c1l, Emit(left_child_[i], depth + 1, leaves, t));
    ASSIGN_OR_RETURN(uint32_t c1r, Emit(right_child_[i], depth + 1, leaves, t));
    ASSIGN_OR_RETURN(uint32_t b, NewNode(t));
    ASSIGN_OR_RETURN(uint32_t d, Emit(default_left ? left_child_[i] : right_child_[i], depth + 1, leaves, t));
    ASSIGN_OR_RETURN(uint32_t c2, NewNode(t));
    ASSIGN_OR_RETURN(uint32_t c2l, Emit(left_child_[i], depth + 1, leaves, t));
    ASSIGN_OR_RETURN(uint32_t c2r, Emit(right_child_[i], depth + 1, leaves, t));
    SetSplit(t, c1, feature, cut, false, c1l, c1r);
    SetSplit(t, c2, feature, cut, false, c2l, c2r);
    SetSplit(t, b, feature, LessThanEquivalent(z), true, d, c2);
    SetSplit(t, a, feature, -kZeroThreshold, false, c1, b);
    return a;
  }

  std::string_view text_;
  const std::string name_;
  const LightgbmLoadOptions& options_;
  std::vector<size_t> tree_lines_;
  size_t num_features_ = 0;
  size_t num_outputs_ = 1;
  size_t trees_per_iteration_ = 1;
  OutputTransform transform_ = OutputTransform::kIdentity;
  double leaf_scale_ = 1.0;  // sigmoid:s of binary folded into the leaves
  size_t emitted_ = 0;
  // The current tree's arrays.
  std::vector<double> leaf_value_;
  std::vector<int64_t> split_feature_;
  std::vector<double> threshold_;
  std::vector<int64_t> decision_type_;
  std::vector<int64_t> left_child_;
  std::vector<int64_t> right_child_;
};

}  // namespace

Result<std::unique_ptr<Model>> LoadLightgbmText(std::string_view text, std::string_view name_for_errors,
                                                const LightgbmLoadOptions& options) {
  const std::string name(name_for_errors);
  if (text.size() > options.file_bytes_max) {
    return InvalidArgument(name + ": " + std::to_string(text.size()) + " bytes, more than the limit " +
                           std::to_string(options.file_bytes_max));
  }
  Parser p(text, name, options);
  ASSIGN_OR_RETURN(TreeEnsemble ensemble, p.Parse());
  return std::unique_ptr<Model>(std::make_unique<LightgbmModel>(std::move(ensemble)));
}

Result<std::unique_ptr<Model>> LoadLightgbm(const std::string& path, const LightgbmLoadOptions& options) {
  ASSIGN_OR_RETURN(std::string text, ReadModelFile(options.env, path, options.file_bytes_max, "lightgbm model"));
  return LoadLightgbmText(text, path, options);
}

}  // namespace impulse::model
