// The window operator: tumbling and hopping windows over shared panes, session windows, and
// per-event sliding windows. docs/EVENT_TIME.md describes the semantics.
//
// Tumbling/hopping: a row adds to one pane [p, p + slide) of its key (state key: key bytes +
// pane start); the window [e - size, e) is the merge of its size/slide panes, computed when it
// fires (W >= e + allowed_lateness), so each row is aggregated once whatever the overlap. An
// in-memory index (pane start -> keys) drives firing and cleanup; it is rebuilt from the table
// on restore.
// Sessions: one list of open sessions per key; a row merges every session it touches. A
// multimap of session ends drives firing (stale entries of merged sessions are skipped).
// Sliding: rows wait until the watermark reaches them, then feed their key's SlidingWindow in
// event-time order and are emitted with the aggregates of (t - size, t].
#include <algorithm>
#include <map>

#include "agg/sliding.h"
#include "common/fixed_codec.h"
#include "event/row_codec.h"
#include "event/timestamp.h"
#include "expr/eval.h"
#include "ops/event_buffer.h"
#include "ops/operator.h"
#include "ops/window_state.h"
#include "state/state_table.h"

namespace impulse::plan {

namespace {

using window_internal::AggScope;
using window_internal::KeyPanes;
using window_internal::Session;
using window_internal::SessionList;

// Event times beyond about +-285,000 years are refused, so window bounds (time + size + slide
// + lateness) cannot overflow.
constexpr int64_t kEventTimeMaxMs = int64_t{1} << 53;

int64_t FloorTo(int64_t t, int64_t step) {
  int64_t q = t / step;
  if (t % step != 0 && t < 0) --q;
  return q * step;
}

// Sliding state of one key.
struct SlidingKey {
  agg::SlidingWindow window;
  int64_t last_ts = INT64_MIN;
  ~SlidingKey() {
    if (const agg::AggregateSet* set = window_internal::CurrentAggSet()) window.Destroy(*set);
  }
  SlidingKey() = default;
  SlidingKey(SlidingKey&&) = default;
  SlidingKey& operator=(SlidingKey&&) = default;
  void Serialize(std::string* out) const {
    PutI64(last_ts, out);
    window.Serialize(*window_internal::CurrentAggSet(), out);
  }
  Status Deserialize(std::string_view in) {
    if (!GetI64(&in, &last_ts)) return DataLoss("sliding state: truncated");
    RETURN_IF_ERROR(window.Deserialize(*window_internal::CurrentAggSet(), &in));
    return in.empty() ? Status::OK() : DataLoss("sliding state: trailing bytes");
  }
};

class WindowOperator final : public StatefulOperator {
 public:
  WindowOperator(const LogicalOp& op, const OperatorContext& ctx, agg::AggregateSet set)
      : op_(op),
        def_(*op.window),
        ctx_(ctx),
        set_(std::move(set)),
        env_(ctx.state.env != nullptr ? ctx.state.env : Env::Default()),
        pending_(op.input) {}

  Status Init() {
    for (const AggregateDef& a : def_.aggregates) {
      std::vector<CompiledExpr> args;
      for (const auto& e : a.args) {
        ASSIGN_OR_RETURN(CompiledExpr c, CompiledExpr::Compile(*e));
        args.push_back(std::move(c));
      }
      args_.push_back(std::move(args));
    }
    arg_values_.resize(2 * def_.aggregates.size());
    results_.resize(def_.aggregates.size());
    slide_ = def_.type == WindowDef::Type::kHopping ? def_.slide_ms : def_.size_ms;
    state::StateOptions so = ctx_.state;
    so.entries_max = std::max<uint64_t>(def_.groups_max, 1);
    if (def_.type == WindowDef::Type::kSession) {
      ASSIGN_OR_RETURN(sessions_, state::StateTable<SessionList>::Open(so));
    } else if (def_.type == WindowDef::Type::kSliding) {
      ASSIGN_OR_RETURN(sliding_, state::StateTable<SlidingKey>::Open(so));
    } else {
      ASSIGN_OR_RETURN(panes_, state::StateTable<KeyPanes>::Open(so));
    }
    return Status::OK();
  }

