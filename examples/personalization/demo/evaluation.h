// The personalization example's offline evaluation (`impulse demo personalization`): which
// predictions are scored on the held-out days (the protocol), hit rate and NDCG at 10 of the
// next click and the next purchase, and the recommendation sources compared: global and
// per-category popularity here; the live ranker's output stream and its nightly-features
// variant plug in as recorded lists (RecordedRecommendations). The protocol is written down in
// examples/personalization/README.md ("Evaluation protocol"). Pure functions of their inputs
// (personalization_eval_test checks them on hand-made cases); a source is used by one thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

#include "datagen/shop/simulator.h"
#include "impulse/status.h"

namespace impulse::examples::personalization {

// Recommendations are lists of this many items; metrics are "at 10".
inline constexpr size_t kListLength = 10;
// An as-of time not known (a recorded list without one).
inline constexpr int64_t kAsOfUnknown = INT64_MIN;

enum class Target : uint8_t {
  kNextClick = 0,     // the item of the session's next view
  kNextPurchase = 1,  // an item the session buys, predicted at its first view
};

// One scored prediction: the list recommended at events[at] (that event included in what the
// source has seen) against target_item.
struct Case {
  size_t at = 0;
  uint32_t target_item = 0;
  Target target = Target::kNextClick;
};

// The held-out period: cases whose prediction event has a time in [from, to) (seconds since
// the simulation's start, shop::Event::time_seconds).
struct ProtocolOptions {
  int64_t eval_from_seconds = 0;
  int64_t eval_to_seconds = INT64_MAX;
};

// The cases of `events` (time order, as `impulse generate shop` writes them), ordered by `at`:
//   next click: every view in the period followed by another view in its session; the target
//     is that next view's item (whatever happened in between: a cart of the viewed item is not
//     a click);
//   next purchase: every session whose first view is in the period, one case per purchase
//     event of the session, predicted at that first view (purchases are always of an item
//     carted in the same session, so a later prediction point would see the answer coming).
// kInvalidArgument if the events are not in time order or a session's first event is not a view.
Result<std::vector<Case>> BuildCases(std::span<const shop::Event> events, const ProtocolOptions& options);

// A list of recommended items, best first, and the time its data is as of (freshness: the
// event's time minus as_of).
struct Recommendation {
  std::vector<uint32_t> items;
  int64_t as_of_seconds = kAsOfUnknown;
};

// A recommender under evaluation. Evaluate() calls Observe for every event in time order and,
// right after observing an event that is a prediction point, Recommend for it (so the event
// itself may be used, nothing after it). Single-threaded.
class RecommendationSource {
 public:
  virtual ~RecommendationSource() = default;
  virtual void Observe(const shop::Event& event) = 0;
  // Fills *out (cleared by the caller). An empty list is scored as a miss and counted apart.
  virtual Status Recommend(const shop::Event& event, Recommendation* out) = 0;
};

// Popularity baselines. The list at time t is the most viewed items of the last `window`
// before the latest refresh R <= t (R a multiple of `refresh` since the start): views with a
// time in [R - window, R), by descending count, ties by ascending item id (top_k's order), at
// most kListLength items (fewer when fewer items were viewed). Per category: among the items
// of the event's category. Nothing after R is read, so no future leaks in; as_of is R.
struct PopularityOptions {
  int64_t window_seconds = 86'400;  // one day
  int64_t refresh_seconds = 3'600;  // hourly, as a 1 d / 1 h hopping window emits
  bool per_category = false;
};

class PopularitySource final : public RecommendationSource {
 public:
  // kInvalidArgument unless window_seconds and refresh_seconds are > 0.
  static Result<PopularitySource> Create(const PopularityOptions& options);
  void Observe(const shop::Event& event) override;
  Status Recommend(const shop::Event& event, Recommendation* out) override;

