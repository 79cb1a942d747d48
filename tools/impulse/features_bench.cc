// `impulse bench-features`: online feature serving latency end to end. Starts an engine in a
// temp dir with one feature view (`user`: count and average amount over 1 h per user_id),
// ingests events for --entities users, waits for the pipeline, starts the HTTP server on a free
// local port and drives it with an open-loop client: --rate lookups/s over --connections
// keep-alive connections, random entities, GET /v1/features/user/{id} (or POST :batch of
// --batch entities). Latency runs from each request's intended send time, so a slow answer
// delays the next request of its connection but is not hidden (no coordinated omission).
// --fake serves the same view from a FakeEngine: the HTTP path alone, without the store.
//
// The client is a few raw Asio sockets on the calling thread (not Beast's parser): it shares
// the machine with the server, so it has to be cheaper than what it measures. Server CPU is
// the process CPU over the measured window minus the client thread's.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <utility>  // before Asio with g++ 12 / C++20

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "impulse/engine.h"
#include "loadgen/latency_histogram.h"
#include "server/fake_engine.h"
#include "server/http_server.h"

namespace impulse::tools {
namespace {

namespace asio = boost::asio;
namespace po = boost::program_options;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kIngestChunkEvents = 10'000;      // NDJSON lines per Ingest call
constexpr int64_t kPipelineWaitMs = 600'000;         // the pipeline must catch up within this
constexpr size_t kResponseBytesMax = 4 << 20;        // a larger reply is an error
constexpr uint32_t kConnectionsMax = 1024;

constexpr const char* kSpec = R"(# impulse bench-features: one feature view over one stream.
streams:
  - name: events
    fields:
      - {name: user_id, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: user_id
    event_time: ts
feature_views:
  - name: user
    source: events
    entity: user_id
    features:
      - {name: n_1h, agg: count(), window: 1h}
      - {name: avg_amount_1h, agg: avg(amount), window: 1h}
pipelines:
  - name: user_features
    from: events
    steps:
      - features: user
    sink: {stream: events_with_features}
)";

double Seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct ClientOptions {
  uint16_t port = 0;
  uint32_t connections = 8;
  double rate_lookups_per_s = 50'000;
  double duration_s = 10;
  double warmup_s = 1;        // requests intended before this are sent but not recorded
  uint32_t batch = 0;         // 0 = GET single lookups; else POST :batch of this many
  uint64_t entities = 100'000;  // entity ids are 1..entities
  uint64_t seed = 1;
  uint32_t timeout_ms = 5'000;  // after the schedule ends, wait this long for answers
};

struct ClientReport {
  uint64_t requests = 0;   // answered 200 in the measured window
  uint64_t lookups = 0;    // entities in those requests
  uint64_t errors = 0;     // other status, socket errors, unanswered at the end
  std::string first_error;
  double seconds = 0;      // measured window
  double cpu_process_s = 0;  // whole process (server, engine, client) over the window
  double cpu_client_s = 0;   // the client thread alone
  loadgen::LatencyHistogram latency;
};

// One keep-alive connection, one request in flight. Connection c of C sends requests
// c, c + C, c + 2C, ... of the global schedule (request j at start + j / request rate).
class LookupConnection {
 public:
  LookupConnection(asio::io_context& ioc, const ClientOptions& o, ClientReport* report, uint32_t index,
                   Clock::time_point start, Clock::time_point measure_from, Clock::time_point end)
      : o_(o), report_(report), socket_(ioc), timer_(ioc), index_(index), start_(start),
        measure_from_(measure_from), end_(end), rng_(o.seed * 0x9E3779B97F4A7C15ull + index + 1) {
    buf_.resize(64 << 10);
  }

  void Start() {
    boost::system::error_code ec;
    socket_.connect({asio::ip::make_address("127.0.0.1"), o_.port}, ec);
    if (ec) return Fail("connect: " + ec.message());
    socket_.set_option(tcp::no_delay(true), ec);
    Next();
  }

