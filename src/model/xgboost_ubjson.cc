#include "model/xgboost_ubjson.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/json_string.h"
#include "model/model_file.h"

namespace impulse::model {

namespace {

// A recursive-descent transcoder over a byte span. Every read checks the bytes left; every
// count is checked against them before it drives a loop; recursion is bounded by depth_max.
class Transcoder {
 public:
  Transcoder(std::string_view in, const UbjsonLimits& limits)
      : in_(in), limits_(limits), out_max_(in.size() * limits.json_bytes_per_input_byte_max + 4096) {
    out_.reserve(std::min<size_t>(out_max_, in.size() * 3 + 64));
  }

  Result<std::string> Run() {
    ASSIGN_OR_RETURN(char marker, NextMarker());
    RETURN_IF_ERROR(Value(marker, 0));
    // Trailing no-ops are allowed; anything else after the document is not.
    while (pos_ < in_.size() && in_[pos_] == 'N') ++pos_;
    if (pos_ != in_.size()) return Error("bytes after the end of the document");
    return std::move(out_);
  }

 private:
  Status Error(std::string_view what) const {
    return InvalidArgument("UBJSON at byte " + std::to_string(pos_) + ": " + std::string(what));
  }

  Status CheckOut() const {
    if (out_.size() > out_max_) {
      return Error("the JSON form exceeds " + std::to_string(out_max_) + " bytes (json_bytes_per_input_byte_max)");
    }
    return Status::OK();
  }

  Result<char> Byte() {
    if (pos_ >= in_.size()) return Error("unexpected end of input");
    return in_[pos_++];
  }

  // The next marker, skipping no-ops.
  Result<char> NextMarker() {
    for (;;) {
      ASSIGN_OR_RETURN(char c, Byte());
      if (c != 'N') return c;
    }
  }

