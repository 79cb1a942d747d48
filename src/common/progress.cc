#include "common/progress.h"

#include <unistd.h>

#include <chrono>
#include <cmath>

namespace impulse {

namespace {

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// 999, 1.2 K, 3.4 M, 5.6 G (counts) or 999 B, 1.2 KB, 3.4 MB, 5.6 GB (bytes).
std::string Amount(double v, std::string_view unit) {
  const bool bytes = unit == "B";
  static constexpr const char* kPrefix[] = {"", "K", "M", "G", "T"};
  size_t p = 0;
  while (v >= 999.95 && p + 1 < std::size(kPrefix)) {
    v /= 1000;
    ++p;
  }
  char buf[48];
  if (p == 0) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, kPrefix[p]);
  }
  std::string s = buf;
  if (bytes) return s + (p == 0 ? " B" : "B");
  return s + (unit.empty() ? "" : " " + std::string(unit));
}

// "0:05", "12:34", "1:02:03".
std::string Duration(double seconds) {
  const auto s = static_cast<long long>(std::llround(std::max(0.0, seconds)));
  char buf[40];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

ProgressBar::Mode ProgressBar::ModeFor(int fd, bool quiet, bool forced) {
  if (quiet) return Mode::kOff;
  if (::isatty(fd) == 1) return Mode::kBar;
  return forced ? Mode::kLines : Mode::kOff;
}

ProgressBar::ProgressBar(std::FILE* out, std::string label, std::string unit, uint64_t total, Mode mode,
                         std::function<double()> now)
    : out_(out),
      label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      mode_(mode),
      now_(now ? std::move(now) : std::function<double()>(MonotonicSeconds)) {
  start_ = now_();
}

ProgressBar::~ProgressBar() { Finish(); }

std::string ProgressBar::Format(std::string_view label, std::string_view unit, uint64_t done, uint64_t total,
                                double elapsed_s, size_t bar_width) {
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0;
  std::string s(label);
  if (total > 0) {
    const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const auto filled = static_cast<size_t>(frac * static_cast<double>(bar_width));
    s += " [" + std::string(filled, '#') + std::string(bar_width - filled, '-') + "]";
    char pct[16];
    std::snprintf(pct, sizeof(pct), " %3.0f%%", 100 * frac);
    s += pct;
    s += "  " + Amount(static_cast<double>(done), unit) + "/" + Amount(static_cast<double>(total), unit);
    s += "  " + Amount(rate, unit) + "/s";
    // The time left at the rate so far; unknown until something is done.
    s += "  ETA " + (done > 0 && rate > 0 ? Duration(static_cast<double>(total - std::min(done, total)) / rate)
                                          : std::string("-:--"));
  } else {
    s += "  " + Amount(static_cast<double>(done), unit) + "  " + Amount(rate, unit) + "/s  " + Duration(elapsed_s);
  }
  return s;
}

void ProgressBar::Update(uint64_t done) {
  done_ = done;
  if (mode_ == Mode::kOff || finished_) return;
  const double interval = mode_ == Mode::kBar ? 0.2 : 1.0;
  if (now_() - last_draw_ >= interval) Draw(false);
}

void ProgressBar::Finish() {
  if (finished_) return;
  finished_ = true;
  if (mode_ == Mode::kOff) return;
  Draw(true);
}

void ProgressBar::Draw(bool final) {
  const double now = now_();
  last_draw_ = now;
  const std::string line = Format(label_, unit_, done_, total_, now - start_);
  if (mode_ == Mode::kLines) {
    std::fprintf(out_, "%s\n", line.c_str());
  } else {
    // \r and spaces over what is left of a longer previous line.
    const size_t pad = last_width_ > line.size() ? last_width_ - line.size() : 0;
    std::fprintf(out_, "\r%s%s%s", line.c_str(), std::string(pad, ' ').c_str(), final ? "\n" : "");
    last_width_ = line.size();
  }
  std::fflush(out_);
}

}  // namespace impulse
