// Small neural nets from ONNX files, run by OpenCV dnn (libopencv-dnn-dev 4.6, docs/MODELS.md
// "ONNX" lists the operators it imports). OpenCV stays out of this header (pimpl), so only
// onnx_model.cc needs its headers. Built only with IMPULSE_WITH_ONNX; without it LoadOnnx
// fails with "built without ONNX support".
//
// The net takes one float input [n, num_features] (row-major, as Predict's rows) and gives one
// output of num_outputs floats per row. NaN inputs are passed through as they are (a net has
// no notion of missing; map them with the config's `default` values).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "impulse/env.h"
#include "impulse/status.h"
#include "model/model.h"

namespace impulse::model {

struct OnnxLoadOptions {
  // The largest model file read, in bytes; larger files are refused (kInvalidArgument).
  size_t file_bytes_max = size_t{64} << 20;  // 64 MiB: small nets only
  // Input width. Required (>= 1): OpenCV 4.6 does not expose the graph's input shape; the
  // repository passes the number of inputs in config.yaml.
  size_t num_features = 0;
  // The most outputs per row accepted from the probe (a larger net output is refused).
  size_t num_outputs_max = 4096;
  // cv::dnn::Net instances kept for concurrent Predict calls (one per calling thread at a
  // time); a caller beyond this waits for a free one.
  size_t nets_max = 8;
  // Where the file is read from; nullptr = Env::Default().
  Env* env = nullptr;
};

// Reads the file, builds one net, and runs a probe forward pass with one row of zeros (which
// gives num_outputs) and one with two rows (which says whether the net takes a batch; if not,
// Predict runs rows one at a time). kNotFound if the file is missing; kInvalidArgument naming
// the path when OpenCV cannot import or run it; kFailedPrecondition without ONNX support.
Result<std::unique_ptr<Model>> LoadOnnx(const std::string& path, const OnnxLoadOptions& options = {});

// True when the library was built with ONNX support (IMPULSE_WITH_ONNX).
bool OnnxSupported();

// OpenCV's worker threads for every net in the process (cv::setNumThreads): 1 runs a forward
// pass on the calling thread alone, which is what shard-per-core wants (a shard's thread is
// its core); 0 or less restores OpenCV's default (a TBB pool as wide as the machine). Without
// ONNX support it does nothing.
void SetOnnxThreads(int threads);

// An ONNX net behind a bounded pool of cv::dnn::Net (a Net is not safe for concurrent use,
// even const): Predict takes a free net from a mutex-protected list, creates one if fewer
// than nets_max exist, or waits; so Predict is const and safe from any number of threads.
// A forward pass that throws inside OpenCV (not expected after the probe) fills the rows'
// outputs with NaN and counts the failure (failures()).
class OnnxModel final : public Model {
 public:
  struct Impl;
  explicit OnnxModel(std::unique_ptr<Impl> impl);
  ~OnnxModel() override;
  size_t num_features() const override;
  size_t num_outputs() const override;
  void Predict(const float* rows, size_t n, float* out) const override;
  std::string_view kind() const override { return "onnx"; }
  // Nets created so far (<= nets_max) and forward passes that failed.
  size_t nets_created() const;
  uint64_t failures() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace impulse::model
