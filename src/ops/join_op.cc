// The join operator (NewJoinOperator in stateful.h): the pipeline's rows (side 0, left) with the
// rows of a co-partitioned second stream (side 1, right). Three types (JoinDef::Type):
//  - kInterval: both sides buffered per key; each new row probes the other side and emits every
//    match at once, then is buffered itself, so each pair is emitted exactly once (by whichever
//    row arrives second). A buffered row is dropped once no future non-late row can match it.
//  - kWindow: rows buffered per (key, tumbling window); the cross product is emitted when the
//    watermark closes the window.
//    With `left_outer`, a left row that no right row matched is emitted once with null right
//    fields when it leaves the state (the watermark passed left.ts + upper: no match can come),
//    with that time as its event time; a left row with a null key at once.
//  - kLookup: right rows upsert a table (latest by arrival); left rows probe it.
//  - kAsOf: an event-time temporal join (Flink's FOR SYSTEM_TIME AS OF): right rows are versions
//    of their key, kept in event-time order; a left row reads the latest version with
//    ts <= T once the watermark W is past T (T < W: every right row at or before T has
//    arrived), so its values do not depend on the relative speed of the two inputs. T is
//    left.ts + as_of_ms, or the as_of_expr's value, refused unless in
//    [left.ts - as_of_lag_max_ms, left.ts] (ops/as_of_time.h). A left row whose T is not yet
//    behind W waits (a timer at T). Versions are dropped once no future left row can read them:
//    those superseded by a version at or before the floor W + as_of_ms (or W - as_of_lag_max_ms:
//    the smallest T of a left row not yet late), and, with state_ttl_ms, those older than that
//    by more than the ttl (read as null). A key's versions and its waiting left rows are two
//    state entries (the key; kWaitingTag + the key), so a new version rewrites only the
//    versions and a released row finds its version by binary search: with both in one list, a
//    popular key's waiting rows were copied at every version and walked for every release
//    (quadratic in the rows waiting on one key). Lists holding both sides, as checkpoints
//    written before the split have them, are still served.
// All keyed state is one StateTable<RowList> (memory or RocksDB). Timers (cleanup or window
// close) live in an in-memory min-heap with one entry per state key, rebuilt from the table on
// Restore, so a checkpoint is the table plus a few scalars.
//
// Lateness (interval): a row is late when ts < W and the other side's rows are cleaned by the
// watermark (its bound is finite): only then could it miss a partner that was already dropped.
// With unbounded sides (a regular join) nothing is late; rows live state_ttl_ms behind W.
#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/fixed_codec.h"
#include "event/row_codec.h"
#include "ops/as_of_time.h"
#include "ops/operator.h"
#include "state/state_table.h"

namespace impulse::plan {
namespace {

constexpr int64_t kNever = INT64_MAX;
constexpr int64_t kSweepIntervalMs = 1000;  // lookup TTL sweep: at most once per second of event time
constexpr std::string_view kScalarsFile = "join.scalars";
constexpr std::string_view kTableDir = "table";
constexpr uint32_t kScalarsMagic = 0x314E4A49;  // "IJN1"
constexpr size_t kMapNodeBytes = 48;            // a std::map<int64_t, uint64_t> node, roughly
constexpr char kWaitingTag = '\2';              // AppendKeyBytes starts every key with '\0' or '\1'

int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}
int64_t SatSub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? INT64_MAX : INT64_MIN;
  return r;
}

// Integers of 1, 4 or 8 bytes, little-endian (common/fixed_codec.h).
template <typename T>
requires std::is_integral_v<T> &&
    (sizeof(T) == 1 || sizeof(T) == 4 || sizeof(T) == 8) void PutRaw(std::string* out, T v) {
  if constexpr (sizeof(T) == 1) {
    out->push_back(static_cast<char>(v));
  } else if constexpr (sizeof(T) == 4) {
    PutFixed32(static_cast<uint32_t>(v), out);
  } else {
    PutFixed64(static_cast<uint64_t>(v), out);
  }
}
template <typename T>
requires std::is_integral_v<T> &&
    (sizeof(T) == 1 || sizeof(T) == 4 || sizeof(T) == 8) bool GetRaw(std::string_view* in, T* v) {
  if constexpr (sizeof(T) == 1) {
    if (in->empty()) return false;
    *v = static_cast<T>((*in)[0]);
    in->remove_prefix(1);
    return true;
  } else if constexpr (sizeof(T) == 4) {
    uint32_t x;
    if (!GetFixed32(in, &x)) return false;
    *v = static_cast<T>(x);
    return true;
  } else {
    uint64_t x;
    if (!GetFixed64(in, &x)) return false;
    *v = static_cast<T>(x);
    return true;
  }
}

// One buffered row: flags (bit 0: right side, bit 1: expires by TTL, bit 2: a left row that has
// matched), ts, expire_ms (dropped once W > expire_ms; kNever = not by time), then the EncodeRow
// payload.
constexpr uint8_t kMatchedFlag = 4;
struct Record {
  int side = 0;
  bool ttl = false;
  bool matched = false;
  int64_t ts = 0;
  int64_t expire_ms = kNever;
  std::string_view payload;
  size_t bytes = 0;  // the whole record's encoded size
};
constexpr size_t kRecordHeaderBytes = 1 + 8 + 8 + 4;

bool NextRecord(std::string_view* rest, Record* r) {
  const size_t before = rest->size();
  uint8_t flags;
  uint32_t len;
  if (!GetRaw(rest, &flags) || !GetRaw(rest, &r->ts) || !GetRaw(rest, &r->expire_ms) || !GetRaw(rest, &len)) {
    return false;
  }
  if (flags > 7 || rest->size() < len) return false;
  r->side = flags & 1;
  r->ttl = (flags & 2) != 0;
  r->matched = (flags & kMatchedFlag) != 0;
  r->payload = rest->substr(0, len);
  rest->remove_prefix(len);
  r->bytes = before - rest->size();
  return true;
}

