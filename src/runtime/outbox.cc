#include "runtime/outbox.h"
#include "common/logger.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "event/row_codec.h"
#include "runtime/engine_impl.h"
#include "runtime/exposition.h"

namespace impulse::runtime {

// Outbox columns (OutboxStreamDef).
enum OutboxField { kFiringId = 0, kRule, kAction, kPipeline, kPayload, kEventId, kEventTime, kFiredAt };

struct OutboxDispatcher::Lane {
  const plan::ActionDef* def = nullptr;
  std::unique_ptr<action::Executor> exec;
  std::string cursor_path;
  int answer_stream = -1;   // agent: where answers go
  uint64_t next = 0;        // next outbox offset to read
  std::set<uint64_t> open;  // handed to the executor (or its outcome being recorded), not done
  // A firing the executor refused (queue full); re-read from the log and offered first.
  std::optional<uint64_t> held;
  bool blocked = false;  // the executor refused `held`; nothing to try until one of its outcomes
  // Outcome records (dead letters, answers) issued or waiting to be retried, not yet durable.
  // Bounded (kLaneWritesMax): the lane reads no further while the engine refuses them.
  uint32_t writes = 0;
  uint64_t persisted = UINT64_MAX;
  // The first dead letter of the lane is logged at warn, the others at debug (a dead endpoint
  // would otherwise write a line per firing); the count is impulse_action_dead_lettered_total.
  bool dead_letter_logged = false;
  // Metrics: written by the dispatcher thread, read at scrape time.
  Counter delivered, dead_lettered, skipped, answers;
  LatencyHistogram latency;  // Submit to outcome, delivered firings
  std::atomic<uint64_t> open_count{0};
  std::atomic<uint64_t> next_offset{0};
};

OutboxDispatcher::OutboxDispatcher(EngineImpl* engine, uint32_t outbox, Options options)
    : engine_(engine), outbox_(outbox), options_(options) {}

OutboxDispatcher::~OutboxDispatcher() { Stop(); }

Result<std::unique_ptr<OutboxDispatcher>> OutboxDispatcher::Create(EngineImpl* engine, const plan::LogicalPlan& plan,
                                                                   uint32_t outbox, Options options) {
  std::unique_ptr<OutboxDispatcher> d(new OutboxDispatcher(engine, outbox, options));
  ASSIGN_OR_RETURN(d->runtime_, action::ActionRuntime::Create(1, engine->clock()));
  const int dl = engine->StreamIndex(kActionDeadLetterStream);
  if (dl < 0) return Internal("outbox: the " + std::string(kActionDeadLetterStream) + " stream is missing");
  d->dead_letter_stream_ = static_cast<uint32_t>(dl);
  const std::string dir = engine->options().data_dir + "/outbox";
  RETURN_IF_ERROR(engine->env()->CreateDirs(dir));
  for (const plan::ActionDef& a : plan.actions) {
    auto lane = std::make_unique<Lane>();
    lane->def = &a;
    lane->cursor_path = dir + "/" + a.name + ".cursor";
    if (a.kind == plan::ActionDef::Kind::kWebhook) {
      ASSIGN_OR_RETURN(lane->exec, d->runtime_->NewWebhook(a.webhook));
    } else {
      ASSIGN_OR_RETURN(lane->exec, d->runtime_->NewAgent(a.agent));
      lane->answer_stream = engine->StreamIndex(a.output_stream);
      if (lane->answer_stream < 0)
        return Internal("action " + a.name + ": answer stream " + a.output_stream + " missing");
    }
    d->lanes_.push_back(std::move(lane));
  }
  d->row_.Reset(engine->stream(outbox).def.schema.size());
  return d;
}

Status OutboxDispatcher::LoadCursors() {
  const log::PartitionLog& log = *engine_->stream(outbox_).partitions[0];
  for (auto& lane : lanes_) {
    uint64_t cursor = 0;
    if (engine_->env()->FileExists(lane->cursor_path)) {
      ASSIGN_OR_RETURN(std::string text, engine_->env()->ReadFile(lane->cursor_path));
      char* end = nullptr;
      cursor = std::strtoull(text.c_str(), &end, 10);
      if (text.empty() || end == text.c_str()) {
        return DataLoss("outbox cursor " + lane->cursor_path + " is not a number: '" + text + "'");
      }
    }
    // Recovery may have truncated the outbox back to a checkpoint; what is past its end is
    // recomputed by replay and must be delivered again (same ids).
    lane->next = std::clamp(cursor, log.start_offset(), log.end_offset());
    lane->persisted = cursor;
    lane->next_offset.store(lane->next, std::memory_order_relaxed);
  }
  // A cursor without an action: the action was removed from the spec while firings for it may
  // still be pending. They are not delivered; say so rather than drop them silently.
  const std::string dir = engine_->options().data_dir + "/outbox";
  ASSIGN_OR_RETURN(std::vector<std::string> names, engine_->env()->ListDir(dir));
  for (const std::string& name : names) {
    constexpr std::string_view kSuffix = ".cursor";
    if (name.size() <= kSuffix.size() || name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    const std::string action = name.substr(0, name.size() - kSuffix.size());
    if (HasLane(action)) continue;
    ASSIGN_OR_RETURN(std::string text, engine_->env()->ReadFile(dir + "/" + name));
    const uint64_t cursor = std::strtoull(text.c_str(), nullptr, 10);
    if (cursor < log.end_offset()) {
      LogWarn("action_unknown",
              "outbox: action '" + action + "' is no longer in the spec; outbox rows " + std::to_string(cursor) + ".." +
                  std::to_string(log.end_offset()) +
                  " may hold firings for it that will not be delivered "
                  "(impulse_outbox_errors_total{kind=\"unknown_action\"})",
              {{"action", action}, {"from_offset", cursor}, {"end_offset", log.end_offset()}});
      unknown_action_.Add(1);
    }
  }
  return Status::OK();
}

void OutboxDispatcher::Start() {
  last_persist_ms_ = engine_->clock()->NowMs();
  {
    std::lock_guard<std::mutex> l(mu_);
    notified_ = true;  // deliver the backlog
  }
  thread_ = std::thread([this] { Run(); });
}

void OutboxDispatcher::Notify() {
  {
    std::lock_guard<std::mutex> l(mu_);
    notified_ = true;
  }
  cv_.notify_one();
}

void OutboxDispatcher::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return;
    stopped_ = true;
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (runtime_) runtime_->Stop();
}

uint64_t OutboxDispatcher::ProcessableEnd() const {
  const log::PartitionLog& l = *engine_->stream(outbox_).partitions[0];
  return engine_->options().durability == Durability::kNone ? l.end_offset() : l.durable_offset();
}

uint64_t OutboxDispatcher::LowWater(const Lane& lane) const {
  uint64_t low = lane.next;
  if (!lane.open.empty()) low = std::min(low, *lane.open.begin());
  if (lane.held) low = std::min(low, *lane.held);
  return low;
}

void OutboxDispatcher::Run() {
  bool stopping = false;
  while (true) {
    std::vector<Completion> completions;
    std::vector<Ack> acks;
    {
      std::unique_lock<std::mutex> l(mu_);
      auto ready = [&] { return notified_ || stop_ || !completions_.empty() || !acks_.empty(); };
      bool persist_due = false;
      for (const auto& lane : lanes_) persist_due = persist_due || LowWater(*lane) != lane->persisted;
      if (!retry_writes_.empty()) {
        cv_.wait_for(l, std::chrono::milliseconds(options_.write_retry_ms), ready);
      } else if (persist_due) {
        cv_.wait_for(l, std::chrono::milliseconds(options_.persist_interval_ms), ready);
      } else {
        cv_.wait(l, ready);
      }
      notified_ = false;
      stopping = stop_;
      completions.swap(completions_);
      acks.swap(acks_);
    }
    // Collected before a stop or not, these are recorded (the stop path below waits for the
    // writes they start).
    for (Ack& a : acks) {
      --writes_outstanding_;
      --lanes_[a.write->lane]->writes;
      if (a.status.ok()) {
        Done(*lanes_[a.write->lane], a.write->offset);
      } else {
        write_failures_.Add(1);
        ++lanes_[a.write->lane]->writes;
        retry_writes_.push_back(std::move(a.write));
      }
    }
    for (const Completion& c : completions) HandleCompletion(c);
    if (stopping) break;
    for (size_t n = retry_writes_.size(); n > 0; --n) {
      std::shared_ptr<Write> w = std::move(retry_writes_.front());
      retry_writes_.pop_front();
      --lanes_[w->lane]->writes;
      IssueWrite(std::move(w));
    }
    for (size_t i = 0; i < lanes_.size(); ++i) Pump(*lanes_[i], i);
    PersistCursors(/*force=*/false);
  }

  // Stopping: calls in flight end kSkipped ("stopped") and stay pending; outcomes that are
  // already final are recorded while the engine still accepts writes.
  runtime_->Stop();
  const int64_t deadline = engine_->clock()->NowMs() + options_.stop_timeout_ms;
  while (true) {
    std::vector<Completion> completions;
    std::vector<Ack> acks;
    {
      std::unique_lock<std::mutex> l(mu_);
      completions.swap(completions_);
      acks.swap(acks_);
    }
    for (Ack& a : acks) {
      --writes_outstanding_;
      --lanes_[a.write->lane]->writes;
      if (a.status.ok()) Done(*lanes_[a.write->lane], a.write->offset);
    }
    for (const Completion& c : completions) HandleCompletion(c);
    for (size_t n = retry_writes_.size(); n > 0; --n) {
      std::shared_ptr<Write> w = std::move(retry_writes_.front());
      retry_writes_.pop_front();
      --lanes_[w->lane]->writes;
      IssueWrite(std::move(w));
    }
    if (writes_outstanding_ == 0 && retry_writes_.empty()) break;
    if (engine_->clock()->NowMs() > deadline) {
      const uint64_t pending = writes_outstanding_ + retry_writes_.size();
      LogWarn("stop",
              "outbox: " + std::to_string(pending) +
                  " outcome records not durable at stop; their firings are re-sent at the next start",
              {{"outcome_records", pending}});
      break;
    }
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(options_.write_retry_ms),
                 [&] { return !completions_.empty() || !acks_.empty(); });
  }
  PersistCursors(/*force=*/true);
}

