#include "examples/personalization/demo/evaluation.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace impulse::examples::personalization {
namespace {

int64_t FloorTo(int64_t t, int64_t step) {
  const int64_t q = t / step;
  return (q * step > t ? q - 1 : q) * step;  // towards -infinity
}

}  // namespace

Result<std::vector<Case>> BuildCases(std::span<const shop::Event> events, const ProtocolOptions& options) {
  // Per session: its first view and its previous view (indices into events).
  struct Session {
    size_t first_view = SIZE_MAX;
    size_t last_view = SIZE_MAX;
  };
  std::unordered_map<uint64_t, Session> sessions;
  std::vector<Case> cases;
  const auto in_period = [&](size_t i) {
    return events[i].time_seconds >= options.eval_from_seconds && events[i].time_seconds < options.eval_to_seconds;
  };
  for (size_t i = 0; i < events.size(); ++i) {
    const shop::Event& e = events[i];
    if (i > 0 && e.time_seconds < events[i - 1].time_seconds) {
      return InvalidArgument("evaluation: event " + std::to_string(e.event_id) + " (index " + std::to_string(i) +
                             ") is earlier than the event before it: events must be in time order");
    }
    auto [it, fresh] = sessions.try_emplace(e.session_id);
    Session& s = it->second;
    if (fresh && e.type != shop::EventType::kView) {
      return InvalidArgument("evaluation: session " + std::to_string(e.session_id) + " starts with event " +
                             std::to_string(e.event_id) + ", not a view");
    }
    switch (e.type) {
      case shop::EventType::kView:
        if (s.last_view != SIZE_MAX && in_period(s.last_view)) {
          cases.push_back({s.last_view, e.item_id, Target::kNextClick});
        }
        if (s.first_view == SIZE_MAX) s.first_view = i;
        s.last_view = i;
        break;
      case shop::EventType::kPurchase:
        if (in_period(s.first_view)) cases.push_back({s.first_view, e.item_id, Target::kNextPurchase});
        break;
      case shop::EventType::kCart: break;
    }
  }
  // Each case was appended when its target appeared; order them by prediction point (stable:
  // among cases at one event, in the order their targets came).
  std::stable_sort(cases.begin(), cases.end(), [](const Case& a, const Case& b) { return a.at < b.at; });
  return cases;
}

Result<PopularitySource> PopularitySource::Create(const PopularityOptions& options) {
  if (options.window_seconds <= 0 || options.refresh_seconds <= 0) {
    return InvalidArgument("popularity: window_seconds and refresh_seconds must be > 0");
  }
  return PopularitySource(options);
}

void PopularitySource::Observe(const shop::Event& event) {
  if (event.item_id >= item_category_.size()) {
    item_category_.resize(event.item_id + 1, UINT32_MAX);
    counts_.resize(event.item_id + 1, 0);
  }
  item_category_[event.item_id] = event.category;
  if (event.type == shop::EventType::kView) pending_.push_back({event.time_seconds, event.item_id});
}

void PopularitySource::AdvanceTo(int64_t refresh) {
  if (refresh == refreshed_at_) return;
  refreshed_at_ = refresh;
  lists_.clear();
  while (pending_head_ < pending_.size() && pending_[pending_head_].time_seconds < refresh) {
    const View v = pending_[pending_head_++];
    ++counts_[v.item];
    counted_.push_back(v);
  }
  while (counted_head_ < counted_.size() && counted_[counted_head_].time_seconds < refresh - options_.window_seconds) {
    --counts_[counted_[counted_head_++].item];
  }
  // Reclaim consumed prefixes once they are most of the buffer (amortized O(1) per view).
  if (pending_head_ > 4096 && pending_head_ * 2 > pending_.size()) {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(pending_head_));
    pending_head_ = 0;
  }
  if (counted_head_ > 4096 && counted_head_ * 2 > counted_.size()) {
    counted_.erase(counted_.begin(), counted_.begin() + static_cast<std::ptrdiff_t>(counted_head_));
    counted_head_ = 0;
  }
}

