// The features operator: one feature view computed per event (docs/FEATURES.md).
//
// Rows wait in an EventTimeBuffer until the watermark reaches them, so every event sees exactly
// the entity's events with a time in its windows whatever the arrival order (within the allowed
// out-of-orderness). A row is released once the watermark is past it (a watermark W says no
// more rows before W, so rows at exactly W may still come). Rows with the same event time are
// released together: each of them sees all of them ("(t - w, t]" is a range of time, not of
// arrival), and they are handled in the order of their content, so even `previous:` values
// among equal times do not depend on the arrival order.
//
// Per entity (one state entry): one SlidingWindow per (window, delay) group of window features;
// per distinct delay d > 0 a queue of the entity's rows not yet older than d (they enter the
// delayed windows once they are); the previous event's time and `previous:` values; the latest
// feature row (the online value, kept so a restore can refill the online store).
#include <algorithm>

#include "agg/sliding.h"
#include "common/fixed_codec.h"
#include "event/row_codec.h"
#include "expr/eval.h"
#include "features/feature_window.h"
#include "features/online_store.h"
#include "ops/event_buffer.h"
#include "ops/operator.h"
#include "state/state_table.h"

namespace impulse::plan {

namespace {

// Event times beyond about +-285,000 years are refused, so t - delay - window cannot overflow.
constexpr int64_t kEventTimeMaxMs = int64_t{1} << 53;

// Window features with the same (window, delay) share one SlidingWindow.
struct Group {
  int64_t window_ms = 0;
  int64_t delay_ms = 0;
  std::vector<size_t> features;  // indexes into FeatureViewDef::features
  agg::AggregateSet set;
  std::vector<std::vector<CompiledExpr>> args;  // per aggregate: its argument expressions
  int fast_class = -1;                          // >= 0: computed by Shape::fast[fast_class] (range fast_range)
  size_t fast_range = 0;
  size_t delay_class = 0;   // else, delay_ms > 0: index into Shape::delays
  size_t class_offset = 0;  //   first argument column in that class's queued rows
};

// Groups of one delay whose aggregates retract exactly over non-string arguments share one
// FeatureWindow per entity (the common case: count/sum/avg over nested ranges).
struct FastClass {
  FeatureWindowLayout layout;
  std::vector<CompiledExpr> cols;  // the distinct argument expressions, one column each
};

// What the entity state's codec and destructor need; installed per thread around every call
// into the state table (a table creates, decodes and frees values on its own).
struct Shape {
  std::vector<Group> groups;
  std::vector<FastClass> fast;
  bool slow_groups = false;           // some group is not in a fast class
  std::vector<int64_t> delays;        // distinct delays > 0 of the other groups
  std::vector<Schema> delay_schemas;  // per delay: the queued argument columns
  Schema previous_schema;             // the `previous:` values
};

thread_local const Shape* t_shape = nullptr;

class ShapeScope {
 public:
  explicit ShapeScope(const Shape* s) : previous_(t_shape) { t_shape = s; }
  ~ShapeScope() { t_shape = previous_; }
  ShapeScope(const ShapeScope&) = delete;
  ShapeScope& operator=(const ShapeScope&) = delete;

 private:
  const Shape* previous_;
};

void PutBytes(std::string_view b, std::string* out) {
  PutI64(static_cast<int64_t>(b.size()), out);
  out->append(b);
}

bool GetBytes(std::string_view* in, std::string* out) {
  int64_t n = 0;
  if (!GetI64(in, &n) || n < 0 || static_cast<uint64_t>(n) > in->size()) return false;
  out->assign(in->substr(0, static_cast<size_t>(n)));
  in->remove_prefix(static_cast<size_t>(n));
  return true;
}

// A row waiting to enter the delayed windows: its event time and its encoded arguments.
struct QueuedRow {
  int64_t ts = 0;
  std::string args;
};

struct EntityState {
  std::vector<FeatureWindow> fast;                   // per fast class
  std::vector<agg::SlidingWindow> windows;           // per group not in a fast class
  std::vector<agg::detail::Ring<QueuedRow>> queues;  // per delay, oldest first
  std::string previous;                              // encoded previous values; empty: none
  int64_t last_ts = INT64_MIN;                       // event time of the latest event
  std::string latest;                                // encoded latest feature row

  EntityState() = default;
  EntityState(EntityState&&) = default;
  EntityState& operator=(EntityState&& o) noexcept {
    if (this != &o) {
      Destroy();
      fast = std::move(o.fast);
      windows = std::move(o.windows);
      queues = std::move(o.queues);
      previous = std::move(o.previous);
      last_ts = o.last_ts;
      latest = std::move(o.latest);
    }
    return *this;
  }
  ~EntityState() { Destroy(); }

  void Destroy() {
    if (t_shape == nullptr) return;
    for (size_t c = 0; c < fast.size() && c < t_shape->fast.size(); ++c) fast[c].Destroy(t_shape->fast[c].layout);
    fast.clear();
    for (size_t g = 0; g < windows.size() && g < t_shape->groups.size(); ++g)
      windows[g].Destroy(t_shape->groups[g].set);
    windows.clear();
  }

  void Ensure(const Shape& shape) {
    if (fast.size() != shape.fast.size()) fast.resize(shape.fast.size());
    // Groups in fast classes have no sliding window: allocate them only if some group needs one.
    if (shape.slow_groups && windows.size() != shape.groups.size()) windows.resize(shape.groups.size());
    if (queues.size() != shape.delays.size()) queues.resize(shape.delays.size());
  }

