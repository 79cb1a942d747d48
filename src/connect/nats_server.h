// nats-server processes (JetStream on loopback, a store directory of their own) and a nats.c
// client that creates streams and publishes: for the NATS tests and `impulse-bench kafka --nats`,
// never the engine.
#pragma once

#include <nats/nats.h>
#include <sys/types.h>

#include <csignal>

#include <filesystem>
#include <string>
#include <vector>

namespace impulse::connect {

// The installed nats-server, or "" (scripts/setup.sh installs it).
std::string NatsServerBinary();
// A loopback port free at the time of the call.
int FreeLoopbackPort();

// One nats-server process with JetStream, optionally a member of a cluster (routes: the other
// members' cluster ports). Stopped with SIGTERM when destroyed.
class NatsServer {
 public:
  NatsServer(std::string name, const std::filesystem::path& dir, int port, int cluster_port,
             const std::vector<int>& routes);
  ~NatsServer() { Kill(SIGTERM); }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  bool WaitListening(int ms) const;
  void Kill(int sig);
  const std::string& name() const { return name_; }
  int port() const { return port_; }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string name_;
  int port_;
  pid_t pid_ = -1;
};

// A connection with its JetStream context, reconnecting forever.
class NatsClient {
 public:
  explicit NatsClient(const std::string& servers);  // comma-separated URLs
  ~NatsClient();
  NatsClient(const NatsClient&) = delete;
  NatsClient& operator=(const NatsClient&) = delete;
  bool ok() const { return js_ != nullptr; }

  // A stream of `replicas` holding `subjects`; retried while a cluster elects its meta leader.
  natsStatus AddStream(const std::string& name, const std::vector<std::string>& subjects, int replicas);
  // Publishes once, with a message id (so a retry is not stored twice); true once acknowledged.
  bool Publish(const std::string& subject, const std::string& data, const std::string& id);
  // A core publish (stored by the stream capturing the subject; no acknowledgement awaited).
  bool PublishCore(const std::string& subject, const std::string& data);
  bool Flush() { return nc_ != nullptr && natsConnection_FlushTimeout(nc_, 30'000) == NATS_OK; }
  // Messages stored in `stream` (-1: unknown).
  int64_t Stored(const std::string& stream);

 protected:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace impulse::connect
