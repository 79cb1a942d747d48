#include "tools/impulse/commands.h"
#include "common/command_line.h"
#include "common/progress.h"

#include <netdb.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "common/build_info.h"
#include "common/dir_lock.h"
#include "common/logger.h"
#include "connect/group.h"
#include "connect/kafka.h"
#include "connect/nats.h"
#include "impulse/engine.h"
#include "log/partition_log.h"
#include "model/repository.h"
#include "server/http_server.h"
#include "spec/spec.h"

namespace impulse::tools {

namespace po = boost::program_options;

namespace {

constexpr unsigned kDefaultHttpThreadsMax = 4;

// HOST:PORT as a URL or a message writes it: an IPv6 address in brackets.
std::string HostPort(const std::string& host, uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// HOST:PORT ([V6]:PORT for an IPv6 address; HOST may be a name, resolved when the server binds).
// Returns "" or why `s` is not one.
std::string ParseHostPort(const std::string& s, std::string* host, uint16_t* port) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos) return "wants HOST:PORT, got '" + s + "'";
  *host = s.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  if (host->empty()) return "wants HOST:PORT, got '" + s + "' (no host; 0.0.0.0 listens on every address)";
  const std::string digits = s.substr(colon + 1);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) {
    return "port '" + digits + "' is not a number";
  }
  const long p = std::strtol(digits.c_str(), nullptr, 10);
  if (p > 65535) return "port " + digits + " is out of range (0 to 65535; 0 picks a free port)";
  *port = static_cast<uint16_t>(p);
  return "";
}

bool ParseDurability(const std::string& s, Durability* d) {
  if (s == "sync")
    *d = Durability::kSync;
  else if (s == "group")
    *d = Durability::kGroupCommit;
  else if (s == "none")
    *d = Durability::kNone;
  else
    return false;
  return true;
}

// File descriptors kept for the engine (logs, checkpoints, state, the listening socket) on top
// of one per connection.
constexpr uint64_t kEngineDescriptors = 256;

// Every connection holds a file descriptor: raises the soft RLIMIT_NOFILE (up to the hard one)
// so that the connection limits can be reached. False, with a message, when the hard limit is
// too low: past it, accept() fails and clients wait in the kernel's backlog.
// Whether HOST:PORT can be bound now, checked before the engine opens: a start that fails on a
// taken port then leaves no files behind and has not started its sources (Kafka, NATS), whose
// consumption an abandoned start could not give back. The server binds again (a narrow race).
std::string ListenProblem(const std::string& host, uint16_t port) {
  if (port == 0) return "";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  // The address the server binds (server/http_server.cc): a name's first IPv4 address, else its
  // first one. Checking getaddrinfo's first answer instead could check ::1 where the server
  // binds 127.0.0.1 (a localhost that /etc/hosts also names ::1): a taken port missed, or a free
  // one refused.
  hints.ai_family = AF_INET;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    hints.ai_family = AF_UNSPEC;
    rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  }
  if (rc != 0) return "cannot resolve " + host + ": " + gai_strerror(rc);
  std::string problem;
  const int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  const int one = 1;
  if (fd < 0) {
    problem = std::string("socket: ") + std::strerror(errno);
  } else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
             bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
    problem = "cannot listen on " + HostPort(host, port) + ": " + std::strerror(errno) +
              " (another process has it? --listen HOST:PORT)";
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return problem;
}

bool EnsureDescriptors(const server::HttpServerOptions& so) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return true;
  const uint64_t need = uint64_t{so.max_connections} + so.reserve_connections + kEngineDescriptors;
  if (lim.rlim_cur >= need) return true;
  if (lim.rlim_max == RLIM_INFINITY || lim.rlim_max >= need) {
    lim.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &lim) == 0) return true;
  }
  std::fprintf(stderr,
               "impulse: --max-connections %u and --reserve-connections %u need %llu file descriptors with the "
               "engine's %llu, but the limit is %llu (ulimit -Hn %llu): lower them or raise the limit\n",
               so.max_connections, so.reserve_connections, static_cast<unsigned long long>(need),
               static_cast<unsigned long long>(kEngineDescriptors), static_cast<unsigned long long>(lim.rlim_cur),
               static_cast<unsigned long long>(lim.rlim_max));
  return false;
}

}  // namespace