 private:
  explicit PopularitySource(const PopularityOptions& options) : options_(options) {}
  struct View {
    int64_t time_seconds;
    uint32_t item;
  };
  void AdvanceTo(int64_t refresh_seconds);
  const std::vector<uint32_t>& ListFor(uint32_t category);

  PopularityOptions options_;
  int64_t refreshed_at_ = INT64_MIN;  // R of the counts below
  std::vector<View> pending_;         // views at or after R, in time order
  size_t pending_head_ = 0;
  std::vector<View> counted_;  // views in [R - window, R), in time order
  size_t counted_head_ = 0;
  std::vector<uint32_t> counts_;         // views per item in [R - window, R)
  std::vector<uint32_t> item_category_;  // from the events seen
  // Lists computed at refreshed_at_, by category (kGlobal: the global list).
  static constexpr uint32_t kGlobal = UINT32_MAX;
  std::unordered_map<uint32_t, std::vector<uint32_t>> lists_;
};

// Lists recorded elsewhere (the ranker's output stream `recs`, its nightly variant), by the
// event_id of the event they were made at. Observe does nothing; an event with no recorded
// list gets an empty one.
class RecordedRecommendations final : public RecommendationSource {
 public:
  // kInvalidArgument for a second list for the same event.
  Status Add(uint64_t event_id, const Recommendation& recommendation);
  void Observe(const shop::Event&) override {}
  Status Recommend(const shop::Event& event, Recommendation* out) override;
  size_t size() const { return lists_.size(); }
  // Lists handed out by Recommend: the others were for events that are no prediction point
  // (or not in the evaluated events at all).
  size_t used() const { return used_; }

 private:
  std::unordered_map<uint64_t, Recommendation> lists_;
  size_t used_ = 0;
};

// Reads recorded lists from NDJSON, one object per line (blank lines skipped), as
// `impulse backfill --format ndjson` writes a ranker's output stream:
//   {"event_id":17,"recs":"[412,7,95]", ...}
// `recs` is a string holding a JSON array of item ids (numbers, or strings of digits), or null
// (the rank step's output for an event without candidates: no list, the line is skipped); an
// optional `recs_as_of_ms` (an integer, epoch milliseconds) is converted to the list's as_of
// with `start_epoch_day` (the simulation's first day). Other fields are ignored. kInvalidArgument
// naming the line for anything else (a missing field, a bad id, a second list for an event).
Status ParseRecordedNdjson(std::string_view text, int64_t start_epoch_day, RecordedRecommendations* out);

// A list of item ids as the rank step writes it (its `recs` field): a JSON array of numbers or
// strings of digits, e.g. "[412,7,95]". Replaces *items. kInvalidArgument for anything else.
Status ParseItemList(simdjson::ondemand::parser* parser, std::string_view json, std::vector<uint32_t>* items);

struct Metrics {
  uint64_t cases = 0;
  uint64_t hits = 0;          // target within the first kListLength items
  uint64_t without_list = 0;  // cases scored on an empty list (misses)
  double ndcg_sum = 0;        // sum of 1 / log2(1 + rank) over hits (one relevant item)
  double hit_rate() const;    // hits / cases, 0 without cases
  double ndcg() const;        // ndcg_sum / cases, 0 without cases
};

// Age of the data behind each list (event time - as_of), over the distinct prediction events
// whose list has an as_of; nearest-rank quantiles in seconds.
struct Freshness {
  uint64_t lists = 0;
  double mean_seconds = 0, p50_seconds = 0, p90_seconds = 0, max_seconds = 0;
};

struct Evaluation {
  Metrics next_click;
  Metrics next_purchase;
  Freshness freshness;
};

// Scores `source` on `cases` (BuildCases' order) over `events`. kInvalidArgument if a case is
// out of range or out of order, or a list repeats an item; a source's error is returned as is.
Result<Evaluation> Evaluate(std::span<const shop::Event> events, std::span<const Case> cases,
                            RecommendationSource* source);

}  // namespace impulse::examples::personalization
