#include "datagen/nexmark/reference.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "event/timestamp.h"

namespace impulse::nexmark {
namespace {

// Floor division: window starts for negative times too (hand-built tests may use them).
int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Start of the window of size/slide `slide_ms` that begins at or before t (the latest one).
int64_t AlignDown(int64_t t, int64_t slide_ms) { return FloorDiv(t, slide_ms) * slide_ms; }

template <typename Row>
std::vector<Row> Sorted(std::vector<Row> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

// Final price of each auction event (same index as events.auctions): the max price among the
// bids on it with auction.date_time <= bid.date_time <= auction.expires; none if no such bid.
std::vector<std::optional<int64_t>> FinalPrices(const Events& events) {
  std::unordered_map<int64_t, std::vector<const Bid*>> bids_by_auction;
  for (const Bid& b : events.bids) bids_by_auction[b.auction].push_back(&b);
  std::vector<std::optional<int64_t>> finals(events.auctions.size());
  for (size_t i = 0; i < events.auctions.size(); ++i) {
    const Auction& a = events.auctions[i];
    auto it = bids_by_auction.find(a.id);
    if (it == bids_by_auction.end()) continue;
    for (const Bid* b : it->second) {
      if (b->date_time < a.date_time || b->date_time > a.expires) continue;
      if (!finals[i] || b->price > *finals[i]) finals[i] = b->price;
    }
  }
  return finals;
}

double Average(int64_t sum, int64_t count) { return static_cast<double>(sum) / static_cast<double>(count); }

}  // namespace

Events GenerateEvents(const GeneratorConfig& config, uint64_t count) {
  IMPULSE_CHECK(count <= kMaxEventIndex);
  const Generator generator(config);
  Events events;
  EventStream stream(&generator, 0, count);
  Event e;
  while (stream.Next(&e)) {
    switch (e.kind) {
      case Event::Kind::kPerson: events.persons.push_back(e.person); break;
      case Event::Kind::kAuction: events.auctions.push_back(e.auction); break;
      case Event::Kind::kBid: events.bids.push_back(e.bid); break;
    }
  }
  return events;
}

std::vector<Q1Row> Q1(const Events& events) {
  std::vector<Q1Row> rows;
  rows.reserve(events.bids.size());
  for (const Bid& b : events.bids) {
    rows.push_back({b.auction, b.bidder, kQ1EuroRate * static_cast<double>(b.price), b.date_time});
  }
  return Sorted(std::move(rows));
}

std::vector<Q2Row> Q2(const Events& events) {
  std::vector<Q2Row> rows;
  for (const Bid& b : events.bids) {
    if (b.auction % kQ2AuctionModulus == 0) rows.push_back({b.auction, b.price});
  }
  return Sorted(std::move(rows));
}

std::vector<Q3Row> Q3(const Events& events) {
  std::unordered_multimap<int64_t, const Person*> persons_by_id;
  for (const Person& p : events.persons) {
    if (p.state == "OR" || p.state == "ID" || p.state == "CA") persons_by_id.emplace(p.id, &p);
  }
  std::vector<Q3Row> rows;
  for (const Auction& a : events.auctions) {
    if (a.category != kQ3Category) continue;
    auto [begin, end] = persons_by_id.equal_range(a.seller);
    for (auto it = begin; it != end; ++it) {
      const Person& p = *it->second;
      rows.push_back({p.name, p.city, p.state, a.id});
    }
  }
  return Sorted(std::move(rows));
}

std::vector<Q4Row> Q4(const Events& events) {
  const std::vector<std::optional<int64_t>> finals = FinalPrices(events);
  std::map<int64_t, std::pair<int64_t, int64_t>> sum_count_by_category;
  for (size_t i = 0; i < events.auctions.size(); ++i) {
    if (!finals[i]) continue;
    auto& [sum, count] = sum_count_by_category[events.auctions[i].category];
    sum += *finals[i];
    ++count;
  }
  std::vector<Q4Row> rows;
  rows.reserve(sum_count_by_category.size());
  for (const auto& [category, sc] : sum_count_by_category) {
    rows.push_back({category, Average(sc.first, sc.second)});
  }
  return Sorted(std::move(rows));
}

std::vector<Q5Row> Q5(const Events& events) {
  // (window_start, auction) -> count; ordered, so each window's auctions are contiguous and
  // ascending by id.
  std::map<std::pair<int64_t, int64_t>, int64_t> counts;
  for (const Bid& b : events.bids) {
    for (int64_t s = AlignDown(b.date_time, kQ5WindowSlideMs); s > b.date_time - kQ5WindowSizeMs;
         s -= kQ5WindowSlideMs) {
      ++counts[{s, b.auction}];
    }
  }
  std::vector<Q5Row> rows;
  for (const auto& [key, num] : counts) {
    const auto [start, auction] = key;
    // Strictly greater replaces: on a tie the smaller auction id, seen first, stays.
    if (rows.empty() || rows.back().window_start != start) {
      rows.push_back({start, start + kQ5WindowSizeMs, auction, num});
    } else if (num > rows.back().num) {
      rows.back().auction = auction;
      rows.back().num = num;
    }
  }
  return Sorted(std::move(rows));
}

std::vector<Q6Row> Q6(const Events& events) {
  const std::vector<std::optional<int64_t>> finals = FinalPrices(events);
  // seller -> (expires, auction id, final) of the seller's auctions that have a final price.
  std::map<int64_t, std::vector<std::tuple<int64_t, int64_t, int64_t>>> by_seller;
  for (size_t i = 0; i < events.auctions.size(); ++i) {
    if (!finals[i]) continue;
    const Auction& a = events.auctions[i];
    by_seller[a.seller].emplace_back(a.expires, a.id, *finals[i]);
  }
  std::vector<Q6Row> rows;
  for (auto& [seller, closed] : by_seller) {
    std::sort(closed.begin(), closed.end());
    const size_t first = closed.size() > kQ6LastAuctions ? closed.size() - kQ6LastAuctions : 0;
    int64_t sum = 0;
    for (size_t i = first; i < closed.size(); ++i) sum += std::get<2>(closed[i]);
    rows.push_back({seller, Average(sum, static_cast<int64_t>(closed.size() - first))});
  }
  return Sorted(std::move(rows));
}

std::vector<Q7Row> Q7(const Events& events) {
  std::map<int64_t, std::pair<int64_t, int64_t>> best;  // window_start -> (price, auction)
  for (const Bid& b : events.bids) {
    const int64_t start = AlignDown(b.date_time, kQ7WindowSizeMs);
    auto [it, inserted] = best.try_emplace(start, b.price, b.auction);
    if (inserted) continue;
    auto& [price, auction] = it->second;
    if (b.price > price || (b.price == price && b.auction < auction)) {
      price = b.price;
      auction = b.auction;
    }
  }
  std::vector<Q7Row> rows;
  rows.reserve(best.size());
  for (const auto& [start, pa] : best) {
    rows.push_back({start, start + kQ7WindowSizeMs, pa.first, pa.second});
  }
  return Sorted(std::move(rows));
}

std::vector<Q8Row> Q8(const Events& events) {
  std::set<std::pair<int64_t, int64_t>> seller_windows;  // (seller, window_start)
  for (const Auction& a : events.auctions) {
    seller_windows.emplace(a.seller, AlignDown(a.date_time, kQ8WindowSizeMs));
  }
  std::set<Q8Row> rows;  // distinct (id, name, window_start)
  for (const Person& p : events.persons) {
    const int64_t start = AlignDown(p.date_time, kQ8WindowSizeMs);
    if (seller_windows.contains({p.id, start})) rows.insert({p.id, p.name, start});
  }
  return {rows.begin(), rows.end()};
}

// ---- Printers ----

namespace {

struct Time {
  int64_t ms;
};
std::ostream& operator<<(std::ostream& os, Time t) {
  std::string iso;
  AppendTimestampIso(t.ms, &iso);
  return os << t.ms << " (" << iso << ")";
}

struct Exact {
  double v;
};
std::ostream& operator<<(std::ostream& os, Exact d) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), d.v);
  return os.write(buf, res.ptr - buf);
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Q1Row& r) {
  return os << "{auction: " << r.auction << ", bidder: " << r.bidder << ", price: " << Exact{r.price}
            << ", date_time: " << Time{r.date_time} << "}";
}
std::ostream& operator<<(std::ostream& os, const Q2Row& r) {
  return os << "{auction: " << r.auction << ", price: " << r.price << "}";
}
std::ostream& operator<<(std::ostream& os, const Q3Row& r) {
  return os << "{name: \"" << r.name << "\", city: \"" << r.city << "\", state: \"" << r.state
            << "\", auction_id: " << r.auction_id << "}";
}
std::ostream& operator<<(std::ostream& os, const Q4Row& r) {
  return os << "{category: " << r.category << ", avg_final_price: " << Exact{r.avg_final_price} << "}";
}
std::ostream& operator<<(std::ostream& os, const Q5Row& r) {
  return os << "{window_start: " << Time{r.window_start} << ", window_end: " << Time{r.window_end}
            << ", auction: " << r.auction << ", num: " << r.num << "}";
}
std::ostream& operator<<(std::ostream& os, const Q6Row& r) {
  return os << "{seller: " << r.seller << ", avg_price: " << Exact{r.avg_price} << "}";
}
std::ostream& operator<<(std::ostream& os, const Q7Row& r) {
  return os << "{window_start: " << Time{r.window_start} << ", window_end: " << Time{r.window_end}
            << ", price: " << r.price << ", auction: " << r.auction << "}";
}
std::ostream& operator<<(std::ostream& os, const Q8Row& r) {
  return os << "{id: " << r.id << ", name: \"" << r.name << "\", window_start: " << Time{r.window_start} << "}";
}

