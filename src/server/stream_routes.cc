// Reading streams back (one partition, or all of them with a cursor; optionally long-polled),
// describing a stream and listing the pipelines, deleting a stream's oldest records: GET
// /v1/streams/{s}/events, GET /v1/streams/{s}, GET /v1/pipelines, DELETE
// /v1/streams/{s}/records (docs/HTTP_API.md).
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/logger.h"
#include "common/suggest.h"
#include "event/json_writer.h"
#include "server/json_writer.h"
#include "server/router.h"

namespace impulse::server {
namespace {

constexpr uint32_t kReadLimitDefault = 100;
constexpr uint32_t kReadLimitMax = 10000;
constexpr uint32_t kEmptyWakesMax = 16;  // see ReadOrWait

HttpReply Error(int status, std::string_view message, std::string_view code) {
  return MakeReply(status, JsonError(message, code));
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool ParseUint(std::string_view raw, uint64_t* v) {
  const auto [ptr, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), *v);
  return !raw.empty() && ec == std::errc() && ptr == raw.data() + raw.size();
}

struct ReadParams {
  std::optional<uint64_t> partition;
  std::optional<uint64_t> from;
  std::optional<std::string> cursor;  // the merged form: "beginning", "end" or one offset per partition
  uint64_t limit = kReadLimitDefault;
  uint64_t wait_ms = 0;
};

// Parses the read-back query; a message naming the bad parameter on failure. A parameter given
// twice is refused: silently taking one of the values could read the wrong partition.
std::optional<std::string> ParseReadParams(std::string_view query, ReadParams* p) {
  bool saw_limit = false;
  bool saw_wait = false;
  std::string malformed;
  const std::optional<QueryParams> params = DecodeQuery(query, &malformed);
  if (!params) return malformed;
  for (const auto& [key, raw] : *params) {
    if (key != "partition" && key != "from" && key != "limit" && key != "cursor" && key != "wait_ms") {
      return "unknown query parameter '" + std::string(key) + "' (expected partition, from, limit, cursor, wait_ms)";
    }
    if ((key == "partition" && p->partition) || (key == "from" && p->from) || (key == "limit" && saw_limit) ||
        (key == "cursor" && p->cursor) || (key == "wait_ms" && saw_wait)) {
      return "query parameter '" + std::string(key) + "' given more than once";
    }
    if (key == "cursor") {
      p->cursor = raw;
      continue;
    }
    uint64_t v = 0;
    if (!ParseUint(raw, &v)) {
      return "query parameter '" + std::string(key) + "' must be an unsigned integer, got '" + std::string(raw) + "'";
    }
    if (key == "partition") p->partition = v;
    if (key == "from") p->from = v;
    if (key == "limit") {
      p->limit = v;
      saw_limit = true;
    }
    if (key == "wait_ms") {
      p->wait_ms = v;
      saw_wait = true;
    }
  }
  if (p->partition && p->cursor) {
    return std::string(
        "query parameters 'partition' and 'cursor' exclude each other: 'partition' with 'from' reads "
        "one partition, 'cursor' reads all of them");
  }
  if (p->partition && !p->from) return std::string("missing query parameter 'from' (with 'partition')");
  if (!p->partition && p->from) {
    return std::string("query parameter 'from' needs 'partition'; to read every partition give 'cursor'");
  }
  if (saw_limit && (p->limit == 0 || p->limit > kReadLimitMax)) {
    return "query parameter 'limit' must be in [1, " + std::to_string(kReadLimitMax) + "], got " +
           std::to_string(p->limit);
  }
  if (p->wait_ms > Engine::kWaitReadableMaxMs) {
    return "query parameter 'wait_ms' must be in [0, " + std::to_string(Engine::kWaitReadableMaxMs) + "], got " +
           std::to_string(p->wait_ms);
  }
  return std::nullopt;
}

// "beginning", "end", or one offset per partition, comma-separated; a message naming the
// cursor on failure.
std::optional<std::string> ResolveCursor(const std::string& cursor, const StreamInfo& info,
                                         std::vector<uint64_t>* pos) {
  const size_t n = info.partitions.size();
  pos->assign(n, 0);
  if (cursor == "beginning") {
    for (size_t p = 0; p < n; ++p) (*pos)[p] = info.partitions[p].start_offset;
    return std::nullopt;
  }
  if (cursor == "end") {
    for (size_t p = 0; p < n; ++p) (*pos)[p] = info.partitions[p].end_offset;
    return std::nullopt;
  }
  const auto bad = [&](const std::string& why) {
    return "query parameter 'cursor' " + why + ": expected 'beginning', 'end' or " + std::to_string(n) +
           " comma-separated offsets (one per partition of stream '" + info.name + "'), got '" + cursor + "'";
  };
  size_t start = 0;
  size_t p = 0;
  while (start <= cursor.size()) {
    size_t end = cursor.find(',', start);
    if (end == std::string::npos) end = cursor.size();
    if (p >= n) return bad("has more than " + std::to_string(n) + " offsets");
    uint64_t v = 0;
    if (!ParseUint(std::string_view(cursor).substr(start, end - start), &v)) {
      return bad("entry " + std::to_string(p) + " is not an unsigned integer");
    }
    (*pos)[p++] = v;
    start = end + 1;
  }
  if (p != n) return bad("has " + std::to_string(p) + " offsets");
  for (p = 0; p < n; ++p) {
    if ((*pos)[p] > info.partitions[p].end_offset) {
      return bad("offset " + std::to_string((*pos)[p]) + " of partition " + std::to_string(p) + " is past its end (" +
                 std::to_string(info.partitions[p].end_offset) + "): a cursor from another stream or data directory");
    }
  }
  return std::nullopt;
}

void AppendRows(const Schema& schema, const RowsRead& read, uint32_t partition, char separator, std::string* out) {
  for (size_t i = 0; i < read.rows.size(); ++i) {
    const RowMeta& m = read.rows.meta(i);
    JsonRowPrefix prefix{m.offset, partition, m.event_time_ms};
    if (separator == ',' && !out->empty() && out->back() != '[') out->push_back(',');
    AppendRowJson(schema, read.rows.row(i), out, &prefix);
    if (separator == '\n') out->push_back('\n');
  }
}

std::string UnknownStream(const Engine& engine, const std::string& stream) {
  std::vector<std::string> names;
  for (const StreamInfo& s : engine.ListStreams()) names.push_back(s.name);
  std::vector<std::string_view> views(names.begin(), names.end());
  return "unknown stream '" + stream + "'" + DidYouMean(stream, views);
}

// One read-back request's progress while it long-polls: kept alive by the engine's callback.
struct PendingRead {
  Engine* engine = nullptr;
  std::string stream;
  StreamInfo info;
  std::optional<uint32_t> partition;  // the one-partition form
  std::vector<uint64_t> pos;          // per partition
  uint64_t skipped = 0;               // merged form: events removed by retention behind the cursor
  uint64_t limit = 0;
  int64_t deadline_ms = 0;  // system clock; 0 without wait_ms
  uint32_t retry_after_s = 1;
  Router::ReplyFn reply;
  // The router's count of reads waiting, and its bound; this request holds one of them from its
  // first wait until it is answered.
  std::shared_ptr<std::atomic<uint32_t>> waiting;
  uint32_t max_waiting = 0;
  bool holds_wait = false;
  uint32_t empty_wakes = 0;  // wakes for readable records after which the read found none

