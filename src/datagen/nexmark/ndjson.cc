#include "datagen/nexmark/ndjson.h"

#include <charconv>
#include <string_view>

#include "event/json_writer.h"
#include "event/timestamp.h"

namespace impulse::nexmark {
namespace {

// Member writers: each appends ,"name":value (the "kind" member always comes first).
void Key(std::string_view name, std::string* out) {
  out->push_back(',');
  out->push_back('"');
  out->append(name);
  out->append("\":");
}

void Int(std::string_view name, int64_t v, std::string* out) {
  Key(name, out);
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

void Str(std::string_view name, std::string_view v, std::string* out) {
  Key(name, out);
  AppendJsonString(v, out);
}

void Time(std::string_view name, int64_t ms, std::string* out) {
  Key(name, out);
  out->push_back('"');
  AppendTimestampIso(ms, out);
  out->push_back('"');
}

}  // namespace

void AppendEventJson(const Event& event, std::string* out) {
  out->append("{\"kind\":\"");
  out->append(KindName(event.kind));
  out->push_back('"');
  switch (event.kind) {
    case Event::Kind::kPerson: {
      const Person& p = event.person;
      Int("id", p.id, out);
      Str("name", p.name, out);
      Str("email_address", p.email_address, out);
      Str("credit_card", p.credit_card, out);
      Str("city", p.city, out);
      Str("state", p.state, out);
      Time("date_time", p.date_time, out);
      Str("extra", p.extra, out);
      break;
    }
    case Event::Kind::kAuction: {
      const Auction& a = event.auction;
      Int("id", a.id, out);
      Str("item_name", a.item_name, out);
      Str("description", a.description, out);
      Int("initial_bid", a.initial_bid, out);
      Int("reserve", a.reserve, out);
      Time("date_time", a.date_time, out);
      Time("expires", a.expires, out);
      Int("seller", a.seller, out);
      Int("category", a.category, out);
      Str("extra", a.extra, out);
      break;
    }
    case Event::Kind::kBid: {
      const Bid& b = event.bid;
      Int("auction", b.auction, out);
      Int("bidder", b.bidder, out);
      Int("price", b.price, out);
      Str("channel", b.channel, out);
      Str("url", b.url, out);
      Time("date_time", b.date_time, out);
      Str("extra", b.extra, out);
      break;
    }
  }
  out->push_back('}');
}

}  // namespace impulse::nexmark
