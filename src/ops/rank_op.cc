// The rank operator (NewRankOperator in operator.h): the `rank` step (docs/PIPELINE_SPEC.md,
// "rank"). Per event, its candidate list is read (rank_core.h) and turned into one slim row per
// candidate (the event's number in the task, its candidate count, the candidate id, its place in
// the list, its top_k count and, with as_of_time, the event's as-of time), which an as-of join
// with the view's stream (JoinOperator, kAsOf, broadcast) completes with the candidate's view
// values as of the event: at once when the watermark is past the event's as-of time, else when it
// passes (all candidates of an event in the same call, since they share that time). The event's
// own fields are not in those rows: the step keeps each event once (encoded, by its number) while
// the join holds any of its candidates, and puts them back into each completed row (the rows
// scored and emitted are the event's fields, then the candidate's: candidate_schema). So an event
// waiting for the watermark costs one copy of itself plus ~100 bytes per candidate, not one copy
// per candidate (docs/BENCHMARKS.md, "Rank step memory"). A candidate the join refuses goes to
// _late_events as the whole candidate row, event fields included (JoinOperator's LeftLateWriter).
// The completed rows of the events released by one call are then extended with the pair
// expressions and scored, in chunks of whole events of at most batch_rows_max rows (one matrix
// and one Predict each: a backfill's watermark may release millions of rows at once), and each
// event leaves with its best k (or, emit: candidates, each row with its score). Without a model
// (a `lookup` of a list of keys) nothing is scored: each row leaves as it is, without a score.
//
// Contract: one instance per task, one thread. State: the join's (versions of the view, waiting
// slim candidate rows: both bounded by rows_max), the waiting events (each has at least one
// waiting candidate row, so at most rows_max of them) and the next event number (checkpointed with
// them, so rows waiting across a restore keep distinct numbers). An event whose candidates are not
// all completed in one call (some refused by rows_max, or late: they are in _late_events, one per
// candidate, with the join's reason) is dropped and counted (limit_dropped).
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "common/fixed_codec.h"
#include "common/suggest.h"
#include "event/row_codec.h"
#include "expr/check.h"
#include "expr/eval.h"
#include "impulse/env.h"
#include "model/repository.h"
#include "ops/as_of_time.h"
#include "ops/operator.h"
#include "ops/rank_core.h"

namespace impulse::plan {

namespace {

constexpr std::string_view kSeqFile = "rank.seq";
// The waiting events: u64 count, then per event (by number) i64 number, u32 candidate rows the
// join holds for it, u32 length, its EncodeRow payload (the step's input schema).
constexpr std::string_view kWaitingFile = "rank.waiting";
// The slim candidate row's as-of time field (only with as_of_time): the join reads it instead of
// evaluating as_of_time over event fields it does not have.
constexpr const char* kAsOfField = "_rank_as_of";
// Slim row layout: kSeqField, kCountField, candidate id, its place, its top_k count[, kAsOfField].
constexpr size_t kSlimSeq = 0, kSlimCount = 1, kSlimId = 2, kSlimPlace = 3, kSlimFields = 5;
// Per waiting event beyond its payload: the map node (key, value, links), an estimate.
constexpr size_t kWaitingEntryBytes = 80;

// An event some of whose candidate rows the join holds.
struct WaitingEvent {
  std::string row;    // EncodeRow of the event (the step's input schema)
  uint32_t held = 0;  // its candidate rows the join holds (neither completed nor refused yet)
};

// The model bound to the step's candidate rows: which field feeds each model input.
struct RankBinding {
  std::shared_ptr<const model::LoadedModel> loaded;
  std::vector<int> fields;  // per model input: index in RankDef::row_schema
  std::vector<FieldType> types;
  std::vector<float> defaults;  // NaN: missing
  std::string error;            // non-empty: this version cannot score these rows
  bool usable() const { return loaded && error.empty(); }
};

class RankOperator final : public StatefulOperator {
 public:
  RankOperator(const LogicalOp& op, const OperatorContext& ctx)
      : op_(op), def_(*op.rank), ctx_(ctx), env_(ctx.state.env != nullptr ? ctx.state.env : Env::Default()) {}

