// Nexmark reference results: straightforward, brute-force computations of queries q1..q8 over a
// fully known input, used as the test oracle for the engine's pipelines (bench/nexmark/).
//
// Semantics are event time with all input known, as if the watermark had reached +infinity at
// the end: every window is complete and every join sees both sides whole. Times are the
// events' date_time in ms since the Unix epoch; windows are aligned to epoch multiples of their
// slide and are half-open, [start, start + size), so an event at exactly start + size belongs
// to the next window. The exact definitions, and where they deviate from Nexmark / Flink, are
// in docs/NEXMARK.md ("Queries").
//
// Each query returns its rows sorted by their fields in declaration order (the defaulted
// operator<=>), so results compare with ==. Doubles are computed in one documented way
// (see each query) so that an engine that computes them the same way matches exactly.
// Clarity over speed: brute force, with hash-map lookups for the joins; meant for inputs of about
// 100k events (a test's run). Pure functions, safe from any thread.
#pragma once

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "datagen/nexmark/generator.h"
#include "impulse/status.h"

namespace impulse::nexmark {

// All events of a run, split by kind, each kind in generation order.
struct Events {
  std::vector<Person> persons;
  std::vector<Auction> auctions;
  std::vector<Bid> bids;
};

// Events [0, count) of the generator for `config`. `config` must be valid (ValidateConfig) and
// count <= kMaxEventIndex; otherwise the process stops (as Generator's constructor does): this
// is a test helper whose config comes from code.
Events GenerateEvents(const GeneratorConfig& config, uint64_t count);

// Window sizes and slides of the windowed queries, in ms.
inline constexpr int64_t kQ5WindowSizeMs = 10'000;
inline constexpr int64_t kQ5WindowSlideMs = 2'000;
inline constexpr int64_t kQ7WindowSizeMs = 10'000;
inline constexpr int64_t kQ8WindowSizeMs = 10'000;
// Q2 keeps bids whose auction id is a multiple of this.
inline constexpr int64_t kQ2AuctionModulus = 123;
// Q3 keeps auctions of this category.
inline constexpr int64_t kQ3Category = 10;
// Q6 averages over each seller's last this-many auctions (by expires).
inline constexpr size_t kQ6LastAuctions = 10;
// Q1's dollar-to-euro rate: price_eur = kQ1EuroRate * price, in double.
inline constexpr double kQ1EuroRate = 0.908;

// q1 (currency conversion): every bid, price = kQ1EuroRate * double(price).
struct Q1Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  double price = 0;
  int64_t date_time = 0;
  auto operator<=>(const Q1Row&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misfires here
};
std::vector<Q1Row> Q1(const Events& events);

// q2 (selection): bids with auction % 123 == 0.
struct Q2Row {
  int64_t auction = 0;
  int64_t price = 0;
  auto operator<=>(const Q2Row&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misfires here
};
std::vector<Q2Row> Q2(const Events& events);

// q3 (local item suggestion): inner join auction.seller = person.id with auction.category == 10
// and person.state in {"OR", "ID", "CA"}; one row per matching (auction, person) pair,
// regardless of their times.
struct Q3Row {
  std::string name;
  std::string city;
  std::string state;
  int64_t auction_id = 0;
  auto operator<=>(const Q3Row&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misfires here
};
std::vector<Q3Row> Q3(const Events& events);

// q4 (average price per category). An auction's final price is the max price of the bids on it
// with auction.date_time <= bid.date_time <= auction.expires; auctions with no such bid have
// none and are left out. Per category: avg_final_price = double(sum of finals, int64) /
// double(number of finals). Each auction event counts as its own auction.
struct Q4Row {
  int64_t category = 0;
  double avg_final_price = 0;
  auto operator<=>(const Q4Row&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misfires here
};
std::vector<Q4Row> Q4(const Events& events);

// q5 (hot items): hopping windows [s, s + 10'000) with s a multiple of 2'000; bids counted per
// (window, auction); per window the auction with the highest count (ties: the smallest auction
// id). Only windows that hold at least one bid; window_end = window_start + 10'000.
struct Q5Row {
  int64_t window_start = 0;
  int64_t window_end = 0;
  int64_t auction = 0;
  int64_t num = 0;
  auto operator<=>(const Q5Row&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misfires here
};
std::vector<Q5Row> Q5(const Events& events);

// q6 (average selling price by seller), final state: per seller, the average final price (as in
// q4) of the seller's last 10 auctions that have a final price, "last" ordered by (expires,
// auction id). avg_price = double(sum of those finals) / double(how many, 1..10). Sellers with
// no auction with a final price are left out.
struct Q6Row {
  int64_t seller = 0;
  double avg_price = 0;
  auto operator<=>(const Q6Row&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misfires here
};
std::vector<Q6Row> Q6(const Events& events);

// q7 (highest bid): tumbling windows [s, s + 10'000) with s a multiple of 10'000: the max bid
// price in the window and the auction of that bid (ties: the smallest auction id). One row per
// window that holds at least one bid.
struct Q7Row {
  int64_t window_start = 0;
  int64_t window_end = 0;
  int64_t price = 0;
  int64_t auction = 0;
  auto operator<=>(const Q7Row&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misfires here
};
std::vector<Q7Row> Q7(const Events& events);

// q8 (monitor new users): tumbling 10 s windows; persons who registered in a window and, as
// seller, created at least one auction whose date_time is in the same window. One row per
// distinct (id, name, window_start).
struct Q8Row {
  int64_t id = 0;
  std::string name;
  int64_t window_start = 0;
  auto operator<=>(const Q8Row&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misfires here
};
std::vector<Q8Row> Q8(const Events& events);

// Printers for test failure messages (gtest uses operator<<). Times are printed as ms and as
// ISO-8601; doubles in their shortest exact form.
std::ostream& operator<<(std::ostream& os, const Q1Row& row);
std::ostream& operator<<(std::ostream& os, const Q2Row& row);
std::ostream& operator<<(std::ostream& os, const Q3Row& row);
std::ostream& operator<<(std::ostream& os, const Q4Row& row);
std::ostream& operator<<(std::ostream& os, const Q5Row& row);
std::ostream& operator<<(std::ostream& os, const Q6Row& row);
std::ostream& operator<<(std::ostream& os, const Q7Row& row);
std::ostream& operator<<(std::ostream& os, const Q8Row& row);

// Parsing the engine's NDJSON output into rows. One JSON object per row whose members are
// named as the row's fields; other members (_offset, _event_time, ...) are ignored. Integers
// must be JSON integers; doubles may be any JSON number; the time fields (date_time,
// window_start, window_end) may be ISO-8601 strings (as the engine writes timestamps) or
// integer epoch ms. kInvalidArgument naming the field on a missing or mistyped member or
// bad JSON; lines longer than kMaxRowJsonBytes are rejected.
inline constexpr size_t kMaxRowJsonBytes = 1 << 20;
Status RowFromJson(std::string_view json, Q1Row* out);
Status RowFromJson(std::string_view json, Q2Row* out);
Status RowFromJson(std::string_view json, Q3Row* out);
Status RowFromJson(std::string_view json, Q4Row* out);
Status RowFromJson(std::string_view json, Q5Row* out);
Status RowFromJson(std::string_view json, Q6Row* out);
Status RowFromJson(std::string_view json, Q7Row* out);
Status RowFromJson(std::string_view json, Q8Row* out);

// Parses NDJSON (one row per line, blank lines and a missing final newline allowed) into rows
// of type Row, sorted like the query results so the two compare with ==. Errors name the
// 1-based line. At most kMaxRows rows.
inline constexpr size_t kMaxRows = 10'000'000;
template <typename Row>
Result<std::vector<Row>> RowsFromNdjson(std::string_view ndjson);

// Explicitly instantiated in reference.cc for Q1Row .. Q8Row.
extern template Result<std::vector<Q1Row>> RowsFromNdjson<Q1Row>(std::string_view);
extern template Result<std::vector<Q2Row>> RowsFromNdjson<Q2Row>(std::string_view);
extern template Result<std::vector<Q3Row>> RowsFromNdjson<Q3Row>(std::string_view);
extern template Result<std::vector<Q4Row>> RowsFromNdjson<Q4Row>(std::string_view);
extern template Result<std::vector<Q5Row>> RowsFromNdjson<Q5Row>(std::string_view);
extern template Result<std::vector<Q6Row>> RowsFromNdjson<Q6Row>(std::string_view);
extern template Result<std::vector<Q7Row>> RowsFromNdjson<Q7Row>(std::string_view);
extern template Result<std::vector<Q8Row>> RowsFromNdjson<Q8Row>(std::string_view);

}  // namespace impulse::nexmark
