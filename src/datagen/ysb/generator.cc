#include "datagen/ysb/generator.h"

#include <array>
#include <cmath>
#include <iterator>

#include "datagen/splitmix.h"

namespace impulse::ysb {
namespace {

// Distinct salts keep the per-event streams and the id tables independent.
constexpr uint64_t kEventSalt = 0x7973622D6576656EULL;
constexpr uint64_t kIdSalt = 0x7973622D69647331ULL;
constexpr uint32_t kMaxTableSize = 1'000'000;

using Rng = datagen::SplitMixStream;

// `n` UUIDs of one table (`table` numbers the tables so they never share ids).
std::vector<std::string> MakeIds(uint64_t seed, uint64_t table, uint32_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  Rng rng(seed, kIdSalt, table);
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t hi = rng.Next();
    ids.push_back(UuidString(hi, rng.Next()));
  }
  return ids;
}

}  // namespace

std::string UuidString(uint64_t hi, uint64_t lo) {
  hi = (hi & ~uint64_t{0xF000}) | 0x4000;                    // version 4
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{8} << 60);  // variant 10xx
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(36, '-');
  size_t at = 0;
  auto put = [&](uint64_t v, int nibbles) {
    for (int k = nibbles - 1; k >= 0; --k) s[at++] = kHex[(v >> (4 * k)) & 0xF];
  };
  put(hi >> 32, 8);
  ++at;
  put(hi >> 16, 4);
  ++at;
  put(hi, 4);
  ++at;
  put(lo >> 48, 4);
  ++at;
  put(lo, 12);
  return s;
}

Status ValidateConfig(const GeneratorConfig& c) {
  if (!(c.events_per_second > 0 && c.events_per_second <= 1e9)) {
    return InvalidArgument("events_per_second must be in (0, 1e9]");
  }
  if (c.first_event_ms < 0 || c.first_event_ms > 200'000'000'000'000) {
    return InvalidArgument("first_event_ms must be in [0, 2e14]");
  }
  if (c.num_campaigns < 1 || c.num_campaigns > kMaxTableSize) return InvalidArgument("num_campaigns must be 1..1e6");
  if (c.ads_per_campaign < 1 || c.ads_per_campaign > kMaxTableSize) {
    return InvalidArgument("ads_per_campaign must be 1..1e6");
  }
  if (uint64_t{c.num_campaigns} * c.ads_per_campaign > kMaxTableSize) {
    return InvalidArgument("num_campaigns * ads_per_campaign must be at most 1e6");
  }
  if (c.num_users < 1 || c.num_users > kMaxTableSize) return InvalidArgument("num_users must be 1..1e6");
  if (c.num_pages < 1 || c.num_pages > kMaxTableSize) return InvalidArgument("num_pages must be 1..1e6");
  return Status::OK();
}

Result<Generator> Generator::Create(const GeneratorConfig& config) {
  RETURN_IF_ERROR(ValidateConfig(config));
  return Generator(config);
}

Generator::Generator(const GeneratorConfig& config)
    : config_(config),
      campaign_ids_(MakeIds(config.seed, 0, config.num_campaigns)),
      ad_ids_(MakeIds(config.seed, 1, config.num_campaigns * config.ads_per_campaign)),
      user_ids_(MakeIds(config.seed, 2, config.num_users)),
      page_ids_(MakeIds(config.seed, 3, config.num_pages)) {}

int64_t Generator::OffsetUsAt(uint64_t index) const {
  return static_cast<int64_t>(std::floor(static_cast<double>(index) * 1e6 / config_.events_per_second));
}

int64_t Generator::TimestampAt(uint64_t index) const { return config_.first_event_ms + OffsetUsAt(index) / 1000; }

void Generator::EventAt(uint64_t index, AdEvent* out) const {
  IMPULSE_CHECK(index < kMaxEventIndex);
  Rng rng(config_.seed, kEventSalt, index);
  out->user_id = user_ids_[rng.Below(config_.num_users)];
  out->page_id = page_ids_[rng.Below(config_.num_pages)];
  out->ad_index = rng.Below(num_ads());
  out->ad_id = ad_ids_[out->ad_index];
  out->ad_type = kAdTypes[rng.Below(static_cast<uint32_t>(std::size(kAdTypes)))];
  out->event_type_index = rng.Below(static_cast<uint32_t>(std::size(kEventTypes)));
  out->event_type = kEventTypes[out->event_type_index];
  out->event_time = TimestampAt(index);
  out->ip_address = kIpAddress;
}

}  // namespace impulse::ysb