  ~WindowOperator() override {
    AggScope scope(&set_, slide_);
    panes_.reset();
    sessions_.reset();
    sliding_.reset();
  }

  Status Process(int side, const RowBatch& in, OpOutput* out) override {
    IMPULSE_CHECK(side == 0);
    AggScope scope(&set_, slide_);
    for (size_t i = 0; i < in.size(); ++i) {
      const RowMeta& m = in.meta(i);
      if (m.watermark_ms > wm_) RETURN_IF_ERROR(Advance(m.watermark_ms, out));
      last_ingest_ms_ = std::max(last_ingest_ms_, m.ingest_time_ms);
      partition_ = m.partition;
      if (m.event_time_ms > kEventTimeMaxMs || m.event_time_ms < -kEventTimeMaxMs) {
        Late(in.row(i), m, LateReason::kOutOfRange, out);  // window arithmetic must not overflow
        continue;
      }
      switch (def_.type) {
        case WindowDef::Type::kSession: RETURN_IF_ERROR(AddSession(in.row(i), m, out)); break;
        case WindowDef::Type::kSliding: BufferSliding(in.row(i), m, out); break;
        default: RETURN_IF_ERROR(AddPane(in.row(i), m, out)); break;
      }
    }
    // A row at exactly the watermark can be released now; waiting for the next advance could
    // hold it forever on a quiet stream.
    if (def_.type == WindowDef::Type::kSliding && !pending_.empty() && pending_.NextTime() <= wm_) {
      emit_wm_ = wm_;
      return ReleaseSliding(out);
    }
    return Status::OK();
  }

  Status AdvanceWatermark(int64_t watermark_ms, OpOutput* out) override {
    AggScope scope(&set_, slide_);
    if (watermark_ms > wm_) return Advance(watermark_ms, out);
    return Status::OK();
  }

  int64_t watermark() const override { return wm_; }

  OperatorStats stats() const override {
    OperatorStats s = stats_;
    if (panes_) {
      s.entries = panes_->size();
      s.state_bytes = panes_->stats().memory_bytes + s.entries * set_.state_size();
    } else if (sessions_) {
      s.entries = sessions_->size();
      s.state_bytes = sessions_->stats().memory_bytes;
    } else if (sliding_) {
      s.entries = sliding_->size() + pending_.size();
      s.state_bytes = sliding_->stats().memory_bytes + pending_.bytes();
    }
    return s;
  }

  Status Checkpoint(const std::string& dir) override {
    AggScope scope(&set_, slide_);
    RETURN_IF_ERROR(env_->CreateDirs(dir));
    if (panes_) RETURN_IF_ERROR(panes_->Checkpoint(dir + "/panes").status());
    if (sessions_) RETURN_IF_ERROR(sessions_->Checkpoint(dir + "/sessions").status());
    if (sliding_) RETURN_IF_ERROR(sliding_->Checkpoint(dir + "/sliding").status());
    return env_->WriteFileAtomic(dir + "/window.meta", EncodeMeta());
  }

  Status BeginCheckpoint(const std::string& dir, state::AsyncFiles* files) override {
    AggScope scope(&set_, slide_);
    if (panes_) RETURN_IF_ERROR(panes_->BeginCapture(dir + "/panes", files));
    if (sessions_) RETURN_IF_ERROR(sessions_->BeginCapture(dir + "/sessions", files));
    if (sliding_) RETURN_IF_ERROR(sliding_->BeginCapture(dir + "/sliding", files));
    files->push_back(state::AsyncFile::Whole(dir + "/window.meta", EncodeMeta()));
    return Status::OK();
  }

  bool ContinueCheckpoint(std::chrono::steady_clock::time_point deadline) override {
    AggScope scope(&set_, slide_);
    bool done = true;
    if (panes_) done &= panes_->CaptureStep(deadline);
    if (sessions_) done &= sessions_->CaptureStep(deadline);
    if (sliding_) done &= sliding_->CaptureStep(deadline);
    return done;
  }

