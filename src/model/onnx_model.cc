#include "model/onnx_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <vector>

#include "model/model_file.h"

#if IMPULSE_WITH_ONNX
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#endif

namespace impulse::model {

#if IMPULSE_WITH_ONNX

namespace {

// OpenCV's exception text on one line (it ends in a newline and nests "> " lines), so a
// version's failure reason stays one line in `impulse models list`.
std::string OneLine(const char* what) {
  std::string s(what);
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// Builds a net from the file's bytes. OpenCV reports errors by throwing cv::Exception: caught
// here, at the library boundary.
Result<cv::dnn::Net> MakeNet(const std::string& bytes, const std::string& path) {
  try {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
    if (net.empty()) return InvalidArgument(path + ": OpenCV dnn imported an empty net");
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return net;
  } catch (const cv::Exception& e) {
    return InvalidArgument(path + ": OpenCV dnn cannot import the ONNX file: " + OneLine(e.what()));
  } catch (const std::exception& e) {
    return InvalidArgument(path + ": OpenCV dnn cannot import the ONNX file: " + OneLine(e.what()));
  }
}

// One forward pass of n rows. The output is copied to `out` when it has exactly `out_size`
// floats (no allocation of ours; OpenCV's own buffers are reused by the net); with out ==
// nullptr (the probe) `out_size` receives the output's size.
Status Forward(cv::dnn::Net& net, const float* rows, size_t n, size_t num_features, float* out, size_t& out_size) {
  try {
    const int dims[2] = {static_cast<int>(n), static_cast<int>(num_features)};
    // A header over the caller's rows: no copy (setInput copies into the net's own blob).
    const cv::Mat blob(2, dims, CV_32F, const_cast<float*>(rows));
    net.setInput(blob);
    cv::Mat result = net.forward();
    if (result.type() != CV_32F) return InvalidArgument("the net's output is not float32");
    if (!result.isContinuous()) result = result.clone();
    if (out == nullptr) {
      out_size = result.total();
      return Status::OK();
    }
    if (result.total() != out_size) {
      return InvalidArgument("the net gave " + std::to_string(result.total()) + " values, expected " +
                             std::to_string(out_size));
    }
    std::copy_n(result.ptr<float>(), out_size, out);
    return Status::OK();
  } catch (const cv::Exception& e) {
    return InvalidArgument("OpenCV dnn forward failed: " + OneLine(e.what()));
  } catch (const std::exception& e) {
    return InvalidArgument("OpenCV dnn forward failed: " + OneLine(e.what()));
  }
}

}  // namespace

struct OnnxModel::Impl {
  std::string path;
  std::string bytes;  // the ONNX file, kept to build more nets on demand
  size_t num_features = 0;
  size_t num_outputs = 0;
  bool batched = true;  // false: the net takes one row at a time
  size_t nets_max = 1;

  mutable std::mutex mu;
  mutable std::condition_variable freed;
  mutable std::vector<std::unique_ptr<cv::dnn::Net>> free_nets;  // guarded by mu
  mutable size_t created = 0;                                    // guarded by mu
  mutable std::atomic<uint64_t> failures{0};

  // A net for this caller alone: a free one, a new one (below nets_max), or the next freed.
  std::unique_ptr<cv::dnn::Net> Acquire() const {
    {
      std::unique_lock lock(mu);
      for (;;) {
        if (!free_nets.empty()) {
          auto net = std::move(free_nets.back());
          free_nets.pop_back();
          return net;
        }
        if (created < nets_max) {
          ++created;
          break;
        }
        freed.wait(lock);
      }
    }
    // Built outside the lock (a few ms); the file imported once already, so it imports again.
    auto net = MakeNet(bytes, path);
    if (!net.ok()) {
      std::lock_guard lock(mu);
      --created;
      freed.notify_one();
      return nullptr;
    }
    return std::make_unique<cv::dnn::Net>(std::move(net).value());
  }

