// The commands that talk to a running engine over its HTTP API (docs/HTTP_API.md): tail,
// ingest, describe, status and top.
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/command_line.h"
#include "event/csv_header.h"
#include "event/json_writer.h"
#include "event/table_file.h"
#include "impulse/schema.h"
#include "tools/impulse/commands.h"
#include "tools/impulse/http_client.h"
#include "tools/impulse/metrics_text.h"

namespace impulse::tools {
namespace {

namespace po = boost::program_options;

constexpr const char* kDefaultUrl = "http://127.0.0.1:8470";
constexpr uint32_t kFollowWaitMs = 10'000;  // each long-poll of tail --follow (the server's max is 30 s)
constexpr int kRetries503 = 20;             // ingest: 503s retried (after Retry-After) per batch

// --url and --token of every command here; the token defaults to $IMPULSE_TOKEN.
struct Remote {
  std::string url = kDefaultUrl;
  std::string token;
  void Add(po::options_description* opts) {
    opts->add_options()("url", po::value(&url)->default_value(url), "the engine's HTTP API")(
        "token", po::value(&token), "bearer token (default: $IMPULSE_TOKEN)");
  }
  Result<std::unique_ptr<EngineClient>> Connect() {
    if (token.empty()) {
      if (const char* t = std::getenv("IMPULSE_TOKEN")) token = t;
    }
    return EngineClient::Create(url, token);
  }
};

// The first bare argument when it comes first (a second positional is then parsed as usual).
std::string TakeFirstPositional(std::vector<std::string>* args) {
  if (args->empty() || (*args)[0].starts_with("-")) return "";
  std::string first = (*args)[0];
  args->erase(args->begin());
  return first;
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "impulse: %s\n", what.c_str());
  return 1;
}

// GET that must answer 200: the body, or an error naming the target. With retry_503, a
// transient 503 (Unavailable: too many reads waiting, connections full) is retried after its
// Retry-After or a backoff doubling from 1 s, whichever is longer (at most kRetry503MaxS); its reason
// is printed once (again only when it changes). A 503 FailedPrecondition is not transient (the
// engine is stopping, or does not wait for events: an instance of a group) and is returned.
Result<std::string> GetOk(EngineClient& client, const std::string& target, int64_t timeout_ms = 10'000,
                          bool retry_503 = false) {
  constexpr uint32_t kRetry503MaxS = 30;
  ASSIGN_OR_RETURN(HttpResponse r, client.Get(target, timeout_ms));
  uint32_t backoff_s = 1;
  std::string told;
  while (retry_503 && r.status == 503 && ErrorCode(r) != "FailedPrecondition") {
    if (std::string why = ErrorMessage(r); why != told) {
      std::fprintf(stderr, "impulse: the engine is busy (HTTP 503 from %s: %s); retrying (backoff up to %u s)\n",
                   client.url().c_str(), why.c_str(), kRetry503MaxS);
      told = std::move(why);
    }
    std::this_thread::sleep_for(std::chrono::seconds(std::min(std::max(backoff_s, r.retry_after_s), kRetry503MaxS)));
    backoff_s = std::min(backoff_s * 2, kRetry503MaxS);
    ASSIGN_OR_RETURN(r, client.Get(target, timeout_ms));
  }
  if (r.status != 200) {
    return Status(r.status == 404 ? StatusCode::kNotFound : StatusCode::kUnavailable,
                  ErrorMessage(r) + " (HTTP " + std::to_string(r.status) + " from " + client.url() + target + ")");
  }
  return std::move(r.body);
}

std::string Str(simdjson::dom::element e) {
  std::string_view v;
  return e.get_string().get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}
bool Bool(simdjson::dom::element e) {
  bool v = false;
  return e.get_bool().get(v) == simdjson::SUCCESS && v;
}
int64_t Int(simdjson::dom::element e, int64_t fallback = 0) {
  int64_t v = 0;
  if (e.get_int64().get(v) == simdjson::SUCCESS) return v;
  uint64_t u = 0;
  if (e.get_uint64().get(u) == simdjson::SUCCESS) return static_cast<int64_t>(u);
  return fallback;
}

// ---- tail ----

