#include "server/infer_codec.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>

namespace impulse::server {
namespace {

namespace od = simdjson::ondemand;

constexpr int kDataDepthMax = 8;           // nesting of "data" arrays (and so the rank of a tensor)
constexpr size_t kTensorsMax = 65536 + 1;  // one per model input at most (kInputsMax), +1 slack

// One tensor of "inputs" as read, before it is checked against the model.
struct Tensor {
  std::string name;
  bool has_name = false;
  std::vector<int64_t> shape;
  bool has_shape = false;
  std::string datatype;
  std::vector<float> values;
  bool has_data = false;
  bool non_integer = false;  // data holds a number with a fraction or exponent
};

Status Bad(std::string message) { return InvalidArgument(std::move(message)); }

std::string JsonErrorText(simdjson::error_code e) { return std::string("invalid JSON: ") + simdjson::error_message(e); }

std::string TensorWhere(const Tensor& t, size_t index) {
  return t.has_name ? "input tensor '" + t.name + "'" : "inputs[" + std::to_string(index) + "]";
}

// Flattens nested arrays of numbers (row-major) into t->values; stops beyond `values_max`.
Status ParseData(od::value v, int depth, size_t values_max, const std::string& where, Tensor* t) {
  od::json_type type;
  if (auto e = v.type().get(type); e) return Bad(where + ": data: " + JsonErrorText(e));
  switch (type) {
    case od::json_type::array: {
      if (depth >= kDataDepthMax) {
        return Bad(where + ": data nested deeper than " + std::to_string(kDataDepthMax) + " levels");
      }
      od::array arr;
      if (auto e = v.get_array().get(arr); e) return Bad(where + ": data: " + JsonErrorText(e));
      for (auto element : arr) {
        od::value child;
        if (auto e = element.get(child); e) return Bad(where + ": data: " + JsonErrorText(e));
        RETURN_IF_ERROR(ParseData(child, depth + 1, values_max, where, t));
      }
      return Status::OK();
    }
    case od::json_type::number: {
      if (t->values.size() >= values_max) {
        return ResourceExhausted(where + ": more than " + std::to_string(values_max) +
                                 " values (rows are limited per request)");
      }
      od::number_type nt;
      if (auto e = v.get_number_type().get(nt); e) return Bad(where + ": data: " + JsonErrorText(e));
      double d = 0;
      if (nt == od::number_type::signed_integer) {
        int64_t i = 0;
        if (auto e = v.get_int64().get(i); e) return Bad(where + ": data: " + JsonErrorText(e));
        d = static_cast<double>(i);
      } else if (nt == od::number_type::unsigned_integer) {
        uint64_t u = 0;
        if (auto e = v.get_uint64().get(u); e) return Bad(where + ": data: " + JsonErrorText(e));
        d = static_cast<double>(u);
      } else {
        if (auto e = v.get_double().get(d); e) return Bad(where + ": data: " + JsonErrorText(e));
        t->non_integer = t->non_integer || d != std::floor(d);
      }
      t->values.push_back(static_cast<float>(d));
      return Status::OK();
    }
    case od::json_type::null: {
      if (t->values.size() >= values_max) {
        return ResourceExhausted(where + ": more than " + std::to_string(values_max) + " values");
      }
      bool is_null = false;
      if (auto e = v.is_null().get(is_null); e || !is_null) return Bad(where + ": data: invalid null");
      t->values.push_back(std::numeric_limits<float>::quiet_NaN());
      return Status::OK();
    }
    case od::json_type::string: return Bad(where + ": data holds a string; expected numbers");
    case od::json_type::boolean: return Bad(where + ": data holds a boolean; expected numbers");
    case od::json_type::object: return Bad(where + ": data holds an object; expected numbers");
  }
  return Bad(where + ": data: unexpected JSON value");
}

Status ParseTensor(od::value v, size_t index, size_t values_max, Tensor* t) {
  const std::string at = "inputs[" + std::to_string(index) + "]";
  od::object obj;
  if (auto e = v.get_object().get(obj); e) {
    return Bad(at + ": " + (e == simdjson::INCORRECT_TYPE ? std::string("expected an object") : JsonErrorText(e)));
  }
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key); e) return Bad(at + ": " + JsonErrorText(e));
    const std::string where = TensorWhere(*t, index);
    if (key == "name") {
      std::string_view s;
      if (field.value().get_string().get(s)) return Bad(at + ": name must be a string");
      t->name = std::string(s);
      t->has_name = true;
    } else if (key == "datatype") {
      std::string_view s;
      if (field.value().get_string().get(s)) return Bad(where + ": datatype must be a string");
      t->datatype = std::string(s);
    } else if (key == "shape") {
      od::array arr;
      if (field.value().get_array().get(arr)) return Bad(where + ": shape must be an array of integers");
      t->has_shape = true;
      for (auto element : arr) {
        int64_t dim = 0;
        if (element.get_int64().get(dim) || dim < 0) {
          return Bad(where + ": shape must be an array of non-negative integers");
        }
        if (t->shape.size() >= static_cast<size_t>(kDataDepthMax)) {
          return Bad(where + ": shape has more than " + std::to_string(kDataDepthMax) + " dimensions");
        }
        t->shape.push_back(dim);
      }
    } else if (key == "data") {
      od::value data;
      if (auto e = field.value().get(data); e) return Bad(where + ": data: " + JsonErrorText(e));
      t->has_data = true;
      RETURN_IF_ERROR(ParseData(data, 0, values_max, where, t));
    } else if (key == "parameters") {
      // Tensor parameters (e.g. binary_data_size) are not supported; their presence is allowed.
    } else {
      return Bad(where + ": unknown field '" + std::string(key) +
                 "' (expected name, shape, datatype, data, parameters)");
    }
  }
  return Status::OK();
}