  Status Restore(const std::string& dir) override {
    AggScope scope(&set_, slide_);
    ASSIGN_OR_RETURN(std::string meta, env_->ReadFile(dir + "/window.meta"));
    std::string_view in(meta);
    if (!GetI64(&in, &wm_) || !GetI64(&in, &last_fired_end_) || !GetI64(&in, &last_ingest_ms_) ||
        !GetI64(&in, &last_sweep_wm_)) {
      return DataLoss("window state " + dir + "/window.meta is truncated");
    }
    RETURN_IF_ERROR(GetBufferedTail(&in, "window state " + dir + "/window.meta", &pending_, &stats_));
    pane_index_.clear();
    session_ends_.clear();
    if (panes_) {
      RETURN_IF_ERROR(panes_->Restore(dir + "/panes"));
      RETURN_IF_ERROR(panes_->ForEach([&](std::string_view key, KeyPanes& kp) {
        for (const KeyPanes::Pane& p : kp.panes) pane_index_[p.start].Add(key);
        return Status::OK();
      }));
    }
    if (sessions_) {
      RETURN_IF_ERROR(sessions_->Restore(dir + "/sessions"));
      RETURN_IF_ERROR(sessions_->ForEach([&](std::string_view key, SessionList& list) {
        for (const Session& s : list.sessions) session_ends_.emplace(s.end, std::string(key));
        return Status::OK();
      }));
    }
    if (sliding_) RETURN_IF_ERROR(sliding_->Restore(dir + "/sliding"));
    return Status::OK();
  }

 private:
  std::string EncodeMeta() const {
    std::string meta;
    PutI64(wm_, &meta);
    PutI64(last_fired_end_, &meta);
    PutI64(last_ingest_ms_, &meta);
    PutI64(last_sweep_wm_, &meta);
    PutBufferedTail(pending_, stats_, &meta);
    return meta;
  }

  void EvalArgs(const Value* row) {
    BeginEventEval();  // aggregate arguments are bounded per event (expr/eval.h)
    for (size_t a = 0; a < args_.size(); ++a) {
      for (size_t j = 0; j < 2; ++j) {
        arg_values_[2 * a + j] = j < args_[a].size() ? args_[a][j].Eval(row, &scratch_) : Value::Null();
      }
    }
  }

  void Late(const Value* row, const RowMeta& m, LateReason reason, OpOutput* out) {
    RecordLateRow(ctx_, op_.input, row, m, reason, wm_, &stats_, out->late);
  }

  // Writes one result row: key fields (decoded from the state key), window bounds, aggregates.
  void EmitWindow(std::string_view key_bytes, int64_t start, int64_t end, const uint8_t* block, OpOutput* out) {
    RowBatch* rows = out->rows;
    Arena& arena = rows->arena();
    Value* o = rows->AppendRow();
    RowMeta& m = rows->meta(rows->size() - 1);
    m.event_time_ms = end - 1;
    m.ingest_time_ms = last_ingest_ms_;
    m.partition = partition_;
    m.watermark_ms = emit_wm_;
    size_t c = DecodeKey(key_bytes, o, &arena);
    o[c++] = Value::Int(start);
    o[c++] = Value::Int(end);
    set_.Result(block, o + c, &arena);
  }

  size_t DecodeKey(std::string_view key, Value* o, Arena* arena) {
    size_t c = 0;
    for (int f : def_.key_fields) {
      Value v;
      if (!key.empty() && key[0] == '\1') {
        key.remove_prefix(1);
        switch (op_.input.field(static_cast<size_t>(f)).type) {
          case FieldType::kString: {
            uint32_t n = 0;
            std::memcpy(&n, key.data(), sizeof(n));
            v = Value::String(arena->Copy(key.substr(sizeof(n), n)));
            key.remove_prefix(sizeof(n) + n);
            break;
          }
          case FieldType::kBool:
            v = Value::Bool(key[0] != 0);
            key.remove_prefix(1);
            break;
          case FieldType::kDouble: {
            double d = 0;
            std::memcpy(&d, key.data(), sizeof(d));
            v = Value::Double(d);
            key.remove_prefix(8);
            break;
          }
          default: {
            int64_t x = 0;
            std::memcpy(&x, key.data(), sizeof(x));
            v = Value::Int(x);
            key.remove_prefix(8);
            break;
          }
        }
      } else if (!key.empty()) {
        key.remove_prefix(1);  // null
      }
      o[c++] = v;
    }
    return c;
  }

