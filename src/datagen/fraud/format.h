// Text forms of the simulator's transactions: CSV (with a header line) and NDJSON (one object
// per line), through the shared text forms of datagen/common. Pure functions, any thread.
#pragma once

#include <cstdint>
#include <string>

#include "datagen/common/text_format.h"
#include "datagen/fraud/simulator.h"

namespace impulse::fraud {

using datagen::OutputFormat;

// The CSV header line, with its newline.
void AppendCsvHeader(std::string* out);

// One transaction as a line (with its newline). start_epoch_day: the run's first day.
void AppendTransaction(const Transaction& tx, int64_t start_epoch_day, OutputFormat format, std::string* out);

}  // namespace impulse::fraud
