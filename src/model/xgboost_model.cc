#include "model/xgboost_model.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace impulse::model {

namespace {

namespace dom = simdjson::dom;

// The JSON model walked with simdjson's DOM (load time only, not a hot path). Every error
// names the JSON path of the field; the caller prepends the file name.
class Parser {
 public:
  explicit Parser(const TreeEnsembleLimits& limits) : limits_(limits) {}

  Result<TreeEnsemble> Parse(dom::element root) {
    ASSIGN_OR_RETURN(dom::element learner, Field(root, "learner", "learner"));
    ASSIGN_OR_RETURN(dom::element gb, Field(learner, "gradient_booster", "learner.gradient_booster"));
    ASSIGN_OR_RETURN(std::string_view booster, String(gb, "name", "learner.gradient_booster.name"));
    if (booster != "gbtree") {
      return InvalidArgument("booster '" + std::string(booster) +
                             "' is not supported (only gbtree; dart and gblinear are refused)");
    }
    ASSIGN_OR_RETURN(dom::element param, Field(learner, "learner_model_param", "learner.learner_model_param"));
    ASSIGN_OR_RETURN(double base_score, NumberOrString(param, "base_score", "learner.learner_model_param.base_score"));
    ASSIGN_OR_RETURN(double num_feature,
                     NumberOrString(param, "num_feature", "learner.learner_model_param.num_feature"));
    ASSIGN_OR_RETURN(double num_class, NumberOrString(param, "num_class", "learner.learner_model_param.num_class"));
    double num_target = 1;
    if (param.at_key("num_target").error() == simdjson::SUCCESS) {
      ASSIGN_OR_RETURN(num_target, NumberOrString(param, "num_target", "learner.learner_model_param.num_target"));
    }
    if (num_target != 1) {
      return InvalidArgument("learner.learner_model_param.num_target is " + Num(num_target) +
                             ": multi-target models are not supported");
    }
    if (!IsCount(num_feature) || num_feature < 1 || num_feature > static_cast<double>(limits_.num_features_max)) {
      return InvalidArgument("learner.learner_model_param.num_feature " + Num(num_feature) +
                             " is not an integer in [1, " + std::to_string(limits_.num_features_max) + "]");
    }
    if (!IsCount(num_class) || num_class > static_cast<double>(limits_.num_outputs_max)) {
      return InvalidArgument("learner.learner_model_param.num_class " + Num(num_class) + " is not an integer in [0, " +
                             std::to_string(limits_.num_outputs_max) + "]");
    }

    ASSIGN_OR_RETURN(dom::element objective, Field(learner, "objective", "learner.objective"));
    ASSIGN_OR_RETURN(std::string_view obj, String(objective, "name", "learner.objective.name"));
    OutputTransform transform = OutputTransform::kIdentity;
    size_t num_outputs = 1;
    if (!(std::abs(base_score) <= std::numeric_limits<float>::max())) {
      return InvalidArgument("learner.learner_model_param.base_score " + Num(base_score) + " is not a finite float32");
    }
    float base_margin = static_cast<float>(base_score);
    if (obj == "binary:logitraw" || obj == "reg:squarederror" || obj == "reg:linear") {
      // binary:logitraw: libxgboost 1.7 keeps the stored base_score as the margin (checked by the oracle).
      transform = OutputTransform::kIdentity;
    } else if (obj == "binary:logistic" || obj == "reg:logistic") {
      // libxgboost 1.7 ProbToMargin, in float: -logf(1 / p - 1).
      if (!(base_score > 0 && base_score < 1)) {
        return InvalidArgument("learner.learner_model_param.base_score " + Num(base_score) + " must be in (0, 1) for " +
                               std::string(obj));
      }
      const float p = static_cast<float>(base_score);
      base_margin = -std::log(1.0f / p - 1.0f);
      transform = OutputTransform::kSigmoid;
    } else if (obj == "multi:softprob") {
      if (num_class < 1) {
        return InvalidArgument("multi:softprob with learner.learner_model_param.num_class " + Num(num_class));
      }
      num_outputs = static_cast<size_t>(num_class);
      transform = OutputTransform::kSoftmax;
    } else {
      return InvalidArgument("objective '" + std::string(obj) + "' is not supported");
    }
    if (!std::isfinite(base_margin)) {
      return InvalidArgument("learner.learner_model_param.base_score " + Num(base_score) +
                             " is not finite as a margin");
    }
    if (num_outputs == 1 && num_class > 1) {
      return InvalidArgument("learner.learner_model_param.num_class " + Num(num_class) +
                             " with the single-output objective " + std::string(obj));
    }

    ASSIGN_OR_RETURN(dom::element model, Field(gb, "model", "learner.gradient_booster.model"));
    ASSIGN_OR_RETURN(dom::array trees, Array(model, "trees", "learner.gradient_booster.model.trees"));
    ASSIGN_OR_RETURN(std::vector<int64_t> tree_info,
                     Ints(model, "tree_info", "learner.gradient_booster.model.tree_info"));
    if (tree_info.size() != trees.size()) {
      return InvalidArgument("learner.gradient_booster.model.tree_info has " + std::to_string(tree_info.size()) +
                             " entries for " + std::to_string(trees.size()) + " trees");
    }
    if (trees.size() > limits_.trees_max) {
      return InvalidArgument(std::to_string(trees.size()) + " trees, more than the limit " +
                             std::to_string(limits_.trees_max));
    }
    std::vector<RawTree> raw;
    raw.reserve(trees.size());
    size_t i = 0;
    for (dom::element tree : trees) {
      const std::string where = "learner.gradient_booster.model.trees[" + std::to_string(i) + "]";
      if (tree_info[i] < 0 || static_cast<size_t>(tree_info[i]) >= num_outputs) {
        return InvalidArgument("learner.gradient_booster.model.tree_info[" + std::to_string(i) +
                               "] = " + std::to_string(tree_info[i]) + " is not a class in [0, " +
                               std::to_string(num_outputs) + ")");
      }
      ASSIGN_OR_RETURN(RawTree t, ParseTree(tree, where));
      t.group = static_cast<uint32_t>(tree_info[i]);
      raw.push_back(std::move(t));
      ++i;
    }
    return TreeEnsemble::Create(raw, static_cast<size_t>(num_feature), num_outputs, base_margin, transform, limits_);
  }

