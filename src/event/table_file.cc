#include "event/table_file.h"

#include <csv.h>

#include <fstream>
#include <vector>

#include "event/csv_header.h"
#include "event/json_writer.h"
#include "event/ndjson.h"

namespace impulse {

namespace {

bool EndsWithIgnoreCase(const std::string& s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    const char c = s[s.size() - suffix.size() + i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != suffix[i]) return false;
  }
  return true;
}

// A cell written into the JSON as it is: a number or a literal (true, false, null). Anything
// else (a quote, comma, brace, space, line break) would become JSON structure, another field or
// a second event, so such a cell is written as a string and refused by its field's type.
bool IsBareScalar(std::string_view v) {
  for (const char c : v) {
    const bool ok =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// CSV records become NDJSON lines, so one validator (NdjsonParser) decides what is valid.
struct CsvToJson {
  const StreamDef* def = nullptr;
  std::vector<std::string> header;
  std::vector<std::string> cells;
  const CsvHeaderOptions* header_options = nullptr;
  std::vector<int> field_of_column;  // schema index per column, -1 for an ignored column
  std::string json;                  // the NDJSON being built
  uint32_t record = 0;
  std::string error;

  static void OnField(void* s, size_t len, void* self) {
    static_cast<CsvToJson*>(self)->cells.emplace_back(static_cast<const char*>(s), len);
  }
  static void OnRecord(int, void* self) { static_cast<CsvToJson*>(self)->EndRecord(); }

  void EndRecord() {
    ++record;
    if (!error.empty()) return;
    if (record == 1) {
      header = std::move(cells);
      cells.clear();
      Result<std::vector<int>> fields = MatchCsvHeader(header, *def, *header_options);
      if (!fields.ok()) {
        error = "header: " + fields.status().message();
        return;
      }
      field_of_column = std::move(*fields);
      return;
    }
    if (cells.size() != header.size()) {
      error = "record " + std::to_string(record) + " has " + std::to_string(cells.size()) + " cells, the header " +
              std::to_string(header.size());
      return;
    }
    json.push_back('{');
    bool first = true;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (field_of_column[c] < 0) continue;
      const Field& f = def->schema.field(static_cast<size_t>(field_of_column[c]));
      if (!first) json.push_back(',');
      first = false;
      AppendJsonString(f.name, &json);
      json.push_back(':');
      std::string_view v = cells[c];
      if (f.type != FieldType::kString) {
        // "1, 2.5": spaces around a number or literal are not part of it, as in JSON.
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      }
      if (v.empty() && !(f.type == FieldType::kString && !f.nullable)) {
        json += "null";
      } else if (f.type == FieldType::kString || !IsBareScalar(v) ||
                 (f.type == FieldType::kTimestamp && v.find_first_not_of("0123456789") != std::string::npos)) {
        AppendJsonString(v, &json);  // a string, or a timestamp in text form
      } else {
        json += v;
      }
    }
    json += "}\n";
    cells.clear();
  }
};

}  // namespace

Status LoadTableFile(const std::string& path, const StreamDef& def, RowBatch* rows, uint64_t max_bytes) {
  TableFileOptions options;
  options.max_bytes = max_bytes;
  return LoadTableFile(path, def, rows, options);
}

Status LoadTableFile(const std::string& path, const StreamDef& def, RowBatch* rows, const TableFileOptions& options) {
  const uint64_t max_bytes = options.max_bytes;
  const bool csv = options.format == TableFileOptions::Format::kCsv ||
                   (options.format == TableFileOptions::Format::kByExtension && EndsWithIgnoreCase(path, ".csv"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open table file '" + path + "'");
  std::string text;
  char buf[1 << 16];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes) {
      return ResourceExhausted("table file '" + path + "' is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  if (in.bad()) return IOError("reading table file '" + path + "'");
  std::string ndjson;
  if (csv) {
    csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) return Internal("csv_init failed");
    CsvToJson conv;
    conv.def = &def;
    conv.header_options = &options.header;
    const size_t n = csv_parse(&p, text.data(), text.size(), CsvToJson::OnField, CsvToJson::OnRecord, &conv);
    const bool parse_failed = n != text.size();
    const int fini = csv_fini(&p, CsvToJson::OnField, CsvToJson::OnRecord, &conv);
    std::string reason = parse_failed || fini != 0 ? csv_strerror(csv_error(&p)) : "";
    csv_free(&p);
    if (!reason.empty()) {
      return InvalidArgument("table file '" + path + "': malformed CSV near record " + std::to_string(conv.record + 1) +
                             ": " + reason);
    }
    if (!conv.error.empty()) return InvalidArgument("table file '" + path + "': " + conv.error);
    ndjson = std::move(conv.json);
  } else {
    ndjson = std::move(text);
  }
  NdjsonLimits limits;
  NdjsonParser parser(def, limits);
  std::vector<BadLine> bad;
  RETURN_IF_ERROR(parser.Parse(ndjson, 0, rows, &bad).WithContext("table file '" + path + "'"));
  if (!bad.empty()) {
    const std::string unit = csv ? "data record " : "line ";
    return InvalidArgument("table file '" + path + "' " + unit + std::to_string(bad[0].line) + ": " + bad[0].reason +
                           (bad.size() > 1 ? " (and " + std::to_string(bad.size() - 1) + " more bad rows)" : ""));
  }
  return Status::OK();
}

}  // namespace impulse