  // Big-endian fixed-size payload.
  template <typename T>
  Result<T> Fixed() {
    if (in_.size() - pos_ < sizeof(T)) return Error("unexpected end of input in a number");
    unsigned char b[sizeof(T)];
    std::memcpy(b, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    if constexpr (std::endian::native == std::endian::little) {
      for (size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
    }
    T v;
    std::memcpy(&v, b, sizeof(T));
    return v;
  }

  // An integer of the type `marker` names (a length or a count).
  Result<int64_t> Integer(char marker) {
    switch (marker) {
      case 'i': {
        ASSIGN_OR_RETURN(int8_t v, Fixed<int8_t>());
        return int64_t{v};
      }
      case 'U': {
        ASSIGN_OR_RETURN(uint8_t v, Fixed<uint8_t>());
        return int64_t{v};
      }
      case 'I': {
        ASSIGN_OR_RETURN(int16_t v, Fixed<int16_t>());
        return int64_t{v};
      }
      case 'l': {
        ASSIGN_OR_RETURN(int32_t v, Fixed<int32_t>());
        return int64_t{v};
      }
      case 'L': {
        ASSIGN_OR_RETURN(int64_t v, Fixed<int64_t>());
        return v;
      }
      default: return Error(std::string("expected an integer marker, got ") + Printable(marker));
    }
  }

  // A length or count: non-negative and at most `per_item` * count bytes must remain.
  Result<size_t> Count(size_t bytes_per_item) {
    ASSIGN_OR_RETURN(char m, NextMarker());
    ASSIGN_OR_RETURN(int64_t n, Integer(m));
    if (n < 0) return Error("negative length or count " + std::to_string(n));
    const size_t left = in_.size() - pos_;
    if (bytes_per_item > 0 && static_cast<uint64_t>(n) > left / bytes_per_item) {
      return Error("length or count " + std::to_string(n) + " exceeds the bytes left (" + std::to_string(left) + ")");
    }
    return static_cast<size_t>(n);
  }

  static std::string Printable(char c) {
    if (c >= 0x20 && c < 0x7f) return std::string("'") + c + "'";
    return "byte " + std::to_string(static_cast<unsigned char>(c));
  }

  // Payload bytes of a value of type `marker`, 0 for payload-less ones, SIZE_MAX for variable.
  static size_t PayloadBytes(char marker) {
    switch (marker) {
      case 'Z':
      case 'T':
      case 'F': return 0;
      case 'i':
      case 'U':
      case 'C': return 1;
      case 'I': return 2;
      case 'l':
      case 'd': return 4;
      case 'L':
      case 'D': return 8;
      default: return SIZE_MAX;
    }
  }

  void Number(double v) {
    if (!std::isfinite(v)) {
      out_ += std::isnan(v) ? "\"NaN\"" : (v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
      return;
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_.append(buf, r.ptr);
  }

  void Int(int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_.append(buf, r.ptr);
  }

  // A JSON string of `n` raw bytes from the input (already bounds-checked by Count); invalid
  // UTF-8 becomes U+FFFD (common/json_string.h).
  void QuotedBytes(size_t n) {
    AppendJsonString(in_.substr(pos_, n), &out_);
    pos_ += n;
  }

  Status String() {
    ASSIGN_OR_RETURN(size_t n, Count(1));
    QuotedBytes(n);
    return CheckOut();
  }

  Status Value(char marker, size_t depth) {
    switch (marker) {
      case 'Z': out_ += "null"; break;
      case 'T': out_ += "true"; break;
      case 'F': out_ += "false"; break;
      case 'i':
      case 'U':
      case 'I':
      case 'l':
      case 'L': {
        ASSIGN_OR_RETURN(int64_t v, Integer(marker));
        Int(v);
        break;
      }
      case 'd': {
        ASSIGN_OR_RETURN(float v, Fixed<float>());
        Number(static_cast<double>(v));  // the double's shortest decimal parses back exactly
        break;
      }
      case 'D': {
        ASSIGN_OR_RETURN(double v, Fixed<double>());
        Number(v);
        break;
      }
      case 'C': {
        if (pos_ >= in_.size()) return Error("unexpected end of input in a char");
        QuotedBytes(1);
        break;
      }
      case 'S':
      case 'H': return String();
      case '[': return Container(depth, /*object=*/false);
      case '{': return Container(depth, /*object=*/true);
      default: return Error("unexpected marker " + Printable(marker));
    }
    return CheckOut();
  }

  Status Container(size_t depth, bool object) {
    if (depth >= limits_.depth_max) {
      return Error("nesting deeper than " + std::to_string(limits_.depth_max));
    }
    out_ += object ? '{' : '[';
    char type = 0;
    bool counted = false;
    size_t count = 0;
    if (pos_ < in_.size() && in_[pos_] == '$') {
      ++pos_;
      ASSIGN_OR_RETURN(type, Byte());
      if (type == 'N' || type == ']' || type == '}' || type == '#') {
        return Error("invalid container type " + Printable(type));
      }
      if (pos_ >= in_.size() || in_[pos_] != '#') return Error("a typed container needs a count");
    }
    if (pos_ < in_.size() && in_[pos_] == '#') {
      ++pos_;
      counted = true;
      // Lower bound of input bytes per element, so the count cannot exceed the input.
      size_t per = 1;
      if (type != 0) {
        const size_t payload = PayloadBytes(type);
        per = payload == SIZE_MAX ? 1 : payload;
      }
      if (object) per += 1;  // a key takes at least its length marker
      ASSIGN_OR_RETURN(count, Count(per));
    }
    for (size_t i = 0;; ++i) {
      char marker = 0;
      if (counted) {
        if (i == count) break;
      } else {
        ASSIGN_OR_RETURN(marker, NextMarker());
        if (marker == (object ? '}' : ']')) break;
        if (object) --pos_;  // the key's length marker: re-read by Count
      }
      if (i > 0) out_ += ',';
      if (object) {
        ASSIGN_OR_RETURN(size_t n, Count(1));
        QuotedBytes(n);
        out_ += ':';
      }
      if (type != 0) {
        marker = type;
      } else if (counted || object) {
        ASSIGN_OR_RETURN(marker, NextMarker());
      }
      RETURN_IF_ERROR(Value(marker, depth + 1));
    }
    out_ += object ? '}' : ']';
    return CheckOut();
  }

  std::string_view in_;
  const UbjsonLimits& limits_;
  const size_t out_max_;
  size_t pos_ = 0;
  std::string out_;
};

}  // namespace

Result<std::string> UbjsonToJson(std::string_view ubjson, const UbjsonLimits& limits) {
  Transcoder t(ubjson, limits);
  return t.Run();
}

Result<std::unique_ptr<Model>> LoadXgboostUbjsonText(std::string_view ubjson, std::string_view name_for_errors,
                                                     const XgboostLoadOptions& options) {
  const std::string name(name_for_errors);
  if (ubjson.size() > options.file_bytes_max) {
    return InvalidArgument(name + ": " + std::to_string(ubjson.size()) + " bytes, more than the limit " +
                           std::to_string(options.file_bytes_max));
  }
  auto json = UbjsonToJson(ubjson);
  if (!json.ok()) return json.status().WithContext(name);
  // The JSON form is bounded by the transcoder; the file limit applied to the UBJSON bytes.
  XgboostLoadOptions json_options = options;
  json_options.file_bytes_max = json->size();
  return LoadXgboostJsonText(*json, name, json_options);
}

Result<std::unique_ptr<Model>> LoadXgboostUbjson(const std::string& path, const XgboostLoadOptions& options) {
  ASSIGN_OR_RETURN(std::string data, ReadModelFile(options.env, path, options.file_bytes_max, "xgboost model"));
  return LoadXgboostUbjsonText(data, path, options);
}

Result<std::unique_ptr<Model>> LoadXgboostFile(const std::string& path, const XgboostLoadOptions& options) {
  const bool ubj = path.size() >= 4 && path.compare(path.size() - 4, 4, ".ubj") == 0;
  return ubj ? LoadXgboostUbjson(path, options) : LoadXgboostJson(path, options);
}

}  // namespace impulse::model