void OutboxDispatcher::Pump(Lane& lane, size_t index) {
  if (lane.blocked) return;                             // re-reading before an outcome frees room would only burn CPU
  if (lane.writes >= options_.lane_writes_max) return;  // outcome records back up: wait for them
  const uint64_t end = ProcessableEnd();
  const Schema& schema = engine_->stream(outbox_).def.schema;
  const log::PartitionLog& log = *engine_->stream(outbox_).partitions[0];
  auto offer = [&](uint64_t off, const Value* r) {
    auto info = std::make_shared<FiringInfo>();
    info->id = std::string(r[kFiringId].sv());
    info->rule = std::string(r[kRule].sv());
    info->event_id = std::string(r[kEventId].sv());
    info->payload = std::string(r[kPayload].sv());
    info->event_time_ms = r[kEventTime].i64;
    action::Firing f;
    f.id = info->id;
    f.action = lane.def->name;
    f.payload = info->payload;
    f.event_time_ms = r[kEventTime].i64;
    f.fired_at_ms = r[kFiredAt].i64;
    const bool ok = lane.exec->Submit(std::move(f), [this, index, off, info](action::Outcome o) {
      {
        std::lock_guard<std::mutex> l(mu_);
        completions_.push_back({index, off, info, std::move(o)});
      }
      cv_.notify_one();
    });
    if (ok) {
      lane.open.insert(off);
      lane.open_count.store(lane.open.size(), std::memory_order_relaxed);
    }
    return ok;
  };
  // The held record is re-read from the log (bounded: one record) rather than kept decoded.
  // `held` stays set until the read gets past it, so a failed read cannot lose it.
  const uint64_t from = lane.held ? *lane.held : lane.next;
  uint64_t pos = from;
  while (pos < end) {
    records_.clear();
    storage_.clear();
    Status st = log.Read(pos, options_.read_batch_records, 1u << 20, &records_, &storage_);
    if (st.code() == StatusCode::kOutOfRange) {
      // Retention removed records before they were delivered: say so, count them, go on.
      const uint64_t start = log.start_offset();
      LogError("action_records_lost",
               "outbox: action " + lane.def->name + ": records " + std::to_string(pos) + ".." + std::to_string(start) +
                   " were deleted by retention before delivery",
               {{"action", lane.def->name}, {"from", pos}, {"to", start}});
      read_errors_.Add(start > pos ? start - pos : 1);
      pos = std::max(start, pos + 1);
      continue;
    }
    if (!st.ok()) {
      read_errors_.Add(1);
      LogError("action_read_error", "outbox: action " + lane.def->name + ": " + st.ToString(),
               {{"action", lane.def->name}, {"error", st.ToString()}});
      break;  // retried at the next wake-up
    }
    if (records_.empty()) break;
    for (const log::Record& rec : records_) {
      if (IsControlRecord(rec.payload)) {
        pos = rec.offset + 1;
        continue;
      }
      row_.Clear();
      if (!DecodeRow(schema, rec.payload, &row_).ok()) {
        record_errors_.Add(1);
        pos = rec.offset + 1;
        continue;
      }
      const Value* r = row_.row(0);
      if (r[kAction].sv() != lane.def->name) {
        // Lane 0 also notices rows no lane will take (an action removed from the spec since).
        if (index == 0 && !HasLane(r[kAction].sv())) {
          if (unknown_action_.Get() == 0) {
            LogWarn("action_unknown",
                    "outbox: firing " + std::string(r[kFiringId].sv()) + " names action '" +
                        std::string(r[kAction].sv()) +
                        "', which the spec no longer has; skipped (counted in "
                        "impulse_outbox_errors_total{kind=\"unknown_action\"})",
                    {{"action", r[kAction].sv()}, {"firing", r[kFiringId].sv()}});
          }
          unknown_action_.Add(1);
        }
        pos = rec.offset + 1;
        continue;
      }
      if (!offer(rec.offset, r)) {
        // The executor's queue is full: this firing waits on disk until an outcome frees room.
        lane.held = rec.offset;
        lane.blocked = true;
        lane.next = std::max(lane.next, rec.offset + 1);
        lane.next_offset.store(lane.next, std::memory_order_relaxed);
        return;
      }
      pos = rec.offset + 1;
      lane.next = std::max(lane.next, pos);
      if (lane.held && pos > *lane.held) lane.held.reset();
    }
  }
  lane.next = std::max(lane.next, pos);
  if (lane.held && pos > *lane.held) lane.held.reset();
  lane.next_offset.store(lane.next, std::memory_order_relaxed);
}