  Status Init() {
    // The join's rows: the slim candidate row, then the view's fields (candidate_schema's tail).
    const size_t width = op_.input.size();
    std::vector<Field> slim(def_.candidate_input.fields().begin() + static_cast<std::ptrdiff_t>(width),
                            def_.candidate_input.fields().end());
    auto jdef = std::make_shared<JoinDef>(*op_.join);
    jdef->left_key = static_cast<int>(kSlimId);
    if (op_.join->as_of_expr != nullptr) {
      for (const Field& f : slim) {
        if (f.name == kAsOfField) return InvalidArgument("rank operator: field name '" + f.name + "' is reserved");
      }
      slim.push_back({kAsOfField, FieldType::kTimestamp, false});
      std::vector<ExprDiag> diags;
      ExprPtr ref = ParseAndCheck(kAsOfField, Schema(slim), &diags);
      if (!ref) return InvalidArgument("rank operator: cannot read its as-of time field");
      jdef->as_of_expr = std::shared_ptr<const Expr>(std::move(ref));
    }
    slim_ = Schema(slim);
    std::vector<Field> joined = slim;
    joined.insert(joined.end(),
                  def_.candidate_schema.fields().begin() + static_cast<std::ptrdiff_t>(width + kSlimFields),
                  def_.candidate_schema.fields().end());
    LogicalOp join = op_;
    join.rank = nullptr;
    join.input = slim_;
    join.output = Schema(joined);
    join.join = std::move(jdef);
    ASSIGN_OR_RETURN(
        join_, NewJoinOperator(join, ctx_,
                               [this](const Value* row, const RowMeta& meta, LateReason reason, int64_t watermark_ms,
                                      RowBatch* late) { WriteRefused(row, meta, reason, watermark_ms, late); }));
    ASSIGN_OR_RETURN(AsOfTime t, AsOfTime::Create(*op_.join));
    as_of_.emplace(std::move(t));
    for (const NamedExpr& p : def_.pair) {
      ASSIGN_OR_RETURN(CompiledExpr c, CompiledExpr::Compile(*p.expr));
      pair_.push_back(std::move(c));
    }
    seq_field_ = static_cast<size_t>(def_.candidate_input.FieldIndex(RankDef::kSeqField));
    count_field_ = static_cast<size_t>(def_.candidate_input.FieldIndex(RankDef::kCountField));
    joined_.Reset(join.output.size());
    candidates_.Reset(slim_.size());
    events_.Reset(width);
    full_.assign(def_.candidate_input.size(), Value::Null());
    return Status::OK();
  }