  size_t HeapBytes() const {
    size_t b = previous.capacity() + latest.capacity() + windows.capacity() * sizeof(agg::SlidingWindow) +
               fast.capacity() * sizeof(FeatureWindow);
    for (size_t c = 0; c < fast.size() && t_shape != nullptr; ++c) b += fast[c].HeapBytes(t_shape->fast[c].layout);
    for (const auto& w : windows) b += w.HeapBytes();
    for (const auto& q : queues) {
      b += q.capacity() * sizeof(QueuedRow);
      for (size_t i = 0; i < q.size(); ++i) b += q[i].args.capacity();
    }
    return b;
  }

  void Serialize(std::string* out) const {
    const Shape& shape = *t_shape;
    PutI64(last_ts, out);
    PutBytes(previous, out);
    PutBytes(latest, out);
    PutI64(static_cast<int64_t>(fast.size()), out);
    for (size_t c = 0; c < fast.size(); ++c) fast[c].Serialize(shape.fast[c].layout, out);
    PutI64(static_cast<int64_t>(windows.size()), out);
    for (size_t g = 0; g < windows.size(); ++g) windows[g].Serialize(shape.groups[g].set, out);
    PutI64(static_cast<int64_t>(queues.size()), out);
    for (const auto& q : queues) {
      PutI64(static_cast<int64_t>(q.size()), out);
      for (size_t i = 0; i < q.size(); ++i) {
        PutI64(q[i].ts, out);
        PutBytes(q[i].args, out);
      }
    }
  }

  Status Deserialize(std::string_view in) {
    const Shape& shape = *t_shape;
    int64_t nf = 0, nw = 0, nq = 0;
    if (!GetI64(&in, &last_ts) || !GetBytes(&in, &previous) || !GetBytes(&in, &latest) || !GetI64(&in, &nf) ||
        (nf != 0 && static_cast<size_t>(nf) != shape.fast.size())) {
      return DataLoss("features state: truncated or of another view shape");
    }
    fast.resize(static_cast<size_t>(nf));
    for (size_t c = 0; c < fast.size(); ++c) RETURN_IF_ERROR(fast[c].Deserialize(shape.fast[c].layout, &in));
    if (!GetI64(&in, &nw) || (nw != 0 && static_cast<size_t>(nw) != shape.groups.size())) {
      return DataLoss("features state: truncated or of another view shape");
    }
    windows.resize(static_cast<size_t>(nw));
    for (size_t g = 0; g < windows.size(); ++g) RETURN_IF_ERROR(windows[g].Deserialize(shape.groups[g].set, &in));
    if (!GetI64(&in, &nq) || (nq != 0 && static_cast<size_t>(nq) != shape.delays.size())) {
      return DataLoss("features state: bad delay queues");
    }
    queues.clear();
    queues.resize(static_cast<size_t>(nq));
    for (auto& q : queues) {
      int64_t n = 0;
      if (!GetI64(&in, &n) || n < 0) return DataLoss("features state: bad delay queue");
      for (int64_t i = 0; i < n; ++i) {
        QueuedRow r;
        if (!GetI64(&in, &r.ts) || !GetBytes(&in, &r.args)) return DataLoss("features state: bad queued row");
        q.push_back(std::move(r));
      }
    }
    return in.empty() ? Status::OK() : DataLoss("features state: trailing bytes");
  }
};

class FeaturesOperator final : public StatefulOperator {
 public:
  FeaturesOperator(const LogicalOp& op, const OperatorContext& ctx)
      : op_(op),
        view_(*op.features),
        ctx_(ctx),
        env_(ctx.state.env != nullptr ? ctx.state.env : Env::Default()),
        pending_(op.input),
        on_arrival_(view_.mode == FeatureViewDef::Mode::kOnArrival) {}

