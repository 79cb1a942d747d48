#include "expr/parser.h"

#include <algorithm>
#include <charconv>
#include <string>

#include "event/timestamp.h"
#include "expr/lexer.h"

namespace impulse::plan {
namespace {

struct ParseError {
  uint32_t pos;
  std::string message;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : lexer_(text) {}

  ExprPtr Parse(std::vector<ExprDiag>* diags) {
    ExprPtr e;
    if (Advance()) e = ParseOr();
    if (e && tok_.kind != Tok::kEnd) Fail(tok_.pos, "unexpected " + Describe(tok_) + " after expression");
    if (failed_) {
      diags->push_back({error_.pos, error_.message});
      return nullptr;
    }
    return e;
  }

 private:
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEnd: return "end of expression";
      case Tok::kString: return "string '" + t.str + "'";
      default: return "'" + std::string(t.raw) + "'";
    }
  }

  bool Advance() {
    std::string err;
    tok_ = lexer_.Next(&err);
    if (tok_.kind == Tok::kBad) return Fail(tok_.pos, err);
    return true;
  }
  bool Fail(uint32_t pos, std::string message) {
    if (!failed_) error_ = {pos, std::move(message)};
    failed_ = true;
    return false;
  }
  bool IsKeyword(std::string_view kw) const { return tok_.kind == Tok::kIdent && EqualsNoCase(tok_.raw, kw); }
  bool IsOp(std::string_view op) const { return tok_.kind == Tok::kOp && tok_.raw == op; }
  bool Expect(Tok kind, std::string_view what) {
    if (tok_.kind != kind) return Fail(tok_.pos, "expected " + std::string(what) + ", found " + Describe(tok_));
    return Advance();
  }
  bool ExpectKeyword(std::string_view kw) {
    if (!IsKeyword(kw)) return Fail(tok_.pos, "expected " + std::string(kw) + ", found " + Describe(tok_));
    return Advance();
  }