void AppendRecord(int side, bool ttl, int64_t ts, int64_t expire_ms, std::string_view payload, std::string* out,
                  bool matched = false) {
  PutRaw<uint8_t>(out, static_cast<uint8_t>(side | (ttl ? 2 : 0) | (matched ? kMatchedFlag : 0)));
  PutRaw(out, ts);
  PutRaw(out, expire_ms);
  PutRaw(out, static_cast<uint32_t>(payload.size()));
  out->append(payload);
}

// The value of one state key: its buffered rows of both sides (kLookup: the one latest right row).
struct RowList {
  int64_t timer_ms = kNever;  // the pending heap timer of this key; kNever = none
  uint32_t count = 0;         // records in data
  std::string data;           // concatenated records

  void Serialize(std::string* out) const {
    PutRaw(out, timer_ms);
    PutRaw(out, count);
    out->append(data);
  }
  Status Deserialize(std::string_view in) {
    if (!GetRaw(&in, &timer_ms) || !GetRaw(&in, &count)) return DataLoss("join row list: truncated header");
    std::string_view rest = in;
    Record r;
    for (uint32_t i = 0; i < count; ++i) {
      if (!NextRecord(&rest, &r)) return DataLoss("join row list: truncated record");
    }
    if (!rest.empty()) return DataLoss("join row list: trailing bytes");
    data.assign(in);
    return Status::OK();
  }
};

using Timer = std::pair<int64_t, std::string>;  // (fire once W > this, state key)

// Contract: one instance per task, driven by one thread. Input: rows of either side with
// meta.watermark_ms; output: joined rows (op.output schema, strings in out->rows' arena) and
// late rows. State: at most rows_max buffered rows per side (lookup: table entries), plus one
// heap timer per state key.
class JoinOperator final : public StatefulOperator {
 public:
  JoinOperator(const LogicalOp& op, const OperatorContext& ctx, LeftLateWriter left_late)
      : def_(*op.join),
        ctx_(ctx),
        left_late_(std::move(left_late)),
        schema_{op.input, op.join->right_schema},
        key_fields_{{def_.left_key}, {def_.right_key}} {
    decoded_[0].Reset(schema_[0].size());
    decoded_[1].Reset(schema_[1].size());
    env_ = ctx.state.env != nullptr ? ctx.state.env : Env::Default();
  }

  Status Init() {
    state::StateOptions options = ctx_.state;
    const uint64_t keys_max = def_.type == JoinDef::Type::kLookup ? def_.rows_max : 2 * def_.rows_max;
    if (keys_max < options.entries_max) options.entries_max = static_cast<size_t>(keys_max);
    if (def_.type == JoinDef::Type::kAsOf) {
      // A key has up to two entries (its versions, the rows waiting on it, the latter under a key
      // one byte longer): the bounds on keys are kept what they were for one entry per key.
      const uint64_t doubled = options.entries_max > UINT64_MAX / 2 ? UINT64_MAX : 2 * uint64_t{options.entries_max};
      options.entries_max = static_cast<size_t>(std::min(doubled, keys_max));
      options.key_bytes_max += 1;
    }
    ASSIGN_OR_RETURN(table_, state::StateTable<RowList>::Open(options));
    if (def_.type == JoinDef::Type::kAsOf) {
      ASSIGN_OR_RETURN(AsOfTime t, AsOfTime::Create(def_));
      as_of_.emplace(std::move(t));
    }
    return Status::OK();
  }

  Status Process(int side, const RowBatch& in, OpOutput* out) override {
    if (side != 0 && side != 1) return InvalidArgument("join: input side must be 0 or 1");
    for (size_t i = 0; i < in.size(); ++i) {
      RETURN_IF_ERROR(AdvanceTo(in.meta(i).watermark_ms, out));
      switch (def_.type) {
        case JoinDef::Type::kInterval: RETURN_IF_ERROR(ProcessInterval(side, in.row(i), in.meta(i), out)); break;
        case JoinDef::Type::kWindow: RETURN_IF_ERROR(ProcessWindow(side, in.row(i), in.meta(i), out)); break;
        case JoinDef::Type::kLookup: RETURN_IF_ERROR(ProcessLookup(side, in.row(i), in.meta(i), out)); break;
        case JoinDef::Type::kAsOf: RETURN_IF_ERROR(ProcessAsOf(side, in.row(i), in.meta(i), out)); break;
      }
    }
    return Status::OK();
  }

  Status AdvanceWatermark(int64_t watermark_ms, OpOutput* out) override { return AdvanceTo(watermark_ms, out); }
  // As of: one step, to just past the earliest as-of times whose waiting rows number at least
  // rows_soft_max (so each waiting list is rewritten once per call, not once per time).
  Result<int64_t> AdvanceWatermarkPartly(int64_t watermark_ms, size_t rows_soft_max, OpOutput* out) override {
    int64_t step = watermark_ms;
    uint64_t rows = 0;
    // From the watermark on: a time behind it is released already (an entry there would make
    // no progress).
    for (auto it = waiting_by_as_of_.lower_bound(watermark_); it != waiting_by_as_of_.end(); ++it) {
      const auto& [as_of, n] = *it;
      if (as_of >= SatSub(watermark_ms, 1)) break;
      rows += n;
      if (rows >= rows_soft_max) {
        step = as_of + 1;
        break;
      }
    }
    RETURN_IF_ERROR(AdvanceTo(step, out));
    return std::min(watermark_, watermark_ms);
  }
  int64_t watermark() const override { return watermark_; }

  Status Checkpoint(const std::string& dir) override {
    RETURN_IF_ERROR(env_->CreateDirs(dir));
    ASSIGN_OR_RETURN(uint64_t bytes, table_->Checkpoint(dir + "/" + std::string(kTableDir)));
    (void)bytes;
    return env_->WriteFileAtomic(dir + "/" + std::string(kScalarsFile), EncodeScalars());
  }

  Status BeginCheckpoint(const std::string& dir, state::AsyncFiles* files) override {
    RETURN_IF_ERROR(table_->BeginCapture(dir + "/" + std::string(kTableDir), files));
    files->push_back(state::AsyncFile::Whole(dir + "/" + std::string(kScalarsFile), EncodeScalars()));
    return Status::OK();
  }

  bool ContinueCheckpoint(std::chrono::steady_clock::time_point deadline) override {
    return table_->CaptureStep(deadline);
  }