  Status Init() {
    const size_t w = op_.input.size();
    std::vector<Field> previous_fields;
    for (size_t i = 0; i < view_.features.size(); ++i) {
      const FeatureDef& f = view_.features[i];
      compiled_.emplace_back();
      switch (f.kind) {
        case FeatureDef::Kind::kWindow: {
          auto g = std::find_if(groups_.begin(), groups_.end(),
                                [&](const Group& x) { return x.window_ms == f.window_ms && x.delay_ms == f.delay_ms; });
          if (g == groups_.end()) {
            groups_.emplace_back();
            g = groups_.end() - 1;
            g->window_ms = f.window_ms;
            g->delay_ms = f.delay_ms;
          }
          g->features.push_back(i);
          break;
        }
        case FeatureDef::Kind::kPrevious:
          previous_index_.push_back(i);
          previous_fields.push_back({f.name, f.field.type, true});
          [[fallthrough]];
        case FeatureDef::Kind::kExpr: {
          ASSIGN_OR_RETURN(compiled_.back(), CompiledExpr::Compile(*f.expr));
          break;
        }
        case FeatureDef::Kind::kTimeSincePrevious: break;
      }
    }
    shape_.previous_schema = Schema(std::move(previous_fields));
    std::vector<std::vector<Field>> delay_fields;
    for (Group& g : groups_) {
      std::vector<agg::AggSpec> specs;
      for (size_t fi : g.features) {
        const AggregateDef& a = view_.features[fi].agg;
        agg::AggSpec s;
        ASSIGN_OR_RETURN(s.kind, agg::ParseAggKind(a.function));
        s.arity = static_cast<int>(a.args.size());
        if (!a.args.empty()) s.arg_type = ToFieldType(a.args[0]->type);
        if (a.args.size() > 1) s.arg2_type = ToFieldType(a.args[1]->type);
        s.k = a.k;
        specs.push_back(s);
        std::vector<CompiledExpr> args;
        for (const auto& e : a.args) {
          ASSIGN_OR_RETURN(CompiledExpr c, CompiledExpr::Compile(*e));
          args.push_back(std::move(c));
        }
        g.args.push_back(std::move(args));
      }
      ASSIGN_OR_RETURN(g.set, agg::AggregateSet::Create(std::move(specs)));
      bool strings = false;
      for (size_t fi : g.features) {
        for (const auto& e : view_.features[fi].agg.args) strings |= e->type == ExprType::kString;
      }
      if (g.set.Retractable() && !strings) {
        g.fast_class = 0;  // placeholder: classes are laid out below, once the groups are final
      } else if (g.delay_ms > 0) {
        auto d = std::find(shape_.delays.begin(), shape_.delays.end(), g.delay_ms);
        if (d == shape_.delays.end()) {
          shape_.delays.push_back(g.delay_ms);
          delay_fields.emplace_back();
          d = shape_.delays.end() - 1;
        }
        g.delay_class = static_cast<size_t>(d - shape_.delays.begin());
        std::vector<Field>& cols = delay_fields[g.delay_class];
        g.class_offset = cols.size();
        for (size_t fi : g.features) {
          const AggregateDef& a = view_.features[fi].agg;
          for (size_t j = 0; j < 2; ++j) {
            const FieldType t = j < a.args.size() ? ToFieldType(a.args[j]->type) : FieldType::kInt64;
            cols.push_back({"a" + std::to_string(cols.size()), t, true});
          }
        }
      }
      state_span_ms_ = std::max(state_span_ms_, g.window_ms + g.delay_ms);
    }
    if (on_arrival_) {
      int64_t min_delay = INT64_MAX;
      for (const Group& g : groups_) min_delay = std::min(min_delay, g.delay_ms);
      hold_ms_ = min_delay == INT64_MAX ? 0 : min_delay;
    }
    shape_.groups = std::move(groups_);
    for (auto& cols : delay_fields) shape_.delay_schemas.emplace_back(std::move(cols));
    RETURN_IF_ERROR(LayOutFastClasses());
    group_out_.resize(shape_.groups.size());
    group_args_.resize(shape_.groups.size());
    for (size_t g = 0; g < shape_.groups.size(); ++g) {
      group_out_[g].resize(shape_.groups[g].set.size());
      group_args_[g].resize(2 * shape_.groups[g].set.size());
    }
    full_.resize(w + view_.features.size());
    // An entity idle for longer than its longest window + delay holds nothing a later event
    // can see; the view's ttl can keep it longer (for online lookups).
    state_ttl_ms_ = std::max(state_span_ms_, view_.ttl_ms);
    if (state_ttl_ms_ <= 0) state_ttl_ms_ = -1;  // no window and no ttl: kept (bounded by entities_max)
    state::StateOptions so = ctx_.state;
    so.entries_max = std::max<uint64_t>(view_.entities_max, 1);
    ShapeScope scope(&shape_);
    ASSIGN_OR_RETURN(entities_, state::StateTable<EntityState>::Open(so));
    return Status::OK();
  }

  // One FastClass per delay among the fast groups; their argument expressions deduplicated.
  Status LayOutFastClasses() {
    std::vector<int64_t> class_delay;
    std::vector<std::vector<std::string>> col_text;
    for (size_t gi = 0; gi < shape_.groups.size(); ++gi) {
      Group& g = shape_.groups[gi];
      if (g.fast_class < 0) continue;
      auto d = std::find(class_delay.begin(), class_delay.end(), g.delay_ms);
      if (d == class_delay.end()) {
        class_delay.push_back(g.delay_ms);
        col_text.emplace_back();
        shape_.fast.emplace_back();
        shape_.fast.back().layout.delay_ms = g.delay_ms;
        d = class_delay.end() - 1;
      }
      const size_t c = static_cast<size_t>(d - class_delay.begin());
      FastClass& fc = shape_.fast[c];
      g.fast_class = static_cast<int>(c);
      g.fast_range = fc.layout.ranges.size();
      FeatureWindowLayout::Range r;
      r.size_ms = g.window_ms;
      r.set = &g.set;
      r.state_offset = fc.layout.state_bytes;
      fc.layout.state_bytes += (g.set.state_size() + 7) / 8 * 8;
      for (size_t fi : g.features) {
        const AggregateDef& a = view_.features[fi].agg;
        for (size_t j = 0; j < 2; ++j) {
          if (j >= a.args.size()) {
            r.arg_cols.push_back(-1);
            continue;
          }
          const std::string text = ExprToString(*a.args[j]);
          auto it = std::find(col_text[c].begin(), col_text[c].end(), text);
          if (it == col_text[c].end()) {
            col_text[c].push_back(text);
            fc.layout.cols.push_back(ToFieldType(a.args[j]->type));
            ASSIGN_OR_RETURN(CompiledExpr ce, CompiledExpr::Compile(*a.args[j]));
            fc.cols.push_back(std::move(ce));
            it = col_text[c].end() - 1;
          }
          r.arg_cols.push_back(static_cast<int>(it - col_text[c].begin()));
        }
      }
      fc.layout.args_max = std::max(fc.layout.args_max, r.arg_cols.size());
      fc.layout.ranges.push_back(std::move(r));
    }
    for (const Group& g : shape_.groups) shape_.slow_groups |= g.fast_class < 0;
    // Where each window feature's value lands: (group, index in the group's results).
    window_slot_.assign(view_.features.size(), {0, 0});
    for (size_t g = 0; g < shape_.groups.size(); ++g) {
      for (size_t k = 0; k < shape_.groups[g].features.size(); ++k) window_slot_[shape_.groups[g].features[k]] = {g, k};
    }
    entity_fields_ = {view_.entity_field};
    fast_cols_.resize(shape_.fast.size());
    for (size_t c = 0; c < shape_.fast.size(); ++c) fast_cols_[c].resize(shape_.fast[c].cols.size());
    return Status::OK();
  }

