// NATS JetStream sources and sinks against real nats-server processes started here (loopback
// ports, temporary store directories): copy with dead letters that name subject and stream
// sequence, a restart with no duplicate and no gap, a sink whose outputs appear once across
// restarts (Nats-Msg-Id, positions read back from the subject), an unreachable server named, and
// a 3-node JetStream cluster whose stream leader is killed mid-stream.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "connect/nats_server.h"
#include "impulse/engine.h"
#include "runtime/engine_test_util.h"

namespace impulse {
namespace {

using connect::FreeLoopbackPort;
using connect::NatsServerBinary;
using Server = connect::NatsServer;

// A nats.c client of the tests: creates streams, publishes input, reads a stream back.
class Client : public connect::NatsClient {
 public:
  using NatsClient::NatsClient;

  void MustPublish(const std::string& subject, const std::string& data, const std::string& id) {
    for (int i = 0; i < 50; ++i) {
      if (Publish(subject, data, id)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "publish " << id << " never acknowledged";
  }
  // The stream's leader (server name).
  std::string Leader(const std::string& stream) {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return "";
    std::string leader = si->Cluster != nullptr && si->Cluster->Leader != nullptr ? si->Cluster->Leader : "";
    jsStreamInfo_Destroy(si);
    return leader;
  }
  // Fetches up to n messages from an existing durable consumer and never acknowledges them (as a
  // process that crashed after fetching would); the number fetched.
  int FetchWithoutAck(const std::string& stream, const std::string& durable, const std::string& subject, int n,
                      int64_t wait_ms = 2000) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Consumer = durable.c_str();
    natsSubscription* sub = nullptr;
    if (js_PullSubscribe(&sub, js_, subject.c_str(), durable.c_str(), nullptr, &so, nullptr) != NATS_OK) return -1;
    natsMsgList list{};
    int got = 0;
    if (natsSubscription_Fetch(&list, sub, n, wait_ms, nullptr) == NATS_OK) got = list.Count;
    natsMsgList_Destroy(&list);
    natsSubscription_Destroy(sub);
    return got;
  }
  // The leader of a consumer of `stream`.
  std::string ConsumerLeader(const std::string& stream, const std::string& consumer) {
    jsConsumerInfo* ci = nullptr;
    if (js_GetConsumerInfo(&ci, js_, stream.c_str(), consumer.c_str(), nullptr, nullptr) != NATS_OK) return "";
    std::string leader = ci->Cluster != nullptr && ci->Cluster->Leader != nullptr ? ci->Cluster->Leader : "";
    jsConsumerInfo_Destroy(ci);
    return leader;
  }
  // Asks the leader of `what` ("STREAM.LEADER.STEPDOWN.S" or "CONSUMER.LEADER.STEPDOWN.S.C") to
  // step down until `leader()` names `target`; true once it does.
  template <typename Leader>
  bool MoveLeader(const std::string& what, const std::string& target, Leader leader) {
    for (int attempt = 0; attempt < 30; ++attempt) {
      std::string now;
      for (int i = 0; i < 50 && now.empty(); ++i) {
        now = leader();
        if (now.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (now == target) return true;
      natsMsg* reply = nullptr;
      natsConnection_RequestString(&reply, nc_, ("$JS.API." + what).c_str(), "", 2000);
      natsMsg_Destroy(reply);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    return false;
  }
  struct Stored {
    std::string data;
    std::string msg_id;
  };
  // Every message of `stream` on `subject`, in sequence order.
  std::vector<Stored> ReadAll(const std::string& stream, const std::string& subject) {
    std::vector<Stored> out;
    jsStreamInfo* si = nullptr;
    for (int i = 0; i < 50 && js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) != NATS_OK; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (si == nullptr) return out;
    const uint64_t first = si->State.FirstSeq;
    const uint64_t last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    for (uint64_t seq = first; seq <= last && seq > 0; ++seq) {
      natsMsg* m = nullptr;
      natsStatus st = NATS_ERR;
      for (int i = 0; i < 50; ++i) {
        st = js_GetMsg(&m, js_, stream.c_str(), seq, nullptr, nullptr);
        if (st == NATS_OK || st == NATS_NOT_FOUND) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (st != NATS_OK) continue;
      if (subject == natsMsg_GetSubject(m)) {
        const char* id = nullptr;
        natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
        out.push_back(
            {std::string(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m))), id == nullptr ? "" : id});
      }
      natsMsg_Destroy(m);
    }
    return out;
  }
};

std::string Tx(int id, double amount, int64_t ts) {
  return "{\"id\":" + std::to_string(id) + ",\"card\":\"c" + std::to_string(id % 7) +
         "\",\"amount\":" + std::to_string(amount) + ",\"ts\":" + std::to_string(ts) + "}";
}

std::set<std::string> Ids(const std::vector<std::string>& events) {
  std::set<std::string> ids;
  for (const std::string& e : events) {
    const size_t at = e.find("\"id\":");
    ids.insert(e.substr(at + 5, e.find(',', at) - at - 5));
  }
  return ids;
}

class NatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (NatsServerBinary().empty()) GTEST_SKIP() << "nats-server not installed (scripts/setup.sh installs it)";
    dir_ = std::filesystem::temp_directory_path() /
           ("impulse_nats_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    servers_.clear();
    std::filesystem::remove_all(dir_);
  }

  void StartSingle() {
    servers_.push_back(std::make_unique<Server>("n1", dir_, FreeLoopbackPort(), 0, std::vector<int>{}));
    ASSERT_TRUE(servers_.back()->WaitListening(10'000));
  }
  void StartCluster() {
    const std::vector<int> client = {FreeLoopbackPort(), FreeLoopbackPort(), FreeLoopbackPort()};
    const std::vector<int> cluster = {FreeLoopbackPort(), FreeLoopbackPort(), FreeLoopbackPort()};
    for (int i = 0; i < 3; ++i) {
      std::vector<int> routes;
      for (int j = 0; j < 3; ++j) {
        if (j != i) routes.push_back(cluster[static_cast<size_t>(j)]);
      }
      servers_.push_back(std::make_unique<Server>("n" + std::to_string(i + 1), dir_, client[static_cast<size_t>(i)],
                                                  cluster[static_cast<size_t>(i)], routes));
    }
    for (auto& s : servers_) ASSERT_TRUE(s->WaitListening(10'000));
  }
  std::string Urls() const {
    std::string out;
    for (const auto& s : servers_) out += (out.empty() ? "" : ",") + s->url();
    return out;
  }

  std::string Spec(const std::string& nats_extra) const {
    return R"yaml(
streams:
  - name: tx
    fields:
      - {name: id, type: int64}
      - {name: card, type: string}
      - {name: amount, type: double}
      - {name: ts, type: timestamp}
    key: card
    event_time: ts
    partitions: 1
pipelines:
  - name: big
    from: tx
    steps:
      - filter: amount >= 100
    sink: {stream: big_tx}
nats:
  servers: )yaml" +
           Urls() + "\n  connect_timeout: 10s\n  batch_records: 50\n" + nats_extra;
  }

  EngineOptions Options() const {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.shards = 2;
    o.checkpoint_interval_ms = 200;
    return o;
  }

  static std::vector<std::string> WaitFor(const Engine& e, const std::string& stream, size_t n, int ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    std::vector<std::string> got;
    while (true) {
      got.clear();
      for (const std::string& l : testing_util::ReadAllEvents(e, stream)) {
        if (!l.empty()) got.push_back(l);
      }
      if (got.size() >= n || std::chrono::steady_clock::now() > deadline) return got;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  static inline int counter_ = 0;
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<Server>> servers_;
};

constexpr char kSource[] = R"yaml(  sources:
    - {stream: tx, subject: pay.in, jetstream_stream: PAY}
)yaml";

TEST_F(NatsTest, SourceCopiesTheSubjectAndDeadLettersBadMessagesWithTheirSequence) {
  StartSingle();
  Client c(Urls());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.AddStream("PAY", {"pay.>"}, 1), NATS_OK);
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < 60; ++i) {
    c.MustPublish("pay.in", Tx(i, i * 5.0, t0 + i), "in-" + std::to_string(i));
    // Another subject of the same JetStream stream: not copied, and its sequences leave holes.
    if (i % 10 == 0) c.MustPublish("pay.other", Tx(1000 + i, 1, t0), "other-" + std::to_string(i));
  }
  c.MustPublish("pay.in", "{\"id\":\"x\"}", "bad-1");  // sequence 67: wrong type
  c.MustPublish("pay.in", "not json", "bad-2");        // sequence 68
  auto e = Engine::OpenSpec(Spec(kSource), Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const auto events = WaitFor(**e, "tx", 60, 20'000);
  ASSERT_EQ(events.size(), 60u);
  EXPECT_EQ(Ids(events).size(), 60u);
  auto rows = (*e)->ReadRows("tx", 0, 0, 1000);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->rows.size(), 60u);
  for (size_t i = 0; i < 60; ++i) EXPECT_EQ(rows->rows.row(i)[0].i64, static_cast<int64_t>(i)) << "in order";
  const auto dead = WaitFor(**e, "_dead_letter", 2, 10'000);
  ASSERT_EQ(dead.size(), 2u);
  const std::string all = dead[0] + dead[1];
  EXPECT_NE(all.find("nats subject pay.in stream PAY sequence 67: "), std::string::npos) << all;
  EXPECT_NE(all.find("nats subject pay.in stream PAY sequence 68: "), std::string::npos) << all;
  EXPECT_EQ(WaitFor(**e, "big_tx", 40, 20'000).size(), 40u);
  // HTTP ingest into a NATS-fed stream is refused: the subject is its only writer.
  const auto r = testing_util::IngestAndWait(**e, "tx", Tx(2000, 1, t0) + "\n");
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument) << r.status.ToString();
  const std::string metrics = (*e)->MetricsText();
  EXPECT_NE(metrics.find("impulse_nats_source_records_total{stream=\"tx\",subject=\"pay.in\"} 62"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("impulse_nats_source_rejected_total{stream=\"tx\",subject=\"pay.in\"} 2"), std::string::npos);
  ASSERT_TRUE((*e)->Stop().ok());
}

TEST_F(NatsTest, ARestartResumesAfterTheLogsPositionWithNoDuplicateAndNoGap) {
  StartSingle();
  Client c(Urls());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.AddStream("PAY", {"pay.>"}, 1), NATS_OK);
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < 40; ++i) c.MustPublish("pay.in", Tx(i, 1, t0 + i), "in-" + std::to_string(i));
  {
    EngineOptions o = Options();
    auto e = Engine::OpenSpec(Spec(kSource), o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_EQ(WaitFor(**e, "tx", 40, 20'000).size(), 40u);
    ASSERT_TRUE((*e)->Stop().ok());
  }
  for (int i = 40; i < 70; ++i) c.MustPublish("pay.in", Tx(i, 1, t0 + i), "in-" + std::to_string(i));
  auto e = Engine::OpenSpec(Spec(kSource), Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ(WaitFor(**e, "tx", 70, 20'000).size(), 70u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a duplicate would arrive meanwhile
  const auto again = WaitFor(**e, "tx", 71, 0);
  EXPECT_EQ(again.size(), 70u);
  EXPECT_EQ(Ids(again).size(), 70u);
  ASSERT_TRUE((*e)->Stop().ok());
}

// The durable consumer holds deliveries no engine appended (fetched, never acknowledged, as by a
// process that crashed): the restart must still copy them, in order, not after the ack wait.
TEST_F(NatsTest, DeliveriesAConsumerHoldsUnacknowledgedAreCopiedInOrderAfterARestart) {
  StartSingle();
  Client c(Urls());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.AddStream("PAY", {"pay.>"}, 1), NATS_OK);
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < 20; ++i) c.MustPublish("pay.in", Tx(i, 1, t0 + i), "in-" + std::to_string(i));
  {
    auto e = Engine::OpenSpec(Spec(kSource), Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_EQ(WaitFor(**e, "tx", 20, 20'000).size(), 20u);
    ASSERT_TRUE((*e)->Stop().ok());
  }
  for (int i = 20; i < 50; ++i) c.MustPublish("pay.in", Tx(i, 1, t0 + i), "in-" + std::to_string(i));
  ASSERT_EQ(c.FetchWithoutAck("PAY", "impulse-tx", "pay.in", 10), 10);  // ids 20..29, pending for 60 s
  auto e = Engine::OpenSpec(Spec(kSource), Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ(WaitFor(**e, "tx", 50, 10'000).size(), 50u);
  auto rows = (*e)->ReadRows("tx", 0, 0, 1000);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->rows.size(), 50u);
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(rows->rows.row(i)[0].i64, static_cast<int64_t>(i)) << "in order";
  ASSERT_TRUE((*e)->Stop().ok());
}

// Another client pulls from the source's consumer while the engine runs and never acknowledges:
// the engine sees holes in the consumer's delivery numbering, recreates the consumer at the
// log's position and still copies every message once, in order.
TEST_F(NatsTest, DeliveriesTakenByAnotherPullAreCopiedWhenTheDeliveryNumberingHasAHole) {
  StartSingle();
  Client c(Urls());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.AddStream("PAY", {"pay.>"}, 1), NATS_OK);
  const int64_t t0 = 1'700'000'000'000;
  c.MustPublish("pay.in", Tx(0, 1, t0), "in-0");
  auto e = Engine::OpenSpec(Spec(kSource), Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ(WaitFor(**e, "tx", 1, 10'000).size(), 1u);
  std::atomic<int> stolen{0};
  std::atomic<bool> published{false};
  std::thread thief([&] {
    Client other(Urls());
    while (!published.load()) stolen += std::max(0, other.FetchWithoutAck("PAY", "impulse-tx", "pay.in", 5, 100));
  });
  for (int i = 1; i < 300; ++i) c.MustPublish("pay.in", Tx(i, 1, t0 + i), "in-" + std::to_string(i));
  published = true;
  thief.join();
  ASSERT_EQ(WaitFor(**e, "tx", 300, 20'000).size(), 300u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto rows = (*e)->ReadRows("tx", 0, 0, 1000);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->rows.size(), 300u) << "no duplicate";
  for (size_t i = 0; i < 300; ++i) EXPECT_EQ(rows->rows.row(i)[0].i64, static_cast<int64_t>(i)) << "in order";
  const std::string metrics = (*e)->MetricsText();
  std::printf("the other client took %d deliveries\n", stolen.load());
  if (stolen.load() > 0) {
    EXPECT_EQ(metrics.find("impulse_nats_consumer_resets_total{stream=\"tx\",subject=\"pay.in\"} 1\n"),
              std::string::npos)
        << "the consumer was recreated after the hole\n"
        << metrics;
  }
  ASSERT_TRUE((*e)->Stop().ok());
}

constexpr char kSourceAndSink[] = R"yaml(  sources:
    - {stream: tx, subject: pay.in}
  sinks:
    - {stream: big_tx, subject: alerts.big}
)yaml";

TEST_F(NatsTest, SinkPublishesEachOutputOnceAcrossRestartsWithItsMessageId) {
  StartSingle();
  Client c(Urls());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.AddStream("PAY", {"pay.>"}, 1), NATS_OK);
  ASSERT_EQ(c.AddStream("ALERTS", {"alerts.>"}, 1), NATS_OK);
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < 100; ++i) {
    c.MustPublish("pay.in", Tx(i, i % 2 == 0 ? 150 : 50, t0 + i), "in-" + std::to_string(i));
  }
  {
    auto e = Engine::OpenSpec(Spec(kSourceAndSink), Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_EQ(WaitFor(**e, "big_tx", 50, 20'000).size(), 50u);
    ASSERT_TRUE((*e)->Stop().ok());
  }
  for (int i = 100; i < 200; ++i) {
    c.MustPublish("pay.in", Tx(i, i % 2 == 0 ? 150 : 50, t0 + i), "in-" + std::to_string(i));
  }
  {
    auto e = Engine::OpenSpec(Spec(kSourceAndSink), Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ASSERT_EQ(WaitFor(**e, "big_tx", 100, 20'000).size(), 100u);
    ASSERT_TRUE((*e)->Stop().ok());
  }
  const auto out = c.ReadAll("ALERTS", "alerts.big");
  ASSERT_EQ(out.size(), 100u) << "every output once: no loss, no duplicate";
  std::vector<std::string> values;
  std::set<std::string> ids;
  for (const auto& m : out) {
    values.push_back(m.data);
    ids.insert(m.msg_id);
    EXPECT_NE(m.data.find("\"amount\":150"), std::string::npos) << m.data;
    EXPECT_EQ(m.msg_id.rfind("alerts.big/big_tx/0/", 0), 0u) << m.msg_id;  // subject/stream/partition/offset
  }
  EXPECT_EQ(Ids(values).size(), 100u);
  EXPECT_EQ(ids.size(), 100u);
}

// Copy and publish rates on one local server (NATS_TEST_EVENTS events, 2 000 by default): the
// source's pulls of batch_records messages against the sink's one round trip per row. Asserts
// that every event is copied and published once; prints the rates (docs/CONNECTORS.md).
TEST_F(NatsTest, RatesOnOneServer) {
  StartSingle();
  Client c(Urls());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.AddStream("PAY", {"pay.>"}, 1), NATS_OK);
  ASSERT_EQ(c.AddStream("ALERTS", {"alerts.>"}, 1), NATS_OK);
  const char* env = std::getenv("NATS_TEST_EVENTS");
  const int n = env != nullptr ? std::atoi(env) : 2000;  // small by default: the suite runs it under TSan
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < n; ++i) c.MustPublish("pay.in", Tx(i, 150, t0 + i), "in-" + std::to_string(i));
  const std::string spec = Spec(kSourceAndSink);
  const std::string big = "batch_records: 50";
  std::string fast = spec;
  fast.replace(fast.find(big), big.size(), "batch_records: 1000");
  const auto start = std::chrono::steady_clock::now();
  auto e = Engine::OpenSpec(fast, Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ(WaitFor(**e, "tx", static_cast<size_t>(n), 120'000).size(), static_cast<size_t>(n));
  const double copy_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string done =
      "impulse_nats_sink_records_total{stream=\"big_tx\",subject=\"alerts.big\"} " + std::to_string(n) + "\n";
  bool published = false;
  for (int i = 0; i < 6000 && !published; ++i) {
    published = (*e)->MetricsText().find(done) != std::string::npos;
    if (!published) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double sink_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(published) << "the sink published every output";
  ASSERT_TRUE((*e)->Stop().ok());
  EXPECT_EQ(c.ReadAll("ALERTS", "alerts.big").size(), static_cast<size_t>(n));
  std::printf("%d events: copied in %.2f s (%.0f events/s); all published by %.2f s (%.0f rows/s end to end)\n", n,
              copy_s, n / copy_s, sink_s, n / sink_s);
}

// The only server is killed and started again on its store while events flow: the engine's
// connection comes back (nats.c reconnects), and every event is copied and published once.
TEST_F(NatsTest, AServerRestartMidStreamLosesAndDuplicatesNothing) {
  StartSingle();
  auto c = std::make_unique<Client>(Urls());
  ASSERT_TRUE(c->ok());
  ASSERT_EQ(c->AddStream("PAY", {"pay.>"}, 1), NATS_OK);
  ASSERT_EQ(c->AddStream("ALERTS", {"alerts.>"}, 1), NATS_OK);
  auto e = Engine::OpenSpec(Spec(kSourceAndSink), Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < 100; ++i) c->MustPublish("pay.in", Tx(i, 150, t0 + i), "in-" + std::to_string(i));
  const int port = servers_[0]->port();
  servers_[0]->Kill(SIGKILL);
  servers_[0] = std::make_unique<Server>("n1", dir_, port, 0, std::vector<int>{});
  ASSERT_TRUE(servers_[0]->WaitListening(10'000));
  for (int i = 100; i < 200; ++i) c->MustPublish("pay.in", Tx(i, 150, t0 + i), "in-" + std::to_string(i));
  ASSERT_EQ(WaitFor(**e, "tx", 200, 30'000).size(), 200u);
  const std::string done = "impulse_nats_sink_records_total{stream=\"big_tx\",subject=\"alerts.big\"} 200\n";
  for (int i = 0; i < 1500 && (*e)->MetricsText().find(done) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto rows = (*e)->ReadRows("tx", 0, 0, 1000);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->rows.size(), 200u) << "no duplicate";
  for (size_t i = 0; i < 200; ++i) EXPECT_EQ(rows->rows.row(i)[0].i64, static_cast<int64_t>(i)) << "in order";
  const std::string metrics = (*e)->MetricsText();
  EXPECT_NE(metrics.find("impulse_nats_reconnects_total{servers=\"" + Urls() + "\"} 1"), std::string::npos) << metrics;
  ASSERT_TRUE((*e)->Stop().ok());
  const auto out = c->ReadAll("ALERTS", "alerts.big");
  std::vector<std::string> values;
  for (const auto& m : out) values.push_back(m.data);
  EXPECT_EQ(out.size(), 200u);
  EXPECT_EQ(Ids(values).size(), 200u);
}

// The sink's position is the last message of its subject: a message someone else published there
// is refused at start with the reason, not taken as a position.
TEST_F(NatsTest, ASinkSubjectWrittenBySomeoneElseIsAClearError) {
  StartSingle();
  Client c(Urls());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.AddStream("PAY", {"pay.>"}, 1), NATS_OK);
  ASSERT_EQ(c.AddStream("ALERTS", {"alerts.>"}, 1), NATS_OK);
  c.MustPublish("alerts.big", "{\"id\":1}", "foreign-1");
  auto e = Engine::OpenSpec(Spec(kSourceAndSink), Options());
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition) << e.status().ToString();
  EXPECT_NE(e.status().message().find("has no Impulse-Positions header: the subject must be written by this sink only"),
            std::string::npos)
      << e.status().ToString();
}

TEST_F(NatsTest, AnUnreachableServerIsNamedAtStart) {
  const std::string spec = R"yaml(
streams:
  - name: tx
    fields: [{name: id, type: int64}]
    partitions: 1
nats:
  servers: nats://127.0.0.1:1
  connect_timeout: 1s
  sources: [{stream: tx, subject: t}]
)yaml";
  auto e = Engine::OpenSpec(spec, Options());
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kUnavailable) << e.status().ToString();
  EXPECT_NE(e.status().message().find("nats://127.0.0.1:1 unreachable"), std::string::npos) << e.status().ToString();
}

TEST_F(NatsTest, AMissingJetStreamStreamIsAClearError) {
  StartSingle();
  auto e = Engine::OpenSpec(Spec("  sources: [{stream: tx, subject: nowhere.in}]\n"), Options());
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("no JetStream stream holds subject nowhere.in"), std::string::npos)
      << e.status().ToString();
}

// Three servers, R3 streams; the input stream's leader is killed while events flow in. Every
// event whose publish was acknowledged is copied once and published once by the sink.
TEST_F(NatsTest, ClusterLeaderKilledMidStreamEveryAcknowledgedEventOnceInTheSink) {
  StartCluster();
  Client c(Urls());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.AddStream("PAY", {"pay.>"}, 3), NATS_OK);
  ASSERT_EQ(c.AddStream("ALERTS", {"alerts.>"}, 3), NATS_OK);
  auto e = Engine::OpenSpec(Spec(kSourceAndSink), Options());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t t0 = 1'700'000'000'000;
  constexpr int kEvents = 600;
  std::set<int> acked;
  for (int i = 0; i < kEvents; ++i) {
    if (i == kEvents / 3) {
      // The source's consumer and the sink's stream are led by the same server as the input
      // stream, so its death interrupts all three.
      const std::string leader = c.Leader("PAY");
      ASSERT_FALSE(leader.empty());
      ASSERT_TRUE(c.MoveLeader("CONSUMER.LEADER.STEPDOWN.PAY.impulse-tx", leader,
                               [&] { return c.ConsumerLeader("PAY", "impulse-tx"); }));
      ASSERT_TRUE(c.MoveLeader("STREAM.LEADER.STEPDOWN.ALERTS", leader, [&] { return c.Leader("ALERTS"); }));
      ASSERT_EQ(c.Leader("PAY"), leader);
      for (auto& s : servers_) {
        if (s->name() == leader) s->Kill(SIGKILL);
      }
    }
    // Retried through the election with the same message id (stored once); an event never
    // acknowledged may or may not be stored, and is not checked.
    for (int attempt = 0; attempt < 100; ++attempt) {
      if (c.Publish("pay.in", Tx(i, 150, t0 + i), "in-" + std::to_string(i))) {
        acked.insert(i);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(acked.size(), static_cast<size_t>(kEvents)) << "the cluster elected a new leader";
  (void)WaitFor(**e, "tx", acked.size(), 60'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const auto tx = WaitFor(**e, "tx", kEvents + 1, 0);
  std::set<int> seen;
  for (const std::string& id : Ids(tx)) seen.insert(std::stoi(id));
  EXPECT_EQ(seen.size(), tx.size()) << "no event copied twice";
  for (int id : acked) EXPECT_EQ(seen.count(id), 1u) << "acknowledged event " << id << " not copied";
  // The sink catches up to the checkpoint's end: wait for it, then read the subject.
  std::vector<Client::Stored> out;
  for (int i = 0; i < 300; ++i) {
    out = c.ReadAll("ALERTS", "alerts.big");
    if (out.size() >= tx.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string nats_metrics;
  std::istringstream metrics((*e)->MetricsText());
  for (std::string line; std::getline(metrics, line);) {
    if (line.rfind("impulse_nats_", 0) == 0) nats_metrics += "  " + line + "\n";
  }
  ASSERT_TRUE((*e)->Stop().ok());
  out = c.ReadAll("ALERTS", "alerts.big");
  std::vector<std::string> values;
  for (const auto& m : out) values.push_back(m.data);
  EXPECT_EQ(out.size(), tx.size()) << "each copied event once in the sink";
  EXPECT_EQ(Ids(values).size(), out.size()) << "no duplicate in the sink";
  for (int id : acked) EXPECT_EQ(Ids(values).count(std::to_string(id)), 1u) << id;
  std::printf("acknowledged %zu of %d publishes; %zu copied; %zu in the sink\n%s", acked.size(), kEvents, tx.size(),
              out.size(), nats_metrics.c_str());
}

// nats.c's global state (its timers and threads) released once, after every test.
class NatsLibrary : public ::testing::Environment {
 public:
  void TearDown() override { nats_CloseAndWait(5000); }
};
const auto* const kNatsLibrary = ::testing::AddGlobalTestEnvironment(new NatsLibrary);

}  // namespace
}  // namespace impulse