  // ---- tumbling / hopping ----

  Status AddPane(const Value* row, const RowMeta& m, OpOutput* out) {
    const int64_t ts = m.event_time_ms;
    const int64_t ps = FloorTo(ts, slide_);
    if (!IsTimestampInRange(ps + slide_ - def_.size_ms) || !IsTimestampInRange(ps + def_.size_ms)) {
      // A window of this event would start or end outside 0000..9999: its bounds could not be
      // written as timestamps anyone reads back.
      Late(row, m, LateReason::kOutOfRange, out);
      return Status::OK();
    }
    if (wm_ != INT64_MIN && ps + def_.size_ms + def_.allowed_lateness_ms <= wm_) {
      Late(row, m, LateReason::kLate, out);
      return Status::OK();
    }
    key_.clear();
    AppendKeyBytes(op_.input, def_.key_fields, row, &key_);
    bool refused = false;
    auto entry = panes_->FindOrInsert(key_, nullptr, &refused);
    if (!entry.ok()) {
      if (!refused) return entry.status();
      Late(row, m, LateReason::kStateLimit, out);
      return Status::OK();
    }
    KeyPanes& kp = **entry;
    bool created = false;
    window_internal::AggBlock* pane = kp.PaneAt(ps, def_.windows_per_key_max, &created);
    if (pane == nullptr) {
      Late(row, m, LateReason::kStateLimit, out);  // the key holds windows_per_key_max panes
      return Status::OK();
    }
    EvalArgs(row);
    set_.Add(pane->data(), ts, arg_values_.data());
    scratch_.Clear();
    if (created) pane_index_[ps].Add(key_);
    if (def_.emit_updates) {
      emit_wm_ = wm_;
      // Every window containing this row and not yet closed: its current result.
      for (int64_t e = ps + slide_; e <= ps + def_.size_ms; e += slide_) {
        if (e > last_fired_end_) EmitWindowOf(key_, kp, e, out);
      }
    }
    return Status::OK();
  }

  // Emits window [e - size, e) of one key from its panes. False if it has no data there.
  bool EmitWindowOf(std::string_view key, KeyPanes& kp, int64_t e, OpOutput* out) {
    const int64_t s = e - def_.size_ms;
    window_internal::AggBlock* only = nullptr;
    int count = 0;
    for (KeyPanes::Pane& p : kp.panes) {
      if (p.start < s || p.start >= e) continue;
      only = &p.agg;
      ++count;
    }
    if (count == 0) return false;
    if (count == 1) {  // tumbling, or a key seen in one pane of the window: no merge
      EmitWindow(key, s, e, only->data(), out);
      return true;
    }
    if (merged_.size() < set_.state_size() + 8) merged_.resize(set_.state_size() + 8);
    uint8_t* block = AlignedMerged();
    set_.Init(block);
    for (KeyPanes::Pane& p : kp.panes) {
      if (p.start < s || p.start >= e) continue;
      set_.Merge(block, p.agg.data());
    }
    EmitWindow(key, s, e, block, out);
    set_.Destroy(block);
    return true;
  }

  uint8_t* AlignedMerged() {
    auto p = reinterpret_cast<uintptr_t>(merged_.data());
    return merged_.data() + ((8 - (p & 7)) & 7);
  }

