// The decision log route of the Router (docs/INFERENCE.md, "Decision log"):
//   GET /v1/decisions/{stream}/{event_id}
//     -> {"stream":...,"event_id":...,"records":[{record}, ...]}  (200, oldest record first)
//     -> 404 with the reason: unknown stream, not a decision log, unknown id, or an id older
//        than the indexed window
// A record holds every field of the decision stream as ReadEvents writes it, with features,
// scores and shadow embedded as JSON objects. The lookup goes through the Router's
// DecisionIndexSet (decision_index.h); this file only frames the reply. Runs on I/O threads.
#include <string>

#include "server/json_writer.h"
#include "server/router.h"

namespace impulse::server {

HttpReply Router::DecisionGet(const std::string& stream, const std::string& event_id,
                              const std::optional<std::string>& forwarded) const {
  HttpReply r;
  r.body = "{\"stream\":";
  AppendJsonString(stream, &r.body);
  r.body.append(",\"event_id\":");
  AppendJsonString(event_id, &r.body);
  r.body.append(",\"records\":[");
  Result<size_t> found = options_->group_lookups != nullptr
                             ? options_->group_lookups->LookupDecisions(stream, event_id, forwarded, &r.body)
                             : decisions_->Lookup(stream, event_id, &r.body);
  if (!found.ok()) return ErrorReply(found.status(), options_->retry_after_s);
  r.body.append("]}");
  return r;
}

}  // namespace impulse::server
