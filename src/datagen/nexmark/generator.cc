#include "datagen/nexmark/generator.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <string_view>

#include "datagen/splitmix.h"

namespace impulse::nexmark {
namespace {

// Distinct salts keep the per-event streams and the per-channel streams independent.
constexpr uint64_t kEventSalt = 0x6E65786D61726B31ULL;
constexpr uint64_t kChannelSalt = 0x6368616E6E656C73ULL;

using Rng = datagen::SplitMixStream;

constexpr std::array<std::string_view, 6> kUsStates = {"AZ", "CA", "ID", "OR", "WA", "WY"};
constexpr std::array<std::string_view, 10> kUsCities = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
                                                        "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
constexpr std::array<std::string_view, 11> kFirstNames = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                                          "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
constexpr std::array<std::string_view, 9> kLastNames = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                                        "Walton", "Smith",  "Jones",   "Noris"};
constexpr std::array<std::string_view, 4> kHotChannels = {"Google", "Facebook", "Baidu", "Apple"};
constexpr uint32_t kHotChannelRatio = 2;
constexpr uint32_t kNumChannels = 10'000;
constexpr uint32_t kMinStringLength = 3;

template <size_t N>
std::string_view Pick(Rng& rng, const std::array<std::string_view, N>& items) {
  return items[rng.Below(static_cast<uint32_t>(N))];
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

// Appends a random string of kMinStringLength..max_len-1 characters: lowercase letters, with
// `spacer` about one time in 13; a space spacer is trimmed from both ends of what was appended.
void AppendRandomString(Rng& rng, uint32_t max_len, char spacer, std::string* out) {
  const size_t start = out->size();
  uint32_t len = kMinStringLength + rng.Below(max_len - kMinStringLength);
  while (len-- > 0) {
    // One draw per character: the high half picks spacer-or-letter, the low half the letter.
    const uint64_t r = rng.Next();
    const bool is_spacer = (((r >> 32) * 13) >> 32) == 0;
    out->push_back(is_spacer ? spacer : static_cast<char>('a' + (((r & 0xFFFFFFFFULL) * 26) >> 32)));
  }
  if (spacer != ' ') return;
  size_t end = out->size();
  while (end > start && (*out)[end - 1] == ' ') --end;
  out->resize(end);
  size_t first = start;
  while (first < end && (*out)[first] == ' ') ++first;
  out->erase(start, first - start);
}

// Sets `out` to letters so that current_bytes + out->size() averages avg_bytes: a uniform size
// in [d - round(d/5), d + round(d/5)) where d = avg_bytes - current_bytes; empty if the event
// is already larger than the average.
void AssignExtra(Rng& rng, uint32_t current_bytes, uint32_t avg_bytes, std::string* out) {
  out->clear();
  if (current_bytes > avg_bytes) return;
  const uint32_t d = avg_bytes - current_bytes;
  const auto delta = static_cast<uint32_t>(std::llround(d * 0.2));
  const uint32_t size = d - delta + (delta == 0 ? 0 : rng.Below(2 * delta));
  out->resize(size);
  char* p = out->data();
  // Each 32-bit half of a draw, read as a fraction, gives 6 base-26 digits (26^6 < 2^32):
  // multiply by 26, the carry is the digit, the low 32 bits the remaining fraction. No division
  // and no per-character capacity check: this loop is most of the generator's time.
  uint32_t left = size;
  while (left > 0) {
    const uint64_t r = rng.Next();
    for (uint64_t x : {uint64_t{r >> 32}, uint64_t{r & 0xFFFFFFFFULL}}) {
      for (int k = 0; k < 6 && left > 0; ++k, --left) {
        x *= 26;
        *p++ = static_cast<char>('a' + (x >> 32));
        x &= 0xFFFFFFFFULL;
      }
    }
  }
}

// Base-0 id rules (the reference counts ids from 0 and adds the first id at the end).
// The last person generated at or before event `i` (its own id if `i` is a person).
int64_t LastBase0PersonId(uint64_t i) {
  const auto epoch = static_cast<int64_t>(i / kTotalProportion);
  auto offset = static_cast<int64_t>(i % kTotalProportion);
  if (offset >= static_cast<int64_t>(kPersonProportion)) offset = kPersonProportion - 1;
  return epoch * static_cast<int64_t>(kPersonProportion) + offset;
}

// The last auction generated at or before event `i`; -1 before the first auction.
int64_t LastBase0AuctionId(uint64_t i) {
  auto epoch = static_cast<int64_t>(i / kTotalProportion);
  auto offset = static_cast<int64_t>(i % kTotalProportion);
  if (offset < static_cast<int64_t>(kPersonProportion)) {
    --epoch;  // a person: the previous block's last auction
    offset = kAuctionProportion - 1;
  } else if (offset >= static_cast<int64_t>(kPersonProportion + kAuctionProportion)) {
    offset = kAuctionProportion - 1;  // a bid: this block's last auction
  } else {
    offset -= kPersonProportion;
  }
  return epoch * static_cast<int64_t>(kAuctionProportion) + offset;
}

// A random person among the last `active` ones, or up to kPersonIdLead past the last one.
int64_t RandomBase0PersonId(Rng& rng, uint64_t i, uint32_t num_active_people) {
  const int64_t num_people = LastBase0PersonId(i) + 1;
  const int64_t active = std::min<int64_t>(num_people, num_active_people);
  const auto n = static_cast<int64_t>(rng.Below64(static_cast<uint64_t>(active + kPersonIdLead)));
  return num_people - active + n;
}

// A random auction among the last `in_flight` ones, or up to kAuctionIdLead past the last one.
int64_t RandomBase0AuctionId(Rng& rng, uint64_t i, uint32_t num_in_flight) {
  const int64_t last = LastBase0AuctionId(i);
  const int64_t min = std::max<int64_t>(last - num_in_flight, 0);
  return min + static_cast<int64_t>(rng.Below64(static_cast<uint64_t>(last - min + 1 + kAuctionIdLead)));
}

int64_t Price(Rng& rng) { return std::llround(std::pow(10.0, rng.NextDouble() * 6.0) * 100.0); }

// "https://www.nexmark.com/xxx/xxx/xxx/item.htm?query=1" with three short random path parts.
void AppendBaseUrl(Rng& rng, std::string* out) {
  out->append("https://www.nexmark.com/");
  for (int k = 0; k < 3; ++k) {
    AppendRandomString(rng, 5, '_', out);
    out->push_back('/');
  }
  out->append("item.htm?query=1");
}

uint32_t ReverseBits32(uint32_t v) {
  uint32_t r = 0;
  for (int k = 0; k < 32; ++k, v >>= 1) r = (r << 1) | (v & 1);
  return r;
}

}  // namespace

Status ValidateConfig(const GeneratorConfig& c) {
  if (!(c.events_per_second > 0 && c.events_per_second <= 1e9)) {
    return InvalidArgument("events_per_second must be in (0, 1e9]");
  }
  // Bounded so that event times stay in the 4-digit-year range of ISO output for any
  // realistic run (2e14 ms is year 8307).
  if (c.first_event_ms < 0 || c.first_event_ms > 200'000'000'000'000) {
    return InvalidArgument("first_event_ms must be in [0, 2e14]");
  }
  auto ratio_ok = [](uint32_t r) { return r >= 1 && r <= 1'000'000; };
  if (!ratio_ok(c.hot_auction_ratio)) return InvalidArgument("hot_auction_ratio must be in 1..1000000");
  if (!ratio_ok(c.hot_bidder_ratio)) return InvalidArgument("hot_bidder_ratio must be in 1..1000000");
  if (!ratio_ok(c.hot_seller_ratio)) return InvalidArgument("hot_seller_ratio must be in 1..1000000");
  constexpr uint32_t kMaxAvgBytes = 1 << 20;
  if (c.avg_person_bytes > kMaxAvgBytes) return InvalidArgument("avg_person_bytes must be <= 1048576");
  if (c.avg_auction_bytes > kMaxAvgBytes) return InvalidArgument("avg_auction_bytes must be <= 1048576");
  if (c.avg_bid_bytes > kMaxAvgBytes) return InvalidArgument("avg_bid_bytes must be <= 1048576");
  if (c.num_active_people < 1 || c.num_active_people > 1'000'000'000) {
    return InvalidArgument("num_active_people must be in 1..1000000000");
  }
  if (c.num_in_flight_auctions < 1 || c.num_in_flight_auctions > 1'000'000'000) {
    return InvalidArgument("num_in_flight_auctions must be in 1..1000000000");
  }
  return Status::OK();
}

int64_t Event::date_time() const {
  switch (kind) {
    case Kind::kPerson: return person.date_time;
    case Kind::kAuction: return auction.date_time;
    case Kind::kBid: return bid.date_time;
  }
  return 0;
}

const char* KindName(Event::Kind kind) {
  switch (kind) {
    case Event::Kind::kPerson: return "person";
    case Event::Kind::kAuction: return "auction";
    case Event::Kind::kBid: return "bid";
  }
  return "unknown";
}

Event::Kind KindAt(uint64_t event_index) {
  const uint64_t rem = event_index % kTotalProportion;
  if (rem < kPersonProportion) return Event::Kind::kPerson;
  if (rem < kPersonProportion + kAuctionProportion) return Event::Kind::kAuction;
  return Event::Kind::kBid;
}

int64_t LastPersonIdAt(uint64_t event_index) { return LastBase0PersonId(event_index) + kFirstPersonId; }
int64_t LastAuctionIdAt(uint64_t event_index) { return LastBase0AuctionId(event_index) + kFirstAuctionId; }

Result<Generator> Generator::Create(const GeneratorConfig& config) {
  RETURN_IF_ERROR(ValidateConfig(config));
  return Generator(config);
}

Generator::Generator(const GeneratorConfig& config)
    : config_(config), inter_event_delay_us_(1e6 / config.events_per_second) {
  IMPULSE_CHECK(ValidateConfig(config).ok());
}

int64_t Generator::TimestampAt(uint64_t event_index) const {
  return config_.first_event_ms + static_cast<int64_t>(static_cast<double>(event_index) * inter_event_delay_us_) / 1000;
}

void Generator::EventAt(uint64_t event_index, Event* out) const {
  IMPULSE_CHECK(event_index < kMaxEventIndex);
  const int64_t ts = TimestampAt(event_index);
  out->kind = KindAt(event_index);
  switch (out->kind) {
    case Event::Kind::kPerson: PersonAt(event_index, ts, &out->person); break;
    case Event::Kind::kAuction: AuctionAt(event_index, ts, &out->auction); break;
    case Event::Kind::kBid: BidAt(event_index, ts, &out->bid); break;
  }
}

void Generator::PersonAt(uint64_t i, int64_t ts, Person* p) const {
  Rng rng(config_.seed, kEventSalt, i);
  p->id = LastBase0PersonId(i) + kFirstPersonId;
  p->name.assign(Pick(rng, kFirstNames));
  p->name.push_back(' ');
  p->name.append(Pick(rng, kLastNames));
  p->email_address.clear();
  AppendRandomString(rng, 7, ' ', &p->email_address);
  p->email_address.push_back('@');
  AppendRandomString(rng, 5, ' ', &p->email_address);
  p->email_address.append(".com");
  p->credit_card.clear();
  for (int group = 0; group < 4; ++group) {
    if (group > 0) p->credit_card.push_back(' ');
    uint32_t v = rng.Below(10'000);
    char digits[4];
    for (int k = 3; k >= 0; --k, v /= 10) digits[k] = static_cast<char>('0' + v % 10);
    p->credit_card.append(digits, 4);
  }
  p->city.assign(Pick(rng, kUsCities));
  p->state.assign(Pick(rng, kUsStates));
  p->date_time = ts;
  const auto current = static_cast<uint32_t>(8 + p->name.size() + p->email_address.size() + p->credit_card.size() +
                                             p->city.size() + p->state.size());
  AssignExtra(rng, current, config_.avg_person_bytes, &p->extra);
}

void Generator::AuctionAt(uint64_t i, int64_t ts, Auction* a) const {
  Rng rng(config_.seed, kEventSalt, i);
  a->id = LastBase0AuctionId(i) + kFirstAuctionId;
  int64_t seller;
  if (rng.Below(config_.hot_seller_ratio) > 0) {
    seller = (LastBase0PersonId(i) / kHotIdBlock) * kHotIdBlock;
  } else {
    seller = RandomBase0PersonId(rng, i, config_.num_active_people);
  }
  a->seller = seller + kFirstPersonId;
  a->category = kFirstCategoryId + rng.Below(kNumCategories);
  a->initial_bid = Price(rng);
  // Length: uniform in [1, 2h] ms, h being the time until num_in_flight_auctions more auctions
  // have been generated, so about that many are open at any time.
  const uint64_t events_until = uint64_t{config_.num_in_flight_auctions} * kTotalProportion / kAuctionProportion;
  const int64_t horizon_ms = TimestampAt(i + events_until) - ts;
  a->date_time = ts;
  a->expires = ts + 1 + static_cast<int64_t>(rng.Below64(static_cast<uint64_t>(std::max<int64_t>(horizon_ms * 2, 1))));
  a->item_name.clear();
  AppendRandomString(rng, 20, ' ', &a->item_name);
  a->description.clear();
  AppendRandomString(rng, 100, ' ', &a->description);
  a->reserve = a->initial_bid + Price(rng);
  const auto current = static_cast<uint32_t>(8 + a->item_name.size() + a->description.size() + size_t{5} * 8);
  AssignExtra(rng, current, config_.avg_auction_bytes, &a->extra);
}

void Generator::BidAt(uint64_t i, int64_t ts, Bid* b) const {
  Rng rng(config_.seed, kEventSalt, i);
  int64_t auction;
  if (rng.Below(config_.hot_auction_ratio) > 0) {
    auction = (LastBase0AuctionId(i) / kHotIdBlock) * kHotIdBlock;
  } else {
    auction = RandomBase0AuctionId(rng, i, config_.num_in_flight_auctions);
  }
  b->auction = auction + kFirstAuctionId;
  int64_t bidder;
  if (rng.Below(config_.hot_bidder_ratio) > 0) {
    // The second person of the block, so hot bidders and hot sellers differ.
    bidder = (LastBase0PersonId(i) / kHotIdBlock) * kHotIdBlock + 1;
  } else {
    bidder = RandomBase0PersonId(rng, i, config_.num_active_people);
  }
  b->bidder = bidder + kFirstPersonId;
  b->price = Price(rng);
  // Channel: half the bids on one of 4 hot channels, the rest spread over kNumChannels. A
  // channel's url is a function of (seed, channel) only, from its own random stream.
  b->url.clear();
  if (rng.Below(kHotChannelRatio) > 0) {
    const uint32_t h = rng.Below(static_cast<uint32_t>(kHotChannels.size()));
    b->channel.assign(kHotChannels[h]);
    Rng channel_rng(config_.seed, kChannelSalt, kNumChannels + h);
    AppendBaseUrl(channel_rng, &b->url);
  } else {
    const uint32_t c = rng.Below(kNumChannels);
    b->channel.assign("channel-");
    AppendInt(c, &b->channel);
    Rng channel_rng(config_.seed, kChannelSalt, c);
    AppendBaseUrl(channel_rng, &b->url);
    if (channel_rng.Below(10) > 0) {
      b->url.append("&channel_id=");
      AppendInt(std::abs(static_cast<int64_t>(static_cast<int32_t>(ReverseBits32(c)))), &b->url);
    }
  }
  b->date_time = ts;
  AssignExtra(rng, 4 * 8, config_.avg_bid_bytes, &b->extra);
}

EventStream::EventStream(const Generator* generator, uint64_t first_index, uint64_t count)
    : generator_(generator),
      next_(first_index),
      end_(std::min(kMaxEventIndex, first_index + std::min(count, kMaxEventIndex))) {}

bool EventStream::Next(Event* out) {
  if (next_ >= end_) return false;
  generator_->EventAt(next_++, out);
  return true;
}

}  // namespace impulse::nexmark
