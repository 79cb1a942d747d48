#include "server/decision_index.h"

#include <simdjson.h>

#include <algorithm>
#include <optional>

#include "event/key_hash.h"
#include "server/json_writer.h"

namespace impulse::server {
namespace {

// Fields holding JSON text that the reply embeds as JSON values.
bool IsEmbeddedJson(std::string_view key) { return key == "features" || key == "scores" || key == "shadow"; }

uint64_t IdHash(std::string_view id) { return HashValue(Value::String(id), FieldType::kString); }

// One NDJSON line of ReadEvents, parsed. The parser is per thread (HTTP I/O threads).
simdjson::dom::parser& LineParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}
simdjson::dom::parser& EmbeddedParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// Splits `text` into lines, calling fn(line) for each non-empty one.
template <typename Fn>
Status ForEachLine(std::string_view text, Fn fn) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty()) RETURN_IF_ERROR(fn(line));
  }
  return Status::OK();
}

Status BadLine(std::string_view what, simdjson::error_code e) {
  return Internal("decision index: " + std::string(what) + ": " + simdjson::error_message(e));
}

}  // namespace

bool IsDecisionLog(const StreamDef& def) { return def.schema == DecisionLogStreamDef(def.name, 1).schema; }

Result<std::unique_ptr<DecisionIndex>> DecisionIndex::Create(const Engine* engine, std::string stream,
                                                             DecisionIndexOptions options) {
  for (const StreamInfo& s : engine->ListStreams()) {
    if (s.name != stream) continue;
    if (!IsDecisionLog(s.def)) {
      return NotFound("stream '" + stream + "' is not a decision log (its schema is not the decision record's)");
    }
    const bool keyed = s.def.key_field == 0;  // event_id
    return std::unique_ptr<DecisionIndex>(
        new DecisionIndex(engine, std::move(stream), static_cast<uint32_t>(s.partitions.size()), keyed, options));
  }
  return NotFound("unknown stream '" + stream + "'");
}

DecisionIndex::DecisionIndex(const Engine* engine, std::string stream, uint32_t partitions, bool keyed_by_id,
                             DecisionIndexOptions options)
    : engine_(engine),
      stream_(std::move(stream)),
      keyed_by_id_(keyed_by_id),
      options_(options),
      per_partition_max_(std::max<size_t>(
          1, (options.entries_max + std::max<uint32_t>(partitions, 1) - 1) / std::max<uint32_t>(partitions, 1))) {
  for (uint32_t p = 0; p < partitions; ++p) parts_.push_back(std::make_unique<Partition>());
}

void DecisionIndex::Add(Partition& part, uint64_t hash, uint64_t offset) {
  while (part.fifo.size() >= per_partition_max_) {
    const auto [old_hash, old_offset] = part.fifo.front();
    part.fifo.pop_front();
    auto [it, end] = part.by_hash.equal_range(old_hash);
    for (; it != end; ++it) {
      if (it->second == old_offset) {
        part.by_hash.erase(it);
        break;
      }
    }
    part.evicted = true;
  }
  part.fifo.emplace_back(hash, offset);
  part.by_hash.emplace(hash, offset);
}

Status DecisionIndex::CatchUp(uint32_t p, Partition& part, uint64_t start, uint64_t end) {
  if (end < part.next) {
    // The partition was truncated below what was indexed (a checkpoint restore): start over.
    part.fifo.clear();
    part.by_hash.clear();
    part.next = 0;
    part.evicted = false;
  }
  if (part.next < start) {  // retention removed records never indexed
    part.next = start;
    part.evicted = true;
  }
  // Records the window cannot hold would be evicted right away: skip them.
  if (end - part.next > per_partition_max_) {
    part.next = end - per_partition_max_;
    part.evicted = true;
  }
  std::string chunk;
  while (part.next < end) {
    chunk.clear();
    RETURN_IF_ERROR(engine_->ReadEvents(stream_, p, part.next, options_.read_batch_records, &chunk));
    if (chunk.empty()) break;  // only markers were left
    uint64_t last = part.next;
    RETURN_IF_ERROR(ForEachLine(chunk, [&](std::string_view line) -> Status {
      simdjson::dom::element doc;
      if (auto e = LineParser().parse(line.data(), line.size()).get(doc); e) return BadLine("parse record", e);
      int64_t offset = 0;
      std::string_view id;
      if (auto e = doc["_offset"].get_int64().get(offset); e) return BadLine("_offset", e);
      if (auto e = doc["event_id"].get_string().get(id); e) return BadLine("event_id", e);
      Add(part, IdHash(id), static_cast<uint64_t>(offset));
      last = static_cast<uint64_t>(offset);
      return Status::OK();
    }));
    part.next = last + 1;
  }
  return Status::OK();
}