bool OutboxDispatcher::HasLane(std::string_view action) const {
  for (const auto& lane : lanes_) {
    if (lane->def->name == action) return true;
  }
  return false;
}

void OutboxDispatcher::HandleCompletion(const Completion& c) {
  Lane& lane = *lanes_[c.lane];
  lane.blocked = false;  // the executor has room again
  const action::Outcome& o = c.outcome;
  const int64_t now_ms = engine_->clock()->NowMs();
  auto write = std::make_shared<Write>();
  write->lane = c.lane;
  write->offset = c.offset;
  write->event_time_ms = c.info->event_time_ms;
  switch (o.kind) {
    case action::Outcome::Kind::kDelivered:
      lane.delivered.Add(1);
      lane.latency.Record(o.latency_ns);
      if (lane.answer_stream < 0) {
        Done(lane, c.offset);
        return;
      }
      lane.answers.Add(1);
      write->stream = static_cast<uint32_t>(lane.answer_stream);
      write->strings = {c.info->id, c.info->rule, lane.def->name, c.info->event_id, o.response};
      write->ints = {c.info->event_time_ms, now_ms};
      break;
    case action::Outcome::Kind::kSkipped:
      if (o.error.rfind("stale", 0) != 0) {
        // Cancelled by a stop: not an outcome. The firing stays pending and is re-sent at the
        // next start.
        return;
      }
      lane.skipped.Add(1);
      [[fallthrough]];
    case action::Outcome::Kind::kDeadLetter:
      if (o.kind == action::Outcome::Kind::kDeadLetter) lane.dead_lettered.Add(1);
      Log(lane.dead_letter_logged ? LogLevel::kDebug : LogLevel::kWarn, "action_dead_letter",
          "action " + lane.def->name + " (rule " + c.info->rule + "): firing " + c.info->id +
              (o.kind == action::Outcome::Kind::kDeadLetter ? " dead-lettered" : " skipped") + " after " +
              std::to_string(o.attempts) + " attempt(s): " + o.error +
              (lane.dead_letter_logged ? "" : " (later ones at debug level; see _action_dead_letter)"),
          {{"action", lane.def->name},
           {"rule", c.info->rule},
           {"firing", c.info->id},
           {"outcome", o.kind == action::Outcome::Kind::kDeadLetter ? "dead_letter" : "skipped"},
           {"attempts", o.attempts},
           {"http_status", o.http_status},
           {"error", o.error}});
      lane.dead_letter_logged = true;
      write->stream = dead_letter_stream_;
      write->strings = {c.info->id,
                        c.info->rule,
                        lane.def->name,
                        c.info->payload,
                        o.kind == action::Outcome::Kind::kDeadLetter ? "dead_letter" : "skipped",
                        o.error};
      write->ints = {o.attempts, o.http_status, c.info->event_time_ms, now_ms};
      break;
  }
  IssueWrite(std::move(write));
}

