// Typed reads of streams for embedding applications: ReadRows and Subscribe
// (docs/EMBEDDING.md).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "event/row_codec.h"
#include "runtime/engine_impl.h"

namespace impulse::runtime {

Status EngineImpl::ReadPartitionRows(uint32_t stream, uint32_t partition, uint64_t from, uint32_t limit, RowBatch* out,
                                     uint64_t* next, uint64_t until, std::vector<int64_t>* writer_wm) const {
  const StreamState& ss = *streams_[stream];
  const log::PartitionLog& log = *ss.partitions[partition];
  std::vector<log::Record> recs;
  std::string storage;
  *next = from;
  uint32_t produced = 0;
  // Acknowledged rows only (ReadableEnd); log offsets are dense, so the end bounds the count.
  const uint64_t end = std::min(ReadableEnd(stream, partition), until);
  // Markers (control records of pipeline-written streams) are skipped, so keep reading until
  // `limit` rows or the end.
  while (produced < limit && *next < end) {
    const auto want = static_cast<uint32_t>(std::min<uint64_t>(limit - produced, end - *next));
    RETURN_IF_ERROR(log.Read(*next, want, 16u << 20, &recs, &storage));
    if (recs.empty()) break;
    for (const log::Record& r : recs) {
      *next = r.offset + 1;
      if (IsControlRecord(r.payload)) {
        uint32_t writer = 0;
        int64_t wm = 0;
        if (writer_wm != nullptr && IsWatermarkMarker(r.payload) &&
            DecodeWatermarkMarker(r.payload, &writer, &wm).ok() && writer < writer_wm->size()) {
          (*writer_wm)[writer] = std::max((*writer_wm)[writer], wm);
        }
        continue;
      }
      RETURN_IF_ERROR(
          DecodeRow(ss.def.schema, r.payload, out)
              .WithContext(ss.def.name + "/" + std::to_string(partition) + " offset " + std::to_string(r.offset)));
      RowMeta& meta = out->meta(out->size() - 1);
      meta.offset = r.offset;
      meta.partition = partition;
      meta.ingest_time_ms = r.timestamp_ms;
      ++produced;
    }
  }
  return Status::OK();
}

Result<RowsRead> EngineImpl::ReadRows(std::string_view stream_name, uint32_t partition, uint64_t from,
                                      uint32_t limit) const {
  ASSIGN_OR_RETURN(const int si, CheckReadTarget(stream_name, partition));
  const StreamState& ss = *streams_[si];
  // The visible end only grows, so a `from` any read returned (a next_offset or end_offset) is
  // never past it; one that is would otherwise look like a caught-up read.
  const uint64_t end = ReadableEnd(static_cast<uint32_t>(si), partition);
  if (from > end) {
    return OutOfRange("offset " + std::to_string(from) + " is past the end of " + ss.def.name + "/" +
                      std::to_string(partition) + " (" + std::to_string(end) + ")");
  }
  RowsRead read;
  read.rows.Reset(ss.def.schema.size());
  RETURN_IF_ERROR(ReadPartitionRows(static_cast<uint32_t>(si), partition, from, std::min(limit, kReadRowsMax),
                                    &read.rows, &read.next_offset));
  // Read after the records: every record read is below it, so next_offset <= end_offset.
  read.end_offset = ReadableEnd(static_cast<uint32_t>(si), partition);
  return read;
}

// What a subscription's thread, its handle and the engine's registry share. The thread holds
// it too. The thread is never detached: it is joined by the handle (Cancel or its destructor,
// from any other thread) or by the engine's destructor (CancelSubscriptions), so no callback
// runs once the engine is gone. A handle destroyed on the subscription's own thread (inside the
// callback) cannot join it: it leaves the state registered for the engine to join.
struct SubscriptionState {
  EngineImpl* engine = nullptr;  // valid until the engine joins the thread (CancelSubscriptions)
  uint32_t stream = 0;
  SubscribeOptions options;
  Engine::SubscribeCallback callback;

  mutable std::mutex mu;       // guards the fields below; never held during a callback
  std::condition_variable cv;  // cancel (wakes the thread) and progress (wakes WaitCaughtUp)
  bool cancelled = false;
  bool done = false;      // the thread has returned (or is returning) from Run
  bool orphaned = false;  // the last handle went away on the thread itself: the engine joins it
  Status status;
  std::vector<uint64_t> next;  // per partition, updated after the batch's callback returned
  uint64_t delivered = 0;