// ---- NDJSON parsing ----

namespace {

// Typed access to the members of one parsed JSON object; errors name the member.
class Members {
 public:
  explicit Members(simdjson::dom::object obj) : obj_(obj) {}

  Status Int(const char* name, int64_t* out) const {
    simdjson::dom::element e;
    RETURN_IF_ERROR(Get(name, &e));
    if (!e.is_int64()) return InvalidArgument(std::string("field ") + name + ": expected integer");
    *out = e.get_int64().value_unsafe();
    return Status::OK();
  }
  Status Double(const char* name, double* out) const {
    simdjson::dom::element e;
    RETURN_IF_ERROR(Get(name, &e));
    if (e.is_double()) {
      *out = e.get_double().value_unsafe();
    } else if (e.is_int64()) {
      *out = static_cast<double>(e.get_int64().value_unsafe());
    } else {
      return InvalidArgument(std::string("field ") + name + ": expected number");
    }
    return Status::OK();
  }
  Status String(const char* name, std::string* out) const {
    simdjson::dom::element e;
    RETURN_IF_ERROR(Get(name, &e));
    if (!e.is_string()) return InvalidArgument(std::string("field ") + name + ": expected string");
    *out = std::string(e.get_string().value_unsafe());
    return Status::OK();
  }
  // An ISO-8601 string (as the engine writes timestamps) or integer epoch ms.
  Status Time(const char* name, int64_t* out) const {
    simdjson::dom::element e;
    RETURN_IF_ERROR(Get(name, &e));
    if (e.is_int64()) {
      *out = e.get_int64().value_unsafe();
      return Status::OK();
    }
    if (!e.is_string()) {
      return InvalidArgument(std::string("field ") + name + ": expected timestamp");
    }
    Result<int64_t> ms = ParseTimestampMs(e.get_string().value_unsafe());
    if (!ms.ok()) return ms.status().WithContext(std::string("field ") + name);
    *out = *ms;
    return Status::OK();
  }

