#include "runtime/decide.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "event/json_writer.h"
#include "event/key_hash.h"

namespace impulse::runtime {

struct DecideCall {
  uint32_t pipeline = 0;
  int output_field = -1;
  uint32_t timeout_ms = 0;
  Engine::DecideCallback done;
  std::mutex mu;  // guards everything below (per call, never per event of other calls)
  DecideResult result;
  std::vector<uint32_t> slot_event;  // waiter slot -> index in result.events
  std::vector<std::string> slot_key;
  std::vector<uint8_t> slot_delivered;
  uint32_t remaining = 0;  // slots not delivered
  bool ingest_done = false;
  bool expired = false;
  bool finished = false;
  Status status;
  // Guarded by DecisionWaiters::timer_mu_: the call's entry in the timer map.
  bool timer_set = false;
  std::multimap<std::chrono::steady_clock::time_point, std::weak_ptr<DecideCall>>::iterator timer_it;
};

namespace {

std::string FieldList(const Schema& schema) {
  std::string s;
  for (const Field& f : schema.fields()) s.append(s.empty() ? "" : ", ").append(f.name);
  return s;
}

}  // namespace

Result<DecideTarget> ResolveDecideTarget(const plan::LogicalPlan& plan, const StreamDef& stream,
                                         const DecideOptions& options) {
  const plan::LogicalPipeline* pipe = nullptr;
  uint32_t index = 0;
  std::string names;
  for (size_t i = 0; i < plan.pipelines.size(); ++i) {
    names.append(names.empty() ? "" : ", ").append(plan.pipelines[i].name);
    if (plan.pipelines[i].name == options.pipeline) {
      pipe = &plan.pipelines[i];
      index = static_cast<uint32_t>(i);
    }
  }
  if (pipe == nullptr) {
    return InvalidArgument("decide: unknown pipeline '" + options.pipeline +
                           "' (pipelines: " + (names.empty() ? "none" : names) + ")");
  }
  if (options.timeout_ms > DecideOptions::kDecideTimeoutMaxMs) {
    return InvalidArgument("decide: timeout_ms " + std::to_string(options.timeout_ms) + " is over the maximum " +
                           std::to_string(DecideOptions::kDecideTimeoutMaxMs));
  }
  // Streams fed by `stream`: pipelines come in dependency order, so one pass finds the chain.
  std::set<std::string> fed = {stream.name};
  bool reads = false;
  for (const plan::LogicalPipeline& p : plan.pipelines) {
    if (fed.count(p.source) == 0 && (p.second_source.empty() || fed.count(p.second_source) == 0)) continue;
    if (&p == pipe) reads = true;
    if (p.sink.kind == plan::SinkDef::Kind::kStream) fed.insert(p.sink.target);
  }
  if (!reads) {
    return InvalidArgument("decide: pipeline '" + pipe->name + "' reads stream '" + pipe->source +
                           "', which no pipeline chain from stream '" + stream.name +
                           "' writes: its output can never hold a decision for these events");
  }
  const Schema& out = pipe->output.schema;
  DecideTarget t;
  t.pipeline = index;
  std::string id = options.id_field;
  if (id.empty()) {
    // The pipeline's own event id: a trigger's (its firing ids), else a predict step's.
    std::vector<std::string> candidates;
    for (const plan::LogicalOp& op : pipe->ops) {
      if (op.kind == plan::LogicalOp::Kind::kTrigger && op.trigger->event_id_field >= 0)
        candidates.push_back(op.input.field(static_cast<size_t>(op.trigger->event_id_field)).name);
    }
    for (const plan::LogicalOp& op : pipe->ops) {
      if (op.kind == plan::LogicalOp::Kind::kPredict && op.predict->event_id_field >= 0)
        candidates.push_back(op.input.field(static_cast<size_t>(op.predict->event_id_field)).name);
    }
    for (const std::string& c : candidates) {
      const int in = stream.schema.FieldIndex(c);
      const int o = out.FieldIndex(c);
      if (in >= 0 && o >= 0 && stream.schema.field(in).type == out.field(o).type) {
        id = c;
        break;
      }
    }
    if (id.empty()) {
      std::string both;
      for (const Field& f : stream.schema.fields()) {
        const int o = out.FieldIndex(f.name);
        if (o >= 0 && out.field(o).type == f.type) both.append(both.empty() ? "" : ", ").append(f.name);
      }
      return InvalidArgument("decide: name the id field (id=...): pipeline '" + pipe->name +
                             "' has no trigger or predict event_id that stream '" + stream.name +
                             "' and its output both carry; fields in both: " + (both.empty() ? "none" : both));
    }
  }
  const int in = stream.schema.FieldIndex(id);
  if (in < 0) {
    return InvalidArgument("decide: id field '" + id + "' is not a field of stream '" + stream.name +
                           "' (fields: " + FieldList(stream.schema) + ")");
  }
  const int o = out.FieldIndex(id);
  if (o < 0) {
    return InvalidArgument("decide: id field '" + id + "' is not in the output of pipeline '" + pipe->name +
                           "' (fields: " + FieldList(out) + "), so its rows cannot be matched to the events");
  }
  if (stream.schema.field(in).type != out.field(o).type) {
    return InvalidArgument("decide: id field '" + id + "' is " +
                           std::string(FieldTypeName(stream.schema.field(in).type)) + " in stream '" + stream.name +
                           "' but " + std::string(FieldTypeName(out.field(o).type)) + " in the output of pipeline '" +
                           pipe->name + "'");
  }
  t.input_field = in;
  t.output_field = o;
  t.type = out.field(o).type;
  t.id_field = id;
  return t;
}

void AppendIdText(const Value& v, FieldType type, std::string* out) {
  switch (type) {
    case FieldType::kString: out->append(v.sv()); break;
    case FieldType::kDouble: AppendJsonDouble(v.f64, out); break;
    case FieldType::kBool: out->append(v.b ? "true" : "false"); break;
    default: out->append(std::to_string(v.i64)); break;
  }
}

std::vector<LateRoute> LateRoutes(const plan::LogicalPlan& plan) {
  using Kind = plan::LogicalOp::Kind;
  const auto& pipes = plan.pipelines;
  std::vector<LateRoute> routes(pipes.size());
  for (uint32_t d = 0; d < pipes.size(); ++d) {
    // Up from D while its input has exactly one writer; a join ends the walk.
    for (uint32_t cur = d;;) {
      if (!pipes[cur].second_source.empty()) break;
      routes[cur].targets.push_back(d);
      uint32_t writers = 0;
      uint32_t writer = 0;
      for (uint32_t w = 0; w < pipes.size(); ++w) {
        if (pipes[w].sink.kind == plan::SinkDef::Kind::kStream && pipes[w].sink.target == pipes[cur].source) {
          ++writers;
          writer = w;
        }
      }
      if (writers != 1 || writer == d) break;
      cur = writer;
    }
  }
  for (uint32_t p = 0; p < pipes.size(); ++p) {
    for (const plan::LogicalOp& op : pipes[p].ops) {
      if (op.kind == Kind::kFeatures || op.kind == Kind::kDedup || op.kind == Kind::kWindow) {
        routes[p].drop_labels.push_back(op.label);
      }
      if (op.kind == Kind::kWindow || op.kind == Kind::kJoin) break;  // later rows are new rows
    }
  }
  return routes;
}

DecisionWaiters::DecisionWaiters(const std::vector<const Schema*>& outputs, uint64_t waiters_max,
                                 std::vector<LateRoute> late_routes)
    : pipelines_(outputs.size()), late_routes_(std::move(late_routes)), waiters_max_(waiters_max) {
  for (size_t p = 0; p < outputs.size(); ++p) {
    for (const Field& f : outputs[p]->fields()) {
      pipelines_[p].types.push_back(f.type);
      pipelines_[p].names.push_back(f.name);
    }
    pipelines_[p].per_field = std::make_unique<std::atomic<uint32_t>[]>(outputs[p]->size());
    pipelines_[p].stripes = std::make_unique<Stripe[]>(kStripes);
  }
}

DecisionWaiters::~DecisionWaiters() { Shutdown(); }

void DecisionWaiters::Shutdown() {
  std::vector<std::shared_ptr<DecideCall>> left;
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    quit_ = true;
    for (auto& [deadline, weak] : timers_) {
      if (auto c = weak.lock()) {
        c->timer_set = false;
        left.push_back(std::move(c));
      }
    }
    timers_.clear();
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  for (const auto& c : left) Expire(c);
}

void DecisionWaiters::AppendKey(int field, const Value& v, FieldType type, std::string* out) {
  char b[8];
  const auto f = static_cast<uint32_t>(field);
  std::memcpy(b, &f, 4);
  out->append(b, 4);
  switch (type) {
    case FieldType::kString: out->append(v.sv()); break;
    case FieldType::kBool: out->push_back(v.b ? 1 : 0); break;
    case FieldType::kDouble: {
      const double d = v.f64 == 0 ? 0.0 : v.f64;  // -0.0 and 0.0 are one id
      std::memcpy(b, &d, 8);
      out->append(b, 8);
      break;
    }
    default:
      std::memcpy(b, &v.i64, 8);
      out->append(b, 8);
      break;
  }
}

DecisionWaiters::Stripe& DecisionWaiters::StripeOf(size_t pipeline, const std::string& key) {
  return pipelines_[pipeline].stripes[XXH3_64bits(key.data(), key.size()) % kStripes];
}

Result<std::shared_ptr<DecideCall>> DecisionWaiters::Register(const DecideTarget& target,
                                                              const plan::LogicalPipeline& pipe, const RowBatch& rows,
                                                              const std::vector<BadLine>& bad, uint32_t timeout_ms,
                                                              Engine::DecideCallback done) {
  auto call = std::make_shared<DecideCall>();
  call->pipeline = target.pipeline;
  call->output_field = target.output_field;
  call->timeout_ms = timeout_ms;
  call->done = std::move(done);
  DecideResult& r = call->result;
  r.pipeline = pipe.name;
  r.id_field = target.id_field;
  r.schema = pipe.output.schema;
  r.rows = RowBatch(pipe.output.schema.size());
  // Events in request order: accepted rows and refused lines interleave by line number.
  r.events.reserve(rows.size() + bad.size());
  std::unordered_map<std::string, uint32_t> seen;  // key -> line, to refuse repeated ids
  if (rows.size() > 1) seen.reserve(rows.size());  // one event (the usual call) cannot repeat an id
  size_t b = 0;
  for (size_t i = 0; i <= rows.size(); ++i) {
    const uint32_t line =
        i < rows.size() ? (rows.meta(i).line != 0 ? rows.meta(i).line : static_cast<uint32_t>(i + 1)) : UINT32_MAX;
    for (; b < bad.size() && bad[b].line < line; ++b) {
      EventDecision& e = r.events.emplace_back();
      e.state = EventDecision::State::kRejected;
      e.line = bad[b].line;
      e.reason = bad[b].reason;
    }
    if (i == rows.size()) break;
    const Value& v = rows.row(i)[target.input_field];
    if (v.null) {
      return InvalidArgument("decide: line " + std::to_string(line) + ": id field '" + target.id_field +
                             "' is null; every event needs its id to be matched to its decision");
    }
    std::string key;
    AppendKey(target.output_field, v, target.type, &key);
    if (rows.size() > 1) {
      if (auto [it, inserted] = seen.emplace(key, line); !inserted) {
        return InvalidArgument("decide: line " + std::to_string(line) + " repeats the id of line " +
                               std::to_string(it->second) + " (field '" + target.id_field +
                               "'): one decision could not be told from the other");
      }
    }
    EventDecision& e = r.events.emplace_back();
    e.line = line;
    AppendIdText(v, target.type, &e.id);
    call->slot_event.push_back(static_cast<uint32_t>(r.events.size() - 1));
    call->slot_key.push_back(std::move(key));
  }
  const auto n = static_cast<uint64_t>(call->slot_key.size());
  call->slot_delivered.assign(n, 0);
  call->remaining = static_cast<uint32_t>(n);
  uint64_t total = total_.load(std::memory_order_relaxed);
  do {
    if (total + n > waiters_max_) {
      refused_full.fetch_add(1, std::memory_order_relaxed);
      return Unavailable("decide: " + std::to_string(total) +
                         " events are waited for, the engine's decide_waiters_max " + std::to_string(waiters_max_) +
                         " leaves no room for " + std::to_string(n) + " more; retry later");
    }
  } while (!total_.compare_exchange_weak(total, total + n, std::memory_order_relaxed));
  PerPipeline& pp = pipelines_[target.pipeline];
  if (n > 0) {
    // Counted before the entries exist, so a shard that sees no waiter has nothing to miss:
    // the events are queued only after Register returns.
    pp.per_field[target.output_field].fetch_add(static_cast<uint32_t>(n), std::memory_order_relaxed);
    pp.count.fetch_add(n, std::memory_order_release);
  }
  for (uint32_t s = 0; s < n; ++s) {
    Stripe& st = StripeOf(target.pipeline, call->slot_key[s]);
    std::lock_guard<std::mutex> lock(st.mu);
    st.map.emplace(call->slot_key[s], Waiter{call, s});
  }
  return call;
}

bool DecisionWaiters::Unregister(DecideCall& call, uint32_t slot) {
  const std::string& key = call.slot_key[slot];
  Stripe& st = StripeOf(call.pipeline, key);
  {
    std::lock_guard<std::mutex> lock(st.mu);
    auto [lo, hi] = st.map.equal_range(key);
    auto it = lo;
    while (it != hi && !(it->second.call.get() == &call && it->second.slot == slot)) ++it;
    if (it == hi) return false;  // a shard took it (Deliver)
    st.map.erase(it);
  }
  PerPipeline& pp = pipelines_[call.pipeline];
  pp.per_field[call.output_field].fetch_sub(1, std::memory_order_relaxed);
  pp.count.fetch_sub(1, std::memory_order_relaxed);
  total_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void DecisionWaiters::Cancel(const std::shared_ptr<DecideCall>& call) {
  {
    std::lock_guard<std::mutex> lock(call->mu);
    call->finished = true;
  }
  for (uint32_t s = 0; s < call->slot_key.size(); ++s) Unregister(*call, s);
}

void DecisionWaiters::IngestDone(const std::shared_ptr<DecideCall>& call, Status status, IngestResult result) {
  std::unique_lock<std::mutex> lock(call->mu);
  call->ingest_done = true;
  call->status = std::move(status);
  call->result.ingest = std::move(result);
  if (call->status.ok() && call->remaining > 0) {
    if (call->timeout_ms == 0) {
      call->expired = true;
    } else {
      // Under call->mu, so a finish (which unschedules after releasing it) always sees the entry.
      std::lock_guard<std::mutex> tl(timer_mu_);
      if (quit_) {
        call->expired = true;
      } else {
        if (!timer_.joinable()) timer_ = std::thread([this] { TimerLoop(); });
        call->timer_it =
            timers_.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(call->timeout_ms), call);
        call->timer_set = true;
        // The timer thread sleeps until the earliest deadline and then looks again, so only a
        // new earliest one needs it woken: with one timeout for all calls (the usual case),
        // a call does not wake a thread for its timer (it was one wake per call).
        if (call->timer_it == timers_.begin()) timer_cv_.notify_one();
      }
    }
  }
  MaybeFinish(call, lock);
}

void DecisionWaiters::MaybeFinish(const std::shared_ptr<DecideCall>& call, std::unique_lock<std::mutex>& lock) {
  DecideCall& c = *call;
  if (c.finished || !c.ingest_done || (c.status.ok() && c.remaining > 0 && !c.expired)) return;
  c.finished = true;
  std::vector<uint32_t> left;
  DecideResult& r = c.result;
  r.pending = 0;
  for (uint32_t s = 0; s < c.slot_key.size(); ++s) {
    if (c.slot_delivered[s] != 0) continue;
    left.push_back(s);
    ++r.pending;
  }
  uint64_t decided = 0, rejected = 0;
  for (const EventDecision& e : r.events) {
    decided += e.state == EventDecision::State::kDecided ? 1 : 0;
    rejected += e.state == EventDecision::State::kRejected ? 1 : 0;
  }
  if (!c.status.ok()) {
    calls_failed.fetch_add(1, std::memory_order_relaxed);
  } else if (r.pending > 0) {
    calls_timed_out.fetch_add(1, std::memory_order_relaxed);
  } else {
    calls_answered.fetch_add(1, std::memory_order_relaxed);
  }
  events_decided.fetch_add(decided, std::memory_order_relaxed);
  events_pending.fetch_add(c.status.ok() ? r.pending : 0, std::memory_order_relaxed);
  events_rejected.fetch_add(rejected, std::memory_order_relaxed);
  Status status = std::move(c.status);
  DecideResult result = std::move(c.result);
  Engine::DecideCallback done = std::move(c.done);
  lock.unlock();
  {
    std::lock_guard<std::mutex> tl(timer_mu_);
    if (c.timer_set) {
      timers_.erase(c.timer_it);
      c.timer_set = false;
    }
  }
  for (uint32_t s : left) Unregister(c, s);
  if (done) done(std::move(status), std::move(result));
}

void DecisionWaiters::Expire(const std::shared_ptr<DecideCall>& call) {
  std::unique_lock<std::mutex> lock(call->mu);
  call->expired = true;
  MaybeFinish(call, lock);
}

void DecisionWaiters::TimerLoop() {
  std::unique_lock<std::mutex> lock(timer_mu_);
  while (!quit_) {
    if (timers_.empty()) {
      timer_cv_.wait(lock);
      continue;
    }
    auto first = timers_.begin();
    if (const TimePoint deadline = first->first; std::chrono::steady_clock::now() < deadline) {
      timer_cv_.wait_until(lock, deadline);  // a copy: the entry may be erased meanwhile
      continue;
    }
    std::shared_ptr<DecideCall> call = first->second.lock();
    if (call) call->timer_set = false;
    timers_.erase(first);
    if (!call) continue;
    lock.unlock();
    Expire(call);
    lock.lock();
  }
}

void DecisionWaiters::Deliver(size_t pipeline, const RowBatch& out, std::vector<plan::Firing>& fired) {
  PerPipeline& pp = pipelines_[pipeline];
  if (out.empty()) return;
  const auto by_source = [](const plan::Firing& a, const plan::Firing& b) {
    return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
  };
  std::sort(fired.begin(), fired.end(), by_source);
  std::string key;
  std::vector<Waiter> hits;
  for (size_t f = 0; f < pp.types.size(); ++f) {
    if (pp.per_field[f].load(std::memory_order_relaxed) == 0) continue;
    for (size_t i = 0; i < out.size(); ++i) {
      const Value& v = out.row(i)[f];
      if (v.null) continue;
      key.clear();
      AppendKey(static_cast<int>(f), v, pp.types[f], &key);
      TakeWaiters(pipeline, f, key, &hits);
      if (hits.empty()) continue;
      const RowMeta& m = out.meta(i);
      const plan::Firing probe{nullptr, m.partition, m.offset};
      const auto [flo, fhi] = std::equal_range(fired.begin(), fired.end(), probe, by_source);
      for (Waiter& w : hits) {
        std::unique_lock<std::mutex> lock;
        EventDecision* claimed = Claim(w, &lock);
        if (claimed == nullptr) continue;
        EventDecision& e = *claimed;
        e.state = EventDecision::State::kDecided;
        e.row = static_cast<int32_t>(w.call->result.rows.size());
        w.call->result.rows.AppendCopy(out, i);
        for (auto it = flo; it != fhi; ++it) {
          if (std::find(e.rules.begin(), e.rules.end(), *it->rule) == e.rules.end()) e.rules.push_back(*it->rule);
        }
        MaybeFinish(w.call, lock);
      }
    }
  }
}

EventDecision* DecisionWaiters::Claim(const Waiter& w, std::unique_lock<std::mutex>* lock) {
  *lock = std::unique_lock<std::mutex>(w.call->mu);
  DecideCall& c = *w.call;
  if (c.finished || c.slot_delivered[w.slot] != 0) return nullptr;
  c.slot_delivered[w.slot] = 1;
  --c.remaining;
  return &c.result.events[c.slot_event[w.slot]];
}

void DecisionWaiters::TakeWaiters(size_t pipeline, size_t field, const std::string& key, std::vector<Waiter>* hits) {
  hits->clear();
  PerPipeline& pp = pipelines_[pipeline];
  Stripe& st = StripeOf(pipeline, key);
  {
    std::lock_guard<std::mutex> lock(st.mu);
    auto [lo, hi] = st.map.equal_range(key);
    if (lo == hi) return;
    // Every caller waiting for this id gets this outcome (concurrent calls may share an id).
    for (auto it = lo; it != hi; ++it) hits->push_back(std::move(it->second));
    st.map.erase(lo, hi);
  }
  pp.per_field[field].fetch_sub(static_cast<uint32_t>(hits->size()), std::memory_order_relaxed);
  pp.count.fetch_sub(hits->size(), std::memory_order_relaxed);
  total_.fetch_sub(hits->size(), std::memory_order_relaxed);
}

void DecisionWaiters::DeliverLate(size_t pipeline, const Schema& in_schema, const RowBatch& in, const RowBatch& late) {
  if (pipeline >= late_routes_.size() || late.empty()) return;
  const LateRoute& route = late_routes_[pipeline];
  // _late_events: pipeline, operator, reason, event_time, watermark, partition, offset, event.
  constexpr int kOperator = 1, kReason = 2, kEventTime = 3, kPartition = 5, kOffset = 6;
  // The input rows the late rows say were dropped (with their late row), found once. Late
  // events are rare: a scan of the batch for the event each names is cheap enough.
  std::vector<std::pair<size_t, const Value*>> dropped;
  for (size_t l = 0; l < late.size(); ++l) {
    const Value* lr = late.row(l);
    if (std::find(route.drop_labels.begin(), route.drop_labels.end(), lr[kOperator].sv()) == route.drop_labels.end()) {
      continue;  // the event went on (a trigger's late firing) or is not an input event
    }
    for (size_t i = 0; i < in.size(); ++i) {
      const RowMeta& m = in.meta(i);
      if (static_cast<int64_t>(m.partition) == lr[kPartition].i64 &&
          static_cast<int64_t>(m.offset) == lr[kOffset].i64 && m.event_time_ms == lr[kEventTime].i64) {
        dropped.emplace_back(i, lr);
        break;
      }
    }
  }
  if (dropped.empty()) return;
  std::string key;
  std::vector<Waiter> hits;
  for (const uint32_t d : route.targets) {
    PerPipeline& pp = pipelines_[d];
    if (pp.count.load(std::memory_order_relaxed) == 0) continue;
    for (size_t f = 0; f < pp.types.size(); ++f) {
      if (pp.per_field[f].load(std::memory_order_relaxed) == 0) continue;
      const int in_f = in_schema.FieldIndex(pp.names[f]);
      if (in_f < 0 || in_schema.field(in_f).type != pp.types[f]) continue;
      for (const auto& [i, lr] : dropped) {
        if (in.row(i)[in_f].null) continue;
        key.clear();
        AppendKey(static_cast<int>(f), in.row(i)[in_f], pp.types[f], &key);
        TakeWaiters(d, f, key, &hits);
        for (Waiter& w : hits) {
          std::unique_lock<std::mutex> lock;
          EventDecision* e = Claim(w, &lock);
          if (e == nullptr) continue;
          e->state = EventDecision::State::kLate;
          e->reason = std::string(lr[kReason].sv());
          events_late.fetch_add(1, std::memory_order_relaxed);
          MaybeFinish(w.call, lock);
        }
      }
    }
  }
}

}  // namespace impulse::runtime
