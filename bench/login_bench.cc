// `impulse-bench login`: how soon a decision comes back when nothing else happens. The login-abuse
// spec (failed logins per user over 5 minutes, on-arrival feature view, a trigger at 5): each
// user sends five failed logins, one event per call, one call at a time (nothing else in flight:
// no later event could move a watermark), and every call is Engine::IngestAndDecide, so its
// latency is call -> decision (the row, and for the fifth the rule that fired) handed back.
// Reported per durability, with the fifth login (the firing) apart, medians over --rounds rounds
// run in the same process, and beside them a probe of the disk's own write + fdatasync of one
// small record (what `--durability sync` waits for).
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "common/fsync_probe.h"
#include "impulse/engine.h"

namespace impulse::bench {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kSpec[] = R"yaml(
streams:
  - name: logins
    fields:
      - {name: id, type: int64}
      - {name: user, type: int64}
      - {name: ok, type: bool}
      - {name: ts, type: timestamp}
    key: user
    event_time: ts
    partitions: 2
    watermark: {max_out_of_orderness: 1s, idle_timeout: never}
feature_views:
  - name: failures
    entity: user
    features:
      - {name: failed_5m, agg: count(), window: 5m}
pipelines:
  - name: login_failures
    from: logins
    steps:
      - filter: not ok
      - features: failures
      - trigger:
          name: login_abuse
          when: failed_5m >= 5
          key: user
          event_id: id
          cooldown: 5m
          publish:
            - stream: abuse
              fields: {user: user, failed: failed_5m}
    sink: {stream: failed_logins}
)yaml";

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
};

Percentiles Of(std::vector<double> us) {
  Percentiles p;
  if (us.empty()) return p;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    return us[std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())))];
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = us.back();
  return p;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// One synchronous IngestAndDecide; its latency in microseconds, or < 0 on an error (printed).
double DecideOne(Engine& e, const std::string& line, bool expect_fire, uint64_t* wrong) {
  DecideOptions o;
  o.pipeline = "login_failures";
  o.id_field = "id";
  o.timeout_ms = 5000;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Status status;
  DecideResult result;
  const auto t0 = Clock::now();
  Status st = e.IngestAndDecide("logins", line, 0, o, [&](Status s, DecideResult r) {
    const std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
    result = std::move(r);
    done = true;
    cv.notify_one();
  });
  if (!st.ok()) {
    std::fprintf(stderr, "impulse-bench login: %s\n", st.ToString().c_str());
    return -1;
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  if (!status.ok() || result.events.size() != 1) {
    std::fprintf(stderr, "impulse-bench login: %s\n", status.ToString().c_str());
    return -1;
  }
  const EventDecision& d = result.events[0];
  const bool fired = std::find(d.rules.begin(), d.rules.end(), "login_abuse") != d.rules.end();
  if (d.state != EventDecision::State::kDecided || fired != expect_fire) {
    if (++*wrong <= 3) {
      std::fprintf(stderr, "impulse-bench login: %s: state %d, %zu rules, expected %s\n", line.c_str(),
                   static_cast<int>(d.state), d.rules.size(), expect_fire ? "a firing" : "none");
    }
  }
  return us;
}

struct RoundResult {
  Percentiles any, fifth;
  uint64_t wrong = 0;
};

Result<RoundResult> Round(const std::string& dir, Durability durability, int users, uint32_t shards) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string spec = dir + "/login.yaml";
  std::ofstream(spec) << kSpec;
  EngineOptions o;
  o.data_dir = dir + "/data";
  o.shards = shards;
  o.durability = durability;
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> e, Engine::Open(spec, o));
  RoundResult r;
  std::vector<double> any, fifth;
  const int64_t t0 = 1'700'000'000'000;
  int64_t id = 0;
  for (int u = 0; u < users; ++u) {
    for (int k = 0; k < 5; ++k) {
      const std::string line = "{\"id\":" + std::to_string(++id) + ",\"user\":" + std::to_string(u) +
                               ",\"ok\":false,\"ts\":" + std::to_string(t0 + int64_t{u} * 10 + k) + "}\n";
      const double us = DecideOne(*e, line, k == 4, &r.wrong);
      if (us < 0) return Internal("a decide call failed");
      (k == 4 ? fifth : any).push_back(us);
    }
  }
  RETURN_IF_ERROR(e->Stop());
  r.any = Of(any);
  r.fifth = Of(fifth);
  return r;
}

}  // namespace

int LoginBenchCommand(const std::vector<std::string>& args) {
  int users = 2000, rounds = 3;
  uint32_t shards = 2;
  std::string dir = (fs::temp_directory_path() / ("impulse-bench-login-" + std::to_string(::getpid()))).string();
  po::options_description opts("login options");
  opts.add_options()("users", po::value(&users)->default_value(users), "users per round (5 logins each)")(
      "rounds", po::value(&rounds)->default_value(rounds), "rounds per durability (medians reported)")(
      "shards", po::value(&shards)->default_value(shards), "engine shards")("dir", po::value(&dir)->default_value(dir),
                                                                            "scratch directory (emptied)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse-bench login [options]", opts, &vm); rc >= 0) return rc;
  if (users < 1 || rounds < 1 || shards < 1) {
    std::fprintf(stderr, "impulse-bench login: --users, --rounds and --shards must be >= 1\n");
    return 2;
  }
  std::printf("login abuse, one event per call, nothing else in flight: %d users x 5 failed logins, %d rounds\n", users,
              rounds);
  std::printf("%-8s %-20s %10s %10s %10s %10s\n", "durab.", "latency (us)", "p50", "p99", "p99.9", "max");
  uint64_t wrong = 0;
  for (Durability d : {Durability::kNone, Durability::kSync}) {
    std::vector<double> a50, a99, a999, amax, f50, f99, f999, fmax;
    for (int i = 0; i < rounds; ++i) {
      auto r = Round(dir, d, users, shards);
      if (!r.ok()) {
        std::fprintf(stderr, "impulse-bench login: %s\n", r.status().ToString().c_str());
        return 1;
      }
      wrong += r->wrong;
      a50.push_back(r->any.p50), a99.push_back(r->any.p99), a999.push_back(r->any.p999), amax.push_back(r->any.max);
      f50.push_back(r->fifth.p50), f99.push_back(r->fifth.p99), f999.push_back(r->fifth.p999);
      fmax.push_back(r->fifth.max);
    }
    const char* name = d == Durability::kNone ? "none" : "sync";
    std::printf("%-8s %-20s %10.0f %10.0f %10.0f %10.0f\n", name, "logins 1-4 -> row", Median(a50), Median(a99),
                Median(a999), Median(amax));
    std::printf("%-8s %-20s %10.0f %10.0f %10.0f %10.0f\n", name, "5th -> rule fired", Median(f50), Median(f99),
                Median(f999), Median(fmax));
  }
  fs::create_directories(dir);
  auto probed = ProbeFsync(dir, 128, 2000);
  if (!probed.ok()) {
    std::fprintf(stderr, "impulse-bench login: %s\n", probed.status().ToString().c_str());
    return 1;
  }
  const Percentiles probe = Of(probed->us);
  std::printf("%-8s %-20s %10.0f %10.0f %10.0f %10.0f\n", "probe", "write+fdatasync", probe.p50, probe.p99, probe.p999,
              probe.max);
  fs::remove_all(dir);
  if (wrong > 0) {
    std::fprintf(stderr, "impulse-bench login: %llu calls without the expected decision\n",
                 static_cast<unsigned long long>(wrong));
    return 1;
  }
  return 0;
}

}  // namespace impulse::bench