 private:
  static bool IsCount(double v) { return v >= 0 && v <= 4e9 && v == std::floor(v); }
  static std::string Num(double v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    return std::string(buf, r.ptr);
  }

  Result<RawTree> ParseTree(dom::element tree, const std::string& where) {
    RawTree t;
    ASSIGN_OR_RETURN(std::vector<int64_t> left, Ints(tree, "left_children", where + ".left_children"));
    ASSIGN_OR_RETURN(std::vector<int64_t> right, Ints(tree, "right_children", where + ".right_children"));
    ASSIGN_OR_RETURN(std::vector<int64_t> feat, Ints(tree, "split_indices", where + ".split_indices"));
    ASSIGN_OR_RETURN(std::vector<int64_t> dl, Ints(tree, "default_left", where + ".default_left"));
    ASSIGN_OR_RETURN(std::vector<double> cond, Doubles(tree, "split_conditions", where + ".split_conditions"));
    if (tree.at_key("split_type").error() == simdjson::SUCCESS) {
      ASSIGN_OR_RETURN(std::vector<int64_t> st, Ints(tree, "split_type", where + ".split_type"));
      for (size_t j = 0; j < st.size(); ++j) {
        if (st[j] != 0) {
          return InvalidArgument(where + " node " + std::to_string(j) + ": categorical splits are not supported");
        }
      }
    }
    const size_t n = left.size();
    if (right.size() != n || feat.size() != n || dl.size() != n || cond.size() != n) {
      return InvalidArgument(where + ": node arrays differ in length (left_children " + std::to_string(n) +
                             ", right_children " + std::to_string(right.size()) + ", split_indices " +
                             std::to_string(feat.size()) + ", default_left " + std::to_string(dl.size()) +
                             ", split_conditions " + std::to_string(cond.size()) + ")");
    }
    if (n > limits_.nodes_max) {
      return InvalidArgument(where + ": " + std::to_string(n) + " nodes, more than the limit " +
                             std::to_string(limits_.nodes_max));
    }
    t.left.resize(n);
    t.right.resize(n);
    t.feature.resize(n);
    t.value.resize(n);
    t.default_left.resize(n);
    for (size_t j = 0; j < n; ++j) {
      // Out-of-int32 children become an index that TreeEnsemble::Create reports as out of range.
      auto child = [&](int64_t c) -> int32_t {
        return c < INT32_MIN || c > INT32_MAX ? INT32_MAX : static_cast<int32_t>(c);
      };
      t.left[j] = child(left[j]);
      t.right[j] = child(right[j]);
      if (left[j] != -1 && (feat[j] < 0 || feat[j] > UINT32_MAX)) {
        return InvalidArgument(where + " node " + std::to_string(j) + ": split index " + std::to_string(feat[j]) +
                               " out of range");
      }
      t.feature[j] = left[j] == -1 ? 0 : static_cast<uint32_t>(feat[j]);
      // Outside the float range the value cannot have been written from a float32 model.
      if (!(std::abs(cond[j]) <= std::numeric_limits<float>::max())) {
        return InvalidArgument(where + ".split_conditions[" + std::to_string(j) + "] " + Num(cond[j]) +
                               " is not a finite float32");
      }
      t.value[j] = static_cast<float>(cond[j]);
      t.default_left[j] = dl[j] != 0;
    }
    return t;
  }