int ValidateCommand(const std::vector<std::string>& args) {
  po::options_description opts("validate options");
  std::string spec;
  opts.add_options()("spec", po::value(&spec), "pipeline spec (YAML)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse validate SPEC.yaml", opts, &vm, "spec", Positional::kRequired);
      rc >= 0) {
    return rc;
  }
  std::vector<plan::SpecError> errors;
  auto plan = plan::CompileSpecFile(spec, &errors);
  if (!plan.ok()) {
    if (errors.empty()) std::fprintf(stderr, "%s\n", plan.status().message().c_str());
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    std::fprintf(stderr, "%zu error(s)\n", errors.empty() ? size_t{1} : errors.size());
    return 1;
  }
  if (plan->kafka.enabled) {
    // The client library's own check of the properties, without connecting.
    std::string unset;
    Status ks = connect::CheckKafkaConfig(plan->kafka, /*require_env=*/false, &unset);
    if (!ks.ok()) {
      std::fprintf(stderr, "%s: %s\n1 error(s)\n", spec.c_str(), ks.message().c_str());
      return 1;
    }
    if (!unset.empty()) {
      std::fprintf(stderr, "%s: note: environment variables not set here (needed by impulse run): %s\n", spec.c_str(),
                   unset.c_str());
    }
    if (!plan->kafka.state_topic.empty()) {
      // What the operator creates before the group's first start (docs/SCALE_OUT.md).
      plan::LogicalPlan member = *plan;
      std::string exact;
      for (const std::string& t : plan::PlanRepartitions(&member)) exact += (exact.empty() ? "" : ", ") + t;
      std::string at_least = plan->kafka.state_topic + " (compacted)";
      for (const plan::KafkaSinkDef& s : plan->kafka.sinks) at_least += ", " + s.topic;
      std::fprintf(stderr,
                   "%s: note: a group of instances on topic %s: create %s with at least as many partitions as "
                   "it%s (docs/SCALE_OUT.md)\n",
                   spec.c_str(), plan->kafka.sources.front().topic.c_str(), at_least.c_str(),
                   exact.empty() ? "" : (", and " + exact + " with exactly as many").c_str());
    }
  }
  if (plan->nats.enabled) {
    // nats.c's own check of the options (certificate and credentials files), without connecting.
    std::string unset;
    Status ns = connect::CheckNatsConfig(plan->nats, /*require_env=*/false, &unset);
    if (!ns.ok()) {
      std::fprintf(stderr, "%s: %s\n1 error(s)\n", spec.c_str(), ns.message().c_str());
      return 1;
    }
    if (!unset.empty()) {
      std::fprintf(stderr, "%s: note: environment variables not set here (needed by impulse run): %s\n", spec.c_str(),
                   unset.c_str());
    }
  }
  std::printf("%s: ok (%zu streams, %zu pipelines)\n", spec.c_str(), plan->streams.size(), plan->pipelines.size());
  return 0;
}

// A group instance's default URL: its listen address, or the host name when it listens on every
// address (which other hosts cannot dial).
static std::string AdvertisedUrl(const std::string& host, uint16_t port) {
  if (host == "0.0.0.0" || host == "::" || host.empty()) {
    char buf[256] = {};
    return "http://" + (gethostname(buf, sizeof(buf) - 1) == 0 ? std::string(buf) : std::string("localhost")) + ":" +
           std::to_string(port);
  }
  return "http://" + HostPort(host, port);
}

