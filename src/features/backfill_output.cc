// The output of `impulse backfill`: the output stream's rows, read from the stopped engine's
// log, sorted by (event time, partition, offset) and written as CSV or NDJSON.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "common/fixed_codec.h"
#include "event/json_writer.h"
#include "event/row_codec.h"
#include "event/timestamp.h"
#include "features/backfill_internal.h"
#include "log/partition_log.h"

namespace impulse::features::backfill_internal {

namespace {

constexpr size_t kDecodeRows = 1024;              // rows decoded per batch while formatting
constexpr size_t kBlockRows = size_t{32} * 1024;  // rows formatted by one thread at a time (a few MiB of text)
constexpr uint32_t kOutputThreadsMax = 16;
constexpr uint64_t kReadBytes = 16 << 20;  // per PartitionLog::Read (< 4 GiB: offsets in a chunk are 32-bit)

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
  return static_cast<int64_t>(DecodeFixed64(payload.data() + 1));
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
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

void AppendCsvDouble(double v, std::string* out) {
  if (std::isnan(v)) {
    *out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    *out += v > 0 ? "inf" : "-inf";
    return;
  }
  // Fast path for what training data is mostly made of (amounts in cents, counts, zero): when
  // v is the double nearest to c / 100 for an integer c (IEEE division is correctly rounded),
  // that decimal is v's shortest round-trip form, and below 1e5 the fixed notation is never
  // longer than the scientific one, so this prints exactly what std::to_chars(v) prints.
  if (std::fabs(v) < 1e5 && !(v == 0 && std::signbit(v))) {
    const int64_t c = std::llround(v * 100);
    if (static_cast<double>(c) / 100.0 == v) {
      const uint64_t a = static_cast<uint64_t>(c < 0 ? -c : c);
      if (c < 0) out->push_back('-');
      AppendInt(static_cast<int64_t>(a / 100), out);
      const unsigned frac = static_cast<unsigned>(a % 100);
      if (frac != 0) {
        out->push_back('.');
        out->push_back(static_cast<char>('0' + frac / 10));
        if (frac % 10 != 0) out->push_back(static_cast<char>('0' + frac % 10));
      }
      return;
    }
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest form that round-trips
  out->append(buf, r.ptr);
}

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

namespace {

// The rows of one partition of the output stream, as read from its log.
struct PartRows {
  std::vector<std::string> chunks;  // the read buffers of PartitionLog::Read, kept (no copy)
  std::vector<Entry> entries;       // pos = chunk index << 32 | byte offset in the chunk
  Status status;

  std::string_view Payload(const Entry& e) const {
    return std::string_view(chunks[e.pos >> 32]).substr(e.pos & 0xffffffffu, e.len);
  }
};

// Reads partition `p` of the output stream into `part`, checking that each of `writers`
// writers has closed it (a +infinity watermark marker). `budget` bounds the payload bytes held
// by all partitions together.
void ReadPartition(const std::string& dir, const StreamDef& def, uint32_t p, uint32_t writers,
                   std::atomic<uint64_t>* budget, PartRows* part) {
  auto fail = [&](Status st) { part->status = std::move(st); };
  auto log = log::PartitionLog::Open(Env::Default(), Clock::Real(), dir + "/" + std::to_string(p), log::LogOptions{});
  if (!log.ok()) return fail(log.status().WithContext("output stream " + def.name));
  std::vector<int64_t> last_marker(writers, INT64_MIN);
  std::vector<log::Record> records;
  std::string storage;
  uint64_t next = (*log)->start_offset();
  bool kept = false;
  while (next < (*log)->end_offset()) {
    Status st = (*log)->Read(next, 65536, kReadBytes, &records, &storage);
    if (!st.ok()) return fail(st);
    if (records.empty()) break;
    for (const log::Record& r : records) {
      if (IsWatermarkMarker(r.payload)) {
        uint32_t writer = 0;
        int64_t wm = 0;
        Status ms = DecodeWatermarkMarker(r.payload, &writer, &wm);
        if (!ms.ok()) return fail(ms);
        if (writer < writers) last_marker[writer] = wm;
        continue;
      }
      if (r.payload.size() < 9) return fail(DataLoss("output stream " + def.name + ": short record"));
      if (budget->fetch_add(r.payload.size(), std::memory_order_relaxed) + r.payload.size() > kBackfillOutputBytesMax) {
        return fail(ResourceExhausted("the output is larger than " + std::to_string(kBackfillOutputBytesMax >> 20) +
                                      " MiB encoded; backfill a shorter range (--from/--to)"));
      }
      const uint64_t chunk = part->chunks.size();
      const auto off = static_cast<uint64_t>(r.payload.data() - storage.data());
      part->entries.push_back(
          {PayloadEventTime(r.payload), p, static_cast<uint32_t>(r.payload.size()), r.offset, chunk << 32 | off});
      kept = true;
    }
    next = records.back().offset + 1;
    if (kept) {  // the entries point into this buffer: keep it, read the next into a new one
      part->chunks.push_back(std::move(storage));
      storage = std::string();
      kept = false;
    }
  }
  for (uint32_t w = 0; w < writers; ++w) {
    if (last_marker[w] != INT64_MAX) {
      return fail(Internal("output stream " + def.name + " partition " + std::to_string(p) + ": writer " +
                           std::to_string(w) + " did not finish (its last watermark is " +
                           std::to_string(last_marker[w]) + "); the output would be incomplete"));
    }
  }
}

// Formats entries [begin, end) as text (replacing `text`).
Status FormatRows(const StreamDef& def, const std::vector<PartRows>& parts, const std::vector<Entry>& entries,
                  size_t begin, size_t end, BackfillOptions::Format format, std::string* text) {
  text->clear();
  RowBatch rows(def.schema.size());
  for (size_t i = begin; i < end; i += kDecodeRows) {
    rows.Clear();
    const size_t stop = std::min(end, i + kDecodeRows);
    for (size_t j = i; j < stop; ++j) {
      const Entry& e = entries[j];
      Status st = DecodeRow(def.schema, parts[e.partition].Payload(e), &rows);
      if (!st.ok()) {
        return st.WithContext("output stream " + def.name + " partition " + std::to_string(e.partition) + " offset " +
                              std::to_string(e.offset));
      }
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      if (format == BackfillOptions::Format::kCsv) {
        AppendCsvRow(def.schema, rows.row(r), text);
      } else {
        AppendRowJson(def.schema, rows.row(r), text);
        text->push_back('\n');
      }
    }
  }
  return Status::OK();
}

// Runs fn(0) .. fn(n - 1), on up to `threads` threads (the calling one included).
template <typename Fn>
void ParallelFor(uint32_t n, uint32_t threads, const Fn& fn) {
  std::atomic<uint32_t> next{0};
  auto worker = [&] {
    for (uint32_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (uint32_t t = 1; t < std::min(threads, n); ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

}  // namespace

Result<uint64_t> WriteOutput(const std::string& data_dir, const StreamDef& def, uint32_t writers,
                             BackfillOptions::Format format, const std::string& out_path, uint32_t threads,
                             const std::function<Status(const Schema&, const RowBatch&)>& output_rows) {
  threads = std::clamp<uint32_t>(threads, 1, kOutputThreadsMax);
  // 1. Every row's payload and sort key, a partition per thread.
  const uint32_t n_parts = def.options.partitions;
  std::vector<PartRows> parts(n_parts);
  std::atomic<uint64_t> budget{0};
  const std::string dir = data_dir + "/streams/" + def.name;
  ParallelFor(n_parts, threads, [&](uint32_t p) { ReadPartition(dir, def, p, writers, &budget, &parts[p]); });
  size_t total = 0;
  for (const PartRows& part : parts) {
    RETURN_IF_ERROR(part.status);
    total += part.entries.size();
  }
  std::vector<Entry> entries;
  entries.reserve(total);
  for (PartRows& part : parts) {
    entries.insert(entries.end(), part.entries.begin(), part.entries.end());
    std::vector<Entry>().swap(part.entries);
  }
  // 2. Deterministic order: event time, then the row's encoded bytes. Not (partition,
  // offset): several writers append to one partition in an order that depends on timing and
  // on the shard count; equal bytes are equal lines, so their order does not matter.
  std::sort(entries.begin(), entries.end(), [&parts](const Entry& a, const Entry& b) {
    if (a.event_time_ms != b.event_time_ms) return a.event_time_ms < b.event_time_ms;
    return parts[a.partition].Payload(a) < parts[b.partition].Payload(b);
  });
  // 3a. Embedded: decoded rows to the caller, in order.
  if (output_rows) {
    RowBatch rows(def.schema.size());
    for (size_t i = 0; i < entries.size(); i += kDecodeRows) {
      rows.Clear();
      for (size_t j = i; j < std::min(entries.size(), i + kDecodeRows); ++j) {
        const Entry& e = entries[j];
        Status st = DecodeRow(def.schema, parts[e.partition].Payload(e), &rows);
        if (!st.ok()) {
          return st.WithContext("output stream " + def.name + " partition " + std::to_string(e.partition) + " offset " +
                                std::to_string(e.offset));
        }
      }
      RETURN_IF_ERROR(output_rows(def.schema, rows));
    }
    return static_cast<uint64_t>(entries.size());
  }
  // 3. Decode and format blocks of rows in parallel; write them in order.
  ASSIGN_OR_RETURN(Output out, Output::Open(out_path));
  std::string header;
  if (format == BackfillOptions::Format::kCsv) {
    for (size_t f = 0; f < def.schema.size(); ++f) {
      if (f > 0) header.push_back(',');
      AppendCsvCell(def.schema.field(f).name, &header);
    }
    header.push_back('\n');
  }
  RETURN_IF_ERROR(out.Write(header));
  // Double-buffered: while the calling thread writes one group of blocks, the next group is
  // formatted (each group is `threads` blocks, formatted in parallel).
  struct Group {
    std::vector<std::string> texts;
    std::vector<Status> statuses;
    uint32_t blocks = 0;
  };
  Group groups[2];
  for (Group& g : groups) {
    g.texts.resize(threads);
    g.statuses.resize(threads);
  }
  const size_t group_rows = kBlockRows * threads;
  auto format_group = [&](size_t first, Group* g) {
    g->blocks =
        static_cast<uint32_t>(std::min<size_t>(threads, (entries.size() - first + kBlockRows - 1) / kBlockRows));
    ParallelFor(g->blocks, threads, [&](uint32_t b) {
      const size_t begin = first + b * kBlockRows;
      g->statuses[b] =
          FormatRows(def, parts, entries, begin, std::min(entries.size(), begin + kBlockRows), format, &g->texts[b]);
    });
  };
  if (!entries.empty()) format_group(0, &groups[0]);
  for (size_t first = 0, g = 0; first < entries.size(); first += group_rows, g ^= 1) {
    std::thread next;
    if (first + group_rows < entries.size()) next = std::thread(format_group, first + group_rows, &groups[g ^ 1]);
    Status st;
    for (uint32_t b = 0; b < groups[g].blocks && st.ok(); ++b) {
      st = groups[g].statuses[b];
      if (st.ok()) st = out.Write(groups[g].texts[b]);
    }
    if (next.joinable()) next.join();
    RETURN_IF_ERROR(st);
  }
  RETURN_IF_ERROR(out.Commit());
  return static_cast<uint64_t>(entries.size());
}

}  // namespace impulse::features::backfill_internal