const std::vector<uint32_t>& PopularitySource::ListFor(uint32_t category) {
  auto [it, fresh] = lists_.try_emplace(category);
  if (!fresh) return it->second;
  std::vector<uint32_t> viewed;
  for (uint32_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] > 0 && (category == kGlobal || item_category_[i] == category)) viewed.push_back(i);
  }
  const auto better = [&](uint32_t a, uint32_t b) {
    return counts_[a] != counts_[b] ? counts_[a] > counts_[b] : a < b;
  };
  const size_t n = std::min(kListLength, viewed.size());
  std::partial_sort(viewed.begin(), viewed.begin() + static_cast<std::ptrdiff_t>(n), viewed.end(), better);
  viewed.resize(n);
  it->second = std::move(viewed);
  return it->second;
}

Status PopularitySource::Recommend(const shop::Event& event, Recommendation* out) {
  AdvanceTo(FloorTo(event.time_seconds, options_.refresh_seconds));
  out->items = ListFor(options_.per_category ? event.category : kGlobal);
  out->as_of_seconds = refreshed_at_;
  return Status::OK();
}

Status RecordedRecommendations::Add(uint64_t event_id, const Recommendation& recommendation) {
  if (!lists_.try_emplace(event_id, recommendation).second) {
    return InvalidArgument("recorded recommendations: a second list for event " + std::to_string(event_id));
  }
  return Status::OK();
}

Status RecordedRecommendations::Recommend(const shop::Event& event, Recommendation* out) {
  const auto it = lists_.find(event.event_id);
  if (it != lists_.end()) {
    *out = it->second;
    ++used_;
  }
  return Status::OK();
}

namespace {

// An item id: a JSON number or a string of digits, in uint32 range.
Status ItemId(simdjson::ondemand::value value, uint32_t* id) {
  simdjson::ondemand::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return InvalidArgument("bad JSON");
  std::string_view text;
  if (type == simdjson::ondemand::json_type::string) {
    if (value.get_string().get(text) != simdjson::SUCCESS) return InvalidArgument("bad string");
  } else if (type == simdjson::ondemand::json_type::number) {
    text = value.raw_json_token();
    while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.remove_suffix(1);
  } else {
    return InvalidArgument("an item id must be a number or a string of digits");
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *id);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return InvalidArgument("item id '" + std::string(text) + "' is not an integer in 0..4294967295");
  }
  return Status::OK();
}

Status ParseRecordedLine(simdjson::ondemand::parser* parser, const std::string& line, int64_t start_epoch_day,
                         RecordedRecommendations* out) {
  simdjson::padded_string padded(line);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser->iterate(padded).get(doc) != simdjson::SUCCESS || doc.get_object().get(object) != simdjson::SUCCESS) {
    return InvalidArgument("not a JSON object");
  }
  int64_t event_id = -1;
  std::string recs;
  bool has_recs = false, null_recs = false;
  Recommendation rec;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return InvalidArgument("bad key");
    if (key == "event_id") {
      if (field.value().get_int64().get(event_id) != simdjson::SUCCESS || event_id < 0) {
        return InvalidArgument("event_id must be an integer >= 0");
      }
    } else if (key == "recs") {
      bool is_null = false;
      if (field.value().is_null().get(is_null) == simdjson::SUCCESS && is_null) {
        has_recs = true;  // the rank step's output for a null candidate list: no list
        null_recs = true;
        continue;
      }
      std::string_view v;
      if (field.value().get_string().get(v) != simdjson::SUCCESS) {
        return InvalidArgument("recs must be a string holding a JSON array");
      }
      recs = std::string(v);
      has_recs = true;
    } else if (key == "recs_as_of_ms") {
      int64_t ms = 0;
      if (field.value().get_int64().get(ms) != simdjson::SUCCESS) {
        return InvalidArgument("recs_as_of_ms must be an integer");
      }
      // Floor to seconds (the events' resolution) relative to the simulation's start.
      const int64_t seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
      rec.as_of_seconds = seconds - start_epoch_day * shop::kSecondsPerDay;
    }
  }
  if (event_id < 0) return InvalidArgument("no event_id");
  if (!has_recs) return InvalidArgument("no recs");
  if (null_recs) return Status::OK();
  simdjson::ondemand::parser inner;
  RETURN_IF_ERROR(ParseItemList(&inner, recs, &rec.items));
  return out->Add(static_cast<uint64_t>(event_id), rec);
}

}  // namespace