// Checks what every tensor needs whatever the request shape: fields, datatype, data count.
Status CheckTensor(const Tensor& t, size_t index) {
  const std::string where = TensorWhere(t, index);
  if (!t.has_name) return Bad(where + ": missing field 'name'");
  if (!t.has_shape) return Bad(where + ": missing field 'shape'");
  if (t.datatype.empty()) return Bad(where + ": missing field 'datatype'");
  if (!t.has_data) return Bad(where + ": missing field 'data' (binary tensors are not supported)");
  const bool is_int = t.datatype == "INT32" || t.datatype == "INT64";
  if (!is_int && t.datatype != "FP32" && t.datatype != "FP64") {
    return Bad(where + ": datatype '" + t.datatype + "' not supported (expected FP32, FP64, INT32, INT64)");
  }
  if (is_int && t.non_integer) return Bad(where + ": datatype " + t.datatype + " but data holds a non-integer");
  uint64_t count = 1;
  for (int64_t dim : t.shape) {
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(dim)) {
      return Bad(where + ": shape is too large");
    }
    count *= static_cast<uint64_t>(dim);
  }
  if (count != t.values.size()) {
    return Bad(where + ": shape holds " + std::to_string(count) + " values but data has " +
               std::to_string(t.values.size()));
  }
  return Status::OK();
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

Status RowsWithinLimit(uint64_t rows, size_t rows_max) {
  if (rows > rows_max) {
    return ResourceExhausted(std::to_string(rows) + " rows in one infer request; the limit is " +
                             std::to_string(rows_max));
  }
  return Status::OK();
}

// Builds the row-major matrix from the tensors (already checked one by one).
Status Assemble(std::vector<Tensor>& tensors, std::span<const std::string> names, size_t rows_max, InferRequest* out) {
  const size_t n_features = names.size();
  if (tensors.empty())
    return Bad("inputs is empty: expected one tensor of shape [n, " + std::to_string(n_features) + "]");
  const bool one_named_feature = [&] {
    for (const std::string& name : names) {
      if (name == tensors[0].name) return true;
    }
    return false;
  }();
  // One tensor of shape [n, N]: the whole matrix (whatever its name, unless it names a feature
  // of a model with more than one input: then it is that feature's column, and others are missing).
  if (tensors.size() == 1 && !(one_named_feature && n_features > 1)) {
    Tensor& t = tensors[0];
    if (t.shape.size() != 2 || static_cast<size_t>(t.shape[1]) != n_features) {
      return Bad("input tensor '" + t.name + "': shape " + ShapeText(t.shape) + " but the model takes [n, " +
                 std::to_string(n_features) + "]");
    }
    RETURN_IF_ERROR(RowsWithinLimit(static_cast<uint64_t>(t.shape[0]), rows_max));
    out->rows = static_cast<size_t>(t.shape[0]);
    out->features = std::move(t.values);
    return Status::OK();
  }
  // One tensor per feature.
  std::vector<const Tensor*> by_feature(n_features, nullptr);
  std::string expected;
  for (size_t i = 0; i < n_features && i < 8; ++i) expected += (i ? ", " : "") + names[i];
  if (n_features > 8) expected += ", ...";
  std::optional<int64_t> rows;
  for (const Tensor& t : tensors) {
    size_t f = 0;
    while (f < n_features && names[f] != t.name) ++f;
    if (f == n_features) {
      return Bad("input tensor '" + t.name + "': not an input of the model (send one tensor of shape [n, " +
                 std::to_string(n_features) + "], or one tensor per input: " + expected + ")");
    }
    if (by_feature[f] != nullptr) return Bad("input tensor '" + t.name + "' given twice");
    if (t.shape.empty() || t.shape.size() > 2 || (t.shape.size() == 2 && t.shape[1] != 1)) {
      return Bad("input tensor '" + t.name + "': shape " + ShapeText(t.shape) +
                 " but a per-input tensor is [n] or [n, 1]");
    }
    if (rows && *rows != t.shape[0]) {
      return Bad("input tensor '" + t.name + "': " + std::to_string(t.shape[0]) + " rows but other tensors have " +
                 std::to_string(*rows));
    }
    rows = t.shape[0];
    by_feature[f] = &t;
  }
  for (size_t f = 0; f < n_features; ++f) {
    if (by_feature[f] == nullptr) return Bad("missing input tensor '" + names[f] + "'");
  }
  RETURN_IF_ERROR(RowsWithinLimit(static_cast<uint64_t>(*rows), rows_max));
  out->rows = static_cast<size_t>(*rows);
  out->features.resize(out->rows * n_features);
  for (size_t f = 0; f < n_features; ++f) {
    for (size_t r = 0; r < out->rows; ++r) out->features[r * n_features + f] = by_feature[f]->values[r];
  }
  return Status::OK();
}

}  // namespace

