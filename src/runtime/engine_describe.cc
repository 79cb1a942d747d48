// What the operator-facing routes describe (Engine::ListPipelines) and the long-poll of read
// backs (Engine::WaitReadable).
#include <algorithm>
#include <chrono>
#include <map>

#include "runtime/engine_impl.h"
#include "runtime/shard.h"

namespace impulse::runtime {

Status EngineImpl::WaitReadable(std::string_view stream_name, std::vector<uint64_t> positions, uint32_t timeout_ms,
                                ReadableCallback done) {
  const int si = StreamIndex(stream_name);
  if (si < 0) return NotFound("unknown stream '" + std::string(stream_name) + "'");
  const StreamState& ss = *streams_[si];
  if (positions.size() != ss.partitions.size()) {
    return InvalidArgument("stream " + ss.def.name + " has " + std::to_string(ss.partitions.size()) +
                           " partitions; got " + std::to_string(positions.size()) + " positions");
  }
  if (timeout_ms > kWaitReadableMaxMs) {
    return InvalidArgument("timeout_ms " + std::to_string(timeout_ms) + " is over the maximum " +
                           std::to_string(kWaitReadableMaxMs));
  }
  if (stopping()) return FailedPrecondition("the engine is stopping");
  bool readable = false;
  for (uint32_t p = 0; p < positions.size() && !readable; ++p) {
    readable = ReadableEnd(static_cast<uint32_t>(si), p) > positions[p];
  }
  if (readable || timeout_ms == 0) {
    done(readable);
    return Status::OK();
  }
  const int64_t deadline_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch() +
                                                           std::chrono::milliseconds(timeout_ms))
          .count();
  return read_waiters_.Add(static_cast<uint32_t>(si), std::move(positions), deadline_ns, std::move(done));
}

std::vector<PipelineInfo> EngineImpl::ListPipelines() const {
  std::vector<PipelineInfo> out;
  // Operator state per pipeline, summed over shards and operators.
  std::vector<plan::OperatorStats> state(pipelines_.size());
  for (const auto& sh : shards_) {
    std::lock_guard<std::mutex> lock(sh->stats_mu);
    for (size_t i = 0; i < sh->op_stats.size() && i < state.size(); ++i) {
      for (const auto& [label, st] : sh->op_stats[i]) state[i] += st;
    }
  }
  std::vector<Shard::InputProgress> inputs;
  for (size_t i = 0; i < pipelines_.size(); ++i) {
    const plan::LogicalPipeline& lp = pipelines_[i]->logical();
    PipelineInfo info;
    info.name = lp.name;
    info.sources.push_back(lp.source);
    if (!lp.second_source.empty()) info.sources.push_back(lp.second_source);
    switch (lp.sink.kind) {
      case plan::SinkDef::Kind::kStream: info.sink_kind = "stream"; break;
      case plan::SinkDef::Kind::kFile: info.sink_kind = "file"; break;
      case plan::SinkDef::Kind::kStdout: info.sink_kind = "stdout"; break;
    }
    info.sink = lp.sink.target;
    info.side_streams = lp.side_streams;
    inputs.clear();
    for (const auto& sh : shards_) {
      sh->PipelineInputs(i, &inputs);
      info.events_in += sh->metrics().pipeline_in[i].Get();
      info.events_out += sh->metrics().pipeline_out[i].Get();
      info.tasks_failed += static_cast<uint32_t>(sh->metrics().tasks_failed[i].Get());
      const int64_t w = sh->pipeline_watermark[i].load(std::memory_order_relaxed);
      if (w != INT64_MIN) info.watermark_ms = info.watermark_ms == INT64_MIN ? w : std::min(info.watermark_ms, w);
    }
    std::sort(inputs.begin(), inputs.end(), [](const Shard::InputProgress& a, const Shard::InputProgress& b) {
      return a.stream != b.stream ? a.stream < b.stream : a.partition < b.partition;
    });
    for (const Shard::InputProgress& in : inputs) {
      PipelineInputInfo pi;
      pi.stream = streams_[in.stream]->def.name;
      pi.partition = in.partition;
      pi.processed_offset = in.cursor;
      pi.end_offset = in.end;
      pi.lag = in.end > in.cursor ? in.end - in.cursor : 0;
      info.lag += pi.lag;
      info.inputs.push_back(std::move(pi));
    }
    info.state_entries = state[i].entries;
    info.state_bytes = state[i].state_bytes;
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace impulse::runtime
