// Top-level `actions:` and the `trigger` step (docs/ACTIONS.md) resolved into the plan.
#include "action/http_syntax.h"
#include "common/suggest.h"
#include "expr/check.h"
#include "spec/internal.h"

namespace impulse::plan::spec_internal {

namespace {

using Entries_ = std::vector<std::pair<std::string, YAML::Node>>;

constexpr size_t kTemplateBytesMax = size_t{64} * 1024;
constexpr size_t kActionsPerTriggerMax = 16;

bool ReadString(const YAML::Node& n, const std::string& what, Diagnostics* d, std::string* out) {
  if (!n.IsScalar()) {
    d->Add(Diagnostics::LocOf(n), "expected a string for " + what);
    return false;
  }
  *out = n.Scalar();
  return true;
}

bool ReadDouble(const YAML::Node& n, const std::string& what, double lo, double hi, Diagnostics* d, double* out) {
  Result<double> v = ReadYamlDouble(n, what, lo, hi);
  if (!v.ok()) {
    d->Add(Diagnostics::LocOf(n), v.status().message());
    return false;
  }
  *out = *v;
  return true;
}

template <typename T>
bool ReadCount(const YAML::Node& n, const std::string& what, uint64_t lo, uint64_t hi, Diagnostics* d, T* out) {
  uint64_t v = 0;
  if (!ReadUint(n, what, lo, hi, d, &v)) return false;
  *out = static_cast<T>(v);
  return true;
}

// The shared `url`/`base_url` check: the executors' own parser, so validate refuses exactly what
// run would (http:// only, no user info, a host, a port in 1..65535, no control bytes).
bool ReadUrl(const YAML::Node& n, const std::string& what, Diagnostics* d, std::string* out) {
  if (!ReadString(n, what, d, out)) return false;
  if (Result<action::ParsedUrl> url = action::ParseHttpUrl(*out); !url.ok()) {
    d->Add(Diagnostics::LocOf(n), what + ": " + url.status().message());
    return false;
  }
  return true;
}

bool ResolveWebhook(const YAML::Node& body, const std::string& what, Diagnostics* d, action::WebhookOptions* o) {
  Entries_ e;
  if (!Entries(
          body, what,
          {"url", "headers", "timeout", "retries", "backoff", "retry_after_max", "concurrency", "queue", "breaker"}, d,
          &e)) {
    return false;
  }
  bool ok = true;
  const YAML::Node* url = Get(e, "url");
  if (url == nullptr) {
    d->Add(Diagnostics::LocOf(body), what + " needs 'url'");
    return false;
  }
  ok &= ReadUrl(*url, "url of " + what, d, &o->url);
  if (const YAML::Node* h = Get(e, "headers")) {
    if (!h->IsMap()) {
      d->Add(Diagnostics::LocOf(*h), "headers of " + what + " must be a mapping name: value");
      ok = false;
    } else {
      for (auto it = h->begin(); it != h->end(); ++it) {
        std::string k, v;
        if (!ReadString(it->first, "a header name", d, &k) || !ReadString(it->second, "header " + k, d, &v)) {
          ok = false;
          continue;
        }
        // The executor's checks: a header that could split the request is refused here, not on the wire.
        if (Status st = action::CheckHeaderName(k); !st.ok()) {
          d->Add(Diagnostics::LocOf(it->first), "headers of " + what + ": " + st.message());
          ok = false;
          continue;
        }
        if (Status st = action::CheckHeaderValue(k, v); !st.ok()) {
          d->Add(Diagnostics::LocOf(it->second), "headers of " + what + ": " + st.message());
          ok = false;
          continue;
        }
        o->headers[k] = v;
      }
    }
  }
  if (const YAML::Node* n = Get(e, "timeout")) ok &= ReadDuration(*n, "timeout of " + what, 1, d, &o->timeout_ms);
  if (const YAML::Node* n = Get(e, "retries")) ok &= ReadCount(*n, "retries of " + what, 0, 100, d, &o->retries_max);
  if (const YAML::Node* n = Get(e, "retry_after_max")) {
    ok &= ReadDuration(*n, "retry_after_max of " + what, 0, d, &o->retry_after_max_ms);
  }
  if (const YAML::Node* n = Get(e, "concurrency"))
    ok &= ReadCount(*n, "concurrency of " + what, 1, 1024, d, &o->concurrency_max);
  if (const YAML::Node* n = Get(e, "queue")) ok &= ReadCount(*n, "queue of " + what, 1, 1'000'000, d, &o->queue_max);
  if (const YAML::Node* n = Get(e, "backoff")) {
    Entries_ b;
    if (!Entries(*n, "backoff of " + what, {"initial", "max"}, d, &b)) return false;
    if (const YAML::Node* x = Get(b, "initial"))
      ok &= ReadDuration(*x, "backoff initial", 1, d, &o->backoff_initial_ms);
    if (const YAML::Node* x = Get(b, "max")) ok &= ReadDuration(*x, "backoff max", 1, d, &o->backoff_max_ms);
  }
  if (const YAML::Node* n = Get(e, "breaker")) {
    Entries_ b;
    if (!Entries(*n, "breaker of " + what, {"failures", "open"}, d, &b)) return false;
    if (const YAML::Node* x = Get(b, "failures"))
      ok &= ReadCount(*x, "breaker failures", 1, 1'000'000, d, &o->breaker_failures);
    if (const YAML::Node* x = Get(b, "open")) ok &= ReadDuration(*x, "breaker open", 1, d, &o->breaker_open_ms);
  }
  return ok;
}

bool ResolveAgent(const YAML::Node& body, const std::string& what, Diagnostics* d, ActionDef* a) {
  Entries_ e;
  if (!Entries(body, what,
               {"base_url", "model", "api_key_env", "system_prompt", "json", "temperature", "max_tokens", "timeout",
                "retries", "backoff", "concurrency", "queue", "requests_per_minute", "tokens_per_minute",
                "max_event_age", "output_stream"},
               d, &e)) {
    return false;
  }
  action::AgentOptions& o = a->agent;
  bool ok = true;
  for (const char* required : {"base_url", "model", "output_stream"}) {
    if (Get(e, required) == nullptr) {
      d->Add(Diagnostics::LocOf(body), what + " needs '" + required + "'");
      ok = false;
    }
  }
  if (!ok) return false;
  ok &= ReadUrl(*Get(e, "base_url"), "base_url of " + what, d, &o.base_url);
  ok &= ReadString(*Get(e, "model"), "model of " + what, d, &o.model);
  ok &= ReadString(*Get(e, "output_stream"), "output_stream of " + what, d, &a->output_stream);
  if (ok && !IsValidStreamName(a->output_stream)) {
    d->Add(Diagnostics::LocOf(*Get(e, "output_stream")), "invalid output_stream '" + a->output_stream + "' in " + what);
    ok = false;
  }
  if (const YAML::Node* n = Get(e, "api_key_env")) ok &= ReadString(*n, "api_key_env of " + what, d, &o.api_key_env);
  if (const YAML::Node* n = Get(e, "system_prompt"))
    ok &= ReadString(*n, "system_prompt of " + what, d, &o.system_prompt);
  if (const YAML::Node* n = Get(e, "json")) ok &= ReadBool(*n, "json of " + what, d, &o.json);
  if (const YAML::Node* n = Get(e, "temperature"))
    ok &= ReadDouble(*n, "temperature of " + what, 0, 2, d, &o.temperature);
  if (const YAML::Node* n = Get(e, "max_tokens"))
    ok &= ReadCount(*n, "max_tokens of " + what, 1, 1'000'000, d, &o.max_tokens);
  if (const YAML::Node* n = Get(e, "timeout")) ok &= ReadDuration(*n, "timeout of " + what, 1, d, &o.timeout_ms);
  if (const YAML::Node* n = Get(e, "retries")) ok &= ReadCount(*n, "retries of " + what, 0, 100, d, &o.retries_max);
  if (const YAML::Node* n = Get(e, "concurrency"))
    ok &= ReadCount(*n, "concurrency of " + what, 1, 1024, d, &o.concurrency_max);
  if (const YAML::Node* n = Get(e, "queue")) ok &= ReadCount(*n, "queue of " + what, 1, 1'000'000, d, &o.queue_max);
  if (const YAML::Node* n = Get(e, "requests_per_minute")) {
    ok &= ReadCount(*n, "requests_per_minute of " + what, 1, 1'000'000, d, &o.requests_per_minute);
  }
  if (const YAML::Node* n = Get(e, "tokens_per_minute")) {
    ok &= ReadCount(*n, "tokens_per_minute of " + what, 1, 1'000'000'000, d, &o.tokens_per_minute);
  }
  if (const YAML::Node* n = Get(e, "max_event_age"))
    ok &= ReadDuration(*n, "max_event_age of " + what, 1, d, &o.max_event_age_ms);
  if (const YAML::Node* n = Get(e, "backoff")) {
    Entries_ b;
    if (!Entries(*n, "backoff of " + what, {"initial", "max"}, d, &b)) return false;
    if (const YAML::Node* x = Get(b, "initial")) ok &= ReadDuration(*x, "backoff initial", 1, d, &o.backoff_initial_ms);
    if (const YAML::Node* x = Get(b, "max")) ok &= ReadDuration(*x, "backoff max", 1, d, &o.backoff_max_ms);
  }
  return ok;
}

// "text {{field}} text": fields must exist in `in`.
bool ParsePrompt(const YAML::Node& n, const Schema& in, const std::string& what, Diagnostics* d,
                 std::vector<TriggerDef::Call::Part>* out) {
  std::string text;
  if (!ReadString(n, what, d, &text)) return false;
  if (text.size() > kTemplateBytesMax) {
    d->Add(Diagnostics::LocOf(n), what + " is longer than " + std::to_string(kTemplateBytesMax) + " bytes");
    return false;
  }
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t open = text.find("{{", pos);
    TriggerDef::Call::Part part;
    part.text = text.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    if (open == std::string::npos) {
      out->push_back(std::move(part));
      break;
    }
    const size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) {
      d->AddInScalar(n, static_cast<uint32_t>(open), "unclosed '{{' in " + what);
      return false;
    }
    std::string name = text.substr(open + 2, close - open - 2);
    while (!name.empty() && name.front() == ' ') name.erase(name.begin());
    while (!name.empty() && name.back() == ' ') name.pop_back();
    part.field = in.FieldIndex(name);
    if (part.field < 0) {
      d->AddInScalar(n, static_cast<uint32_t>(open),
                     "unknown field '" + name + "' in " + what + DidYouMean(name, Names(in)));
      return false;
    }
    out->push_back(std::move(part));
    pos = close + 2;
  }
  return true;
}

// A mapping name: expression checked against `in`.
bool ReadExprs(const YAML::Node& n, const Schema& in, const std::string& what, Diagnostics* d,
               std::vector<NamedExpr>* out) {
  if (!n.IsMap() || n.size() == 0 || n.size() > kSpecFieldsMax) {
    d->Add(Diagnostics::LocOf(n), what + " must be a non-empty mapping name: expression");
    return false;
  }
  bool ok = true;
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string name, text;
    if (!ReadString(it->first, "a field name", d, &name) || !ReadString(it->second, "an expression", d, &text)) {
      ok = false;
      continue;
    }
    if (!IsValidFieldName(name)) {
      d->Add(Diagnostics::LocOf(it->first), "invalid field name '" + name + "' in " + what);
      ok = false;
      continue;
    }
    std::vector<ExprDiag> diags;
    ExprPtr e = ParseAndCheck(text, in, &diags);
    if (e && e->type == ExprType::kNull) {
      diags.push_back({e->pos, "the expression of '" + name + "' has no type; use cast(null as <type>)"});
      e.reset();
    }
    if (!e) {
      d->AddExprDiags(it->second, diags, " in field '" + name + "' of " + what);
      ok = false;
      continue;
    }
    out->push_back(NamedExpr{name, std::move(e)});
  }
  return ok;
}

}  // namespace

