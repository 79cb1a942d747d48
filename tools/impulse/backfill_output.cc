// The output of `impulse backfill`: the output stream's rows, read from the stopped engine's
// log, sorted by (event time, partition, offset) and written as CSV or NDJSON.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include "event/json_writer.h"
#include "event/row_codec.h"
#include "event/timestamp.h"
#include "log/partition_log.h"
#include "tools/impulse/backfill_internal.h"

namespace impulse::tools::backfill_internal {

namespace {

constexpr size_t kFlushBytes = 1 << 20;  // output buffered up to this much between writes
constexpr size_t kDecodeRows = 1024;     // rows decoded per batch while writing

// One output row: where its payload is (in the read buffer) and its sort key.
struct Entry {
  int64_t event_time_ms;
  uint32_t partition;
  uint32_t len;
  uint64_t offset;
  uint64_t pos;  // in the payload store
};

int64_t PayloadEventTime(std::string_view payload) {
  // Layout (docs/EVENT_FORMAT.md): version byte, then event_time_ms little-endian.
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(payload[1 + i])} << (8 * i);
  return static_cast<int64_t>(v);
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void AppendCsvDouble(double v, std::string* out) {
  if (std::isnan(v)) {
    *out += "NaN";
  } else if (std::isinf(v)) {
    *out += v > 0 ? "inf" : "-inf";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest form that round-trips
    out->append(buf, r.ptr);
  }
}

void AppendCsvRow(const Schema& schema, const Value* row, std::string* out) {
  for (size_t f = 0; f < schema.size(); ++f) {
    if (f > 0) out->push_back(',');
    const Value& v = row[f];
    if (v.null) continue;
    switch (schema.field(f).type) {
      case FieldType::kInt64: AppendInt(v.i64, out); break;
      case FieldType::kDouble: AppendCsvDouble(v.f64, out); break;
      case FieldType::kBool: *out += v.b ? "true" : "false"; break;
      case FieldType::kString: AppendCsvCell(v.sv(), out); break;
      case FieldType::kTimestamp: AppendTimestampIso(v.i64, out); break;
    }
  }
  out->push_back('\n');
}

// Writes to a file descriptor; closes it on destruction.
class Output {
 public:
  static Result<Output> Open(const std::string& path) {
    Output o;
    if (path == "-") {
      o.fd_ = STDOUT_FILENO;
      return o;
    }
    o.path_ = path;
    o.tmp_ = path + ".tmp";
    o.fd_ = ::open(o.tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o.fd_ < 0) return ErrnoStatus("create output '" + o.tmp_ + "'", errno);
    return o;
  }
  Output() = default;
  Output(Output&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)), tmp_(std::move(o.tmp_)) { o.fd_ = -1; }
  ~Output() {
    if (fd_ >= 0 && fd_ != STDOUT_FILENO) {
      ::close(fd_);
      ::unlink(tmp_.c_str());  // not committed: no half-written training set under the real name
    }
  }

  Status Write(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write output '" + (path_.empty() ? std::string("stdout") : tmp_) + "'", errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::OK();
  }

  // Makes the file visible under its real name.
  Status Commit() {
    if (fd_ == STDOUT_FILENO) return Status::OK();
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoStatus("close output '" + tmp_ + "'", errno);
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) return ErrnoStatus("rename output to '" + path_ + "'", errno);
    return Status::OK();
  }

 private:
  int fd_ = -1;
  std::string path_, tmp_;
};

}  // namespace

void AppendCsvCell(std::string_view s, std::string* out) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out->append(s);
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

