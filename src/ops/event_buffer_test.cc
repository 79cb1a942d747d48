// EventTimeBuffer: rows come out in (event time, arrival) order whatever mix of in-order (FIFO)
// and out-of-order (map) arrivals, also across a Serialize/Deserialize in the middle.
#include "ops/event_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace impulse::plan {
namespace {

const Schema& TestSchema() {
  static const Schema s({{"id", FieldType::kInt64, false}, {"name", FieldType::kString, true}});
  return s;
}

TEST(EventTimeBuffer, ReleasesInTimeThenArrivalOrderAcrossARestore) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    EventTimeBuffer buf(TestSchema());
    std::vector<std::pair<int64_t, int64_t>> added;  // (ts, id) in arrival order
    int64_t t = 0;
    for (int64_t id = 0; id < 300; ++id) {
      t += static_cast<int64_t>(rng() % 4);
      const int64_t ts = rng() % 5 == 0 ? t - static_cast<int64_t>(rng() % 20) : t;  // some out of order
      const std::string name = "n" + std::to_string(id);
      Value row[2] = {Value::Int(id), Value::String(name)};
      RowMeta m;
      m.event_time_ms = ts;
      m.offset = static_cast<uint64_t>(id);
      buf.Add(row, m);
      added.push_back({ts, id});
    }
    ASSERT_EQ(buf.size(), added.size());
    std::stable_sort(added.begin(), added.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    RowBatch out(2);
    std::vector<std::pair<int64_t, int64_t>> got;
    while (!buf.empty()) {
      if (got.size() == 100) {  // replace the content by its checkpoint form midway
        std::string blob;
        buf.Serialize(&blob);
        const size_t n = buf.size();
        std::string_view in(blob);
        ASSERT_TRUE(buf.Deserialize(&in).ok());
        ASSERT_TRUE(in.empty());
        ASSERT_EQ(buf.size(), n);
      }
      const int64_t next = buf.NextTime();
      out.Reset(2);
      buf.PopInto(&out);
      ASSERT_EQ(out.meta(0).event_time_ms, next);
      ASSERT_EQ(out.row(0)[1].sv(), "n" + std::to_string(out.row(0)[0].i64));
      ASSERT_EQ(out.meta(0).offset, static_cast<uint64_t>(out.row(0)[0].i64));
      got.push_back({out.meta(0).event_time_ms, out.row(0)[0].i64});
    }
    EXPECT_EQ(got, added) << "seed " << seed;
    EXPECT_EQ(buf.bytes(), 0u);
  }
}

}  // namespace
}  // namespace impulse::plan