int TailCommand(const std::vector<std::string>& args) {
  const char* usage =
      "impulse tail STREAM [--follow] [--from beginning|end|OFFSETS] [--partition P] [--limit N] [--url URL] "
      "[--token T]";
  po::options_description opts("tail options");
  std::string stream;
  std::string from;
  int64_t partition = -1;
  uint32_t limit = 1000;
  Remote remote;
  opts.add_options()("stream", po::value(&stream), "the stream to print")(
      "follow,f", "keep printing events as they arrive (until Ctrl-C)")(
      "from", po::value(&from),
      "where to start: beginning, end, or offsets (one per partition, comma-separated; one offset with "
      "--partition). Default: beginning, or end with --follow")(
      "partition", po::value(&partition), "only this partition (the output is its events in offset order)")(
      "limit", po::value(&limit)->default_value(limit), "events per request, 1..10000");
  remote.Add(&opts);
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm, "stream", Positional::kRequired); rc >= 0) return rc;
  const bool follow = vm.count("follow") > 0;
  if (vm.count("partition") > 0 && partition < 0) {
    std::fprintf(stderr, "impulse: --partition %lld: expected a partition number (0 or more)\n",
                 static_cast<long long>(partition));
    return 2;
  }
  if (from.empty()) from = follow ? "end" : "beginning";
  // Offsets are digits (and commas between partitions): nothing else may reach the query string.
  const bool from_word = from == "beginning" || from == "end";
  const bool from_offsets =
      !from.empty() && from.find_first_not_of(partition >= 0 ? "0123456789" : "0123456789,") == std::string::npos;
  if (!from_word && !from_offsets) {
    std::fprintf(stderr, "impulse: --from '%s': expected beginning, end or %s\n", from.c_str(),
                 partition >= 0 ? "an offset (with --partition)" : "one offset per partition, comma-separated");
    return 2;
  }
  auto client = remote.Connect();
  if (!client.ok()) return Fail(client.status().message()) + 1;
  EngineClient& c = **client;
  const std::string base = "/v1/streams/" + EncodeSegment(stream) + "/events?limit=" + std::to_string(limit);
  const std::string wait = follow ? "&wait_ms=" + std::to_string(kFollowWaitMs) : "";
  const int64_t timeout = kFollowWaitMs + 10'000;
  simdjson::dom::parser parser;
  std::string out;
  if (partition >= 0) {
    uint64_t next = 0;
    if (from == "beginning" || from == "end") {
      auto d = GetOk(c, "/v1/streams/" + EncodeSegment(stream));
      if (!d.ok()) return Fail(d.status().message());
      simdjson::dom::element doc;
      if (parser.parse(*d).get(doc) != simdjson::SUCCESS) return Fail("unreadable describe answer");
      simdjson::dom::array parts;
      if (doc["partitions"].get_array().get(parts) != simdjson::SUCCESS ||
          static_cast<size_t>(partition) >= parts.size()) {
        return Fail("stream " + stream + " has no partition " + std::to_string(partition));
      }
      next = static_cast<uint64_t>(
          Int(parts.at(static_cast<size_t>(partition))[from == "end" ? "end_offset" : "start_offset"]));
    } else {
      errno = 0;
      next = std::strtoull(from.c_str(), nullptr, 10);
      if (errno == ERANGE) {
        std::fprintf(stderr, "impulse: --from '%s': offset out of range\n", from.c_str());
        return 2;
      }
    }
    for (;;) {
      auto r = GetOk(c, base + "&partition=" + std::to_string(partition) + "&from=" + std::to_string(next) + wait,
                     timeout, follow);
      if (!r.ok()) return Fail(r.status().message());
      if (r->empty()) {
        if (!follow) return 0;
        continue;
      }
      std::fwrite(r->data(), 1, r->size(), stdout);
      std::fflush(stdout);
      // Offsets of pipeline-written streams are not dense: continue after the last event.
      const size_t last = r->rfind('\n', r->size() - 2);
      const size_t at = r->find("\"_offset\":", last == std::string::npos ? 0 : last + 1);
      if (at == std::string::npos) return Fail("an event without _offset in the answer");
      next = std::strtoull(r->c_str() + at + 10, nullptr, 10) + 1;
    }
  }
  std::string cursor = from;
  for (;;) {
    auto r = GetOk(c, base + "&cursor=" + cursor + wait, timeout, follow);
    if (!r.ok()) return Fail(r.status().message());
    simdjson::dom::element doc;
    if (parser.parse(*r).get(doc) != simdjson::SUCCESS) return Fail("unreadable answer: " + r->substr(0, 200));
    out.clear();
    for (simdjson::dom::element e : doc["events"].get_array()) out.append(simdjson::to_string(e)).push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    if (const int64_t skipped = Int(doc["skipped"]); skipped > 0) {
      std::fprintf(stderr, "impulse: %lld events were removed by retention before they were read\n",
                   static_cast<long long>(skipped));
    }
    cursor = Str(doc["cursor"]);
    if (Bool(doc["caught_up"]) && !follow) return 0;
  }
}

