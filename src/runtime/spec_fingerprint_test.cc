// A data directory remembers its spec: another spec is refused naming what differs, unless
// the change is accepted.
#include "runtime/spec_fingerprint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/logger.h"
#include "impulse/engine.h"

namespace impulse::runtime {
namespace {

constexpr const char* kSpec = R"(streams:
  - name: tx
    fields:
      - {name: user_id, type: int64}
      - {name: amount, type: double}
    key: user_id
pipelines:
  - name: big
    from: tx
    steps:
      - filter: amount > 100
    sink: {stream: big_tx}
)";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

class SpecFingerprintTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("impulse_spec_fp_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  EngineOptions Options(bool accept = false) {
    EngineOptions o;
    o.data_dir = dir_.string();
    o.shards = 1;
    o.durability = Durability::kNone;
    o.checkpoint_interval_ms = 0;
    o.accept_spec_change = accept;
    return o;
  }
  Status Run(const std::string& spec, bool accept = false) {
    auto e = Engine::OpenSpec(spec, Options(accept));
    if (!e.ok()) return e.status();
    return (*e)->Stop();
  }
  std::filesystem::path dir_;
};

TEST_F(SpecFingerprintTest, SameSpecReopens) {
  ASSERT_TRUE(Run(kSpec).ok());
  EXPECT_TRUE(std::filesystem::exists(dir_ / "SPEC"));
  EXPECT_TRUE(Run(kSpec).ok());
}

TEST_F(SpecFingerprintTest, AnotherPipelineIsRefusedNamingItUnlessAccepted) {
  ASSERT_TRUE(Run(kSpec).ok());
  const std::string renamed = Replace(kSpec, "name: big\n", "name: large\n");
  Status st = Run(renamed);
  ASSERT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("was created with another spec: pipeline big removed; pipeline large added"),
            std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("--accept-spec-change"), std::string::npos);
  const std::string changed = Replace(kSpec, "amount > 100", "amount > 200");
  st = Run(changed);
  ASSERT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("pipeline big changed: 'filter (`amount` > 100)' -> 'filter (`amount` > 200)'"),
            std::string::npos)
      << st.ToString();
  ASSERT_TRUE(Run(renamed, /*accept=*/true).ok());
  EXPECT_TRUE(Run(renamed).ok());  // the accepted spec is now the directory's
  EXPECT_EQ(Run(kSpec).code(), StatusCode::kFailedPrecondition);
}

TEST_F(SpecFingerprintTest, ASchemaChangeNamesTheFieldEvenWhenAccepted) {
  ASSERT_TRUE(Run(kSpec).ok());
  const std::string retyped = Replace(kSpec, "{name: amount, type: double}", "{name: amount, type: int64}");
  Status st = Run(retyped);
  ASSERT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("stream tx: field amount type changed double -> int64"), std::string::npos)
      << st.ToString();
  // The log holds records of the old schema: accepting the spec cannot make them readable.
  st = Run(retyped, /*accept=*/true);
  ASSERT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("stream tx: field amount type changed double -> int64"), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("would be misread"), std::string::npos) << st.ToString();
  // The refused start recorded nothing: the old spec still runs without accepting anything.
  EXPECT_TRUE(Run(kSpec).ok());
}

// The same refusal for a stream opened after others (a derived stream whose pipeline now writes
// another field): the failed start is reported, it does not crash stopping what it had opened.
TEST_F(SpecFingerprintTest, ASchemaChangeOfALaterStreamIsRefusedEvenWhenAccepted) {
  ASSERT_TRUE(Run(kSpec).ok());
  const std::string widened =
      Replace(kSpec, "      - filter: amount > 100\n", "      - filter: amount > 100\n      - map: {x: \"1\"}\n");
  const Status st = Run(widened, /*accept=*/true);
  ASSERT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("stream big_tx: "), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("would be misread"), std::string::npos) << st.ToString();
  EXPECT_TRUE(Run(kSpec).ok());
  // A new stream the refused start had declared (its STREAM file written before the refusal)
  // never held a record: the corrected spec may declare it with another schema.
  const std::string with_new =
      Replace(widened, "pipelines:\n", "  - {name: aa, key: k, fields: [{name: k, type: int64}]}\npipelines:\n");
  EXPECT_EQ(Run(with_new, /*accept=*/true).code(), StatusCode::kFailedPrecondition);
  const std::string corrected =
      Replace(kSpec, "pipelines:\n", "  - {name: aa, key: k, fields: [{name: k, type: string}]}\npipelines:\n");
  const Status again = Run(corrected, /*accept=*/true);
  EXPECT_TRUE(again.ok()) << again.ToString();
}

