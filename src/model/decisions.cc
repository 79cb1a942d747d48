#include "model/decisions.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "common/json_string.h"
#include "event/row_codec.h"
#include "event/timestamp.h"
#include "impulse/row.h"
#include "impulse/schema.h"
#include "log/partition_log.h"
#include "model/repository.h"

namespace impulse::model {
namespace {

// Field indexes of the decision record (DecisionLogStreamDef).
enum : size_t { kEventId = 0, kVersion = 7, kVariant = 8, kFeatures = 9, kScores = 10 };

constexpr uint32_t kReadRecordsMax = 4096;      // records per log read
constexpr uint64_t kReadBytesMax = 4ull << 20;  // payload bytes per log read

// Resolves --output (an index or a name) against the config's outputs.
Result<size_t> ResolveOutput(const std::string& output, const model::ModelConfig& config) {
  size_t index = 0;
  const auto [ptr, ec] = std::from_chars(output.data(), output.data() + output.size(), index);
  if (ec == std::errc() && ptr == output.data() + output.size()) {
    if (index >= config.outputs.size()) {
      return InvalidArgument("--output " + output + " is out of range: the model has " +
                             std::to_string(config.outputs.size()) + " outputs");
    }
    return index;
  }
  for (size_t i = 0; i < config.outputs.size(); ++i) {
    if (config.outputs[i] == output) return i;
  }
  return InvalidArgument("--output '" + output + "' is neither an output index nor an output name of the model");
}

// Scores one record with the new version: old score, new score.
class Rescorer {
 public:
  Rescorer(const model::LoadedModel& loaded, size_t output) : loaded_(loaded), output_(output) {
    row_.resize(loaded.model->num_features());
    out_.resize(loaded.model->num_outputs());
  }

  // `where` names the record in errors.
  Status Score(std::string_view features, std::string_view scores, const std::string& where, double* old_score,
               double* new_score) {
    simdjson::dom::object obj;
    if (auto e = parser_.parse(features.data(), features.size()).get(obj); e) {
      return InvalidArgument(where + ": features is not a JSON object: " + simdjson::error_message(e));
    }
    const std::vector<model::ModelInput>& inputs = loaded_.config.inputs;
    for (size_t i = 0; i < inputs.size() && i < row_.size(); ++i) {
      simdjson::dom::element v;
      if (obj[inputs[i].name].get(v) != simdjson::SUCCESS &&
          (inputs[i].from.empty() || obj[inputs[i].from].get(v) != simdjson::SUCCESS)) {
        return InvalidArgument(where + ": features has no input '" + inputs[i].name + "' of " + loaded_.name +
                               " version " + std::to_string(loaded_.version));
      }
      double d = 0;
      bool b = false;
      if (v.is_null()) {
        row_[i] = inputs[i].default_value.value_or(std::nanf(""));
      } else if (v.get_double().get(d) == simdjson::SUCCESS) {
        row_[i] = static_cast<float>(d);
      } else if (v.get_bool().get(b) == simdjson::SUCCESS) {
        row_[i] = b ? 1.0f : 0.0f;
      } else {
        return InvalidArgument(where + ": feature '" + inputs[i].name + "' is not a number, bool or null");
      }
    }
    loaded_.model->Predict(row_.data(), 1, out_.data());
    *new_score = out_[output_];
    const std::string& name = loaded_.config.outputs[output_];
    simdjson::dom::object sc;
    if (auto e = parser_.parse(scores.data(), scores.size()).get(sc); e) {
      return InvalidArgument(where + ": scores is not a JSON object: " + simdjson::error_message(e));
    }
    if (sc[name].get_double().get(*old_score) != simdjson::SUCCESS) {
      return InvalidArgument(where + ": scores has no numeric output '" + name + "'");
    }
    return Status::OK();
  }

 private:
  const model::LoadedModel& loaded_;
  const size_t output_;
  simdjson::dom::parser parser_;
  std::vector<float> row_;
  std::vector<float> out_;
};

}  // namespace

Result<RescoreReport> Rescore(const RescoreOptions& o) {
  const std::string dir = o.data_dir + "/streams/" + o.stream;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return NotFound("no log of stream '" + o.stream + "' at '" + dir + "'");
  }
  if (o.version == 0) return InvalidArgument("--version must be a version number >= 1");
  ASSIGN_OR_RETURN(std::unique_ptr<model::ModelRepository> repo, model::ModelRepository::Open(o.models_dir));
  auto got = repo->Get(o.model, o.version);
  if (got.status().code() == StatusCode::kUnavailable) {
    // Not selected by the version policy: load it for this run.
    RETURN_IF_ERROR(repo->Load(o.model, o.version));
    got = repo->Get(o.model, o.version);
  }
  if (!got.ok()) return got.status();
  const std::shared_ptr<const model::LoadedModel> loaded = *got;
  ASSIGN_OR_RETURN(const size_t output, ResolveOutput(o.output, loaded->config));