Status ParseItemList(simdjson::ondemand::parser* parser, std::string_view json, std::vector<uint32_t>* items) {
  items->clear();
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  simdjson::ondemand::array array;
  if (parser->iterate(padded).get(doc) != simdjson::SUCCESS || doc.get_array().get(array) != simdjson::SUCCESS) {
    return InvalidArgument("recs is not a JSON array: " + std::string(json.substr(0, 80)));
  }
  for (auto element : array) {
    simdjson::ondemand::value value;
    if (element.get(value) != simdjson::SUCCESS) return InvalidArgument("recs is not a JSON array");
    uint32_t id = 0;
    RETURN_IF_ERROR(ItemId(value, &id));
    items->push_back(id);
  }
  return Status::OK();
}

Status ParseRecordedNdjson(std::string_view text, int64_t start_epoch_day, RecordedRecommendations* out) {
  simdjson::ondemand::parser parser;
  size_t line_number = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    ++line_number;
    const std::string line(text.substr(pos, end - pos));
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const Status st = ParseRecordedLine(&parser, line, start_epoch_day, out);
    if (!st.ok()) return InvalidArgument("recorded lists, line " + std::to_string(line_number) + ": " + st.message());
  }
  return Status::OK();
}

double Metrics::hit_rate() const { return cases == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(cases); }

double Metrics::ndcg() const { return cases == 0 ? 0.0 : ndcg_sum / static_cast<double>(cases); }

Result<Evaluation> Evaluate(std::span<const shop::Event> events, std::span<const Case> cases,
                            RecommendationSource* source) {
  Evaluation result;
  std::vector<double> ages;
  Recommendation list;
  size_t next = 0;
  for (size_t i = 0; i < events.size() && next < cases.size(); ++i) {
    source->Observe(events[i]);
    if (cases[next].at < i) {
      return InvalidArgument("evaluation: case " + std::to_string(next) + " (at " + std::to_string(cases[next].at) +
                             ") is out of order");
    }
    if (cases[next].at != i) continue;
    list.items.clear();
    list.as_of_seconds = kAsOfUnknown;
    RETURN_IF_ERROR(source->Recommend(events[i], &list));
    const size_t n = std::min(kListLength, list.items.size());
    for (size_t a = 0; a < n; ++a) {
      for (size_t b = a + 1; b < n; ++b) {
        if (list.items[a] == list.items[b]) {
          return InvalidArgument("evaluation: the list at event " + std::to_string(events[i].event_id) +
                                 " repeats item " + std::to_string(list.items[a]));
        }
      }
    }
    if (list.as_of_seconds != kAsOfUnknown && n > 0) {
      ages.push_back(static_cast<double>(events[i].time_seconds - list.as_of_seconds));
    }
    for (; next < cases.size() && cases[next].at == i; ++next) {
      Metrics& m = cases[next].target == Target::kNextClick ? result.next_click : result.next_purchase;
      ++m.cases;
      if (n == 0) ++m.without_list;
      const auto pos =
          std::find(list.items.begin(), list.items.begin() + static_cast<std::ptrdiff_t>(n), cases[next].target_item);
      if (pos == list.items.begin() + static_cast<std::ptrdiff_t>(n)) continue;
      const auto rank = static_cast<double>(pos - list.items.begin()) + 1;
      ++m.hits;
      m.ndcg_sum += 1.0 / std::log2(1.0 + rank);
    }
  }
  if (next < cases.size()) {
    return InvalidArgument("evaluation: case " + std::to_string(next) + " (at " + std::to_string(cases[next].at) +
                           ") is beyond the " + std::to_string(events.size()) + " events");
  }
  Freshness& f = result.freshness;
  f.lists = ages.size();
  if (!ages.empty()) {
    std::sort(ages.begin(), ages.end());
    double sum = 0;
    for (double a : ages) sum += a;
    f.mean_seconds = sum / static_cast<double>(ages.size());
    const auto at = [&](double q) {
      const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(ages.size())));
      return ages[std::clamp<size_t>(rank, 1, ages.size()) - 1];
    };
    f.p50_seconds = at(0.5);
    f.p90_seconds = at(0.9);
    f.max_seconds = ages.back();
  }
  return result;
}

}  // namespace impulse::examples::personalization
