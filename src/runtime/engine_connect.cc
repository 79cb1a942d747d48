// The engine's side of the connectors (connect::Host, docs/CONNECTORS.md): source partitions
// recovered to their last source position, batches appended with their position, the ends a
// sink may export.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/logger.h"
#include "connect/kafka.h"
#include "connect/nats.h"
#include "event/row_codec.h"
#include "runtime/engine_impl.h"
#include "runtime/shard.h"

namespace impulse::runtime {
namespace {

// Where a source partition's hint lives: "<log end after a batch> <next external position>",
// written after each acknowledged batch (no fsync: it only shortens the scan at start, which
// trusts the source position records in the log, never the hint).
std::string HintPath(const log::PartitionLog& l) { return l.dir() + "/source.position"; }

void WriteHint(const log::PartitionLog& l, uint64_t end, uint64_t next) {
  char buf[64];
  const int n = std::snprintf(buf, sizeof(buf), "%" PRIu64 " %" PRIu64 "\n", end, next);
  const std::string path = HintPath(l);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const bool ok = ::write(fd, buf, static_cast<size_t>(n)) == n;
  ::close(fd);
  if (ok) (void)::rename(tmp.c_str(), path.c_str());
}

}  // namespace

bool ReadSourceHint(const log::PartitionLog& l, uint64_t* end) {
  std::FILE* f = std::fopen(HintPath(l).c_str(), "re");
  if (f == nullptr) return false;
  uint64_t e = 0;
  uint64_t next = 0;
  const bool ok = std::fscanf(f, "%" SCNu64 " %" SCNu64, &e, &next) == 2;
  std::fclose(f);
  if (ok) *end = e;
  return ok;
}

const StreamDef* EngineImpl::FindStream(std::string_view name, uint32_t* index) const {
  const int i = StreamIndex(name);
  if (i < 0) return nullptr;
  *index = static_cast<uint32_t>(i);
  return &streams_[static_cast<size_t>(i)]->def;
}

// A source partition holds, after each copied batch, a source position record. Records after
// the last one (a batch torn by a crash) were never acknowledged nor read: they are cut, and
// the copy resumes at that position.
Status EngineImpl::RecoverSources() {
  source_slot_.assign(streams_.size(), -1);
  source_resume_.assign(streams_.size(), {});
  NoteCommittedEnds({restored_positions_.begin(), restored_positions_.end()});
  uint32_t slot = options_.max_producers + 1;
  for (const std::string& name : plan_.ConnectorSourceStreams()) {
    const int si = StreamIndex(name);
    if (si < 0) return Internal("connector source of an unknown stream " + name);
    source_slot_[static_cast<size_t>(si)] = static_cast<int>(slot++);
    StreamState& ss = *streams_[static_cast<size_t>(si)];
    std::vector<int64_t>& resume = source_resume_[static_cast<size_t>(si)];
    resume.assign(ss.partitions.size(), -1);
    std::vector<log::Record> recs;
    std::string storage;
    for (uint32_t p = 0; p < ss.partitions.size(); ++p) {
      log::PartitionLog& l = *ss.partitions[p];
      uint64_t from = l.start_offset();
      uint64_t hint = 0;
      // The hint is the end after a batch, whose last record is its source position: the scan
      // starts at that record.
      if (ReadSourceHint(l, &hint) && hint > l.start_offset() && hint <= l.end_offset()) from = hint - 1;
      int64_t cut = -1;  // one past the last source position record
      auto scan = [&](uint64_t at) -> Status {
        while (at < l.end_offset()) {
          recs.clear();
          storage.clear();
          RETURN_IF_ERROR(l.Read(at, 65536, 64u << 20, &recs, &storage));
          if (recs.empty()) break;
          for (const log::Record& r : recs) {
            at = r.offset + 1;
            if (!IsSourcePosition(r.payload)) continue;
            uint64_t next = 0;
            RETURN_IF_ERROR(
                DecodeSourcePosition(r.payload, &next)
                    .WithContext(ss.def.name + "/" + std::to_string(p) + " offset " + std::to_string(r.offset)));
            resume[p] = static_cast<int64_t>(next);
            cut = static_cast<int64_t>(r.offset + 1);
          }
        }
        return Status::OK();
      };
      RETURN_IF_ERROR(scan(from));
      // A stale or wrong hint: the whole partition.
      if (cut < 0 && from != l.start_offset()) RETURN_IF_ERROR(scan(l.start_offset()));
      const int64_t position_end = cut;
      // Never below what a pipeline has processed (records written while the stream had no
      // source, say): those are kept, and said.
      uint64_t processed = 0;
      for (const plan::LogicalPipeline& lp : plan_.pipelines) {
        for (int side = 0; side < 2; ++side) {
          if ((side == 0 ? lp.source : lp.second_source) != ss.def.name) continue;
          auto it =
              restored_positions_.find("cursor/" + lp.name + "/" + std::to_string(side) + "/" + std::to_string(p));
          if (it != restored_positions_.end()) processed = std::max(processed, it->second);
        }
      }
      if (cut >= 0 && static_cast<uint64_t>(cut) < processed) {
        LogWarn("recovery",
                "stream " + ss.def.name + " partition " + std::to_string(p) + ": records " + std::to_string(cut) +
                    ".." + std::to_string(processed) +
                    " follow the last source position but were processed: kept (their topic records may be copied "
                    "again)",
                {{"stream", ss.def.name}, {"partition", p}, {"from", cut}, {"to", processed}});
        cut = static_cast<int64_t>(processed);
      }
      if (cut >= 0 && static_cast<uint64_t>(cut) < l.end_offset()) {
        const uint64_t dropped = l.end_offset() - static_cast<uint64_t>(cut);
        LogInfo("recovery",
                "stream " + ss.def.name + " partition " + std::to_string(p) + ": " + std::to_string(dropped) +
                    " records after the last source position cut",
                {{"stream", ss.def.name}, {"partition", p}, {"records", dropped}});
        RETURN_IF_ERROR(l.TruncateTo(static_cast<uint64_t>(cut)).WithContext("source stream " + ss.def.name));
      }
      // The hint names the position record found, even before the next batch: a member's
      // snapshot keeps the log from it (a restored member that copies nothing must still hand
      // its position on).
      if (resume[p] >= 0 && position_end > 0 && static_cast<uint64_t>(position_end) <= l.end_offset()) {
        const bool stale = !ReadSourceHint(l, &hint) || hint != static_cast<uint64_t>(position_end);
        if (stale) WriteHint(l, static_cast<uint64_t>(position_end), static_cast<uint64_t>(resume[p]));
      }
    }
  }
  return Status::OK();
}

namespace {

// Kafka's and NATS's connectors as one: sources stop before sinks across both.
class ConnectorSet final : public connect::Connectors {
 public:
  void Add(std::unique_ptr<connect::Connectors> c) { parts_.push_back(std::move(c)); }
  void StopSources() override {
    for (auto& c : parts_) c->StopSources();
  }
  void StopSinks() override {
    for (auto& c : parts_) c->StopSinks();
  }
  uint64_t ExportedFrom(const std::string& stream, uint32_t partition) const override {
    uint64_t min = UINT64_MAX;
    for (const auto& c : parts_) min = std::min(min, c->ExportedFrom(stream, partition));
    return min;
  }
  std::vector<connect::MetricSample> Metrics() const override {
    std::vector<connect::MetricSample> out;
    for (const auto& c : parts_) {
      for (connect::MetricSample& m : c->Metrics()) out.push_back(std::move(m));
    }
    return out;
  }

