#include "event/csv_header.h"

#include <gtest/gtest.h>

namespace impulse {
namespace {

StreamDef Tx() {
  StreamDef d;
  d.name = "transactions";
  d.schema = Schema({{"transaction_id", FieldType::kInt64, false},
                     {"amount", FieldType::kDouble, false},
                     {"merchant_category", FieldType::kString, true}});
  return d;
}

TEST(CsvHeader, UpperCaseHeaderMatchesFields) {
  Result<std::vector<int>> m = MatchCsvHeader({"AMOUNT", "Transaction_ID"}, Tx(), {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, (std::vector<int>{1, 0}));
}

TEST(CsvHeader, ByteOrderMarkBeforeTheFirstNameIsIgnored) {
  Result<std::vector<int>> m = MatchCsvHeader({"\xEF\xBB\xBFtransaction_id", "amount"}, Tx(), {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, (std::vector<int>{0, 1}));
}

TEST(CsvHeader, UnknownColumnIsAnErrorWithDidYouMean) {
  Result<std::vector<int>> m = MatchCsvHeader({"transaction_id", "amout"}, Tx(), {});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("column 2 'amout' is not a field of stream transactions (did you mean "
                                      "'amount'?)"),
            std::string::npos)
      << m.status().ToString();
  EXPECT_NE(m.status().message().find("--ignore-unknown-columns"), std::string::npos);
}

TEST(CsvHeader, IgnoreUnknownColumnsSkipsThem) {
  CsvHeaderOptions o;
  o.ignore_unknown_columns = true;
  Result<std::vector<int>> m = MatchCsvHeader({"is_fraud", "transaction_id", "amount"}, Tx(), o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, (std::vector<int>{-1, 0, 1}));
}

TEST(CsvHeader, ColumnMapRenames) {
  CsvHeaderOptions o;
  o.column_map = {{"TX_ID", "transaction_id"}, {"value", "amount"}};
  Result<std::vector<int>> m = MatchCsvHeader({"tx_id", "Value", "mcc"}, Tx(), o);
  ASSERT_FALSE(m.ok());  // mcc is still unknown
  EXPECT_NE(m.status().message().find("column 3 'mcc'"), std::string::npos) << m.status().ToString();
  o.column_map.emplace_back("mcc", "merchant_category");
  m = MatchCsvHeader({"tx_id", "Value", "mcc"}, Tx(), o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, (std::vector<int>{0, 1, 2}));
}

TEST(CsvHeader, ColumnMapErrorsNameTheEntry) {
  CsvHeaderOptions o;
  o.column_map = {{"tx_id", "transaction_idd"}};
  Result<std::vector<int>> m = MatchCsvHeader({"tx_id", "amount"}, Tx(), o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("did you mean 'transaction_id'"), std::string::npos) << m.status().ToString();
  o.column_map = {{"tx_idd", "transaction_id"}};
  m = MatchCsvHeader({"tx_id", "amount"}, Tx(), o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("the header has no column 'tx_idd' (did you mean 'tx_id'?)"), std::string::npos)
      << m.status().ToString();
  EXPECT_FALSE(ParseColumnMapping("novalue").ok());
  EXPECT_FALSE(ParseColumnMapping("=x").ok());
  Result<std::pair<std::string, std::string>> p = ParseColumnMapping("A=b");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->first, "A");
  EXPECT_EQ(p->second, "b");
}

TEST(CsvHeader, DuplicateAndMissingFieldsAreErrors) {
  Result<std::vector<int>> m = MatchCsvHeader({"amount", "AMOUNT", "transaction_id"}, Tx(), {});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("column 2 'AMOUNT' fills field amount, as column 1 does"), std::string::npos)
      << m.status().ToString();
  m = MatchCsvHeader({"amount"}, Tx(), {});
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("non-nullable field transaction_id"), std::string::npos);
}

TEST(CsvHeader, FieldsDifferingOnlyInCaseNeedTheExactSpelling) {
  StreamDef d;
  d.name = "s";
  d.schema = Schema({{"id", FieldType::kInt64, true}, {"ID", FieldType::kInt64, true}});
  Result<std::vector<int>> m = MatchCsvHeader({"ID", "id"}, d, {});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, (std::vector<int>{1, 0}));
  EXPECT_FALSE(MatchCsvHeader({"Id"}, d, {}).ok());
}

}  // namespace
}  // namespace impulse
