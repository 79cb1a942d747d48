#include "model/model_file.h"

namespace impulse::model {

Result<std::string> ReadModelFile(Env* env, const std::string& path, size_t bytes_max, std::string_view what) {
  if (env == nullptr) env = Env::Default();
  auto file = env->OpenRandomAccess(path);
  if (!file.ok()) return file.status().WithContext(std::string(what) + " " + path);
  ASSIGN_OR_RETURN(uint64_t size, (*file)->Size());
  if (size > bytes_max) {
    return InvalidArgument(path + ": " + std::to_string(size) + " bytes, more than the limit " +
                           std::to_string(bytes_max));
  }
  std::string data(static_cast<size_t>(size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    auto n = (*file)->Read(done, data.size() - done, data.data() + done);
    if (!n.ok()) return n.status().WithContext("read " + path);
    if (*n == 0) break;  // the file shrank while it was read: parse what is there
    done += *n;
  }
  data.resize(done);
  return data;
}

}  // namespace impulse::model
