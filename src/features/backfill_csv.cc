// The CSV input of `impulse backfill`: streamed through libcsv in fixed-size chunks, each cell
// converted straight to a typed Value (no intermediate JSON), so a 100+ MB file needs one
// chunk buffer and one row batch of memory.
#include <csv.h>

#include <string.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "event/csv_header.h"
#include "event/timestamp.h"
#include "features/backfill_internal.h"

namespace impulse::features::backfill_internal {

namespace {

constexpr size_t kChunkBytes = size_t{256} * 1024;  // read at a time (parsed up to its last newline)
constexpr size_t kHeaderColumnsMax = 10'000;        // a header wider than this is refused

std::string Quoted(std::string_view cell) {
  constexpr size_t kShown = 40;
  std::string s = "'";
  s.append(cell.substr(0, kShown));
  if (cell.size() > kShown) s += "...";
  s += "'";
  return s;
}

}  // namespace

std::string ParseCell(const Field& field, std::string_view cell, Arena* arena, Value* out) {
  if (cell.empty()) {
    if (field.type == FieldType::kString && !field.nullable) {
      *out = Value::String({});
      return {};
    }
    if (field.nullable) {
      *out = Value::Null();
      return {};
    }
    return "empty value for non-nullable " + std::string(FieldTypeName(field.type)) + " field";
  }
  const char* b = cell.data();
  const char* e = b + cell.size();
  switch (field.type) {
    case FieldType::kInt64: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || p != e) return "expected int64, got " + Quoted(cell);
      *out = Value::Int(v);
      return {};
    }
    case FieldType::kDouble: {
      double v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || p != e || !std::isfinite(v)) return "expected double, got " + Quoted(cell);
      *out = Value::Double(v);
      return {};
    }
    case FieldType::kBool: {
      if (cell == "true") {
        *out = Value::Bool(true);
      } else if (cell == "false") {
        *out = Value::Bool(false);
      } else {
        return "expected bool (true or false), got " + Quoted(cell);
      }
      return {};
    }
    case FieldType::kString: *out = Value::String(arena->Copy(cell)); return {};
    case FieldType::kTimestamp: {
      // Epoch milliseconds if it is an integer, else a date-time (RFC 3339, or with a space
      // and no zone as the fraud simulator writes it: UTC).
      int64_t v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec == std::errc() && p == e) {
        if (v < kMinTimestampMs || v > kMaxTimestampMs) return "timestamp " + Quoted(cell) + " out of range";
        *out = Value::Int(v);
        return {};
      }
      Result<int64_t> ts = ParseTimestampMs(cell);
      if (!ts.ok()) return "expected timestamp, got " + Quoted(cell) + ": " + ts.status().message();
      *out = Value::Int(*ts);
      return {};
    }
  }
  return "unknown field type";
}

namespace {

// Contract: one thread. Holds the file, one chunk buffer, the libcsv parser and the position
// of the record being parsed (line of its first character, cell index).
class CsvSource final : public TextFileSource {
 public:
  CsvSource(std::string path, const SourceOptions& options) : TextFileSource(std::move(path), options) {}
  ~CsvSource() override {
    if (parser_init_) csv_free(&parser_);
  }