int RunCommand(const std::vector<std::string>& args) {
  po::options_description opts("run options");
  std::string spec, listen = "127.0.0.1:8470", durability = "sync", token, state = "memory", models, advertise;
  std::string log_level = "info", log_format = "text";
  bool quiet = false;
  EngineOptions eo;
  server::HttpServerOptions so;
  // Several I/O threads on a multi-core machine, half the cores: the shards (one per core by
  // default) need the other half. On 2 cores one thread served one-event requests faster than
  // two (docs/BENCHMARKS.md, "Real-time decisions"). More than 4 buy nothing on the ingest path
  // and each is a producer ring to every shard.
  so.io_threads = std::clamp(std::thread::hardware_concurrency() / 2, 1U, kDefaultHttpThreadsMax);
  opts.add_options()("spec", po::value(&spec), "pipeline spec (YAML)")(
      "data-dir", po::value(&eo.data_dir)->default_value(eo.data_dir), "where the logs and pipeline cursors live")(
      "listen", po::value(&listen)->default_value(listen), "HTTP listen address HOST:PORT")(
      "shards", po::value(&eo.shards)->default_value(0), "shard threads (0 = number of cores)")(
      "http-threads", po::value(&so.io_threads)->default_value(so.io_threads),
      "HTTP I/O threads, each one engine producer (default: half the cores, 1 to 4)")(
      "max-pipelined-requests", po::value(&so.max_pipelined_requests)->default_value(so.max_pipelined_requests),
      "requests read and not yet answered per connection (HTTP/1.1 pipelining)")(
      "durability", po::value(&durability)->default_value(durability),
      "sync (fsync before ack, group commit per shard cycle) | group (fsync every --group-commit-ms) | none")(
      "group-commit-ms", po::value(&eo.group_commit_ms)->default_value(eo.group_commit_ms), "for --durability group")(
      "max-body-bytes", po::value(&so.max_body_bytes)->default_value(so.max_body_bytes),
      "request body limit (413 beyond)")("max-connections",
                                         po::value(&so.max_connections)->default_value(so.max_connections),
                                         "open connections; at the limit a new one closes the oldest idle connection")(
      "reserve-connections", po::value(&so.reserve_connections)->default_value(so.reserve_connections),
      "beyond --max-connections with none idle: one request each, /healthz and /metrics answered, others 503")(
      "idle-timeout-ms", po::value(&so.idle_timeout_ms)->default_value(so.idle_timeout_ms),
      "close a connection waiting this long for a request, or whose body is not complete this long after "
      "its header")("header-timeout-ms", po::value(&so.header_timeout_ms)->default_value(so.header_timeout_ms),
                    "close a connection whose request header is not complete this long after its first byte")(
      "max-inflight-events-per-shard",
      po::value(&eo.max_inflight_events_per_shard)->default_value(eo.max_inflight_events_per_shard),
      "events accepted and not yet durable per shard: 503 beyond; a request over it alone: 413")(
      "token", po::value(&token), "bearer token required on every endpoint but /healthz (or IMPULSE_TOKEN)")(
      "checkpoint-interval-ms", po::value(&eo.checkpoint_interval_ms)->default_value(eo.checkpoint_interval_ms),
      "checkpoint period; 0 = none (pipeline outputs at-least-once)")(
      "from-checkpoint", po::value(&eo.restore_checkpoint_id)->default_value(-1),
      "start from this checkpoint id (see `impulse checkpoints list`) instead of the newest")(
      "state", po::value(&state)->default_value(state), "operator state backend: memory | rocksdb")(
      "state-cache-entries", po::value(&eo.state_cache_entries)->default_value(eo.state_cache_entries),
      "rocksdb: decoded entries cached per operator")(
      "models", po::value(&models), "model repository (docs/MODELS.md) for predict steps and the model routes")(
      "accept-spec-change", po::bool_switch(&eo.accept_spec_change),
      "run on a data dir created with another spec: record this spec and keep the logs, cursors and checkpoints "
      "(docs/OPERATIONS.md)")(
      "advertise", po::value(&advertise),
      "a group instance's URL for the others' forwarded lookups (default: http://<listen address>:<port>, or "
      "http://<hostname>:<port> when listening on 0.0.0.0 or ::)")(
      "log-level", po::value(&log_level)->default_value(log_level), "debug | info | warn | error")(
      "log-format", po::value(&log_format)->default_value(log_format),
      "text | json (one JSON object per line: ts, level, event, message, fields)")(
      "quiet", po::bool_switch(&quiet), "no progress bar on stderr (shown on a terminal while a long restore runs)");
  // Kept to compare checkpoint schemes (scripts/checkpoint_pause.sh), not for operators.
  po::options_description internal;
  internal.add_options()("checkpoint-state-in-pause", po::bool_switch(&eo.checkpoint_state_in_pause),
                         "write operator state while the pipelines wait (the previous scheme)");
  HiddenOptions hidden;
  hidden.options = &internal;
  po::variables_map vm;
  if (int rc =
          ParseCommandLine(args, "impulse run SPEC.yaml [options]", opts, &vm, "spec", Positional::kRequired, hidden);
      rc >= 0) {
    return rc;
  }
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  if (!ParseLogLevel(log_level, &level)) {
    std::fprintf(stderr, "impulse: --log-level wants debug, info, warn or error, got '%s'\n", log_level.c_str());
    return 2;
  }
  if (!ParseLogFormat(log_format, &format)) {
    std::fprintf(stderr, "impulse: --log-format wants text or json, got '%s'\n", log_format.c_str());
    return 2;
  }
  ConfigureLog(level, format);
  if (!models.empty()) {
    auto repo = model::ModelRepository::Open(models);
    if (!repo.ok()) {
      std::fprintf(stderr, "impulse: --models: %s\n", repo.status().ToString().c_str());
      return 1;
    }
    so.models = repo->get();
    eo.models = std::move(*repo);
  }
  if (!advertise.empty() && (advertise.rfind("http://", 0) != 0 || advertise.size() <= 7 || advertise.back() == '/')) {
    // Other instances append the route's path to it; the forwarding client speaks http:// only.
    std::fprintf(stderr, "impulse: --advertise wants http://HOST:PORT (no path), got '%s'\n", advertise.c_str());
    return 2;
  }
  if (std::string why = ParseHostPort(listen, &so.host, &so.port); !why.empty()) {
    std::fprintf(stderr, "impulse: --listen %s\n", why.c_str());
    return 2;
  }
  if (state != "memory" && state != "rocksdb") {
    std::fprintf(stderr, "impulse: --state wants memory or rocksdb, got '%s'\n", state.c_str());
    return 2;
  }
  eo.state_rocksdb = state == "rocksdb";
  if (!ParseDurability(durability, &eo.durability)) {
    std::fprintf(stderr, "impulse: --durability wants sync, group or none, got '%s'\n", durability.c_str());
    return 2;
  }
  if (token.empty()) {
    if (const char* t = std::getenv("IMPULSE_TOKEN")) token = t;
  }
  so.bearer_token = token;
  eo.max_producers = so.io_threads;
  if (!EnsureDescriptors(so)) return 2;

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // A spec with a kafka state_topic runs as one instance of a group (docs/SCALE_OUT.md).
  if (auto gplan = plan::CompileSpecFile(spec, nullptr); gplan.ok() && !gplan->kafka.state_topic.empty()) {
    connect::GroupOptions go;
    go.spec_path = spec;
    go.engine = eo;
    go.bearer_token = token;
    auto group = connect::Group::Start(go);
    if (!group.ok()) {
      std::fprintf(stderr, "impulse: %s\n", group.status().ToString().c_str());
      return 1;
    }
    so.group_lookups = (*group)->lookups();
    auto gsrv = server::HttpServer::Start((*group)->engine(), so);
    if (!gsrv.ok()) {
      std::fprintf(stderr, "impulse: %s\n", gsrv.status().ToString().c_str());
      (void)(*group)->Stop();
      return 1;
    }
    // Where the other instances forward lookups of the partitions this one runs; known once the
    // port is bound (--listen may say port 0).
    if (advertise.empty()) advertise = AdvertisedUrl(so.host, (*gsrv)->port());
    (*group)->Advertise(advertise);
    LogInfo("start",
            "serving " + spec + " on http://" + HostPort(so.host, (*gsrv)->port()) + " as a member of kafka group " +
                gplan->kafka.group + " (state topic " + gplan->kafka.state_topic + "; partitions under " + eo.data_dir +
                "; advertised as " + advertise + ")",
            {{"spec", spec},
             {"host", so.host},
             {"port", (*gsrv)->port()},
             {"group", gplan->kafka.group},
             {"data_dir", eo.data_dir},
             {"version", VersionLine()}});
    int sig = 0;
    const timespec second{1, 0};
    while ((sig = sigtimedwait(&stop_signals, nullptr, &second)) < 0 && (*group)->failure().ok()) {
    }
    if (sig > 0) {
      LogInfo("stop", std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") + " received, leaving the group",
              {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    }
    (*gsrv)->Stop();
    Status st = (*group)->Stop();
    if (Status f = (*group)->failure(); !f.ok()) {
      LogError("stop", "left the group: " + f.ToString(), {{"error", f.ToString()}});
      return 1;
    }
    if (!st.ok()) {
      LogError("stop", "stop: " + st.ToString(), {{"error", st.ToString()}});
      return 1;
    }
    LogInfo("stop", "stopped cleanly");
    return 0;
  }
  // A progress bar over the checkpoint's tasks while Open restores them, once the restore has
  // taken a second (a shorter one would only flash); not with JSON logs, whose lines it would cut.
  const ProgressBar::Mode restore_mode =
      format == LogFormat::kJson ? ProgressBar::Mode::kOff : ProgressBar::ModeFor(STDERR_FILENO, quiet);
  std::unique_ptr<ProgressBar> restore_bar;
  const auto open_start = std::chrono::steady_clock::now();
  if (restore_mode != ProgressBar::Mode::kOff) {
    eo.on_restore_progress = [&](uint64_t done, uint64_t total) {
      if (restore_bar == nullptr) {
        if (std::chrono::steady_clock::now() - open_start < std::chrono::seconds(1)) return;
        restore_bar = std::make_unique<ProgressBar>(stderr, "restoring checkpoint", "tasks", total, restore_mode);
      }
      restore_bar->Update(done);
    };
  }
  if (std::string why = ListenProblem(so.host, so.port); !why.empty()) {
    std::fprintf(stderr, "impulse: %s\n", why.c_str());
    return 1;
  }
  auto engine = Engine::Open(spec, eo);
  if (restore_bar != nullptr) restore_bar->Finish();
  if (!engine.ok()) {
    std::fprintf(stderr, "impulse: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  auto srv = server::HttpServer::Start(engine->get(), so);
  if (!srv.ok()) {
    std::fprintf(stderr, "impulse: %s\n", srv.status().ToString().c_str());
    // Not served, so not started: no final checkpoint, and a fresh directory keeps no spec.
    (void)(*engine)->Abandon();
    return 1;
  }
  LogInfo("start",
          "serving " + spec + " on http://" + HostPort(so.host, (*srv)->port()) + " (data dir " + eo.data_dir + ", " +
              std::to_string((*engine)->shard_count()) + " shards)",
          {{"spec", spec},
           {"host", so.host},
           {"port", (*srv)->port()},
           {"data_dir", eo.data_dir},
           {"shards", (*engine)->shard_count()},
           {"version", VersionLine()}});
  int sig = 0;
  sigwait(&stop_signals, &sig);
  LogInfo("stop", std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") + " received, draining",
          {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  (*srv)->Stop();
  Status st = (*engine)->Stop();
  if (!st.ok()) {
    LogError("stop", "stop: " + st.ToString(), {{"error", st.ToString()}});
    return 1;
  }
  LogInfo("stop", "stopped cleanly");
  return 0;
}

int RepairCommand(const std::vector<std::string>& args) {
  po::options_description opts("repair options");
  std::string dir;
  bool quiet = false;
  opts.add_options()("dir", po::value(&dir), "a partition directory (DATA/streams/STREAM/PARTITION)")(
      "quiet", po::bool_switch(&quiet), "no progress bar on stderr (shown when it is a terminal)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse repair DIR", opts, &vm, "dir", Positional::kRequired); rc >= 0) {
    return rc;
  }
  // The partition's data directory (DIR/../../..) is locked as `impulse reset` does: a running
  // engine holds that lock and appends to the partition, which repair truncates.
  std::error_code ec;
  const std::filesystem::path part = std::filesystem::weakly_canonical(dir, ec);
  if (!ec && !std::filesystem::exists(part, ec)) {
    // A mistyped partition or stream: say which does not exist rather than that no lock is taken.
    const std::filesystem::path stream_dir = part.parent_path();
    std::string what = "no such directory";
    if (stream_dir.parent_path().filename() == "streams" && std::filesystem::is_directory(stream_dir.parent_path())) {
      what = std::filesystem::is_directory(stream_dir)
                 ? "stream " + stream_dir.filename().string() + " has no partition " + part.filename().string()
                 : "the data directory " + stream_dir.parent_path().parent_path().string() + " has no stream " +
                       stream_dir.filename().string();
    }
    std::fprintf(stderr, "impulse: repair %s: %s; nothing done\n", dir.c_str(), what.c_str());
    return 1;
  }
  if (ec || part.parent_path().parent_path().filename() != "streams" || !std::filesystem::is_directory(part)) {
    std::fprintf(stderr,
                 "impulse: repair %s: not a partition directory of a data directory (DATA/streams/STREAM/PARTITION): "
                 "its lock cannot be taken; not done\n",
                 dir.c_str());
    return 1;
  }
  const std::string data_dir = part.parent_path().parent_path().parent_path().string();
  auto lock = DirLock::Acquire(data_dir);
  if (!lock.ok()) {
    std::fprintf(stderr, "impulse: repair %s: %s; stop the engine first (nothing changed)\n", dir.c_str(),
                 lock.status().message().c_str());
    return 1;
  }
  ProgressBar progress(stderr, "repair", "segments", 0, ProgressBar::ModeFor(STDERR_FILENO, quiet));
  log::RepairReport report;
  Status st = log::RepairPartition(Env::Default(), dir, &report, [&](size_t done, size_t total) {
    progress.set_total(total);
    progress.Update(done);
  });
  progress.Finish();
  if (!st.ok()) {
    std::fprintf(stderr, "impulse: repair %s: %s\n", dir.c_str(), st.ToString().c_str());
    return 1;
  }
  if (report.first_problem.empty()) {
    std::printf("%s: no damage found, nothing changed\n", dir.c_str());
  } else {
    std::printf("%s: repaired: %s; %llu bytes truncated, %u later segments deleted\n", dir.c_str(),
                report.first_problem.c_str(), static_cast<unsigned long long>(report.bytes_truncated),
                report.segments_deleted);
  }
  return 0;
}

}  // namespace impulse::tools
