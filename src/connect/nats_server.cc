#include "connect/nats_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>

namespace impulse::connect {

std::string NatsServerBinary() {
  for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

namespace {
bool Listening(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

NatsServer::NatsServer(std::string name, const std::filesystem::path& dir, int port, int cluster_port,
                       const std::vector<int>& routes)
    : name_(std::move(name)), port_(port) {
  std::vector<std::string> args = {
      NatsServerBinary(),     "-js",           "-a", "127.0.0.1", "-p", std::to_string(port), "-sd",
      (dir / name_).string(), "--server_name", name_};
  if (cluster_port > 0) {
    std::string r;
    for (int p : routes) r += (r.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(p);
    args.insert(args.end(), {"--cluster_name", "impulse-test", "--cluster",
                             "nats://127.0.0.1:" + std::to_string(cluster_port), "--routes", r});
  }
  pid_ = ::fork();
  if (pid_ == 0) {
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log = (dir / (name_ + ".log")).string();
    std::FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
}

bool NatsServer::WaitListening(int ms) const {
  for (int i = 0; i < ms / 10; ++i) {
    if (Listening(port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void NatsServer::Kill(int sig) {
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

NatsClient::NatsClient(const std::string& servers) {
  natsOptions* o = nullptr;
  natsOptions_Create(&o);
  std::vector<std::string> urls;
  for (size_t at = 0; at <= servers.size();) {
    const size_t comma = std::min(servers.find(',', at), servers.size());
    urls.push_back(servers.substr(at, comma - at));
    at = comma + 1;
  }
  std::vector<const char*> list;
  list.reserve(urls.size());
  for (const std::string& u : urls) list.push_back(u.c_str());
  natsOptions_SetServers(o, list.data(), static_cast<int>(list.size()));
  natsOptions_SetMaxReconnect(o, -1);
  natsOptions_SetReconnectWait(o, 100);
  natsOptions_SetTimeout(o, 2000);
  for (int i = 0; i < 100 && nc_ == nullptr; ++i) {
    if (natsConnection_Connect(&nc_, o) != NATS_OK) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  natsOptions_Destroy(o);
  if (nc_ != nullptr) natsConnection_JetStream(&js_, nc_, nullptr);
}
NatsClient::~NatsClient() {
  jsCtx_Destroy(js_);
  natsConnection_Destroy(nc_);
}

natsStatus NatsClient::AddStream(const std::string& name, const std::vector<std::string>& subjects, int replicas) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name.c_str();
  std::vector<const char*> s;
  s.reserve(subjects.size());
  for (const std::string& x : subjects) s.push_back(x.c_str());
  cfg.Subjects = s.data();
  cfg.SubjectsLen = static_cast<int>(s.size());
  cfg.Replicas = replicas;
  natsStatus st = NATS_ERR;
  for (int i = 0; i < 100; ++i) {
    jsStreamInfo* si = nullptr;
    st = js_AddStream(&si, js_, &cfg, nullptr, nullptr);
    if (si != nullptr) jsStreamInfo_Destroy(si);
    if (st == NATS_OK) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return st;
}

bool NatsClient::Publish(const std::string& subject, const std::string& data, const std::string& id) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = id.c_str();
  po.MaxWait = 2000;
  jsPubAck* pa = nullptr;
  const natsStatus st = js_Publish(&pa, js_, subject.c_str(), data.data(), static_cast<int>(data.size()), &po, nullptr);
  if (pa != nullptr) jsPubAck_Destroy(pa);
  return st == NATS_OK;
}

bool NatsClient::PublishCore(const std::string& subject, const std::string& data) {
  return nc_ != nullptr &&
         natsConnection_Publish(nc_, subject.c_str(), data.data(), static_cast<int>(data.size())) == NATS_OK;
}

int64_t NatsClient::Stored(const std::string& stream) {
  jsStreamInfo* si = nullptr;
  if (js_ == nullptr || js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return -1;
  const auto n = static_cast<int64_t>(si->State.Msgs);
  jsStreamInfo_Destroy(si);
  return n;
}

}  // namespace impulse::connect
