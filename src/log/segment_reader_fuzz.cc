// Fuzzes recovery and reading: the input becomes the only segment file of a partition, which
// is opened, read to the end, repaired, reopened and read again. Must never crash, hang or
// leak; errors (kDataLoss, ...) are fine.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "impulse/env.h"
#include "log/log_format.h"
#include "log/partition_log.h"

namespace {

using impulse::Env;
using namespace impulse::log;

const std::string& Dir() {
  static const std::string dir = [] {
    // tmpfs when there is one: fsync is free there, so the fuzzer runs ~100x more inputs.
    char shm[] = "/dev/shm/impulse_segment_fuzz_XXXXXX";
    if (mkdtemp(shm) != nullptr) return std::string(shm);
    char tmp[] = "/tmp/impulse_segment_fuzz_XXXXXX";
    if (mkdtemp(tmp) == nullptr) abort();
    return std::string(tmp);
  }();
  return dir;
}

void RemoveFiles() {
  Env* env = Env::Default();
  if (auto names = env->ListDir(Dir()); names.ok()) {
    for (const std::string& n : *names) (void)env->DeleteFile(Dir() + "/" + n);
  }
}

void ReadToEnd(const PartitionLog& log) {
  std::vector<Record> recs;
  std::string storage;
  uint64_t from = log.start_offset();
  for (int i = 0; i < 10'000 && from < log.end_offset(); ++i) {
    if (!log.Read(from, 64, 4096, &recs, &storage).ok() || recs.empty()) return;
    from = recs.back().offset + 1;
  }
}

void OpenAndRead(LogOptions o) {
  auto log = PartitionLog::Open(Env::Default(), impulse::Clock::Real(), Dir(), o);
  if (!log.ok()) return;
  ReadToEnd(**log);
  (void)(*log)->Append("after", 1);
  (void)(*log)->Flush();
  ReadToEnd(**log);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Env* env = Env::Default();
  const std::string& dir = Dir();
  static const bool cleanup_registered = [] {
    return std::atexit([] {
             RemoveFiles();
             (void)::rmdir(Dir().c_str());
           }) == 0;
  }();
  (void)cleanup_registered;
  RemoveFiles();
  // Two layouts: the input as the only (active) segment, and as a sealed segment followed
  // by an empty active one, so both recovery rules are exercised.
  const bool sealed = size > 0 && (data[0] & 1);
  const std::string input(reinterpret_cast<const char*>(data), size);
  if (!env->WriteFileAtomic(dir + "/" + SegmentFileName(0), input).ok()) return 0;
  if (sealed) {
    char header[kSegmentHeaderBytes];
    EncodeSegmentHeader(1, header);
    (void)env->WriteFileAtomic(dir + "/" + SegmentFileName(1), std::string_view(header, sizeof(header)));
  }
  LogOptions o;
  o.index_interval_bytes = 64;
  o.segment_bytes_max = 4096;
  o.write_buffer_bytes_max = 4096;
  OpenAndRead(o);
  (void)RepairPartition(env, dir);
  OpenAndRead(o);
  return 0;
}