  PendingRead() = default;
  PendingRead(const PendingRead&) = delete;
  PendingRead& operator=(const PendingRead&) = delete;
  ~PendingRead() { ReleaseWait(); }
  // Called before answering: the waiter's thread drops its reference (running the destructor)
  // only after the answer went out, so the client's next read could find the slot still taken.
  void ReleaseWait() {
    if (holds_wait) waiting->fetch_sub(1, std::memory_order_relaxed);
    holds_wait = false;
  }
};

// A partition's first offset now (the request's copy of the stream may be older).
uint64_t StartNow(const PendingRead& r, uint32_t partition) {
  uint64_t start = r.info.partitions[partition].start_offset;
  for (const StreamInfo& s : r.engine->ListStreams()) {
    if (s.name == r.stream && partition < s.partitions.size()) start = s.partitions[partition].start_offset;
  }
  return start;
}

// A read's error as answered. A failure of the stored data (kDataLoss, kIOError, kInternal)
// names the stream, partition and offset, not the server's files (an internal detail the
// engine's message carries): the whole error goes to the server's log (event read_failed).
HttpReply ReadErrorReply(const Status& st, std::string_view stream, uint32_t partition, uint64_t offset,
                         uint32_t retry_after_s) {
  std::string_view what;
  switch (st.code()) {
    case StatusCode::kDataLoss: what = "the stored record is damaged"; break;
    case StatusCode::kIOError: what = "the stored record cannot be read"; break;
    case StatusCode::kInternal: what = "internal error"; break;
    default: return ErrorReply(st, retry_after_s);
  }
  const std::string where =
      "stream " + std::string(stream) + " partition " + std::to_string(partition) + " offset " + std::to_string(offset);
  LogError("read_failed", "read of " + where + ": " + st.ToString(),
           {{"stream", stream}, {"partition", partition}, {"offset", offset}, {"error", st.ToString()}});
  return ErrorReply(Status(st.code(), where + ": " + std::string(what) + " (the engine's log has the details)"),
                    retry_after_s);
}

// Reads once from the request's positions (advancing them); the reply, or nullopt when the
// read found no row and the request may still wait.
std::optional<HttpReply> ReadOnce(PendingRead* r, bool may_wait) {
  const Schema& schema = r->info.def.schema;
  std::string rows;
  uint64_t produced = 0;
  if (r->partition) {
    const uint32_t p = *r->partition;
    if (r->pos[p] <= r->info.partitions[p].end_offset || may_wait) {
      auto read = r->engine->ReadRows(r->stream, p, r->pos[p], static_cast<uint32_t>(r->limit));
      if (read.ok()) {
        AppendRows(schema, *read, p, '\n', &rows);
        produced = read->rows.size();
        r->pos[p] = read->next_offset;
      } else if (read.status().code() != StatusCode::kOutOfRange || r->pos[p] < StartNow(*r, p)) {
        // Behind the start (retention may have moved it since the request looked): as without
        // wait_ms. Only past the end is a read of nothing.
        return ReadErrorReply(read.status(), r->stream, p, r->pos[p], r->retry_after_s);
      }
      // kOutOfRange past the end: as a read at the end (nothing), as without wait_ms.
    }
    if (produced == 0 && may_wait) return std::nullopt;
    HttpReply reply = MakeReply(200, std::move(rows), "application/x-ndjson");
    return reply;
  }
  // Merged: shares of the limit per partition with rows, in rounds, so one busy partition does
  // not starve the others; each partition's rows stay in offset order.
  const size_t n = r->pos.size();
  std::vector<std::string> per(n);
  std::vector<uint64_t> ends(n, UINT64_MAX);  // per partition read: its end then
  std::vector<bool> open(n, true);
  size_t open_count = n;
  while (produced < r->limit && open_count > 0) {
    const uint64_t share = std::max<uint64_t>(1, (r->limit - produced + open_count - 1) / open_count);
    for (size_t p = 0; p < n && produced < r->limit; ++p) {
      if (!open[p]) continue;
      const auto want = static_cast<uint32_t>(std::min(share, r->limit - produced));
      auto read = r->engine->ReadRows(r->stream, static_cast<uint32_t>(p), r->pos[p], want);
      if (!read.ok() && read.status().code() == StatusCode::kOutOfRange) {
        // Retention removed the cursor's position: continue from the partition's start and
        // say how many events were skipped.
        for (const StreamInfo& s : r->engine->ListStreams()) {
          if (s.name == r->stream && p < s.partitions.size() && r->pos[p] < s.partitions[p].start_offset) {
            r->skipped += s.partitions[p].start_offset - r->pos[p];
            r->pos[p] = s.partitions[p].start_offset;
            read = r->engine->ReadRows(r->stream, static_cast<uint32_t>(p), r->pos[p], want);
          }
        }
      }
      if (!read.ok())
        return ReadErrorReply(read.status(), r->stream, static_cast<uint32_t>(p), r->pos[p], r->retry_after_s);
      std::string part;
      part.push_back('[');
      AppendRows(schema, *read, static_cast<uint32_t>(p), ',', &part);
      if (part.size() > 1) {
        if (!per[p].empty()) per[p].push_back(',');
        per[p].append(part, 1, std::string::npos);
      }
      produced += read->rows.size();
      r->pos[p] = read->next_offset;
      ends[p] = read->end_offset;
      if (read->next_offset >= read->end_offset || read->rows.size() < want) {
        open[p] = false;
        --open_count;
      }
    }
  }
  if (produced == 0 && may_wait) return std::nullopt;
  std::string body = "{\"stream\":";
  AppendJsonString(r->stream, &body);
  body.append(",\"events\":[");
  bool first = true;
  for (const std::string& s : per) {
    if (s.empty()) continue;
    if (!first) body.push_back(',');
    first = false;
    body.append(s);
  }
  body.append("],\"cursor\":\"");
  bool caught_up = true;
  for (size_t p = 0; p < n; ++p) {
    if (p > 0) body.push_back(',');
    body.append(std::to_string(r->pos[p]));
    caught_up = caught_up && ends[p] != UINT64_MAX && r->pos[p] >= ends[p];
  }
  body.append("\",\"end_offsets\":[");
  for (size_t p = 0; p < n; ++p) {
    if (p > 0) body.push_back(',');
    body.append(std::to_string(ends[p] != UINT64_MAX ? ends[p] : r->info.partitions[p].end_offset));
  }
  body.append("],\"caught_up\":").append(caught_up ? "true" : "false");
  body.append(",\"skipped\":").append(std::to_string(r->skipped)).append("}");
  return MakeReply(200, std::move(body));
}

// Reads; when nothing came and time is left, waits for the engine to report records past the
// positions and reads again (a pipeline-written stream's records may be watermark markers only).
void ReadOrWait(const std::shared_ptr<PendingRead>& r, bool woken_readable) {
  const int64_t left = r->deadline_ms - NowMs();
  const std::vector<uint64_t> before = r->pos;
  std::optional<HttpReply> reply = ReadOnce(r.get(), left > 0);
  // A wake for readable records after which the read neither returns a row nor moves (past
  // markers) is not expected; should it repeat, the request is answered now rather than waking
  // and reading again, inline (recursing) or on the waiter thread, until wait_ms.
  if (!reply && woken_readable && r->pos == before && ++r->empty_wakes > kEmptyWakesMax) {
    reply = ReadOnce(r.get(), false);
  }
  if (reply) {
    r->ReleaseWait();
    return r->reply(std::move(*reply));
  }
  if (!r->holds_wait) {
    // A waiting read keeps its connection: bounded so that followers leave connections to
    // ingest and the other routes.
    if (r->waiting->fetch_add(1, std::memory_order_relaxed) >= r->max_waiting) {
      r->waiting->fetch_sub(1, std::memory_order_relaxed);
      return r->reply(ErrorReply(Unavailable("already " + std::to_string(r->max_waiting) +
                                             " reads waiting for events (half of max_connections); retry later"),
                                 r->retry_after_s));
    }
    r->holds_wait = true;
  }
  std::vector<uint64_t> positions = r->pos;
  if (r->partition) {
    // Only the partition asked for may end the wait.
    for (size_t p = 0; p < positions.size(); ++p) {
      if (p != *r->partition) positions[p] = UINT64_MAX;
    }
  }
  // Readable or timed out, the callback reads again and answers or waits on; it may run inline
  // (already readable), then it has answered or registered again before this returns.
  const Status st = r->engine->WaitReadable(r->stream, std::move(positions), static_cast<uint32_t>(left),
                                            [r](bool readable) { ReadOrWait(r, readable); });
  if (st.ok()) return;
  // kUnavailable (too many reads waiting: 503 with Retry-After, so that clients back off rather
  // than poll), kFailedPrecondition (stopping).
  r->ReleaseWait();
  r->reply(ErrorReply(st, r->retry_after_s));
}

}  // namespace

void Router::ReadEvents(const std::string& stream, std::string_view query, ReplyFn reply) const {
  ReadParams params;
  if (auto err = ParseReadParams(query, &params)) return reply(Error(400, *err, "InvalidArgument"));
  const std::vector<StreamInfo> streams = engine_->ListStreams();
  const StreamInfo* info = nullptr;
  for (const auto& s : streams) {
    if (s.name == stream) info = &s;
  }
  if (info == nullptr) return reply(Error(404, UnknownStream(*engine_, stream), "NotFound"));
  const size_t partitions = info->partitions.size();
  if (params.partition && *params.partition >= partitions) {
    return reply(Error(400,
                       "partition " + std::to_string(*params.partition) + " out of range: stream '" + stream +
                           "' has " + std::to_string(partitions) + " partitions",
                       "OutOfRange"));
  }
  if (params.partition && params.wait_ms == 0) {
    // The one-partition read as it always was (from past the end reads nothing).
    HttpReply r;
    r.content_type = "application/x-ndjson";
    const Status st = engine_->ReadEvents(stream, static_cast<uint32_t>(*params.partition), *params.from,
                                          static_cast<uint32_t>(params.limit), &r.body);
    if (!st.ok()) {
      return reply(
          ReadErrorReply(st, stream, static_cast<uint32_t>(*params.partition), *params.from, options_->retry_after_s));
    }
    return reply(std::move(r));
  }
  auto pending = std::make_shared<PendingRead>();
  pending->engine = engine_;
  pending->stream = stream;
  pending->info = *info;
  pending->limit = params.limit;
  pending->retry_after_s = options_->retry_after_s;
  pending->reply = std::move(reply);
  pending->waiting = waiting_reads_;
  pending->max_waiting = std::max<uint32_t>(1, options_->max_connections / 2);
  if (params.partition) {
    pending->partition = static_cast<uint32_t>(*params.partition);
    pending->pos.assign(partitions, 0);
    pending->pos[*params.partition] = *params.from;
  } else if (auto err = ResolveCursor(params.cursor.value_or("beginning"), *info, &pending->pos)) {
    return pending->reply(Error(400, *err, "InvalidArgument"));
  }
  pending->deadline_ms = params.wait_ms > 0 ? NowMs() + static_cast<int64_t>(params.wait_ms) : 0;
  ReadOrWait(pending, false);
}

HttpReply Router::DescribeStream(const std::string& stream) const {
  const std::vector<StreamInfo> streams = engine_->ListStreams();
  const StreamInfo* info = nullptr;
  for (const auto& s : streams) {
    if (s.name == stream) info = &s;
  }
  if (info == nullptr) return Error(404, UnknownStream(*engine_, stream), "NotFound");
  const Schema& schema = info->def.schema;
  std::string body = "{\"name\":";
  AppendJsonString(info->name, &body);
  body.append(",\"fields\":");
  AppendSchemaFields(schema, &body);
  const auto field_or_null = [&](int index) {
    if (index >= 0 && static_cast<size_t>(index) < schema.size()) {
      AppendJsonString(schema.field(static_cast<size_t>(index)).name, &body);
    } else {
      body.append("null");
    }
  };
  body.append(",\"key\":");
  field_or_null(info->def.key_field);
  body.append(",\"event_time\":");
  field_or_null(info->def.time_field);
  const bool internal = !info->name.empty() && info->name[0] == '_';
  body.append(",\"ingest\":").append(info->def.derived || internal ? "false" : "true");
  body.append(",\"partitions\":[");
  uint64_t events = 0;
  for (size_t i = 0; i < info->partitions.size(); ++i) {
    const PartitionInfo& p = info->partitions[i];
    if (i > 0) body.push_back(',');
    body.append("{\"partition\":").append(std::to_string(p.partition));
    body.append(",\"start_offset\":").append(std::to_string(p.start_offset));
    body.append(",\"end_offset\":").append(std::to_string(p.end_offset)).append("}");
    events += p.end_offset - p.start_offset;
  }
  body.append("],\"records\":").append(std::to_string(events));
  const auto limit_or_null = [&](int64_t v) { body.append(v < 0 ? "null" : std::to_string(v)); };
  body.append(",\"retention\":{\"bytes_per_partition\":");
  limit_or_null(info->def.options.retention_bytes);
  body.append(",\"ms\":");
  limit_or_null(info->def.options.retention_ms);
  body.append("},\"written_by\":[");
  std::string read_by;
  bool first_writer = true;
  for (const PipelineInfo& pi : engine_->ListPipelines()) {
    bool writes = pi.sink_kind == "stream" && pi.sink == stream;
    for (const std::string& side : pi.side_streams) writes = writes || side == stream;
    if (writes) {
      if (!first_writer) body.push_back(',');
      first_writer = false;
      AppendJsonString(pi.name, &body);
    }
    for (const std::string& src : pi.sources) {
      if (src != stream) continue;
      if (!read_by.empty()) read_by.push_back(',');
      AppendJsonString(pi.name, &read_by);
      break;
    }
  }
  body.append("],\"read_by\":[").append(read_by).append("]");
  body.append(",\"events_rejected\":").append(std::to_string(info->events_rejected)).append("}");
  return MakeReply(200, std::move(body));
}

void Router::DeleteRecords(const std::string& stream, std::string_view query, ReplyFn reply) const {
  std::optional<uint64_t> before;
  std::optional<uint64_t> partition;
  bool internal = false;
  std::string malformed;
  const std::optional<QueryParams> params = DecodeQuery(query, &malformed);
  if (!params) return reply(Error(400, malformed, "InvalidArgument"));
  for (const auto& [key, raw] : *params) {
    if (key == "internal") {
      if (internal) {
        return reply(Error(400, "query parameter 'internal' given more than once", "InvalidArgument"));
      }
      if (raw != "true") {
        return reply(
            Error(400, "query parameter 'internal' must be true, got '" + std::string(raw) + "'", "InvalidArgument"));
      }
      internal = true;
      continue;
    }
    if (key != "before" && key != "partition") {
      return reply(Error(400,
                         "unknown query parameter '" + std::string(key) + "' (expected before, partition, internal)",
                         "InvalidArgument"));
    }
    std::optional<uint64_t>& slot = key == "before" ? before : partition;
    if (slot) {
      return reply(Error(400, "query parameter '" + std::string(key) + "' given more than once", "InvalidArgument"));
    }
    uint64_t v = 0;
    if (!ParseUint(raw, &v) || (key == "partition" && v > UINT32_MAX)) {
      return reply(Error(400,
                         "query parameter '" + std::string(key) + "' must be an unsigned integer" +
                             (key == "before" ? " offset" : "") + ", got '" + std::string(raw) + "'",
                         "InvalidArgument"));
    }
    slot = v;
  }
  if (!before) {
    return reply(
        Error(400, "query parameter 'before' is required: records below this offset are deleted", "InvalidArgument"));
  }
  // The engine's own streams hold what nobody else keeps (the outbox's pending firings, the dead
  // letters): deleting them takes an explicit internal=true, as `impulse delete` takes --internal.
  if (!internal && stream.starts_with("_")) {
    return reply(Error(
        400,
        "stream " + stream + " is internal (its name starts with '_'): add internal=true to delete its records anyway",
        "InvalidArgument"));
  }
  std::optional<uint32_t> one;
  if (partition) one = static_cast<uint32_t>(*partition);
  auto shared_reply = std::make_shared<ReplyFn>(std::move(reply));
  engine_->DeleteRecords(
      stream, one, *before,
      [shared_reply, engine = engine_, stream, before = *before, retry = options_->retry_after_s](
          const Status& st, const std::vector<Engine::DeletedRecords>& parts) {
        if (st.code() == StatusCode::kNotFound && parts.empty()) {
          return (*shared_reply)(Error(404, UnknownStream(*engine, stream), "NotFound"));
        }
        if (!st.ok()) return (*shared_reply)(ErrorReply(st, retry));
        std::string body = "{\"stream\":";
        AppendJsonString(stream, &body);
        body.append(",\"before\":").append(std::to_string(before)).append(",\"partitions\":[");
        uint64_t deleted = 0;
        for (size_t i = 0; i < parts.size(); ++i) {
          const Engine::DeletedRecords& d = parts[i];
          if (i > 0) body.push_back(',');
          body.append("{\"partition\":").append(std::to_string(d.partition));
          body.append(",\"old_start_offset\":").append(std::to_string(d.old_start_offset));
          body.append(",\"new_start_offset\":").append(std::to_string(d.new_start_offset));
          body.append(",\"end_offset\":").append(std::to_string(d.end_offset));
          body.append(",\"deleted\":").append(std::to_string(d.new_start_offset - d.old_start_offset)).append("}");
          deleted += d.new_start_offset - d.old_start_offset;
        }
        body.append("],\"deleted\":").append(std::to_string(deleted)).append("}");
        (*shared_reply)(MakeReply(200, std::move(body)));
      });
}

HttpReply Router::ListPipelines() const {
  const int64_t now_ms = NowMs();
  std::string body = "{\"pipelines\":[";
  bool first = true;
  for (const PipelineInfo& pi : engine_->ListPipelines()) {
    if (!first) body.push_back(',');
    first = false;
    body.append("{\"name\":");
    AppendJsonString(pi.name, &body);
    body.append(",\"sources\":[");
    for (size_t i = 0; i < pi.sources.size(); ++i) {
      if (i > 0) body.push_back(',');
      AppendJsonString(pi.sources[i], &body);
    }
    body.append("],\"sink\":{\"kind\":");
    AppendJsonString(pi.sink_kind, &body);
    body.append(",\"name\":");
    AppendJsonString(pi.sink, &body);
    body.append("},\"side_streams\":[");
    for (size_t i = 0; i < pi.side_streams.size(); ++i) {
      if (i > 0) body.push_back(',');
      AppendJsonString(pi.side_streams[i], &body);
    }
    body.append("],\"lag\":").append(std::to_string(pi.lag));
    body.append(",\"watermark_ms\":");
    body.append(pi.watermark_ms == INT64_MIN ? "null" : std::to_string(pi.watermark_ms));
    // The watermark's delay behind the wall clock: how far event time lags real time here.
    body.append(",\"watermark_delay_ms\":");
    body.append(pi.watermark_ms == INT64_MIN || pi.watermark_ms == INT64_MAX
                    ? "null"
                    : std::to_string(now_ms - pi.watermark_ms));
    body.append(",\"events_in\":").append(std::to_string(pi.events_in));
    body.append(",\"events_out\":").append(std::to_string(pi.events_out));
    body.append(",\"state_entries\":").append(std::to_string(pi.state_entries));
    body.append(",\"state_bytes\":").append(std::to_string(pi.state_bytes));
    body.append(",\"tasks_failed\":").append(std::to_string(pi.tasks_failed));
    body.append(",\"inputs\":[");
    for (size_t i = 0; i < pi.inputs.size(); ++i) {
      const PipelineInputInfo& in = pi.inputs[i];
      if (i > 0) body.push_back(',');
      body.append("{\"stream\":");
      AppendJsonString(in.stream, &body);
      body.append(",\"partition\":").append(std::to_string(in.partition));
      body.append(",\"processed_offset\":").append(std::to_string(in.processed_offset));
      body.append(",\"end_offset\":").append(std::to_string(in.end_offset));
      body.append(",\"lag\":").append(std::to_string(in.lag)).append("}");
    }
    body.append("]}");
  }
  body.append("]}");
  return MakeReply(200, std::move(body));
}

}  // namespace impulse::server