 private:
  Status Get(const char* name, simdjson::dom::element* e) const {
    if (obj_.at_key(name).get(*e) != simdjson::SUCCESS) {
      return InvalidArgument(std::string("field ") + name + ": missing");
    }
    return Status::OK();
  }

  simdjson::dom::object obj_;
};

Status Fill(const Members& m, Q1Row* r) {
  RETURN_IF_ERROR(m.Int("auction", &r->auction));
  RETURN_IF_ERROR(m.Int("bidder", &r->bidder));
  RETURN_IF_ERROR(m.Double("price", &r->price));
  return m.Time("date_time", &r->date_time);
}
Status Fill(const Members& m, Q2Row* r) {
  RETURN_IF_ERROR(m.Int("auction", &r->auction));
  return m.Int("price", &r->price);
}
Status Fill(const Members& m, Q3Row* r) {
  RETURN_IF_ERROR(m.String("name", &r->name));
  RETURN_IF_ERROR(m.String("city", &r->city));
  RETURN_IF_ERROR(m.String("state", &r->state));
  return m.Int("auction_id", &r->auction_id);
}
Status Fill(const Members& m, Q4Row* r) {
  RETURN_IF_ERROR(m.Int("category", &r->category));
  return m.Double("avg_final_price", &r->avg_final_price);
}
Status Fill(const Members& m, Q5Row* r) {
  RETURN_IF_ERROR(m.Time("window_start", &r->window_start));
  RETURN_IF_ERROR(m.Time("window_end", &r->window_end));
  RETURN_IF_ERROR(m.Int("auction", &r->auction));
  return m.Int("num", &r->num);
}
Status Fill(const Members& m, Q6Row* r) {
  RETURN_IF_ERROR(m.Int("seller", &r->seller));
  return m.Double("avg_price", &r->avg_price);
}
Status Fill(const Members& m, Q7Row* r) {
  RETURN_IF_ERROR(m.Time("window_start", &r->window_start));
  RETURN_IF_ERROR(m.Time("window_end", &r->window_end));
  RETURN_IF_ERROR(m.Int("price", &r->price));
  return m.Int("auction", &r->auction);
}
Status Fill(const Members& m, Q8Row* r) {
  RETURN_IF_ERROR(m.Int("id", &r->id));
  RETURN_IF_ERROR(m.String("name", &r->name));
  return m.Time("window_start", &r->window_start);
}

template <typename Row>
Status ParseRow(simdjson::dom::parser& parser, std::string_view json, Row* out) {
  if (json.size() > kMaxRowJsonBytes) {
    return InvalidArgument("row of " + std::to_string(json.size()) + " bytes exceeds " +
                           std::to_string(kMaxRowJsonBytes));
  }
  const simdjson::padded_string padded(json);
  simdjson::dom::object obj;
  const simdjson::error_code err = parser.parse(padded).get(obj);
  if (err != simdjson::SUCCESS) {
    return InvalidArgument(std::string("not a JSON object: ") + simdjson::error_message(err));
  }
  return Fill(Members(obj), out);
}

template <typename Row>
Status ParseOne(std::string_view json, Row* out) {
  simdjson::dom::parser parser;
  return ParseRow(parser, json, out);
}

}  // namespace