  Status Process(int side, const RowBatch& in, OpOutput* out) override {
    if (side == 1) {
      RETURN_IF_ERROR(AdvanceToFirstRow(in, out));
      joined_.Reset(join_output_width());
      OpOutput jo{&joined_, out->late, nullptr, nullptr};
      RETURN_IF_ERROR(join_->Process(1, in, &jo));
      return Finish(out);
    }
    candidates_.Reset(slim_.size());
    for (size_t i = 0; i < in.size(); ++i) {
      const Value* row = in.row(i);
      // An event asking for features at a time it may not read (as_of_time) is refused once,
      // not once per candidate by the join.
      int64_t as_of = 0;
      if (const std::optional<LateReason> refused = as_of_->Compute(row, in.meta(i).event_time_ms, &as_of)) {
        RecordLateRow(ctx_, op_.input, row, in.meta(i), *refused, join_->watermark(), &own_, out->late);
        continue;
      }
      const Value& list = row[def_.candidates_field];
      if (list.null) {
        RETURN_IF_ERROR(Flush(out));  // the events before it leave first, as they arrived
        EmitUnranked(row, in.meta(i), /*empty=*/false, out);
        continue;
      }
      const Status parsed = ParseCandidates(list.sv(), def_.candidates_max, &ids_, &counts_);
      if (!parsed.ok()) {
        const LateReason reason =
            parsed.code() == StatusCode::kResourceExhausted ? LateReason::kTooLarge : LateReason::kInvalid;
        RecordLateRow(ctx_, op_.input, row, in.meta(i), reason, join_->watermark(), &own_, out->late);
        continue;
      }
      if (ids_.empty()) {
        RETURN_IF_ERROR(Flush(out));
        EmitUnranked(row, in.meta(i), /*empty=*/true, out);
        continue;
      }
      // The candidates gathered so far go first when this event's watermark differs: the join
      // advances row by row, and one advance inside a batch would release (and hold) all it
      // completes at once; a flush advances in steps (AdvanceToFirstRow).
      if (!candidates_.empty() && candidates_.meta(0).watermark_ms != in.meta(i).watermark_ms) {
        RETURN_IF_ERROR(Flush(out));
      }
      const int64_t seq = next_seq_++;
      if (flush_rows_.empty()) flush_first_seq_ = seq;
      flush_rows_.push_back(row);
      // Kept until the join has completed or refused every candidate row of it (Finish, WriteRefused).
      WaitingEvent& w = waiting_[seq];
      EncodeRow(op_.input, row, in.meta(i), &w.row);
      w.held = static_cast<uint32_t>(ids_.size());
      waiting_bytes_ += w.row.size() + kWaitingEntryBytes;
      for (size_t k = 0; k < ids_.size(); ++k) {
        Value* c = candidates_.AppendRow();
        candidates_.meta(candidates_.size() - 1) = in.meta(i);
        c[kSlimSeq] = Value::Int(seq);
        c[kSlimCount] = Value::Int(static_cast<int64_t>(ids_.size()));
        c[kSlimId] = Value::Int(ids_[k]);
        c[kSlimPlace] = Value::Int(static_cast<int64_t>(k) + 1);
        c[4] = counts_[k] ? Value::Int(*counts_[k]) : Value::Null();
        if (slim_.size() > kSlimFields) c[kSlimFields] = Value::Int(as_of);
      }
    }
    return Flush(out);
  }

  // Runs the candidate rows gathered so far through the join and emits what it completes.
  Status Flush(OpOutput* out) {
    if (candidates_.empty()) return Status::OK();
    Status s = AdvanceToFirstRow(candidates_, out);
    joined_.Reset(join_output_width());
    OpOutput jo{&joined_, out->late, nullptr, nullptr};
    if (s.ok()) s = join_->Process(0, candidates_, &jo);
    candidates_.Reset(slim_.size());
    flush_rows_.clear();  // they point into the caller's batch
    RETURN_IF_ERROR(s);
    return Finish(out);
  }

  // A candidate row the join refused at its arrival (in Flush): written whole, as the join's
  // input row was before it was slim, and no longer waited for.
  void WriteRefused(const Value* slim, const RowMeta& meta, LateReason reason, int64_t watermark_ms, RowBatch* late) {
    const int64_t seq = slim[kSlimSeq].i64;
    const size_t width = op_.input.size();
    if (seq < flush_first_seq_ || static_cast<size_t>(seq - flush_first_seq_) >= flush_rows_.size()) {
      // Not a row of this flush (cannot happen: the join refuses rows only as they arrive).
      AppendLateRow(ctx_, slim_, slim, meta, reason, watermark_ms, late);
    } else {
      const Value* row = flush_rows_[static_cast<size_t>(seq - flush_first_seq_)];
      for (size_t f = 0; f < width; ++f) full_[f] = row[f];
      for (size_t f = 0; f < kSlimFields; ++f) full_[width + f] = slim[f];
      AppendLateRow(ctx_, def_.candidate_input, full_.data(), meta, reason, watermark_ms, late);
    }
    Release(seq, 1);
  }

