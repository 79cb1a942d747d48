#include "datagen/clicks.h"

#include <cstdio>

namespace impulse::datagen {

namespace {
uint64_t Mix(uint64_t x) {  // splitmix64: a cheap, well-distributed hash of the sequence number
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

void ClickGenerator::Line(uint64_t seq, std::string* out, bool* valid, bool* big) const {
  const uint64_t h = Mix(seq);
  const bool bad = static_cast<double>(h % 1'000'000) < bad_fraction * 1'000'000.0;
  const uint32_t user = static_cast<uint32_t>((h >> 20) % users);
  const int64_t cents = static_cast<int64_t>((h >> 40) % 20'000);  // 0.00 .. 199.99
  const int64_t ts_ms = start_ms + static_cast<int64_t>(seq);
  const int64_t secs = ts_ms / 1000;
  // 2023-11-14T22:13:20Z is start_ms; format the time of day from the offset for speed.
  const int64_t day_secs = (secs - 1'699'920'000) % 86'400 + 80'000;  // stays within the day
  char buf[256];
  int n;
  if (bad) {
    n = std::snprintf(
        buf, sizeof(buf),
        R"({"user_id":"u%u","url":"/p/%u","amount":"%lld.%02lld","ts":"2023-11-14T%02lld:%02lld:%02lld.%03lldZ"})",
        user, static_cast<unsigned>(h % 97), static_cast<long long>(cents / 100), static_cast<long long>(cents % 100),
        static_cast<long long>((day_secs / 3600) % 24), static_cast<long long>((day_secs / 60) % 60),
        static_cast<long long>(day_secs % 60), static_cast<long long>(ts_ms % 1000));
  } else {
    n = std::snprintf(
        buf, sizeof(buf),
        R"({"user_id":"u%u","url":"/p/%u","amount":%lld.%02lld,"ts":"2023-11-14T%02lld:%02lld:%02lld.%03lldZ"})", user,
        static_cast<unsigned>(h % 97), static_cast<long long>(cents / 100), static_cast<long long>(cents % 100),
        static_cast<long long>((day_secs / 3600) % 24), static_cast<long long>((day_secs / 60) % 60),
        static_cast<long long>(day_secs % 60), static_cast<long long>(ts_ms % 1000));
  }
  out->append(buf, static_cast<size_t>(n));
  *valid = !bad;
  *big = !bad && cents > 10'000;
}

}  // namespace impulse::datagen
