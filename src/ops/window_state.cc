#include "ops/window_state.h"
#include "common/fixed_codec.h"

#include <algorithm>

namespace impulse::plan::window_internal {

namespace {
thread_local const agg::AggregateSet* tls_set = nullptr;
thread_local int64_t tls_slide = 0;

}  // namespace

const agg::AggregateSet* CurrentAggSet() { return tls_set; }

AggScope::AggScope(const agg::AggregateSet* set, int64_t slide) : previous_(tls_set), previous_slide_(tls_slide) {
  tls_set = set;
  tls_slide = slide;
}
AggScope::~AggScope() {
  tls_set = previous_;
  tls_slide = previous_slide_;
}

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

namespace {
// Leads the sparse encoding; never a pane start of the dense one (those are within +-2^53 ms).
constexpr int64_t kSparsePanesTag = INT64_MIN + 1;
}  // namespace

AggBlock* KeyPanes::PaneAt(int64_t ps, size_t max_panes, bool* created) {
  // In-order input appends or finds the last pane: check it before searching.
  auto it = panes.end();
  if (panes.empty() || panes.back().start < ps) {
    it = panes.end();
  } else if (panes.back().start == ps) {
    *created = false;
    return &panes.back().agg;
  } else {
    it = std::lower_bound(panes.begin(), panes.end(), ps, [](const Pane& p, int64_t s) { return p.start < s; });
    if (it->start == ps) {
      *created = false;
      return &it->agg;
    }
  }
  if (panes.size() >= max_panes) return nullptr;
  *created = true;
  Pane pane;
  pane.start = ps;
  it = panes.insert(it, std::move(pane));
  return &it->agg;
}

bool KeyPanes::DropBefore(int64_t start) {
  auto keep = std::find_if(panes.begin(), panes.end(), [&](const Pane& p) { return p.start >= start; });
  panes.erase(panes.begin(), keep);
  return panes.empty();
}

void KeyPanes::Serialize(std::string* out) const {
  PutI64(kSparsePanesTag, out);
  PutI64(last_emitted_end, out);
  PutI64(static_cast<int64_t>(panes.size()), out);
  for (const Pane& p : panes) {
    PutI64(p.start, out);
    p.agg.Serialize(out);
  }
}

Status KeyPanes::Deserialize(std::string_view in) {
  const int64_t slide = tls_slide;
  int64_t tag = 0;
  int64_t n = 0;
  if (!GetI64(&in, &tag) || !GetI64(&in, &last_emitted_end) || !GetI64(&in, &n) || n < 0 ||
      n > static_cast<int64_t>(in.size())) {
    return DataLoss("window panes: bad header");
  }
  panes.clear();
  if (tag == kSparsePanesTag) {
    for (int64_t i = 0; i < n; ++i) {
      Pane p;
      if (!GetI64(&in, &p.start)) return DataLoss("window panes: truncated");
      if (!panes.empty() && p.start <= panes.back().start) return DataLoss("window panes: out of order");
      RETURN_IF_ERROR(p.agg.Deserialize(&in));
      panes.push_back(std::move(p));
    }
  } else {
    // Dense: `tag` is the base, then a presence byte (and a block) per slide.
    if (slide <= 0) return DataLoss("window panes: dense form outside a window scope");
    for (int64_t i = 0; i < n; ++i) {
      if (in.empty()) return DataLoss("window panes: truncated");
      const char present = in[0];
      in.remove_prefix(1);
      if (present != '\1') continue;
      Pane p;
      p.start = tag + i * slide;
      RETURN_IF_ERROR(p.agg.Deserialize(&in));
      panes.push_back(std::move(p));
    }
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
