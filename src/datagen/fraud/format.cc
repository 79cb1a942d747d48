#include "datagen/fraud/format.h"

namespace impulse::fraud {

using datagen::AppendAmount;
using datagen::AppendDateTime;
using datagen::AppendInt;

void AppendCsvHeader(std::string* out) {
  out->append(
      "transaction_id,tx_datetime,customer_id,terminal_id,tx_amount,tx_time_seconds,tx_time_days,tx_fraud,"
      "tx_fraud_scenario\n");
}

void AppendTransaction(const Transaction& tx, int64_t start_epoch_day, OutputFormat format, std::string* out) {
  const int64_t epoch = start_epoch_day * kSecondsPerDay + tx.tx_time_seconds;
  if (format == OutputFormat::kCsv) {
    // Every field is a number or a datetime without separators, so none needs quoting.
    AppendInt(static_cast<int64_t>(tx.transaction_id), out);
    out->push_back(',');
    AppendDateTime(epoch, format, out);
    out->push_back(',');
    AppendInt(tx.customer_id, out);
    out->push_back(',');
    AppendInt(tx.terminal_id, out);
    out->push_back(',');
    AppendAmount(tx.tx_amount_cents, out);
    out->push_back(',');
    AppendInt(tx.tx_time_seconds, out);
    out->push_back(',');
    AppendInt(tx.tx_time_days, out);
    out->push_back(',');
    AppendInt(tx.tx_fraud, out);
    out->push_back(',');
    AppendInt(tx.tx_fraud_scenario, out);
    out->push_back('\n');
    return;
  }
  out->append("{\"transaction_id\":");
  AppendInt(static_cast<int64_t>(tx.transaction_id), out);
  out->append(",\"tx_datetime\":\"");
  AppendDateTime(epoch, format, out);
  out->append("\",\"customer_id\":");
  AppendInt(tx.customer_id, out);
  out->append(",\"terminal_id\":");
  AppendInt(tx.terminal_id, out);
  out->append(",\"tx_amount\":");
  AppendAmount(tx.tx_amount_cents, out);
  out->append(",\"tx_time_seconds\":");
  AppendInt(tx.tx_time_seconds, out);
  out->append(",\"tx_time_days\":");
  AppendInt(tx.tx_time_days, out);
  out->append(",\"tx_fraud\":");
  AppendInt(tx.tx_fraud, out);
  out->append(",\"tx_fraud_scenario\":");
  AppendInt(tx.tx_fraud_scenario, out);
  out->append("}\n");
}

}  // namespace impulse::fraud
