// dedup: the first row per key passes; a row whose key was last seen less than `within` (event
// time) before it is a duplicate, dropped and counted. Keys are forgotten once the watermark is
// `within` past their last sighting, so state stays bounded by the key rate times the horizon.
// A row older than watermark - within could be a duplicate of a forgotten key: it is late.
#include <algorithm>

#include "common/fixed_codec.h"
#include "ops/operator.h"
#include "state/state_table.h"

namespace impulse::plan {

namespace {

class DedupOperator final : public StatefulOperator {
 public:
  DedupOperator(const LogicalOp& op, const OperatorContext& ctx)
      : op_(op), def_(*op.dedup), ctx_(ctx), env_(ctx.state.env != nullptr ? ctx.state.env : Env::Default()) {}

  Status Init() {
    state::StateOptions so = ctx_.state;
    so.entries_max = def_.keys_max;
    ASSIGN_OR_RETURN(seen_, state::StateTable<int64_t>::Open(so));
    return Status::OK();
  }

  Status Process(int side, const RowBatch& in, OpOutput* out) override {
    IMPULSE_CHECK(side == 0);
    for (size_t i = 0; i < in.size(); ++i) {
      const RowMeta& m = in.meta(i);
      if (m.watermark_ms > wm_) RETURN_IF_ERROR(Advance(m.watermark_ms));
      const Value* row = in.row(i);
      const int64_t ts = m.event_time_ms;
      if (wm_ != INT64_MIN && ts < wm_ - def_.within_ms) {
        ++stats_.late_events;
        AppendLateRow(ctx_, op_.input, row, m, LateReason::kLate, wm_, out->late);
        continue;
      }
      key_.clear();
      AppendKeyBytes(op_.input, def_.key_fields, row, &key_);
      bool inserted = false;
      bool refused = false;
      auto last = seen_->FindOrInsert(key_, &inserted, &refused);
      if (!last.ok()) {
        if (!refused) return last.status();
        ++stats_.limit_dropped;
        AppendLateRow(ctx_, op_.input, row, m, LateReason::kStateLimit, wm_, out->late);
        continue;
      }
      if (!inserted && ts - **last < def_.within_ms && ts >= **last - def_.within_ms) {
        ++stats_.duplicates;
        **last = std::max(**last, ts);
        continue;
      }
      **last = inserted ? ts : std::max(**last, ts);
      out->rows->AppendCopy(in, i);
      out->rows->meta(out->rows->size() - 1).watermark_ms = wm_;
    }
    return Status::OK();
  }

  Status AdvanceWatermark(int64_t watermark_ms, OpOutput*) override {
    if (watermark_ms > wm_) return Advance(watermark_ms);
    return Status::OK();
  }

  int64_t watermark() const override { return wm_; }

  OperatorStats stats() const override {
    OperatorStats s = stats_;
    s.entries = seen_->size();
    s.state_bytes = seen_->stats().memory_bytes;
    return s;
  }

  Status Checkpoint(const std::string& dir) override {
    RETURN_IF_ERROR(env_->CreateDirs(dir));
    RETURN_IF_ERROR(seen_->Checkpoint(dir + "/seen").status());
    return env_->WriteFileAtomic(dir + "/dedup.meta", EncodeMeta());
  }

  Status BeginCheckpoint(const std::string& dir, state::AsyncFiles* files) override {
    RETURN_IF_ERROR(seen_->BeginCapture(dir + "/seen", files));
    files->push_back(state::AsyncFile::Whole(dir + "/dedup.meta", EncodeMeta()));
    return Status::OK();
  }

  bool ContinueCheckpoint(std::chrono::steady_clock::time_point deadline) override {
    return seen_->CaptureStep(deadline);
  }

  Status Restore(const std::string& dir) override {
    ASSIGN_OR_RETURN(std::string meta, env_->ReadFile(dir + "/dedup.meta"));
    std::string_view in(meta);
    int64_t dups = 0, late = 0;
    if (!GetI64(&in, &wm_) || !GetI64(&in, &last_sweep_wm_) || !GetI64(&in, &dups) || !GetI64(&in, &late) ||
        !in.empty()) {
      return DataLoss("dedup state " + dir + "/dedup.meta is malformed");
    }
    stats_.duplicates = static_cast<uint64_t>(dups);
    stats_.late_events = static_cast<uint64_t>(late);
    return seen_->Restore(dir + "/seen");
  }

 private:
  std::string EncodeMeta() const {
    std::string meta;
    PutI64(wm_, &meta);
    PutI64(last_sweep_wm_, &meta);
    PutI64(static_cast<int64_t>(stats_.duplicates), &meta);
    PutI64(static_cast<int64_t>(stats_.late_events), &meta);
    return meta;
  }

  Status Advance(int64_t w) {
    wm_ = w;
    const int64_t every = std::max<int64_t>(def_.within_ms / 4, 1000);
    if (wm_ == INT64_MAX || (last_sweep_wm_ != INT64_MIN && wm_ - last_sweep_wm_ < every)) return Status::OK();
    last_sweep_wm_ = wm_;
    expired_.clear();
    RETURN_IF_ERROR(seen_->ForEachRead([&](std::string_view key, const int64_t& last) {
      if (last < wm_ - def_.within_ms) expired_.emplace_back(key);
      return Status::OK();
    }));
    for (const std::string& k : expired_) RETURN_IF_ERROR(seen_->Erase(k));
    stats_.expired += expired_.size();
    return Status::OK();
  }

  const LogicalOp& op_;
  const DedupDef& def_;
  OperatorContext ctx_;
  Env* env_;
  std::unique_ptr<state::StateTable<int64_t>> seen_;
  int64_t wm_ = INT64_MIN;
  int64_t last_sweep_wm_ = INT64_MIN;
  OperatorStats stats_;
  std::string key_;
  std::vector<std::string> expired_;
};

}  // namespace

Result<std::unique_ptr<StatefulOperator>> NewDedupOperator(const LogicalOp& op, const OperatorContext& ctx) {
  if (!op.dedup) return InvalidArgument("dedup operator without a definition");
  auto d = std::make_unique<DedupOperator>(op, ctx);
  RETURN_IF_ERROR(d->Init());
  return std::unique_ptr<StatefulOperator>(std::move(d));
}

}  // namespace impulse::plan
