#include "event/table_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace impulse {
namespace {

StreamDef Customers() {
  StreamDef d;
  d.name = "customers";
  d.schema = Schema({{"id", FieldType::kInt64, false},
                     {"name", FieldType::kString, false},
                     {"limit", FieldType::kDouble, true},
                     {"since", FieldType::kTimestamp, true}});
  d.key_field = 0;
  return d;
}

std::string Write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(TableFile, CsvWithQuotesNullsAndAnyColumnOrder) {
  RowBatch rows(4);
  const std::string path = Write("customers.csv",
                                 "name,id,limit,since\n"
                                 "\"Smith, \"\"Jo\"\"\",1,250.5,2024-03-01T10:00:00Z\n"
                                 "\"two\nlines\",2,,1700000000000\n");
  ASSERT_TRUE(LoadTableFile(path, Customers(), &rows).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.row(0)[0].i64, 1);
  EXPECT_EQ(rows.row(0)[1].sv(), "Smith, \"Jo\"");
  EXPECT_DOUBLE_EQ(rows.row(0)[2].f64, 250.5);
  EXPECT_EQ(rows.row(0)[3].i64, 1709287200000);
  EXPECT_EQ(rows.row(1)[1].sv(), "two\nlines");
  EXPECT_TRUE(rows.row(1)[2].null);
  EXPECT_EQ(rows.row(1)[3].i64, 1700000000000);
}

TEST(TableFile, NdjsonLoads) {
  RowBatch rows(4);
  const std::string path =
      Write("customers.ndjson", "{\"id\":3,\"name\":\"x\"}\n{\"id\":4,\"name\":\"y\",\"limit\":1}\n");
  ASSERT_TRUE(LoadTableFile(path, Customers(), &rows).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.row(1)[0].i64, 4);
}

TEST(TableFile, BadInputIsAPreciseError) {
  RowBatch rows(4);
  auto st = LoadTableFile(Write("bad_type.csv", "id,name\n1,a\nx,b\n"), Customers(), &rows);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("data record 2"), std::string::npos) << st.ToString();
  st = LoadTableFile(Write("bad_header.csv", "id,nmae\n1,a\n"), Customers(), &rows);
  EXPECT_NE(st.message().find("'nmae'"), std::string::npos) << st.ToString();
  st = LoadTableFile(Write("ragged.csv", "id,name\n1,a,extra\n"), Customers(), &rows);
  EXPECT_NE(st.message().find("cells"), std::string::npos) << st.ToString();
  st = LoadTableFile(Write("quote.csv", "id,name\n1,\"open\n"), Customers(), &rows);
  EXPECT_NE(st.message().find("malformed CSV"), std::string::npos) << st.ToString();
  st = LoadTableFile(Write("big.ndjson", std::string(100, ' ')), Customers(), &rows, 10);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(LoadTableFile("/nonexistent/t.csv", Customers(), &rows).code(), StatusCode::kNotFound);
}

// A cell of a number column is one JSON scalar or an error: its text must not become JSON
// structure (another field, or a whole second event after an embedded newline).
TEST(TableFile, NumberCellCannotAddFieldsOrEvents) {
  RowBatch rows(4);
  Status st =
      LoadTableFile(Write("inject_event.csv",
                          "id,name,limit\n"
                          "1,a,\"5,\"\"since\"\":1}\n{\"\"id\"\":9,\"\"name\"\":\"\"injected\"\",\"\"limit\"\":2\"\n"),
                    Customers(), &rows);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("data record 1"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("limit"), std::string::npos) << st.ToString();
  EXPECT_EQ(rows.size(), 0u);
  rows.Clear();
  st = LoadTableFile(Write("inject_field.csv", "id,name\n\"1,\"\"limit\"\":3\",a\n"), Customers(), &rows);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("field id"), std::string::npos) << st.ToString();
  EXPECT_EQ(rows.size(), 0u);
  // Numbers and literals in their usual forms still load.
  rows.Clear();
  st = LoadTableFile(Write("numbers.csv", "id,name,limit\n-3,a,1.5e3\n 4 ,b,\t-0.25\n"), Customers(), &rows);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.row(0)[0].i64, -3);
  EXPECT_DOUBLE_EQ(rows.row(0)[2].f64, 1500);
  EXPECT_EQ(rows.row(1)[0].i64, 4);
  EXPECT_DOUBLE_EQ(rows.row(1)[2].f64, -0.25);
}

// Spreadsheet exports start with a UTF-8 byte order mark and end lines with CRLF.
TEST(TableFile, CsvWithByteOrderMarkAndCrlf) {
  RowBatch rows(4);
  const Status st =
      LoadTableFile(Write("bom.csv", "\xEF\xBB\xBFid,name\r\n1,a\r\n2,\"b\r\nc\"\r\n"), Customers(), &rows);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.row(0)[1].sv(), "a");
  EXPECT_EQ(rows.row(1)[1].sv(), "b\r\nc");
}

// The format may be given (a .txt of CSV, NDJSON from a .csv name); by extension, .CSV is CSV.
TEST(TableFile, FormatGivenOrByCaseInsensitiveExtension) {
  RowBatch rows(4);
  TableFileOptions o;
  o.format = TableFileOptions::Format::kCsv;
  Status st = LoadTableFile(Write("csv_in.txt", "id,name\n1,a\n"), Customers(), &rows, o);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(rows.size(), 1u);
  rows.Clear();
  st = LoadTableFile(Write("upper.CSV", "id,name\n2,b\n"), Customers(), &rows);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.row(0)[0].i64, 2);
  rows.Clear();
  o.format = TableFileOptions::Format::kNdjson;
  st = LoadTableFile(Write("ndjson_in.csv", "{\"id\":3,\"name\":\"c\"}\n"), Customers(), &rows, o);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(rows.size(), 1u);
}

// Header options: a column map and ignored columns (whose cells are dropped).
TEST(TableFile, CsvHeaderOptionsMapAndIgnoreColumns) {
  RowBatch rows(4);
  TableFileOptions o;
  o.header.ignore_unknown_columns = true;
  o.header.column_map.emplace_back("customer", "id");
  const Status st = LoadTableFile(Write("opts.csv", "extra,customer,NAME\n\"x,{\",5,e\n"), Customers(), &rows, o);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.row(0)[0].i64, 5);
  EXPECT_EQ(rows.row(0)[1].sv(), "e");
}

}  // namespace
}  // namespace impulse
