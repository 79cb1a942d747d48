// A deterministic generator of quickstart `clicks` events for the demo and the load command.
#pragma once

#include <cstdint>
#include <string>

namespace impulse::datagen {

struct ClickGenerator {
  double bad_fraction = 0.001;  // share of lines that violate the schema (amount as a string)
  int64_t start_ms = 1'700'000'000'000;
  uint32_t users = 10'000;

  // Appends line `seq` (no newline). Returns whether it is valid and, if so, whether its
  // amount is > 100 (it passes the quickstart filter).
  void Line(uint64_t seq, std::string* out, bool* valid, bool* big) const;
};

}  // namespace impulse::datagen