// ---- ingest ----

struct Batch {
  std::string body;
  std::vector<uint64_t> lines;  // the file line (or CSV row) of each body line
};

int IngestCommand(std::vector<std::string> args) {
  const char* usage =
      "impulse ingest STREAM FILE [--format ndjson|csv] [--column NAME=FIELD]... [--ignore-unknown-columns] "
      "[--batch N] [--url URL] [--token T]\n"
      "  FILE: NDJSON (one event per line; - for stdin) or CSV with a header row naming the stream's fields";
  po::options_description opts("ingest options");
  std::string stream = TakeFirstPositional(&args);
  std::string file, format;
  uint32_t batch_lines = 1000;
  std::vector<std::string> columns;
  TableFileOptions table;
  Remote remote;
  opts.add_options()("file", po::value(&file), "the file to send")(
      "format", po::value(&format), "ndjson or csv (default: csv for a .csv file, else ndjson)")(
      "column", po::value(&columns)->composing(),
      "CSV: the header column NAME fills field FIELD (repeatable); other columns match fields "
      "case-insensitively")("ignore-unknown-columns", po::bool_switch(&table.header.ignore_unknown_columns),
                            "CSV: skip columns that name no field instead of refusing the file")(
      "batch", po::value(&batch_lines)->default_value(batch_lines), "lines per request");
  remote.Add(&opts);
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm, "file", Positional::kRequired); rc >= 0) return rc;
  if (stream.empty()) return UsageError(usage, "ingest: expected STREAM FILE");
  if (format.empty()) {
    std::string lower = file;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    format = lower.ends_with(".csv") ? "csv" : "ndjson";
  }
  if (format != "csv" && format != "ndjson") {
    return UsageError(usage, "ingest: --format '" + format + "': expected ndjson or csv");
  }
  if (format != "csv" && (!columns.empty() || table.header.ignore_unknown_columns)) {
    return UsageError(usage, "ingest: --column and --ignore-unknown-columns apply to CSV input only");
  }
  for (const std::string& col : columns) {
    Result<std::pair<std::string, std::string>> m = ParseColumnMapping(col);
    if (!m.ok()) return UsageError(usage, "ingest: " + m.status().message());
    table.header.column_map.push_back(*m);
  }
  // The file's name does not decide: --format csv reads a .txt as CSV.
  table.format = TableFileOptions::Format::kCsv;
  if (batch_lines == 0) return UsageError(usage, "ingest: --batch must be at least 1");
  auto client = remote.Connect();
  if (!client.ok()) return Fail(client.status().message()) + 1;
  EngineClient& c = **client;
  const char* unit = format == "csv" ? "row" : "line";
  const std::string target = "/v1/streams/" + EncodeSegment(stream) + "/events";
  uint64_t accepted = 0, rejected = 0;
  bool truncated = false;
  simdjson::dom::parser parser;
  // Sends one batch; -1 to go on, else the exit code.
  Batch b;
  const auto send = [&]() -> int {
    if (b.lines.empty()) return -1;
    Result<HttpResponse> r = c.Post(target, b.body);
    for (int attempt = 0; r.ok() && r->status == 503 && attempt < kRetries503; ++attempt) {
      // Backpressure: nothing of the batch was taken; send it again after Retry-After.
      std::this_thread::sleep_for(std::chrono::seconds(std::max<uint32_t>(1, r->retry_after_s)));
      r = c.Post(target, b.body);
    }
    if (!r.ok()) {
      return Fail(r.status().message() + " (" + std::to_string(accepted) + " events accepted before; " + unit + "s " +
                  std::to_string(b.lines.front()) + " on not sent)");
    }
    if (r->status != 200 && r->status != 207 && r->status != 422) {
      return Fail(stream + ": " + ErrorMessage(*r) + " (HTTP " + std::to_string(r->status) + "; " +
                  std::to_string(accepted) + " events accepted before; " + unit + "s " +
                  std::to_string(b.lines.front()) + " on not stored)");
    }
    simdjson::dom::element doc;
    if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return Fail("unreadable answer: " + r->body);
    accepted += static_cast<uint64_t>(Int(doc["accepted"]));
    rejected += static_cast<uint64_t>(Int(doc["rejected"]));
    truncated = truncated || Bool(doc["errors_truncated"]);
    for (simdjson::dom::element e : doc["errors"].get_array()) {
      const int64_t line = Int(e["line"]);
      const uint64_t at = line >= 1 && static_cast<size_t>(line) <= b.lines.size() ? b.lines[line - 1] : 0;
      std::fprintf(stderr, "%s:%s %llu: %s\n", file.c_str(), unit, static_cast<unsigned long long>(at),
                   Str(e["reason"]).c_str());
    }
    b.body.clear();
    b.lines.clear();
    return -1;
  };
  // Adds one event with its line (NDJSON) or data row (CSV); sends when the batch is full.
  const auto add = [&](std::string_view event, uint64_t line) -> int {
    b.body.append(event).push_back('\n');
    b.lines.push_back(line);
    return b.lines.size() >= batch_lines ? send() : -1;
  };
  if (format == "csv") {
    if (file == "-") return Fail("CSV is read from a file, not stdin") + 1;
    // The stream's schema from the running engine, so the cells are typed as it will check them.
    auto d = GetOk(c, "/v1/streams/" + EncodeSegment(stream));
    if (!d.ok()) return Fail(d.status().message());
    simdjson::dom::parser describe_parser;
    simdjson::dom::element doc;
    if (describe_parser.parse(*d).get(doc) != simdjson::SUCCESS) return Fail("unreadable describe answer");
    std::vector<Field> fields;
    for (simdjson::dom::element f : doc["fields"].get_array()) {
      auto type = ParseFieldType(Str(f["type"]));
      const bool nullable = Bool(f["nullable"]);
      if (!type) return Fail("stream " + stream + ": unknown field type '" + Str(f["type"]) + "'");
      fields.push_back({Str(f["name"]), *type, nullable});
    }
    StreamDef def;
    def.name = stream;
    def.schema = Schema(std::move(fields));
    RowBatch rows(def.schema.size());
    if (Status st = LoadTableFile(file, def, &rows, table); !st.ok()) return Fail(st.message());
    std::string line;
    for (size_t i = 0; i < rows.size(); ++i) {
      line.clear();
      AppendRowJson(def.schema, rows.row(i), &line);
      if (int rc = add(line, i + 1); rc >= 0) return rc;
    }
  } else {
    // NDJSON is streamed: one batch in memory at a time.
    std::ifstream in_file;
    std::istream* in = &std::cin;
    if (file != "-") {
      in_file.open(file);
      if (!in_file) return Fail(file + ": cannot open");
      in = &in_file;
    }
    uint64_t n = 0;
    for (std::string l; std::getline(*in, l);) {
      ++n;
      if (!l.empty() && l.back() == '\r') l.pop_back();
      if (l.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are not events
      if (int rc = add(l, n); rc >= 0) return rc;
    }
    // A read error (a directory opens and then fails with EISDIR) ends getline like the end of
    // the file: without this, it would be "accepted 0" and exit 0.
    if (in->bad()) return Fail((file == "-" ? std::string("standard input") : file) + ": cannot read");
  }
  if (int rc = send(); rc >= 0) return rc;
  std::printf("%s: accepted %llu, rejected %llu%s\n", stream.c_str(), static_cast<unsigned long long>(accepted),
              static_cast<unsigned long long>(rejected),
              truncated ? " (not every rejected line is listed; all are in _dead_letter)" : "");
  return rejected == 0 ? 0 : 1;
}

