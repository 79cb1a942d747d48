// A group of instances (docs/SCALE_OUT.md): this process's share of the spec's Kafka partitions.
// The runner alone joins the consumer group; for each topic partition k it is assigned it runs a
// member engine (every stream one partition, data under DATA/member-<k>), restored from the
// newest snapshot of partition k in the spec's state topic. After each checkpoint a member's
// snapshot is written to that topic in a transaction whose id is the partition's (so a new owner
// fences the old one), and only then are the checkpoint's outputs released to the Kafka sinks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "impulse/engine.h"
#include "impulse/status.h"
#include "server/group_lookups.h"

namespace impulse::connect {

struct GroupOptions {
  std::string spec_path;
  // For every member: data_dir is the parent of the members' directories.
  EngineOptions engine;
  // A snapshot travels in records of at most this many bytes (under the brokers' message.max.bytes).
  uint32_t chunk_bytes = 512u << 10;
  // A larger snapshot is not written (counted in impulse_group_snapshots_failed_total, said);
  // the partition's previous snapshot stays the one a new owner restores.
  uint64_t snapshot_bytes_max = 1ull << 30;
  // Lookups (docs/SCALE_OUT.md, "Lookups"): this instance's URL, written as the owner of each
  // partition it runs (also settable later: Group::Advertise); the bearer token the instances
  // share; how long a forwarded lookup may take; how long the owners read from the state topic
  // are trusted, and how long reading them may take.
  std::string advertise_url;
  std::string bearer_token;
  int64_t forward_timeout_ms = 2'000;
  int64_t owners_cache_ms = 3'000;
  int64_t owners_read_timeout_ms = 5'000;
};

// One member's numbers, for metrics and tests.
struct MemberInfo {
  int32_t partition = -1;
  uint64_t restored_checkpoint = 0;  // 0: started with no snapshot
  uint64_t restored_bytes = 0;
  int64_t restore_ms = 0;  // fence + read the snapshot + write it + open the engine
  uint64_t published_checkpoint = 0;
};

class Group {
 public:
  virtual ~Group() = default;
  // Joins the group and returns; members start and stop as partitions are assigned and revoked.
  static Result<std::unique_ptr<Group>> Start(const GroupOptions& options);
  // Leaves the group: each member takes a last checkpoint, writes its snapshot and stops.
  virtual Status Stop() = 0;
  virtual std::vector<MemberInfo> Members() const = 0;
  // Not OK once the instance gave up (a member that can never start: the spec or the topics do
  // not suit a member); the caller should then Stop and exit, which hands the partitions over.
  virtual Status failure() const = 0;
  // Prometheus text: the runner's own metrics, then each member engine's, labelled member="<k>".
  virtual std::string MetricsText() const = 0;
  // The instance as one Engine for the HTTP server: reads and lookups answered by the members this
  // instance runs (stream partition k is member k's), metrics of all, ingest refused (in a group
  // events come from the topic). Valid until the Group is destroyed.
  virtual Engine* engine() = 0;
  // Lookups over the whole group for the HTTP server (HttpServerOptions::group_lookups): what
  // the members here do not hold is forwarded to the owners of the other partitions.
  virtual server::GroupLookups* lookups() = 0;
  // Sets the URL other instances forward lookups to (once the HTTP server has its port) and
  // records this instance as the owner of the partitions it runs.
  virtual void Advertise(std::string url) = 0;
};

}  // namespace impulse::connect
