#include "impulse/row.h"

#include <algorithm>

namespace impulse {

char* Arena::Allocate(size_t n) {
  while (chunk_index_ < chunks_.size()) {
    Chunk& c = chunks_[chunk_index_];
    if (c.size - pos_ >= n) {
      char* p = c.data.get() + pos_;
      pos_ += n;
      used_total_ += n;
      return p;
    }
    ++chunk_index_;
    pos_ = 0;
  }
  size_t size = std::max(chunk_bytes_, n);
  chunks_.push_back(Chunk{std::make_unique<char[]>(size), size});
  chunk_index_ = chunks_.size() - 1;
  pos_ = n;
  used_total_ += n;
  return chunks_.back().data.get();
}

void Arena::Clear() {
  // Keep the steady-state working set (up to kRetainBytes); release rare oversized growth.
  constexpr size_t kRetainBytes = 4u << 20;
  size_t kept = 0, total = 0;
  while (kept < chunks_.size() && total + chunks_[kept].size <= kRetainBytes) total += chunks_[kept++].size;
  chunks_.resize(std::max<size_t>(kept, chunks_.empty() ? 0 : 1));
  chunk_index_ = 0;
  pos_ = 0;
  used_total_ = 0;
}

void RowBatch::AppendCopy(const RowBatch& src, size_t i) {
  const Value* s = src.row(i);
  Value* d = AppendRow();
  meta_.back() = src.meta(i);
  for (size_t f = 0; f < width_; ++f) {
    d[f] = s[f];
    if (!s[f].null && s[f].len > 0 && s[f].str != nullptr) {
      // Only string values carry a length; numeric values keep len == 0.
      d[f].str = arena_.Copy(s[f].sv()).data();
    }
  }
}

}  // namespace impulse
