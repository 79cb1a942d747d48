// Yahoo Streaming Benchmark (YSB) ad event generator: the ad events and the ad -> campaign
// table of the benchmark's data generator (github yahoo/streaming-benchmarks, data/src/setup/
// core.clj), with the deviations listed in docs/YSB.md.
//
// Every event is a pure function of (config, event index), drawn from a small PRNG seeded with
// (seed, index), and event i's event time is its place on a fixed-rate schedule
// (TimestampAt). The ids (campaigns, ads, users, pages) are UUID strings made from the seed
// once, at Create; an event refers to them, so generating one copies nothing. A Generator is
// immutable after Create and may be shared by any number of threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "impulse/status.h"

namespace impulse::ysb {

// Event indexes at or above this are rejected (keeps timestamps far from int64 / double limits).
inline constexpr uint64_t kMaxEventIndex = uint64_t{1} << 48;

// The benchmark's fixed value sets, in the original generator's order.
inline constexpr std::string_view kAdTypes[] = {"banner", "modal", "sponsored-search", "mail", "mobile"};
inline constexpr std::string_view kEventTypes[] = {"view", "click", "purchase"};
inline constexpr std::string_view kIpAddress = "1.2.3.4";  // the original sends this one address
// The campaign table's rows are valid until 9999-12-31T23:59:59.999Z (bench/ysb/ysb.yaml's
// `valid_until`, the table stream's event time): the table never holds a watermark back.
inline constexpr int64_t kTableValidUntilMs = 253'402'300'799'999;

struct GeneratorConfig {
  // The same seed gives the same ids and events. Default 0.
  uint64_t seed = 0;
  // Event i happens at first_event_ms + OffsetUsAt(i) / 1000 (whole ms). Range
  // (0, 1e9]. Default 100'000. It spaces timestamps; pacing is the caller's (the benchmark
  // driver sends event i at that instant of the wall clock).
  double events_per_second = 100'000;
  // Event time of event 0, in ms since the Unix epoch. Default 2024-01-01T00:00:00Z.
  int64_t first_event_ms = 1'704'067'200'000;
  // The original's sizes: 100 campaigns of 10 ads, 100 users, 100 pages. Ranges 1..1'000'000
  // each (campaigns * ads_per_campaign too).
  uint32_t num_campaigns = 100;
  uint32_t ads_per_campaign = 10;
  uint32_t num_users = 100;
  uint32_t num_pages = 100;
};

// kInvalidArgument naming the first field out of its documented range.
Status ValidateConfig(const GeneratorConfig& config);

// One ad event. The strings view the Generator's id tables and the constant value sets: valid
// while the Generator lives.
struct AdEvent {
  std::string_view user_id;
  std::string_view page_id;
  std::string_view ad_id;
  std::string_view ad_type;
  std::string_view event_type;
  int64_t event_time = 0;  // ms since the Unix epoch
  std::string_view ip_address;
  uint32_t ad_index = 0;          // ad_id == Generator::ad_id(ad_index)
  uint32_t event_type_index = 0;  // event_type == kEventTypes[event_type_index]; 0 = view
};

class Generator {
 public:
  static Result<Generator> Create(const GeneratorConfig& config);

  const GeneratorConfig& config() const { return config_; }

  // Event `index` (< kMaxEventIndex): user, page, ad, ad type and event type uniform over their
  // sets, independently (as in the original); event time TimestampAt(index).
  void EventAt(uint64_t index, AdEvent* out) const;
  int64_t TimestampAt(uint64_t index) const;
  // Event `index`'s place on the schedule, in us after event 0: floor(index * 1e6 /
  // events_per_second) (IEEE double arithmetic). TimestampAt is first_event_ms + this / 1000.
  int64_t OffsetUsAt(uint64_t index) const;

  // The campaign table: ad a belongs to campaign a / ads_per_campaign (the original splits its
  // ad list into consecutive groups of 10, one per campaign).
  uint32_t num_ads() const { return static_cast<uint32_t>(ad_ids_.size()); }
  const std::string& ad_id(uint32_t ad) const { return ad_ids_[ad]; }
  const std::string& campaign_id(uint32_t campaign) const { return campaign_ids_[campaign]; }
  uint32_t CampaignOfAd(uint32_t ad) const { return ad / config_.ads_per_campaign; }

 private:
  explicit Generator(const GeneratorConfig& config);

  GeneratorConfig config_;
  std::vector<std::string> campaign_ids_, ad_ids_, user_ids_, page_ids_;
};

// A random (version 4) UUID string made from 128 random bits (hi, lo), e.g.
// "0b1e4c5a-6f2d-4e8b-9a3c-5d7e9f1a2b3c".
std::string UuidString(uint64_t hi, uint64_t lo);

}  // namespace impulse::ysb