  void Close() {
    closed_ = true;
    boost::system::error_code ec;
    socket_.close(ec);
    timer_.cancel();
  }

  bool busy() const { return busy_; }

 private:
  uint64_t Rand() {  // xorshift64*
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 2685821657736338717ull;
  }

  void Next() {
    const double per_request = o_.batch == 0 ? 1.0 : o_.batch;
    const double request_rate = o_.rate_lookups_per_s / per_request;
    const double at_s = static_cast<double>(index_ + seq_ * o_.connections) / request_rate;
    intended_ = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at_s));
    ++seq_;
    if (intended_ >= end_) return;  // this connection's schedule is done
    BuildRequest();
    busy_ = true;
    if (intended_ > Clock::now()) {
      timer_.expires_at(intended_);
      timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) Send();
      });
    } else {
      Send();
    }
  }

  void BuildRequest() {
    req_.clear();
    if (o_.batch == 0) {
      req_.append("GET /v1/features/user/").append(std::to_string(Rand() % o_.entities + 1));
      req_.append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      return;
    }
    body_.assign("{\"entities\":[");
    for (uint32_t i = 0; i < o_.batch; ++i) {
      if (i > 0) body_.push_back(',');
      body_.append(std::to_string(Rand() % o_.entities + 1));
    }
    body_.append("]}");
    req_.append("POST /v1/features/user:batch HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    req_.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body_.size()));
    req_.append("\r\n\r\n").append(body_);
  }

  void Send() {
    asio::async_write(socket_, asio::buffer(req_), [this](boost::system::error_code ec, size_t) {
      if (ec) return Fail("write: " + ec.message());
      have_ = 0;
      Read();
    });
  }

  void Read() {
    if (have_ == buf_.size()) {
      if (buf_.size() >= kResponseBytesMax) return Fail("response larger than 4 MiB");
      buf_.resize(buf_.size() * 2);
    }
    socket_.async_read_some(asio::buffer(buf_.data() + have_, buf_.size() - have_),
                            [this](boost::system::error_code ec, size_t n) {
                              if (ec) return Fail("read: " + ec.message());
                              have_ += n;
                              OnBytes();
                            });
  }

  // A response is complete once its header and Content-Length bytes are in (our server
  // always sends Content-Length).
  void OnBytes() {
    const std::string_view got(buf_.data(), have_);
    const size_t header_end = got.find("\r\n\r\n");
    if (header_end == std::string_view::npos) return Read();
    const std::string_view header = got.substr(0, header_end);
    size_t cl = header.find("Content-Length: ");
    if (cl == std::string_view::npos) cl = header.find("content-length: ");
    if (cl == std::string_view::npos || header.size() < 12) return Fail("reply without Content-Length");
    const size_t length = std::strtoull(header.data() + cl + 16, nullptr, 10);
    if (have_ < header_end + 4 + length) return Read();
    const int status = std::atoi(header.data() + 9);  // "HTTP/1.1 200"
    busy_ = false;
    if (intended_ >= measure_from_) {
      if (status == 200) {
        ++report_->requests;
        report_->lookups += o_.batch == 0 ? 1 : o_.batch;
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - intended_).count();
        report_->latency.Record(static_cast<uint64_t>(std::max<int64_t>(0, ns)));
      } else {
        NoteError("HTTP " + std::to_string(status) + ": " +
                  std::string(got.substr(header_end + 4, std::min<size_t>(length, 200))));
      }
    }
    Next();
  }

  void NoteError(std::string what) {
    ++report_->errors;
    if (report_->first_error.empty()) report_->first_error = std::move(what);
  }

  void Fail(std::string what) {  // the connection is done: the rest of its schedule is lost
    busy_ = false;
    if (closed_) return;  // closed by the run's end: already counted there
    NoteError(std::move(what));
    Close();
  }

  const ClientOptions& o_;
  ClientReport* report_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  const uint32_t index_;
  const Clock::time_point start_, measure_from_, end_;
  uint64_t rng_;
  uint64_t seq_ = 0;
  bool busy_ = false;
  bool closed_ = false;
  Clock::time_point intended_;
  std::string req_, body_;
  std::vector<char> buf_;
  size_t have_ = 0;
};

