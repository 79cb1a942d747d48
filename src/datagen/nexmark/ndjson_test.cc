#include "datagen/nexmark/ndjson.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "event/timestamp.h"

namespace impulse::nexmark {
namespace {

int64_t GetInt(simdjson::ondemand::object& obj, const char* key) {
  int64_t v = -1;
  EXPECT_EQ(obj[key].get_int64().get(v), simdjson::SUCCESS) << key;
  return v;
}

std::string GetStr(simdjson::ondemand::object& obj, const char* key) {
  std::string_view v;
  EXPECT_EQ(obj[key].get_string().get(v), simdjson::SUCCESS) << key;
  return std::string(v);
}

int64_t GetTime(simdjson::ondemand::object& obj, const char* key) {
  Result<int64_t> ms = ParseTimestampMs(GetStr(obj, key));
  EXPECT_TRUE(ms.ok()) << key;
  return ms.ok() ? *ms : -1;
}

TEST(NexmarkNdjson, LinesParseAndCarryTheKindAndEveryField) {
  Generator gen{GeneratorConfig{.seed = 5}};
  simdjson::ondemand::parser parser;
  Event e;
  std::string line;
  for (uint64_t i = 0; i < 2'000; ++i) {
    gen.EventAt(i, &e);
    line.clear();
    AppendEventJson(e, &line);
    ASSERT_EQ(line.find('\n'), std::string::npos);
    simdjson::padded_string padded(line);
    simdjson::ondemand::document doc;
    ASSERT_EQ(parser.iterate(padded).get(doc), simdjson::SUCCESS) << line;
    simdjson::ondemand::object obj;
    ASSERT_EQ(doc.get_object().get(obj), simdjson::SUCCESS);
    // Fields are read in output order (ondemand reads forward).
    ASSERT_EQ(GetStr(obj, "kind"), KindName(e.kind));
    switch (e.kind) {
      case Event::Kind::kPerson:
        EXPECT_EQ(GetInt(obj, "id"), e.person.id);
        EXPECT_EQ(GetStr(obj, "name"), e.person.name);
        EXPECT_EQ(GetStr(obj, "email_address"), e.person.email_address);
        EXPECT_EQ(GetStr(obj, "credit_card"), e.person.credit_card);
        EXPECT_EQ(GetStr(obj, "city"), e.person.city);
        EXPECT_EQ(GetStr(obj, "state"), e.person.state);
        EXPECT_EQ(GetTime(obj, "date_time"), e.person.date_time);
        EXPECT_EQ(GetStr(obj, "extra"), e.person.extra);
        break;
      case Event::Kind::kAuction:
        EXPECT_EQ(GetInt(obj, "id"), e.auction.id);
        EXPECT_EQ(GetStr(obj, "item_name"), e.auction.item_name);
        EXPECT_EQ(GetStr(obj, "description"), e.auction.description);
        EXPECT_EQ(GetInt(obj, "initial_bid"), e.auction.initial_bid);
        EXPECT_EQ(GetInt(obj, "reserve"), e.auction.reserve);
        EXPECT_EQ(GetTime(obj, "date_time"), e.auction.date_time);
        EXPECT_EQ(GetTime(obj, "expires"), e.auction.expires);
        EXPECT_EQ(GetInt(obj, "seller"), e.auction.seller);
        EXPECT_EQ(GetInt(obj, "category"), e.auction.category);
        EXPECT_EQ(GetStr(obj, "extra"), e.auction.extra);
        break;
      case Event::Kind::kBid:
        EXPECT_EQ(GetInt(obj, "auction"), e.bid.auction);
        EXPECT_EQ(GetInt(obj, "bidder"), e.bid.bidder);
        EXPECT_EQ(GetInt(obj, "price"), e.bid.price);
        EXPECT_EQ(GetStr(obj, "channel"), e.bid.channel);
        EXPECT_EQ(GetStr(obj, "url"), e.bid.url);
        EXPECT_EQ(GetTime(obj, "date_time"), e.bid.date_time);
        EXPECT_EQ(GetStr(obj, "extra"), e.bid.extra);
        break;
    }
  }
}

TEST(NexmarkNdjson, StringsAreEscaped) {
  Event e;
  e.kind = Event::Kind::kBid;
  e.bid.channel = "a\"b\\c\n";
  e.bid.date_time = 0;
  std::string line;
  AppendEventJson(e, &line);
  EXPECT_EQ(line,
            "{\"kind\":\"bid\",\"auction\":0,\"bidder\":0,\"price\":0,\"channel\":\"a\\\"b\\\\c\\n\","
            "\"url\":\"\",\"date_time\":\"1970-01-01T00:00:00.000Z\",\"extra\":\"\"}");
}

}  // namespace
}  // namespace impulse::nexmark
