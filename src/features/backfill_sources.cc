// The NDJSON and log inputs of `impulse backfill` (the CSV one is in backfill_csv.cc).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/dir_lock.h"
#include "event/ndjson.h"
#include "event/row_codec.h"
#include "features/backfill_internal.h"
#include "log/partition_log.h"

namespace impulse::features::backfill_internal {

namespace {

constexpr size_t kNdjsonChunkBytes = size_t{256} * 1024;  // read and parsed at a time (whole lines)

// Drops the rows of `rows` outside [from, to) by event time, keeping the order. Returns how
// many were dropped.
uint64_t FilterByTime(const SourceOptions& opt, RowBatch* rows, RowBatch* scratch) {
  if (!opt.filter) return 0;
  size_t keep = 0;
  for (size_t i = 0; i < rows->size(); ++i) {
    const int64_t t = rows->meta(i).event_time_ms;
    if (t >= opt.from_ms && t < opt.to_ms) ++keep;
  }
  if (keep == rows->size()) return 0;
  scratch->Reset(rows->width());
  for (size_t i = 0; i < rows->size(); ++i) {
    const int64_t t = rows->meta(i).event_time_ms;
    if (t >= opt.from_ms && t < opt.to_ms) scratch->AppendCopy(*rows, i);
  }
  const uint64_t dropped = rows->size() - keep;
  std::swap(*rows, *scratch);
  return dropped;
}

// Contract: one thread. NDJSON lines read in chunks of whole lines (a line may be up to the
// parser's max_line_bytes), validated by the engine's own NdjsonParser.
class NdjsonSource final : public TextFileSource {
 public:
  NdjsonSource(std::string path, const SourceOptions& options)
      : TextFileSource(std::move(path), options), parser_(*options.def, NdjsonLimits{}) {}

  Status Init() { return OpenFile(); }

  Result<bool> Next(RowBatch* rows) override {
    rows->Reset(opt_.def->schema.size());
    while (rows->size() < opt_.batch_rows && more()) {
      if (!eof_) RETURN_IF_ERROR(ReadChunk(file_, path_, kNdjsonChunkBytes, &pending_, &eof_, &done_));
      size_t end = pending_.size();
      if (!eof_) {
        const size_t nl = pending_.rfind('\n');
        if (nl == std::string::npos) {
          // No complete line yet: read more, up to the parser's line limit.
          if (pending_.size() > NdjsonLimits{}.max_line_bytes + kNdjsonChunkBytes) {
            return InvalidArgument(path_ + ":" + std::to_string(line_) + ": line longer than " +
                                   std::to_string(NdjsonLimits{}.max_line_bytes) + " bytes");
          }
          continue;
        }
        end = nl + 1;
      }
      const std::string_view body(pending_.data(), end);
      bad_lines_.clear();
      RETURN_IF_ERROR(parser_.Parse(body, 0, rows, &bad_lines_));
      if (!bad_lines_.empty()) {
        if (!opt_.skip_bad_rows) {
          const BadLine& b = bad_lines_.front();
          return InvalidArgument(path_ + ":" + std::to_string(line_ - 1 + b.line) + ": " + b.reason +
                                 " (--skip-bad-rows skips such rows)");
        }
        bad_ += bad_lines_.size();
      }
      line_ += static_cast<uint64_t>(std::count(body.begin(), body.end(), '\n'));
      if (eof_ && !body.empty() && body.back() != '\n') ++line_;
      pending_.erase(0, end);
    }
    filtered_ += FilterByTime(opt_, rows, &scratch_);
    return !rows->empty() || more();
  }

 private:
  NdjsonParser parser_;
  std::vector<BadLine> bad_lines_;
  RowBatch scratch_;
  uint64_t line_ = 1;  // line number of pending_'s first line (pending_ ends in a partial line)
};

// Contract: one thread. Reads every partition of the stream's log, a window of rows per
// partition at a time, and merges them by event time (ties: the lower partition), so each
// partition's order is kept and the engine sees history roughly as it happened.
class LogSource final : public RowSource {
 public:
  LogSource(std::string data_dir, const SourceOptions& options)
      : data_dir_(std::move(data_dir)), dir_(data_dir_ + "/streams/" + options.def->name), opt_(options) {}

  Status Init() {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir_, ec)) {
      return NotFound("no log of stream " + opt_.def->name + " at '" + dir_ + "'");
    }
    // Held while reading: opening a partition recovers it (cuts a torn tail), which must not
    // happen to one a running engine is writing.
    ASSIGN_OR_RETURN(lock_, DirLock::Acquire(data_dir_));
    for (uint32_t p = 0;; ++p) {
      const std::string pdir = dir_ + "/" + std::to_string(p);
      if (!std::filesystem::is_directory(pdir, ec)) break;
      auto log = log::PartitionLog::Open(Env::Default(), Clock::Real(), pdir, log::LogOptions{});
      if (!log.ok()) return log.status().WithContext("open " + pdir);
      Part part;
      part.log = std::move(log).value();
      part.next = part.log->start_offset();
      part.rows.Reset(opt_.def->schema.size());
      total_ += part.log->end_offset() - part.next;
      parts_.push_back(std::move(part));
    }
    if (parts_.empty()) return NotFound("stream " + opt_.def->name + " has no partitions under '" + dir_ + "'");
    return Status::OK();
  }