  Status FirePanes(OpOutput* out) {
    while (!pane_index_.empty()) {
      const int64_t ps_min = pane_index_.begin()->first;
      int64_t e = ps_min + slide_;
      if (last_fired_end_ != INT64_MIN) e = std::max(e, last_fired_end_ + slide_);
      if (wm_ - def_.allowed_lateness_ms < e) break;
      const bool tumbling = slide_ == def_.size_ms;
      if (!def_.emit_updates) {
        // Keys with a pane in [e - size, e); a key listed in several is emitted once.
        for (auto it = pane_index_.lower_bound(e - def_.size_ms); it != pane_index_.end() && it->first < e; ++it) {
          for (size_t k = 0; k < it->second.size(); ++k) {
            const std::string_view key = it->second.at(k);
            auto entry = panes_->Find(key);
            if (!entry.ok()) return entry.status();
            if (*entry == nullptr) continue;
            KeyPanes& kp = **entry;
            if (!tumbling && kp.last_emitted_end == e) continue;
            kp.last_emitted_end = e;
            EmitWindowOf(key, kp, e, out);
          }
        }
      }
      last_fired_end_ = e;
      // Panes no later window needs; keys left with no pane go.
      while (!pane_index_.empty() && pane_index_.begin()->first <= e - def_.size_ms) {
        const KeyList& keys = pane_index_.begin()->second;
        for (size_t k = 0; k < keys.size(); ++k) {
          auto entry = panes_->Find(keys.at(k));
          if (!entry.ok()) return entry.status();
          if (*entry == nullptr) continue;
          if ((*entry)->DropBefore(e - def_.size_ms + slide_)) RETURN_IF_ERROR(panes_->Erase(keys.at(k)));
        }
        pane_index_.erase(pane_index_.begin());
      }
    }
    return Status::OK();
  }

  // ---- sessions ----