// ---- describe ----

std::string Bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string Join(simdjson::dom::element arr) {
  std::string out;
  simdjson::dom::array a;
  if (arr.get_array().get(a) != simdjson::SUCCESS) return "-";
  for (simdjson::dom::element e : a) out.append(out.empty() ? "" : ", ").append(Str(e));
  return out.empty() ? "-" : out;
}

int DescribeCommand(const std::vector<std::string>& args) {
  const char* usage = "impulse describe STREAM [--json] [--url URL] [--token T]";
  po::options_description opts("describe options");
  std::string stream;
  Remote remote;
  opts.add_options()("stream", po::value(&stream), "the stream")("json", "print the API's JSON answer");
  remote.Add(&opts);
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm, "stream", Positional::kRequired); rc >= 0) return rc;
  auto client = remote.Connect();
  if (!client.ok()) return Fail(client.status().message()) + 1;
  auto body = GetOk(**client, "/v1/streams/" + EncodeSegment(stream));
  if (!body.ok()) return Fail(body.status().message());
  if (vm.count("json") > 0) {
    std::printf("%s\n", body->c_str());
    return 0;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(*body).get(doc) != simdjson::SUCCESS) return Fail("unreadable answer");
  const std::string key = Str(doc["key"]), time = Str(doc["event_time"]);
  const bool ingest = Bool(doc["ingest"]);
  std::printf("stream %s (%s)\n", Str(doc["name"]).c_str(),
              ingest ? "ingest: POST /v1/streams/.../events" : "written by the engine: read only");
  std::printf("fields:\n");
  for (simdjson::dom::element f : doc["fields"].get_array()) {
    const std::string name = Str(f["name"]);
    const bool nullable = Bool(f["nullable"]);
    std::printf("  %-24s %-10s%s%s%s\n", name.c_str(), Str(f["type"]).c_str(), nullable ? " nullable" : "",
                name == key ? " (key)" : "", name == time ? " (event time)" : "");
  }
  simdjson::dom::array parts = doc["partitions"].get_array().value();
  std::printf("partitions: %zu, records %lld\n", parts.size(), static_cast<long long>(Int(doc["records"])));
  for (simdjson::dom::element p : parts) {
    std::printf("  %lld: offsets %lld..%lld\n", static_cast<long long>(Int(p["partition"])),
                static_cast<long long>(Int(p["start_offset"])), static_cast<long long>(Int(p["end_offset"])));
  }
  const int64_t rb = Int(doc["retention"]["bytes_per_partition"], -1), rm = Int(doc["retention"]["ms"], -1);
  std::printf("retention: %s, %s\n",
              rb < 0 ? "no size limit" : (Bytes(static_cast<double>(rb)) + " per partition").c_str(),
              rm < 0 ? "no age limit" : (std::to_string(rm) + " ms").c_str());
  std::printf("written by: %s\nread by: %s\n", Join(doc["written_by"]).c_str(), Join(doc["read_by"]).c_str());
  std::printf("rejected lines since start: %lld (dead letters in _dead_letter)\n",
              static_cast<long long>(Int(doc["events_rejected"])));
  return 0;
}

