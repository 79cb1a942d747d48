// Resetting a pipeline online: POST /v1/pipelines/{pipeline}/reset?to=beginning|end
// (docs/HTTP_API.md, docs/OPERATIONS.md "Resetting a pipeline").
#include <memory>
#include <string>
#include <vector>

#include "server/json_writer.h"
#include "server/router.h"

namespace impulse::server {
namespace {

HttpReply Error(int status, std::string_view message, std::string_view code) {
  return MakeReply(status, JsonError(message, code));
}

void AppendStrings(const std::vector<std::string>& v, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(v[i], out);
  }
  out->push_back(']');
}

// The answer: the positions moved and what follows from them, in words (as the offline
// command prints them), with the streams and pipelines they concern.
std::string ResetBody(const PipelineReset& r, const std::vector<PipelineInfo>& pipelines) {
  const PipelineInfo* self = nullptr;
  for (const PipelineInfo& p : pipelines) {
    if (p.name == r.pipeline) self = &p;
  }
  std::vector<std::string> outputs;  // the streams it writes
  std::string sink_text = "stdout";
  if (self != nullptr) {
    if (self->sink_kind == "stream") outputs.push_back(self->sink);
    if (self->sink_kind == "file") sink_text = "file " + self->sink;
    outputs.insert(outputs.end(), self->side_streams.begin(), self->side_streams.end());
  }
  std::vector<std::string> downstream;  // pipelines reading what it writes: not reset
  for (const PipelineInfo& p : pipelines) {
    bool reads = false;
    for (const std::string& s : p.sources) {
      for (const std::string& o : outputs) reads = reads || s == o;
    }
    if (reads && p.name != r.pipeline) downstream.push_back(p.name);
  }
  const bool beginning = r.to == ResetTo::kBeginning;
  std::string body = "{\"pipeline\":";
  AppendJsonString(r.pipeline, &body);
  body.append(",\"to\":\"").append(beginning ? "beginning" : "end").append("\"");
  body.append(",\"checkpoint\":").append(std::to_string(r.checkpoint_id));
  body.append(",\"inputs\":[");
  uint64_t again = 0, skipped = 0;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const PipelineReset::Input& in = r.inputs[i];
    if (i > 0) body.push_back(',');
    body.append("{\"stream\":");
    AppendJsonString(in.stream, &body);
    body.append(",\"partition\":").append(std::to_string(in.partition));
    body.append(",\"before\":").append(std::to_string(in.before));
    body.append(",\"after\":").append(std::to_string(in.after)).append("}");
    if (in.after < in.before) again += in.before - in.after;
    if (in.after > in.before) skipped += in.after - in.before;
  }
  body.append("],\"records_again\":").append(std::to_string(again));
  body.append(",\"records_skipped\":").append(std::to_string(skipped));
  body.append(",\"outputs\":");
  AppendStrings(outputs, &body);
  body.append(",\"downstream\":");
  AppendStrings(downstream, &body);
  std::vector<std::string> consequences;
  consequences.emplace_back(
      "its operator state (windows, feature values, dedup and join buffers, trigger cooldowns) "
      "starts empty");
  if (beginning) {
    std::string written;
    for (const std::string& o : outputs) written.append(written.empty() ? "" : ", ").append(o);
    consequences.push_back(
        "it processes its retained input again: its outputs are written again after those already "
        "in " +
        (outputs.empty() ? sink_text : written) +
        " (readers see them twice; triggers fire and actions are called again)");
  } else {
    consequences.emplace_back("the input it had not processed yet is skipped (never processed)");
  }
  if (!downstream.empty()) {
    std::string names;
    for (const std::string& d : downstream) names.append(names.empty() ? "" : ", ").append(d);
    consequences.push_back(
        "pipelines reading its outputs are not reset: " + names +
        (beginning ? " (they process the outputs written again; reset them to end if they must not)" : ""));
  }
  body.append(",\"consequences\":");
  AppendStrings(consequences, &body);
  body.push_back('}');
  return body;
}

}  // namespace

void Router::ResetPipeline(const std::string& pipeline, std::string_view query, ReplyFn reply) const {
  std::optional<ResetTo> to;
  std::string malformed;
  const std::optional<QueryParams> params = DecodeQuery(query, &malformed);
  if (!params) return reply(Error(400, malformed, "InvalidArgument"));
  for (const auto& [key, raw] : *params) {
    if (key != "to") {
      return reply(Error(400, "unknown query parameter '" + std::string(key) + "' (expected to)", "InvalidArgument"));
    }
    if (to) return reply(Error(400, "query parameter 'to' given more than once", "InvalidArgument"));
    if (raw == "beginning") {
      to = ResetTo::kBeginning;
    } else if (raw == "end") {
      to = ResetTo::kEnd;
    } else {
      return reply(Error(400, "query parameter 'to' must be beginning or end, got '" + std::string(raw) + "'",
                         "InvalidArgument"));
    }
  }
  // Required: a reset drops state and rewrites or skips outputs, so the request says which.
  if (!to) {
    return reply(Error(400,
                       "query parameter 'to' is required: beginning (process the retained input again) or end (skip "
                       "the input not processed yet)",
                       "InvalidArgument"));
  }
  auto shared_reply = std::make_shared<ReplyFn>(std::move(reply));
  engine_->ResetPipeline(
      pipeline, *to,
      [shared_reply, engine = engine_, retry = options_->retry_after_s](const Status& st, const PipelineReset& r) {
        if (st.ok()) return (*shared_reply)(MakeReply(200, ResetBody(r, engine->ListPipelines())));
        switch (st.code()) {
          case StatusCode::kNotFound: return (*shared_reply)(Error(404, st.message(), "NotFound"));
          // Not in a state to reset (checkpoints off, end of input, a stopped task) or not
          // supported here (group member, RocksDB): retrying will not help.
          case StatusCode::kFailedPrecondition: return (*shared_reply)(Error(409, st.message(), "FailedPrecondition"));
          default: return (*shared_reply)(ErrorReply(st, retry));
        }
      });
}

}  // namespace impulse::server