Result<uint64_t> WriteOutput(const std::string& data_dir, const StreamDef& def, uint32_t writers,
                             BackfillOptions::Format format, const std::string& out_path) {
  // 1. Every row's payload and sort key; the markers say whether the output is complete.
  std::string store;
  std::vector<Entry> entries;
  std::vector<log::Record> records;
  std::string storage;
  const std::string dir = data_dir + "/streams/" + def.name;
  for (uint32_t p = 0; p < def.options.partitions; ++p) {
    auto log = log::PartitionLog::Open(Env::Default(), Clock::Real(), dir + "/" + std::to_string(p), log::LogOptions{});
    if (!log.ok()) return log.status().WithContext("output stream " + def.name);
    std::vector<int64_t> last_marker(writers, INT64_MIN);
    uint64_t next = (*log)->start_offset();
    while (next < (*log)->end_offset()) {
      RETURN_IF_ERROR((*log)->Read(next, 65536, 16 << 20, &records, &storage));
      if (records.empty()) break;
      for (const log::Record& r : records) {
        if (IsWatermarkMarker(r.payload)) {
          uint32_t writer = 0;
          int64_t wm = 0;
          RETURN_IF_ERROR(DecodeWatermarkMarker(r.payload, &writer, &wm));
          if (writer < writers) last_marker[writer] = wm;
          continue;
        }
        if (r.payload.size() < 9) return DataLoss("output stream " + def.name + ": short record");
        if (store.size() + r.payload.size() > kBackfillOutputBytesMax) {
          return ResourceExhausted("the output is larger than " + std::to_string(kBackfillOutputBytesMax >> 20) +
                                   " MiB encoded; backfill a shorter range (--from/--to)");
        }
        entries.push_back({PayloadEventTime(r.payload), p, static_cast<uint32_t>(r.payload.size()), r.offset,
                           static_cast<uint64_t>(store.size())});
        store.append(r.payload);
      }
      next = records.back().offset + 1;
    }
    for (uint32_t w = 0; w < writers; ++w) {
      if (last_marker[w] != INT64_MAX) {
        return Internal("output stream " + def.name + " partition " + std::to_string(p) + ": writer " +
                        std::to_string(w) + " did not finish (its last watermark is " + std::to_string(last_marker[w]) +
                        "); the output would be incomplete");
      }
    }
  }
  // 2. Deterministic order: event time, then partition and offset.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.event_time_ms != b.event_time_ms) return a.event_time_ms < b.event_time_ms;
    if (a.partition != b.partition) return a.partition < b.partition;
    return a.offset < b.offset;
  });
  // 3. Decode and write.
  ASSIGN_OR_RETURN(Output out, Output::Open(out_path));
  std::string text;
  text.reserve(kFlushBytes + 64 * 1024);
  if (format == BackfillOptions::Format::kCsv) {
    for (size_t f = 0; f < def.schema.size(); ++f) {
      if (f > 0) text.push_back(',');
      AppendCsvCell(def.schema.field(f).name, &text);
    }
    text.push_back('\n');
  }
  RowBatch rows(def.schema.size());
  for (size_t i = 0; i < entries.size(); i += kDecodeRows) {
    rows.Clear();
    const size_t end = std::min(entries.size(), i + kDecodeRows);
    for (size_t j = i; j < end; ++j) {
      const Entry& e = entries[j];
      Status st = DecodeRow(def.schema, std::string_view(store).substr(e.pos, e.len), &rows);
      if (!st.ok()) return st.WithContext("output stream " + def.name + " partition " + std::to_string(e.partition) +
                                          " offset " + std::to_string(e.offset));
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      if (format == BackfillOptions::Format::kCsv) {
        AppendCsvRow(def.schema, rows.row(r), &text);
      } else {
        AppendRowJson(def.schema, rows.row(r), &text);
        text.push_back('\n');
      }
      if (text.size() >= kFlushBytes) {
        RETURN_IF_ERROR(out.Write(text));
        text.clear();
      }
    }
  }
  RETURN_IF_ERROR(out.Write(text));
  RETURN_IF_ERROR(out.Commit());
  return static_cast<uint64_t>(entries.size());
}

}  // namespace impulse::tools::backfill_internal