void OutboxDispatcher::IssueWrite(std::shared_ptr<Write> w) {
  ++lanes_[w->lane]->writes;  // until acknowledged durable
  const StreamDef& def = engine_->stream(w->stream).def;
  RowBatch rows(def.schema.size());
  Value* v = rows.AppendRow();
  size_t f = 0;
  for (const std::string& s : w->strings) v[f++] = Value::String(s);
  for (int64_t i : w->ints) v[f++] = Value::Int(i);
  rows.meta(0).event_time_ms = w->event_time_ms;
  Status st = engine_->IngestInternal(w->stream, rows, [this, w](Status s, const IngestResult&) {
    {
      std::lock_guard<std::mutex> l(mu_);
      acks_.push_back({std::move(s), w});
    }
    cv_.notify_one();
  });
  if (st.ok()) {
    ++writes_outstanding_;
  } else {
    // Backpressure (or stopping): the firing stays pending; retried shortly.
    write_failures_.Add(1);
    retry_writes_.push_back(std::move(w));
  }
}

void OutboxDispatcher::Done(Lane& lane, uint64_t offset) {
  lane.open.erase(offset);
  lane.open_count.store(lane.open.size(), std::memory_order_relaxed);
}

void OutboxDispatcher::PersistCursors(bool force) {
  const int64_t now = engine_->clock()->NowMs();
  if (!force && now - last_persist_ms_ < options_.persist_interval_ms) return;
  last_persist_ms_ = now;
  for (auto& lane : lanes_) {
    const uint64_t low = LowWater(*lane);
    if (low == lane->persisted) continue;
    if (engine_->env()->WriteFileAtomic(lane->cursor_path, std::to_string(low)).ok()) {
      lane->persisted = low;
    } else {
      write_failures_.Add(1);
    }
  }
}