  Status AddSession(const Value* row, const RowMeta& m, OpOutput* out) {
    const int64_t ts = m.event_time_ms;
    if (!IsTimestampInRange(ts) || !IsTimestampInRange(ts + def_.gap_ms)) {
      Late(row, m, LateReason::kOutOfRange, out);  // as in AddPane
      return Status::OK();
    }
    key_.clear();
    AppendKeyBytes(op_.input, def_.key_fields, row, &key_);
    bool refused = false;
    auto list = sessions_->FindOrInsert(key_, nullptr, &refused);
    if (!list.ok()) {
      if (!refused) return list.status();
      Late(row, m, LateReason::kStateLimit, out);
      return Status::OK();
    }
    std::vector<Session>& ss = (*list)->sessions;
    // Late when [ts, ts + gap) could reach a session of this key already emitted as final. Those
    // all end at or before wm - allowed_lateness (they fire in end order), so an event at or
    // after that point cannot reach one; nor can an event inside a session still open (open and
    // final sessions are disjoint, and every final one ends before an open one starts). Any
    // other event behind that point is late, even one that only touches an open session from
    // before its start: a final session may lie in between.
    bool inside_open = false;
    size_t touched = 0;  // open sessions this event merges with
    for (const Session& x : ss) {
      inside_open = inside_open || (x.start <= ts && ts < x.end);
      if (x.start < ts + def_.gap_ms && ts < x.end) ++touched;
    }
    if (wm_ != INT64_MIN && ts < wm_ - def_.allowed_lateness_ms && !inside_open) {
      if (ss.empty()) RETURN_IF_ERROR(sessions_->Erase(key_));
      Late(row, m, LateReason::kLate, out);
      return Status::OK();
    }
    if (touched == 0 && ss.size() >= def_.windows_per_key_max) {
      Late(row, m, LateReason::kStateLimit, out);  // the key holds windows_per_key_max sessions
      return Status::OK();
    }
    Session merged;
    merged.start = ts;
    merged.end = ts + def_.gap_ms;
    EvalArgs(row);
    set_.Add(merged.agg.data(), ts, arg_values_.data());
    scratch_.Clear();
    // Absorb every session overlapping [ts, ts + gap).
    for (size_t i = 0; i < ss.size();) {
      if (ss[i].start < ts + def_.gap_ms && ts < ss[i].end) {
        set_.Merge(merged.agg.data(), ss[i].agg.data());
        merged.start = std::min(merged.start, ss[i].start);
        merged.end = std::max(merged.end, ss[i].end);
        ss.erase(ss.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    session_ends_.emplace(merged.end, key_);
    if (def_.emit_updates) {
      emit_wm_ = wm_;
      EmitWindow(key_, merged.start, merged.end, merged.agg.data(), out);
    }
    auto pos =
        std::lower_bound(ss.begin(), ss.end(), merged.start, [](const Session& x, int64_t st) { return x.start < st; });
    ss.insert(pos, std::move(merged));
    return Status::OK();
  }

  Status FireSessions(OpOutput* out) {
    while (!session_ends_.empty() && session_ends_.begin()->first <= wm_ - def_.allowed_lateness_ms) {
      const int64_t end = session_ends_.begin()->first;
      std::string key = std::move(session_ends_.begin()->second);
      session_ends_.erase(session_ends_.begin());
      auto list = sessions_->Find(key);
      if (!list.ok()) return list.status();
      if (*list == nullptr) continue;
      std::vector<Session>& ss = (*list)->sessions;
      for (size_t i = 0; i < ss.size(); ++i) {
        if (ss[i].end != end) continue;
        if (!def_.emit_updates) EmitWindow(key, ss[i].start, ss[i].end, ss[i].agg.data(), out);
        ss.erase(ss.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
      if (ss.empty()) RETURN_IF_ERROR(sessions_->Erase(key));
    }
    return Status::OK();
  }

  // ---- sliding ----

  void BufferSliding(const Value* row, const RowMeta& m, OpOutput* out) {
    if (wm_ != INT64_MIN && m.event_time_ms < wm_) {
      Late(row, m, LateReason::kLate, out);
      return;
    }
    if (pending_.size() >= def_.groups_max) {
      Late(row, m, LateReason::kStateLimit, out);
      return;
    }
    pending_.Add(row, m);
  }

  Status ReleaseSliding(OpOutput* out) {
    while (!pending_.empty() && pending_.NextTime() <= wm_) {
      decoded_.Reset(op_.input.size());
      pending_.PopInto(&decoded_);
      RowMeta& dm = decoded_.meta(0);
      dm.partition = partition_;
      const Value* row = decoded_.row(0);
      key_.clear();
      AppendKeyBytes(op_.input, def_.key_fields, row, &key_);
      bool refused = false;
      auto state = sliding_->FindOrInsert(key_, nullptr, &refused);
      if (!state.ok()) {
        if (!refused) return state.status();
        Late(row, dm, LateReason::kStateLimit, out);
        continue;
      }
      EvalArgs(row);
      RowBatch* rows = out->rows;
      Arena& arena = rows->arena();
      (*state)->window.Add(set_, def_.size_ms, dm.event_time_ms, arg_values_.data(), results_.data(), &arena);
      (*state)->last_ts = dm.event_time_ms;
      scratch_.Clear();
      Value* o = rows->AppendRow();
      RowMeta& om = rows->meta(rows->size() - 1);
      om = dm;
      om.watermark_ms = emit_wm_;
      const size_t w = op_.input.size();
      for (size_t c = 0; c < w; ++c) {
        Value v = row[c];
        if (op_.input.field(c).type == FieldType::kString && !v.null) v = Value::String(arena.Copy(v.sv()));
        o[c] = v;
      }
      for (size_t a = 0; a < results_.size(); ++a) o[w + a] = results_[a];
    }
    // Keys idle for longer than the TTL (default: the range) hold nothing useful.
    const int64_t ttl = def_.state_ttl_ms > 0 ? def_.state_ttl_ms : def_.size_ms;
    const int64_t sweep_every = std::max<int64_t>(ttl / 4, 1000);
    if (wm_ != INT64_MAX && (last_sweep_wm_ == INT64_MIN || wm_ - last_sweep_wm_ >= sweep_every)) {
      last_sweep_wm_ = wm_;
      expired_keys_.clear();
      RETURN_IF_ERROR(sliding_->ForEachRead([&](std::string_view key, const SlidingKey& s) {
        if (s.last_ts < wm_ - ttl) expired_keys_.emplace_back(key);
        return Status::OK();
      }));
      for (const std::string& k : expired_keys_) RETURN_IF_ERROR(sliding_->Erase(k));
      stats_.expired += expired_keys_.size();
    }
    return Status::OK();
  }

  Status Advance(int64_t w, OpOutput* out) {
    // Rows this advance releases travel ahead of the new watermark, as the rows before a
    // watermark do between operators: they carry the previous one, so a following stateful
    // step in the same pipeline does not see them as late.
    emit_wm_ = wm_;
    wm_ = w;
    switch (def_.type) {
      case WindowDef::Type::kSession: return FireSessions(out);
      case WindowDef::Type::kSliding: return ReleaseSliding(out);
      default: return FirePanes(out);
    }
  }

  const LogicalOp& op_;
  const WindowDef& def_;
  OperatorContext ctx_;
  agg::AggregateSet set_;
  Env* env_;
  std::vector<std::vector<CompiledExpr>> args_;
  std::vector<Value> arg_values_;
  std::vector<Value> results_;
  Arena scratch_{4096};
  int64_t slide_ = 0;
  int64_t wm_ = INT64_MIN;
  int64_t emit_wm_ = INT64_MIN;  // watermark carried by emitted rows (see Advance)
  int64_t last_fired_end_ = INT64_MIN;
  int64_t last_ingest_ms_ = 0;
  int64_t last_sweep_wm_ = INT64_MIN;
  uint32_t partition_ = 0;
  OperatorStats stats_;
  std::unique_ptr<state::StateTable<KeyPanes>> panes_;
  std::unique_ptr<state::StateTable<SessionList>> sessions_;
  std::unique_ptr<state::StateTable<SlidingKey>> sliding_;
  // Keys of one pane, packed in one string (no allocation per key).
  struct KeyList {
    std::string bytes;
    std::vector<uint32_t> ends;
    void Add(std::string_view k) {
      bytes.append(k);
      ends.push_back(static_cast<uint32_t>(bytes.size()));
    }
    size_t size() const { return ends.size(); }
    std::string_view at(size_t i) const {
      const uint32_t b = i == 0 ? 0 : ends[i - 1];
      return std::string_view(bytes).substr(b, ends[i] - b);
    }
  };
  std::map<int64_t, KeyList> pane_index_;             // pane start -> keys with data in it
  std::multimap<int64_t, std::string> session_ends_;  // session end -> key
  EventTimeBuffer pending_;                           // sliding: rows waiting for the watermark
  std::vector<std::string> expired_keys_;
  std::vector<uint8_t> merged_;
  std::string key_;
  RowBatch decoded_;
};

}  // namespace

Result<std::unique_ptr<StatefulOperator>> NewWindowOperator(const LogicalOp& op, const OperatorContext& ctx) {
  if (!op.window) return InvalidArgument("window operator without a window definition");
  std::vector<agg::AggSpec> specs;
  for (const AggregateDef& a : op.window->aggregates) {
    agg::AggSpec s;
    ASSIGN_OR_RETURN(s.kind, agg::ParseAggKind(a.function));
    s.arity = static_cast<int>(a.args.size());
    if (!a.args.empty()) s.arg_type = ToFieldType(a.args[0]->type);
    if (a.args.size() > 1) s.arg2_type = ToFieldType(a.args[1]->type);
    s.k = a.k;
    specs.push_back(s);
  }
  ASSIGN_OR_RETURN(agg::AggregateSet set, agg::AggregateSet::Create(std::move(specs)));
  auto w = std::make_unique<WindowOperator>(op, ctx, std::move(set));
  RETURN_IF_ERROR(w->Init());
  return std::unique_ptr<StatefulOperator>(std::move(w));
}

}  // namespace impulse::plan