// A spec whose start fails after the streams are open (here its file sink cannot be opened;
// a missing model is another) never ran: the directory must not adopt it, or the corrected spec
// would be refused as "another spec".
TEST_F(SpecFingerprintTest, AFailedFirstStartDoesNotRecordItsSpec) {
  const std::string broken = Replace(kSpec, "sink: {stream: big_tx}", "sink: {file: /nonexistent-dir/big.ndjson}");
  const Status failed = Run(broken);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.message().find("another spec"), std::string::npos) << failed.ToString();
  const std::string fixed = Replace(kSpec, "sink: {stream: big_tx}", "sink: {stream: big_out}");
  const Status st = Run(fixed);
  EXPECT_TRUE(st.ok()) << st.ToString();
  // The spec that ran is the directory's now.
  EXPECT_EQ(Run(broken).code(), StatusCode::kFailedPrecondition);
}

// A start the front end abandons (its port taken, its input unreadable) did not happen: the
// directory keeps the spec it had (none when fresh), so another spec can start on it, and no
// final checkpoint is written.
TEST_F(SpecFingerprintTest, AnAbandonedStartPutsTheSpecBack) {
  EngineOptions with_checkpoints = Options();
  with_checkpoints.checkpoint_interval_ms = 60'000;
  {
    auto e = Engine::OpenSpec(kSpec, with_checkpoints);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_TRUE((*e)->Abandon().ok());
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "SPEC"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "checkpoints")) << "a final checkpoint was written";
  // Nor the schemas of its streams: a field's type can change on retry.
  const std::string retyped = Replace(kSpec, "{name: amount, type: double}", "{name: amount, type: int64}");
  {
    auto e = Engine::OpenSpec(retyped, Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_TRUE((*e)->Abandon().ok());
  }
  const std::string renamed = Replace(kSpec, "name: big\n", "name: large\n");
  ASSERT_TRUE(Run(renamed).ok());  // not "another spec": the abandoned ones were never the directory's
  // An accepted change abandoned: the directory's spec is still the one before it.
  {
    auto e = Engine::OpenSpec(kSpec, Options(/*accept=*/true));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_TRUE((*e)->Abandon().ok());
  }
  EXPECT_TRUE(Run(renamed).ok());
  EXPECT_EQ(Run(kSpec).code(), StatusCode::kFailedPrecondition);
}

// An accepted change is an event of note: logged through the engine's log, so that with
// --log-format json it is a JSON line like every other (a collector drops a bare text line).
TEST_F(SpecFingerprintTest, AnAcceptedChangeIsALogLine) {
  ASSERT_TRUE(Run(kSpec).ok());
  const std::string renamed = Replace(kSpec, "name: big\n", "name: large\n");
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  ConfigureLog(LogLevel::kInfo, LogFormat::kJson, log);
  ::testing::internal::CaptureStderr();
  const Status st = Run(renamed, /*accept=*/true);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ConfigureLog(LogLevel::kInfo, LogFormat::kText, stderr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string lines;
  std::rewind(log);
  for (int c = std::fgetc(log); c != EOF; c = std::fgetc(log)) lines.push_back(static_cast<char>(c));
  std::fclose(log);
  EXPECT_EQ(err.find("accepted spec change"), std::string::npos) << "not through the log: " << err;
  EXPECT_NE(
      lines.find(R"("level":"warn","event":"spec_change","message":"accepted spec change: pipeline big removed")"),
      std::string::npos)
      << lines;
  EXPECT_NE(lines.find(R"("change":"pipeline large added")"), std::string::npos) << lines;
}

TEST(SpecDifferences, NamesEachKindOfChange) {
  const std::string a =
      "stream s partitions 4\nstream s field a int64\nstream s field b string nullable\nstream t partitions 1\n"
      "pipeline p from s\npipeline p filter x\n";
  const std::string b =
      "stream s partitions 8\nstream s field a double\nstream s field c bool\nstream u partitions 1\n"
      "pipeline p from s\npipeline p filter x\npipeline q from s\n";
  const std::vector<std::string> d = SpecDifferences(a, b);
  const std::vector<std::string> want = {"stream s: partitions changed 4 -> 8",
                                         "stream s: field a type changed int64 -> double",
                                         "stream s: field b removed",
                                         "stream s: field c added (bool)",
                                         "stream t removed",
                                         "stream u added",
                                         "pipeline q added"};
  EXPECT_EQ(d, want);
  EXPECT_TRUE(SpecDifferences(a, a).empty());
}

}  // namespace
}  // namespace impulse::runtime