// ---- status and top ----

struct Snapshot {
  std::string pipelines_json;
  std::string metrics;
  std::string streams_json;
  std::chrono::steady_clock::time_point at;
};

Result<Snapshot> TakeSnapshot(EngineClient& c) {
  Snapshot s;
  ASSIGN_OR_RETURN(s.pipelines_json, GetOk(c, "/v1/pipelines"));
  ASSIGN_OR_RETURN(s.metrics, GetOk(c, "/metrics"));
  ASSIGN_OR_RETURN(s.streams_json, GetOk(c, "/v1/streams"));
  s.at = std::chrono::steady_clock::now();
  return s;
}

std::string Delay(simdjson::dom::element e) {
  int64_t ms = 0;
  if (e.get_int64().get(ms) != simdjson::SUCCESS) return "-";
  char buf[32];
  if (std::llabs(ms) < 10'000) {
    std::snprintf(buf, sizeof buf, "%lld ms", static_cast<long long>(ms));
  } else if (std::llabs(ms) < 3'600'000) {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f h", static_cast<double>(ms) / 3'600'000);
  }
  return buf;
}

// A duration in seconds, at a precision that suits its size.
std::string Seconds(std::optional<double> s) {
  if (!s.has_value()) return "-";
  char buf[32];
  if (*s < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.0f us", *s * 1e6);
  } else if (*s < 1) {
    std::snprintf(buf, sizeof buf, "%.1f ms", *s * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", *s);
  }
  return buf;
}

// Per-stage latency percentiles (impulse_stage_latency_seconds, since the engine started) and the
// engine process's CPU (with `prev`, a share of one core since it) and resident memory.
std::string RenderEngine(const Snapshot& now, const Snapshot* prev) {
  constexpr std::string_view kStages = "impulse_stage_latency_seconds";
  const std::string& m = now.metrics;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "\n%-24s %12s %10s %10s   (latency since start)\n", "STAGE", "COUNT", "P50", "P99");
  out.append(line);
  for (const std::string& stage : HistogramLabelValues(m, kStages, "stage")) {
    const std::vector<HistogramBucket> b = HistogramBuckets(m, kStages, "stage", stage);
    std::snprintf(line, sizeof line, "%-24s %12.0f %10s %10s\n", stage.c_str(), b.empty() ? 0 : b.back().count,
                  Seconds(HistogramQuantile(b, 0.5)).c_str(), Seconds(HistogramQuantile(b, 0.99)).c_str());
    out.append(line);
  }
  const double cpu_s = MetricSum(m, "process_cpu_seconds_total");
  const double dt = prev != nullptr ? std::chrono::duration<double>(now.at - prev->at).count() : 0;
  std::string cpu;
  if (dt > 0) {
    std::snprintf(line, sizeof line, "%.1f%% of a core",
                  100 * (cpu_s - MetricSum(prev->metrics, "process_cpu_seconds_total")) / dt);
  } else {
    std::snprintf(line, sizeof line, "%.1f s since start", cpu_s);
  }
  cpu = line;
  std::snprintf(line, sizeof line, "\nengine: cpu %s, resident memory %s\n", cpu.c_str(),
                Bytes(MetricSum(m, "process_resident_memory_bytes")).c_str());
  out.append(line);
  return out;
}