  RescoreReport report;
  report.stream = o.stream;
  report.model = o.model;
  report.version = o.version;
  report.output = loaded->config.outputs[output];
  report.threshold = o.threshold;
  Rescorer rescorer(*loaded, output);
  double sum_abs = 0;
  const StreamDef def = DecisionLogStreamDef(o.stream, 1);
  std::vector<log::Record> records;
  std::string storage;
  RowBatch rows(def.schema.size());
  for (uint32_t p = 0;; ++p) {
    const std::string pdir = dir + "/" + std::to_string(p);
    if (!std::filesystem::is_directory(pdir, ec)) {
      if (p == 0) return NotFound("stream '" + o.stream + "' has no partitions under '" + dir + "'");
      break;
    }
    auto opened = log::PartitionLog::Open(Env::Default(), Clock::Real(), pdir, log::LogOptions{});
    if (!opened.ok()) return opened.status().WithContext("open " + pdir);
    const std::unique_ptr<log::PartitionLog> plog = std::move(opened).value();
    uint64_t next = plog->start_offset();
    while (next < plog->end_offset()) {
      RETURN_IF_ERROR(plog->Read(next, kReadRecordsMax, kReadBytesMax, &records, &storage));
      if (records.empty()) break;
      next = records.back().offset + 1;
      for (const log::Record& r : records) {
        if (IsControlRecord(r.payload)) continue;
        rows.Clear();
        const std::string where = o.stream + "/" + std::to_string(p) + " offset " + std::to_string(r.offset);
        Status st = DecodeRow(def.schema, r.payload, &rows);
        if (!st.ok()) {
          return InvalidArgument(where + ": not a decision record (" + st.message() + ")");
        }
        const Value* row = rows.row(0);
        const int64_t t = rows.meta(0).event_time_ms;
        if (t < o.from_ms || t >= o.to_ms) {
          ++report.records_outside;
          continue;
        }
        if (row[kVariant].sv() == "unscored") {
          // No version was ready when it was decided: nothing to compare with.
          ++report.records_unscored;
          ++report.variants["unscored"].records;
          continue;
        }
        double old_score = 0, new_score = 0;
        RETURN_IF_ERROR(rescorer.Score(row[kFeatures].sv(), row[kScores].sv(),
                                       where + " (event id '" + std::string(row[kEventId].sv()) + "')", &old_score,
                                       &new_score));
        ++report.records_read;
        const double diff = std::fabs(new_score - old_score);
        sum_abs += diff;
        report.max_abs_diff = std::max(report.max_abs_diff, diff);
        RescoreVariantCounts& vc = report.variants[std::string(row[kVariant].sv())];
        ++vc.records;
        if ((old_score >= o.threshold) == (new_score >= o.threshold)) continue;
        ++report.differing;
        ++vc.differing;
        if (report.first_differing.size() < o.limit) {
          report.first_differing.push_back(RescoreRow{std::string(row[kEventId].sv()), p, r.offset,
                                                      std::string(row[kVariant].sv()), row[kVersion].i64, old_score,
                                                      new_score});
        }
      }
    }
  }
  if (report.records_read > 0) report.mean_abs_diff = sum_abs / static_cast<double>(report.records_read);
  return report;
}

namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace

std::string FormatRescoreReport(const RescoreReport& r, bool json) {
  std::string out;
  if (json) {
    out = "{\"stream\":" + JsonString(r.stream) + ",\"model\":" + JsonString(r.model) +
          ",\"version\":" + std::to_string(r.version) + ",\"output\":" + JsonString(r.output) +
          ",\"threshold\":" + Num(r.threshold) + ",\"records_read\":" + std::to_string(r.records_read) +
          ",\"records_outside\":" + std::to_string(r.records_outside) +
          ",\"records_unscored\":" + std::to_string(r.records_unscored) +
          ",\"differing\":" + std::to_string(r.differing) + ",\"mean_abs_diff\":" + Num(r.mean_abs_diff) +
          ",\"max_abs_diff\":" + Num(r.max_abs_diff) + ",\"variants\":{";
    bool first = true;
    for (const auto& [name, c] : r.variants) {
      if (!first) out += ',';
      first = false;
      out += JsonString(name) + ":{\"records\":" + std::to_string(c.records) +
             ",\"differing\":" + std::to_string(c.differing) + "}";
    }
    out += "},\"first_differing\":[";
    for (size_t i = 0; i < r.first_differing.size(); ++i) {
      const RescoreRow& d = r.first_differing[i];
      if (i > 0) out += ',';
      out += "{\"event_id\":" + JsonString(d.event_id) + ",\"partition\":" + std::to_string(d.partition) +
             ",\"offset\":" + std::to_string(d.offset) + ",\"variant\":" + JsonString(d.variant) +
             ",\"old_version\":" + std::to_string(d.old_version) + ",\"old_score\":" + Num(d.old_score) +
             ",\"new_score\":" + Num(d.new_score) + "}";
    }
    out += "]}\n";
    return out;
  }
  out += "stream " + r.stream + ": re-scored with " + r.model + " version " + std::to_string(r.version) + ", output " +
         r.output + ", decision = score >= " + Num(r.threshold) + "\n";
  out += "records read: " + std::to_string(r.records_read) +
         " (outside --from/--to: " + std::to_string(r.records_outside) +
         "; unscored, not compared: " + std::to_string(r.records_unscored) + ")\n";
  out += "decisions differing: " + std::to_string(r.differing) + "\n";
  out += "mean |diff|: " + Num(r.mean_abs_diff) + ", max |diff|: " + Num(r.max_abs_diff) + "\n";
  for (const auto& [name, c] : r.variants) {
    out += "variant " + name + ": " + std::to_string(c.records) + " records, " + std::to_string(c.differing) +
           " differing\n";
  }
  if (!r.first_differing.empty()) {
    out += "first differing (event_id partition offset variant old_version old_score new_score):\n";
    for (const RescoreRow& d : r.first_differing) {
      out += "  " + d.event_id + " " + std::to_string(d.partition) + " " + std::to_string(d.offset) + " " + d.variant +
             " " + std::to_string(d.old_version) + " " + Num(d.old_score) + " " + Num(d.new_score) + "\n";
    }
  }
  return out;
}

}  // namespace impulse::model