  ~FeaturesOperator() override {
    ShapeScope scope(&shape_);
    entities_.reset();
  }

  Status Process(int side, const RowBatch& in, OpOutput* out) override {
    IMPULSE_CHECK(side == 0);
    ShapeScope scope(&shape_);
    if (on_arrival_) return ProcessOnArrival(in, out);
    for (size_t i = 0; i < in.size(); ++i) {
      const RowMeta& m = in.meta(i);
      if (m.watermark_ms > wm_) RETURN_IF_ERROR(Advance(m.watermark_ms, out));
      partition_ = m.partition;
      const Value* row = in.row(i);
      if (m.event_time_ms > kEventTimeMaxMs || m.event_time_ms < -kEventTimeMaxMs) {
        Late(row, m, LateReason::kOutOfRange, out);
      } else if (wm_ != INT64_MIN && m.event_time_ms < wm_) {
        Late(row, m, LateReason::kLate, out);
      } else if (pending_.size() >= view_.entities_max) {
        Late(row, m, LateReason::kStateLimit, out);
      } else {
        pending_.Add(row, m);
      }
    }
    // Nothing to release here: every accepted row is at or after wm_, and a row at exactly the
    // watermark waits for the next advance (more rows at that time may still come).
    return Status::OK();
  }

  Status AdvanceWatermark(int64_t watermark_ms, OpOutput* out) override {
    ShapeScope scope(&shape_);
    if (watermark_ms > wm_) return Advance(watermark_ms, out);
    return Status::OK();
  }

  int64_t watermark() const override { return wm_; }

  OperatorStats stats() const override {
    OperatorStats s = stats_;
    s.entries = entities_->size() + pending_.size();
    s.state_bytes = entities_->stats().memory_bytes + pending_.bytes();
    return s;
  }

  Status Checkpoint(const std::string& dir) override {
    ShapeScope scope(&shape_);
    RETURN_IF_ERROR(env_->CreateDirs(dir));
    RETURN_IF_ERROR(entities_->Checkpoint(dir + "/entities").status());
    return env_->WriteFileAtomic(dir + "/features.meta", EncodeMeta());
  }

  Status BeginCheckpoint(const std::string& dir, state::AsyncFiles* files) override {
    ShapeScope scope(&shape_);
    RETURN_IF_ERROR(entities_->BeginCapture(dir + "/entities", files));
    files->push_back(state::AsyncFile::Whole(dir + "/features.meta", EncodeMeta()));
    return Status::OK();
  }

  bool ContinueCheckpoint(std::chrono::steady_clock::time_point deadline) override {
    ShapeScope scope(&shape_);
    return entities_->CaptureStep(deadline);
  }

  std::string EncodeMeta() const {
    std::string meta;
    PutI64(wm_, &meta);
    PutI64(last_sweep_wm_, &meta);
    PutBufferedTail(pending_, stats_, &meta);
    return meta;
  }

  Status Restore(const std::string& dir) override {
    ShapeScope scope(&shape_);
    ASSIGN_OR_RETURN(std::string meta, env_->ReadFile(dir + "/features.meta"));
    std::string_view in(meta);
    if (!GetI64(&in, &wm_) || !GetI64(&in, &last_sweep_wm_)) return DataLoss("features state " + dir + ": truncated");
    RETURN_IF_ERROR(GetBufferedTail(&in, "features state " + dir, &pending_, &stats_));
    RETURN_IF_ERROR(entities_->Restore(dir + "/entities"));
    if (ctx_.online_store != nullptr) {
      // The online values as of the checkpoint; replay brings them forward.
      RETURN_IF_ERROR(entities_->ForEach([&](std::string_view key, EntityState& s) {
        if (!s.latest.empty()) ctx_.online_store->Put(key, s.last_ts, s.latest);
        return Status::OK();
      }));
    }
    return Status::OK();
  }

 private:
  void Late(const Value* row, const RowMeta& m, LateReason reason, OpOutput* out) {
    RecordLateRow(ctx_, op_.input, row, m, reason, wm_, &stats_, out->late);
  }

  Status Advance(int64_t w, OpOutput* out) {
    // Released rows travel ahead of the new watermark (as in the window operator), so a
    // following stateful step does not see them as late.
    emit_wm_ = wm_;
    wm_ = w;
    if (on_arrival_) {
      RETURN_IF_ERROR(ReleaseHeld(out));
      return Sweep();
    }
    return Release(out);
  }