  // `n` candidate rows of event `seq` left the join (completed or refused); forgets the event
  // once none is held.
  void Release(int64_t seq, uint32_t n) {
    auto it = waiting_.find(seq);
    if (it == waiting_.end()) return;
    it->second.held -= std::min(it->second.held, n);
    if (it->second.held == 0) {
      waiting_bytes_ -= it->second.row.size() + kWaitingEntryBytes;
      waiting_.erase(it);
    }
  }

  size_t join_output_width() const {
    return slim_.size() + def_.candidate_schema.size() - op_.input.size() - kSlimFields;
  }

  // Releases and scores in steps of about batch_rows_max completed rows: a backfill's watermark
  // can release most waiting events at once, and their rows were all held together.
  Status AdvanceWatermark(int64_t watermark_ms, OpOutput* out) override {
    int64_t reached = INT64_MIN;
    do {
      joined_.Reset(join_output_width());
      OpOutput jo{&joined_, out->late, nullptr, nullptr};
      ASSIGN_OR_RETURN(reached, join_->AdvanceWatermarkPartly(watermark_ms, def_.batch_rows_max, &jo));
      RETURN_IF_ERROR(Finish(out));
    } while (reached < watermark_ms);
    return Status::OK();
  }
  // The join advances to a batch's first watermark before its first row: done here in steps.
  Status AdvanceToFirstRow(const RowBatch& in, OpOutput* out) {
    return in.empty() ? Status::OK() : AdvanceWatermark(in.meta(0).watermark_ms, out);
  }

  int64_t watermark() const override { return join_->watermark(); }

  Status Checkpoint(const std::string& dir) override {
    RETURN_IF_ERROR(join_->Checkpoint(dir));
    RETURN_IF_ERROR(env_->WriteFileAtomic(dir + "/" + std::string(kWaitingFile), EncodeWaiting()));
    return env_->WriteFileAtomic(dir + "/" + std::string(kSeqFile), EncodeScalars());
  }
  Status BeginCheckpoint(const std::string& dir, state::AsyncFiles* files) override {
    RETURN_IF_ERROR(join_->BeginCheckpoint(dir, files));
    files->push_back(state::AsyncFile::Whole(dir + "/" + std::string(kWaitingFile), EncodeWaiting()));
    files->push_back(state::AsyncFile::Whole(dir + "/" + std::string(kSeqFile), EncodeScalars()));
    return Status::OK();
  }
  bool ContinueCheckpoint(std::chrono::steady_clock::time_point deadline) override {
    return join_->ContinueCheckpoint(deadline);
  }
  Status Restore(const std::string& dir) override {
    RETURN_IF_ERROR(join_->Restore(dir));
    ASSIGN_OR_RETURN(std::string s, env_->ReadFile(dir + "/" + std::string(kSeqFile)));
    std::string_view in = s;
    uint64_t seq = 0;
    if (!GetFixed64(&in, &seq) || !GetCheckpointedStats(&in, &own_) || !in.empty()) {
      return DataLoss("rank checkpoint: malformed " + dir + "/" + std::string(kSeqFile));
    }
    next_seq_ = static_cast<int64_t>(seq);
    // A checkpoint written before the step kept its waiting events itself has none of this file
    // (and full candidate rows in its join): it cannot be read as slim rows.
    const std::string path = dir + "/" + std::string(kWaitingFile);
    if (!env_->FileExists(path)) {
      return FailedPrecondition("rank checkpoint " + dir + " has no " + std::string(kWaitingFile) +
                                " (written by an older version); restart the pipeline from its source");
    }
    ASSIGN_OR_RETURN(std::string w, env_->ReadFile(path));
    return DecodeWaiting(w, path);
  }

  OperatorStats stats() const override {
    OperatorStats s = join_->stats();
    s.entries += waiting_.size();
    s.state_bytes += waiting_bytes_;
    s.late_events += own_.late_events;
    s.limit_dropped += own_.limit_dropped;
    s.scored = scored_;
    s.unscored = unscored_;
    return s;
  }

