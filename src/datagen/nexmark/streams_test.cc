// The generator's NDJSON must ingest cleanly into the streams of bench/nexmark/streams.yaml:
// compiles the spec with the plan compiler and parses generated lines with the ingest parser.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "datagen/nexmark/generator.h"
#include "datagen/nexmark/ndjson.h"
#include "event/ndjson.h"
#include "plan/logical_plan.h"
#include "spec/spec.h"

namespace impulse::nexmark {
namespace {

TEST(NexmarkStreams, GeneratedLinesIngestIntoTheDeclaredStreamsWithoutRejects) {
  std::vector<plan::SpecError> errors;
  Result<plan::LogicalPlan> spec = plan::CompileSpecFile(IMPULSE_NEXMARK_STREAMS_YAML, &errors);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ASSERT_TRUE(errors.empty());

  Generator gen{GeneratorConfig{.seed = 2}};
  Event e;
  std::string bodies[3];
  int counts[3] = {0, 0, 0};
  std::vector<int64_t> times[3];
  for (uint64_t i = 0; i < 3'000; ++i) {
    gen.EventAt(i, &e);
    const int k = static_cast<int>(e.kind);
    AppendEventJson(e, &bodies[k]);
    bodies[k].push_back('\n');
    ++counts[k];
    times[k].push_back(e.date_time());
  }
  for (int k = 0; k < 3; ++k) {
    const char* name = KindName(static_cast<Event::Kind>(k));
    const StreamDef* def = spec->FindStream(name);
    ASSERT_NE(def, nullptr) << name;
    EXPECT_GE(def->key_field, 0) << name;
    EXPECT_EQ(def->schema.field(static_cast<size_t>(def->time_field)).name, "date_time");
    NdjsonParser parser(*def, NdjsonLimits{});
    RowBatch rows(def->schema.size());
    std::vector<BadLine> bad;
    ASSERT_TRUE(parser.Parse(bodies[k], /*ingest_time_ms=*/0, &rows, &bad).ok());
    EXPECT_TRUE(bad.empty()) << name << ": " << (bad.empty() ? "" : bad[0].reason);
    ASSERT_EQ(rows.size(), static_cast<size_t>(counts[k])) << name;
    for (size_t r = 0; r < rows.size(); ++r) EXPECT_EQ(rows.meta(r).event_time_ms, times[k][r]);
  }
  EXPECT_NE(spec->FindStream("bid_out"), nullptr);
}

}  // namespace
}  // namespace impulse::nexmark