  // Releases the rows the watermark has reached, a run of equal event times at a time. An error
  // when the state backend fails (the task stops; see StatefulOperator).
  Status Release(OpOutput* out) {
    while (!pending_.empty() && (pending_.NextTime() < wm_ || wm_ == INT64_MAX)) {
      const int64_t t = pending_.NextTime();
      unordered_.Reset(op_.input.size());
      size_t n = 0;  // raw_ keeps its strings' buffers across runs
      while (!pending_.empty() && pending_.NextTime() == t) {
        if (n == raw_.size()) raw_.emplace_back();
        pending_.PopInto(&unordered_, &raw_[n++]);
      }
      // Equal times: content order (the arrival order would make `previous:` depend on it).
      order_.resize(unordered_.size());
      for (size_t r = 0; r < order_.size(); ++r) order_[r] = r;
      if (order_.size() > 1) {
        std::stable_sort(order_.begin(), order_.end(), [&](size_t a, size_t b) { return raw_[a] < raw_[b]; });
      }
      run_.Reset(op_.input.size());
      run_keys_.clear();
      key_ends_.clear();
      for (size_t i = 0; i < order_.size(); ++i) {
        run_.AppendCopy(unordered_, order_[i]);
        run_.meta(i).partition = partition_;
        AppendKeyBytes(op_.input, entity_fields_, run_.row(i), &run_keys_);
        key_ends_.push_back(run_keys_.size());
      }
      // Every row of the run enters its entity's windows before any is read.
      std::vector<bool>& ok = run_ok_;
      ok.assign(run_.size(), false);
      for (size_t r = 0; r < run_.size(); ++r) {
        bool refused = false;
        auto st = entities_->FindOrInsert(RunKey(r), nullptr, &refused);
        if (!st.ok() && !refused) return st.status();
        if (!st.ok() || EntityRows(**st) >= view_.rows_per_entity_max) {
          Late(run_.row(r), run_.meta(r), LateReason::kStateLimit, out);
          continue;
        }
        ok[r] = true;
        ASSIGN_OR_RETURN(EntityState * e, RestartIfIdle(RunKey(r), *st, t));
        Feed(*e, run_.row(r), t);
        if (run_.size() == 1) {
          Emit(*e, RunKey(r), run_.row(r), run_.meta(r), out);
          ok[r] = false;
        }
      }
      for (size_t r = 0; r < run_.size(); ++r) {
        if (!ok[r]) continue;
        // Inserted above and nothing erased since, but RocksDB may have evicted it and fail to
        // read it back.
        ASSIGN_OR_RETURN(EntityState * st, entities_->Find(RunKey(r)));
        if (st == nullptr) return Internal("features: entity state vanished within a run");
        Emit(*st, RunKey(r), run_.row(r), run_.meta(r), out);
      }
    }
    return Sweep();
  }

  // On arrival: each event's features over the entity's events that arrived before it, now. The
  // watermark only decides lateness (as in point-in-time mode) and how long rows stay buffered
  // for events that arrive out of order within the allowed lateness.
  Status ProcessOnArrival(const RowBatch& in, OpOutput* out) {
    // Everything happens at a row, never at a batch's end, so the output does not depend on how
    // the reads were batched (a replay after a restart batches differently): the watermark's
    // releases and state sweeps run before the row that moves it.
    for (size_t i = 0; i < in.size(); ++i) {
      const RowMeta& m = in.meta(i);
      partition_ = m.partition;
      if (m.watermark_ms > wm_) RETURN_IF_ERROR(Advance(m.watermark_ms, out));
      const Value* row = in.row(i);
      const int64_t t = m.event_time_ms;
      if (t > kEventTimeMaxMs || t < -kEventTimeMaxMs) {
        Late(row, m, LateReason::kOutOfRange, out);
      } else if (wm_ != INT64_MIN && t < wm_) {
        Late(row, m, LateReason::kLate, out);
      } else if (hold_ms_ == 0) {
        RETURN_IF_ERROR(Arrived(row, m, out));
      } else if (pending_.size() >= view_.entities_max) {
        Late(row, m, LateReason::kStateLimit, out);
      } else {
        pending_.Add(row, m);
        RETURN_IF_ERROR(ReleaseHeld(out));
      }
    }
    return Status::OK();
  }

  // Held rows whose windows the watermark has completed (t - hold_ms_ < wm_), in time order.
  Status ReleaseHeld(OpOutput* out) {
    if (hold_ms_ == 0 || wm_ == INT64_MIN) return Status::OK();
    int64_t before = INT64_MAX;
    if (wm_ != INT64_MAX && __builtin_add_overflow(wm_, hold_ms_, &before)) before = INT64_MAX;
    while (!pending_.empty() && (pending_.NextTime() < before || wm_ == INT64_MAX)) {
      held_.Reset(op_.input.size());
      pending_.PopInto(&held_);
      RowMeta m = held_.meta(0);
      m.partition = partition_;
      RETURN_IF_ERROR(Arrived(held_.row(0), m, out));
    }
    return Status::OK();
  }

  // One on-time event of an on-arrival view: its features now, over what has arrived.
  Status Arrived(const Value* row, const RowMeta& m, OpOutput* out) {
    const int64_t t = m.event_time_ms;
    // A held row may be released after the watermark passed it: it must not look late downstream.
    emit_wm_ = std::min(wm_, t);
    run_keys_.clear();
    AppendKeyBytes(op_.input, entity_fields_, row, &run_keys_);
    bool refused = false;
    auto st = entities_->FindOrInsert(run_keys_, nullptr, &refused);
    if (!st.ok() && !refused) return st.status();
    if (!st.ok() || EntityRows(**st) >= view_.rows_per_entity_max) {
      Late(row, m, LateReason::kStateLimit, out);
      return Status::OK();
    }
    ASSIGN_OR_RETURN(EntityState * fresh, RestartIfIdle(run_keys_, *st, t));
    EntityState& e = *fresh;
    if (e.last_ts == INT64_MIN || t >= e.last_ts) {
      Feed(e, row, t);
      Emit(e, run_keys_, row, m, out, /*late=*/false);
    } else {
      ++stats_.reordered;
      FeedLate(e, row, t);
      Emit(e, run_keys_, row, m, out, /*late=*/true);
    }
    return Status::OK();
  }

