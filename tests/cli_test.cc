// The impulse binary as a new user meets it: what each mistake prints and the exit code.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "run_command.h"

namespace impulse {
namespace {

namespace fs = std::filesystem;

using Output = CommandOutput;

// `args` may go on with more shell after the command ("... & pid=$!; ..."): all of it runs in
// one subshell whose stdout and stderr are captured.
Output RunImpulse(const std::string& args) {
  return RunShell("(" + std::string(IMPULSE_BINARY) + " " + args + ") 2>&1 </dev/null");
}

bool Has(const Output& o, const std::string& text) { return o.out.find(text) != std::string::npos; }

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("impulse_cli_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  fs::path dir_;
};

constexpr const char* kSpec = R"(streams:
  - name: tx
    fields:
      - {name: id, type: int64}
      - {name: user_id, type: int64}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: user_id
    event_time: ts
    partitions: 1
pipelines:
  - name: velocity
    from: tx
    steps:
      - window: {tumbling: 1m, key: user_id, aggregates: {n: count(), s: sum(amount)}}
    sink: {stream: tx_velocity}
)";

TEST_F(Cli, BackfillWithLateRowsFailsUnlessAllowed) {
  const std::string spec = Write("spec.yaml", kSpec);
  // The fourth row is 10 minutes behind the third: late for the 1 minute windows.
  const std::string in = Write("in.csv",
                               "ID,USER_ID,AMOUNT,TS\n"
                               "1,7,1.5,1700000000000\n"
                               "2,7,2.5,1700000100000\n"
                               "3,7,3.5,1700000900000\n"
                               "4,7,4.5,1700000300000\n");
  const std::string out = (dir_ / "out.csv").string();
  Output o = RunImpulse("backfill " + spec + " --input " + in + " --out " + out);
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "backfill: error: 1 events went to _late_events")) << o.out;
  EXPECT_TRUE(Has(o, "--allow-late")) << o.out;
  o = RunImpulse("backfill " + spec + " --input " + in + " --out " + out + " --allow-late");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_TRUE(Has(o, "backfill: warning: 1 events went to _late_events")) << o.out;
}

TEST_F(Cli, BackfillColumnFlags) {
  const std::string spec = Write("spec.yaml", kSpec);
  const std::string in = Write("in.csv",
                               "ID,CUSTOMER,AMOUNT,TS,IS_FRAUD\n"
                               "1,7,1.5,1700000000000,0\n");
  const std::string out = (dir_ / "out.csv").string();
  Output o = RunImpulse("backfill " + spec + " --input " + in + " --out " + out);
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "column 2 'CUSTOMER' is not a field of stream tx")) << o.out;
  o = RunImpulse("backfill " + spec + " --input " + in + " --out " + out +
                 " --column CUSTOMER=user_id --ignore-unknown-columns");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  o = RunImpulse("backfill " + spec + " --input " + in + " --out " + out + " --column CUSTOMER");
  EXPECT_EQ(o.exit_code, 2) << o.out;
  EXPECT_TRUE(Has(o, "expected COLUMN=FIELD")) << o.out;
}

TEST_F(Cli, ListenAcceptsAHostNameAndRefusesAPortOutOfRange) {
  const std::string spec = Write("spec.yaml", kSpec);
  const std::string data = (dir_ / "data").string();
  Output o = RunImpulse("run " + spec + " --data-dir " + data + " --listen localhost:99999");
  EXPECT_EQ(o.exit_code, 2) << o.out;
  EXPECT_TRUE(Has(o, "port 99999 is out of range (0 to 65535")) << o.out;
  // Started and stopped by SIGTERM after 3 s: it served on the resolved address.
  o = RunImpulse("run " + spec + " --data-dir " + data +
                 " --listen localhost:0 & "
                 "pid=$!; sleep 3; kill -TERM $pid; wait $pid");
  EXPECT_TRUE(Has(o, "serving " + spec + " on http://localhost:")) << o.out;
  EXPECT_TRUE(Has(o, "stopped cleanly")) << o.out;
  EXPECT_FALSE(Has(o, "final checkpoint failed")) << o.out;
  // An IPv6 address is logged in brackets, as a URL writes it (where this host has ::1).
  const int fd = socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 loopback{};
  loopback.sin6_family = AF_INET6;
  loopback.sin6_addr = in6addr_loopback;
  const bool ipv6 = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&loopback), sizeof loopback) == 0;
  if (fd >= 0) close(fd);
  if (ipv6) {
    o = RunImpulse("run " + spec + " --data-dir " + data +
                   "6 --listen [::1]:0 & pid=$!; sleep 3; kill -TERM $pid; wait $pid");
    EXPECT_TRUE(Has(o, "serving " + spec + " on http://[::1]:")) << o.out;
  }
}