bool ResolveActions(const std::vector<RawView>& raw, Diagnostics* d, LogicalPlan* plan) {
  bool ok = true;
  for (const RawView& r : raw) {
    const std::string what = "action '" + r.name + "'";
    Entries_ e;
    if (!Entries(r.body, what, {"name", "webhook", "agent"}, d, &e)) {
      ok = false;
      continue;
    }
    const YAML::Node* webhook = Get(e, "webhook");
    const YAML::Node* agent = Get(e, "agent");
    if ((webhook == nullptr) == (agent == nullptr)) {
      d->Add(r.loc, what + " needs exactly one of 'webhook' or 'agent'");
      ok = false;
      continue;
    }
    ActionDef a;
    a.name = r.name;
    if (webhook != nullptr) {
      a.kind = ActionDef::Kind::kWebhook;
      ok &= ResolveWebhook(*webhook, "the webhook of " + what, d, &a.webhook);
    } else {
      a.kind = ActionDef::Kind::kAgent;
      if (!ResolveAgent(*agent, "the agent of " + what, d, &a)) {
        ok = false;
        continue;
      }
      if (const StreamDef* existing = plan->FindStream(a.output_stream)) {
        if (!(existing->schema == AgentAnswersStreamDef(a.output_stream).schema)) {
          d->Add(r.loc, "output_stream '" + a.output_stream + "' of " + what +
                            " is a declared stream of another schema; name a new stream (docs/ACTIONS.md)");
          ok = false;
          continue;
        }
      } else {
        plan->streams.push_back(AgentAnswersStreamDef(a.output_stream));
      }
    }
    plan->actions.push_back(std::move(a));
  }
  return ok;
}