  // How far back a sliding window of group g keeps rows when fed at `newest`: its range, and
  // more while the watermark is behind, for events that may still arrive late (> wm_ - delay -
  // window is what such an event can read).
  // Bounded: at most one span (the view's longest window + delay) more, whatever the watermark's
  // lag (an unknown watermark, a writer upstream that has not started).
  int64_t RetainedRange(const Group& g, int64_t newest) const {
    if (!on_arrival_) return g.window_ms;
    int64_t behind = state_span_ms_;
    if (wm_ != INT64_MIN &&
        (__builtin_sub_overflow(newest, wm_, &behind) || __builtin_add_overflow(behind, g.delay_ms, &behind))) {
      behind = state_span_ms_;
    }
    return g.window_ms + std::clamp<int64_t>(behind, 0, state_span_ms_);
  }

  // Adds an out-of-order row (t below the entity's latest time) where it belongs in time.
  void FeedLate(EntityState& s, const Value* row, int64_t t) {
    s.Ensure(shape_);
    scratch_.Clear();
    BeginEventEval();
    queue_row_.resize(shape_.delays.size());
    for (size_t c = 0; c < shape_.fast.size(); ++c) {
      FastClass& fc = shape_.fast[c];
      for (size_t k = 0; k < fc.cols.size(); ++k) fast_cols_[c][k] = fc.cols[k].Eval(row, &scratch_);
      s.fast[c].InsertLate(fc.layout, s.last_ts, t, fast_cols_[c].data());
    }
    for (size_t g = 0; g < shape_.groups.size(); ++g) {
      const Group& grp = shape_.groups[g];
      if (grp.fast_class >= 0) continue;
      EvalGroupArgs(g, row);
      if (grp.delay_ms == 0 || t <= s.last_ts - grp.delay_ms) {
        // Undelayed, or already older than the delay (queued rows matured up to last_ts - delay).
        s.windows[g].InsertAnyOrder(grp.set, RetainedRange(grp, s.last_ts), t, group_args_[g].data());
      } else {
        std::vector<Value>& q = queue_row_[grp.delay_class];
        q.resize(shape_.delay_schemas[grp.delay_class].size());
        std::copy(group_args_[g].begin(), group_args_[g].end(),
                  q.begin() + static_cast<std::ptrdiff_t>(grp.class_offset));
      }
    }
    for (size_t d = 0; d < shape_.delays.size(); ++d) {
      if (t <= s.last_ts - shape_.delays[d]) continue;  // went into the windows above
      QueuedRow q;
      q.ts = t;
      EncodeRow(shape_.delay_schemas[d], queue_row_[d].data(), RowMeta{}, &q.args);
      // Keep the queue in time order: move the newer rows behind this one.
      agg::detail::Ring<QueuedRow>& ring = s.queues[d];
      std::vector<QueuedRow> newer;
      while (!ring.empty() && ring.back().ts > t) {
        newer.push_back(std::move(ring.back()));
        ring.pop_back();
      }
      ring.push_back(std::move(q));
      for (auto it = newer.rbegin(); it != newer.rend(); ++it) ring.push_back(std::move(*it));
    }
  }

  static size_t EntityRows(const EntityState& s) {
    size_t n = 0;
    for (const auto& w : s.fast) n = std::max(n, w.rows());
    for (const auto& w : s.windows) n = std::max(n, w.rows());
    for (const auto& q : s.queues) n = std::max(n, q.size());
    return n;
  }

  std::string_view RunKey(size_t r) const {
    const size_t b = r == 0 ? 0 : key_ends_[r - 1];
    return std::string_view(run_keys_).substr(b, key_ends_[r] - b);
  }

  void EvalGroupArgs(size_t g, const Value* row) {
    const Group& grp = shape_.groups[g];
    std::vector<Value>& a = group_args_[g];
    for (size_t k = 0; k < grp.args.size(); ++k) {
      for (size_t j = 0; j < 2; ++j)
        a[2 * k + j] = j < grp.args[k].size() ? grp.args[k][j].Eval(row, &scratch_) : Value::Null();
    }
  }

  // Adds the row at time t to the entity's windows: matured queued rows enter the delayed
  // windows, this row the undelayed ones now and the delayed ones' queues.
  void Feed(EntityState& s, const Value* row, int64_t t) {
    s.Ensure(shape_);
    scratch_.Clear();
    BeginEventEval();
    for (size_t d = 0; d < shape_.delays.size(); ++d) Mature(s, d, t - shape_.delays[d]);
    queue_row_.resize(shape_.delays.size());
    for (size_t c = 0; c < shape_.fast.size(); ++c) {
      FastClass& fc = shape_.fast[c];
      for (size_t k = 0; k < fc.cols.size(); ++k) fast_cols_[c][k] = fc.cols[k].Eval(row, &scratch_);
      s.fast[c].Push(fc.layout, t, fast_cols_[c].data());
    }
    for (size_t g = 0; g < shape_.groups.size(); ++g) {
      const Group& grp = shape_.groups[g];
      if (grp.fast_class >= 0) continue;
      EvalGroupArgs(g, row);
      if (grp.delay_ms == 0) {
        if (on_arrival_) {
          s.windows[g].InsertAnyOrder(grp.set, RetainedRange(grp, t), t, group_args_[g].data());
        } else {
          s.windows[g].Insert(grp.set, grp.window_ms, t, group_args_[g].data());
        }
      } else {
        std::vector<Value>& q = queue_row_[grp.delay_class];
        q.resize(shape_.delay_schemas[grp.delay_class].size());
        std::copy(group_args_[g].begin(), group_args_[g].end(),
                  q.begin() + static_cast<std::ptrdiff_t>(grp.class_offset));
      }
    }
    for (size_t d = 0; d < shape_.delays.size(); ++d) {
      QueuedRow q;
      q.ts = t;
      EncodeRow(shape_.delay_schemas[d], queue_row_[d].data(), RowMeta{}, &q.args);
      s.queues[d].push_back(std::move(q));
    }
  }

