// A progress bar for the long commands (backfill, generate): on a terminal, one line redrawn in
// place with the fraction done, the rate and the time left; in scripts, nothing. Writes to the
// FILE given (stderr), so stdout stays the command's output. One thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace impulse {

class ProgressBar {
 public:
  enum class Mode {
    kOff,    // scripts: not a terminal, or --quiet
    kBar,    // a terminal: one line redrawn with \r about 5 times a second, ended by Finish
    kLines,  // asked for off a terminal (backfill --progress): a line about once a second
  };
  // kBar if `fd` is a terminal and not `quiet`; else kLines if `forced`; else kOff.
  static Mode ModeFor(int fd, bool quiet, bool forced = false);

  // `unit` "B" shows amounts as bytes (KB, MB, GB: powers of 1000), anything else as counts
  // with that unit ("rows", "days"). `total` 0 = unknown: no bar, no ETA. `now` returns
  // seconds (monotonic); tests pass a fake clock.
  ProgressBar(std::FILE* out, std::string label, std::string unit, uint64_t total, Mode mode,
              std::function<double()> now = {});
  ~ProgressBar();  // Finish()

  // Records `done` (of total) and redraws if the interval since the last draw has passed.
  void Update(uint64_t done);
  void set_total(uint64_t total) { total_ = total; }
  // The final state (bar mode: drawn once more, then a newline). Idempotent.
  void Finish();

  // "label [#####-----]  50%  5.0 MB/10.0 MB  1.0 MB/s  ETA 0:05" (total known), or
  // "label  1.2 K rows  600 rows/s  0:02" (total unknown). `elapsed_s` since the start.
  static std::string Format(std::string_view label, std::string_view unit, uint64_t done, uint64_t total,
                            double elapsed_s, size_t bar_width = 24);

 private:
  void Draw(bool final);

  std::FILE* out_;
  std::string label_, unit_;
  uint64_t total_ = 0, done_ = 0;
  Mode mode_;
  std::function<double()> now_;
  double start_ = 0, last_draw_ = -1e300;
  bool finished_ = false;
  size_t last_width_ = 0;  // of the line drawn, to blank a longer previous one
};

}  // namespace impulse