 private:
  std::vector<std::unique_ptr<connect::Connectors>> parts_;
};

}  // namespace

Status EngineImpl::StartConnectors() {
  if (!plan_.kafka.enabled && !plan_.nats.enabled) return Status::OK();
  auto set = std::make_unique<ConnectorSet>();
  if (plan_.kafka.enabled) {
    ASSIGN_OR_RETURN(std::unique_ptr<connect::Connectors> kafka, connect::StartKafka(this, plan_.kafka));
    set->Add(std::move(kafka));
  }
  if (plan_.nats.enabled) {
    // On failure the Kafka connectors already started are stopped by the set's destructor.
    ASSIGN_OR_RETURN(std::unique_ptr<connect::Connectors> nats, connect::StartNats(this, plan_.nats));
    set->Add(std::move(nats));
  }
  connectors_ = std::move(set);
  return Status::OK();
}

int64_t EngineImpl::SourceResumePosition(uint32_t stream, uint32_t partition) const {
  if (stream >= source_resume_.size() || partition >= source_resume_[stream].size()) return -1;
  return source_resume_[stream][partition];
}

Status EngineImpl::AppendSourceBatch(uint32_t stream, uint32_t partition, const RowBatch& rows,
                                     std::vector<BadLine>* bad, std::string_view trailer, uint64_t* end) {
  const ActiveIngest active(&active_ingests_);
  if (stopping()) return FailedPrecondition("engine is stopping");
  if (stream >= source_slot_.size() || source_slot_[stream] < 0) return Internal("not a source stream");
  const auto slot = static_cast<uint32_t>(source_slot_[stream]);
  Producer& prod = *producers_[slot];
  const ProducerClaim claim(&prod.busy);
  if (!claim.held()) return Internal("source producer used by two threads");
  auto admit_and_wait = [&](const RowBatch& batch, const AdmitExtras* extras) -> Status {
    std::promise<Status> done;
    std::future<Status> f = done.get_future();
    RETURN_IF_ERROR(Admit(
        prod, static_cast<int>(stream), batch, slot, clock_->NowNs(), clock_->NowMs(),
        [&done](Status st, const IngestResult& /*result*/) { done.set_value(std::move(st)); }, extras));
    return f.get();
  };
  if (!bad->empty()) {
    // Dead letters first and durable on their own: a crash before the rows then repeats them
    // (at least once) rather than losing them; stored, they are not sent again by a retry.
    prod.bad = *bad;
    RowBatch none(rows.width());
    Status st = admit_and_wait(none, nullptr);
    prod.bad.clear();
    RETURN_IF_ERROR(st);
    bad->clear();
  }
  prod.bad.clear();
  const AdmitExtras extras{partition, trailer};
  RETURN_IF_ERROR(admit_and_wait(rows, &extras));
  const log::PartitionLog& l = *streams_[stream]->partitions[partition];
  *end = l.end_offset();  // the connector is the partition's only writer
  uint64_t next = 0;
  if (DecodeSourcePosition(trailer.substr(LeadingMarkerBytes(trailer)), &next).ok()) WriteHint(l, *end, next);
  return Status::OK();
}

uint64_t EngineImpl::ProcessedOffset(uint32_t stream, uint32_t partition) const {
  bool found = false;
  uint64_t min = 0;
  for (const auto& sh : shards_) {
    uint64_t c = 0;
    if (sh->MinCursor(stream, partition, &c)) {
      min = found ? std::min(min, c) : c;
      found = true;
    }
  }
  return found ? min : ReadableEnd(stream, partition);
}

void EngineImpl::NoteCommittedEnds(const std::vector<std::pair<std::string, uint64_t>>& positions,
                                   uint64_t checkpoint_id, bool released) {
  std::lock_guard<std::mutex> l(committed_mu_);
  if (!released) {
    auto& ends = unreleased_ends_[checkpoint_id];
    for (const auto& [name, value] : positions) {
      if (name.rfind("end/", 0) == 0) ends.emplace_back(name, value);
    }
    while (unreleased_ends_.size() > kUnreleasedMax) unreleased_ends_.erase(unreleased_ends_.begin());
    return;
  }
  for (const auto& [name, value] : positions) {
    if (name.rfind("end/", 0) == 0) committed_ends_[name] = value;
  }
}

uint64_t EngineImpl::CommittedEnd(uint32_t stream, uint32_t partition) const {
  const StreamState& ss = *streams_[stream];
  // Not pipeline-written, or no checkpoints (no rollback either): what is readable is final. But
  // a member's copied stream: a new owner has it only up to the released snapshot's end.
  const bool member_copy = member() && stream < source_slot_.size() && source_slot_[stream] >= 0;
  if ((!ss.def.derived && !member_copy) || !checkpoints_enabled()) return ReadableEnd(stream, partition);
  std::lock_guard<std::mutex> l(committed_mu_);
  auto it = committed_ends_.find("end/" + ss.def.name + "/" + std::to_string(partition));
  return it == committed_ends_.end() ? 0 : std::min(it->second, ReadableEnd(stream, partition));
}

Status EngineImpl::ReadRows(uint32_t stream, uint32_t partition, uint64_t from, uint64_t end, uint32_t limit,
                            RowBatch* out, uint64_t* next) const {
  return ReadPartitionRows(stream, partition, from, limit, out, next, end);
}

}  // namespace impulse::runtime