  // Guards `thread`: one joiner at a time (a handle or the engine). Never taken by the
  // subscription's own thread, which a joiner holding it may be waiting for.
  std::mutex join_mu;
  std::thread thread;

  void Run();
  // Sets the cancelled flag and wakes the thread: no callback starts after that (one in
  // progress finishes). Any thread, never blocks on the callback.
  void Cancel();
  // Whether the calling thread is this subscription's thread (inside its callback).
  bool OnOwnThread() const;
  // Waits for the thread to return (after Cancel). Must not be called on the thread itself.
  void Join();
};

namespace {
// The subscription whose Run the current thread is executing (null on other threads).
thread_local const SubscriptionState* current_subscription = nullptr;
}  // namespace

bool SubscriptionState::OnOwnThread() const { return current_subscription == this; }

void SubscriptionState::Cancel() {
  std::lock_guard<std::mutex> lock(mu);
  cancelled = true;
  cv.notify_all();
}

void SubscriptionState::Join() {
  std::lock_guard<std::mutex> lock(join_mu);
  if (thread.joinable()) thread.join();
}

void SubscriptionState::Run() {
  current_subscription = this;
  const uint32_t partitions = static_cast<uint32_t>(next.size());
  std::vector<uint64_t> pos;
  {
    std::lock_guard<std::mutex> lock(mu);
    pos = next;
  }
  const size_t width = engine->stream(stream).def.schema.size();
  RowBatch batch(width);
  const auto finish = [&](Status st) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(st);
    done = true;
    cv.notify_all();
  };
  for (;;) {
    bool progressed = false;
    for (uint32_t p = 0; p < partitions; ++p) {
      bool stop = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        stop = cancelled;
      }
      if (stop) return finish(Status::OK());
      if (pos[p] >= engine->ReadableEnd(stream, p)) continue;
      batch.Reset(width);
      uint64_t after = pos[p];
      Status st = engine->ReadPartitionRows(stream, p, pos[p], options.batch_rows_max, &batch, &after);
      if (!st.ok()) return finish(std::move(st));
      if (after == pos[p]) continue;
      progressed = true;
      if (!batch.empty()) callback(batch, p, after);
      pos[p] = after;
      std::lock_guard<std::mutex> lock(mu);
      next[p] = after;
      delivered += batch.size();
      cv.notify_all();
    }
    std::unique_lock<std::mutex> lock(mu);
    if (cancelled) {
      done = true;
      cv.notify_all();
      return;
    }
    if (!progressed) {
      cv.wait_for(lock, std::chrono::milliseconds(options.poll_interval_ms), [&] { return cancelled; });
    }
  }
}

namespace {

class SubscriptionHandle final : public Subscription {
 public:
  SubscriptionHandle(std::shared_ptr<SubscriptionState> state, std::shared_ptr<SubscriptionRegistry> registry)
      : state_(std::move(state)), registry_(std::move(registry)) {}

  ~SubscriptionHandle() override {
    state_->Cancel();
    if (state_->OnOwnThread()) {
      // Inside the callback: the thread cannot join itself. It returns after this callback;
      // the state stays registered and the engine joins the thread (CancelSubscriptions, or
      // the next Subscribe once it has returned).
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->orphaned = true;
      return;
    }
    state_->Join();
    std::lock_guard<std::mutex> lock(registry_->mu);
    auto& live = registry_->live;
    live.erase(std::remove(live.begin(), live.end(), state_), live.end());
  }

  // From inside the callback only flags it (the thread returns after the callback); from any
  // other thread also waits for a callback in progress. The state stays registered until the
  // handle goes away, so the engine can still join the thread.
  void Cancel() override {
    state_->Cancel();
    if (!state_->OnOwnThread()) state_->Join();
  }

  Status WaitCaughtUp(int64_t timeout_ms) override {
    std::vector<uint64_t> target;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (state_->cancelled) return FailedPrecondition("the subscription was cancelled");
      if (!state_->status.ok()) return state_->status;
      // The engine is alive while the subscription runs (it joins it before going away).
      const StreamState& ss = state_->engine->stream(state_->stream);
      for (uint32_t p = 0; p < ss.partitions.size(); ++p)
        target.push_back(state_->engine->ReadableEnd(state_->stream, p));
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0));
    std::unique_lock<std::mutex> lock(state_->mu);
    for (;;) {
      if (!state_->status.ok()) return state_->status;
      if (state_->cancelled) return FailedPrecondition("the subscription was cancelled");
      bool caught_up = true;
      for (size_t p = 0; p < target.size(); ++p) caught_up = caught_up && state_->next[p] >= target[p];
      if (caught_up) return Status::OK();
      if (state_->cv.wait_until(lock, deadline) == std::cv_status::timeout) {
        return Unavailable("the subscription did not catch up within " + std::to_string(timeout_ms) + " ms");
      }
    }
  }

  Status status() const override {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->status;
  }
  std::vector<uint64_t> next_offsets() const override {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->next;
  }
  uint64_t rows_delivered() const override {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->delivered;
  }

 private:
  std::shared_ptr<SubscriptionState> state_;
  std::shared_ptr<SubscriptionRegistry> registry_;
};

}  // namespace