void OutboxDispatcher::AppendMetrics(Exposition* ex) const {
  const uint64_t end = ProcessableEnd();
  using prometheus::MetricType;
  auto per_lane = [&](const char* name, const char* help, MetricType type, auto value) {
    ex->Family(name, help, type);
    for (const auto& lane : lanes_) {
      ex->AddValue({{"action", lane->def->name}}, static_cast<double>(value(*lane)));
    }
  };
  per_lane("impulse_action_pending",
           "Firings of the action handed to its executor and not done, plus outbox records it has not read yet "
           "(those may belong to other actions).",
           MetricType::Gauge, [&](const Lane& l) {
             const uint64_t next = l.next_offset.load(std::memory_order_relaxed);
             return l.open_count.load(std::memory_order_relaxed) + (end > next ? end - next : 0);
           });
  per_lane("impulse_action_inflight", "Firings handed to the executor and not done (calls, queue, outcome writes).",
           MetricType::Gauge, [](const Lane& l) { return l.open_count.load(std::memory_order_relaxed); });
  ex->Family("impulse_action_calls", "Calls of the action's executor: active (attempting or backing off) and queued.",
             MetricType::Gauge);
  for (const auto& lane : lanes_) {
    const action::ExecutorStats st = lane->exec->stats();
    ex->AddValue({{"action", lane->def->name}, {"state", "active"}}, static_cast<double>(st.inflight));
    ex->AddValue({{"action", lane->def->name}, {"state", "queued"}}, static_cast<double>(st.queued));
  }
  per_lane("impulse_action_attempts_total", "HTTP attempts of the action.", MetricType::Counter,
           [](const Lane& l) { return l.exec->stats().attempts; });
  per_lane("impulse_action_failures_total", "Attempts that did not succeed (error, timeout, non-2xx).",
           MetricType::Counter, [](const Lane& l) { return l.exec->stats().failures; });
  per_lane("impulse_action_retries_total", "Attempts after the first.", MetricType::Counter,
           [](const Lane& l) { return l.exec->stats().retries; });
  per_lane("impulse_action_delivered_total", "Firings delivered (2xx).", MetricType::Counter,
           [](const Lane& l) { return l.delivered.Get(); });
  per_lane("impulse_action_dead_lettered_total", "Firings written to _action_dead_letter after the retry budget.",
           MetricType::Counter, [](const Lane& l) { return l.dead_lettered.Get(); });
  per_lane("impulse_action_skipped_total", "Firings skipped as stale (agent max_event_age), dead-lettered.",
           MetricType::Counter, [](const Lane& l) { return l.skipped.Get(); });
  per_lane("impulse_action_breaker_open", "1 while the action's circuit breaker is open.", MetricType::Gauge,
           [](const Lane& l) { return l.exec->stats().breaker_open ? 1 : 0; });
  per_lane("impulse_action_rate_limited_total", "Agent calls that waited for the requests/tokens per minute budget.",
           MetricType::Counter, [](const Lane& l) { return l.exec->stats().rate_limited; });
  ex->Family("impulse_action_latency_seconds", "Delivered firings: handed to the executor to a 2xx answer.",
             MetricType::Histogram);
  for (const auto& lane : lanes_) ex->AddHistogram({{"action", lane->def->name}}, lane->latency.Read());
  ex->Family("impulse_outbox_errors_total", "Outbox problems: undecodable records, read errors, failed writes.",
             MetricType::Counter);
  ex->AddValue({{"kind", "record"}}, static_cast<double>(record_errors_.Get()));
  ex->AddValue({{"kind", "unknown_action"}}, static_cast<double>(unknown_action_.Get()));
  ex->AddValue({{"kind", "read"}}, static_cast<double>(read_errors_.Get()));
  ex->AddValue({{"kind", "write"}}, static_cast<double>(write_failures_.Get()));
}

}  // namespace impulse::runtime