 private:
  std::string EncodeScalars() const {
    std::string s;
    PutFixed64(static_cast<uint64_t>(next_seq_), &s);
    PutCheckpointedStats(own_, &s);
    return s;
  }

  std::string EncodeWaiting() const {
    std::string s;
    PutFixed64(waiting_.size(), &s);
    for (const auto& [seq, w] : waiting_) {
      PutFixed64(static_cast<uint64_t>(seq), &s);
      PutFixed32(w.held, &s);
      PutFixed32(static_cast<uint32_t>(w.row.size()), &s);
      s.append(w.row);
    }
    return s;
  }

  Status DecodeWaiting(std::string_view in, const std::string& path) {
    waiting_.clear();
    waiting_bytes_ = 0;
    uint64_t n = 0;
    if (!GetFixed64(&in, &n)) return DataLoss("rank checkpoint: truncated " + path);
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t seq = 0;
      uint32_t held = 0, len = 0;
      if (!GetFixed64(&in, &seq) || !GetFixed32(&in, &held) || !GetFixed32(&in, &len) || in.size() < len || held == 0 ||
          static_cast<int64_t>(seq) >= next_seq_) {
        return DataLoss("rank checkpoint: malformed waiting event " + std::to_string(i) + " in " + path);
      }
      WaitingEvent& w = waiting_[static_cast<int64_t>(seq)];
      w.row.assign(in.substr(0, len));
      w.held = held;
      in.remove_prefix(len);
      waiting_bytes_ += w.row.size() + kWaitingEntryBytes;
    }
    if (!in.empty()) return DataLoss("rank checkpoint: trailing bytes in " + path);
    return Status::OK();
  }

  // An event with no candidate list (null: null outputs) or an empty one ("[]").
  void EmitUnranked(const Value* row, const RowMeta& meta, bool empty, OpOutput* out) {
    if (def_.emit_candidates) return;  // no candidate, no row
    RowBatch& o = *out->rows;
    Value* w = o.AppendRow();
    RowMeta m = meta;
    m.watermark_ms = std::max(m.watermark_ms, join_->watermark());
    o.meta(o.size() - 1) = m;
    CopyInto(op_.input, row, w, &o.arena());
    const size_t width = op_.input.size();
    w[width] = empty ? Value::String(o.arena().Copy("[]")) : Value::Null();
    w[width + 1] = empty ? Value::String(o.arena().Copy("[]")) : Value::Null();
  }

  static void CopyInto(const Schema& schema, const Value* from, Value* to, Arena* arena) {
    for (size_t f = 0; f < schema.size(); ++f) {
      to[f] = from[f];
      if (!from[f].null && schema.field(f).type == FieldType::kString) to[f] = Value::String(arena->Copy(from[f].sv()));
    }
  }

  // Scores the rows the join completed in this call and emits their events.
  Status Finish(OpOutput* out) {
    if (joined_.empty()) return Status::OK();
    // The events, by number (their arrival order in the task): rows of one event together.
    groups_.clear();
    for (size_t i = 0; i < joined_.size(); ++i) groups_[joined_.row(i)[kSlimSeq].i64].push_back(i);
    // Each event's rows in list order (the join releases them in its own order): candidate rows
    // and a list lookup's rows leave as the list has them, live or backfilled.
    for (auto& [seq, members] : groups_) {
      std::sort(members.begin(), members.end(),
                [this](size_t a, size_t b) { return joined_.row(a)[kSlimPlace].i64 < joined_.row(b)[kSlimPlace].i64; });
    }
    if (scoring()) Refresh();
    complete_.clear();
    for (auto& [seq, members] : groups_) {
      const int64_t count = joined_.row(members[0])[kSlimCount].i64;
      if (static_cast<int64_t>(members.size()) == count) {
        complete_.push_back(seq);
      } else {
        ++own_.limit_dropped;  // some of its candidates were refused: they are in _late_events
        Release(seq, static_cast<uint32_t>(members.size()));
      }
    }
    // The complete events in chunks of at most batch_rows_max candidate rows (at least one
    // event): a watermark advance may release most of the waiting events at once (a backfill's
    // last one all of them), and each candidate row is materialised with every field of the event.
    size_t begin = 0;
    while (begin < complete_.size()) {
      size_t end = begin, n = 0;
      while (end < complete_.size() && (end == begin || n + groups_[complete_[end]].size() <= def_.batch_rows_max)) {
        n += groups_[complete_[end]].size();
        ++end;
      }
      RETURN_IF_ERROR(ScoreAndEmit(begin, end, out));
      begin = end;
    }
    return Status::OK();
  }