  // Builds a node and enforces the tree height bound. Nesting is bounded where the parser
  // recurses (recursion_); left-deep chains like 1+1+1... grow the height without recursion in
  // the parser, so the height is checked here, against its own limit and with its own message.
  ExprPtr Make(ExprKind kind, uint32_t pos, std::vector<ExprPtr> children) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    int depth = 1;
    for (auto& c : children) depth = std::max(depth, c->depth + 1);
    e->depth = depth;
    if (depth > kExprHeightMax) {
      Fail(pos, "expression too large: more than " + std::to_string(kExprHeightMax) +
                    " levels of operators (a chain like a + b + c counts one level per operator; split it into "
                    "several map steps)");
      return nullptr;
    }
    e->children = std::move(children);
    return e;
  }

  ExprPtr NestedTooDeeply(uint32_t pos) {
    Fail(pos, "expression nested too deeply (limit " + std::to_string(kExprDepthMax) + ")");
    return nullptr;
  }

  ExprPtr ParseOr() {
    ExprPtr lhs = ParseAnd();
    while (lhs && IsKeyword("or")) {
      uint32_t pos = tok_.pos;
      if (!Advance()) return nullptr;
      ExprPtr rhs = ParseAnd();
      if (!rhs) return nullptr;
      lhs = Binary(BinOp::kOr, pos, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }
  ExprPtr ParseAnd() {
    ExprPtr lhs = ParseNot();
    while (lhs && IsKeyword("and")) {
      uint32_t pos = tok_.pos;
      if (!Advance()) return nullptr;
      ExprPtr rhs = ParseNot();
      if (!rhs) return nullptr;
      lhs = Binary(BinOp::kAnd, pos, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }
  ExprPtr ParseNot() {
    if (IsKeyword("not")) {
      uint32_t pos = tok_.pos;
      if (++recursion_ > kExprDepthMax) return NestedTooDeeply(pos);
      if (!Advance()) return nullptr;
      ExprPtr operand = ParseNot();
      --recursion_;
      if (!operand) return nullptr;
      std::vector<ExprPtr> ch;
      ch.push_back(std::move(operand));
      ExprPtr e = Make(ExprKind::kUnary, pos, std::move(ch));
      if (e) e->un = UnOp::kNot;
      return e;
    }
    return ParseComparison();
  }
  ExprPtr Binary(BinOp op, uint32_t pos, ExprPtr a, ExprPtr b) {
    std::vector<ExprPtr> ch;
    ch.push_back(std::move(a));
    ch.push_back(std::move(b));
    ExprPtr e = Make(ExprKind::kBinary, pos, std::move(ch));
    if (e) e->bin = op;
    return e;
  }

  ExprPtr ParseComparison() {
    ExprPtr lhs = ParseAdditive();
    if (!lhs) return nullptr;
    if (tok_.kind == Tok::kOp) {
      static constexpr std::pair<std::string_view, BinOp> kCmp[] = {
          {"=", BinOp::kEq}, {"==", BinOp::kEq}, {"!=", BinOp::kNe}, {"<>", BinOp::kNe},
          {"<", BinOp::kLt}, {"<=", BinOp::kLe}, {">", BinOp::kGt},  {">=", BinOp::kGe}};
      for (auto [text, op] : kCmp) {
        if (tok_.raw != text) continue;
        uint32_t pos = tok_.pos;
        if (!Advance()) return nullptr;
        ExprPtr rhs = ParseAdditive();
        if (!rhs) return nullptr;
        return Binary(op, pos, std::move(lhs), std::move(rhs));
      }
      return lhs;
    }
    uint32_t pos = tok_.pos;
    if (IsKeyword("is")) {
      if (!Advance()) return nullptr;
      bool negated = false;
      if (IsKeyword("not")) {
        negated = true;
        if (!Advance()) return nullptr;
      }
      if (!ExpectKeyword("null")) return nullptr;
      std::vector<ExprPtr> ch;
      ch.push_back(std::move(lhs));
      ExprPtr e = Make(ExprKind::kIsNull, pos, std::move(ch));
      if (e) e->negated = negated;
      return e;
    }
    bool negated = false;
    if (IsKeyword("not")) {
      negated = true;
      if (!Advance()) return nullptr;
      if (!IsKeyword("between") && !IsKeyword("in")) {
        Fail(tok_.pos, "expected BETWEEN or IN after NOT, found " + Describe(tok_));
        return nullptr;
      }
    }
    if (IsKeyword("between")) {
      if (!Advance()) return nullptr;
      ExprPtr lo = ParseAdditive();
      if (!lo || !ExpectKeyword("and")) return nullptr;
      ExprPtr hi = ParseAdditive();
      if (!hi) return nullptr;
      std::vector<ExprPtr> ch;
      ch.push_back(std::move(lhs));
      ch.push_back(std::move(lo));
      ch.push_back(std::move(hi));
      ExprPtr e = Make(ExprKind::kBetween, pos, std::move(ch));
      if (e) e->negated = negated;
      return e;
    }
    if (IsKeyword("in")) {
      if (!Advance() || !Expect(Tok::kLParen, "'('")) return nullptr;
      std::vector<ExprPtr> ch;
      ch.push_back(std::move(lhs));
      if (!ParseList(&ch)) return nullptr;
      ExprPtr e = Make(ExprKind::kIn, pos, std::move(ch));
      if (e) e->negated = negated;
      return e;
    }
    return lhs;
  }

  // Parses "a, b, c)" (at least one item) appending to `out`.
  bool ParseList(std::vector<ExprPtr>* out) {
    size_t n = 0;
    for (;;) {
      if (++n > kExprArgsMax) return Fail(tok_.pos, "too many items (limit " + std::to_string(kExprArgsMax) + ")");
      ExprPtr item = ParseOr();
      if (!item) return false;
      out->push_back(std::move(item));
      if (tok_.kind == Tok::kComma) {
        if (!Advance()) return false;
        continue;
      }
      return Expect(Tok::kRParen, "',' or ')'");
    }
  }

  ExprPtr ParseAdditive() {
    ExprPtr lhs = ParseMultiplicative();
    while (lhs && (IsOp("+") || IsOp("-"))) {
      BinOp op = tok_.raw == "+" ? BinOp::kAdd : BinOp::kSub;
      uint32_t pos = tok_.pos;
      if (!Advance()) return nullptr;
      ExprPtr rhs = ParseMultiplicative();
      if (!rhs) return nullptr;
      lhs = Binary(op, pos, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }
  ExprPtr ParseMultiplicative() {
    ExprPtr lhs = ParseUnary();
    while (lhs && (IsOp("*") || IsOp("/") || IsOp("%"))) {
      BinOp op = tok_.raw == "*" ? BinOp::kMul : tok_.raw == "/" ? BinOp::kDiv : BinOp::kMod;
      uint32_t pos = tok_.pos;
      if (!Advance()) return nullptr;
      ExprPtr rhs = ParseUnary();
      if (!rhs) return nullptr;
      lhs = Binary(op, pos, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }
  ExprPtr ParseUnary() {
    if (IsOp("-") || IsOp("+")) {
      bool neg = tok_.raw == "-";
      uint32_t pos = tok_.pos;
      if (++recursion_ > kExprDepthMax) return NestedTooDeeply(pos);
      if (!Advance()) return nullptr;
      ExprPtr operand = ParseUnary();
      --recursion_;
      if (!operand || !neg) return operand;
      std::vector<ExprPtr> ch;
      ch.push_back(std::move(operand));
      ExprPtr e = Make(ExprKind::kUnary, pos, std::move(ch));
      if (e) e->un = UnOp::kNeg;
      return e;
    }
    return ParsePrimary();
  }

  ExprPtr Literal(uint32_t pos, ExprType type, Value v) {
    ExprPtr e = Make(ExprKind::kLiteral, pos, {});
    e->literal_type = type;
    e->literal = v;
    return e;
  }

  ExprPtr ParsePrimary() {
    uint32_t pos = tok_.pos;
    if (++recursion_ > kExprDepthMax) return NestedTooDeeply(pos);
    ExprPtr e = ParsePrimaryInner();
    --recursion_;
    return e;
  }

  ExprPtr ParsePrimaryInner() {
    uint32_t pos = tok_.pos;
    switch (tok_.kind) {
      case Tok::kInt: {
        int64_t v = 0;
        auto r = std::from_chars(tok_.raw.data(), tok_.raw.data() + tok_.raw.size(), v);
        if (r.ec != std::errc()) return Fail(pos, "integer literal out of range"), nullptr;
        if (!Advance()) return nullptr;
        return Literal(pos, ExprType::kInt64, Value::Int(v));
      }
      case Tok::kNumber: {
        std::string tmp(tok_.raw);
        char* end = nullptr;
        double v = std::strtod(tmp.c_str(), &end);
        if (!Advance()) return nullptr;
        return Literal(pos, ExprType::kDouble, Value::Double(v));
      }
      case Tok::kString: {
        ExprPtr e = Literal(pos, ExprType::kString, Value::Null());
        e->text = std::move(tok_.str);
        if (!Advance()) return nullptr;
        return e;
      }
      case Tok::kQuotedIdent: {
        if (tok_.str.empty()) return Fail(pos, "empty quoted name"), nullptr;
        ExprPtr e = Make(ExprKind::kField, pos, {});
        e->text = std::move(tok_.str);
        if (!Advance()) return nullptr;
        return e;
      }
      case Tok::kLParen: {
        if (!Advance()) return nullptr;
        ExprPtr e = ParseOr();
        if (!e || !Expect(Tok::kRParen, "')'")) return nullptr;
        return e;
      }
      case Tok::kIdent: return ParseIdentifier();
      default: Fail(pos, "expected an expression, found " + Describe(tok_)); return nullptr;
    }
  }

  ExprPtr ParseIdentifier() {
    uint32_t pos = tok_.pos;
    std::string_view word = tok_.raw;
    if (EqualsNoCase(word, "true") || EqualsNoCase(word, "false")) {
      bool v = EqualsNoCase(word, "true");
      if (!Advance()) return nullptr;
      return Literal(pos, ExprType::kBool, Value::Bool(v));
    }
    if (EqualsNoCase(word, "null")) {
      if (!Advance()) return nullptr;
      return Literal(pos, ExprType::kNull, Value::Null());
    }
    if (EqualsNoCase(word, "case")) return ParseCase();
    if (EqualsNoCase(word, "cast")) return ParseCast();
    static constexpr std::string_view kReserved[] = {"and",  "or",   "not",  "is",  "between", "in",
                                                     "when", "then", "else", "end", "as"};
    for (std::string_view kw : kReserved) {
      if (EqualsNoCase(word, kw)) {
        Fail(pos, "expected an expression, found keyword '" + std::string(word) + "' (quote field names like `" +
                      std::string(word) + "`)");
        return nullptr;
      }
    }
    std::string name(word);
    if (!Advance()) return nullptr;
    if (EqualsNoCase(name, "timestamp") && tok_.kind == Tok::kString) {
      Result<int64_t> ms = ParseTimestampMs(tok_.str);
      if (!ms.ok()) {
        Fail(tok_.pos, "invalid timestamp literal '" + tok_.str + "': " + ms.status().message());
        return nullptr;
      }
      if (!Advance()) return nullptr;
      return Literal(pos, ExprType::kTimestamp, Value::Int(*ms));
    }
    if (tok_.kind == Tok::kLParen) {
      if (!Advance()) return nullptr;
      std::vector<ExprPtr> args;
      if (tok_.kind == Tok::kRParen) {
        if (!Advance()) return nullptr;
      } else if (!ParseList(&args)) {
        return nullptr;
      }
      ExprPtr e = Make(ExprKind::kCall, pos, std::move(args));
      if (!e) return nullptr;
      for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      e->text = std::move(name);
      if (e->text == "if") e->kind = ExprKind::kIf;  // checked for arity by the checker
      return e;
    }
    ExprPtr e = Make(ExprKind::kField, pos, {});
    e->text = std::move(name);
    return e;
  }

  ExprPtr ParseCase() {
    uint32_t pos = tok_.pos;
    if (!Advance()) return nullptr;
    std::vector<ExprPtr> ch;
    if (!IsKeyword("when")) return Fail(tok_.pos, "expected WHEN, found " + Describe(tok_)), nullptr;
    while (IsKeyword("when")) {
      if (ch.size() / 2 >= kExprArgsMax) return Fail(tok_.pos, "too many WHEN arms"), nullptr;
      if (!Advance()) return nullptr;
      ExprPtr cond = ParseOr();
      if (!cond || !ExpectKeyword("then")) return nullptr;
      ExprPtr val = ParseOr();
      if (!val) return nullptr;
      ch.push_back(std::move(cond));
      ch.push_back(std::move(val));
    }
    bool has_else = false;
    if (IsKeyword("else")) {
      if (!Advance()) return nullptr;
      ExprPtr val = ParseOr();
      if (!val) return nullptr;
      ch.push_back(std::move(val));
      has_else = true;
    }
    if (!ExpectKeyword("end")) return nullptr;
    ExprPtr e = Make(ExprKind::kCase, pos, std::move(ch));
    if (e) e->has_else = has_else;
    return e;
  }

  ExprPtr ParseCast() {
    uint32_t pos = tok_.pos;
    if (!Advance() || !Expect(Tok::kLParen, "'(' after CAST")) return nullptr;
    ExprPtr x = ParseOr();
    if (!x || !ExpectKeyword("as")) return nullptr;
    uint32_t type_pos = tok_.pos;
    std::optional<FieldType> ft;
    if (tok_.kind == Tok::kIdent) {
      std::string lower(tok_.raw);
      for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      ft = ParseFieldType(lower);
    }
    if (!ft) {
      Fail(type_pos, "expected a type (int64, double, bool, string, timestamp), found " + Describe(tok_));
      return nullptr;
    }
    if (!Advance() || !Expect(Tok::kRParen, "')'")) return nullptr;
    std::vector<ExprPtr> ch;
    ch.push_back(std::move(x));
    ExprPtr e = Make(ExprKind::kCast, pos, std::move(ch));
    if (e) e->cast_to = FromFieldType(*ft);
    return e;
  }

  Lexer lexer_;
  Token tok_;
  bool failed_ = false;
  ParseError error_{0, {}};
  int recursion_ = 0;
};

}  // namespace

ExprPtr ParseExpr(std::string_view text, std::vector<ExprDiag>* diags) {
  if (text.size() > kExprTextBytesMax) {
    diags->push_back({0, "expression longer than " + std::to_string(kExprTextBytesMax) + " bytes"});
    return nullptr;
  }
  Parser parser(text);
  return parser.Parse(diags);
}

}  // namespace impulse::plan