  std::string EncodeScalars() const {
    std::string s;
    PutRaw(&s, kScalarsMagic);
    PutRaw(&s, static_cast<uint8_t>(def_.type));
    PutRaw(&s, watermark_);
    PutRaw(&s, last_sweep_ms_);
    PutRaw(&s, late_events_);
    PutRaw(&s, limit_dropped_);
    PutRaw(&s, expired_);
    PutRaw(&s, pruned_floor_);
    return s;
  }

  Status Restore(const std::string& dir) override {
    ASSIGN_OR_RETURN(std::string s, env_->ReadFile(dir + "/" + std::string(kScalarsFile)));
    std::string_view in = s;
    uint32_t magic = 0;
    uint8_t type = 0;
    int64_t watermark = 0, last_sweep = 0;
    uint64_t late = 0, limit = 0, expired = 0;
    if (!GetRaw(&in, &magic) || !GetRaw(&in, &type) || !GetRaw(&in, &watermark) || !GetRaw(&in, &last_sweep) ||
        !GetRaw(&in, &late) || !GetRaw(&in, &limit) || !GetRaw(&in, &expired) || magic != kScalarsMagic) {
      return DataLoss("join checkpoint: malformed " + dir + "/" + std::string(kScalarsFile));
    }
    // Checkpoints written before the pruned floor was kept end here.
    int64_t pruned_floor = INT64_MIN;
    if (!in.empty() && (!GetRaw(&in, &pruned_floor) || !in.empty())) {
      return DataLoss("join checkpoint: malformed " + dir + "/" + std::string(kScalarsFile));
    }
    if (type != static_cast<uint8_t>(def_.type))
      return InvalidArgument("join checkpoint " + dir + " is of another join type");
    RETURN_IF_ERROR(table_->Restore(dir + "/" + std::string(kTableDir)));
    watermark_ = watermark;
    last_sweep_ms_ = last_sweep;
    late_events_ = late;
    limit_dropped_ = limit;
    expired_ = expired;
    pruned_floor_ = pruned_floor;
    return RebuildDerived();
  }

  OperatorStats stats() const override {
    OperatorStats s;
    s.entries = def_.type == JoinDef::Type::kLookup ? table_->size() : rows_[0] + rows_[1];
    s.state_bytes = table_->stats().memory_bytes + payload_bytes_ + timers_.size() * sizeof(Timer) +
                    waiting_by_as_of_.size() * kMapNodeBytes;
    s.late_events = late_events_;
    s.limit_dropped = limit_dropped_;
    s.expired = expired_;
    return s;
  }

 private:
  // --- event time ---
  Status AdvanceTo(int64_t watermark_ms, OpOutput* out) {
    if (watermark_ms <= watermark_) return Status::OK();
    // Rows fired by this advance carry the previous watermark: they precede the new one, so a
    // following stateful step does not take them for late.
    fire_watermark_ = watermark_;
    watermark_ = watermark_ms;
    RETURN_IF_ERROR(FireTimers(out));
    if (def_.type == JoinDef::Type::kLookup && def_.state_ttl_ms >= 0 &&
        (last_sweep_ms_ == INT64_MIN || SatSub(watermark_, last_sweep_ms_) >= kSweepIntervalMs)) {
      RETURN_IF_ERROR(SweepLookup());
    }
    return Status::OK();
  }

  Status FireTimers(OpOutput* out) {
    while (!timers_.empty() && timers_.top().first < watermark_) {
      const Timer timer = timers_.top();
      timers_.pop();
      ASSIGN_OR_RETURN(RowList * list, table_->Find(timer.second));
      if (list == nullptr || list->timer_ms != timer.first) continue;  // stale timer
      if (def_.type == JoinDef::Type::kWindow) {
        RETURN_IF_ERROR(EmitWindow(*list, timer.first, out));
        ForgetRecords(*list);
        RETURN_IF_ERROR(table_->Erase(timer.second));
        continue;
      }
      if (def_.type == JoinDef::Type::kAsOf) {
        RETURN_IF_ERROR(ServiceAsOf(timer.second, out));
        continue;
      }
      RETURN_IF_ERROR(Prune(list, out));
      if (list->count == 0) {
        RETURN_IF_ERROR(table_->Erase(timer.second));
      } else if (list->timer_ms != kNever) {
        timers_.emplace(list->timer_ms, timer.second);
      }
    }
    return Status::OK();
  }

  // Drops the records of `list` whose expiry W has passed and recomputes its timer.
  Status Prune(RowList* list, OpOutput* out) {
    std::string kept;
    std::string_view rest = list->data;
    Record r;
    uint32_t count = 0;
    int64_t next = kNever;
    while (NextRecord(&rest, &r)) {
      if (r.expire_ms < watermark_) {
        if (def_.left_outer && r.side == 0 && !r.matched) RETURN_IF_ERROR(EmitUnmatched(r, out));
        --rows_[r.side];
        payload_bytes_ -= r.bytes;
        if (r.ttl) ++expired_;
        continue;
      }
      AppendRecord(r.side, r.ttl, r.ts, r.expire_ms, r.payload, &kept, r.matched);
      ++count;
      next = std::min(next, r.expire_ms);
    }
    list->data.swap(kept);
    list->count = count;
    list->timer_ms = next;
    return Status::OK();
  }

  void ForgetRecords(const RowList& list) {
    std::string_view rest = list.data;
    Record r;
    while (NextRecord(&rest, &r)) {
      --rows_[r.side];
      payload_bytes_ -= r.bytes;
    }
  }

  // Timers, row counts and byte counts are derived from the table: rebuilt after Restore.
  Status RebuildDerived() {
    timers_ = {};
    rows_[0] = rows_[1] = 0;
    waiting_by_as_of_.clear();
    payload_bytes_ = 0;
    return table_->ForEach([&](std::string_view key, RowList& list) -> Status {
      std::string_view rest = list.data;
      Record r;
      for (uint32_t i = 0; i < list.count; ++i) {
        if (!NextRecord(&rest, &r)) return DataLoss("join checkpoint: corrupt row list");
        ++rows_[r.side];
        payload_bytes_ += r.bytes;
        if (def_.type == JoinDef::Type::kAsOf && r.side == 0) ++waiting_by_as_of_[r.expire_ms];
      }
      if (list.timer_ms != kNever) timers_.emplace(list.timer_ms, std::string(key));
      return Status::OK();
    });
  }