  // Moves the queued rows of delay class d with time <= until into the delayed windows.
  void Mature(EntityState& s, size_t d, int64_t until) {
    agg::detail::Ring<QueuedRow>& q = s.queues[d];
    while (!q.empty() && q.front().ts <= until) {
      const int64_t ts = q.front().ts;
      matured_.Reset(shape_.delay_schemas[d].size());
      IMPULSE_CHECK(DecodeRow(shape_.delay_schemas[d], q.front().args, &matured_).ok());  // written by Feed
      const Value* cols = matured_.row(0);
      for (size_t g = 0; g < shape_.groups.size(); ++g) {
        const Group& grp = shape_.groups[g];
        if (grp.fast_class >= 0 || grp.delay_ms == 0 || grp.delay_class != d) continue;
        if (on_arrival_) {
          s.windows[g].InsertAnyOrder(grp.set, RetainedRange(grp, ts + grp.delay_ms), ts, cols + grp.class_offset);
        } else {
          s.windows[g].Insert(grp.set, grp.window_ms, ts, cols + grp.class_offset);
        }
      }
      std::string().swap(q.front().args);  // a popped slot keeps its value until reused: free it
      q.pop_front();
    }
  }

  // The event's features into the output. `late`: the event arrived after a later one of its
  // entity (on-arrival mode): its windows are read by a scan, and it does not become the entity's
  // latest (online value, `previous:`).
  void Emit(EntityState& s, std::string_view key, const Value* row, const RowMeta& m, OpOutput* out,
            bool late = false) {
    const int64_t t = m.event_time_ms;
    scratch_.Clear();
    BeginEventEval();  // the view's expressions are bounded per event (expr/eval.h)
    if (!late) {
      // Rows a late event may read stay (down to the watermark), at most one span more.
      int64_t horizon = t;
      if (on_arrival_ && wm_ < t) {
        int64_t floor = 0;
        if (__builtin_sub_overflow(t, state_span_ms_, &floor)) floor = INT64_MIN;
        horizon = std::max(wm_, floor);
      }
      for (size_t c = 0; c < shape_.fast.size(); ++c) s.fast[c].Advance(shape_.fast[c].layout, t, horizon);
    }
    for (size_t g = 0; g < shape_.groups.size(); ++g) {
      const Group& grp = shape_.groups[g];
      if (grp.fast_class >= 0) {
        const FastClass& fc = shape_.fast[static_cast<size_t>(grp.fast_class)];
        FeatureWindow& fw = s.fast[static_cast<size_t>(grp.fast_class)];
        if (late) {
          fw.ResultsAt(fc.layout, grp.fast_range, t, group_out_[g].data(), &scratch_);
        } else {
          fw.Results(fc.layout, grp.fast_range, group_out_[g].data(), &scratch_);
        }
      } else if (on_arrival_) {
        // Rows stay buffered past the range (RetainedRange): read exactly (t - delay - w, t - delay].
        const int64_t hi = t - grp.delay_ms;
        int64_t lo = 0;
        if (__builtin_sub_overflow(hi, grp.window_ms, &lo)) lo = INT64_MIN;
        s.windows[g].ResultsOver(grp.set, lo, hi, group_out_[g].data(), &scratch_);
      } else {
        s.windows[g].ResultsAt(grp.set, grp.window_ms, t - grp.delay_ms, group_out_[g].data(), &scratch_);
      }
    }
    const size_t w = op_.input.size();
    std::copy(row, row + w, full_.begin());
    if (!s.previous.empty()) {
      previous_.Reset(shape_.previous_schema.size());
      IMPULSE_CHECK(DecodeRow(shape_.previous_schema, s.previous, &previous_).ok());  // written below
    }
    size_t prev_i = 0;
    for (size_t i = 0; i < view_.features.size(); ++i) {
      const FeatureDef& f = view_.features[i];
      Value v;
      switch (f.kind) {
        case FeatureDef::Kind::kWindow: {
          v = group_out_[window_slot_[i].first][window_slot_[i].second];
          if (v.null && f.has_default) {
            v = f.field.type == FieldType::kDouble ? Value::Double(f.default_double) : Value::Int(f.default_int);
          }
          break;
        }
        case FeatureDef::Kind::kPrevious:
          v = s.previous.empty() ? Value::Null() : previous_.row(0)[prev_i];
          ++prev_i;
          break;
        case FeatureDef::Kind::kTimeSincePrevious:
          v = s.last_ts == INT64_MIN
                  ? Value::Null()
                  : Value::Double(static_cast<double>(t - s.last_ts) / static_cast<double>(f.unit_ms));
          break;
        case FeatureDef::Kind::kExpr: v = compiled_[i].Eval(full_.data(), &scratch_); break;
      }
      full_[w + i] = v;
    }
    // The output row: input fields, then the features (strings copied into the output arena).
    RowBatch* rows = out->rows;
    Arena& arena = rows->arena();
    Value* o = rows->AppendRow();
    RowMeta& om = rows->meta(rows->size() - 1);
    om = m;
    om.watermark_ms = emit_wm_;
    const Schema& os = op_.output;
    for (size_t c = 0; c < os.size(); ++c) {
      Value v = full_[c];
      if (os.field(c).type == FieldType::kString && !v.null) v = Value::String(arena.Copy(v.sv()));
      o[c] = v;
    }
    if (late) return;
    // The online value, and the state the next event of this entity reads.
    s.latest.clear();
    EncodeRow(view_.feature_schema, full_.data() + w, m, &s.latest);
    if (ctx_.online_store != nullptr) ctx_.online_store->Put(key, t, s.latest);
    if (!previous_index_.empty()) {
      prev_values_.resize(previous_index_.size());
      BeginEventEval();  // the next event's input: its own budget, not what the features left
      for (size_t j = 0; j < previous_index_.size(); ++j)
        prev_values_[j] = compiled_[previous_index_[j]].Eval(row, &scratch_);
      s.previous.clear();
      EncodeRow(shape_.previous_schema, prev_values_.data(), m, &s.previous);
    }
    s.last_ts = std::max(s.last_ts, t);
  }

