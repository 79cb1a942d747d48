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

}  // namespace
}  // namespace impulse