  // --- interval ---
  Status ProcessInterval(int side, const Value* row, const RowMeta& meta, OpOutput* out) {
    const Value& key = row[side == 0 ? def_.left_key : def_.right_key];
    const int64_t ts = meta.event_time_ms;
    if (key.null) {  // never equal to anything
      if (side == 0 && def_.left_outer) EmitOuter(row, meta, SatAdd(ts, def_.upper_ms), out);
      return Status::OK();
    }
    // The bound that cleans the other side's rows, and this row's own expiry.
    const bool other_cleaned = side == 0 ? def_.lower_ms != INT64_MIN : def_.upper_ms != INT64_MAX;
    if (other_cleaned && ts < watermark_) return Late(side, row, meta, LateReason::kLate, out);
    const bool own_bounded = side == 0 ? def_.upper_ms != INT64_MAX : def_.lower_ms != INT64_MIN;
    bool ttl = false;
    int64_t expire = kNever;
    if (own_bounded) {
      expire = side == 0 ? SatAdd(ts, def_.upper_ms) : SatSub(ts, def_.lower_ms);
    } else if (def_.state_ttl_ms >= 0) {
      expire = SatAdd(ts, def_.state_ttl_ms);
      ttl = true;
    }
    const bool buffer = expire >= watermark_;  // else no future row can match it: probe only
    if (buffer && rows_[side] >= def_.rows_max) return Late(side, row, meta, LateReason::kStateLimit, out);
    KeyOf(side, row, /*window_start=*/nullptr);
    bool refused = false;
    Result<RowList*> found = buffer ? table_->FindOrInsert(key_, nullptr, &refused) : table_->Find(key_);
    if (!found.ok()) return StateFailure(side, row, meta, found.status(), refused, out);
    RowList* list = *found;
    if (list == nullptr) {  // nothing buffered for this key, and this row is not kept either
      if (side == 0 && def_.left_outer) EmitOuter(row, meta, expire, out);
      return Status::OK();
    }
    // Probe: every buffered row of the other side whose ts difference is within the bounds.
    const int other = 1 - side;
    std::string_view rest = list->data;
    Record r;
    bool matched = false;
    while (NextRecord(&rest, &r)) {
      if (r.side != other) continue;
      const int64_t diff = side == 0 ? SatSub(r.ts, ts) : SatSub(ts, r.ts);  // right.ts - left.ts
      if (diff < def_.lower_ms || diff > def_.upper_ms) continue;
      ASSIGN_OR_RETURN(const Value* buffered, Decode(other, r.payload));
      matched = true;
      if (other == 0 && !r.matched) {
        // The buffered left row has a partner now: no outer row for it. Its flags byte sits the
        // record header's size before its payload.
        const size_t at = static_cast<size_t>(r.payload.data() - list->data.data()) - kRecordHeaderBytes;
        list->data[at] = static_cast<char>(static_cast<uint8_t>(list->data[at]) | kMatchedFlag);
      }
      RowMeta m = meta;
      m.event_time_ms = std::max(ts, r.ts);
      m.watermark_ms = watermark_;
      if (side == 0) {
        EmitPair(row, buffered, m, out);
      } else {
        EmitPair(buffered, row, m, out);
      }
    }
    if (!buffer) {
      // No future right row can match it (its interval is already behind the watermark).
      if (side == 0 && def_.left_outer && !matched) EmitOuter(row, meta, expire, out);
      return Status::OK();
    }
    encoded_.clear();
    EncodeRow(schema_[side], row, meta, &encoded_);
    AppendRecord(side, ttl, ts, expire, encoded_, &list->data, side == 0 && matched);
    ++list->count;
    ++rows_[side];
    payload_bytes_ += kRecordHeaderBytes + encoded_.size();
    if (expire < list->timer_ms) {
      list->timer_ms = expire;
      timers_.emplace(expire, key_);
    }
    return Status::OK();
  }

  // --- window ---
  Status ProcessWindow(int side, const Value* row, const RowMeta& meta, OpOutput* out) {
    const Value& key = row[side == 0 ? def_.left_key : def_.right_key];
    if (key.null) return Status::OK();
    const int64_t ts = meta.event_time_ms;
    const int64_t w = def_.window_ms;
    const int64_t offset = ((ts % w) + w) % w;  // floor division, also for negative ts
    int64_t start, last;
    if (__builtin_sub_overflow(ts, offset, &start) || __builtin_add_overflow(start, w - 1, &last)) {
      return Late(side, row, meta, LateReason::kOutOfRange, out);
    }
    if (watermark_ > last) return Late(side, row, meta, LateReason::kLate, out);  // W >= window end
    if (rows_[side] >= def_.rows_max) return Late(side, row, meta, LateReason::kStateLimit, out);
    KeyOf(side, row, &start);
    bool refused = false;
    Result<RowList*> found = table_->FindOrInsert(key_, nullptr, &refused);
    if (!found.ok()) return StateFailure(side, row, meta, found.status(), refused, out);
    RowList* list = *found;
    encoded_.clear();
    EncodeRow(schema_[side], row, meta, &encoded_);
    AppendRecord(side, /*ttl=*/false, ts, last, encoded_, &list->data);
    ++list->count;
    ++rows_[side];
    payload_bytes_ += kRecordHeaderBytes + encoded_.size();
    if (list->timer_ms == kNever) {
      list->timer_ms = last;
      timers_.emplace(last, key_);
    }
    return Status::OK();
  }

  // The cross product of one closed (key, window), left-major in arrival order.
  Status EmitWindow(const RowList& list, int64_t last_ms, OpOutput* out) {
    decoded_[0].Clear();
    decoded_[1].Clear();
    std::string_view rest = list.data;
    Record r;
    while (NextRecord(&rest, &r)) {
      RETURN_IF_ERROR(DecodeRow(schema_[r.side], r.payload, &decoded_[r.side]));
    }
    RowMeta m;
    m.event_time_ms = last_ms;
    m.watermark_ms = fire_watermark_;
    for (size_t i = 0; i < decoded_[0].size(); ++i) {
      for (size_t j = 0; j < decoded_[1].size(); ++j) EmitPair(decoded_[0].row(i), decoded_[1].row(j), m, out);
    }
    return Status::OK();
  }

