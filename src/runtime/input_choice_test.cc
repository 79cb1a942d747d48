#include "runtime/input_choice.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace impulse::runtime {
namespace {

struct Inputs {
  std::vector<bool> records;
  std::vector<int64_t> wm;
  int Choose(InputChoice* c) const {
    return ChooseInput(
        static_cast<int>(wm.size()), c, [&](int s) { return records[s]; }, [&](int s) { return wm[s]; });
  }
};

TEST(InputChoice, ReadsTheInputFurthestBehindInEventTime) {
  Inputs in{{true, true, true}, {500, 100, 300}};
  InputChoice c;
  EXPECT_EQ(in.Choose(&c), 1);
  in.wm[1] = 400;
  EXPECT_EQ(in.Choose(&c), 2);
  in.wm[2] = 600;
  EXPECT_EQ(in.Choose(&c), 1);
}

TEST(InputChoice, SkipsInputsWithoutRecordsAndSaysWhenNoneHas) {
  Inputs in{{false, true}, {0, 100}};
  InputChoice c;
  EXPECT_EQ(in.Choose(&c), 1);  // behind, but nothing to read
  in.records = {false, false};
  EXPECT_EQ(in.Choose(&c), -1);
}

TEST(InputChoice, TiesAlternate) {
  Inputs in{{true, true, true}, {7, 7, 7}};
  InputChoice c;
  std::vector<int> order;
  for (int i = 0; i < 6; ++i) order.push_back(in.Choose(&c));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 0, 1, 2}));
}

// An input whose watermark never moves is read kAlignedRunMax times in a row, then another gets
// one batch: it cannot starve the rest.
TEST(InputChoice, AStuckInputCannotStarveTheOthers) {
  Inputs in{{true, true}, {INT64_MIN, 1000}};
  InputChoice c;
  int other = 0, stuck_in_a_row = 0, longest = 0;
  for (int i = 0; i < 10 * (kAlignedRunMax + 2); ++i) {
    if (in.Choose(&c) == 1) {
      ++other;
      stuck_in_a_row = 0;
    } else {
      longest = std::max(longest, ++stuck_in_a_row);
    }
  }
  EXPECT_EQ(other, 10);
  EXPECT_EQ(longest, kAlignedRunMax + 1);  // the first pick, then kAlignedRunMax more
}

// Alone, an input is read every time: the run limit applies only while another waits.
TEST(InputChoice, ALoneInputIsAlwaysRead) {
  Inputs in{{true, false}, {INT64_MIN, 0}};
  InputChoice c;
  for (int i = 0; i < 3 * kAlignedRunMax; ++i) ASSERT_EQ(in.Choose(&c), 0);
  in.records[1] = true;
  EXPECT_EQ(in.Choose(&c), 0);  // the run starts now
}

}  // namespace
}  // namespace impulse::runtime