Result<std::unique_ptr<Subscription>> EngineImpl::Subscribe(std::string_view stream_name, SubscribeOptions options,
                                                            SubscribeCallback callback) {
  const int si = StreamIndex(stream_name);
  if (si < 0) return NotFound("unknown stream '" + std::string(stream_name) + "'");
  if (!callback) return InvalidArgument("Subscribe: no callback");
  if (options.batch_rows_max < 1 || options.batch_rows_max > 65'536) {
    return InvalidArgument("Subscribe: batch_rows_max must be in 1..65536");
  }
  if (options.poll_interval_ms < 1 || options.poll_interval_ms > 1000) {
    return InvalidArgument("Subscribe: poll_interval_ms must be in 1..1000");
  }
  const StreamState& ss = *streams_[si];
  const size_t partitions = ss.partitions.size();
  if (!options.from_offsets.empty() && options.from_offsets.size() != partitions) {
    return InvalidArgument("Subscribe: stream " + ss.def.name + " has " + std::to_string(partitions) +
                           " partitions, from_offsets has " + std::to_string(options.from_offsets.size()));
  }
  for (size_t p = 0; p < options.from_offsets.size(); ++p) {
    const uint64_t end = ReadableEnd(static_cast<uint32_t>(si), static_cast<uint32_t>(p));
    if (options.from_offsets[p] > end) {
      return OutOfRange("Subscribe: from_offsets[" + std::to_string(p) +
                        "] = " + std::to_string(options.from_offsets[p]) + " is past the end of " + ss.def.name + "/" +
                        std::to_string(p) + " (" + std::to_string(end) + ")");
    }
  }
  if (stopping()) return FailedPrecondition("the engine is stopping");

  ReapOrphanedSubscriptions();
  auto state = std::make_shared<SubscriptionState>();
  state->engine = this;
  state->stream = static_cast<uint32_t>(si);
  state->callback = std::move(callback);
  state->next = options.from_offsets;
  if (state->next.empty()) {
    for (uint32_t p = 0; p < ss.partitions.size(); ++p) {
      state->next.push_back(options.start == SubscribeOptions::Start::kEnd ? ReadableEnd(state->stream, p)
                                                                           : ss.partitions[p]->start_offset());
    }
  }
  state->options = std::move(options);
  {
    std::lock_guard<std::mutex> lock(subscriptions_->mu);
    if (subscriptions_->closed) return FailedPrecondition("the engine is closing");
    subscriptions_->live.push_back(state);
    std::lock_guard<std::mutex> join_lock(state->join_mu);
    state->thread = std::thread([state] { state->Run(); });
  }
  return std::unique_ptr<Subscription>(new SubscriptionHandle(std::move(state), subscriptions_));
}

void EngineImpl::ReapOrphanedSubscriptions() {
  std::vector<std::shared_ptr<SubscriptionState>> finished;
  {
    std::lock_guard<std::mutex> lock(subscriptions_->mu);
    auto& live = subscriptions_->live;
    for (auto it = live.begin(); it != live.end();) {
      bool reap = false;
      if (!(*it)->OnOwnThread()) {
        std::lock_guard<std::mutex> state_lock((*it)->mu);
        reap = (*it)->orphaned && (*it)->done;
      }
      if (reap) {
        finished.push_back(std::move(*it));
        it = live.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& s : finished) s->Join();  // returned from Run: the join is immediate
}

void EngineImpl::CancelSubscriptions() {
  std::vector<std::shared_ptr<SubscriptionState>> live;
  {
    std::lock_guard<std::mutex> lock(subscriptions_->mu);
    subscriptions_->closed = true;
    live.swap(subscriptions_->live);
  }
  for (const auto& s : live) s->Cancel();  // all stop at once
  // The engine must not be destroyed from inside a callback (a thread cannot join itself).
  for (const auto& s : live) s->Join();
}

}  // namespace impulse::runtime
