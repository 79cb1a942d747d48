// Engine::DeleteRecords: deleting a stream's oldest records online, on the shards that own
// its partitions (each log's writer), the way retention does.
#include <memory>
#include <mutex>

#include "runtime/engine_impl.h"
#include "runtime/shard.h"

namespace impulse::runtime {

void EngineImpl::DeleteRecords(std::string_view stream, std::optional<uint32_t> partition, uint64_t before,
                               DeleteRecordsCallback done) {
  const int si = StreamIndex(stream);
  if (si < 0) return done(NotFound("unknown stream '" + std::string(stream) + "'"), {});
  const StreamState& ss = *streams_[static_cast<size_t>(si)];
  const auto count = static_cast<uint32_t>(ss.partitions.size());
  if (partition && *partition >= count) {
    return done(OutOfRange("partition " + std::to_string(*partition) + ": stream " + ss.def.name + " has " +
                           std::to_string(count) + " partition" + (count == 1 ? "" : "s")),
                {});
  }
  if (stopping()) return done(Unavailable("the engine is stopping"), {});
  // The partitions' answers come from their shards' threads; the last one calls `done`.
  struct Gather {
    std::mutex mu;
    size_t remaining = 0;
    Status status;
    std::vector<DeletedRecords> parts;
    DeleteRecordsCallback done;
  };
  auto gather = std::make_shared<Gather>();
  const uint32_t first = partition.value_or(0);
  const uint32_t last = partition ? *partition + 1 : count;
  gather->remaining = last - first;
  gather->parts.resize(gather->remaining);
  gather->done = std::move(done);
  for (uint32_t p = first; p < last; ++p) {
    Shard::DeleteRecordsJob job;
    job.stream = static_cast<uint32_t>(si);
    job.partition = p;
    job.before = before;
    job.done = [gather, slot = p - first, p](const Status& st, uint64_t old_start, uint64_t new_start, uint64_t end) {
      bool finished = false;
      {
        std::lock_guard<std::mutex> lock(gather->mu);
        gather->parts[slot] = {p, old_start, new_start, end};
        if (!st.ok() && gather->status.ok()) gather->status = st.WithContext("partition " + std::to_string(p));
        finished = --gather->remaining == 0;
      }
      if (finished) gather->done(gather->status, std::move(gather->parts));
    };
    shard(OwnerOf(p)).RequestDeleteRecords(std::move(job));
  }
}

}  // namespace impulse::runtime