ClientReport RunClient(const ClientOptions& o) {
  ClientReport report;
  asio::io_context ioc(1);
  const Clock::time_point start = Clock::now() + std::chrono::milliseconds(20);
  auto at = [&](double s) {
    return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const Clock::time_point measure_from = at(o.warmup_s);
  const Clock::time_point end = at(o.warmup_s + o.duration_s);
  std::vector<std::unique_ptr<LookupConnection>> conns;
  for (uint32_t i = 0; i < o.connections; ++i) {
    conns.push_back(std::make_unique<LookupConnection>(ioc, o, &report, i, start, measure_from, end));
    conns.back()->Start();
  }
  // CPU is sampled over the measured window only (warmup excluded).
  double cpu_process_0 = 0, cpu_client_0 = 0;
  asio::steady_timer sample(ioc, measure_from);
  sample.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    cpu_process_0 = Seconds(CLOCK_PROCESS_CPUTIME_ID);
    cpu_client_0 = Seconds(CLOCK_THREAD_CPUTIME_ID);
    sample.expires_at(end);
    sample.async_wait([&](boost::system::error_code ec2) {
      if (ec2) return;
      report.cpu_process_s = Seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_process_0;
      report.cpu_client_s = Seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_client_0;
    });
  });
  // After the schedule ends, every 10 ms: done once no request is in flight; answers still
  // missing timeout_ms after the end are errors.
  const Clock::time_point give_up = end + std::chrono::milliseconds(o.timeout_ms);
  asio::steady_timer poll(ioc);
  std::function<void()> check = [&] {
    poll.expires_at(std::max(end, Clock::now() + std::chrono::milliseconds(10)));
    poll.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      size_t busy = 0;
      for (auto& c : conns) busy += c->busy() ? 1 : 0;
      if (busy > 0 && Clock::now() < give_up) return check();
      if (busy > 0) {
        report.errors += busy;
        if (report.first_error.empty()) report.first_error = "no answer within the timeout";
      }
      sample.cancel();
      for (auto& c : conns) c->Close();
    });
  };
  check();
  ioc.run();
  report.seconds = o.duration_s;
  return report;
}

// Ingests `events_per_entity` events for each of users 1..entities into `events`, in event-time
// order (ts = base + sequence number in ms, so nothing is late), one call in flight.
Status IngestEvents(Engine* engine, uint64_t entities, uint32_t events_per_entity, int64_t base_ms) {
  const uint64_t total = entities * events_per_entity;
  std::string body;
  std::mutex mu;
  std::condition_variable cv;
  for (uint64_t seq = 0; seq < total;) {
    body.clear();
    const uint64_t n = std::min(kIngestChunkEvents, total - seq);
    for (uint64_t i = 0; i < n; ++i, ++seq) {
      const uint64_t user = seq % entities + 1;
      body.append("{\"user_id\":").append(std::to_string(user));
      body.append(",\"amount\":").append(std::to_string(static_cast<double>(seq % 997) / 10.0));
      body.append(",\"ts\":").append(std::to_string(base_ms + static_cast<int64_t>(seq))).append("}\n");
    }
    bool done = false;
    Status result;
    IngestResult counts;
    while (true) {
      const Status st = engine->Ingest("events", body, /*producer=*/0, [&](Status s, IngestResult r) {
        std::lock_guard<std::mutex> lock(mu);
        result = std::move(s);
        counts = std::move(r);
        done = true;
        cv.notify_all();
      });
      if (st.code() == StatusCode::kUnavailable) {  // backpressure: the shards are behind
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      RETURN_IF_ERROR(st);
      break;
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    RETURN_IF_ERROR(result);
    if (counts.rejected > 0) {
      return InvalidArgument(std::to_string(counts.rejected) + " events rejected: " +
                             (counts.errors.empty() ? std::string() : counts.errors[0].reason));
    }
  }
  return Status::OK();
}

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }
double Us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

}  // namespace