  Result<bool> Next(RowBatch* rows) override {
    rows->Reset(opt_.def->schema.size());
    while (rows->size() < opt_.batch_rows) {
      Part* best = nullptr;
      for (Part& p : parts_) {
        RETURN_IF_ERROR(Refill(p));
        if (p.pos >= p.rows.size()) continue;
        if (best == nullptr || p.rows.meta(p.pos).event_time_ms < best->rows.meta(best->pos).event_time_ms) best = &p;
      }
      if (best == nullptr) break;
      const RowMeta& m = best->rows.meta(best->pos);
      if (!opt_.filter || (m.event_time_ms >= opt_.from_ms && m.event_time_ms < opt_.to_ms)) {
        rows->AppendCopy(best->rows, best->pos);
      } else {
        ++filtered_;
      }
      ++best->pos;
      ++done_;
    }
    return !rows->empty();
  }

  uint64_t bytes_done() const override { return done_; }  // records, not bytes
  uint64_t bytes_total() const override { return total_; }
  uint64_t bad_rows() const override { return 0; }
  uint64_t filtered_rows() const override { return filtered_; }

 private:
  struct Part {
    std::unique_ptr<log::PartitionLog> log;
    uint64_t next = 0;  // next offset to read
    RowBatch rows;      // decoded window
    size_t pos = 0;     // next row of `rows`
  };

  Status Refill(Part& p) {
    if (p.pos < p.rows.size()) return Status::OK();
    p.rows.Clear();
    p.pos = 0;
    while (p.rows.empty() && p.next < p.log->end_offset()) {
      RETURN_IF_ERROR(p.log->Read(p.next, 4096, 4 << 20, &records_, &storage_));
      if (records_.empty()) break;
      for (const log::Record& r : records_) {
        if (IsControlRecord(r.payload)) continue;
        Status st = DecodeRow(opt_.def->schema, r.payload, &p.rows);
        if (!st.ok()) {
          return st.WithContext(p.log->dir() + " offset " + std::to_string(r.offset));
        }
      }
      p.next = records_.back().offset + 1;
    }
    return Status::OK();
  }

  const std::string data_dir_;
  const std::string dir_;  // the stream's: data_dir_/streams/<stream>
  const SourceOptions opt_;
  std::unique_ptr<DirLock> lock_;  // the engine's, while reading
  std::vector<Part> parts_;
  std::vector<log::Record> records_;
  std::string storage_;
  uint64_t done_ = 0, total_ = 0, filtered_ = 0;
};

}  // namespace

TextFileSource::~TextFileSource() {
  if (file_ != nullptr) std::fclose(file_);
}

Status TextFileSource::OpenFile() {
  file_ = std::fopen(path_.c_str(), "rb");
  if (file_ == nullptr) return ErrnoStatus("open input '" + path_ + "'", errno);
  if (std::fseek(file_, 0, SEEK_END) == 0) {
    const long size = std::ftell(file_);
    total_ = size > 0 ? static_cast<uint64_t>(size) : 0;
    std::rewind(file_);
  }
  return Status::OK();
}

Status ReadChunk(std::FILE* file, const std::string& path, size_t chunk_bytes, std::string* pending, bool* eof,
                 uint64_t* done) {
  const size_t old = pending->size();
  pending->resize(old + chunk_bytes);
  const size_t n = std::fread(pending->data() + old, 1, chunk_bytes, file);
  pending->resize(old + n);
  if (n < chunk_bytes) {
    if (std::ferror(file)) return IOError("reading input '" + path + "'");
    *eof = true;
  }
  *done += n;
  return Status::OK();
}

Result<std::unique_ptr<RowSource>> OpenNdjsonSource(const std::string& path, const SourceOptions& options) {
  auto src = std::make_unique<NdjsonSource>(path, options);
  RETURN_IF_ERROR(src->Init());
  return std::unique_ptr<RowSource>(std::move(src));
}

Result<std::unique_ptr<RowSource>> OpenLogSource(const std::string& data_dir, const SourceOptions& options) {
  auto src = std::make_unique<LogSource>(data_dir, options);
  RETURN_IF_ERROR(src->Init());
  return std::unique_ptr<RowSource>(std::move(src));
}

}  // namespace impulse::features::backfill_internal