  // --- lookup ---
  Status ProcessLookup(int side, const Value* row, const RowMeta& meta, OpOutput* out) {
    const Value& key = row[side == 0 ? def_.left_key : def_.right_key];
    if (side == 1) {
      if (key.null) return Status::OK();
      KeyOf(side, row, nullptr);
      Result<RowList*> found = table_->Find(key_);
      bool refused = false;
      if (found.ok() && *found == nullptr) {
        if (table_->size() >= def_.rows_max) return Late(side, row, meta, LateReason::kStateLimit, out);
        found = table_->FindOrInsert(key_, nullptr, &refused);
      }
      if (!found.ok()) return StateFailure(side, row, meta, found.status(), refused, out);
      RowList* list = *found;
      payload_bytes_ -= list->data.size();
      list->data.clear();
      encoded_.clear();
      EncodeRow(schema_[1], row, meta, &encoded_);
      AppendRecord(1, def_.state_ttl_ms >= 0, meta.event_time_ms, kNever, encoded_, &list->data);
      list->count = 1;
      payload_bytes_ += list->data.size();
      return Status::OK();
    }
    RowMeta m = meta;
    m.watermark_ms = watermark_;
    const Value* right = nullptr;
    if (!key.null) {
      KeyOf(side, row, nullptr);
      Result<RowList*> found = table_->Find(key_);
      if (!found.ok()) return StateFailure(side, row, meta, found.status(), /*refused_by_bound=*/false, out);
      std::string_view rest = *found != nullptr ? std::string_view((*found)->data) : std::string_view();
      Record r;
      if (NextRecord(&rest, &r) && !LookupExpired(r.ts)) {
        ASSIGN_OR_RETURN(right, Decode(1, r.payload));
      }
    }
    if (right != nullptr || def_.left_outer) EmitPair(row, right, m, out);
    return Status::OK();
  }

  bool LookupExpired(int64_t ts) const { return def_.state_ttl_ms >= 0 && ts < SatSub(watermark_, def_.state_ttl_ms); }

  Status SweepLookup() {
    last_sweep_ms_ = watermark_;
    std::vector<std::string> dead;
    RETURN_IF_ERROR(table_->ForEach([&](std::string_view key, RowList& list) -> Status {
      std::string_view rest = list.data;
      Record r;
      if (!NextRecord(&rest, &r) || LookupExpired(r.ts)) dead.emplace_back(key);
      return Status::OK();
    }));
    for (const std::string& key : dead) {
      ASSIGN_OR_RETURN(RowList * list, table_->Find(key));
      if (list != nullptr) payload_bytes_ -= list->data.size();
      RETURN_IF_ERROR(table_->Erase(key));
      ++expired_;
    }
    return Status::OK();
  }

  // --- as of (temporal join) ---
  // A pending left row's payload: the RowMeta fields EncodeRow leaves out (ingest time,
  // offset, partition, line: a following trigger or Engine::IngestAndDecide names the event by
  // them), then the EncodeRow payload.
  static constexpr size_t kMetaPrefixBytes = 8 + 8 + 4 + 4;

  // The smallest as-of time a left row that is not late can still ask for.
  int64_t AsOfFloor() const { return SatAdd(watermark_, as_of_->floor_offset_ms()); }

  Status ProcessAsOf(int side, const Value* row, const RowMeta& meta, OpOutput* out) {
    const Value& key = row[side == 0 ? def_.left_key : def_.right_key];
    const int64_t ts = meta.event_time_ms;
    if (side == 1) {
      if (key.null) return Status::OK();  // a version of no key: no left row can read it
      // W > ts: left rows up to W + as_of may have read the versions before it already.
      if (ts < watermark_) return Late(side, row, meta, LateReason::kLate, out);
      if (rows_[1] >= def_.rows_max) return Late(side, row, meta, LateReason::kStateLimit, out);
      KeyOf(side, row, nullptr);
      bool refused = false;
      Result<RowList*> found = table_->FindOrInsert(key_, nullptr, &refused);
      if (!found.ok()) return StateFailure(side, row, meta, found.status(), refused, out);
      encoded_.clear();
      EncodeRow(schema_[1], row, meta, &encoded_);
      if (!RewriteAsOf(*found, ts, encoded_)) {
        // Refused (versions_max): the list is unchanged; drop it if this made it.
        if ((*found)->count == 0) RETURN_IF_ERROR(table_->Erase(key_));
        return Late(side, row, meta, LateReason::kStateLimit, out);
      }
      return Status::OK();
    }
    // The as-of time first: a row asking for a time it may not read is refused whatever its key.
    int64_t as_of = 0;
    if (const std::optional<LateReason> refused = as_of_->Compute(row, ts, &as_of)) {
      return Late(side, row, meta, *refused, out);
    }
    RowMeta m = meta;
    m.watermark_ms = watermark_;
    if (key.null) {  // equal to no version: read at once, with null right fields
      EmitPair(row, nullptr, m, out);
      return Status::OK();
    }
    if (ts < watermark_) return Late(side, row, meta, LateReason::kLate, out);
    // Versions before pruned_floor_ may be gone: a time before it cannot be read exactly. Only
    // after a restore with a longer as_of_lag_max (or an earlier as_of) than the state was kept
    // for; otherwise the floor is never above a row's as-of time.
    if (as_of < pruned_floor_) return Late(side, row, meta, LateReason::kAsOfTooOld, out);
    KeyOf(side, row, nullptr);
    if (as_of < watermark_) {  // every version at or before as_of has arrived: read now
      ASSIGN_OR_RETURN(RowList * list, table_->Find(key_));
      const Value* right = nullptr;
      if (list != nullptr) {
        ASSIGN_OR_RETURN(right, VersionAt(*list, as_of));
      }
      EmitPair(row, right, m, out);
      return Status::OK();
    }
    if (rows_[0] >= def_.rows_max) return Late(side, row, meta, LateReason::kStateLimit, out);
    waiting_key_.assign(1, kWaitingTag);
    waiting_key_.append(key_);
    bool refused = false;
    Result<RowList*> found = table_->FindOrInsert(waiting_key_, nullptr, &refused);
    if (!found.ok()) return StateFailure(side, row, meta, found.status(), refused, out);
    RowList* list = *found;
    encoded_.clear();
    PutRaw(&encoded_, meta.ingest_time_ms);
    PutRaw(&encoded_, meta.offset);
    PutRaw(&encoded_, meta.partition);
    PutRaw(&encoded_, meta.line);
    EncodeRow(schema_[0], row, meta, &encoded_);
    AppendRecord(0, /*ttl=*/false, ts, as_of, encoded_, &list->data);
    ++list->count;
    ++rows_[0];
    ++waiting_by_as_of_[as_of];
    payload_bytes_ += kRecordHeaderBytes + encoded_.size();
    if (as_of < list->timer_ms) {  // a waiting list's timer is its earliest as-of time
      list->timer_ms = as_of;
      timers_.emplace(as_of, waiting_key_);
    }
    return Status::OK();
  }