TEST_F(Cli, RunOnADataDirOfAnotherSpecIsRefusedNamingTheDifference) {
  const std::string spec = Write("spec.yaml", kSpec);
  std::string other_text = kSpec;
  other_text.replace(other_text.find("name: velocity"), 14, "name: speed");
  const std::string other = Write("other.yaml", other_text);
  const std::string data = (dir_ / "data").string();
  const std::string run = " --data-dir " + data + " --listen 127.0.0.1:0 & pid=$!; sleep 3; kill -TERM $pid; wait $pid";
  Output o = RunImpulse("run " + spec + run);
  ASSERT_TRUE(Has(o, "stopped cleanly")) << o.out;
  o = RunImpulse("run " + other + " --data-dir " + data + " --listen 127.0.0.1:0");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "was created with another spec: pipeline velocity removed; pipeline speed added")) << o.out;
  EXPECT_FALSE(Has(o, "final checkpoint failed")) << o.out;
  o = RunImpulse("run " + other + " --accept-spec-change" + run);
  EXPECT_TRUE(Has(o, "accepted spec change: pipeline speed added")) << o.out;
  EXPECT_TRUE(Has(o, "stopped cleanly")) << o.out;
}

// A listening socket on a free port of 127.0.0.1, closed on destruction: a port already taken.
class TakenPort {
 public:
  TakenPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
  }
  ~TakenPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  TakenPort(const TakenPort&) = delete;
  TakenPort& operator=(const TakenPort&) = delete;
  int port() const { return port_; }  // 0: no port could be taken
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A run that cannot serve (its port taken) did not start: no final checkpoint line, and the
// fresh data directory does not adopt its spec, so another spec starts there next.
TEST_F(Cli, RunWhosePortIsTakenLeavesNoCheckpointNorSpec) {
  const std::string spec = Write("spec.yaml", kSpec);
  std::string other_text = kSpec;
  other_text.replace(other_text.find("name: velocity"), 14, "name: speed");
  const std::string other = Write("other.yaml", other_text);
  const std::string data = (dir_ / "data").string();
  {
    TakenPort taken;
    ASSERT_NE(taken.port(), 0);
    Output o =
        RunImpulse("run " + spec + " --data-dir " + data + " --listen 127.0.0.1:" + std::to_string(taken.port()));
    EXPECT_EQ(o.exit_code, 1) << o.out;
    EXPECT_TRUE(Has(o, "Address already in use")) << o.out;
    EXPECT_FALSE(Has(o, "checkpoint")) << o.out;
    EXPECT_FALSE(fs::exists(dir_ / "data" / "SPEC"));
    EXPECT_FALSE(fs::exists(dir_ / "data" / "streams"));  // checked before the engine opened
  }
  Output o = RunImpulse("run " + other + " --data-dir " + data +
                        " --listen 127.0.0.1:0 & pid=$!; sleep 3; kill -TERM $pid; wait $pid");
  EXPECT_FALSE(Has(o, "another spec")) << o.out;
  EXPECT_TRUE(Has(o, "stopped cleanly")) << o.out;
}

// A backfill whose input cannot be read fails without a final checkpoint of its throwaway engine.
TEST_F(Cli, BackfillOfUnreadableInputWritesNoCheckpoint) {
  const std::string spec = Write("spec.yaml", kSpec);
  fs::create_directories(dir_ / "in.ndjson");  // a directory, not a file
  Output o = RunImpulse("backfill " + spec + " --input " + (dir_ / "in.ndjson").string() + " --out " +
                        (dir_ / "out.csv").string());
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "in.ndjson")) << o.out;
  EXPECT_FALSE(Has(o, "checkpoint")) << o.out;
}

