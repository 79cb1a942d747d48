#include "datagen/nexmark/generator.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "datagen/nexmark/ndjson.h"

namespace impulse::nexmark {
namespace {

std::string Json(const Event& e) {
  std::string s;
  AppendEventJson(e, &s);
  return s;
}

TEST(NexmarkGenerator, ProportionsAreExactlyOneThreeFortySixPerFiftyEvents) {
  Generator gen{GeneratorConfig{}};
  Event e;
  std::map<Event::Kind, int> counts;
  for (uint64_t i = 0; i < 5'000; ++i) {
    gen.EventAt(i, &e);
    EXPECT_EQ(e.kind, KindAt(i));
    ++counts[e.kind];
  }
  EXPECT_EQ(counts[Event::Kind::kPerson], 100);
  EXPECT_EQ(counts[Event::Kind::kAuction], 300);
  EXPECT_EQ(counts[Event::Kind::kBid], 4'600);
  EXPECT_EQ(KindAt(0), Event::Kind::kPerson);
  EXPECT_EQ(KindAt(1), Event::Kind::kAuction);
  EXPECT_EQ(KindAt(3), Event::Kind::kAuction);
  EXPECT_EQ(KindAt(4), Event::Kind::kBid);
  EXPECT_EQ(KindAt(49), Event::Kind::kBid);
  EXPECT_EQ(KindAt(50), Event::Kind::kPerson);
}

TEST(NexmarkGenerator, PersonAndAuctionIdsAreDenseFromTheirFirstId) {
  Generator gen{GeneratorConfig{.seed = 7}};
  Event e;
  int64_t next_person = kFirstPersonId;
  int64_t next_auction = kFirstAuctionId;
  for (uint64_t i = 0; i < 5'000; ++i) {
    gen.EventAt(i, &e);
    if (e.kind == Event::Kind::kPerson) {
      EXPECT_EQ(e.person.id, next_person++);
      EXPECT_EQ(LastPersonIdAt(i), e.person.id);
    } else if (e.kind == Event::Kind::kAuction) {
      EXPECT_EQ(e.auction.id, next_auction++);
      EXPECT_EQ(LastAuctionIdAt(i), e.auction.id);
    }
  }
  EXPECT_EQ(next_person, kFirstPersonId + 100);
  EXPECT_EQ(next_auction, kFirstAuctionId + 300);
  EXPECT_EQ(LastAuctionIdAt(0), kFirstAuctionId - 1);
}

// Like the reference, a random (non-hot) reference may point up to a small lead past the last
// generated entity; hot references never do. Most references are to existing entities.
TEST(NexmarkGenerator, BidsAndAuctionsReferToGeneratedOrSoonGeneratedIds) {
  Generator gen{GeneratorConfig{.seed = 3}};
  Event e;
  int ahead = 0;
  int refs = 0;
  for (uint64_t i = 0; i < 20'000; ++i) {
    gen.EventAt(i, &e);
    const int64_t last_person = LastPersonIdAt(i);
    const int64_t last_auction = LastAuctionIdAt(i);
    if (e.kind == Event::Kind::kBid) {
      EXPECT_GE(e.bid.auction, kFirstAuctionId);
      EXPECT_LE(e.bid.auction, last_auction + kAuctionIdLead) << i;
      EXPECT_GE(e.bid.bidder, kFirstPersonId);
      EXPECT_LE(e.bid.bidder, last_person + kPersonIdLead) << i;
      ahead += (e.bid.auction > last_auction) + (e.bid.bidder > last_person);
      refs += 2;
    } else if (e.kind == Event::Kind::kAuction) {
      EXPECT_GE(e.auction.seller, kFirstPersonId);
      EXPECT_LE(e.auction.seller, last_person + kPersonIdLead) << i;
      ahead += e.auction.seller > last_person;
      ++refs;
    }
  }
  EXPECT_LT(ahead, refs / 10);
}

// Share of bids that go to the hot auction / hot bidder of their block.
struct HotShares {
  double auction = 0;
  double bidder = 0;
};
HotShares MeasureHotShares(const GeneratorConfig& config) {
  Generator gen(config);
  Event e;
  int bids = 0, hot_auction = 0, hot_bidder = 0;
  for (uint64_t i = 0; i < 50'000; ++i) {
    gen.EventAt(i, &e);
    if (e.kind != Event::Kind::kBid) continue;
    ++bids;
    const int64_t hot_a = (LastAuctionIdAt(i) - kFirstAuctionId) / kHotIdBlock * kHotIdBlock + kFirstAuctionId;
    const int64_t hot_b = (LastPersonIdAt(i) - kFirstPersonId) / kHotIdBlock * kHotIdBlock + 1 + kFirstPersonId;
    hot_auction += e.bid.auction == hot_a;
    hot_bidder += e.bid.bidder == hot_b;
  }
  return {static_cast<double>(hot_auction) / bids, static_cast<double>(hot_bidder) / bids};
}

TEST(NexmarkGenerator, HotAuctionsAndBiddersGetTheirDocumentedShare) {
  // Defaults: P(hot auction) = 1 - 1/2, P(hot bidder) = 1 - 1/4; random picks add a little.
  HotShares s = MeasureHotShares(GeneratorConfig{.seed = 11});
  EXPECT_NEAR(s.auction, 0.5, 0.03);
  EXPECT_NEAR(s.bidder, 0.75, 0.03);
  // Ratio 1 means no hot items: only random picks land on them.
  s = MeasureHotShares(GeneratorConfig{.seed = 11, .hot_auction_ratio = 1, .hot_bidder_ratio = 1});
  EXPECT_LT(s.auction, 0.05);
  EXPECT_LT(s.bidder, 0.05);
  s = MeasureHotShares(GeneratorConfig{.seed = 11, .hot_auction_ratio = 10});
  EXPECT_NEAR(s.auction, 0.9, 0.03);
}

TEST(NexmarkGenerator, HotSellersGetTheirDocumentedShare) {
  Generator gen{GeneratorConfig{.seed = 5}};
  Event e;
  int auctions = 0, hot = 0;
  for (uint64_t i = 0; i < 200'000; ++i) {
    if (KindAt(i) != Event::Kind::kAuction) continue;
    gen.EventAt(i, &e);
    ++auctions;
    hot += e.auction.seller == (LastPersonIdAt(i) - kFirstPersonId) / kHotIdBlock * kHotIdBlock + kFirstPersonId;
  }
  EXPECT_NEAR(static_cast<double>(hot) / auctions, 0.75, 0.03);
}

TEST(NexmarkGenerator, EventAtIsDeterministicAndIndependentOfOrderAndReuse) {
  Generator a{GeneratorConfig{.seed = 42}};
  Generator b{GeneratorConfig{.seed = 42}};
  Generator other{GeneratorConfig{.seed = 43}};
  EventStream stream(&a, 0, 1'000);
  Event seq, random_access, reused, different;
  b.EventAt(999, &reused);  // `reused` holds a bid; must be fully overwritten below
  int differing = 0;
  uint64_t n = 0;
  while (stream.Next(&seq)) {
    const uint64_t i = n++;
    b.EventAt(i, &random_access);
    b.EventAt(i, &reused);
    other.EventAt(i, &different);
    ASSERT_EQ(Json(seq), Json(random_access)) << i;
    ASSERT_EQ(Json(seq), Json(reused)) << i;
    differing += Json(seq) != Json(different);
  }
  EXPECT_EQ(n, 1'000u);
  EXPECT_EQ(stream.next_index(), 1'000u);
  EXPECT_GT(differing, 990);
  // Out of order: event 500 alone equals event 500 of the sequence.
  Generator c{GeneratorConfig{.seed = 42}};
  c.EventAt(500, &random_access);
  EventStream from500(&c, 500, 1);
  ASSERT_TRUE(from500.Next(&seq));
  EXPECT_EQ(Json(seq), Json(random_access));
  EXPECT_FALSE(from500.Next(&seq));
}

TEST(NexmarkGenerator, TimestampsFollowTheConfiguredRate) {
  Generator gen{GeneratorConfig{.events_per_second = 10'000, .first_event_ms = 1'000'000}};
  EXPECT_EQ(gen.TimestampAt(0), 1'000'000);
  EXPECT_EQ(gen.TimestampAt(9), 1'000'000);
  EXPECT_EQ(gen.TimestampAt(10), 1'000'001);
  EXPECT_EQ(gen.TimestampAt(10'000), 1'001'000);
  Event e;
  int64_t prev = 0;
  for (uint64_t i = 0; i < 5'000; ++i) {
    gen.EventAt(i, &e);
    EXPECT_GE(e.date_time(), prev);
    EXPECT_EQ(e.date_time(), gen.TimestampAt(i));
    prev = e.date_time();
  }
  Generator slow{GeneratorConfig{.events_per_second = 2, .first_event_ms = 0}};
  EXPECT_EQ(slow.TimestampAt(3), 1'500);
}

TEST(NexmarkGenerator, IdealizedSizesAverageTheConfiguredValues) {
  for (uint32_t scale : {1u, 3u}) {
    GeneratorConfig config{
        .seed = 9, .avg_person_bytes = 200 * scale, .avg_auction_bytes = 500 * scale, .avg_bid_bytes = 100 * scale};
    Generator gen(config);
    Event e;
    double person = 0, auction = 0, bid = 0;
    int np = 0, na = 0, nb = 0;
    for (uint64_t i = 0; i < 50'000; ++i) {
      gen.EventAt(i, &e);
      if (e.kind == Event::Kind::kPerson) {
        const Person& p = e.person;
        person += 8.0 + p.name.size() + p.email_address.size() + p.credit_card.size() + p.city.size() + p.state.size() +
                  p.extra.size();
        ++np;
      } else if (e.kind == Event::Kind::kAuction) {
        auction += 48.0 + e.auction.item_name.size() + e.auction.description.size() + e.auction.extra.size();
        ++na;
      } else {
        bid += 32.0 + e.bid.extra.size();
        ++nb;
      }
    }
    EXPECT_NEAR(person / np, config.avg_person_bytes, config.avg_person_bytes * 0.05);
    EXPECT_NEAR(auction / na, config.avg_auction_bytes, config.avg_auction_bytes * 0.05);
    EXPECT_NEAR(bid / nb, config.avg_bid_bytes, config.avg_bid_bytes * 0.05);
  }
}

TEST(NexmarkGenerator, FieldValuesStayInTheirDocumentedRanges) {
  Generator gen{GeneratorConfig{.seed = 1}};
  Event e;
  int cheap_bids = 0, bids = 0;
  std::map<std::string, std::string> url_of_channel;
  for (uint64_t i = 0; i < 20'000; ++i) {
    gen.EventAt(i, &e);
    if (e.kind == Event::Kind::kAuction) {
      EXPECT_GT(e.auction.expires, e.auction.date_time);
      EXPECT_GE(e.auction.category, kFirstCategoryId);
      EXPECT_LT(e.auction.category, kFirstCategoryId + kNumCategories);
      EXPECT_GT(e.auction.reserve, e.auction.initial_bid);
      EXPECT_FALSE(e.auction.item_name.empty());
    } else if (e.kind == Event::Kind::kPerson) {
      EXPECT_EQ(e.person.credit_card.size(), 19u);
      EXPECT_NE(e.person.email_address.find('@'), std::string::npos);
      EXPECT_EQ(e.person.state.size(), 2u);
    } else {
      EXPECT_GE(e.bid.price, 100);
      EXPECT_LE(e.bid.price, 100'000'000);
      cheap_bids += e.bid.price < 100'000;  // log-uniform over 10^2..10^8: median 10^5
      ++bids;
      EXPECT_EQ(e.bid.url.rfind("https://www.nexmark.com/", 0), 0u);
      auto [it, inserted] = url_of_channel.emplace(e.bid.channel, e.bid.url);
      EXPECT_EQ(it->second, e.bid.url) << "channel " << e.bid.channel << " changed url";
    }
  }
  EXPECT_NEAR(static_cast<double>(cheap_bids) / bids, 0.5, 0.03);
  EXPECT_TRUE(url_of_channel.count("Google"));
  EXPECT_GT(url_of_channel.size(), 1'000u);
}

TEST(NexmarkGenerator, InvalidConfigsAreRejected) {
  EXPECT_TRUE(Generator::Create(GeneratorConfig{}).ok());
  EXPECT_EQ(Generator::Create(GeneratorConfig{.events_per_second = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateConfig(GeneratorConfig{.events_per_second = -5}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateConfig(GeneratorConfig{.hot_auction_ratio = 0}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateConfig(GeneratorConfig{.avg_bid_bytes = 2 << 20}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateConfig(GeneratorConfig{.num_active_people = 0}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateConfig(GeneratorConfig{.first_event_ms = -1}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace impulse::nexmark
