#include "features/online_store.h"

#include <charconv>

#include "ops/operator.h"

namespace impulse::plan {

void OnlineStore::Put(std::string_view key, int64_t as_of_ms, std::string_view values) {
  Stripe& s = StripeOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  Entry* e = s.map.Find(key);
  if (e == nullptr) {
    e = s.map.Insert(key);
    size_.fetch_add(1, std::memory_order_relaxed);
  }
  e->as_of_ms = as_of_ms;
  e->values.assign(values.data(), values.size());  // reuses the buffer
}

void OnlineStore::Erase(std::string_view key) {
  Stripe& s = StripeOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.map.Erase(key)) size_.fetch_sub(1, std::memory_order_relaxed);
}

void OnlineStore::Clear() {
  for (Stripe& s : stripes_) {
    std::lock_guard<std::mutex> lock(s.mu);
    size_.fetch_sub(s.map.size(), std::memory_order_relaxed);
    s.map = state::internal::FlatStringMap<Entry>();
    s.expired.clear();
  }
}

void OnlineStore::Expire(std::string_view key) {
  Stripe& s = StripeOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  const Entry* e = s.map.Find(key);
  if (e == nullptr) return;
  if (s.expired.size() >= kExpiredRememberedPerStripe) s.expired.pop_front();
  s.expired.emplace_back(std::string(key), e->as_of_ms);
  s.map.Erase(key);
  size_.fetch_sub(1, std::memory_order_relaxed);
}

bool OnlineStore::WasExpired(std::string_view key, int64_t* as_of_ms) const {
  Stripe& s = StripeOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  for (auto it = s.expired.rbegin(); it != s.expired.rend(); ++it) {  // the latest expiry first
    if (it->first == key) {
      *as_of_ms = it->second;
      return true;
    }
  }
  return false;
}

bool OnlineStore::Get(std::string_view key, Entry* out) const {
  Stripe& s = StripeOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  const Entry* e = s.map.Find(key);
  if (e == nullptr) return false;
  out->as_of_ms = e->as_of_ms;
  out->values.assign(e->values);
  return true;
}

bool OnlineStore::KeyFromText(std::string_view text, std::string* key, std::string* why) const {
  const Field& f = view_->entity;
  Value v;
  if (f.type == FieldType::kInt64) {
    int64_t x = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), x);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) {
      *why = "entity '" + std::string(text) + "' is not an int64 (" + f.name + ")";
      return false;
    }
    v = Value::Int(x);
  } else {
    v = Value::String(text);
  }
  key->clear();
  AppendKeyBytes(Schema({f}), {0}, &v, key);
  return true;
}

}  // namespace impulse::plan