// An HTTP server on 127.0.0.1 answering its n-th request with replies[min(n, last)] (whole raw
// responses, each closing its connection): what an engine answers, scripted.
class CannedHttpServer {
 public:
  explicit CannedHttpServer(std::vector<std::string> replies) : replies_(std::move(replies)) {
    if (port_taken_.port() == 0) return;
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedHttpServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  CannedHttpServer(const CannedHttpServer&) = delete;
  CannedHttpServer& operator=(const CannedHttpServer&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_taken_.port()); }
  int requests() const { return requests_.load(); }

  static std::string Reply(int status, const std::string& json, const std::string& extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(json.size()) +
           "\r\nConnection: close\r\n" + extra_headers + "\r\n" + json;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{port_taken_.fd(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int c = ::accept(port_taken_.fd(), nullptr, nullptr);
      if (c < 0) continue;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      const size_t n = static_cast<size_t>(requests_.fetch_add(1));
      const std::string& r = replies_[std::min(n, replies_.size() - 1)];
      (void)!::write(c, r.data(), r.size());
      ::close(c);
    }
  }
  TakenPort port_taken_;
  std::vector<std::string> replies_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// tail --follow against an engine that answers 503: a transient one (Unavailable) is retried,
// its reason printed once; one that will not change (FailedPrecondition: an instance of a group
// does not wait for events) ends the command with the server's reason.
TEST_F(Cli, TailFollowSaysWhyItRetriesA503AndExitsOnOneNotTransient) {
  {
    CannedHttpServer engine({CannedHttpServer::Reply(503,
                                                     R"({"error":"an instance of a group does not wait for events",)"
                                                     R"("code":"FailedPrecondition"})",
                                                     "Retry-After: 1\r\n")});
    Output o = RunImpulse("tail orders --follow --url " + engine.url() + " & pid=$!; " +
                          "(sleep 20; kill $pid) >/dev/null 2>&1 & wait $pid; echo \"tail exit $?\"");
    EXPECT_TRUE(Has(o, "tail exit 1")) << o.out;
    EXPECT_TRUE(Has(o, "an instance of a group does not wait for events")) << o.out;
    EXPECT_EQ(engine.requests(), 1);
  }
  const std::string busy = CannedHttpServer::Reply(
      503, R"({"error":"already 512 reads waiting for events","code":"Unavailable"})", "Retry-After: 1\r\n");
  CannedHttpServer engine({busy, busy, CannedHttpServer::Reply(404, R"({"error":"gone","code":"NotFound"})")});
  Output o = RunImpulse("tail orders --follow --url " + engine.url());
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_EQ(Count(o.out, "already 512 reads waiting for events"), 1U) << o.out;
  EXPECT_TRUE(Has(o, "retrying")) << o.out;
  EXPECT_TRUE(Has(o, "gone")) << o.out;
  EXPECT_EQ(engine.requests(), 3);
}

// repair truncates a partition an engine appends to: it takes the data directory's lock as reset
// does, refusing while the engine runs, and runs once it has stopped.
TEST_F(Cli, RepairRefusesWhileTheEngineRuns) {
  const std::string spec = Write("spec.yaml", kSpec);
  const std::string data = (dir_ / "data").string();
  const std::string part = data + "/streams/tx/0";
  // The engine creates the partition directory after taking the lock: repair runs once it is there.
  Output o =
      RunImpulse("run " + spec + " --data-dir " + data + " --listen 127.0.0.1:0 & pid=$!; for i in $(seq 300); do " +
                 "[ -d " + part + " ] && break; sleep 0.1; done; " + IMPULSE_BINARY + " repair " + part +
                 " --quiet; echo \"repair exit $?\"; kill -TERM $pid; wait $pid");
  EXPECT_TRUE(Has(o, "repair exit 1")) << o.out;
  EXPECT_TRUE(Has(o, "is in use by another process")) << o.out;
  EXPECT_TRUE(Has(o, "stop the engine first (nothing changed)")) << o.out;
  EXPECT_TRUE(Has(o, "stopped cleanly")) << o.out;
  o = RunImpulse("repair " + part + " --quiet");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_TRUE(Has(o, "no damage found, nothing changed")) << o.out;
  // A directory that is not DATA/streams/STREAM/PARTITION has no lock to take: refused.
  fs::create_directories(dir_ / "loose");
  o = RunImpulse("repair " + (dir_ / "loose").string() + " --quiet");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "not a partition directory of a data directory")) << o.out;
  // A partition or stream that does not exist is named so, not as a lock that cannot be taken.
  o = RunImpulse("repair " + data + "/streams/tx/7 --quiet");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "stream tx has no partition 7")) << o.out;
  EXPECT_FALSE(Has(o, "lock")) << o.out;
  o = RunImpulse("repair " + data + "/streams/tz/0 --quiet");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "has no stream tz")) << o.out;
  EXPECT_FALSE(Has(o, "lock")) << o.out;
  o = RunImpulse("repair " + (dir_ / "nowhere").string() + " --quiet");
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "no such directory")) << o.out;
}

