// Pieces of `impulse backfill` (backfill.h): input row sources and the output writer.
// Internal to tools/impulse; tests use RunBackfill.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "event/csv_header.h"
#include "features/backfill.h"
#include "impulse/row.h"
#include "impulse/schema.h"
#include "impulse/status.h"

namespace impulse::features::backfill_internal {

struct SourceOptions {
  const StreamDef* def = nullptr;  // the input stream: schema, time field; must outlive the source
  int64_t from_ms = INT64_MIN;     // rows outside [from_ms, to_ms) are dropped and counted
  int64_t to_ms = INT64_MAX;
  bool filter = false;  // whether from/to apply (the stream has a time field)
  bool skip_bad_rows = false;
  CsvHeaderOptions header;   // how a CSV header names the fields
  size_t batch_rows = 4096;  // about this many rows per Next (a few more for CSV chunks)
};

// Rows of the input stream, in input order. One thread.
class RowSource {
 public:
  virtual ~RowSource() = default;
  // Clears `rows` (width = schema size) and appends the next rows. Returns false once the
  // input is exhausted (then `rows` is empty). kInvalidArgument naming file, line and column
  // for a bad row unless skip_bad_rows.
  virtual Result<bool> Next(RowBatch* rows) = 0;
  virtual uint64_t bytes_done() const = 0;   // for progress
  virtual uint64_t bytes_total() const = 0;  // 0 when unknown
  virtual uint64_t bad_rows() const = 0;
  virtual uint64_t filtered_rows() const = 0;
};

// What the text sources (CSV, NDJSON) share: the input file, read in chunks into `pending_`
// (ReadChunk), and the counters the RowSource accessors report. The derived class parses.
class TextFileSource : public RowSource {
 public:
  ~TextFileSource() override;  // closes the file
  uint64_t bytes_done() const override { return done_; }
  uint64_t bytes_total() const override { return total_; }
  uint64_t bad_rows() const override { return bad_; }
  uint64_t filtered_rows() const override { return filtered_; }

 protected:
  TextFileSource(std::string path, const SourceOptions& options) : path_(std::move(path)), opt_(options) {}
  // Opens `path_` and notes its size for bytes_total(). An error naming the file if it cannot
  // be opened.
  Status OpenFile();
  // Whether rows may still come: input left to read or read but not parsed.
  bool more() const { return !(eof_ && pending_.empty()); }

  const std::string path_;
  const SourceOptions opt_;
  std::FILE* file_ = nullptr;
  std::string pending_;  // read, not yet parsed
  bool eof_ = false;
  uint64_t done_ = 0, total_ = 0, bad_ = 0, filtered_ = 0;
};

// CSV with a header row naming the stream's fields (RFC 4180, libcsv), streamed.
// Appends up to `chunk_bytes` read from `file` to `pending` (the text sources read their input
// in chunks and parse up to the last whole line); sets *eof at the end, adds to *done the bytes
// read. IOError naming `path` on a read error.
Status ReadChunk(std::FILE* file, const std::string& path, size_t chunk_bytes, std::string* pending, bool* eof,
                 uint64_t* done);

Result<std::unique_ptr<RowSource>> OpenCsvSource(const std::string& path, const SourceOptions& options);
// NDJSON, one object per line, parsed by the engine's NdjsonParser, streamed.
Result<std::unique_ptr<RowSource>> OpenNdjsonSource(const std::string& path, const SourceOptions& options);
// The stream's log in an engine's data directory (data_dir/streams/<name>/<partition>); the
// partitions are merged by event time (each partition's order kept). The engine must not be
// running on it.
Result<std::unique_ptr<RowSource>> OpenLogSource(const std::string& data_dir, const SourceOptions& options);

// Converts one text cell to a value of `field` (strings copied into `arena`). An empty cell is
// null (an empty string for a non-nullable string field). Returns "" or the reason it is bad.
std::string ParseCell(const Field& field, std::string_view cell, Arena* arena, Value* out);

// Reads the output stream `def` from data_dir's log after the engine stopped, checks that each
// of `writers` writers has closed it (a +infinity watermark marker: the output is complete),
// sorts the rows by (event time, encoded row bytes) and writes them to `out_path` ("-" =
// stdout), or hands them to `output_rows` when it is set (BackfillOptions::output_rows). Reads
// partitions and formats blocks of rows on up to `threads` threads. Returns the number of rows
// written.
Result<uint64_t> WriteOutput(const std::string& data_dir, const StreamDef& def, uint32_t writers,
                             BackfillOptions::Format format, const std::string& out_path, uint32_t threads,
                             const std::function<Status(const Schema&, const RowBatch&)>& output_rows = nullptr);

// Appends `s` as one CSV field, quoted (RFC 4180) only if it holds , " CR or LF.
void AppendCsvCell(std::string_view s, std::string* out);
// Appends exactly what std::to_chars(v) writes (the shortest form that parses back to v), with a
// fast path for values with at most two decimals; NaN, inf and -inf for the non-finite.
void AppendCsvDouble(double v, std::string* out);

}  // namespace impulse::features::backfill_internal
