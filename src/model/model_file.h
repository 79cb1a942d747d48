// Reads a model file whole, bounded: the loaders of every format share it (load time only).
#pragma once

#include <cstddef>
#include <string>

#include "impulse/env.h"
#include "impulse/status.h"

namespace impulse::model {

// The bytes of `path` read through `env` (nullptr = Env::Default()). kNotFound if missing;
// kInvalidArgument naming the path and the limit if the file is larger than `bytes_max`.
// `what` ("lightgbm model") prefixes errors from the file system.
Result<std::string> ReadModelFile(Env* env, const std::string& path, size_t bytes_max, std::string_view what);

}  // namespace impulse::model