TEST_F(Cli, UsageErrorsAreOneLineWithDidYouMean) {
  Output o = RunImpulse("backfill x.yaml --inpt a.csv");
  EXPECT_EQ(o.exit_code, 2) << o.out;
  EXPECT_TRUE(Has(o, "(did you mean '--input'?)")) << o.out;
  EXPECT_TRUE(Has(o, "see 'impulse backfill --help'")) << o.out;
  EXPECT_FALSE(Has(o, "Usage:")) << o.out;
  o = RunImpulse("chekpoints list");
  EXPECT_EQ(o.exit_code, 2) << o.out;
  EXPECT_TRUE(Has(o, "unknown command 'chekpoints' (did you mean 'checkpoints'?)")) << o.out;
  // The commands that talk to a running engine too.
  o = RunImpulse("stauts");
  EXPECT_EQ(o.exit_code, 2) << o.out;
  EXPECT_TRUE(Has(o, "unknown command 'stauts' (did you mean 'status'?)")) << o.out;
  o = RunImpulse("tai orders");
  EXPECT_TRUE(Has(o, "(did you mean 'tail'?)")) << o.out;
  EXPECT_FALSE(Has(o, "Commands:")) << o.out;
}

// delete, reset and ingest say what is wrong in one line and where help is, as every command
// does, not the whole usage.
TEST_F(Cli, DeleteResetIngestUsageErrorsAreOneLine) {
  const std::string data = " --data-dir " + (dir_ / "data").string();
  const struct {
    std::string args, says, help;
  } cases[] = {
      {"delete tx", "impulse: delete: give --data-dir (offline, every record) or --records-before", "delete"},
      {"delete tx --records-before 5" + data, "--records-before deletes online (--url) and --data-dir offline",
       "delete"},
      {"reset velocity" + data, "impulse: reset: --spec is required", "reset"},
      {"reset velocity --spec s.yaml" + data + " --to middle", "reset: --to 'middle': expected beginning or end",
       "reset"},
      {"ingest --format csv in.csv", "impulse: ingest: expected STREAM FILE", "ingest"},
      {"ingest tx in.ndjson --batch 0", "impulse: ingest: --batch must be at least 1", "ingest"},
      {"ingest tx in.ndjson --format xml", "ingest: --format 'xml': expected ndjson or csv", "ingest"},
  };
  for (const auto& c : cases) {
    Output o = RunImpulse(c.args);
    EXPECT_EQ(o.exit_code, 2) << c.args << ": " << o.out;
    EXPECT_TRUE(Has(o, c.says)) << c.args << ": " << o.out;
    EXPECT_TRUE(Has(o, "see 'impulse " + c.help + " --help'")) << c.args << ": " << o.out;
    EXPECT_FALSE(Has(o, "Usage:")) << c.args << ": " << o.out;
    EXPECT_EQ(std::count(o.out.begin(), o.out.end(), '\n'), 2) << c.args << ": " << o.out;
  }
}

TEST_F(Cli, OneVocabularyWithDeprecatedAliases) {
  const std::string missing = (dir_ / "nope").string();
  Output o = RunImpulse("checkpoints list --data-dir " + missing);
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "no data directory " + missing)) << o.out;
  o = RunImpulse("checkpoints list --data " + dir_.string());  // the old spelling still works
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_TRUE(Has(o, "--data is deprecated, use --data-dir")) << o.out;
  o = RunImpulse("models list --repository " + missing);
  EXPECT_TRUE(Has(o, "--repository is deprecated, use --models")) << o.out;
  o = RunImpulse("models list --help");
  EXPECT_TRUE(Has(o, "--models")) << o.out;
  EXPECT_FALSE(Has(o, "--repository")) << o.out;
  o = RunImpulse("run --help");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_FALSE(Has(o, "checkpoint-state-in-pause")) << o.out;  // internal
  EXPECT_TRUE(Has(o, "--accept-spec-change")) << o.out;
}

