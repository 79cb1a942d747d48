// `impulse demo personalization` end to end on a small simulation: it runs, prints both
// baselines with metrics in [0, 1], category popularity beats global popularity on next clicks
// (the simulator's sessions stay in a category), and bad arguments exit with usage; with the
// ranker, (a) scores exactly the lists `impulse backfill` writes for the same simulation, has a
// list at every prediction event, and reordered lists score differently.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "run_command.h"

namespace {

CommandOutput RunImpulse(const std::string& args) {
  return RunShell(std::string(IMPULSE_BINARY) + " " + args + " 2>/dev/null");
}

// The four numbers after a row's name: HR@10 and NDCG@10 of next click and next purchase.
std::vector<double> Metrics(const std::string& out, const std::string& name) {
  const size_t at = out.find(name);
  if (at == std::string::npos) return {};
  std::istringstream line(out.substr(at + name.size(), out.find('\n', at) - at - name.size()));
  std::vector<double> v(4, -1);
  for (double& x : v) line >> x;
  return v;
}

// The text after a row's name up to the end of its line.
std::string RowText(const std::string& out, const std::string& name) {
  const size_t at = out.find(name);
  if (at == std::string::npos) return "";
  return out.substr(at + name.size(), out.find('\n', at) - at - name.size());
}

// The line after a row's (its "lists read ..." note).
std::string NoteAfter(const std::string& out, const std::string& name) {
  const size_t at = out.find(name);
  if (at == std::string::npos) return "";
  const size_t b = out.find('\n', at) + 1;
  return out.substr(b, out.find('\n', b) - b);
}

// The number right before `word` in `text` (-1 if none).
long long NumberBefore(const std::string& text, const std::string& word) {
  const size_t at = text.find(word);
  if (at == std::string::npos || at < 2) return -1;
  size_t b = at - 1;  // the space
  while (b > 0 && std::isdigit(static_cast<unsigned char>(text[b - 1]))) --b;
  return b == at - 1 ? -1 : std::stoll(text.substr(b, at - 1 - b));
}

TEST(PersonalizationDemoTest, PrintsBothBaselines) {
  const CommandOutput o =
      RunImpulse("demo personalization --no-ranker --users 2000 --items 1000 --days 8 --heldout-days 2");
  ASSERT_EQ(o.exit_code, 0) << o.out;
  const std::vector<double> global = Metrics(o.out, "(c) global popularity (views, 1 d, hourly)");
  const std::vector<double> category = Metrics(o.out, "(d) category popularity (views, 1 d, hourly)");
  ASSERT_EQ(global.size(), 4u) << o.out;
  ASSERT_EQ(category.size(), 4u) << o.out;
  for (double x : global) EXPECT_TRUE(x >= 0 && x <= 1) << o.out;
  for (double x : category) EXPECT_TRUE(x >= 0 && x <= 1) << o.out;
  EXPECT_GT(category[0], global[0]) << o.out;
  EXPECT_NE(o.out.find("(a) live event-driven ranker"), std::string::npos);
}

// (a) against the same spec backfilled by the CLI over the same simulation (`impulse generate
// shop`): identical lists give identical figures; every prediction event has its list; the
// lists reversed keep HR@10 (the same 10 items) but change NDCG@10 (the order counts).
TEST(PersonalizationDemoTest, RankerScoresTheBackfillsListsAtEveryPredictionEvent) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("personalization_demo_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string sim = "--users 150 --items 300 --days 3 --seed 5";
  const std::string src = IMPULSE_SOURCE_DIR;
  ASSERT_EQ(RunImpulse("generate shop " + sim + " > " + (dir / "events.csv").string()).exit_code, 0);
  const std::string recs = (dir / "recs.ndjson").string();
  ASSERT_EQ(RunImpulse("backfill " + src + "/examples/personalization/rank.yaml --input " +
                       (dir / "events.csv").string() + " --models " + src +
                       "/examples/personalization/models --stream recommendations --format ndjson --out " + recs)
                .exit_code,
            0);
  // The same lists, each reversed.
  const std::string reversed = (dir / "reversed.ndjson").string();
  {
    std::ifstream in(recs);
    std::ofstream out(reversed);
    size_t lines = 0;
    for (std::string line; std::getline(in, line); ++lines) {
      const size_t a = line.find("\"recs\":\"[");
      if (a == std::string::npos) {  // no candidates yet (the first hour): null recs, no list
        ASSERT_NE(line.find("\"recs\":null"), std::string::npos) << line;
        out << line << "\n";
        continue;
      }
      const size_t b = line.find(']', a);
      std::vector<std::string> ids;
      std::stringstream list(line.substr(a + 9, b - a - 9));
      for (std::string id; std::getline(list, id, ',');) ids.push_back(id);
      std::reverse(ids.begin(), ids.end());
      std::string joined;
      for (const std::string& id : ids) joined += (joined.empty() ? "" : ",") + id;
      out << line.substr(0, a + 9) << joined << line.substr(b) << "\n";
    }
    ASSERT_GT(lines, 100u);
  }
  const CommandOutput o =
      RunImpulse("demo personalization " + sim + " --heldout-days 1 --recs " + recs + " --recs " + reversed);
  fs::remove_all(dir);
  ASSERT_EQ(o.exit_code, 0) << o.out;
  const std::string live = "(a) live event-driven ranker";
  const std::vector<double> a = Metrics(o.out, live);
  const std::vector<double> same = Metrics(o.out, "recorded: " + recs);
  const std::vector<double> rev = Metrics(o.out, "recorded: " + reversed);
  ASSERT_EQ(a.size(), 4u) << o.out;
  ASSERT_EQ(same.size(), 4u) << o.out;
  ASSERT_EQ(rev.size(), 4u) << o.out;
  for (double x : a) EXPECT_TRUE(x >= 0 && x <= 1) << o.out;
  EXPECT_GT(a[0], 0) << o.out;  // some next clicks are hit: the reversal below can show
  // The four figures (four decimals) are the CLI backfill's lists' figures.
  EXPECT_EQ(a, same) << o.out;
  EXPECT_EQ(a[0], rev[0]) << o.out;  // HR@10 of next clicks: the same items
  EXPECT_NE(a[1], rev[1]) << o.out;  // NDCG@10: not in the same order
  // Features as of the event: data age 0.
  EXPECT_NE(RowText(o.out, live).find("      0 /       0"), std::string::npos) << o.out;
  // Every prediction event got its list from the stream: no case without one.
  const long long predictions = NumberBefore(o.out, "prediction events");
  const std::string note = NoteAfter(o.out, live);
  EXPECT_GT(predictions, 0) << o.out;
  EXPECT_EQ(NumberBefore(note, "at prediction events"), predictions) << o.out;
  EXPECT_EQ(NumberBefore(note, "cases without a list"), 0) << o.out;
}

TEST(PersonalizationDemoTest, BadArgumentsExitWithUsage) {
  EXPECT_EQ(RunImpulse("demo personalization --days 5 --heldout-days 5").exit_code, 2);
  EXPECT_EQ(RunImpulse("demo personalization --heldout-days 0").exit_code, 2);
  EXPECT_EQ(RunImpulse("demo personalization --users 0").exit_code, 2);
  EXPECT_EQ(RunImpulse("demo personalization --bogus").exit_code, 2);
  EXPECT_EQ(RunImpulse("demo personalization --shards 0").exit_code, 2);
  EXPECT_EQ(RunImpulse("demo personalization --quick --spec /nonexistent/rank.yaml").exit_code, 1);
  // Said, not silently ignored: a flag the run would not use, and the days the check is about.
  const std::string binary = IMPULSE_BINARY;
  const CommandOutput no_ranker = RunShell(binary + " demo personalization --quick --no-ranker --spec other.yaml 2>&1");
  EXPECT_EQ(no_ranker.exit_code, 2);
  EXPECT_NE(no_ranker.out.find("--spec configures the ranker, which --no-ranker does not run"), std::string::npos)
      << no_ranker.out;
  const CommandOutput one_day = RunShell(binary + " demo personalization --days 1 2>&1");
  EXPECT_EQ(one_day.exit_code, 2);
  EXPECT_NE(one_day.out.find("--days must be at least 2"), std::string::npos) << one_day.out;
  EXPECT_EQ(RunImpulse("demo personalization --help").exit_code, 0);
}

}  // namespace
