// Engine::MetricsText: collects the per-shard counters and histograms at scrape time.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "runtime/decide.h"
#include "runtime/engine_impl.h"
#include "runtime/exposition.h"
#include "runtime/shard.h"

namespace impulse::runtime {

using prometheus::MetricType;

namespace {

// The process's CPU time and resident memory, under the names Prometheus clients use for them
// (prometheus-cpp exports no process collector). Read at scrape time: a getrusage call and one
// small /proc read. In an embedding process they describe the whole process.
void AppendProcessMetrics(Exposition* ex) {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    const auto seconds = [](const timeval& tv) {
      return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    ex->Family("process_cpu_seconds_total", "User and system CPU time of the process.", MetricType::Counter);
    ex->AddValue({}, seconds(ru.ru_utime) + seconds(ru.ru_stime));
  }
  // statm's second field: resident pages.
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return;
  unsigned long long size_pages = 0;
  unsigned long long resident_pages = 0;
  const int fields = std::fscanf(f, "%llu %llu", &size_pages, &resident_pages);
  std::fclose(f);
  if (fields != 2) return;
  const auto page = static_cast<double>(sysconf(_SC_PAGESIZE));
  ex->Family("process_resident_memory_bytes", "Resident memory of the process.", MetricType::Gauge);
  ex->AddValue({}, static_cast<double>(resident_pages) * page);
  ex->Family("process_virtual_memory_bytes", "Virtual memory of the process.", MetricType::Gauge);
  ex->AddValue({}, static_cast<double>(size_pages) * page);
}

}  // namespace

std::string EngineImpl::MetricsText() const {
  Exposition ex;
  const size_t n_streams = streams_.size();

  ex.Family("impulse_events_in_total", "Events appended to a stream's log (ingest and pipeline outputs).",
            MetricType::Counter);
  for (size_t s = 0; s < n_streams; ++s) {
    uint64_t v = 0;
    for (const auto& sh : shards_) v += sh->metrics().events_appended[s].Get();
    ex.AddValue({{"stream", streams_[s]->def.name}}, static_cast<double>(v));
  }
  ex.Family("impulse_events_rejected_total", "NDJSON lines rejected by validation (sent to _dead_letter).",
            MetricType::Counter);
  for (size_t s = 0; s < n_streams; ++s) {
    ex.AddValue({{"stream", streams_[s]->def.name}},
                static_cast<double>(streams_[s]->events_rejected.load(std::memory_order_relaxed)));
  }
  ex.Family("impulse_ingest_requests_total", "Ingest requests parsed.", MetricType::Counter);
  for (size_t s = 0; s < n_streams; ++s) {
    ex.AddValue({{"stream", streams_[s]->def.name}},
                static_cast<double>(streams_[s]->requests.load(std::memory_order_relaxed)));
  }

  ex.Family("impulse_log_bytes_written_total", "Bytes written to the log.", MetricType::Counter);
  for (const auto& ss : streams_) {
    uint64_t v = 0;
    for (const auto& p : ss->partitions) v += p->bytes_written();
    ex.AddValue({{"stream", ss->def.name}}, static_cast<double>(v));
  }
  ex.Family("impulse_log_fsyncs_total", "fdatasync calls on the log.", MetricType::Counter);
  for (const auto& ss : streams_) {
    uint64_t v = 0;
    for (const auto& p : ss->partitions) v += p->syncs();
    ex.AddValue({{"stream", ss->def.name}}, static_cast<double>(v));
  }
  ex.Family("impulse_log_end_offset", "End offset per partition.", MetricType::Gauge);
  for (const auto& ss : streams_) {
    for (uint32_t p = 0; p < ss->partitions.size(); ++p) {
      ex.AddValue({{"stream", ss->def.name}, {"partition", std::to_string(p)}},
                  static_cast<double>(ss->partitions[p]->end_offset()));
    }
  }

  ex.Family("impulse_pipeline_info",
            "1 per pipeline, labelled with the stream it reads (source; a join's second stream: source2) and its "
            "sink (stream:NAME, file:PATH or stdout), so that a pipeline's rates can be put beside its streams.",
            MetricType::Gauge);
  for (const auto& p : pipelines_) {
    const plan::LogicalPipeline& lp = p->logical();
    std::string sink = "stdout";
    if (lp.sink.kind == plan::SinkDef::Kind::kStream) sink = "stream:" + lp.sink.target;
    if (lp.sink.kind == plan::SinkDef::Kind::kFile) sink = "file:" + lp.sink.target;
    ex.AddValue({{"pipeline", lp.name}, {"source", lp.source}, {"source2", lp.second_source}, {"sink", sink}}, 1.0);
  }
  ex.Family("impulse_pipeline_events_in_total", "Events read by a pipeline.", MetricType::Counter);
  for (size_t i = 0; i < pipelines_.size(); ++i) {
    uint64_t v = 0;
    for (const auto& sh : shards_) v += sh->metrics().pipeline_in[i].Get();
    ex.AddValue({{"pipeline", pipelines_[i]->logical().name}}, static_cast<double>(v));
  }
  ex.Family("impulse_pipeline_events_out_total", "Events emitted by a pipeline to its sink.", MetricType::Counter);
  for (size_t i = 0; i < pipelines_.size(); ++i) {
    uint64_t v = 0;
    for (const auto& sh : shards_) v += sh->metrics().pipeline_out[i].Get();
    ex.AddValue({{"pipeline", pipelines_[i]->logical().name}}, static_cast<double>(v));
  }
  ex.Family("impulse_pipeline_lag_events", "Durable source events a pipeline has not processed yet.",
            MetricType::Gauge);
  for (size_t i = 0; i < pipelines_.size(); ++i) {
    uint64_t v = 0;
    for (const auto& sh : shards_) v += sh->PipelineLag(i);
    ex.AddValue({{"pipeline", pipelines_[i]->logical().name}}, static_cast<double>(v));
  }

  ex.Family("impulse_ring_depth", "Commands queued in the rings addressed to a shard.", MetricType::Gauge);
  for (uint32_t s = 0; s < shards_.size(); ++s) {
    uint64_t ingest = 0, exchange = 0;
    for (const auto& r : ingest_[s]) ingest += r->ApproxSize();
    for (const auto& r : exchange_[s]) exchange += r->ApproxSize();
    ex.AddValue({{"shard", std::to_string(s)}, {"ring", "ingest"}}, static_cast<double>(ingest));
    ex.AddValue({{"shard", std::to_string(s)}, {"ring", "exchange"}}, static_cast<double>(exchange));
  }
  ex.Family("impulse_inflight_events", "Events accepted and not yet acknowledged, per shard.", MetricType::Gauge);
  for (uint32_t s = 0; s < shards_.size(); ++s) {
    ex.AddValue({{"shard", std::to_string(s)}},
                static_cast<double>(shards_[s]->inflight_events.load(std::memory_order_relaxed)));
  }
  ex.Family("impulse_backpressure_rejections_total",
            "Ingest requests refused because a queue or the in-flight bound was full (HTTP 503).", MetricType::Counter);
  ex.AddValue({}, static_cast<double>(backpressure_rejections.load(std::memory_order_relaxed)));
  ex.Family("impulse_oversized_rejections_total",
            "Ingest requests refused because they alone hold more events for one shard than "
            "max_inflight_events_per_shard (HTTP 413).",
            MetricType::Counter);
  ex.AddValue({}, static_cast<double>(oversized_rejections.load(std::memory_order_relaxed)));
  if (decide_) {
    const DecisionWaiters& d = *decide_;
    ex.Family("impulse_decide_requests_total",
              "IngestAndDecide calls (decide= on POST events) answered: with every decision (answered), at the "
              "timeout with events pending (timed_out), or with the ingest's error (failed).",
              MetricType::Counter);
    ex.AddValue({{"outcome", "answered"}}, static_cast<double>(d.calls_answered.load(std::memory_order_relaxed)));
    ex.AddValue({{"outcome", "timed_out"}}, static_cast<double>(d.calls_timed_out.load(std::memory_order_relaxed)));
    ex.AddValue({{"outcome", "failed"}}, static_cast<double>(d.calls_failed.load(std::memory_order_relaxed)));
    ex.Family("impulse_decide_events_total", "Events of answered decide calls, by what their answer said.",
              MetricType::Counter);
    ex.AddValue({{"state", "decided"}}, static_cast<double>(d.events_decided.load(std::memory_order_relaxed)));
    ex.AddValue({{"state", "pending"}}, static_cast<double>(d.events_pending.load(std::memory_order_relaxed)));
    ex.AddValue({{"state", "rejected"}}, static_cast<double>(d.events_rejected.load(std::memory_order_relaxed)));
    ex.AddValue({{"state", "late"}}, static_cast<double>(d.events_late.load(std::memory_order_relaxed)));
    ex.Family("impulse_decide_waiters", "Events waited for by decide calls now (bound: decide_waiters_max).",
              MetricType::Gauge);
    ex.AddValue({}, static_cast<double>(d.waiters()));
    ex.Family("impulse_decide_refused_total",
              "Decide calls refused because decide_waiters_max events were already waited for (HTTP 503).",
              MetricType::Counter);
    ex.AddValue({{"reason", "waiters_full"}}, static_cast<double>(d.refused_full.load(std::memory_order_relaxed)));
  }

  ex.Family("impulse_errors_total",
            "Errors by kind: append, sync, retention, decode; events skipped because retention removed them first; "
            "partitions rolled back after a failed write refused their requests (and failed roll-backs).",
            MetricType::Counter);
  uint64_t append_errors = 0, sync_errors = 0, skipped = 0, retention = 0, decode = 0, task = 0;
  uint64_t rollbacks = 0, rollback_errors = 0;
  for (const auto& sh : shards_) {
    rollbacks += sh->metrics().rollbacks.Get();
    rollback_errors += sh->metrics().rollback_errors.Get();
    append_errors += sh->metrics().append_errors.Get();
    sync_errors += sh->metrics().sync_errors.Get();
    skipped += sh->metrics().retention_skipped.Get();
    retention += sh->metrics().retention_errors.Get();
    decode += sh->metrics().decode_errors.Get();
    task += sh->metrics().task_errors.Get();
  }
  ex.AddValue({{"kind", "append"}}, static_cast<double>(append_errors));
  ex.AddValue({{"kind", "sync"}}, static_cast<double>(sync_errors));
  ex.AddValue({{"kind", "retention"}}, static_cast<double>(retention));
  ex.AddValue({{"kind", "decode"}}, static_cast<double>(decode));
  ex.AddValue({{"kind", "pipeline_task"}}, static_cast<double>(task));
  ex.AddValue({{"kind", "retention_skipped_events"}}, static_cast<double>(skipped));
  ex.AddValue({{"kind", "refused_batch_rollbacks"}}, static_cast<double>(rollbacks));
  ex.AddValue({{"kind", "refused_batch_rollback_failures"}}, static_cast<double>(rollback_errors));

  ex.Family("impulse_late_events_total",
            "Events sent to _late_events, by any reason: late, state_limit (refused by a state bound), out_of_range, "
            "too_large.",
            MetricType::Counter);
  for (size_t i = 0; i < pipelines_.size(); ++i) {
    uint64_t v = 0;
    for (const auto& sh : shards_) v += sh->metrics().late_events[i].Get();
    ex.AddValue({{"pipeline", pipelines_[i]->logical().name}}, static_cast<double>(v));
  }
  ex.Family(
      "impulse_pipeline_tasks_failed",
      "Tasks (pipeline x source partition) stopped by an operator error (a state backend failure) until a restart.",
      MetricType::Gauge);
  for (size_t i = 0; i < pipelines_.size(); ++i) {
    uint64_t v = 0;
    for (const auto& sh : shards_) v += sh->metrics().tasks_failed[i].Get();
    ex.AddValue({{"pipeline", pipelines_[i]->logical().name}}, static_cast<double>(v));
  }
  ex.Family("impulse_pipeline_resets_total",
            "Online resets of the pipeline committed since the engine started (POST /v1/pipelines/{p}/reset).",
            MetricType::Counter);
  for (size_t i = 0; i < pipelines_.size(); ++i) {
    ex.AddValue({{"pipeline", pipelines_[i]->logical().name}}, static_cast<double>(pipeline_resets_[i].Get()));
  }
  if (!plan_.feature_views.empty()) {
    ex.Family("impulse_feature_entities", "Entities with online values per feature view.", MetricType::Gauge);
    for (const auto& v : plan_.feature_views) {
      ex.AddValue({{"view", v->name}}, static_cast<double>(online_store(v->name)->size()));
    }
    ex.Family(
        "impulse_feature_lookups_total",
        "Online feature lookups by result (hit, miss: unknown entity or bad key, expired: older than the view's ttl).",
        MetricType::Counter);
    static constexpr const char* kResults[] = {"hit", "miss", "expired"};
    for (size_t i = 0; i < 3; ++i) {
      ex.AddValue({{"result", kResults[i]}}, static_cast<double>(feature_lookups_[i].load(std::memory_order_relaxed)));
    }
  }
  ex.Family("impulse_pipeline_watermark_ms", "Smallest event-time watermark of a pipeline's tasks (ms since epoch).",
            MetricType::Gauge);
  for (size_t i = 0; i < pipelines_.size(); ++i) {
    int64_t m = INT64_MAX;
    for (const auto& sh : shards_) {
      const int64_t w = sh->pipeline_watermark[i].load(std::memory_order_relaxed);
      if (w != INT64_MIN) m = std::min(m, w);
    }
    if (m != INT64_MAX) ex.AddValue({{"pipeline", pipelines_[i]->logical().name}}, static_cast<double>(m));
  }
  {
    // Operator state, summed over shards (refreshed at checkpoints and every 10 s).
    std::map<std::pair<std::string, std::string>, plan::OperatorStats> ops;
    for (const auto& sh : shards_) {
      std::lock_guard<std::mutex> lock(sh->stats_mu);
      for (size_t i = 0; i < sh->op_stats.size(); ++i) {
        for (const auto& [label, st] : sh->op_stats[i]) {
          ops[{pipelines_[i]->logical().name, label}] += st;
        }
      }
    }
    ex.Family("impulse_operator_state_entries", "Live state entries of a stateful operator.", MetricType::Gauge);
    for (const auto& [k, o] : ops)
      ex.AddValue({{"pipeline", k.first}, {"operator", k.second}}, static_cast<double>(o.entries));
    ex.Family("impulse_operator_state_bytes", "Approximate memory of a stateful operator's state.", MetricType::Gauge);
    for (const auto& [k, o] : ops)
      ex.AddValue({{"pipeline", k.first}, {"operator", k.second}}, static_cast<double>(o.state_bytes));
    ex.Family(
        "impulse_operator_events_total",
        "Events a stateful operator did not pass on, by kind: late, state_limit, duplicate; and expired state entries.",
        MetricType::Counter);
    for (const auto& [k, o] : ops) {
      ex.AddValue({{"pipeline", k.first}, {"operator", k.second}, {"kind", "late"}},
                  static_cast<double>(o.late_events));
      ex.AddValue({{"pipeline", k.first}, {"operator", k.second}, {"kind", "state_limit"}},
                  static_cast<double>(o.limit_dropped));
      ex.AddValue({{"pipeline", k.first}, {"operator", k.second}, {"kind", "duplicate"}},
                  static_cast<double>(o.duplicates));
      ex.AddValue({{"pipeline", k.first}, {"operator", k.second}, {"kind", "expired"}}, static_cast<double>(o.expired));
    }
    ex.Family("impulse_predict_rows_total",
              "Rows of a predict step (of a rank step: candidate rows): scored, or unscored (no usable model version; "
              "passed on with null scores).",
              MetricType::Counter);
    for (const auto& [k, o] : ops) {
      if (o.scored + o.unscored == 0) continue;
      ex.AddValue({{"pipeline", k.first}, {"operator", k.second}, {"result", "scored"}}, static_cast<double>(o.scored));
      ex.AddValue({{"pipeline", k.first}, {"operator", k.second}, {"result", "unscored"}},
                  static_cast<double>(o.unscored));
    }
    ex.Family("impulse_trigger_firings_total",
              "Firings of a trigger step (rows whose condition held outside the cooldown); suppressed rows are "
              "impulse_operator_events_total{kind=\"duplicate\"}.",
              MetricType::Counter);
    for (const auto& [k, o] : ops) {
      if (o.fired > 0) ex.AddValue({{"pipeline", k.first}, {"operator", k.second}}, static_cast<double>(o.fired));
    }
    ex.Family("impulse_features_reordered_total",
              "Events of an on-arrival feature view that arrived after a later event of their entity (within the "
              "allowed lateness): computed by a scan of the entity's buffered rows.",
              MetricType::Counter);
    for (const auto& [k, o] : ops) {
      if (o.reordered > 0)
        ex.AddValue({{"pipeline", k.first}, {"operator", k.second}}, static_cast<double>(o.reordered));
    }
  }
  ex.Family("impulse_checkpoints_total", "Checkpoints by result.", MetricType::Counter);
  ex.AddValue({{"result", "completed"}}, static_cast<double>(checkpoints_completed.Get()));
  ex.AddValue({{"result", "failed"}}, static_cast<double>(checkpoints_failed.Get()));
  if (member()) {
    ex.Family("impulse_member_snapshots_failed_total",
              "Committed checkpoints of a group member whose snapshot could not be taken (too large, a read error).",
              MetricType::Counter);
    ex.AddValue({}, static_cast<double>(member_snapshots_failed.Get()));
  }
  ex.Family("impulse_checkpoint_last_id", "Id of the newest complete checkpoint (-1: none).", MetricType::Gauge);
  ex.AddValue({}, static_cast<double>(last_checkpoint_id.load(std::memory_order_relaxed)));
  ex.Family("impulse_checkpoint_last_completed_seconds",
            "When the newest complete checkpoint committed (seconds since the epoch; 0: none since the start).",
            MetricType::Gauge);
  ex.AddValue({}, static_cast<double>(last_checkpoint_unix_ms.load(std::memory_order_relaxed)) / 1e3);
  ex.Family("impulse_checkpoint_last_duration_seconds", "Begin to commit of the newest complete checkpoint.",
            MetricType::Gauge);
  ex.AddValue({}, static_cast<double>(last_checkpoint_duration_ns.load(std::memory_order_relaxed)) / 1e9);
  ex.Family("impulse_checkpoint_last_pause_seconds", "Pipelines paused by the newest complete checkpoint.",
            MetricType::Gauge);
  ex.AddValue({}, static_cast<double>(last_checkpoint_pause_ns.load(std::memory_order_relaxed)) / 1e9);
  ex.Family("impulse_checkpoint_last_bytes", "Operator state bytes written by the newest complete checkpoint.",
            MetricType::Gauge);
  ex.AddValue({}, static_cast<double>(last_checkpoint_bytes.load(std::memory_order_relaxed)));
  AppendProcessMetrics(&ex);

  ex.Family("impulse_shard_cycles_total", "Shard loop iterations (an idle shard makes about one a second).",
            MetricType::Counter);
  for (uint32_t s = 0; s < shards_.size(); ++s) {
    ex.AddValue({{"shard", std::to_string(s)}}, static_cast<double>(shards_[s]->metrics().cycles.Get()));
  }

  ex.Family("impulse_stage_latency_seconds",
            "Latency per stage: ingest_to_durable (request receipt to acknowledgement), "
            "ingest_to_output (request receipt to pipeline output), pipeline_batch (one batch), log_fsync (one "
            "partition's flush + fdatasync in a shard's group commit: durability sync and group), checkpoint_pause, "
            "checkpoint_duration.",
            MetricType::Histogram);
  LatencyHistogram::Snapshot durable, output, batch, fsync;
  for (const auto& sh : shards_) {
    durable.Add(sh->metrics().ingest_to_durable.Read());
    output.Add(sh->metrics().ingest_to_output.Read());
    batch.Add(sh->metrics().pipeline_batch.Read());
    fsync.Add(sh->metrics().log_fsync.Read());
  }
  ex.AddHistogram({{"stage", "ingest_to_durable"}}, durable);
  ex.AddHistogram({{"stage", "ingest_to_output"}}, output);
  ex.AddHistogram({{"stage", "pipeline_batch"}}, batch);
  ex.AddHistogram({{"stage", "log_fsync"}}, fsync);
  ex.AddHistogram({{"stage", "checkpoint_pause"}}, checkpoint_pause.Read());
  ex.AddHistogram({{"stage", "checkpoint_duration"}}, checkpoint_duration.Read());
  if (dispatcher_) dispatcher_->AppendMetrics(&ex);
  if (connectors_) {
    std::map<std::string, std::vector<connect::MetricSample>> families;
    for (connect::MetricSample& m : connectors_->Metrics()) families[m.family].push_back(std::move(m));
    for (const auto& [name, samples] : families) {
      ex.Family(name, samples.front().help, samples.front().counter ? MetricType::Counter : MetricType::Gauge);
      for (const connect::MetricSample& m : samples) ex.AddValue(m.labels, m.value);
    }
  }
  return ex.Serialize();
}

std::vector<StageLatency> EngineImpl::StageLatencies() const {
  constexpr int kStages = 5;
  LatencyHistogram::Snapshot snaps[kStages];
  for (const auto& sh : shards_) {
    snaps[0].Add(sh->metrics().ingest_to_durable.Read());
    snaps[1].Add(sh->metrics().ingest_to_output.Read());
    snaps[2].Add(sh->metrics().pipeline_batch.Read());
    snaps[4].Add(sh->metrics().log_fsync.Read());
  }
  snaps[3].Add(checkpoint_pause.Read());
  const char* names[kStages] = {"ingest_to_durable", "ingest_to_output", "pipeline_batch", "checkpoint_pause",
                                "log_fsync"};
  std::vector<StageLatency> out;
  out.reserve(kStages);
  for (int i = 0; i < kStages; ++i) {
    out.push_back(
        {names[i], snaps[i].total(), snaps[i].QuantileUs(0.5), snaps[i].QuantileUs(0.99), snaps[i].QuantileUs(0.999)});
  }
  return out;
}

}  // namespace impulse::runtime