  // Scores and emits the complete events complete_[begin, end), then forgets them (the join holds
  // none of their rows any more).
  Status ScoreAndEmit(size_t begin, size_t end, OpOutput* out) {
    events_.Clear();
    for (size_t e = begin; e < end; ++e) {
      const int64_t seq = complete_[e];
      auto it = waiting_.find(seq);
      if (it == waiting_.end()) {
        return DataLoss("rank: completed candidates of event " + std::to_string(seq) +
                        ", which the step does not hold");
      }
      RETURN_IF_ERROR(DecodeRow(op_.input, it->second.row, &events_));
      Release(seq, static_cast<uint32_t>(groups_[seq].size()));
    }
    // The candidate rows (row_schema: the event's fields, the slim fields, the view's fields (as
    // candidate_schema), then the pair fields) and the matrix.
    const size_t width = op_.input.size();
    const size_t cw = def_.candidate_schema.size();
    const size_t rw = def_.row_schema.size();
    const size_t view_width = cw - width - kSlimFields;
    size_t rows = 0;
    for (size_t e = begin; e < end; ++e) rows += groups_[complete_[e]].size();
    rows_.assign(rows * rw, Value::Null());
    order_.clear();
    for (size_t e = begin; e < end; ++e) {
      const Value* event = events_.row(e - begin);
      BeginEventEval();
      for (size_t i : groups_[complete_[e]]) {
        Value* r = rows_.data() + order_.size() * rw;
        const Value* j = joined_.row(i);
        for (size_t f = 0; f < width; ++f) r[f] = event[f];
        for (size_t f = 0; f < kSlimFields; ++f) r[width + f] = j[f];
        for (size_t f = 0; f < view_width; ++f) r[width + kSlimFields + f] = j[slim_.size() + f];
        for (size_t p = 0; p < pair_.size(); ++p) r[cw + p] = pair_[p].Eval(r, &joined_.arena());
        order_.push_back(i);
      }
      (void)TakeEvalError();  // an over-budget pair value is null (expr/eval.h)
    }
    const size_t n = order_.size();
    scores_.assign(n, std::nanf(""));
    if (!scoring()) {
      // A list lookup: no model, nothing to count as scored or unscored.
    } else if (binding_.usable() && n > 0) {
      const size_t f = binding_.fields.size();
      matrix_.resize(n * f);
      for (size_t j = 0; j < n; ++j) {
        const Value* r = rows_.data() + j * rw;
        float* x = matrix_.data() + j * f;
        for (size_t c = 0; c < f; ++c) {
          const Value& v = r[binding_.fields[c]];
          if (v.null) {
            x[c] = binding_.defaults[c];
            continue;
          }
          switch (binding_.types[c]) {
            case FieldType::kDouble: x[c] = static_cast<float>(v.f64); break;
            case FieldType::kBool: x[c] = v.b ? 1.0f : 0.0f; break;
            default: x[c] = static_cast<float>(v.i64); break;
          }
        }
      }
      RETURN_IF_ERROR(
          ScoreInBatches(*binding_.loaded->model, matrix_.data(), n, def_.batch_rows_max, &scratch_, scores_.data()));
      scored_ += n;
    } else {
      unscored_ += n;
    }
    Emit(begin, end, out);
    return Status::OK();
  }

