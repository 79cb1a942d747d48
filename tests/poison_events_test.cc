// Poison events: a generated corpus of adversarial values per field type (extreme and
// out-of-range timestamps, int64 edges, huge and non-finite doubles, huge strings, invalid and
// edge-case unicode, deep JSON, malformed lines) through every operator kind at once: tumbling,
// hopping, session and sliding windows, dedup, an interval join, a feature view, a trigger and a
// map of string/number/time functions, with expressions that amplify a big string past the
// per-event budget both in a map step and in a window's aggregate. The engine must neither crash, nor stall, nor stop a
// task, nor grow operator state beyond its bounds; every line is either accepted or refused with a reason; refused rows
// carry one of the documented reasons; a restart replays into no failure.
//
// IMPULSE_POISON_ROUNDS=N (default 1) runs N seeded corpora (opt-in long version).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "impulse/engine.h"
#include "runtime/engine_test_util.h"

namespace impulse {
namespace {

constexpr char kSpec[] = R"yaml(
streams:
  - name: ev
    fields:
      - {name: k, type: string}
      - {name: n, type: int64, nullable: true}
      - {name: x, type: double, nullable: true}
      - {name: f, type: bool, nullable: true}
      - {name: ts, type: timestamp}
      - {name: s, type: string, nullable: true}
    key: k
    event_time: ts
    partitions: 2
    watermark: {max_out_of_orderness: 1m, idle_timeout: never}
  - name: ref
    fields:
      - {name: k, type: string}
      - {name: v, type: int64}
      - {name: ts, type: timestamp}
    key: k
    event_time: ts
    partitions: 2
    watermark: {idle_timeout: never}
feature_views:
  - name: per_k
    source: ev
    entity: k
    features:
      - {name: cnt_1h, agg: count(), window: 1h}
      - {name: avg_x_1d, agg: avg(x), window: 1d}
      - {name: max_n_1h, agg: max(n), window: 1h}
pipelines:
  - name: tumble
    from: ev
    steps:
      - window:
          tumbling: 10s
          key: k
          aggregates:
            c: count()
            sn: sum(n)
            ax: avg(x)
            ms: max(s)
            dx: count_distinct(s)
            mn: min(x)
            amp: "sum(length(concat(s, s, s, s, s, s, s, s)) + length(concat(s, s, s, s, s, s, s, s)) + length(concat(s, s, s, s, s, s, s, s)) + length(concat(s, s, s, s, s, s, s, s)) + length(concat(s, s, s, s, s, s, s, s)))"
    sink: {stream: tumble_out}
  - name: hop
    from: ev
    steps:
      - window: {hopping: {size: 1m, slide: 10s}, key: k, aggregates: {c: count(), sx: sum(x)}}
    sink: {stream: hop_out}
  - name: sess
    from: ev
    steps:
      - window: {session: {gap: 30s}, key: k, aggregates: {c: count(), sn: sum(n)}}
    sink: {stream: sess_out}
  - name: slide
    from: ev
    steps:
      - window: {sliding: 1h, key: k, aggregates: {c: count(), ax: avg(x)}}
    sink: {stream: slide_out}
  - name: dd
    from: ev
    steps:
      - dedup: {key: [k, s], within: 1m}
    sink: {stream: dd_out}
  - name: jn
    from: ev
    steps:
      - join: {stream: ref, on: {left: k, right: k}, between: [-1m, 1m]}
    sink: {stream: jn_out}
  - name: feat
    from: ev
    steps:
      - features: per_k
    sink: {stream: feat_out}
  - name: trig
    from: ev
    steps:
      - trigger:
          name: big
          when: "x > 0.5 or length(s) > 10"
          publish:
            - stream: trig_pub
              fields: {k: k, twice: "concat(s, s)", cents: "cast(x * 100 as int64)"}
    sink: {stream: trig_out}
  - name: mapper
    from: ev
    steps:
      - map:
          s2: "concat(s, s, s, s)"
          low: "lower(s)"
          sub: "substr(s, 2, 5)"
          xi: "cast(x as int64)"
          n2: "n * 2"
          nd: "n / 0"
          p: "pow(x, 2)"
          len: "length(s)"
          tstr: "cast(ts as string)"
          yr: "year(ts)"
          ns: "cast(s as int64)"
          amp: "length(concat(s, s, s, s, s, s, s, s)) + length(concat(s, s, s, s, s, s, s, s)) + length(concat(s, s, s, s, s, s, s, s)) + length(concat(s, s, s, s, s, s, s, s)) + length(concat(s, s, s, s, s, s, s, s))"
      - filter: "len is null or len >= 0"
    sink: {stream: mapper_out}
)yaml";

// Adversarial values per field, as JSON text.
const std::vector<std::string>& Keys() {
  static const std::vector<std::string> v = {R"("a")",
                                             R"("")",
                                             R"("\u0000")",
                                             R"("😀")",
                                             R"("\ud800")",
                                             "\"\xff\xfe\"",
                                             R"("q\"uote")",
                                             "\"" + std::string(100'000, 'K') + "\"",
                                             R"("\u2028\u2029")",
                                             "null",
                                             "1",
                                             "[]"};
  return v;
}
const std::vector<std::string>& Ints() {
  static const std::vector<std::string> v = {"0",
                                             "-1",
                                             "9223372036854775807",
                                             "-9223372036854775808",
                                             "9223372036854775808",
                                             "1e3",
                                             "\"12\"",
                                             "null",
                                             "true",
                                             "1.5",
                                             "-0"};
  return v;
}
const std::vector<std::string>& Doubles() {
  static const std::vector<std::string> v = {"0",
                                             "-0.0",
                                             "1e308",
                                             "-1e308",
                                             "1e-320",
                                             "5e-324",
                                             "1e309",
                                             "\"NaN\"",
                                             "NaN",
                                             "null",
                                             "Infinity",
                                             "0.75",
                                             "123456789012345678901234567890"};
  return v;
}
const std::vector<std::string>& Bools() {
  static const std::vector<std::string> v = {"true", "false", "null", "1", "\"true\""};
  return v;
}
const std::vector<std::string>& Times() {
  static const std::vector<std::string> v = {R"("2024-01-01T00:00:01Z")",
                                             R"("0000-01-01T00:00:00Z")",
                                             R"("9999-12-31T23:59:59.999Z")",
                                             R"("1970-01-01T00:00:00Z")",
                                             R"("2024-02-29T12:00:00Z")",
                                             R"("9999-12-31T23:59:59-23:59")",
                                             R"("0000-01-01T00:00:00+23:59")",
                                             "-62167219200000",
                                             "253402300799999",
                                             R"("2024-13-01T00:00:00Z")",
                                             "9000000000000000000",
                                             "-9223372036854775808",
                                             "null",
                                             R"("2024-01-01T00:00:01.123456789Z")",
                                             R"("2080-01-01T00:00:00Z")",
                                             R"("1900-01-01T00:00:00+14:00")"};
  return v;
}
std::vector<std::string> Strings() {
  return {R"("")",
          R"("\n\t\u0001\\")",
          "\"" + std::string((1u << 20) - 200, 'S') + "\"",  // just under the 1 MiB line bound
          "\"" + std::string(1u << 20, 'T') + "\"",          // over it: refused
          R"("\ud83d\ude00\ud83d")",
          "\"\xc3\x28\"",
          R"("12")",
          "null",
          std::string(10'000, '[') + std::string(10'000, ']'),
          R"({"a":1})",
          "\"" + std::string(5000, '\\') + std::string(5000, '\\') + "\""};
}

std::string Line(const std::string& k, const std::string& n, const std::string& x, const std::string& f,
                 const std::string& ts, const std::string& s) {
  return "{\"k\":" + k + ",\"n\":" + n + ",\"x\":" + x + ",\"f\":" + f + ",\"ts\":" + ts + ",\"s\":" + s + "}";
}

// One corpus: every adversarial value of each field with the others ordinary, a random mix, and
// malformed whole lines.
std::vector<std::string> Corpus(uint32_t seed) {
  const std::string k = R"("a")", n = "1", x = "0.5", f = "true", ts = R"("2024-01-01T00:00:05Z")", s = R"("hello")";
  std::vector<std::string> lines;
  for (const auto& v : Keys()) lines.push_back(Line(v, n, x, f, ts, s));
  for (const auto& v : Ints()) lines.push_back(Line(k, v, x, f, ts, s));
  for (const auto& v : Doubles()) lines.push_back(Line(k, n, v, f, ts, s));
  for (const auto& v : Bools()) lines.push_back(Line(k, n, x, v, ts, s));
  for (const auto& v : Times()) lines.push_back(Line(k, n, x, f, v, s));
  const std::vector<std::string> strings = Strings();
  for (const auto& v : strings) lines.push_back(Line(k, n, x, f, ts, v));
  std::mt19937 rng(seed);
  auto pick = [&](const std::vector<std::string>& v) -> const std::string& { return v[rng() % v.size()]; };
  for (int i = 0; i < 300; ++i) {
    lines.push_back(Line(pick(Keys()), pick(Ints()), pick(Doubles()), pick(Bools()), pick(Times()), pick(strings)));
  }
  for (const std::string& bad :
       {std::string(""), std::string("null"), std::string("[]"), std::string("{}"), std::string("{\"k\":\"a\""),
        std::string(100'000, '{'), std::string(200'000, '[') + std::string(200'000, ']'),
        std::string(R"({"k":"a","k":"b","n":1,"x":1,"f":true,"ts":"2024-01-01T00:00:00Z","s":"d"})"),
        std::string(R"({"k":"a","extra":{"deep":[1,2,{"x":null}]},"ts":"2024-01-01T00:00:00Z"})"),
        std::string("\xef\xbb\xbf{\"k\":\"bom\",\"ts\":\"2024-01-01T00:00:00Z\"}"), std::string("\x00\x01", 2)}) {
    lines.push_back(bad);
  }
  return lines;
}

using Outcome = testing_util::IngestOutcome;

Outcome IngestSync(Engine& e, std::string_view stream, std::string_view body) {
  return testing_util::IngestAndWait(e, stream, body);
}

// The largest value of a metric family in the exposition text (0 when absent).
double MaxMetric(const std::string& text, const std::string& family) {
  double best = 0;
  size_t at = 0;
  while ((at = text.find(family, at)) != std::string::npos) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    const size_t eol = text.find('\n', at);
    if (line_start) {
      const size_t sp = text.rfind(' ', eol);
      best = std::max(best, std::strtod(text.c_str() + sp + 1, nullptr));
    }
    at = eol == std::string::npos ? text.size() : eol;
  }
  return best;
}

TEST(PoisonEventsTest, EveryOperatorKindSurvivesTheCorpusAndARestart) {
  const int rounds = std::getenv("IMPULSE_POISON_ROUNDS") ? std::atoi(std::getenv("IMPULSE_POISON_ROUNDS")) : 1;
  for (int round = 0; round < std::max(rounds, 1); ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const auto dir = std::filesystem::temp_directory_path() /
                     ("impulse-poison-" + std::to_string(::getpid()) + "-" + std::to_string(round));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    EngineOptions o;
    o.data_dir = (dir / "data").string();
    o.shards = 2;
    o.durability = Durability::kNone;
    const std::vector<std::string> lines = Corpus(static_cast<uint32_t>(round));
    {
      auto e = Engine::OpenSpec(kSpec, o);
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      uint64_t accepted = 0;
      uint64_t refused = 0;
      // A few lines per request, so one refused request cannot hide the others.
      for (size_t i = 0; i < lines.size(); i += 7) {
        std::string body;
        for (size_t j = i; j < std::min(lines.size(), i + 7); ++j) body += lines[j] + "\n";
        Outcome out = IngestSync(**e, "ev", body);
        ASSERT_TRUE(out.status.ok()) << out.status.ToString();
        accepted += out.result.accepted;
        refused += out.result.rejected;
        Outcome r = IngestSync(**e, "ref",
                               R"({"k":"a","v":1,"ts":"2024-01-01T00:00:05Z"})"
                               "\n");
        ASSERT_TRUE(r.status.ok()) << r.status.ToString();
      }
      // Every line is accepted or refused with a reason; only the empty line carries no event.
      EXPECT_EQ(accepted + refused, lines.size() - 1);
      EXPECT_GE(accepted, 40u);  // the in-range values of each field do get in
      // Ordinary events after the poison still flow through a stateless pipeline.
      Outcome sentinel = IngestSync(
          **e, "ev", Line(R"("sentinel")", "7", "0.25", "false", R"("2024-01-01T00:00:09Z")", R"("end")") + "\n");
      ASSERT_TRUE(sentinel.status.ok());
      ASSERT_EQ(sentinel.result.accepted, 1u);
      ASSERT_TRUE((*e)->WaitForPipelines(120'000).ok());  // no stall, no stopped task
      const std::string metrics = (*e)->MetricsText();
      EXPECT_EQ(MaxMetric(metrics, "impulse_pipeline_tasks_failed"), 0) << "a task stopped";
      EXPECT_LT(MaxMetric(metrics, "impulse_operator_state_bytes"), 64.0 * (1 << 20));
      std::string mapped;
      for (uint32_t p = 0; p < 2; ++p) {
        std::string part;
        ASSERT_TRUE((*e)->ReadEvents("mapper_out", p, 0, 100'000, &part).ok());
        mapped += part;
      }
      EXPECT_NE(mapped.find("\"k\":\"sentinel\""), std::string::npos);
      std::string late;
      ASSERT_TRUE((*e)->ReadEvents("_late_events", 0, 0, 100'000, &late).ok());
      // The near-1 MiB string made 40 MiB by the map's `amp`: refused at that step, not computed.
      EXPECT_NE(late.find(R"("pipeline":"mapper","operator":"map#1","reason":"too_large")"), std::string::npos);
      const std::set<std::string> reasons = {"late", "state_limit", "out_of_range", "too_large"};
      size_t at = 0;
      while ((at = late.find("\"reason\":\"", at)) != std::string::npos) {
        at += 10;
        const std::string r = late.substr(at, late.find('"', at) - at);
        EXPECT_TRUE(reasons.count(r)) << r;
      }
      ASSERT_TRUE((*e)->CheckpointNow().ok());
      ASSERT_TRUE((*e)->Stop().ok());
    }
    {
      auto e = Engine::OpenSpec(kSpec, o);  // restores and replays: into no failure
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      ASSERT_TRUE((*e)->WaitForPipelines(120'000).ok());
      EXPECT_EQ(MaxMetric((*e)->MetricsText(), "impulse_pipeline_tasks_failed"), 0);
      ASSERT_TRUE((*e)->Stop().ok());
    }
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace impulse
