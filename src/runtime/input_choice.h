// Which input of a multi-input task (a join, or a lookup reading every partition of a view's
// stream) to read next. Pure, so that the policy is tested apart from the shard.
#pragma once

#include <cstdint>

namespace impulse::runtime {

// Batches in a row from one input while another has records, at most (then round robin).
inline constexpr int kAlignedRunMax = 16;

struct InputChoice {
  int next = 0;   // where the round robin resumes (ties, and after a run reached its limit)
  int last = -1;  // the input read last
  int run = 0;    // batches in a row `last` was chosen while another input had records
};

// Of the inputs with records to process, the one furthest behind in event time (smallest
// watermark; ties broken round robin from `next`), unless it was chosen kAlignedRunMax times in
// a row while another had records: then the first in round-robin order. -1 when none has
// records. `has_records(i)` and `watermark(i)` describe input i of n.
//
// Why: with a backlog on both sides, alternating by batch lets the side whose batches span more
// event time run ahead, and every row it reads waits in the join's state for the other side (a
// backfill's rank step held most of its input at once). The run limit keeps an input whose
// watermark does not move (no event time yet, a silent writer) from starving the others.
template <typename HasRecords, typename Watermark>
int ChooseInput(int n, InputChoice* c, HasRecords has_records, Watermark watermark) {
  int side = -1;
  int64_t side_wm = INT64_MAX;
  int with_records = 0;
  for (int k = 0; k < n; ++k) {
    const int s = (c->next + k) % n;
    if (!has_records(s)) continue;
    ++with_records;
    const int64_t wm = watermark(s);
    if (side < 0 || (wm < side_wm && c->run < kAlignedRunMax)) {
      side = s;
      side_wm = wm;
    }
  }
  if (side < 0) return -1;
  c->run = side == c->last && with_records > 1 ? c->run + 1 : 0;
  c->last = side;
  c->next = (side + 1) % n;
  return side;
}

}  // namespace impulse::runtime