  Status Init() {
    RETURN_IF_ERROR(OpenFile());
    if (csv_init(&parser_, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) return Internal("csv_init failed");
    parser_init_ = true;
    return Status::OK();
  }

  Result<bool> Next(RowBatch* rows) override {
    rows->Reset(opt_.def->schema.size());
    rows_ = rows;
    if (!carry_.empty()) {  // the record that straddled the previous chunk's end
      rows->AppendCopy(carry_, 0);
      row_ = rows->row(0);
      carry_.Clear();
    }
    while (rows->size() < opt_.batch_rows && more()) {
      if (!eof_) RETURN_IF_ERROR(ReadChunk(file_, path_, kChunkBytes, &pending_, &eof_, &done_));
      // Whole lines go to the fast splitter when they hold no quote and libcsv is between
      // records; anything else (quotes, a line longer than a chunk) goes through libcsv.
      size_t end = pending_.size();
      if (!eof_) {
        const void* nl = ::memrchr(pending_.data(), '\n', pending_.size());
        if (nl != nullptr) end = static_cast<size_t>(static_cast<const char*>(nl) - pending_.data()) + 1;
      }
      const std::string_view block(pending_.data(), end);
      const bool whole_lines = eof_ || (!block.empty() && block.back() == '\n');
      if (whole_lines && parser_.pstate == 0 && std::memchr(block.data(), '"', block.size()) == nullptr) {
        SplitLines(block);
      } else if (csv_parse(&parser_, block.data(), block.size(), OnField, OnRecord, this) != block.size()) {
        if (!error_.ok()) return error_;
        return Malformed();
      }
      if (!error_.ok()) return error_;
      pending_.erase(0, end);
      if (eof_ && pending_.empty()) {
        if (csv_fini(&parser_, OnField, OnRecord, this) != 0) return Malformed();
        if (!error_.ok()) return error_;
        if (!header_done_) return InvalidArgument("input '" + path_ + "': no header row");
      }
    }
    if (col_ > 0) {
      // A record continues in the next chunk: carry its cells so far to the next batch.
      carry_.Reset(rows->width());
      carry_.AppendCopy(*rows, rows->size() - 1);
      rows->PopRow();
      row_ = nullptr;
    }
    rows_ = nullptr;
    return !rows->empty() || more();
  }

 private:
  // The fast path: `block` is whole lines without any quote, so a record is a line and a cell
  // is what lies between commas, trimmed of spaces and tabs as libcsv trims unquoted cells.
  void SplitLines(std::string_view block) {
    const char* p = block.data();
    const char* const end = p + block.size();
    while (p < end && error_.ok()) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* line_end = nl == nullptr ? end : nl;
      const char* next = nl == nullptr ? end : nl + 1;
      if (line_end > p && line_end[-1] == '\r') --line_end;
      if (line_end == p) {  // a blank line: no record
        ++line_;
        p = next;
        continue;
      }
      while (true) {
        const char* comma = static_cast<const char*>(std::memchr(p, ',', static_cast<size_t>(line_end - p)));
        const char* cell_end = comma == nullptr ? line_end : comma;
        const char* b = p;
        const char* e = cell_end;
        while (b < e && (*b == ' ' || *b == '\t')) ++b;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t')) --e;
        Field(std::string_view(b, static_cast<size_t>(e - b)));
        if (comma == nullptr) break;
        p = comma + 1;
      }
      EndRecord();
      p = next;
    }
  }

  static void OnField(void* s, size_t len, void* self) {
    static_cast<CsvSource*>(self)->Field(std::string_view(s == nullptr ? "" : static_cast<const char*>(s), len));
  }
  static void OnRecord(int, void* self) { static_cast<CsvSource*>(self)->EndRecord(); }

  Status Malformed() {
    return InvalidArgument(path_ + ":" + std::to_string(line_) +
                           ": malformed CSV: " + csv_strerror(csv_error(&parser_)));
  }

  void Field(std::string_view cell) {
    if (!error_.ok()) return;
    if (!header_done_) {
      CountNewlines(cell);
      if (header_.size() < kHeaderColumnsMax) header_.emplace_back(cell);
      return;
    }
    if (col_ == 0) {
      row_ = rows_->AppendRow();
      row_reason_.clear();
    }
    const size_t c = col_++;
    if (!row_reason_.empty()) return;
    if (c >= field_of_column_.size()) {
      row_reason_ = "more cells than the header's " + std::to_string(field_of_column_.size());
      bad_column_ = c;
      return;
    }
    const int f = field_of_column_[c];
    if (f < 0) return;  // an ignored column
    const impulse::Field& field = opt_.def->schema.field(static_cast<size_t>(f));
    // Only a string cell can hold a newline and still be valid; others are checked if bad.
    if (field.type == FieldType::kString) CountNewlines(cell);
    std::string why = ParseCell(field, cell, &rows_->arena(), &row_[f]);
    if (!why.empty()) {
      if (field.type != FieldType::kString) CountNewlines(cell);
      row_reason_ = std::move(why);
      bad_column_ = c;
    }
  }

