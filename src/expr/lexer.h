// The expression lexer: text -> tokens (identifiers, quoted names, numbers, 'strings',
// operators, punctuation), each with its byte offset for error positions. Load time only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace impulse::plan {

enum class Tok : uint8_t { kEnd, kIdent, kQuotedIdent, kInt, kNumber, kString, kOp, kLParen, kRParen, kComma, kBad };

struct Token {
  Tok kind = Tok::kEnd;
  uint32_t pos = 0;
  std::string_view raw;  // the token's text (operators, identifiers, numbers)
  std::string str;       // unescaped string literal / quoted identifier
};

inline bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
inline bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ASCII case-insensitive comparison; `lower` must be lower case.
bool EqualsNoCase(std::string_view a, std::string_view lower);

// Tokenizes one expression string, left to right. Whitespace separates tokens; '' inside a
// string and `` inside a quoted name stand for one quote. The text must outlive the lexer.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}

  // Produces the next token; on a lexical error returns Tok::kBad with `error` set.
  Token Next(std::string* error);

 private:
  std::string_view s_;
  size_t p_ = 0;
};

}  // namespace impulse::plan
