// Text forms of the shop simulator's output: the events and the item catalogue, as CSV (with a
// header line) or NDJSON (one object per line). Dates, amounts and the format names are the
// simulators' shared ones (datagen/common/text_format.h), so both generators write the same way.
// Pure functions, any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datagen/common/text_format.h"
#include "datagen/shop/simulator.h"

namespace impulse::shop {

using datagen::OutputFormat;

// The events' CSV header line, with its newline.
void AppendEventCsvHeader(std::string* out);

// One event as a line (with its newline). start_epoch_day: the run's first day.
//   csv:    0,2024-03-04 00:00:07,4711,12,803,3,24.99,view
//   ndjson: {"event_id":0,"event_datetime":"2024-03-04T00:00:07Z","user_id":4711,...,"type":"view"}
void AppendEvent(const Event& event, int64_t start_epoch_day, OutputFormat format, std::string* out);

// The catalogue's CSV header line, with its newline.
void AppendItemCsvHeader(std::string* out);

// The order `generate shop --output items` writes the catalogue in: item ids by release time
// (ties by id). The `items` stream's event time is the release time and it declares no
// out-of-orderness, so id order (initial items have random release times) would make most rows
// late for a stateful step.
std::vector<uint32_t> ItemReleaseOrder(const std::vector<Item>& items);

// One item (its id is its index in Simulator::items()) as a line with its newline.
void AppendItem(uint32_t item_id, const Item& item, int64_t start_epoch_day, OutputFormat format, std::string* out);

}  // namespace impulse::shop