  // Line numbers: the lines a record spans are one plus its cells' embedded newlines.
  void CountNewlines(std::string_view cell) {
    if (!cell.empty() && std::memchr(cell.data(), '\n', cell.size()) != nullptr) {
      embedded_newlines_ += static_cast<uint64_t>(std::count(cell.begin(), cell.end(), '\n'));
    }
  }

  void EndRecord() {
    if (!error_.ok()) return;
    const uint64_t record_line = line_;
    line_ += 1 + embedded_newlines_;
    embedded_newlines_ = 0;
    if (!header_done_) {
      EndHeader();
      return;
    }
    if (col_ == 0) return;  // libcsv reports no fields for a blank line
    const size_t cells = col_;
    col_ = 0;
    if (row_reason_.empty() && cells < field_of_column_.size()) {
      row_reason_ = std::to_string(cells) + " cells, the header has " + std::to_string(field_of_column_.size());
      bad_column_ = cells;
    }
    if (!row_reason_.empty()) {
      rows_->PopRow();
      if (opt_.skip_bad_rows) {
        ++bad_;
        return;
      }
      const std::string col_name = bad_column_ < header_.size() ? " (" + header_[bad_column_] + ")" : "";
      error_ =
          InvalidArgument(path_ + ":" + std::to_string(record_line) + ": column " + std::to_string(bad_column_ + 1) +
                          col_name + ": " + row_reason_ + " (--skip-bad-rows skips such rows)");
      return;
    }
    const int tf = opt_.def->time_field;
    if (opt_.filter && tf >= 0) {
      const Value& t = row_[tf];
      if (t.null || t.i64 < opt_.from_ms || t.i64 >= opt_.to_ms) {
        rows_->PopRow();
        ++filtered_;
        return;
      }
    }
    rows_->meta(rows_->size() - 1).line = static_cast<uint32_t>(std::min<uint64_t>(record_line, UINT32_MAX));
  }

  void EndHeader() {
    header_done_ = true;
    if (header_.size() >= kHeaderColumnsMax) {
      error_ = InvalidArgument(path_ + ":1: header has more than " + std::to_string(kHeaderColumnsMax) + " columns");
      return;
    }
    Result<std::vector<int>> fields = MatchCsvHeader(header_, *opt_.def, opt_.header);
    if (!fields.ok()) {
      error_ = InvalidArgument(path_ + ":1: " + fields.status().message());
      return;
    }
    field_of_column_ = std::move(*fields);
  }

  csv_parser parser_{};
  bool parser_init_ = false;

  bool header_done_ = false;
  std::vector<std::string> header_;
  std::vector<int> field_of_column_;  // schema index of each column, -1 = ignored

  RowBatch* rows_ = nullptr;  // the batch being filled (during Next)
  Value* row_ = nullptr;      // the row being parsed
  RowBatch carry_;            // a partial record at the end of the last batch
  size_t col_ = 0;            // cells seen of the current record
  uint64_t line_ = 1;         // line where the current record starts
  uint64_t embedded_newlines_ = 0;
  std::string row_reason_;  // why the current row is bad; empty = good
  size_t bad_column_ = 0;
  Status error_;
};

}  // namespace

Result<std::unique_ptr<RowSource>> OpenCsvSource(const std::string& path, const SourceOptions& options) {
  auto src = std::make_unique<CsvSource>(path, options);
  RETURN_IF_ERROR(src->Init());
  return std::unique_ptr<RowSource>(std::move(src));
}

}  // namespace impulse::features::backfill_internal