// The status text; with `prev`, rates per second since it.
std::string RenderStatus(const Snapshot& now, const Snapshot* prev) {
  simdjson::dom::parser parser, prev_parser, sparser, prev_sparser;
  std::string out;
  char line[512];
  const double dt = prev != nullptr ? std::chrono::duration<double>(now.at - prev->at).count() : 0;
  std::map<std::string, std::pair<int64_t, int64_t>> before;  // pipeline -> (in, out)
  if (prev != nullptr) {
    simdjson::dom::element pd;
    if (prev_parser.parse(prev->pipelines_json).get(pd) == simdjson::SUCCESS) {
      for (simdjson::dom::element p : pd["pipelines"].get_array()) {
        before[Str(p["name"])] = {Int(p["events_in"]), Int(p["events_out"])};
      }
    }
  }
  // Streams: records and, with a previous snapshot, their rate.
  std::map<std::string, int64_t> prev_records;
  if (prev != nullptr) {
    simdjson::dom::element sd;
    if (prev_sparser.parse(prev->streams_json).get(sd) == simdjson::SUCCESS) {
      for (simdjson::dom::element s : sd["streams"].get_array()) {
        int64_t n = 0;
        for (simdjson::dom::element p : s["partitions"].get_array()) n += Int(p["end_offset"]);
        prev_records[Str(s["name"])] = n;
      }
    }
  }
  std::snprintf(line, sizeof line, "%-24s %10s %12s %12s\n", "STREAM", "PARTITIONS", "END OFFSETS",
                prev != nullptr ? "RECORDS/S" : "");
  out.append(line);
  simdjson::dom::element sd;
  if (sparser.parse(now.streams_json).get(sd) == simdjson::SUCCESS) {
    for (simdjson::dom::element s : sd["streams"].get_array()) {
      const std::string name = Str(s["name"]);
      int64_t n = 0;
      size_t parts = 0;
      for (simdjson::dom::element p : s["partitions"].get_array()) {
        n += Int(p["end_offset"]);
        ++parts;
      }
      std::string rate;
      if (prev != nullptr && dt > 0 && prev_records.count(name) != 0) {
        char b[32];
        std::snprintf(b, sizeof b, "%.0f", static_cast<double>(n - prev_records[name]) / dt);
        rate = b;
      }
      std::snprintf(line, sizeof line, "%-24s %10zu %12lld %12s\n", name.c_str(), parts, static_cast<long long>(n),
                    rate.c_str());
      out.append(line);
    }
  }
  out.append("\n");
  std::snprintf(line, sizeof line, "%-24s %10s %14s %12s %12s %10s  %s\n", "PIPELINE", "LAG", "WATERMARK DELAY",
                prev != nullptr ? "IN/S" : "IN", prev != nullptr ? "OUT/S" : "OUT", "STATE", "SOURCES -> SINK");
  out.append(line);
  simdjson::dom::element doc;
  if (parser.parse(now.pipelines_json).get(doc) == simdjson::SUCCESS) {
    for (simdjson::dom::element p : doc["pipelines"].get_array()) {
      const std::string name = Str(p["name"]);
      const int64_t in = Int(p["events_in"]), outn = Int(p["events_out"]);
      char in_s[32], out_s[32];
      if (prev != nullptr && dt > 0 && before.count(name) != 0) {
        std::snprintf(in_s, sizeof in_s, "%.0f", static_cast<double>(in - before[name].first) / dt);
        std::snprintf(out_s, sizeof out_s, "%.0f", static_cast<double>(outn - before[name].second) / dt);
      } else {
        std::snprintf(in_s, sizeof in_s, "%lld", static_cast<long long>(in));
        std::snprintf(out_s, sizeof out_s, "%lld", static_cast<long long>(outn));
      }
      std::string sink = Str(p["sink"]["name"]);
      if (sink.empty()) sink = Str(p["sink"]["kind"]);
      std::snprintf(line, sizeof line, "%-24s %10lld %14s %12s %12s %10s  %s -> %s%s\n", name.c_str(),
                    static_cast<long long>(Int(p["lag"])), Delay(p["watermark_delay_ms"]).c_str(), in_s, out_s,
                    Bytes(static_cast<double>(Int(p["state_bytes"]))).c_str(), Join(p["sources"]).c_str(), sink.c_str(),
                    Int(p["tasks_failed"]) > 0 ? "  FAILED TASKS" : "");
      out.append(line);
    }
  }
  const std::string& m = now.metrics;
  std::snprintf(line, sizeof line,
                "\nactions: pending %.0f, in flight %.0f, delivered %.0f, retries %.0f, dead-lettered %.0f\n",
                MetricSum(m, "impulse_action_pending"), MetricSum(m, "impulse_action_inflight"),
                MetricSum(m, "impulse_action_delivered_total"), MetricSum(m, "impulse_action_retries_total"),
                MetricSum(m, "impulse_action_dead_lettered_total"));
  out.append(line);
  const double last = MetricSum(m, "impulse_checkpoint_last_id");
  std::string ckpt = "checkpoints: ";
  if (m.find("impulse_checkpoints_total{result=\"completed\"}") == std::string::npos) {
    ckpt += "-";
  } else {
    std::snprintf(line, sizeof line, "last id %s, completed %.0f, failed %.0f",
                  last < 0 ? "none" : std::to_string(static_cast<int64_t>(last)).c_str(),
                  MetricSum(m, "impulse_checkpoints_total{result=\"completed\"}"),
                  MetricSum(m, "impulse_checkpoints_total{result=\"failed\"}"));
    ckpt += line;
  }
  out.append(ckpt).append("\n");
  std::snprintf(line, sizeof line, "rejected lines: %.0f, late events: %.0f, backpressure refusals: %.0f\n",
                MetricSum(m, "impulse_events_rejected_total"), MetricSum(m, "impulse_late_events_total"),
                MetricSum(m, "impulse_backpressure_rejections_total"));
  out.append(line);
  out.append(RenderEngine(now, prev));
  return out;
}