  // The latest version of `list` with ts <= as_of (decoded into decoded_[1]); null when there
  // is none, or when it is older than as_of by more than state_ttl_ms.
  Result<const Value*> VersionAt(const RowList& list, int64_t as_of) {
    std::string_view rest = list.data;
    Record r, best;
    bool found = false;
    while (NextRecord(&rest, &r)) {
      if (r.side == 1 && r.ts <= as_of) {
        best = r;
        found = true;
      }
    }
    return FoundVersion(found, best.ts, best.payload, as_of);
  }
  Result<const Value*> FoundVersion(bool found, int64_t ts, std::string_view payload, int64_t as_of) {
    if (!found || (def_.state_ttl_ms >= 0 && ts < SatSub(as_of, def_.state_ttl_ms))) return nullptr;
    return Decode(1, payload);
  }

  // The versions of one key in event-time order (a list keeps them so), over a copy of their
  // bytes: the list's pointer does not outlive the next table lookup.
  struct VersionIndex {
    std::string bytes;
    std::vector<std::pair<int64_t, std::string_view>> versions;  // (ts, payload)
    size_t other_records = 0;  // left rows in the same list (a list written before the split)
    void Build(const RowList* list) {
      bytes.assign(list == nullptr ? std::string_view() : std::string_view(list->data));
      versions.clear();
      other_records = 0;
      std::string_view rest = bytes;
      Record r;
      while (NextRecord(&rest, &r)) {
        if (r.side == 1) {
          versions.emplace_back(r.ts, r.payload);
        } else {
          ++other_records;
        }
      }
    }
  };
  Result<const Value*> VersionAt(const VersionIndex& index, int64_t as_of) {
    // The last version with ts <= as_of (equal times: the last inserted, as VersionAt(list)).
    const auto it = std::upper_bound(index.versions.begin(), index.versions.end(), as_of,
                                     [](int64_t t, const auto& v) { return t < v.first; });
    if (it == index.versions.begin()) return FoundVersion(false, 0, {}, as_of);
    return FoundVersion(true, std::prev(it)->first, std::prev(it)->second, as_of);
  }

  // Rewrites `list`: versions no future left row can read dropped, the new version (if
  // `version` is not empty) inserted after those at or before its time, the timer recomputed.
  // False, leaving the list unchanged, if the versions would exceed versions_max.
  bool RewriteAsOf(RowList* list, int64_t version_ts, std::string_view version, bool push_timer = true) {
    const int64_t floor = AsOfFloor();
    pruned_floor_ = std::max(pruned_floor_, floor);
    // The last version at or before the floor: the one a left row asking for the floor reads.
    std::string_view rest = list->data;
    Record r;
    size_t keep_from = 0, index = 0, versions = 0;
    int64_t keep_ts = INT64_MIN;
    bool any_before = false;
    while (NextRecord(&rest, &r)) {
      if (r.side == 1) {
        if (r.ts <= floor) {
          keep_from = index;
          keep_ts = r.ts;
          any_before = true;
        }
        ++index;
      }
    }
    // With a ttl, even that one is unreadable once it is older than the floor by more.
    const bool drop_last_before = any_before && def_.state_ttl_ms >= 0 && keep_ts < SatSub(floor, def_.state_ttl_ms);
    if (drop_last_before) ++keep_from;
    std::string kept;
    uint32_t count = 0;
    int64_t timer = kNever;
    int64_t newest_version = INT64_MIN, second_version = INT64_MIN;
    bool inserted = version.empty();
    const auto add = [&](int side, int64_t ts, int64_t expire, std::string_view payload) {
      AppendRecord(side, /*ttl=*/false, ts, expire, payload, &kept);
      ++count;
      if (side == 0) {
        timer = std::min(timer, expire);
      } else {
        if (++versions == 2) second_version = ts;
        newest_version = std::max(newest_version, ts);
      }
    };
    rest = list->data;
    index = 0;
    size_t dropped = 0;
    uint64_t dropped_bytes = 0;
    while (NextRecord(&rest, &r)) {
      if (r.side == 1) {
        const bool drop = index++ < keep_from;
        if (drop) {
          ++dropped;
          dropped_bytes += r.bytes;
          continue;
        }
        if (!inserted && r.ts > version_ts) {
          add(1, version_ts, kNever, version);
          inserted = true;
        }
      }
      add(r.side, r.ts, r.expire_ms, r.payload);
    }
    if (!inserted) add(1, version_ts, kNever, version);
    // Only a new version is refused: dropping versions must go on even when a restore under a
    // smaller versions_max left more than it allows (a refusal here left the key unserviced).
    if (!version.empty() && versions > def_.versions_max) return false;
    if (!version.empty()) {
      ++rows_[1];
      payload_bytes_ += kRecordHeaderBytes + version.size();
    }
    rows_[1] -= dropped;
    payload_bytes_ -= dropped_bytes;
    expired_ += dropped;
    // A key is visited again when the floor reaches its second version (the first is then
    // unreadable) and, with a ttl, when its newest can no longer be read.
    const int64_t offset = as_of_->floor_offset_ms();
    if (versions >= 2) timer = std::min(timer, SatSub(SatSub(second_version, offset), 1));
    if (def_.state_ttl_ms >= 0 && newest_version != INT64_MIN) {
      timer = std::min(timer, SatSub(SatAdd(newest_version, def_.state_ttl_ms), offset));
    }
    list->data.swap(kept);
    list->count = count;
    if (timer != list->timer_ms) {
      list->timer_ms = timer;
      if (timer != kNever && push_timer) timers_.emplace(timer, key_);
    }
    return true;
  }

