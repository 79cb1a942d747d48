// RepairPartition: the explicit repair command for a partition that fails to open with
// kDataLoss. Never called automatically: it drops records.
#include <algorithm>

#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/segment.h"

namespace impulse::log {
namespace {

// Cuts the segment at `path` to `bytes`, or to an empty segment with a fresh header.
Status CutSegment(Env* env, const std::string& path, uint64_t base, uint64_t bytes, bool rewrite_header) {
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> w, env->OpenWritable(path));
  if (rewrite_header) {
    RETURN_IF_ERROR(w->Truncate(0));
    char header[kSegmentHeaderBytes];
    EncodeSegmentHeader(base, header);
    RETURN_IF_ERROR(w->Append(std::string_view(header, sizeof(header))));
  } else {
    RETURN_IF_ERROR(w->Truncate(bytes));
  }
  RETURN_IF_ERROR(w->Sync());
  return w->Close();
}

}  // namespace

Status RepairPartition(Env* env, const std::string& dir, RepairReport* report,
                       const std::function<void(size_t, size_t)>& progress) {
  RepairReport local;
  RepairReport& r = report != nullptr ? *report : local;
  r = RepairReport{};
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(dir));
  std::vector<uint64_t> bases;
  for (const std::string& name : names) {
    if (auto base = ParseSegmentFileName(name)) bases.push_back(*base);
  }
  std::sort(bases.begin(), bases.end());

  bool damaged = false;
  uint64_t expected_base = bases.empty() ? 0 : bases.front();
  size_t done = 0;
  for (uint64_t base : bases) {
    if (progress && done > 0) progress(done, bases.size());
    ++done;
    const std::string path = dir + "/" + SegmentFileName(base);
    if (damaged || base != expected_base) {
      if (!damaged) {
        r.first_problem =
            path + ": base offset " + std::to_string(base) + " does not follow offset " + std::to_string(expected_base);
        damaged = true;
      }
      RETURN_IF_ERROR(env->DeleteFile(path));
      r.segments_deleted++;
      continue;
    }
    ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file, env->OpenRandomAccess(path));
    ASSIGN_OR_RETURN(uint64_t size, file->Size());
    ASSIGN_OR_RETURN(ScanResult scan, ScanSegment(*file, size, base, nullptr, UINT32_MAX));
    expected_base = base + scan.records;
    if (scan.clean) continue;
    damaged = true;
    r.first_problem = path + ": " + scan.problem + " (byte " + std::to_string(scan.valid_bytes) + ")";
    // A bad header becomes a fresh one: the base offset from the file name keeps offsets
    // continuous for consumers.
    r.bytes_truncated = scan.header_ok ? size - scan.valid_bytes : size;
    RETURN_IF_ERROR(CutSegment(env, path, base, scan.valid_bytes, !scan.header_ok));
  }
  if (damaged) RETURN_IF_ERROR(env->SyncDir(dir));
  if (progress) progress(bases.size(), bases.size());
  return Status::OK();
}

}  // namespace impulse::log