  static Result<dom::element> Field(dom::element obj, std::string_view key, const std::string& path) {
    if (!obj.is_object()) return InvalidArgument(path + ": parent is not an object");
    dom::element v;
    if (obj.at_key(key).get(v) != simdjson::SUCCESS) return InvalidArgument("missing field " + path);
    return v;
  }

  static Result<std::string_view> String(dom::element obj, std::string_view key, const std::string& path) {
    ASSIGN_OR_RETURN(dom::element v, Field(obj, key, path));
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) return InvalidArgument(path + " is not a string");
    return s;
  }

  // libxgboost writes its parameters as strings ("5E-1"); accept a number too.
  static Result<double> NumberOrString(dom::element obj, std::string_view key, const std::string& path) {
    ASSIGN_OR_RETURN(dom::element v, Field(obj, key, path));
    double d = 0;
    if (v.get_double().get(d) == simdjson::SUCCESS) return d;
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) {
      return InvalidArgument(path + " is neither a number nor a string");
    }
    // XGBoost 2.x writes base_score as "[5E-1]".
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    auto r = std::from_chars(s.data(), s.data() + s.size(), d);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(d)) {
      return InvalidArgument(path + " '" + std::string(s) + "' is not a finite number");
    }
    return d;
  }

  static Result<dom::array> Array(dom::element obj, std::string_view key, const std::string& path) {
    ASSIGN_OR_RETURN(dom::element v, Field(obj, key, path));
    dom::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS) return InvalidArgument(path + " is not an array");
    return a;
  }

  static Result<std::vector<int64_t>> Ints(dom::element obj, std::string_view key, const std::string& path) {
    ASSIGN_OR_RETURN(dom::array a, Array(obj, key, path));
    std::vector<int64_t> out;
    out.reserve(a.size());
    for (dom::element e : a) {
      int64_t x = 0;
      bool b = false;
      if (e.get_int64().get(x) == simdjson::SUCCESS) {
        out.push_back(x);
      } else if (e.get_bool().get(b) == simdjson::SUCCESS) {
        out.push_back(b ? 1 : 0);
      } else {
        return InvalidArgument(path + "[" + std::to_string(out.size()) + "] is not an integer");
      }
    }
    return out;
  }

  static Result<std::vector<double>> Doubles(dom::element obj, std::string_view key, const std::string& path) {
    ASSIGN_OR_RETURN(dom::array a, Array(obj, key, path));
    std::vector<double> out;
    out.reserve(a.size());
    for (dom::element e : a) {
      double x = 0;
      if (e.get_double().get(x) != simdjson::SUCCESS) {
        return InvalidArgument(path + "[" + std::to_string(out.size()) + "] is not a number");
      }
      out.push_back(x);
    }
    return out;
  }

  const TreeEnsembleLimits& limits_;
};

}  // namespace

Result<std::unique_ptr<Model>> LoadXgboostJsonText(std::string_view json, std::string_view name_for_errors,
                                                   const XgboostLoadOptions& options) {
  const std::string name(name_for_errors);
  if (json.size() > options.file_bytes_max) {
    return InvalidArgument(name + ": " + std::to_string(json.size()) + " bytes, more than the limit " +
                           std::to_string(options.file_bytes_max));
  }
  dom::parser parser;
  dom::element root;
  const simdjson::padded_string padded(json);
  if (auto e = parser.parse(padded).get(root); e != simdjson::SUCCESS) {
    return InvalidArgument(name + ": invalid JSON: " + simdjson::error_message(e));
  }
  Parser p(options.limits);
  auto ensemble = p.Parse(root);
  if (!ensemble.ok()) return ensemble.status().WithContext(name);
  return std::unique_ptr<Model>(std::make_unique<XgboostModel>(std::move(ensemble).value()));
}

Result<std::unique_ptr<Model>> LoadXgboostJson(const std::string& path, const XgboostLoadOptions& options) {
  Env* env = options.env ? options.env : Env::Default();
  auto file = env->OpenRandomAccess(path);
  if (!file.ok()) return file.status().WithContext("xgboost model " + path);
  ASSIGN_OR_RETURN(uint64_t size, (*file)->Size());
  if (size > options.file_bytes_max) {
    return InvalidArgument(path + ": " + std::to_string(size) + " bytes, more than the limit " +
                           std::to_string(options.file_bytes_max));
  }
  std::string data(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    auto n = (*file)->Read(done, data.size() - done, data.data() + done);
    if (!n.ok()) return n.status().WithContext("read " + path);
    if (*n == 0) break;
    done += *n;
  }
  data.resize(done);
  return LoadXgboostJsonText(data, path, options);
}

}  // namespace impulse::model
