#include "plan/online_store.h"

#include <charconv>

#include "plan/stateful.h"

namespace impulse::plan {

void OnlineStore::Put(std::string_view key, int64_t as_of_ms, std::string_view values) {
  Stripe& s = StripeOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    it = s.map.emplace(std::string(key), Entry{}).first;
    size_.fetch_add(1, std::memory_order_relaxed);
  }
  it->second.as_of_ms = as_of_ms;
  it->second.values.assign(values.data(), values.size());  // reuses the buffer
}

void OnlineStore::Erase(std::string_view key) {
  Stripe& s = StripeOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) return;
  s.map.erase(it);
  size_.fetch_sub(1, std::memory_order_relaxed);
}

bool OnlineStore::Get(std::string_view key, Entry* out) const {
  Stripe& s = StripeOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) return false;
  out->as_of_ms = it->second.as_of_ms;
  out->values.assign(it->second.values);
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