int StatusCommand(const std::vector<std::string>& args) {
  const char* usage = "impulse status [--json] [--url URL] [--token T]";
  po::options_description opts("status options");
  Remote remote;
  opts.add_options()("json", "print GET /v1/pipelines as JSON");
  remote.Add(&opts);
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm); rc >= 0) return rc;
  auto client = remote.Connect();
  if (!client.ok()) return Fail(client.status().message()) + 1;
  auto snap = TakeSnapshot(**client);
  if (!snap.ok()) return Fail(snap.status().message());
  if (vm.count("json") > 0) {
    std::printf("%s\n", snap->pipelines_json.c_str());
    return 0;
  }
  std::fputs(RenderStatus(*snap, nullptr).c_str(), stdout);
  return 0;
}

std::atomic<bool> g_top_stop{false};
extern "C" void TopSignal(int) { g_top_stop.store(true); }

int TopCommand(const std::vector<std::string>& args) {
  const char* usage = "impulse top [--interval-ms N] [--url URL] [--token T]   (q or Ctrl-C to quit)";
  po::options_description opts("top options");
  uint32_t interval_ms = 1000;
  Remote remote;
  opts.add_options()("interval-ms", po::value(&interval_ms)->default_value(interval_ms), "refresh period, >= 100");
  remote.Add(&opts);
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, usage, opts, &vm); rc >= 0) return rc;
  if (interval_ms < 100) {
    std::fprintf(stderr, "impulse: --interval-ms must be at least 100\n");
    return 2;
  }
  auto client = remote.Connect();
  if (!client.ok()) return Fail(client.status().message()) + 1;
  auto first = TakeSnapshot(**client);
  if (!first.ok()) return Fail(first.status().message());
  if (isatty(STDOUT_FILENO) == 0) {
    // Not a terminal (a pipe, a log): one snapshot, no screen control.
    std::fputs(RenderStatus(*first, nullptr).c_str(), stdout);
    return 0;
  }
  struct sigaction sa = {};
  sa.sa_handler = TopSignal;  // no SA_RESTART: poll() returns at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const bool keys = isatty(STDIN_FILENO) != 0;
  termios saved = {};
  if (keys) {
    tcgetattr(STDIN_FILENO, &saved);
    termios raw = saved;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  }
  std::fputs("\x1b[?25l", stdout);  // hide the cursor
  Snapshot prev = std::move(*first);
  std::string error;
  std::string screen = RenderStatus(prev, nullptr);
  while (!g_top_stop.load()) {
    std::printf("\x1b[H\x1b[2Jimpulse top  %s  (every %u ms; q to quit)\n\n%s%s\n", (*client)->url().c_str(),
                interval_ms, screen.c_str(), error.c_str());
    std::fflush(stdout);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms);
    while (!g_top_stop.load() && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{keys ? STDIN_FILENO : -1, POLLIN, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (poll(&pfd, 1, static_cast<int>(std::max<int64_t>(0, left))) > 0 && (pfd.revents & POLLIN) != 0) {
        char ch = 0;
        if (read(STDIN_FILENO, &ch, 1) == 1 && (ch == 'q' || ch == 'Q')) g_top_stop.store(true);
      }
    }
    if (g_top_stop.load()) break;
    auto next = TakeSnapshot(**client);
    if (!next.ok()) {
      error = "\n" + next.status().message() + " (retrying)";
      continue;
    }
    error.clear();
    screen = RenderStatus(*next, &prev);
    prev = std::move(*next);
  }
  std::fputs("\x1b[?25h\n", stdout);  // show the cursor again
  if (keys) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  return 0;
}

}  // namespace

int RemoteCommand(std::string_view name, const std::vector<std::string>& args) {
  if (name == "tail") return TailCommand(args);
  if (name == "ingest") return IngestCommand(args);
  if (name == "describe") return DescribeCommand(args);
  if (name == "status") return StatusCommand(args);
  if (name == "top") return TopCommand(args);
  return -1;
}

}  // namespace impulse::tools
