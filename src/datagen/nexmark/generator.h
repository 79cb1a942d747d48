// Nexmark event generator: the person / auction / bid stream of the Nexmark benchmark, following
// the rules of the reference generator (github nexmark/nexmark, nexmark-flink generator) with
// the deviations listed in docs/NEXMARK.md.
//
// Every event is a pure function of (config, event index): its kind comes from the index, and
// its random fields from a small PRNG seeded with (seed, index). So any event can be made
// independently of the others (parallel generation, replay from any point), and the same seed
// always gives the same stream. Generation fills a caller-owned Event and reuses its strings'
// capacity: no heap allocation per event once the strings have grown. A Generator is immutable
// after construction and may be shared by any number of threads.
#pragma once

#include <cstdint>
#include <string>

#include "impulse/status.h"

namespace impulse::nexmark {

// Kinds within each block of 50 consecutive event ids: 1 person, then 3 auctions, then 46 bids.
inline constexpr uint64_t kPersonProportion = 1;
inline constexpr uint64_t kAuctionProportion = 3;
inline constexpr uint64_t kBidProportion = 46;
inline constexpr uint64_t kTotalProportion = kPersonProportion + kAuctionProportion + kBidProportion;

// Ids start here so that small runs still find join matches (reference rule).
inline constexpr int64_t kFirstPersonId = 1000;
inline constexpr int64_t kFirstAuctionId = 1000;
inline constexpr int64_t kFirstCategoryId = 10;
inline constexpr int64_t kNumCategories = 5;

// Hot auctions / sellers / bidders are the first (bidders: second) id of the current block of
// this many ids.
inline constexpr int64_t kHotIdBlock = 100;
// How far past the last generated person / auction a random (non-hot) reference may point.
inline constexpr int64_t kPersonIdLead = 10;
inline constexpr int64_t kAuctionIdLead = 10;

// Event indexes at or above this are rejected (keeps ids, products and timestamps far from
// int64 / double precision limits).
inline constexpr uint64_t kMaxEventIndex = uint64_t{1} << 48;

struct GeneratorConfig {
  // Stream seed: the same seed gives the same events. Default 0.
  uint64_t seed = 0;
  // Nominal event rate that spaces event timestamps: event i is at
  // first_event_ms + floor(i * 1e6 / events_per_second us) / 1000. It does not throttle
  // generation. Range (0, 1e9]. Default 10'000 (the reference's default rate).
  double events_per_second = 10'000;
  // Event time of event 0, in ms since the Unix epoch. Default 2024-01-01T00:00:00Z (the
  // reference uses the wall clock at start, which is not reproducible).
  int64_t first_event_ms = 1'704'067'200'000;
  // A bid goes to a hot auction with probability 1 - 1/hot_auction_ratio. Range 1..1'000'000.
  // Default 2.
  uint32_t hot_auction_ratio = 2;
  // A bid is by a hot bidder with probability 1 - 1/hot_bidder_ratio. Range 1..1'000'000.
  // Default 4.
  uint32_t hot_bidder_ratio = 4;
  // An auction is by a hot seller with probability 1 - 1/hot_seller_ratio. Range 1..1'000'000.
  // Default 4.
  uint32_t hot_seller_ratio = 4;
  // Target average event sizes (the reference's "idealized" sizes: 8 bytes per number plus the
  // string lengths); the `extra` field pads up to them. Range 0..1'048'576 each.
  // Defaults 200, 500, 100.
  uint32_t avg_person_bytes = 200;
  uint32_t avg_auction_bytes = 500;
  uint32_t avg_bid_bytes = 100;
  // Random (non-hot) sellers and bidders are drawn from the last num_active_people persons
  // (plus kPersonIdLead ahead). Range 1..1'000'000'000. Default 1000.
  uint32_t num_active_people = 1000;
  // Random (non-hot) bids go to the last num_in_flight_auctions auctions (plus kAuctionIdLead
  // ahead); it also sets the average auction length. Range 1..1'000'000'000. Default 100.
  uint32_t num_in_flight_auctions = 100;
};

// kInvalidArgument naming the first field out of its documented range.
Status ValidateConfig(const GeneratorConfig& config);

struct Person {
  int64_t id = 0;
  std::string name;
  std::string email_address;
  std::string credit_card;
  std::string city;
  std::string state;
  int64_t date_time = 0;  // ms since the Unix epoch
  std::string extra;
};

struct Auction {
  int64_t id = 0;
  std::string item_name;
  std::string description;
  int64_t initial_bid = 0;
  int64_t reserve = 0;
  int64_t date_time = 0;  // ms since the Unix epoch
  int64_t expires = 0;    // ms since the Unix epoch, > date_time
  int64_t seller = 0;     // a person id
  int64_t category = 0;   // kFirstCategoryId .. kFirstCategoryId + kNumCategories - 1
  std::string extra;
};

struct Bid {
  int64_t auction = 0;  // an auction id
  int64_t bidder = 0;   // a person id
  int64_t price = 0;    // cents, 100 .. 100'000'000
  std::string channel;
  std::string url;
  int64_t date_time = 0;  // ms since the Unix epoch
  std::string extra;
};

// One event; only the member named by `kind` is meaningful (the others keep their previous
// contents so their strings' capacity is reused).
struct Event {
  enum class Kind { kPerson, kAuction, kBid };
  Kind kind = Kind::kPerson;
  Person person;
  Auction auction;
  Bid bid;

  int64_t date_time() const;
};

const char* KindName(Event::Kind kind);  // "person", "auction", "bid"

// The kind of event `event_index` (its id modulo 50: 0 person, 1..3 auction, 4..49 bid).
Event::Kind KindAt(uint64_t event_index);

// Id rules, exposed for tests and for consumers that need to know the id space at a point.
// The last person / auction id generated at or before event `event_index` (the event's own
// id if it is a person / auction). Before the first auction (event 0) this is
// kFirstAuctionId - 1.
int64_t LastPersonIdAt(uint64_t event_index);
int64_t LastAuctionIdAt(uint64_t event_index);

class Generator {
 public:
  // Validates the config (ValidateConfig).
  static Result<Generator> Create(const GeneratorConfig& config);

  // `config` must be valid (ValidateConfig); an invalid one is a caller bug and stops the
  // process. Use Create for configs that come from users.
  explicit Generator(const GeneratorConfig& config);

  const GeneratorConfig& config() const { return config_; }

  // Fills `out` with event `event_index` (< kMaxEventIndex). Deterministic: a pure function
  // of (config, event_index). Reuses the capacity of out's strings.
  void EventAt(uint64_t event_index, Event* out) const;

  // Event time of event `event_index`: non-decreasing in the index.
  int64_t TimestampAt(uint64_t event_index) const;

 private:
  void PersonAt(uint64_t index, int64_t ts, Person* p) const;
  void AuctionAt(uint64_t index, int64_t ts, Auction* a) const;
  void BidAt(uint64_t index, int64_t ts, Bid* b) const;

  GeneratorConfig config_;
  double inter_event_delay_us_;
};

// Sequential reader over events [first_index, first_index + count) of a generator; the
// generator must outlive it. Single thread.
class EventStream {
 public:
  EventStream(const Generator* generator, uint64_t first_index, uint64_t count);

  // Fills `out` with the next event; false (and `out` untouched) once `count` were produced.
  bool Next(Event* out);
  // Index of the event the next call to Next produces.
  uint64_t next_index() const { return next_; }

 private:
  const Generator* generator_;
  uint64_t next_;
  uint64_t end_;
};

}  // namespace impulse::nexmark
