#include "expr/lexer.h"

namespace impulse::plan {

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

Token Lexer::Next(std::string* error) {
  while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
  Token t;
  t.pos = static_cast<uint32_t>(p_);
  if (p_ >= s_.size()) return t;
  char c = s_[p_];
  size_t start = p_;
  if (IsIdentStart(c)) {
    while (p_ < s_.size() && IsIdentChar(s_[p_])) ++p_;
    t.kind = Tok::kIdent;
  } else if (IsDigit(c) || (c == '.' && p_ + 1 < s_.size() && IsDigit(s_[p_ + 1]))) {
    bool is_float = false;
    while (p_ < s_.size() && IsDigit(s_[p_])) ++p_;
    if (p_ < s_.size() && s_[p_] == '.') {
      is_float = true;
      ++p_;
      while (p_ < s_.size() && IsDigit(s_[p_])) ++p_;
    }
    if (p_ < s_.size() && (s_[p_] == 'e' || s_[p_] == 'E')) {
      size_t q = p_ + 1;
      if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) ++q;
      if (q < s_.size() && IsDigit(s_[q])) {
        is_float = true;
        p_ = q;
        while (p_ < s_.size() && IsDigit(s_[p_])) ++p_;
      }
    }
    if (p_ < s_.size() && IsIdentStart(s_[p_])) {
      *error = "malformed number";
      t.kind = Tok::kBad;
      return t;
    }
    t.kind = is_float ? Tok::kNumber : Tok::kInt;
  } else if (c == '\'' || c == '`') {
    ++p_;
    for (;;) {
      if (p_ >= s_.size()) {
        *error = c == '\'' ? "unterminated string literal" : "unterminated quoted name";
        t.kind = Tok::kBad;
        return t;
      }
      if (s_[p_] == c) {
        if (p_ + 1 < s_.size() && s_[p_ + 1] == c) {  // doubled quote = one quote
          t.str.push_back(c);
          p_ += 2;
          continue;
        }
        ++p_;
        break;
      }
      t.str.push_back(s_[p_++]);
    }
    t.kind = c == '\'' ? Tok::kString : Tok::kQuotedIdent;
  } else if (c == '(') {
    ++p_;
    t.kind = Tok::kLParen;
  } else if (c == ')') {
    ++p_;
    t.kind = Tok::kRParen;
  } else if (c == ',') {
    ++p_;
    t.kind = Tok::kComma;
  } else {
    static constexpr std::string_view kOps[] = {"==", "!=", "<>", "<=", ">=", "+", "-", "*", "/", "%", "=", "<", ">"};
    for (std::string_view op : kOps) {
      if (s_.substr(p_, op.size()) == op) {
        p_ += op.size();
        t.kind = Tok::kOp;
        break;
      }
    }
    if (t.kind != Tok::kOp) {
      *error = std::string("unexpected character '") + c + "'";
      t.kind = Tok::kBad;
      return t;
    }
  }
  t.raw = s_.substr(start, p_ - start);
  return t;
}

}  // namespace impulse::plan