  // The fired timer of either list of a join key (`state_key`, its heap entry just popped):
  // emits the waiting left rows whose as-of time the watermark has passed (in their arrival
  // order), then drops the versions no future row can read, and pushes each list's new timer.
  // The rows are released before the versions are pruned whichever list's timer fired first:
  // the floor has moved past the as-of time of the rows it releases.
  Status ServiceAsOf(std::string_view state_key, OpOutput* out) {
    const bool fired_waiting = !state_key.empty() && state_key[0] == kWaitingTag;
    if (fired_waiting) state_key.remove_prefix(1);
    key_.assign(state_key);
    waiting_key_.assign(1, kWaitingTag);
    waiting_key_.append(key_);
    ASSIGN_OR_RETURN(RowList * versions, table_->Find(key_));
    version_index_.Build(versions);
    ASSIGN_OR_RETURN(RowList * waiting, table_->Find(waiting_key_));
    if (waiting != nullptr && waiting->timer_ms < watermark_) {
      // Its earliest row is released, so its timer moves (a heap entry still holding the old
      // one is stale).
      RETURN_IF_ERROR(ReleaseWaiting(waiting, out));
      if (waiting->count == 0) {
        RETURN_IF_ERROR(table_->Erase(waiting_key_));
      } else if (waiting->timer_ms != kNever) {
        timers_.emplace(waiting->timer_ms, waiting_key_);
      }
    }
    ASSIGN_OR_RETURN(versions, table_->Find(key_));
    if (versions == nullptr) return Status::OK();
    // Its heap entry, unless it just fired, stays valid while its timer does not move.
    const int64_t timer = fired_waiting ? versions->timer_ms : kNever;
    if (version_index_.other_records > 0) {  // a list holding both sides: its own rows too
      RETURN_IF_ERROR(ReleaseWaiting(versions, out));
    }
    versions->timer_ms = timer;
    RewriteAsOf(versions, 0, {});  // adds no version: never refuses; pushes a timer that moved
    if (versions->count == 0) RETURN_IF_ERROR(table_->Erase(key_));
    return Status::OK();
  }

  // Emits the left rows of `list` whose as-of time W has passed, reading version_index_; keeps
  // the rest (and any versions) in order. Sets list->timer_ms to the earliest as-of time left.
  Status ReleaseWaiting(RowList* list, OpOutput* out) {
    std::string kept;
    std::string_view rest = list->data;
    Record r;
    uint32_t count = 0;
    int64_t timer = kNever;
    while (NextRecord(&rest, &r)) {
      if (r.side == 0 && r.expire_ms < watermark_) {
        std::string_view p = r.payload;
        RowMeta m;
        if (p.size() < kMetaPrefixBytes || !GetRaw(&p, &m.ingest_time_ms) || !GetRaw(&p, &m.offset) ||
            !GetRaw(&p, &m.partition) || !GetRaw(&p, &m.line)) {
          return DataLoss("join: corrupt waiting row");
        }
        ASSIGN_OR_RETURN(const Value* left, Decode(0, p));
        m.event_time_ms = r.ts;
        m.watermark_ms = fire_watermark_;  // released by this advance: ahead of the new watermark
        ASSIGN_OR_RETURN(const Value* right, VersionAt(version_index_, r.expire_ms));
        EmitPair(left, right, m, out);
        --rows_[0];
        payload_bytes_ -= r.bytes;
        if (const auto it = waiting_by_as_of_.find(r.expire_ms); it != waiting_by_as_of_.end() && --it->second == 0) {
          waiting_by_as_of_.erase(it);
        }
        continue;
      }
      if (r.side == 0) timer = std::min(timer, r.expire_ms);
      AppendRecord(r.side, r.ttl, r.ts, r.expire_ms, r.payload, &kept);
      ++count;
    }
    list->data.swap(kept);
    list->count = count;
    list->timer_ms = timer;
    return Status::OK();
  }

  // --- output ---
  // Appends left ++ right (right == nullptr: nulls) with strings copied into out->rows' arena.
  // A left row without a partner, with null right fields, at `event_time` (when no partner can
  // come any more), but not behind the watermark it carries, so a following step takes it as on
  // time. Rows emitted by a watermark advance (EmitUnmatched) keep their own meta only partly:
  // the decoded row has its event time, not its offset or partition.
  void EmitOuter(const Value* left, const RowMeta& meta, int64_t event_time, OpOutput* out) {
    RowMeta m = meta;
    m.event_time_ms = std::max(event_time, watermark_);
    m.watermark_ms = watermark_;
    EmitPair(left, nullptr, m, out);
  }
  Status EmitUnmatched(const Record& r, OpOutput* out) {
    ASSIGN_OR_RETURN(const Value* left, Decode(0, r.payload));
    RowMeta m = decoded_[0].meta(decoded_[0].size() - 1);
    m.event_time_ms = r.expire_ms;
    m.watermark_ms = fire_watermark_;  // released by this advance: ahead of the new watermark
    EmitPair(left, nullptr, m, out);
    return Status::OK();
  }

  void EmitPair(const Value* left, const Value* right, const RowMeta& meta, OpOutput* out) {
    if (out == nullptr || out->rows == nullptr) return;
    RowBatch* rows = out->rows;
    Value* o = rows->AppendRow();
    rows->meta(rows->size() - 1) = meta;
    CopyValues(schema_[0], left, o, &rows->arena());
    if (right == nullptr) return;
    if (def_.right_output.empty()) {
      CopyValues(schema_[1], right, o + schema_[0].size(), &rows->arena());
      return;
    }
    Value* r = o + schema_[0].size();
    for (size_t i = 0; i < def_.right_output.size(); ++i) {
      const size_t f = static_cast<size_t>(def_.right_output[i]);
      r[i] = right[f];
      if (!right[f].null && schema_[1].field(f).type == FieldType::kString) {
        r[i] = Value::String(rows->arena().Copy(right[f].sv()));
      }
    }
  }