Status RowFromJson(std::string_view json, Q1Row* out) { return ParseOne(json, out); }
Status RowFromJson(std::string_view json, Q2Row* out) { return ParseOne(json, out); }
Status RowFromJson(std::string_view json, Q3Row* out) { return ParseOne(json, out); }
Status RowFromJson(std::string_view json, Q4Row* out) { return ParseOne(json, out); }
Status RowFromJson(std::string_view json, Q5Row* out) { return ParseOne(json, out); }
Status RowFromJson(std::string_view json, Q6Row* out) { return ParseOne(json, out); }
Status RowFromJson(std::string_view json, Q7Row* out) { return ParseOne(json, out); }
Status RowFromJson(std::string_view json, Q8Row* out) { return ParseOne(json, out); }

template <typename Row>
Result<std::vector<Row>> RowsFromNdjson(std::string_view ndjson) {
  simdjson::dom::parser parser;
  std::vector<Row> rows;
  size_t line_no = 0;
  while (!ndjson.empty()) {
    ++line_no;
    const size_t nl = ndjson.find('\n');
    std::string_view line = ndjson.substr(0, nl);
    ndjson = nl == std::string_view::npos ? std::string_view() : ndjson.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (rows.size() >= kMaxRows) {
      return ResourceExhausted("more than " + std::to_string(kMaxRows) + " rows");
    }
    Row row;
    Status st = ParseRow(parser, line, &row);
    if (!st.ok()) return st.WithContext("line " + std::to_string(line_no));
    rows.push_back(std::move(row));
  }
  return Sorted(std::move(rows));
}

template Result<std::vector<Q1Row>> RowsFromNdjson<Q1Row>(std::string_view);
template Result<std::vector<Q2Row>> RowsFromNdjson<Q2Row>(std::string_view);
template Result<std::vector<Q3Row>> RowsFromNdjson<Q3Row>(std::string_view);
template Result<std::vector<Q4Row>> RowsFromNdjson<Q4Row>(std::string_view);
template Result<std::vector<Q5Row>> RowsFromNdjson<Q5Row>(std::string_view);
template Result<std::vector<Q6Row>> RowsFromNdjson<Q6Row>(std::string_view);
template Result<std::vector<Q7Row>> RowsFromNdjson<Q7Row>(std::string_view);
template Result<std::vector<Q8Row>> RowsFromNdjson<Q8Row>(std::string_view);

}  // namespace impulse::nexmark