bool ResolveTrigger(const RawStep& step, const Schema& in, const LogicalPlan& plan, const std::string& source,
                    const std::string& what, Diagnostics* d, LogicalOp* op) {
  Entries_ e;
  if (!Entries(step.body, what, {"name", "when", "key", "cooldown", "event_id", "keys_max", "publish", "call"}, d,
               &e)) {
    return false;
  }
  auto def = std::make_shared<TriggerDef>();
  def->source_stream = source;
  bool ok = true;
  const YAML::Node* name = Get(e, "name");
  if (name == nullptr || !ReadString(*name, "the name of " + what, d, &def->rule) || !IsValidStreamName(def->rule)) {
    d->Add(name ? Diagnostics::LocOf(*name) : step.loc,
           what + " needs 'name: RULE' ([A-Za-z0-9_.-], the firing ids' prefix)");
    return false;
  }
  const YAML::Node* when = Get(e, "when");
  if (when == nullptr) {
    d->Add(step.loc, what + " needs 'when: CONDITION' (a bool expression)");
    return false;
  }
  {
    std::string text;
    if (!ReadString(*when, "when of " + what, d, &text)) return false;
    std::vector<ExprDiag> diags;
    ExprPtr x = ParseAndCheck(text, in, &diags);
    if (x && x->type != ExprType::kBool) {
      diags.push_back({0, "a trigger's condition must be bool, got " + std::string(ExprTypeName(x->type))});
      x.reset();
    }
    if (!x) {
      d->AddExprDiags(*when, diags, " in the condition of " + what);
      ok = false;
    }
    def->when = std::move(x);
  }
  if (const YAML::Node* n = Get(e, "key")) ok &= ReadKeyFields(*n, in, what, d, &def->key_fields);
  if (const YAML::Node* n = Get(e, "cooldown")) ok &= ReadDuration(*n, "cooldown of " + what, 1, d, &def->cooldown_ms);
  if (const YAML::Node* n = Get(e, "keys_max"))
    ok &= ReadUint(*n, "keys_max of " + what, 1, 100'000'000, d, &def->keys_max);
  if (const YAML::Node* n = Get(e, "event_id")) {
    std::string f;
    ok &= ReadString(*n, "event_id of " + what, d, &f);
    def->event_id_field = in.FieldIndex(f);
    if (def->event_id_field < 0) {
      d->AddInScalar(*n, 0, "unknown field '" + f + "' for the event_id of " + what + DidYouMean(f, Names(in)));
      ok = false;
    }
  }
  const YAML::Node* publish = Get(e, "publish");
  const YAML::Node* call = Get(e, "call");
  if (publish == nullptr && call == nullptr) {
    d->Add(step.loc, what + " needs 'publish' and/or 'call': what a firing does");
    return false;
  }
  if (publish != nullptr) {
    if (!publish->IsSequence() || publish->size() == 0 || publish->size() > kActionsPerTriggerMax) {
      d->Add(Diagnostics::LocOf(*publish), "publish of " + what + " must be a list of 1 to " +
                                               std::to_string(kActionsPerTriggerMax) + " {stream, fields}");
      return false;
    }
    for (const YAML::Node& p : *publish) {
      Entries_ pe;
      if (!Entries(p, "a publish of " + what, {"stream", "fields"}, d, &pe)) return false;
      TriggerDef::Publish pub;
      const YAML::Node* s = Get(pe, "stream");
      const YAML::Node* f = Get(pe, "fields");
      if (s == nullptr || f == nullptr) {
        d->Add(Diagnostics::LocOf(p), "a publish of " + what + " needs 'stream' and 'fields'");
        return false;
      }
      if (!ReadString(*s, "stream", d, &pub.stream) || !IsValidStreamName(pub.stream)) {
        d->Add(Diagnostics::LocOf(*s), "invalid stream name '" + pub.stream + "' in a publish of " + what);
        ok = false;
        continue;
      }
      ok &= ReadExprs(*f, in, "the fields published to '" + pub.stream + "' by " + what, d, &pub.fields);
      def->publishes.push_back(std::move(pub));
    }
  }
  if (call != nullptr) {
    if (!call->IsSequence() || call->size() == 0 || call->size() > kActionsPerTriggerMax) {
      d->Add(Diagnostics::LocOf(*call), "call of " + what + " must be a list of 1 to " +
                                            std::to_string(kActionsPerTriggerMax) + " {action, body | prompt}");
      return false;
    }
    std::vector<std::string_view> names;
    for (const ActionDef& a : plan.actions) names.push_back(a.name);
    for (const YAML::Node& c : *call) {
      Entries_ ce;
      if (!Entries(c, "a call of " + what, {"action", "body", "prompt"}, d, &ce)) return false;
      TriggerDef::Call tc;
      const YAML::Node* a = Get(ce, "action");
      if (a == nullptr || !ReadString(*a, "action", d, &tc.action)) {
        d->Add(Diagnostics::LocOf(c), "a call of " + what + " needs 'action: NAME' (top-level actions)");
        return false;
      }
      const ActionDef* found = nullptr;
      for (const ActionDef& x : plan.actions) {
        if (x.name == tc.action) found = &x;
      }
      if (found == nullptr) {
        d->AddInScalar(*a, 0, "unknown action '" + tc.action + "' in " + what + DidYouMean(tc.action, names));
        ok = false;
        continue;
      }
      tc.kind = found->kind;
      const YAML::Node* body = Get(ce, "body");
      const YAML::Node* prompt = Get(ce, "prompt");
      if (tc.kind == ActionDef::Kind::kWebhook) {
        if (prompt != nullptr) {
          d->Add(Diagnostics::LocOf(*prompt), "'" + tc.action + "' is a webhook: it takes 'body', not 'prompt'");
          ok = false;
        }
        if (body != nullptr) ok &= ReadExprs(*body, in, "the body of the call of '" + tc.action + "'", d, &tc.body);
      } else {
        if (body != nullptr || prompt == nullptr) {
          d->Add(Diagnostics::LocOf(c), "'" + tc.action + "' is an agent: it takes 'prompt: \"text {{field}} ...\"'");
          ok = false;
          continue;
        }
        ok &= ParsePrompt(*prompt, in, "the prompt of the call of '" + tc.action + "'", d, &tc.prompt);
      }
      def->calls.push_back(std::move(tc));
    }
  }
  if (!ok) return false;
  op->trigger = std::move(def);
  op->output = in;
  return true;
}

}  // namespace impulse::plan::spec_internal