Status DecisionIndex::AppendMatches(uint32_t p, const std::vector<uint64_t>& offsets, std::string_view event_id,
                                    size_t* found, std::string* out) const {
  std::string line_text;
  for (uint64_t offset : offsets) {
    if (*found >= options_.records_per_id_max) break;
    line_text.clear();
    RETURN_IF_ERROR(engine_->ReadEvents(stream_, p, offset, 1, &line_text));
    while (!line_text.empty() && line_text.back() == '\n') line_text.pop_back();
    if (line_text.empty()) continue;  // gone (retention)
    simdjson::dom::object obj;
    if (auto e = LineParser().parse(line_text).get(obj); e) return BadLine("parse record", e);
    int64_t got_offset = -1;
    std::string_view id;
    if (obj["_offset"].get_int64().get(got_offset) || static_cast<uint64_t>(got_offset) != offset) continue;
    if (obj["event_id"].get_string().get(id) || id != event_id) continue;  // hash collision
    if (*found > 0) out->push_back(',');
    out->push_back('{');
    bool first = true;
    for (auto [key, value] : obj) {
      if (!first) out->push_back(',');
      first = false;
      AppendJsonString(key, out);
      out->push_back(':');
      std::string_view text;
      simdjson::dom::element embedded;
      if (IsEmbeddedJson(key) && value.get_string().get(text) == simdjson::SUCCESS &&
          EmbeddedParser().parse(text.data(), text.size()).get(embedded) == simdjson::SUCCESS) {
        out->append(simdjson::minify(embedded));
      } else {
        // Not valid JSON text (a writer's bug): kept as the string it is, never dropped.
        out->append(simdjson::minify(value));
      }
    }
    out->push_back('}');
    ++*found;
  }
  return Status::OK();
}

Result<size_t> DecisionIndex::Lookup(std::string_view event_id, std::string* out) {
  std::vector<PartitionInfo> infos;
  for (const StreamInfo& s : engine_->ListStreams()) {
    if (s.name == stream_) infos = s.partitions;
  }
  if (infos.size() != parts_.size()) return NotFound("stream '" + stream_ + "' is gone or changed");
  const uint64_t hash = IdHash(event_id);
  std::vector<uint32_t> search;
  if (keyed_by_id_) {
    search.push_back(PartitionFor(hash, static_cast<uint32_t>(parts_.size())));
  } else {
    for (uint32_t p = 0; p < parts_.size(); ++p) search.push_back(p);
  }
  size_t found = 0;
  std::optional<std::pair<uint32_t, uint64_t>> window;  // (partition, first indexed offset)
  for (uint32_t p : search) {
    Partition& part = *parts_[p];
    std::vector<uint64_t> offsets;
    {
      std::lock_guard<std::mutex> lock(part.mu);
      RETURN_IF_ERROR(CatchUp(p, part, infos[p].start_offset, infos[p].end_offset));
      auto [it, end] = part.by_hash.equal_range(hash);
      for (; it != end; ++it) offsets.push_back(it->second);
      if (part.evicted) window = {p, part.fifo.empty() ? part.next : part.fifo.front().second};
    }
    std::sort(offsets.begin(), offsets.end());  // oldest record first
    RETURN_IF_ERROR(AppendMatches(p, offsets, event_id, &found, out));
  }
  if (found > 0) return found;
  std::string msg = "no decision for event id '" + std::string(event_id) + "' in stream '" + stream_ + "'";
  if (window) {
    msg += ": unknown, or older than the indexed window (offset " + std::to_string(window->second) + " of partition " +
           std::to_string(window->first) + ")";
  }
  return NotFound(std::move(msg));
}

Result<size_t> DecisionIndexSet::Lookup(std::string_view stream, std::string_view event_id, std::string* out) {
  std::shared_ptr<DecisionIndex> index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = indexes_.find(stream);
    if (it != indexes_.end()) index = it->second;
  }
  if (index == nullptr) {
    ASSIGN_OR_RETURN(std::unique_ptr<DecisionIndex> created,
                     DecisionIndex::Create(engine_, std::string(stream), options_));
    std::lock_guard<std::mutex> lock(mu_);
    // Another thread may have created it meanwhile: keep the first.
    index = indexes_.emplace(std::string(stream), std::move(created)).first->second;
  }
  return index->Lookup(event_id, out);
}

}  // namespace impulse::server