TEST_F(Cli, GenerateFraudHelpListsOnlyFraudOptions) {
  Output o = RunImpulse("generate fraud --help");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_TRUE(Has(o, "--customers")) << o.out;
  EXPECT_FALSE(Has(o, "--events")) << o.out;  // a nexmark option
  EXPECT_FALSE(Has(o, "--rate")) << o.out;
  // Not a terminal: no progress bar mixed into the output.
  o = RunImpulse("generate fraud --days 2 --customers 10 --terminals 10");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_FALSE(Has(o, "ETA")) << o.out;
}

// A --start outside a simulator's dates names the supported range; an option out of its range is
// one clean line (no status code name) and where help is.
TEST_F(Cli, GenerateNamesTheSupportedStartRangeAndCleanLimits) {
  for (const char* kind : {"shop", "fraud"}) {
    Output o = RunImpulse(std::string("generate ") + kind + " --start 1969-01-01");
    EXPECT_EQ(o.exit_code, 2) << o.out;
    EXPECT_TRUE(Has(o, "--start '1969-01-01': expected a date YYYY-MM-DD from 19")) << o.out;
    EXPECT_TRUE(Has(o, " to 7445-10-25")) << o.out;
    EXPECT_TRUE(Has(o, std::string("see 'impulse generate ") + kind + " --help'")) << o.out;
  }
  EXPECT_TRUE(Has(RunImpulse("generate shop --start 1970-06-30"), "from 1970-07-01 to 7445-10-25"));
  Output o = RunImpulse("generate shop --users 0");
  EXPECT_EQ(o.exit_code, 2) << o.out;
  EXPECT_TRUE(Has(o, "impulse: generate shop: users must be in 1..")) << o.out;
  EXPECT_FALSE(Has(o, "InvalidArgument")) << o.out;
  o = RunImpulse("generate fraud --customers 0");
  EXPECT_EQ(o.exit_code, 2) << o.out;
  EXPECT_TRUE(Has(o, "impulse: generate fraud: customers must be in 1..")) << o.out;
  EXPECT_FALSE(Has(o, "InvalidArgument")) << o.out;
}

TEST_F(Cli, ValidateReportsABadAggregateOnce) {
  std::string text = kSpec;
  text.replace(text.find("sum(amount)"), 11, "sum(amout)");
  text.replace(text.find("    sink:"), 0, "      - filter: s > 100 and n > 2\n      - map: {total: s * 2}\n");
  Output o = RunImpulse("validate " + Write("bad.yaml", text));
  EXPECT_EQ(o.exit_code, 1) << o.out;
  EXPECT_TRUE(Has(o, "unknown field 'amout'")) << o.out;
  EXPECT_TRUE(Has(o, "1 error(s)")) << o.out;
}

// `impulse demo fraud` draws a progress bar per long phase on a terminal (here a pseudo-terminal
// from script(1)), and none with --quiet.
TEST_F(Cli, DemoFraudShowsItsPhasesProgressOnATerminal) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "script (bsdutils) is not installed";
  const std::string demo = std::string(IMPULSE_BINARY) +
                           " demo fraud --days 1 --events 500 --batch-seconds 1 --batch-interval 1 --idle-seconds 0 "
                           "--durability none --no-webhook --data-dir " +
                           (dir_ / "demo").string();
  // On a terminal: one bar per phase (label, then the bar in brackets).
  Output o = RunImpulse("--version >/dev/null; script -qec '" + demo + "' /dev/null");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_TRUE(Has(o, "OK: every transaction scored")) << o.out;
  for (const char* bar : {"demo: simulation [", "demo: throughput [", "demo: latency [", "demo: beside batch ["}) {
    EXPECT_TRUE(Has(o, bar)) << bar << " missing from:\n" << o.out;
  }
  o = RunImpulse("--version >/dev/null; script -qec '" + demo + " --quiet' /dev/null");
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_FALSE(Has(o, "demo: throughput [")) << o.out;
}

}  // namespace
}  // namespace impulse
