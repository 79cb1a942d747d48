#include "datagen/nexmark/reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>

#include "event/json_writer.h"
#include "event/timestamp.h"

namespace impulse::nexmark {
namespace {

// 2024-01-01T00:00:00Z: a multiple of every window size, so relative times read as offsets
// within aligned windows.
constexpr int64_t kT0 = 1'704'067'200'000;

Person MakePerson(int64_t id, std::string name, std::string state, int64_t t) {
  Person p;
  p.id = id;
  p.name = std::move(name);
  p.city = "City" + std::to_string(id);
  p.state = std::move(state);
  p.date_time = kT0 + t;
  return p;
}

Auction MakeAuction(int64_t id, int64_t seller, int64_t category, int64_t t, int64_t expires) {
  Auction a;
  a.id = id;
  a.seller = seller;
  a.category = category;
  a.date_time = kT0 + t;
  a.expires = kT0 + expires;
  return a;
}

Bid MakeBid(int64_t auction, int64_t price, int64_t t, int64_t bidder = 1) {
  Bid b;
  b.auction = auction;
  b.bidder = bidder;
  b.price = price;
  b.date_time = kT0 + t;
  return b;
}

TEST(NexmarkReference, Q1ConvertsEveryBidsPriceToEuros) {
  Events ev;
  ev.bids = {MakeBid(7, 1000, 5, 3), MakeBid(2, 100, 1, 4)};
  const std::vector<Q1Row> expected = {{2, 4, 0.908 * 100.0, kT0 + 1}, {7, 3, 0.908 * 1000.0, kT0 + 5}};
  EXPECT_EQ(Q1(ev), expected);
  EXPECT_DOUBLE_EQ(Q1(ev)[1].price, 908.0);
}

TEST(NexmarkReference, Q2KeepsOnlyBidsOnAuctionsDivisibleBy123) {
  Events ev;
  ev.bids = {MakeBid(246, 5, 0), MakeBid(124, 6, 0), MakeBid(123, 7, 0), MakeBid(122, 8, 0), MakeBid(123, 1, 0)};
  const std::vector<Q2Row> expected = {{123, 1}, {123, 7}, {246, 5}};
  EXPECT_EQ(Q2(ev), expected);
}

TEST(NexmarkReference, Q3JoinsCategoryTenAuctionsWithSellersInOrIdCa) {
  Events ev;
  ev.persons = {MakePerson(1, "Ann", "OR", 0), MakePerson(2, "Bob", "WA", 0), MakePerson(3, "Cat", "CA", 0),
                MakePerson(4, "Dan", "ID", 0)};
  ev.auctions = {
      MakeAuction(100, 1, 10, 0, 1),  // match
      MakeAuction(101, 1, 10, 0, 1),  // second auction of the same seller: a second row
      MakeAuction(102, 2, 10, 0, 1),  // WA: no
      MakeAuction(103, 3, 11, 0, 1),  // category 11: no
      MakeAuction(104, 4, 10, 0, 1),  // match
      MakeAuction(105, 9, 10, 0, 1),  // seller without a person: no
  };
  const std::vector<Q3Row> expected = {
      {"Ann", "City1", "OR", 100}, {"Ann", "City1", "OR", 101}, {"Dan", "City4", "ID", 104}};
  EXPECT_EQ(Q3(ev), expected);
}

TEST(NexmarkReference, Q4FinalPriceCountsOnlyBidsWithinTheAuctionInclusive) {
  Events ev;
  ev.auctions = {MakeAuction(1, 50, 10, 1000, 2000), MakeAuction(2, 50, 10, 0, 10), MakeAuction(3, 50, 11, 0, 10),
                 MakeAuction(4, 50, 12, 100, 200)};
  ev.bids = {
      MakeBid(1, 100, 1000),   // at date_time: counts
      MakeBid(1, 150, 2000),   // at expires: counts (final of auction 1 = 150)
      MakeBid(1, 9999, 999),   // before the auction: ignored
      MakeBid(1, 9999, 2001),  // after expires: ignored
      MakeBid(2, 51, 5),       // final of auction 2 = 51
      MakeBid(3, 7, 10),       // final of auction 3 = 7
      MakeBid(4, 1000, 99),    // auction 4 has no bid in range: excluded from category 12
      MakeBid(99, 1000, 5),    // no such auction
  };
  const std::vector<Q4Row> expected = {{10, (150.0 + 51.0) / 2}, {11, 7.0}};
  EXPECT_EQ(Q4(ev), expected);
  EXPECT_DOUBLE_EQ(Q4(ev)[0].avg_final_price, 100.5);
}

TEST(NexmarkReference, Q5HoppingWindowsPickTheMostBidAuctionSmallestIdOnTies) {
  Events ev;
  ev.bids = {MakeBid(7, 1, 0), MakeBid(7, 1, 3000), MakeBid(5, 1, 9999),
             MakeBid(7, 1, 10000)};  // exactly at 0 + 10 s: not in the window starting at 0
  const std::vector<Q5Row> expected = {
      {kT0 - 8000, kT0 + 2000, 7, 1},  // holds t=0 only
      {kT0 - 6000, kT0 + 4000, 7, 2},  // t=0, 3000
      {kT0 - 4000, kT0 + 6000, 7, 2},   {kT0 - 2000, kT0 + 8000, 7, 2},
      {kT0, kT0 + 10000, 7, 2},         // 7: 2 bids beats 5: 1 bid despite the larger id
      {kT0 + 2000, kT0 + 12000, 7, 2},  // t=3000, 9999, 10000
      {kT0 + 4000, kT0 + 14000, 5, 1},  // t=9999 (5), 10000 (7): tie -> smaller id 5
      {kT0 + 6000, kT0 + 16000, 5, 1},  {kT0 + 8000, kT0 + 18000, 5, 1},
      {kT0 + 10000, kT0 + 20000, 7, 1},  // t=10000 only
  };
  EXPECT_EQ(Q5(ev), expected);
}

TEST(NexmarkReference, Q5AlignsWindowsToEpochForNegativeTimesToo) {
  Events ev;
  Bid b = MakeBid(3, 1, 0);
  b.date_time = -1;  // windows starting at -2000 down to -10000
  ev.bids = {b};
  const std::vector<Q5Row> result = Q5(ev);
  ASSERT_EQ(result.size(), 5u);
  EXPECT_EQ(result.front().window_start, -10000);
  EXPECT_EQ(result.back().window_start, -2000);
}

TEST(NexmarkReference, Q6AveragesEachSellersLastTenAuctionsByExpires) {
  Events ev;
  // Seller 1: auctions 1..12 with final i*100; auction i expires at (13 - i) s, so the last 10
  // by expires are auctions 1..10 (by id they would be 3..12).
  for (int64_t i = 1; i <= 12; ++i) {
    ev.auctions.push_back(MakeAuction(i, 1, 10, 0, 1000 * (13 - i)));
    ev.bids.push_back(MakeBid(i, i * 100, 0));
  }
  // Expires last but has no final price: not among the 10.
  ev.auctions.push_back(MakeAuction(13, 1, 10, 0, 99'000));
  // Seller 2: 11 auctions with the same expires; ties go by id, so auction 20 is the oldest.
  for (int64_t id = 20; id <= 30; ++id) {
    ev.auctions.push_back(MakeAuction(id, 2, 10, 0, 5000));
    ev.bids.push_back(MakeBid(id, id == 20 ? 1000 : 10, 1));
  }
  // Seller 3: one auction, two bids.
  ev.auctions.push_back(MakeAuction(40, 3, 10, 0, 5000));
  ev.bids.push_back(MakeBid(40, 3, 1));
  ev.bids.push_back(MakeBid(40, 4, 2));
  // Seller 4: no final price at all.
  ev.auctions.push_back(MakeAuction(50, 4, 10, 0, 5000));
  const std::vector<Q6Row> expected = {{1, 550.0}, {2, 10.0}, {3, 4.0}};
  EXPECT_EQ(Q6(ev), expected);
}

TEST(NexmarkReference, Q7TumblingMaxPriceWithSmallestAuctionOnTies) {
  Events ev;
  ev.bids = {MakeBid(9, 50, 0),    MakeBid(4, 50, 9999),
             MakeBid(1, 10, 5000), MakeBid(3, 100, 10000),  // at the boundary: the next window
             MakeBid(2, 7, 19999), MakeBid(8, 1, 30000)};
  const std::vector<Q7Row> expected = {
      {kT0, kT0 + 10000, 50, 4}, {kT0 + 10000, kT0 + 20000, 100, 3}, {kT0 + 30000, kT0 + 40000, 1, 8}};
  EXPECT_EQ(Q7(ev), expected);
}

TEST(NexmarkReference, Q8PersonsSellingInTheWindowTheyRegisteredIn) {
  Events ev;
  ev.persons = {MakePerson(1, "Ann", "OR", 9999),   // auction at 10000: next window, no row
                MakePerson(2, "Bob", "WA", 10000),  // two auctions in the window: one row
                MakePerson(3, "Cat", "CA", 0),      // auction before registering, same window
                MakePerson(4, "Dan", "ID", 0)};     // no auction
  ev.auctions = {MakeAuction(1, 1, 10, 10000, 20000), MakeAuction(2, 2, 11, 12000, 30000),
                 MakeAuction(3, 2, 12, 19999, 30000), MakeAuction(4, 3, 10, 0, 1), MakeAuction(5, 5, 10, 0, 1)};
  const std::vector<Q8Row> expected = {{2, "Bob", kT0 + 10000}, {3, "Cat", kT0}};
  EXPECT_EQ(Q8(ev), expected);
}

TEST(NexmarkReference, EmptyInputGivesNoRows) {
  const Events ev;
  EXPECT_TRUE(Q1(ev).empty());
  EXPECT_TRUE(Q3(ev).empty());
  EXPECT_TRUE(Q4(ev).empty());
  EXPECT_TRUE(Q5(ev).empty());
  EXPECT_TRUE(Q6(ev).empty());
  EXPECT_TRUE(Q7(ev).empty());
  EXPECT_TRUE(Q8(ev).empty());
}

TEST(NexmarkReference, GenerateEventsSplitsKindsInGenerationOrder) {
  const Events ev = GenerateEvents(GeneratorConfig{.seed = 4}, 1'000);
  EXPECT_EQ(ev.persons.size(), 20u);
  EXPECT_EQ(ev.auctions.size(), 60u);
  EXPECT_EQ(ev.bids.size(), 920u);
  Generator gen{GeneratorConfig{.seed = 4}};
  Event e;
  gen.EventAt(54, &e);  // the 47th bid (indexes 4..49 are bids 0..45, 50 person, 51..53 auctions)
  EXPECT_EQ(ev.bids[46].auction, e.bid.auction);
  EXPECT_EQ(ev.bids[46].price, e.bid.price);
  EXPECT_EQ(ev.bids[46].date_time, e.bid.date_time);
}

// The reference's windowed queries re-derived the slow way: enumerate every window start
// between the first and last bid and scan all bids for each. Agreement on generated input
// checks window assignment and tie-breaking independently of the map-based code.
std::vector<Q5Row> Q5ByScanning(const Events& ev) {
  std::vector<Q5Row> rows;
  if (ev.bids.empty()) return rows;
  int64_t lo = ev.bids.front().date_time, hi = lo;
  for (const Bid& b : ev.bids) {
    lo = std::min(lo, b.date_time);
    hi = std::max(hi, b.date_time);
  }
  // Generated times are positive, so plain division aligns.
  for (int64_t s = lo / 2000 * 2000 - 10000; s <= hi; s += 2000) {
    std::map<int64_t, int64_t> count;
    for (const Bid& b : ev.bids) {
      if (b.date_time >= s && b.date_time < s + 10000) ++count[b.auction];
    }
    Q5Row best{s, s + 10000, 0, 0};
    for (const auto& [auction, n] : count) {
      if (n > best.num) best = {s, s + 10000, auction, n};
    }
    if (best.num > 0) rows.push_back(best);
  }
  return rows;
}

std::vector<Q7Row> Q7ByScanning(const Events& ev) {
  std::vector<Q7Row> rows;
  if (ev.bids.empty()) return rows;
  const int64_t lo = ev.bids.front().date_time / 10000 * 10000;
  for (int64_t s = lo; s <= ev.bids.back().date_time; s += 10000) {
    const Bid* best = nullptr;
    for (const Bid& b : ev.bids) {
      if (b.date_time < s || b.date_time >= s + 10000) continue;
      if (best == nullptr || b.price > best->price || (b.price == best->price && b.auction < best->auction)) {
        best = &b;
      }
    }
    if (best != nullptr) rows.push_back({s, s + 10000, best->price, best->auction});
  }
  return rows;
}

TEST(NexmarkReference, WindowedQueriesAgreeWithScanningEveryWindowOnGeneratedInput) {
  // 200 events/s: 6'000 events span 30 s, so many windows and real ties.
  const Events ev = GenerateEvents(GeneratorConfig{.seed = 9, .events_per_second = 200}, 6'000);
  const std::vector<Q5Row> q5 = Q5(ev);
  EXPECT_GT(q5.size(), 10u);
  EXPECT_EQ(q5, Q5ByScanning(ev));
  const std::vector<Q7Row> q7 = Q7(ev);
  EXPECT_EQ(q7.size(), 3u);
  EXPECT_EQ(q7, Q7ByScanning(ev));
}

TEST(NexmarkReference, GeneratedInputGivesTheSameNonTrivialResultsEveryRun) {
  const GeneratorConfig config{.seed = 21, .events_per_second = 1'000};  // 50 s of events
  const Events a = GenerateEvents(config, 50'000);
  const Events b = GenerateEvents(config, 50'000);
  EXPECT_EQ(Q1(a).size(), a.bids.size());
  EXPECT_EQ(Q1(a), Q1(b));
  EXPECT_FALSE(Q2(a).empty());
  EXPECT_EQ(Q2(a), Q2(b));
  EXPECT_FALSE(Q3(a).empty());
  EXPECT_EQ(Q3(a), Q3(b));
  EXPECT_EQ(Q4(a).size(), static_cast<size_t>(kNumCategories));
  EXPECT_EQ(Q4(a), Q4(b));
  EXPECT_EQ(Q5(a).size(), 29u);  // starts every 2 s from -8 s to 48 s (events span 50 s)
  EXPECT_EQ(Q5(a), Q5(b));
  EXPECT_FALSE(Q6(a).empty());
  EXPECT_EQ(Q6(a), Q6(b));
  EXPECT_EQ(Q7(a).size(), 5u);
  EXPECT_EQ(Q7(a), Q7(b));
  EXPECT_FALSE(Q8(a).empty());
  EXPECT_EQ(Q8(a), Q8(b));
  // A different seed gives different results.
  const Events c = GenerateEvents(GeneratorConfig{.seed = 22, .events_per_second = 1'000}, 50'000);
  EXPECT_NE(Q1(a), Q1(c));
}

// ---- NDJSON parsing ----

TEST(NexmarkReferenceJson, ParsesEngineOutputWithIsoTimesAndPrefixMembers) {
  Q5Row row;
  ASSERT_TRUE(RowFromJson(R"({"_offset":3,"_partition":0,"_event_time":"2024-01-01T00:00:09.999Z",)"
                          R"("window_start":"2024-01-01T00:00:00.000Z",)"
                          R"("window_end":"2024-01-01T00:00:10.000Z","auction":1007,"num":4})",
                          &row)
                  .ok());
  EXPECT_EQ(row, (Q5Row{kT0, kT0 + 10000, 1007, 4}));
}

TEST(NexmarkReferenceJson, AcceptsEpochMsTimesAndIntegersForDoubles) {
  Q1Row q1;
  ASSERT_TRUE(RowFromJson(R"({"auction":1,"bidder":2,"price":908,"date_time":1704067200005})", &q1).ok());
  EXPECT_EQ(q1, (Q1Row{1, 2, 908.0, kT0 + 5}));
  Q4Row q4;
  ASSERT_TRUE(RowFromJson(R"({"category":10,"avg_final_price":100.5})", &q4).ok());
  EXPECT_EQ(q4, (Q4Row{10, 100.5}));
}

TEST(NexmarkReferenceJson, RejectsMissingMistypedAndMalformedInput) {
  Q2Row q2;
  EXPECT_EQ(RowFromJson(R"({"auction":1})", &q2).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RowFromJson(R"({"auction":"1","price":2})", &q2).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RowFromJson(R"({"auction":1.5,"price":2})", &q2).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RowFromJson(R"({"auction":1,"price":)", &q2).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RowFromJson(R"([1,2])", &q2).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RowFromJson("", &q2).code(), StatusCode::kInvalidArgument);
  Q8Row q8;
  EXPECT_EQ(RowFromJson(R"({"id":1,"name":"A","window_start":"2024-13-01"})", &q8).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RowFromJson(R"({"id":1,"name":"A","window_start":true})", &q8).code(), StatusCode::kInvalidArgument);
  Q6Row q6;
  EXPECT_EQ(RowFromJson(R"({"seller":1,"avg_price":null})", &q6).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RowFromJson(std::string(kMaxRowJsonBytes + 1, ' '), &q6).code(), StatusCode::kInvalidArgument);
  // A valid row parses, so the rejections above are about the input.
  ASSERT_TRUE(RowFromJson(R"({"auction":1,"price":2})", &q2).ok());
  EXPECT_EQ(q2, (Q2Row{1, 2}));
}

TEST(NexmarkReferenceJson, NdjsonRowsComeBackSortedAndSkipBlankLines) {
  Result<std::vector<Q7Row>> rows = RowsFromNdjson<Q7Row>(
      "{\"window_start\":20000,\"window_end\":30000,\"price\":5,\"auction\":1}\r\n"
      "\n"
      "{\"window_start\":0,\"window_end\":10000,\"price\":9,\"auction\":2}");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  const std::vector<Q7Row> expected = {{0, 10000, 9, 2}, {20000, 30000, 5, 1}};
  EXPECT_EQ(*rows, expected);
  EXPECT_EQ(RowsFromNdjson<Q7Row>("{\"window_start\":0}\n").status().code(), StatusCode::kInvalidArgument);
  Result<std::vector<Q7Row>> empty = RowsFromNdjson<Q7Row>("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// The reference's own rows, written as the engine writes them (shortest-form doubles, ISO
// timestamps), parse back to exactly the same rows: exact comparison of doubles is sound.
TEST(NexmarkReferenceJson, ReferenceRowsRoundTripThroughEngineStyleJson) {
  const Events ev = GenerateEvents(GeneratorConfig{.seed = 2}, 20'000);
  std::string q1_json;
  for (const Q1Row& r : Q1(ev)) {
    q1_json += "{\"auction\":" + std::to_string(r.auction) + ",\"bidder\":" + std::to_string(r.bidder) + ",\"price\":";
    AppendJsonDouble(r.price, &q1_json);
    q1_json += ",\"date_time\":\"";
    AppendTimestampIso(r.date_time, &q1_json);
    q1_json += "\"}\n";
  }
  Result<std::vector<Q1Row>> q1 = RowsFromNdjson<Q1Row>(q1_json);
  ASSERT_TRUE(q1.ok()) << q1.status().ToString();
  EXPECT_EQ(*q1, Q1(ev));

  std::string q6_json;
  for (const Q6Row& r : Q6(ev)) {
    q6_json += "{\"seller\":" + std::to_string(r.seller) + ",\"avg_price\":";
    AppendJsonDouble(r.avg_price, &q6_json);
    q6_json += "}\n";
  }
  Result<std::vector<Q6Row>> q6 = RowsFromNdjson<Q6Row>(q6_json);
  ASSERT_TRUE(q6.ok()) << q6.status().ToString();
  EXPECT_EQ(*q6, Q6(ev));

  std::string q3_json;
  for (const Q3Row& r : Q3(ev)) {
    q3_json += "{\"name\":";
    AppendJsonString(r.name, &q3_json);
    q3_json += ",\"city\":";
    AppendJsonString(r.city, &q3_json);
    q3_json += ",\"state\":";
    AppendJsonString(r.state, &q3_json);
    q3_json += ",\"auction_id\":" + std::to_string(r.auction_id) + "}\n";
  }
  Result<std::vector<Q3Row>> q3 = RowsFromNdjson<Q3Row>(q3_json);
  ASSERT_TRUE(q3.ok()) << q3.status().ToString();
  EXPECT_EQ(*q3, Q3(ev));
}

TEST(NexmarkReferenceJson, PrinterShowsFieldsWithTimesAsMsAndIso) {
  std::ostringstream os;
  os << Q5Row{kT0, kT0 + 10000, 1007, 4};
  EXPECT_EQ(os.str(),
            "{window_start: 1704067200000 (2024-01-01T00:00:00.000Z), window_end: 1704067210000 "
            "(2024-01-01T00:00:10.000Z), auction: 1007, num: 4}");
  std::ostringstream d;
  d << Q6Row{3, 0.1 + 0.2};
  EXPECT_EQ(d.str(), "{seller: 3, avg_price: 0.30000000000000004}");
}

}  // namespace
}  // namespace impulse::nexmark