Result<InferRequest> ParseInferRequest(std::string* body, std::span<const std::string> input_names, size_t rows_max) {
  thread_local od::parser parser;
  const size_t len = body->size();
  body->resize(len + simdjson::SIMDJSON_PADDING, ' ');
  od::document doc;
  if (auto e = parser.iterate(body->data(), len, body->size()).get(doc); e) return Bad(JsonErrorText(e));
  od::object obj;
  if (auto e = doc.get_object().get(obj); e) {
    return Bad(e == simdjson::INCORRECT_TYPE ? "request body must be a JSON object {\"inputs\": [...]}"
                                             : JsonErrorText(e));
  }
  // Values a valid request can hold: every tensor together is rows x inputs.
  const size_t values_max = rows_max * std::max<size_t>(input_names.size(), 1);
  InferRequest out;
  std::vector<Tensor> tensors;
  size_t values_used = 0;
  bool saw_inputs = false;
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key); e) return Bad(JsonErrorText(e));
    if (key == "id") {
      std::string_view s;
      if (field.value().get_string().get(s)) return Bad("id must be a string");
      out.id = std::string(s);
    } else if (key == "parameters") {
      // Request parameters (binary_data_output, ...) are not supported; their presence is allowed.
    } else if (key == "inputs") {
      if (saw_inputs) return Bad("duplicate field 'inputs'");
      saw_inputs = true;
      od::array arr;
      if (auto e = field.value().get_array().get(arr); e) {
        return Bad(e == simdjson::INCORRECT_TYPE ? "inputs must be an array of tensors" : JsonErrorText(e));
      }
      for (auto element : arr) {
        if (tensors.size() >= kTensorsMax) return Bad("more than " + std::to_string(kTensorsMax) + " input tensors");
        od::value v;
        if (auto e = element.get(v); e) return Bad(JsonErrorText(e));
        tensors.emplace_back();
        RETURN_IF_ERROR(ParseTensor(v, tensors.size() - 1, values_max - values_used, &tensors.back()));
        values_used += tensors.back().values.size();  // <= values_max: ParseTensor stops there
      }
    } else if (key == "outputs") {
      od::array arr;
      if (field.value().get_array().get(arr)) return Bad("outputs must be an array of {\"name\": ...}");
      for (auto element : arr) {
        od::object o;
        if (element.get_object().get(o)) return Bad("outputs: each entry must be an object {\"name\": ...}");
        std::string_view name;
        bool has_name = false;
        for (auto f : o) {
          std::string_view k;
          if (f.unescaped_key().get(k)) return Bad("outputs: invalid key");
          if (k == "name") {
            if (f.value().get_string().get(name)) return Bad("outputs: name must be a string");
            has_name = true;
          } else if (k != "parameters") {
            return Bad("outputs: unknown field '" + std::string(k) + "' (expected name, parameters)");
          }
        }
        if (!has_name) return Bad("outputs: an entry has no name");
        if (out.outputs.size() >= 4096) return Bad("outputs: more than 4096 entries");
        out.outputs.emplace_back(name);
      }
    } else {
      return Bad("unknown field '" + std::string(key) + "' (expected id, parameters, inputs, outputs)");
    }
  }
  if (!saw_inputs) return Bad("missing field 'inputs'");
  const char* rest = nullptr;
  if (doc.current_location().get(rest) == simdjson::SUCCESS) return Bad("trailing content after the JSON object");
  for (size_t i = 0; i < tensors.size(); ++i) RETURN_IF_ERROR(CheckTensor(tensors[i], i));
  RETURN_IF_ERROR(Assemble(tensors, input_names, rows_max, &out));
  return out;
}

void AppendJsonFloat(float v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, ec == std::errc() ? end : buf);
}

}  // namespace impulse::server
