#include "server/request_head.h"

namespace impulse::server {

namespace http = boost::beast::http;

std::optional<EarlyReply> CheckRequestHead(const Router& router, const RequestParser& parser,
                                           const ParsedTarget& target) {
  const auto& req = parser.get();
  // Several Transfer-Encoding fields form one list (RFC 9110 5.3). Every field is visited:
  // Beast's equal_range spans the fields in between too.
  std::string transfer_encoding;
  for (const auto& field : req) {
    if (field.name() != http::field::transfer_encoding) continue;
    if (!transfer_encoding.empty()) transfer_encoding.append(", ");
    transfer_encoding.append(field.value().data(), field.value().size());
  }
  if (auto refused = CheckTransferCoding(transfer_encoding)) return EarlyReply{std::move(*refused), /*close=*/true};
  std::optional<uint64_t> content_length;
  if (parser.content_length()) content_length = *parser.content_length();
  const auto auth = req[http::field::authorization];
  if (auto early = router.Precheck(target, std::string_view(auth.data(), auth.size()), content_length)) {
    return EarlyReply{std::move(*early), /*close=*/false};
  }
  return std::nullopt;
}

}  // namespace impulse::server