  void Emit(size_t begin, size_t end, OpOutput* out) {
    RowBatch& o = *out->rows;
    const size_t rw = def_.row_schema.size();
    const size_t width = op_.input.size();
    if (def_.emit_candidates) {
      for (size_t j = 0; j < order_.size(); ++j) {
        const Value* r = rows_.data() + j * rw;
        Value* w = o.AppendRow();
        o.meta(o.size() - 1) = joined_.meta(order_[j]);
        size_t at = 0;
        for (size_t f = 0; f < rw; ++f) {
          if (f == seq_field_ || f == count_field_) continue;
          Value v = r[f];
          if (!v.null && def_.row_schema.field(f).type == FieldType::kString) v = Value::String(o.arena().Copy(v.sv()));
          w[at++] = v;
        }
        if (scoring()) {
          w[at] = binding_.usable() && std::isfinite(scores_[j]) ? Value::Double(scores_[j]) : Value::Null();
        }
      }
      return;
    }
    size_t j = 0;
    for (size_t e = begin; e < end; ++e) {
      const std::vector<size_t>& members = groups_[complete_[e]];
      ids_.clear();
      for (size_t m = 0; m < members.size(); ++m) ids_.push_back(rows_[(j + m) * rw + width + 2].i64);
      const std::span<const float> s(scores_.data() + j, members.size());
      const Value* first = rows_.data() + j * rw;
      Value* w = o.AppendRow();
      o.meta(o.size() - 1) = joined_.meta(members[0]);
      CopyInto(op_.input, first, w, &o.arena());
      if (binding_.usable()) {
        KeepTopK(ids_, s, def_.k, &ranked_);
        text_.clear();
        AppendRankedIdsJson(ranked_, &text_);
        w[width] = Value::String(o.arena().Copy(text_));
        text_.clear();
        AppendRankedScoresJson(ranked_, &text_);
        w[width + 1] = Value::String(o.arena().Copy(text_));
      } else {
        w[width] = Value::Null();
        w[width + 1] = Value::Null();
      }
      j += members.size();
    }
  }

  // A rank step scores with its model; a lookup of a list of keys has none.
  bool scoring() const { return !def_.model.empty(); }

  // Re-resolves the serving version when the repository changed.
  void Refresh() {
    if (ctx_.models == nullptr) {
      binding_ = RankBinding{};
      binding_.error = "no model repository";
      return;
    }
    const uint64_t gen = ctx_.models->generation();
    if (resolved_ && gen == generation_) return;
    generation_ = gen;
    resolved_ = true;
    auto got = ctx_.models->Get(def_.model, std::nullopt);
    if (!got.ok()) {
      binding_ = RankBinding{};
      binding_.error = got.status().message();
      return;
    }
    if (binding_.loaded == *got) return;
    binding_ = RankBinding{};
    binding_.loaded = *got;
    binding_.error = Bind(**got, def_.row_schema, &binding_.fields, &binding_.types, &binding_.defaults);
  }

 public:
  // Resolves the model's inputs by name among `rows`' fields; "" or why not.
  static std::string Bind(const model::LoadedModel& m, const Schema& rows, std::vector<int>* fields,
                          std::vector<FieldType>* types, std::vector<float>* defaults) {
    const std::string what = "model '" + m.name + "' version " + std::to_string(m.version);
    std::vector<std::string_view> names;
    for (const Field& f : rows.fields()) names.push_back(f.name);
    for (const model::ModelInput& in : m.config.inputs) {
      const std::string& from = in.from.empty() ? in.name : in.from;
      const int idx = rows.FieldIndex(from);
      if (idx < 0 || from == RankDef::kSeqField || from == RankDef::kCountField) {
        return what + " input '" + in.name + "' reads field '" + from +
               "', which is neither a field of the event, a feature of the candidate nor a pair field" +
               DidYouMean(from, names);
      }
      const FieldType t = rows.field(static_cast<size_t>(idx)).type;
      if (t == FieldType::kString) {
        return what + " input '" + in.name + "' reads string field '" + from + "'; models take numbers and bools";
      }
      fields->push_back(idx);
      types->push_back(t);
      defaults->push_back(in.default_value ? *in.default_value : std::nanf(""));
    }
    if (m.model->num_outputs() < 1) return what + " has no output";
    return "";
  }

