// Runs the impulse binary as a child process for end-to-end tests: start it on an ephemeral
// port, learn the port from its start-up line, stop it with a signal (SIGTERM or SIGKILL).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace impulse::e2e {

// The binary built with the test, unless IMPULSE_E2E_BINARY names another (impulse-bench --impulse).
inline std::string ImpulseBinary() {
  const char* other = std::getenv("IMPULSE_E2E_BINARY");
  return other != nullptr && *other != '\0' ? other : IMPULSE_BINARY;
}
inline std::string SourceDir() { return IMPULSE_SOURCE_DIR; }

class EngineProcess {
 public:
  ~EngineProcess() { Kill(); }

  // Starts `impulse run spec --data-dir dir --listen 127.0.0.1:0 extra...`. Returns false if the
  // process did not report a listening port within the timeout.
  bool Start(const std::string& spec, const std::string& data_dir, std::vector<std::string> extra = {}) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    std::vector<std::string> args = {ImpulseBinary(), "run", spec, "--data-dir", data_dir, "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    stderr_fd_ = fds[0];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::string buf;
    char c;
    while (std::chrono::steady_clock::now() < deadline) {
      ssize_t n = read(stderr_fd_, &c, 1);
      if (n <= 0) break;
      if (c != '\n') {
        buf.push_back(c);
        continue;
      }
      log_ += buf + "\n";
      const size_t at = buf.find("http://127.0.0.1:");
      if (at != std::string::npos) {
        port_ = static_cast<uint16_t>(std::atoi(buf.c_str() + at + 17));
        // Keep draining stderr so the child never blocks on a full pipe.
        // The tail is kept for failure messages (tail()).
        drainer_ = std::thread([this, fd = stderr_fd_] {
          char b[4096];
          for (ssize_t got; (got = read(fd, b, sizeof(b))) > 0;) {
            tail_.append(b, static_cast<size_t>(got));
            if (tail_.size() > 16384) tail_.erase(0, tail_.size() - 8192);
          }
        });
        return true;
      }
      buf.clear();
    }
    log_ += buf;
    return false;
  }

  uint16_t port() const { return port_; }
  // The last few KiB the process wrote to stderr after its start-up line (after Signal/Kill).
  const std::string& tail() const { return tail_; }
  const std::string& startup_log() const { return log_; }

  // SIGKILL: no chance to flush; for crash tests.
  void Kill() { Signal(SIGKILL); }

  // Sends `sig` and waits; returns the exit code (or 128 + signal).
  int Signal(int sig) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (drainer_.joinable()) drainer_.join();
    if (stderr_fd_ >= 0) close(stderr_fd_);
    stderr_fd_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  uint16_t port_ = 0;
  std::string log_;
  std::string tail_;  // written by drainer_ until it is joined
  std::thread drainer_;
};

// Runs a shell command, captures its stdout and stderr; returns its exit code.
inline int RunCapture(const std::string& cmd, std::string* out) {
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return -1;
  char buf[512];
  while (fgets(buf, sizeof(buf), f)) *out += buf;
  const int rc = pclose(f);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The value of "name" in a flat JSON object line, as text (a string's without quotes); "" if absent.
inline std::string JsonField(const std::string& json, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  const size_t at = json.find(key);
  if (at == std::string::npos) return "";
  const size_t end = at + key.size();
  if (json[end] == '"') return json.substr(end + 1, json.find('"', end + 1) - end - 1);
  const size_t stop = json.find_first_of(",}", end);
  return json.substr(end, stop - end);
}

// The lines of a running engine's /metrics that start with `name`.
inline std::string MetricLines(uint16_t port, const std::string& name) {
  std::string out;
  RunCapture("curl -s http://127.0.0.1:" + std::to_string(port) + "/metrics | grep '^" + name + "'", &out);
  return out;
}

inline std::string TempDir(const std::string& name) {
  std::string tmpl = "/tmp/impulse-" + name + "-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  return p ? std::string(p) : std::string();
}

}  // namespace impulse::e2e
