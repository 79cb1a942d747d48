#include "common/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace impulse {
namespace {

TEST(ProgressBar, FormatsFractionRateAndEta) {
  // 5 MB of 10 MB in 5 s: 1 MB/s, 5 s left.
  EXPECT_EQ(ProgressBar::Format("backfill", "B", 5'000'000, 10'000'000, 5.0, 10),
            "backfill [#####-----]  50%  5.0 MB/10.0 MB  1.0 MB/s  ETA 0:05");
  EXPECT_EQ(ProgressBar::Format("generate", "days", 0, 183, 0.0, 4),
            "generate [----]   0%  0 days/183 days  0 days/s  ETA -:--");
  EXPECT_EQ(ProgressBar::Format("x", "rows", 3'600, 7'200, 3'600.0, 2),
            "x [#-]  50%  3.6 K rows/7.2 K rows  1 rows/s  ETA 1:00:00");
  EXPECT_EQ(ProgressBar::Format("x", "B", 20, 10, 1.0, 2), "x [##] 100%  20 B/10 B  20 B/s  ETA 0:00");  // over: capped
}

TEST(ProgressBar, FormatsWithoutATotal) {
  EXPECT_EQ(ProgressBar::Format("tail", "rows", 1'200, 0, 2.0), "tail  1.2 K rows  600 rows/s  0:02");
}

struct Captured {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* f = open_memstream(&buf, &size);
  ~Captured() { std::free(buf); }
  std::string text() {
    std::fflush(f);
    return std::string(buf, size);
  }
};

TEST(ProgressBar, BarRedrawsInPlaceAtMostFiveTimesASecond) {
  Captured out;
  double now = 100;
  {
    ProgressBar bar(out.f, "b", "rows", 100, ProgressBar::Mode::kBar, [&] { return now; });
    bar.Update(10);  // first draw at once
    now += 0.1;
    bar.Update(20);  // too soon: not drawn
    now += 0.15;
    bar.Update(40);
    bar.Finish();
    bar.Finish();  // once
  }
  const std::string text = out.text();
  EXPECT_EQ(text,
            "\rb [##----------------------]  10%  10 rows/100 rows  0 rows/s  ETA -:--"
            "\rb [#########---------------]  40%  40 rows/100 rows  160 rows/s  ETA 0:00"
            "\rb [#########---------------]  40%  40 rows/100 rows  160 rows/s  ETA 0:00\n");
  std::fclose(out.f);
}

TEST(ProgressBar, OffWritesNothingAndLinesModeWritesLines) {
  Captured off;
  double now = 0;
  {
    ProgressBar bar(off.f, "b", "rows", 10, ProgressBar::Mode::kOff, [&] { return now; });
    for (int i = 0; i < 10; ++i) {
      now += 1;
      bar.Update(static_cast<uint64_t>(i));
    }
  }
  EXPECT_EQ(off.text(), "");
  std::fclose(off.f);
  Captured lines;
  {
    ProgressBar bar(lines.f, "b", "rows", 0, ProgressBar::Mode::kLines, [&] { return now; });
    now += 2;
    bar.Update(4);
    now += 0.5;
    bar.Update(5);  // under a second since the last line
  }
  EXPECT_EQ(lines.text(), "b  4 rows  2 rows/s  0:02\nb  5 rows  2 rows/s  0:03\n");
  std::fclose(lines.f);
  EXPECT_EQ(ProgressBar::ModeFor(-1, /*quiet=*/false), ProgressBar::Mode::kOff);  // not a terminal
  EXPECT_EQ(ProgressBar::ModeFor(-1, false, /*forced=*/true), ProgressBar::Mode::kLines);
  EXPECT_EQ(ProgressBar::ModeFor(-1, /*quiet=*/true, true), ProgressBar::Mode::kOff);
}

}  // namespace
}  // namespace impulse