  static void CopyValues(const Schema& schema, const Value* from, Value* to, Arena* arena) {
    for (size_t f = 0; f < schema.size(); ++f) {
      to[f] = from[f];
      if (!from[f].null && schema.field(f).type == FieldType::kString) {
        to[f] = Value::String(arena->Copy(from[f].sv()));
      }
    }
  }

  // Sends a row the join does not take to the late output. Returns OK: a rejected row is not an
  // error (so the Process* helpers can `return Late(...)`).
  Status Late(int side, const Value* row, const RowMeta& meta, LateReason reason, OpOutput* out) {
    if (reason == LateReason::kStateLimit) {
      ++limit_dropped_;
    } else {
      ++late_events_;
    }
    RowBatch* late = out != nullptr ? out->late : nullptr;
    if (side == 0 && left_late_) {
      left_late_(row, meta, reason, watermark_, late);
    } else {
      AppendLateRow(ctx_, schema_[side], row, meta, reason, watermark_, late);
    }
    return Status::OK();
  }

  // A failed state lookup: a state bound rejects the row (refused_by_bound from FindOrInsert:
  // late output, OK); anything else is the backend's failure, returned whatever its code.
  Status StateFailure(int side, const Value* row, const RowMeta& meta, const Status& status, bool refused_by_bound,
                      OpOutput* out) {
    if (refused_by_bound) return Late(side, row, meta, LateReason::kStateLimit, out);
    return status;
  }

  // Decodes a buffered payload into decoded_[side] (cleared first); kDataLoss if corrupt.
  Result<const Value*> Decode(int side, std::string_view payload) {
    decoded_[side].Clear();
    RETURN_IF_ERROR(DecodeRow(schema_[side], payload, &decoded_[side]));
    return decoded_[side].row(0);
  }

  // key_ = the encoded join key of `row` (+ the window start for window joins).
  void KeyOf(int side, const Value* row, const int64_t* window_start) {
    key_.clear();
    AppendKeyBytes(schema_[side], key_fields_[side], row, &key_);
    if (window_start != nullptr) PutRaw(&key_, *window_start);
  }

  const JoinDef def_;
  const OperatorContext ctx_;
  const LeftLateWriter left_late_;  // empty: refused left rows are written as they are
  const Schema schema_[2];
  const std::vector<int> key_fields_[2];
  Env* env_ = nullptr;
  std::unique_ptr<state::StateTable<RowList>> table_;
  std::optional<AsOfTime> as_of_;  // kAsOf
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::map<int64_t, uint64_t> waiting_by_as_of_;  // as of: waiting left rows per as-of time
  int64_t watermark_ = INT64_MIN;
  int64_t fire_watermark_ = INT64_MIN;  // carried by rows emitted while advancing
  int64_t last_sweep_ms_ = INT64_MIN;
  int64_t pruned_floor_ = INT64_MIN;  // as of: the highest floor versions were dropped at (checkpointed)
  uint64_t rows_[2] = {0, 0};         // buffered rows per side (interval, window)
  uint64_t payload_bytes_ = 0;
  uint64_t late_events_ = 0;
  uint64_t limit_dropped_ = 0;
  uint64_t expired_ = 0;
  std::string key_, waiting_key_, encoded_;  // scratch
  VersionIndex version_index_;               // scratch (as of)
  RowBatch decoded_[2];                      // scratch: decoded buffered rows per side
};

}  // namespace

Result<std::unique_ptr<StatefulOperator>> NewJoinOperator(const LogicalOp& op, const OperatorContext& ctx) {
  return NewJoinOperator(op, ctx, LeftLateWriter{});
}

Result<std::unique_ptr<StatefulOperator>> NewJoinOperator(const LogicalOp& op, const OperatorContext& ctx,
                                                          LeftLateWriter left_late) {
  if (op.kind != LogicalOp::Kind::kJoin || op.join == nullptr) return InvalidArgument("join operator: not a join op");
  const JoinDef& j = *op.join;
  if (j.left_key < 0 || static_cast<size_t>(j.left_key) >= op.input.size() || j.right_key < 0 ||
      static_cast<size_t>(j.right_key) >= j.right_schema.size()) {
    return InvalidArgument("join operator: key field index out of range");
  }
  if (op.input.field(static_cast<size_t>(j.left_key)).type !=
      j.right_schema.field(static_cast<size_t>(j.right_key)).type) {
    return InvalidArgument("join operator: join keys have different types");
  }
  const size_t right_width = j.right_output.empty() ? j.right_schema.size() : j.right_output.size();
  if (op.output.size() != op.input.size() + right_width) {
    return InvalidArgument("join operator: output schema is not left fields then right fields");
  }
  for (int f : j.right_output) {
    if (f < 0 || static_cast<size_t>(f) >= j.right_schema.size())
      return InvalidArgument("join operator: right output field index out of range");
  }
  if (j.type == JoinDef::Type::kAsOf && (j.as_of_ms > 0 || j.versions_max == 0 || j.as_of_lag_max_ms < 0)) {
    return InvalidArgument("join operator: as_of_ms must be <= 0, as_of_lag_max_ms >= 0 and versions_max > 0");
  }
  if (j.rows_max == 0) return InvalidArgument("join operator: rows_max must be > 0");
  if (j.type == JoinDef::Type::kInterval && j.lower_ms > j.upper_ms) {
    return InvalidArgument("join operator: lower bound above upper bound");
  }
  if (j.type == JoinDef::Type::kWindow && j.window_ms <= 0)
    return InvalidArgument("join operator: window_ms must be > 0");
  auto join = std::make_unique<JoinOperator>(op, ctx, std::move(left_late));
  RETURN_IF_ERROR(join->Init());
  return std::unique_ptr<StatefulOperator>(std::move(join));
}

}  // namespace impulse::plan
