// Embedding Impulse (docs/EMBEDDING.md): open an engine from a spec string, ingest typed rows,
// receive the pipeline's output through a subscription, read it back, and check both against
// what the spec should produce. Exits 0 only if everything matches.
#include <impulse/engine.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace {

constexpr char kSpec[] = R"yaml(
streams:
  - name: payments
    fields:
      - {name: id, type: int64}
      - {name: user, type: string}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: user
    event_time: ts
    partitions: 2
pipelines:
  - name: large
    from: payments
    steps:
      - filter: amount >= 100
      - map:
          fee_cents: cast(amount as int64)  # a 1% fee, in cents
    sink: {stream: large_payments}
)yaml";

using IdFee = std::pair<int64_t, int64_t>;  // (id, fee_cents)

int Fail(const char* what, const impulse::Status& st) {
  std::fprintf(stderr, "embed: %s: %s\n", what, st.ToString().c_str());
  return 1;
}

}  // namespace

static int Run() {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("impulse-embed-" + std::to_string(getpid()));
  impulse::EngineOptions options;
  options.data_dir = dir.string();
  options.shards = 2;
  options.durability = impulse::Durability::kNone;
  auto engine = impulse::Engine::OpenSpec(kSpec, options);
  if (!engine.ok()) return Fail("open", engine.status());
  impulse::Engine& e = **engine;

  int fee_field = -1;
  for (const impulse::StreamInfo& s : e.ListStreams()) {
    if (s.name == "large_payments") fee_field = s.def.schema.FieldIndex("fee_cents");
  }
  if (fee_field < 0) return Fail("schema", impulse::NotFound("large_payments.fee_cents"));

  // Every output row, as the subscription's thread delivers it.
  std::mutex mu;
  std::set<IdFee> received;
  impulse::SubscribeOptions from_start;
  from_start.start = impulse::SubscribeOptions::Start::kBeginning;
  auto sub = e.Subscribe("large_payments", from_start, [&](const impulse::RowBatch& rows, uint32_t, uint64_t) {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < rows.size(); ++i) {
      received.insert({rows.row(i)[0].i64, rows.row(i)[fee_field].i64});
    }
  });
  if (!sub.ok()) return Fail("subscribe", sub.status());

  // Ten typed rows; ids 3, 5, 7 and 9 are large.
  impulse::RowBatch rows(4);
  std::set<IdFee> expected;
  const char* users[] = {"ann", "bob", "eve"};
  for (int64_t id = 0; id < 10; ++id) {
    const double amount = id % 2 == 1 && id > 1 ? 100.0 * static_cast<double>(id) : 10.0 + id;
    impulse::Value* v = rows.AppendRow();
    v[0] = impulse::Value::Int(id);
    v[1] = impulse::Value::String(users[id % 3]);
    v[2] = impulse::Value::Double(amount);
    v[3] = impulse::Value::Int(1'700'000'000'000 + id * 1000);
    if (amount >= 100) expected.insert({id, static_cast<int64_t>(amount)});
  }
  std::promise<impulse::Status> acked;
  impulse::Status st =
      e.IngestRows("payments", rows, /*producer=*/0,
                   [&](const impulse::Status& s, const impulse::IngestResult&) { acked.set_value(s); });
  if (!st.ok()) return Fail("ingest", st);
  if (st = acked.get_future().get(); !st.ok()) return Fail("ingest ack", st);
  if (st = e.WaitForPipelines(30'000); !st.ok()) return Fail("pipelines", st);
  if (st = (*sub)->WaitCaughtUp(30'000); !st.ok()) return Fail("subscription", st);
  (*sub)->Cancel();

  // The same rows read back, partition by partition.
  std::set<IdFee> read;
  for (uint32_t p = 0; p < 2; ++p) {
    auto batch = e.ReadRows("large_payments", p, 0, impulse::Engine::kReadRowsMax);
    if (!batch.ok()) return Fail("read", batch.status());
    for (size_t i = 0; i < batch->rows.size(); ++i) {
      const impulse::Value* r = batch->rows.row(i);
      std::printf("partition %u offset %llu: id=%lld user=%.*s amount=%.2f fee_cents=%lld\n", p,
                  static_cast<unsigned long long>(batch->rows.meta(i).offset), static_cast<long long>(r[0].i64),
                  static_cast<int>(r[1].len), r[1].str, r[2].f64, static_cast<long long>(r[fee_field].i64));
      read.insert({r[0].i64, r[fee_field].i64});
    }
  }
  if (st = e.Stop(); !st.ok()) return Fail("stop", st);
  std::filesystem::remove_all(dir);

  std::lock_guard<std::mutex> lock(mu);
  const bool ok = received == expected && read == expected;
  std::printf("expected %zu rows; subscription received %zu, read back %zu: %s\n", expected.size(), received.size(),
              read.size(), ok ? "OK" : "MISMATCH");
  return ok ? 0 : 1;
}

int main() {
  try {
    return Run();
  } catch (const std::exception& e) {  // std::filesystem and allocation may throw
    std::fprintf(stderr, "embed: %s\n", e.what());
    return 1;
  }
}