int FeaturesBenchCommand(const std::vector<std::string>& args) {
  ClientOptions co;
  uint32_t events_per_entity = 2, io_threads = 1, shards = 0;
  std::string data_dir;
  bool fake = false, json = false;
  po::options_description opts("bench-features options");
  opts.add_options()
      ("entities", po::value(&co.entities)->default_value(co.entities), "users with features (ids 1..N)")
      ("events-per-entity", po::value(&events_per_entity)->default_value(events_per_entity), "events ingested per user")
      ("rate", po::value(&co.rate_lookups_per_s)->default_value(co.rate_lookups_per_s), "lookups per second (open loop)")
      ("duration", po::value(&co.duration_s)->default_value(co.duration_s), "measured seconds")
      ("warmup", po::value(&co.warmup_s)->default_value(co.warmup_s), "seconds of load before measuring")
      ("connections", po::value(&co.connections)->default_value(co.connections), "keep-alive connections")
      ("batch", po::value(&co.batch)->default_value(co.batch), "0 = GET one entity per request; K = POST :batch of K")
      ("http-threads", po::value(&io_threads)->default_value(io_threads), "server I/O threads")
      ("shards", po::value(&shards)->default_value(shards), "engine shards (0 = number of cores)")
      ("seed", po::value(&co.seed)->default_value(co.seed), "entity choice")
      ("data-dir", po::value(&data_dir), "data directory, kept (default: a temp dir removed at exit)")
      ("fake", po::bool_switch(&fake), "serve the view from a FakeEngine (the HTTP path alone)")
      ("json", po::bool_switch(&json), "print one JSON object instead of text")
      ("help,h", "show this help");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "impulse: %s\n", e.what());
    std::cerr << opts;
    return 2;
  }
  if (vm.count("help")) {
    std::printf("Usage: impulse bench-features [options]\n");
    std::cout << opts;
    return 0;
  }
  if (co.entities == 0 || co.rate_lookups_per_s <= 0 || co.duration_s <= 0 || co.warmup_s < 0 ||
      co.connections == 0 || co.connections > kConnectionsMax || events_per_entity == 0 ||
      co.batch > Engine::kFeatureLookupBatchMax) {
    std::fprintf(stderr,
                 "impulse: bench-features wants --entities, --rate, --duration, --events-per-entity > 0, "
                 "--connections in [1, %u], --batch <= %zu\n",
                 kConnectionsMax, Engine::kFeatureLookupBatchMax);
    return 2;
  }

  std::unique_ptr<Engine> engine;
  const bool temp_dir = data_dir.empty() && !fake;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
  } cleanup;
  const auto setup_start = Clock::now();
  if (fake) {
    auto f = std::make_unique<server::FakeEngine>();
    for (uint64_t i = 1; i <= co.entities; ++i) {
      f->SetFeatures("user", std::to_string(i), "{\"n_1h\":2,\"avg_amount_1h\":12.5}", 1000);
    }
    engine = std::move(f);
  } else {
    if (temp_dir) {
      data_dir = (std::filesystem::temp_directory_path() / ("impulse-features-" + std::to_string(::getpid()))).string();
      cleanup.dir = data_dir;
    }
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    const std::string spec_path = data_dir + "/features-bench.yaml";
    std::ofstream(spec_path) << kSpec;
    EngineOptions eo;
    eo.data_dir = data_dir + "/data";
    eo.shards = shards;
    eo.max_producers = std::max<uint32_t>(io_threads, 1);
    eo.durability = Durability::kNone;   // setup speed; lookups never touch the log
    // Stateful steps need checkpoints; an idle engine takes none, so none land in the run.
    auto opened = Engine::Open(spec_path, eo);
    if (!opened.ok()) {
      std::fprintf(stderr, "impulse: bench-features: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    engine = std::move(opened).value();
    // Event times end now: the 1 h windows hold every event during the run.
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
    const int64_t base_ms = now_ms - static_cast<int64_t>(co.entities * events_per_entity);
    Status st = IngestEvents(engine.get(), co.entities, events_per_entity, base_ms);
    if (st.ok()) st = engine->WaitForPipelines(kPipelineWaitMs);
    if (!st.ok()) {
      std::fprintf(stderr, "impulse: bench-features: ingest: %s\n", st.ToString().c_str());
      (void)engine->Stop();
      return 1;
    }
  }
  const double setup_s = std::chrono::duration<double>(Clock::now() - setup_start).count();
  // Every entity must have values before the run, or the run would measure 404s.
  {
    std::string out;
    size_t found = 0;
    const std::string probe = std::to_string(co.entities);
    const Status st = engine->LookupFeatures("user", {probe}, &out, &found);
    if (!st.ok() || found != 1) {
      std::fprintf(stderr, "impulse: bench-features: entity %s has no features after ingest: %s %s\n",
                   probe.c_str(), st.ToString().c_str(), out.c_str());
      (void)engine->Stop();
      return 1;
    }
  }
  server::HttpServerOptions so;
  so.port = 0;
  so.io_threads = io_threads;
  so.max_connections = co.connections + 16;
  auto server = server::HttpServer::Start(engine.get(), so);
  if (!server.ok()) {
    std::fprintf(stderr, "impulse: bench-features: %s\n", server.status().ToString().c_str());
    (void)engine->Stop();
    return 1;
  }
  co.port = (*server)->port();
  const ClientReport r = RunClient(co);
  (*server)->Stop();
  (void)engine->Stop();

  const auto& h = r.latency;
  const double achieved = static_cast<double>(r.lookups) / r.seconds;
  const double server_cpu = std::max(0.0, r.cpu_process_s - r.cpu_client_s) / r.seconds;
  const double client_cpu = r.cpu_client_s / r.seconds;
  if (json) {
    std::printf(
        "{\"engine\":\"%s\",\"entities\":%llu,\"batch\":%u,\"connections\":%u,\"rate\":%.0f,"
        "\"achieved_lookups_per_s\":%.0f,\"requests\":%llu,\"errors\":%llu,\"p50_us\":%.1f,"
        "\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"server_cpu_cores\":%.3f,"
        "\"client_cpu_cores\":%.3f,\"setup_s\":%.2f}\n",
        fake ? "fake" : "real", static_cast<unsigned long long>(co.entities), co.batch, co.connections,
        co.rate_lookups_per_s, achieved, static_cast<unsigned long long>(r.requests),
        static_cast<unsigned long long>(r.errors), Us(h.Quantile(0.5)), Us(h.Quantile(0.9)),
        Us(h.Quantile(0.99)), Us(h.Quantile(0.999)), Us(h.max_ns()), server_cpu, client_cpu, setup_s);
  } else {
    std::printf("engine %s, %llu entities (setup %.2f s), %s, %u connections, target %.0f lookups/s\n",
                fake ? "fake" : "real", static_cast<unsigned long long>(co.entities), setup_s,
                co.batch == 0 ? "GET single" : ("POST :batch of " + std::to_string(co.batch)).c_str(),
                co.connections, co.rate_lookups_per_s);
    std::printf("achieved %.0f lookups/s (%llu requests in %.1f s), errors %llu\n", achieved,
                static_cast<unsigned long long>(r.requests), r.seconds,
                static_cast<unsigned long long>(r.errors));
    std::printf("latency from intended send: p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.3f ms\n",
                Us(h.Quantile(0.5)), Us(h.Quantile(0.9)), Us(h.Quantile(0.99)), Us(h.Quantile(0.999)),
                Ms(h.max_ns()));
    std::printf("CPU: server process %.2f cores, client thread %.2f cores\n", server_cpu, client_cpu);
  }
  if (!r.first_error.empty()) std::fprintf(stderr, "first error: %s\n", r.first_error.c_str());
  return r.errors == 0 && r.requests > 0 ? 0 : 1;
}

}  // namespace impulse::tools
