// The personalization example's committed ranker, served by the engine's predict step (a backfill
// of examples/personalization/testdata/ranker_scores.yaml), scores every fixture row exactly as
// xgboost did when train.py wrote the model: equal float32 values. Label "e2e".
#include <gtest/gtest.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "features/backfill.h"

namespace impulse {
namespace {

const std::string kDir = std::string(IMPULSE_SOURCE_DIR) + "/examples/personalization";

// Column -> values of a quote-free CSV, by row_id (the first column).
std::map<int64_t, std::map<std::string, std::string>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> header;
  std::map<int64_t, std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) fields.push_back(cell);
    if (!line.empty() && line.back() == ',') fields.emplace_back();
    if (header.empty()) {
      header = fields;
      continue;
    }
    EXPECT_EQ(fields.size(), header.size()) << line;
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < std::min(fields.size(), header.size()); ++i) row[header[i]] = fields[i];
    rows[std::stoll(row["row_id"])] = row;
  }
  return rows;
}

float Float(const std::string& text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  EXPECT_TRUE(ec == std::errc() && end == text.data() + text.size()) << "not a number: '" << text << "'";
  return static_cast<float>(v);
}

TEST(PersonalizationModelTest, EngineScoresEqualXgboostForEveryFixtureRow) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("impulse-ranker-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  features::BackfillOptions options;
  options.spec_path = kDir + "/testdata/ranker_scores.yaml";
  options.input_path = kDir + "/testdata/ranker_scores.csv";
  options.models_dir = kDir + "/models";
  options.out_path = (dir / "scored.csv").string();
  auto stats = features::RunBackfill(options);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const auto fixture = ReadCsv(options.input_path);
  const auto scored = ReadCsv(options.out_path);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(fixture.size(), 1000u);
  ASSERT_EQ(scored.size(), fixture.size());
  int mismatches = 0;
  for (const auto& [id, row] : fixture) {
    const auto it = scored.find(id);
    ASSERT_NE(it, scored.end()) << "row " << id << " not scored";
    const float engine = Float(it->second.at("rank_score"));
    const float xgboost = Float(row.at("py_score"));
    if (engine != xgboost && ++mismatches <= 10) {
      ADD_FAILURE() << "row " << id << ": engine " << engine << ", xgboost " << xgboost;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace impulse
