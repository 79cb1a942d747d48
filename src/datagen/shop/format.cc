#include "datagen/shop/format.h"

#include <algorithm>
#include <numeric>

namespace impulse::shop {

using datagen::AppendAmount;
using datagen::AppendDateTime;
using datagen::AppendInt;

void AppendEventCsvHeader(std::string* out) {
  out->append("event_id,event_datetime,user_id,session_id,item_id,category,price,type\n");
}

void AppendEvent(const Event& e, int64_t start_epoch_day, OutputFormat format, std::string* out) {
  const int64_t epoch = start_epoch_day * kSecondsPerDay + e.time_seconds;
  const std::string_view type = EventTypeName(e.type);
  if (format == OutputFormat::kCsv) {
    // Every field is a number, a datetime or a type name without separators: none needs quoting.
    AppendInt(static_cast<int64_t>(e.event_id), out);
    out->push_back(',');
    AppendDateTime(epoch, format, out);
    out->push_back(',');
    AppendInt(e.user_id, out);
    out->push_back(',');
    AppendInt(static_cast<int64_t>(e.session_id), out);
    out->push_back(',');
    AppendInt(e.item_id, out);
    out->push_back(',');
    AppendInt(e.category, out);
    out->push_back(',');
    AppendAmount(e.price_cents, out);
    out->push_back(',');
    out->append(type);
    out->push_back('\n');
    return;
  }
  out->append("{\"event_id\":");
  AppendInt(static_cast<int64_t>(e.event_id), out);
  out->append(",\"event_datetime\":\"");
  AppendDateTime(epoch, format, out);
  out->append("\",\"user_id\":");
  AppendInt(e.user_id, out);
  out->append(",\"session_id\":");
  AppendInt(static_cast<int64_t>(e.session_id), out);
  out->append(",\"item_id\":");
  AppendInt(e.item_id, out);
  out->append(",\"category\":");
  AppendInt(e.category, out);
  out->append(",\"price\":");
  AppendAmount(e.price_cents, out);
  out->append(",\"type\":\"");
  out->append(type);
  out->append("\"}\n");
}

std::vector<uint32_t> ItemReleaseOrder(const std::vector<Item>& items) {
  std::vector<uint32_t> order(items.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return items[a].release_seconds < items[b].release_seconds; });
  return order;
}

void AppendItemCsvHeader(std::string* out) { out->append("item_id,category,price,release_datetime\n"); }

void AppendItem(uint32_t item_id, const Item& item, int64_t start_epoch_day, OutputFormat format, std::string* out) {
  const int64_t epoch = start_epoch_day * kSecondsPerDay + item.release_seconds;
  if (format == OutputFormat::kCsv) {
    AppendInt(item_id, out);
    out->push_back(',');
    AppendInt(item.category, out);
    out->push_back(',');
    AppendAmount(item.price_cents, out);
    out->push_back(',');
    AppendDateTime(epoch, format, out);
    out->push_back('\n');
    return;
  }
  out->append("{\"item_id\":");
  AppendInt(item_id, out);
  out->append(",\"category\":");
  AppendInt(item.category, out);
  out->append(",\"price\":");
  AppendAmount(item.price_cents, out);
  out->append(",\"release_datetime\":\"");
  AppendDateTime(epoch, format, out);
  out->append("\"}\n");
}

}  // namespace impulse::shop
