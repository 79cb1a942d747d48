#include "ops/window_state.h"
#include "common/fixed_codec.h"

namespace impulse::plan::window_internal {

namespace {
thread_local const agg::AggregateSet* tls_set = nullptr;

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

AggBlock& KeyPanes::PaneAt(int64_t ps, int64_t slide, bool* created) {
  if (panes.empty()) {
    base = ps;
  } else if (ps < base) {
    // An older pane (out of order, within the lateness): prepend the missing slots.
    const size_t n = static_cast<size_t>((base - ps) / slide);
    std::vector<AggBlock> grown(n);
    for (AggBlock& b : panes) grown.push_back(std::move(b));
    panes = std::move(grown);
    base = ps;
  }
  const size_t i = static_cast<size_t>((ps - base) / slide);
  if (i >= panes.size()) panes.resize(i + 1);
  *created = panes[i].empty();
  return panes[i];
}

bool KeyPanes::DropBefore(int64_t start, int64_t slide) {
  size_t drop = 0;
  while (drop < panes.size() && base + static_cast<int64_t>(drop) * slide < start) ++drop;
  if (drop > 0) {
    panes.erase(panes.begin(), panes.begin() + static_cast<std::ptrdiff_t>(drop));
    base += static_cast<int64_t>(drop) * slide;
  }
  for (const AggBlock& b : panes) {
    if (!b.empty()) return false;
  }
  return true;
}

void KeyPanes::Serialize(std::string* out) const {
  PutI64(base, out);
  PutI64(last_emitted_end, out);
  PutI64(static_cast<int64_t>(panes.size()), out);
  for (const AggBlock& b : panes) {
    out->push_back(b.empty() ? '\0' : '\1');
    if (!b.empty()) b.Serialize(out);
  }
}

Status KeyPanes::Deserialize(std::string_view in) {
  int64_t n = 0;
  if (!GetI64(&in, &base) || !GetI64(&in, &last_emitted_end) || !GetI64(&in, &n) || n < 0 ||
      n > static_cast<int64_t>(in.size())) {
    return DataLoss("window panes: bad header");
  }
  panes.clear();
  panes.resize(static_cast<size_t>(n));
  for (AggBlock& b : panes) {
    if (in.empty()) return DataLoss("window panes: truncated");
    const char present = in[0];
    in.remove_prefix(1);
    if (present == '\1') RETURN_IF_ERROR(b.Deserialize(&in));
  }
  return in.empty() ? Status::OK() : DataLoss("window panes: trailing bytes");
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
