#include "examples/personalization/demo/ranker_run.h"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>

#include "datagen/shop/format.h"
#include "model/repository.h"
#include "spec/spec.h"

namespace impulse::examples::personalization {

namespace {

constexpr size_t kCsvFlushBytes = 4 << 20;  // events formatted before each write

// Seconds since the simulation's start of an epoch-ms timestamp, floored (the events' resolution).
int64_t SimSeconds(int64_t ms, int64_t start_epoch_day) {
  const int64_t seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  return seconds - start_epoch_day * shop::kSecondsPerDay;
}

Result<int> Field(const Schema& schema, const std::string& stream, const std::string& name, FieldType type) {
  const int i = schema.FieldIndex(name);
  if (i < 0 || schema.field(static_cast<size_t>(i)).type != type) {
    return InvalidArgument("stream " + stream + " has no " + std::string(FieldTypeName(type)) + " field " + name);
  }
  return i;
}

}  // namespace

Status WriteEventsCsv(std::span<const shop::Event> events, int64_t start_epoch_day, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return ErrnoStatus("create " + path, errno);
  std::string text;
  shop::AppendEventCsvHeader(&text);
  for (const shop::Event& e : events) {
    shop::AppendEvent(e, start_epoch_day, datagen::OutputFormat::kCsv, &text);
    if (text.size() >= kCsvFlushBytes) {
      out.write(text.data(), static_cast<std::streamsize>(text.size()));
      text.clear();
    }
  }
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return IOError("write " + path);
  return Status::OK();
}

Result<RankerLists> RunRanker(const RankerRunOptions& options, const std::string& stream,
                              const std::string& as_of_field) {
  features::BackfillOptions bo;
  bo.spec_path = options.spec_path;
  bo.models_dir = options.models_dir;
  bo.input_path = options.input_csv;
  bo.input_stream = "events";
  bo.output_stream = stream;
  bo.shards = options.shards;
  RankerLists out;
  simdjson::ondemand::parser parser;
  Recommendation rec;
  bool resolved = false;
  int id_field = -1, time_field = -1, recs_field = -1, as_of = -1;
  bo.output_rows = [&](const Schema& schema, const RowBatch& rows) -> Status {
    if (!resolved) {
      ASSIGN_OR_RETURN(id_field, Field(schema, stream, "event_id", FieldType::kInt64));
      ASSIGN_OR_RETURN(time_field, Field(schema, stream, "event_datetime", FieldType::kTimestamp));
      ASSIGN_OR_RETURN(recs_field, Field(schema, stream, "recs", FieldType::kString));
      // A timestamp, or an int64 of epoch milliseconds.
      auto ms = Field(schema, stream, as_of_field, FieldType::kInt64);
      if (ms.ok()) {
        as_of = *ms;
      } else {
        ASSIGN_OR_RETURN(as_of, Field(schema, stream, as_of_field, FieldType::kTimestamp));
      }
      resolved = true;
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      ++out.rows;
      const Value* row = rows.row(r);
      const auto where = [&] { return stream + " row " + std::to_string(out.rows) + ": "; };
      if (row[id_field].null || row[id_field].i64 < 0) return InvalidArgument(where() + "no event_id");
      if (row[time_field].null || row[as_of].null) {
        return InvalidArgument(where() + "event_datetime or " + as_of_field + " is null");
      }
      if (SimSeconds(row[time_field].i64, options.start_epoch_day) < options.keep_from_seconds) continue;
      rec.as_of_seconds = SimSeconds(row[as_of].i64, options.start_epoch_day);
      if (row[recs_field].null) {
        rec.items.clear();  // no candidates: an empty list, scored as a miss
      } else if (Status st = ParseItemList(&parser, row[recs_field].sv(), &rec.items); !st.ok()) {
        return InvalidArgument(where() + st.message());
      }
      RETURN_IF_ERROR(out.lists.Add(static_cast<uint64_t>(row[id_field].i64), rec));
    }
    return Status::OK();
  };
  ASSIGN_OR_RETURN(out.backfill, features::RunBackfill(bo));
  return out;
}

Result<bool> SpecHasStream(const std::string& spec_path, const std::string& name) {
  std::vector<plan::SpecError> errors;
  ASSIGN_OR_RETURN(plan::LogicalPlan plan, plan::CompileSpecFile(spec_path, &errors));
  return plan.FindStream(name) != nullptr;
}

Result<uint64_t> ServedVersion(const std::string& models_dir, std::string_view model) {
  ASSIGN_OR_RETURN(std::unique_ptr<model::ModelRepository> repository, model::ModelRepository::Open(models_dir));
  ASSIGN_OR_RETURN(std::shared_ptr<const model::LoadedModel> loaded, repository->Get(model));
  return loaded->version;
}

}  // namespace impulse::examples::personalization
