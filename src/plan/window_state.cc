#include "plan/window_state.h"

namespace impulse::plan::window_internal {

namespace {
thread_local const agg::AggregateSet* tls_set = nullptr;

void PutI64(int64_t v, std::string* out) { out->append(reinterpret_cast<const char*>(&v), sizeof(v)); }
bool GetI64(std::string_view* in, int64_t* v) {
  if (in->size() < sizeof(*v)) return false;
  std::memcpy(v, in->data(), sizeof(*v));
  in->remove_prefix(sizeof(*v));
  return true;
}
}  // namespace

const agg::AggregateSet* CurrentAggSet() { return tls_set; }

AggScope::AggScope(const agg::AggregateSet* set) : previous_(tls_set) { tls_set = set; }
AggScope::~AggScope() { tls_set = previous_; }

void AggBlock::Allocate() {
  set_ = tls_set;
  IMPULSE_CHECK(set_ != nullptr);  // blocks are only used inside an AggScope
  data_ = std::make_unique<uint64_t[]>((set_->state_size() + 7) / 8);
  set_->Init(reinterpret_cast<uint8_t*>(data_.get()));
}

void AggBlock::Reset() {
  if (set_ != nullptr && data_) set_->Destroy(data());
  data_.reset();
  set_ = nullptr;
}

void AggBlock::Serialize(std::string* out) const {
  if (data_) {
    set_->Serialize(reinterpret_cast<const uint8_t*>(data_.get()), out);
    return;
  }
  AggBlock empty;  // the encoding of an empty state
  empty.data();
  empty.Serialize(out);
}

Status AggBlock::Deserialize(std::string_view* in) {
  uint8_t* block = data();
  return set_->Deserialize(in, block);
}

size_t AggBlock::HeapBytes() const {
  return data_ ? set_->state_size() + set_->HeapBytes(reinterpret_cast<const uint8_t*>(data_.get())) : 0;
}

void SessionList::Serialize(std::string* out) const {
  PutI64(static_cast<int64_t>(sessions.size()), out);
  for (const Session& s : sessions) {
    PutI64(s.start, out);
    PutI64(s.end, out);
    s.agg.Serialize(out);
  }
}

Status SessionList::Deserialize(std::string_view in) {
  int64_t n = 0;
  if (!GetI64(&in, &n) || n < 0 || n > static_cast<int64_t>(in.size())) return DataLoss("session list: bad count");
  sessions.clear();
  for (int64_t i = 0; i < n; ++i) {
    Session s;
    if (!GetI64(&in, &s.start) || !GetI64(&in, &s.end)) return DataLoss("session list: truncated");
    RETURN_IF_ERROR(s.agg.Deserialize(&in));
    sessions.push_back(std::move(s));
  }
  return in.empty() ? Status::OK() : DataLoss("session list: trailing bytes");
}

}  // namespace impulse::plan::window_internal