  void Release(std::unique_ptr<cv::dnn::Net> net) const {
    std::lock_guard lock(mu);
    free_nets.push_back(std::move(net));
    freed.notify_one();
  }
};

OnnxModel::OnnxModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnnxModel::~OnnxModel() = default;
size_t OnnxModel::num_features() const { return impl_->num_features; }
size_t OnnxModel::num_outputs() const { return impl_->num_outputs; }
uint64_t OnnxModel::failures() const { return impl_->failures.load(std::memory_order_relaxed); }
size_t OnnxModel::nets_created() const {
  std::lock_guard lock(impl_->mu);
  return impl_->created;
}

void OnnxModel::Predict(const float* rows, size_t n, float* out) const {
  if (n == 0) return;
  const Impl& m = *impl_;
  const size_t k = m.num_outputs;
  auto fail = [&](size_t first, size_t count) {
    std::fill(out + first * k, out + (first + count) * k, std::numeric_limits<float>::quiet_NaN());
    m.failures.fetch_add(1, std::memory_order_relaxed);
  };
  std::unique_ptr<cv::dnn::Net> net = m.Acquire();
  if (net == nullptr) return fail(0, n);
  // Rows per pass: all of them (bounded by int, OpenCV's dimension type), or one at a time.
  const size_t step = m.batched ? static_cast<size_t>(std::numeric_limits<int>::max()) / (m.num_features + k) : 1;
  for (size_t first = 0; first < n; first += step) {
    const size_t count = std::min(step, n - first);
    size_t size = count * k;
    if (!Forward(*net, rows + first * m.num_features, count, m.num_features, out + first * k, size).ok()) {
      fail(first, count);
    }
  }
  m.Release(std::move(net));
}

Result<std::unique_ptr<Model>> LoadOnnx(const std::string& path, const OnnxLoadOptions& options) {
  if (options.num_features == 0) {
    return InvalidArgument(path +
                           ": num_features is required for an ONNX model (the number of "
                           "inputs in config.yaml)");
  }
  if (options.num_features > static_cast<size_t>(std::numeric_limits<int>::max() / 4)) {
    return InvalidArgument(path + ": num_features " + std::to_string(options.num_features) + " is too large");
  }
  auto impl = std::make_unique<OnnxModel::Impl>();
  impl->path = path;
  impl->num_features = options.num_features;
  impl->nets_max = std::max<size_t>(1, options.nets_max);
  ASSIGN_OR_RETURN(impl->bytes, ReadModelFile(options.env, path, options.file_bytes_max, "onnx model"));
  ASSIGN_OR_RETURN(cv::dnn::Net net, MakeNet(impl->bytes, path));
  // Probe: one row gives the output width; two rows say whether the net takes a batch.
  const std::vector<float> zeros(2 * options.num_features, 0.0f);
  size_t one = 0;
  if (Status s = Forward(net, zeros.data(), 1, options.num_features, nullptr, one); !s.ok()) {
    return InvalidArgument(path + ": a probe forward pass with one row of " + std::to_string(options.num_features) +
                           " features failed: " + s.message());
  }
  if (one == 0 || one > options.num_outputs_max) {
    return InvalidArgument(path + ": the net gives " + std::to_string(one) + " outputs per row, outside [1, " +
                           std::to_string(options.num_outputs_max) + "]");
  }
  impl->num_outputs = one;
  size_t two = 0;
  impl->batched = Forward(net, zeros.data(), 2, options.num_features, nullptr, two).ok() && two == 2 * one;
  impl->free_nets.push_back(std::make_unique<cv::dnn::Net>(std::move(net)));
  impl->created = 1;
  return std::unique_ptr<Model>(std::make_unique<OnnxModel>(std::move(impl)));
}

bool OnnxSupported() { return true; }

void SetOnnxThreads(int threads) {
  // OpenCV: 0 = sequential on the calling thread, < 0 = its default, n = a pool of n.
  cv::setNumThreads(threads <= 0 ? -1 : threads == 1 ? 0 : threads);
}

#else  // !IMPULSE_WITH_ONNX

struct OnnxModel::Impl {};
OnnxModel::OnnxModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnnxModel::~OnnxModel() = default;
size_t OnnxModel::num_features() const { return 0; }
size_t OnnxModel::num_outputs() const { return 0; }
size_t OnnxModel::nets_created() const { return 0; }
uint64_t OnnxModel::failures() const { return 0; }
void OnnxModel::Predict(const float*, size_t, float*) const {}

Result<std::unique_ptr<Model>> LoadOnnx(const std::string& path, const OnnxLoadOptions&) {
  return FailedPrecondition(path +
                            ": built without ONNX support (configure with "
                            "IMPULSE_WITH_ONNX=ON and libopencv-dnn-dev installed)");
}

bool OnnxSupported() { return false; }

void SetOnnxThreads(int) {}

#endif  // IMPULSE_WITH_ONNX

}  // namespace impulse::model