  // An entity whose last event is older by more than the state ttl than the event at `t` (or,
  // on arrival, than the watermark, if lower) starts afresh, as if a sweep had dropped it: sweeps
  // run at watermarks that depend on how the input's writers interleave and on batching, so
  // without this its `previous:` values and window sums (the rounding retractions leave) would
  // depend on whether one happened to run in between (online != backfill). Every sweep that can
  // have run before this event ran at a watermark <= min(t, wm_), so the outcome is the same.
  Result<EntityState*> RestartIfIdle(std::string_view key, EntityState* s, int64_t t) {
    int64_t cutoff = 0;
    const int64_t at = std::min(t, wm_);
    if (state_ttl_ms_ < 0 || s->last_ts == INT64_MIN || at == INT64_MIN ||
        __builtin_sub_overflow(at, state_ttl_ms_, &cutoff) || s->last_ts >= cutoff) {
      return s;
    }
    const std::string k(key);  // `key` may point into state the erase frees
    RETURN_IF_ERROR(entities_->Erase(k));
    ++stats_.expired;
    bool refused = false;
    ASSIGN_OR_RETURN(EntityState * fresh, entities_->FindOrInsert(k, nullptr, &refused));
    return fresh;
  }

  // Drops entities idle (in event time) for longer than the state ttl, from the online store too.
  Status Sweep() {
    if (state_ttl_ms_ < 0 || wm_ == INT64_MAX) return Status::OK();
    const int64_t every = std::max<int64_t>(state_ttl_ms_ / 4, 1000);
    // Saturating: the watermark comes from upstream and may sit near INT64_MIN.
    int64_t since = 0, cutoff = 0;
    if (__builtin_sub_overflow(wm_, last_sweep_wm_, &since)) since = INT64_MAX;
    if (last_sweep_wm_ != INT64_MIN && since < every) return Status::OK();
    if (__builtin_sub_overflow(wm_, state_ttl_ms_, &cutoff)) cutoff = INT64_MIN;
    last_sweep_wm_ = wm_;
    expired_keys_.clear();
    RETURN_IF_ERROR(entities_->ForEachRead([&](std::string_view key, const EntityState& s) {
      if (s.last_ts < cutoff) expired_keys_.emplace_back(key);
      return Status::OK();
    }));
    for (const std::string& k : expired_keys_) {
      RETURN_IF_ERROR(entities_->Erase(k));
      if (ctx_.online_store != nullptr) ctx_.online_store->Expire(k);
    }
    stats_.expired += expired_keys_.size();
    return Status::OK();
  }

  const LogicalOp& op_;
  const FeatureViewDef& view_;
  OperatorContext ctx_;
  Env* env_;
  EventTimeBuffer pending_;
  const bool on_arrival_;
  // On arrival, a view whose every window reads `delay` or more before its event holds an event
  // until the watermark is past t - hold_ms_ (at once in live use: the delay is days, the
  // watermark seconds behind). Its windows are then complete, so its values are the point-in-time
  // ones whatever the arrival order, even on a stream several tasks write (where the arrival order
  // depends on their speeds: a replay runs them days apart in event time).
  int64_t hold_ms_ = 0;
  Shape shape_;
  std::vector<Group> groups_;                           // moved into shape_ by Init
  std::vector<CompiledExpr> compiled_;                  // per feature: kExpr / kPrevious expression
  std::vector<size_t> previous_index_;                  // features of kind kPrevious, in order
  std::vector<std::pair<size_t, size_t>> window_slot_;  // per window feature: (group, result index)
  std::vector<int> entity_fields_;                      // {view_.entity_field}, for AppendKeyBytes
  int64_t state_span_ms_ = 0;
  int64_t state_ttl_ms_ = -1;
  std::unique_ptr<state::StateTable<EntityState>> entities_;
  int64_t wm_ = INT64_MIN;
  int64_t emit_wm_ = INT64_MIN;
  int64_t last_sweep_wm_ = INT64_MIN;
  uint32_t partition_ = 0;
  OperatorStats stats_;
  // Scratch, reused across events.
  Arena scratch_{4096};
  RowBatch unordered_, run_, matured_, previous_, held_;
  std::vector<std::string> raw_;
  std::vector<size_t> order_;
  std::string run_keys_;
  std::vector<size_t> key_ends_;
  std::vector<bool> run_ok_;
  std::vector<std::vector<Value>> group_out_, group_args_, queue_row_;
  std::vector<Value> full_, prev_values_;
  std::vector<std::vector<Value>> fast_cols_;  // per fast class: this row's argument columns
  std::vector<std::string> expired_keys_;
};

}  // namespace

Result<std::unique_ptr<StatefulOperator>> NewFeaturesOperator(const LogicalOp& op, const OperatorContext& ctx) {
  if (!op.features) return InvalidArgument("features operator without a feature view");
  auto f = std::make_unique<FeaturesOperator>(op, ctx);
  RETURN_IF_ERROR(f->Init());
  return std::unique_ptr<StatefulOperator>(std::move(f));
}

}  // namespace impulse::plan
