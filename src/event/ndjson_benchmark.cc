// Throughput of the ingest codecs on the quickstart schema: NDJSON parse + validate (MB/s and
// events/s), EncodeRow, DecodeRow and AppendRowJson.
#include <benchmark/benchmark.h>

#include <string>

#include "event/json_writer.h"
#include "event/ndjson.h"
#include "event/row_codec.h"

namespace impulse {
namespace {

StreamDef QuickstartDef() {
  StreamDef def;
  def.name = "clicks";
  def.schema = Schema({{"user_id", FieldType::kString, false},
                       {"url", FieldType::kString, false},
                       {"amount", FieldType::kDouble, false},
                       {"ts", FieldType::kTimestamp, false}});
  def.key_field = 0;
  def.time_field = 3;
  return def;
}

std::string QuickstartBody(int lines) {
  std::string body;
  for (int i = 0; i < lines; ++i) {
    body += R"({"user_id":"user-)" + std::to_string(i % 997) + R"(","url":"https://shop.example.com/p/)" +
            std::to_string(i * 7919 % 100000) + R"(","amount":)" + std::to_string(i % 500) + "." +
            std::to_string(i % 100) + R"(,"ts":"2024-03-01T12:)" + std::to_string(10 + i % 50) + ":" +
            std::to_string(10 + i % 49) + R"(.)" + std::to_string(100 + i % 900) + "Z\"}\n";
  }
  return body;
}

void BM_NdjsonParse(benchmark::State& state) {
  const StreamDef def = QuickstartDef();
  const std::string body = QuickstartBody(1000);
  NdjsonParser parser(def, {});
  RowBatch rows(def.schema.size());
  std::vector<BadLine> bad;
  for (auto _ : state) {
    rows.Clear();
    bad.clear();
    Status st = parser.Parse(body, 0, &rows, &bad);
    if (!st.ok() || rows.size() != 1000) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(rows.row(0));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 1000));
}
BENCHMARK(BM_NdjsonParse);

// Parses the body once and returns the rows for the codec benchmarks.
RowBatch ParsedRows(const StreamDef& def) {
  NdjsonParser parser(def, {});
  RowBatch rows(def.schema.size());
  std::vector<BadLine> bad;
  (void)parser.Parse(QuickstartBody(1000), 0, &rows, &bad);
  return rows;
}

void BM_EncodeRow(benchmark::State& state) {
  const StreamDef def = QuickstartDef();
  RowBatch rows = ParsedRows(def);
  std::string out;
  size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    for (size_t i = 0; i < rows.size(); ++i) EncodeRow(def.schema, rows.row(i), rows.meta(i), &out);
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows.size()));
}
BENCHMARK(BM_EncodeRow);

void BM_DecodeRow(benchmark::State& state) {
  const StreamDef def = QuickstartDef();
  RowBatch rows = ParsedRows(def);
  std::vector<std::string> payloads(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) EncodeRow(def.schema, rows.row(i), rows.meta(i), &payloads[i]);
  RowBatch out(def.schema.size());
  for (auto _ : state) {
    out.Clear();
    for (const std::string& p : payloads) {
      if (!DecodeRow(def.schema, p, &out).ok()) state.SkipWithError("decode failed");
    }
    benchmark::DoNotOptimize(out.row(0));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * payloads.size()));
}
BENCHMARK(BM_DecodeRow);

void BM_AppendRowJson(benchmark::State& state) {
  const StreamDef def = QuickstartDef();
  RowBatch rows = ParsedRows(def);
  std::string out;
  size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    for (size_t i = 0; i < rows.size(); ++i) {
      const JsonRowPrefix prefix{.offset = i, .partition = 1, .event_time_ms = rows.meta(i).event_time_ms};
      AppendRowJson(def.schema, rows.row(i), &out, &prefix);
      out.push_back('\n');
    }
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows.size()));
}
BENCHMARK(BM_AppendRowJson);

}  // namespace
}  // namespace impulse

BENCHMARK_MAIN();