 private:
  const LogicalOp op_;
  const RankDef def_;
  const OperatorContext ctx_;
  Env* env_;
  std::unique_ptr<StatefulOperator> join_;
  std::optional<AsOfTime> as_of_;
  std::vector<CompiledExpr> pair_;
  size_t seq_field_ = 0, count_field_ = 0;
  Schema slim_;  // the join's input: the slim candidate rows
  int64_t next_seq_ = 0;
  std::map<int64_t, WaitingEvent> waiting_;  // by event number
  uint64_t waiting_bytes_ = 0;               // their payloads plus kWaitingEntryBytes each
  RankBinding binding_;
  uint64_t generation_ = 0;
  bool resolved_ = false;
  OperatorStats own_;  // late (invalid, too_large) and dropped events of this step
  uint64_t scored_ = 0, unscored_ = 0;
  // Scratch, reused across calls.
  RowBatch joined_{1}, candidates_{1}, events_{1};
  std::vector<const Value*> flush_rows_;  // the events of the candidate rows gathered, from flush_first_seq_ on
  int64_t flush_first_seq_ = 0;
  std::vector<Value> full_;  // a refused candidate row, whole (candidate_input)
  std::vector<int64_t> ids_;
  std::vector<std::optional<int64_t>> counts_;
  std::map<int64_t, std::vector<size_t>> groups_;
  std::vector<int64_t> complete_;
  std::vector<size_t> order_;
  std::vector<Value> rows_;
  std::vector<float> matrix_, scores_, scratch_;
  std::vector<RankedCandidate> ranked_;
  std::string text_;
};

}  // namespace

Status CheckRankStep(const LogicalOp& op, model::ModelRepository* models) {
  if (op.rank == nullptr) return Status::OK();
  const RankDef& r = *op.rank;
  if (r.model.empty()) return Status::OK();  // a lookup of a list of keys: no model
  const std::string step = "step " + op.label + " (model '" + r.model + "')";
  if (models == nullptr) return FailedPrecondition(step + " needs a model repository (impulse run --models DIR)");
  auto got = models->Get(r.model, std::nullopt);
  if (!got.ok()) return got.status().WithContext(step);
  std::vector<int> fields;
  std::vector<FieldType> types;
  std::vector<float> defaults;
  const std::string error = RankOperator::Bind(**got, r.row_schema, &fields, &types, &defaults);
  if (!error.empty()) return InvalidArgument(step + ": " + error);
  return Status::OK();
}

Result<std::unique_ptr<StatefulOperator>> NewRankOperator(const LogicalOp& op, const OperatorContext& ctx) {
  if (op.kind != LogicalOp::Kind::kJoin || op.join == nullptr || op.rank == nullptr) {
    return InvalidArgument("rank operator: not a rank op");
  }
  const RankDef& r = *op.rank;
  if (r.candidates_field < 0 || static_cast<size_t>(r.candidates_field) >= op.input.size() ||
      r.candidate_input.size() != op.input.size() + 5 || r.k == 0 || r.candidates_max == 0 || r.batch_rows_max == 0) {
    return InvalidArgument("rank operator: malformed definition");
  }
  auto rank = std::make_unique<RankOperator>(op, ctx);
  RETURN_IF_ERROR(rank->Init());
  return std::unique_ptr<StatefulOperator>(std::move(rank));
}

}  // namespace impulse::plan
