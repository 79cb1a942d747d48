#include "event/csv_header.h"

#include <string_view>

#include "common/suggest.h"

namespace impulse {

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The field `name` denotes: exact, else the only case-insensitive match; -1 if none, -2 if
// several fields differ only in case (then only the exact spelling names one).
int FindField(const Schema& schema, std::string_view name) {
  if (int idx = schema.FieldIndex(name); idx >= 0) return idx;
  int found = -1;
  for (size_t f = 0; f < schema.size(); ++f) {
    if (!EqualsIgnoreCase(schema.field(f).name, name)) continue;
    if (found >= 0) return -2;
    found = static_cast<int>(f);
  }
  return found;
}

std::vector<std::string_view> FieldNames(const Schema& schema) {
  std::vector<std::string_view> names;
  for (size_t f = 0; f < schema.size(); ++f) names.emplace_back(schema.field(f).name);
  return names;
}

}  // namespace

Result<std::pair<std::string, std::string>> ParseColumnMapping(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return InvalidArgument("--column '" + text + "': expected COLUMN=FIELD");
  }
  return std::pair{text.substr(0, eq), text.substr(eq + 1)};
}

Result<std::vector<int>> MatchCsvHeader(const std::vector<std::string>& header_row, const StreamDef& def,
                                        const CsvHeaderOptions& options) {
  // Spreadsheets write a UTF-8 byte order mark before the first column's name.
  std::vector<std::string> header = header_row;
  if (!header.empty() && header[0].starts_with("\xEF\xBB\xBF")) header[0].erase(0, 3);
  const Schema& schema = def.schema;
  const std::vector<std::string_view> names = FieldNames(schema);
  std::vector<int> field_of_column(header.size(), -1);
  std::vector<bool> mapped(header.size(), false);
  for (const auto& [column, field] : options.column_map) {
    const int idx = FindField(schema, field);
    if (idx < 0) {
      return InvalidArgument("--column " + column + "=" + field + ": '" + field + "' is not a field of stream " +
                             def.name + DidYouMean(field, names));
    }
    bool found = false;
    for (size_t c = 0; c < header.size(); ++c) {
      if (!EqualsIgnoreCase(header[c], column)) continue;
      field_of_column[c] = idx;
      mapped[c] = true;
      found = true;
    }
    if (!found) {
      std::vector<std::string_view> columns(header.begin(), header.end());
      return InvalidArgument("--column " + column + "=" + field + ": the header has no column '" + column + "'" +
                             DidYouMean(column, columns));
    }
  }
  std::vector<int> column_of_field(schema.size(), -1);
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string col = "column " + std::to_string(c + 1) + " '" + header[c] + "'";
    if (!mapped[c]) {
      const int idx = FindField(schema, header[c]);
      if (idx == -2) {
        return InvalidArgument(col + " matches several fields of stream " + def.name +
                               " that differ only in case; name one with --column " + header[c] + "=FIELD");
      }
      if (idx < 0) {
        if (options.ignore_unknown_columns) continue;
        return InvalidArgument(col + " is not a field of stream " + def.name + DidYouMean(header[c], names) +
                               "; --column " + header[c] +
                               "=FIELD maps it to a field, --ignore-unknown-columns skips such columns");
      }
      field_of_column[c] = idx;
    }
    const int idx = field_of_column[c];
    if (column_of_field[static_cast<size_t>(idx)] >= 0) {
      return InvalidArgument(col + " fills field " + schema.field(static_cast<size_t>(idx)).name + ", as column " +
                             std::to_string(column_of_field[static_cast<size_t>(idx)] + 1) + " does");
    }
    column_of_field[static_cast<size_t>(idx)] = static_cast<int>(c);
  }
  for (size_t f = 0; f < schema.size(); ++f) {
    if (column_of_field[f] < 0 && !schema.field(f).nullable) {
      return InvalidArgument("the header has no column for non-nullable field " + schema.field(f).name);
    }
  }
  return field_of_column;
}

}  // namespace impulse
