// OnlineStore: the latest feature values of every entity of one feature view, as of the entity's
// latest event, for online lookups (docs/FEATURES.md).
//
// Written by the features operators computing the view (one per task; an entity lives in one
// task, so one writer per entity), read by lookups from any thread. The map is split into
// stripes, each behind its own mutex, so a lookup never waits for more than one write of one
// entity and writers on different shards rarely meet. Values are the feature row encoded with
// the row codec (src/event/row_codec.h) of the view's feature schema.
// Bounded by the operators: an entity leaves the store when its state expires (ttl) and no
// task holds more than the view's entities_max.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "state/flat_map.h"

#include "plan/logical_plan.h"

namespace impulse::plan {

class OnlineStore {
 public:
  explicit OnlineStore(std::shared_ptr<const FeatureViewDef> view) : view_(std::move(view)) {}
  OnlineStore(const OnlineStore&) = delete;
  OnlineStore& operator=(const OnlineStore&) = delete;

  const FeatureViewDef& view() const { return *view_; }

  struct Entry {
    int64_t as_of_ms = 0;  // event time of the entity's latest event
    std::string values;    // the encoded feature row
  };

  // `key` is the entity's key bytes (AppendKeyBytes of the entity field).
  void Put(std::string_view key, int64_t as_of_ms, std::string_view values);
  void Erase(std::string_view key);
  // Removes every entity, and what was remembered of expired ones (a reset of the pipeline
  // computing the view drops the state those values came from).
  void Clear();
  // Erases an entity whose state expired in event time, remembering (boundedly: the last
  // kExpiredRememberedPerStripe per stripe) that it did, so that a lookup can say "expired"
  // rather than "unknown entity".
  void Expire(std::string_view key);
  bool Get(std::string_view key, Entry* out) const;
  // Whether `key` is among the remembered expired entities; *as_of_ms is its last event time.
  bool WasExpired(std::string_view key, int64_t* as_of_ms) const;
  static constexpr size_t kExpiredRememberedPerStripe = 256;
  size_t size() const { return size_.load(std::memory_order_relaxed); }

  // The key bytes of an entity given as text ("42" for int64 entities); false if the text is
  // not a valid value of the entity's type (*why says why).
  bool KeyFromText(std::string_view text, std::string* key, std::string* why) const;

 private:
  struct Stripe {
    mutable std::mutex mu;
    state::internal::FlatStringMap<Entry> map;            // open addressing: one probe in contiguous slots
    std::deque<std::pair<std::string, int64_t>> expired;  // (key, as_of_ms), oldest first
  };
  static constexpr size_t kStripes = 64;
  Stripe& StripeOf(std::string_view key) const { return stripes_[std::hash<std::string_view>()(key) % kStripes]; }

  std::shared_ptr<const FeatureViewDef> view_;
  mutable std::array<Stripe, kStripes> stripes_;
  std::atomic<size_t> size_{0};
};

}  // namespace impulse::plan
