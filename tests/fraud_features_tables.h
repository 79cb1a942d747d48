// Output tables of tests/fraud_features_test.cc: rows of CSV or NDJSON keyed by
// transaction_id, each value kept as printed (the CSV field, or the raw JSON token), so the
// test can compare values exactly as written.
#pragma once

#include <simdjson.h>

#include <charconv>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace impulse::fraud::tables {

// One output row: column name -> the value as printed (CSV field, or raw JSON token).
using Row = std::map<std::string, std::string>;
struct Table {
  std::map<uint64_t, Row> rows;      // by transaction_id
  std::vector<uint64_t> duplicates;  // ids seen more than once
  std::vector<std::string> errors;   // unparsable lines
};

inline void AddRow(Row row, Table* table) {
  auto id_it = row.find("transaction_id");
  uint64_t id = 0;
  if (id_it == row.end() ||
      std::from_chars(id_it->second.data(), id_it->second.data() + id_it->second.size(), id).ec != std::errc()) {
    table->errors.push_back("no transaction_id");
    return;
  }
  if (!table->rows.emplace(id, std::move(row)).second) table->duplicates.push_back(id);
}

// RFC 4180 fields of one line (quoted fields may hold commas and doubled quotes).
inline std::vector<std::string> SplitCsvLine(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back().push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back().push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back().push_back(c);
    }
  }
  return fields;
}

inline Table ParseCsv(const std::string& text) {
  Table table;
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> fields = SplitCsvLine(line);
    if (header.empty()) {
      header = std::move(fields);
      continue;
    }
    if (fields.size() != header.size()) {
      table.errors.push_back("width " + std::to_string(fields.size()) + ": " + line);
      continue;
    }
    Row row;
    for (size_t i = 0; i < header.size(); ++i) row[header[i]] = std::move(fields[i]);
    AddRow(std::move(row), &table);
  }
  return table;
}

// Each line a flat JSON object; values kept as their raw JSON text.
inline Table ParseNdjson(const std::string& text) {
  Table table;
  simdjson::ondemand::parser parser;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    simdjson::padded_string padded(line);
    Row row;
    simdjson::ondemand::document doc;
    simdjson::ondemand::object object;
    if (parser.iterate(padded).get(doc) != simdjson::SUCCESS || doc.get_object().get(object) != simdjson::SUCCESS) {
      table.errors.push_back(line);
      continue;
    }
    bool ok = true;
    for (auto field : object) {
      std::string_view key;
      simdjson::ondemand::value value;
      if (field.unescaped_key().get(key) != simdjson::SUCCESS || field.value().get(value) != simdjson::SUCCESS) {
        ok = false;
        break;
      }
      std::string_view raw = value.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n')) raw.remove_suffix(1);
      row[std::string(key)] = std::string(raw);
    }
    if (!ok) {
      table.errors.push_back(line);
      continue;
    }
    AddRow(std::move(row), &table);
  }
  return table;
}

}  // namespace impulse::fraud::tables
