// Online feature lookups (docs/FEATURES.md).
#include "event/json_writer.h"
#include "event/row_codec.h"
#include "event/timestamp.h"
#include "runtime/engine_impl.h"

namespace impulse::runtime {

namespace {

// The online store a lookup of `entities` entities of `view` reads: kNotFound for an unknown
// view, kInvalidArgument for more than kFeatureLookupBatchMax entities.
Result<const plan::OnlineStore*> LookupStore(const EngineImpl& engine, std::string_view view, size_t entities) {
  const plan::OnlineStore* store = engine.online_store(std::string(view));
  if (store == nullptr) return NotFound("unknown feature view '" + std::string(view) + "'");
  if (entities > EngineImpl::kFeatureLookupBatchMax) {
    return InvalidArgument("at most " + std::to_string(EngineImpl::kFeatureLookupBatchMax) +
                           " entities per lookup, got " + std::to_string(entities));
  }
  return store;
}

}  // namespace

plan::OnlineStore* EngineImpl::online_store(const std::string& view) const {
  auto it = online_stores_.find(view);
  return it == online_stores_.end() ? nullptr : it->second.get();
}

std::vector<std::string> EngineImpl::FeatureViews() const {
  std::vector<std::string> names;
  for (const auto& v : plan_.feature_views) names.push_back(v->name);
  return names;
}

Status EngineImpl::LookupFeatures(std::string_view view, const std::vector<std::string_view>& entities,
                                  std::string* out, size_t* found) const {
  ASSIGN_OR_RETURN(const plan::OnlineStore* store, LookupStore(*this, view, entities.size()));
  const plan::FeatureViewDef& def = store->view();
  const int64_t now_ms = clock_->NowMs();
  size_t hits = 0;
  std::string key, why;
  plan::OnlineStore::Entry entry;
  RowBatch decoded(def.feature_schema.size());
  for (size_t i = 0; i < entities.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append("{\"entity\":");
    AppendJsonString(entities[i], out);
    const auto miss = [&](std::string_view reason, bool known) {
      out->append(",\"found\":");
      out->append(known ? "true" : "false");
      out->append(",\"features\":null,\"reason\":");
      AppendJsonString(reason, out);
      out->push_back('}');
    };
    if (!store->KeyFromText(entities[i], &key, &why)) {
      feature_lookups_[1].fetch_add(1, std::memory_order_relaxed);
      miss(why, false);
      continue;
    }
    if (!store->Get(key, &entry)) {
      feature_lookups_[1].fetch_add(1, std::memory_order_relaxed);
      int64_t last_ms = 0;
      if (store->WasExpired(key, &last_ms)) {
        std::string last;
        AppendTimestampIso(last_ms, &last);
        miss("expired by event time: its last event (" + last +
                 ") is older than the view's state ttl behind the watermark, so its state was dropped",
             false);
      } else {
        miss("unknown entity: no event seen, or idle beyond the view's state ttl", false);
      }
      continue;
    }
    const int64_t age_ms = now_ms - entry.as_of_ms;
    out->append(",\"as_of\":");
    std::string ts;
    AppendTimestampIso(entry.as_of_ms, &ts);
    AppendJsonString(ts, out);
    out->append(",\"as_of_ms\":" + std::to_string(entry.as_of_ms) + ",\"age_ms\":" + std::to_string(age_ms));
    if (def.ttl_ms > 0 && age_ms > def.ttl_ms) {
      feature_lookups_[2].fetch_add(1, std::memory_order_relaxed);
      miss("expired: age " + std::to_string(age_ms) + " ms > ttl " + std::to_string(def.ttl_ms) + " ms", true);
      continue;
    }
    decoded.Reset(def.feature_schema.size());
    if (!DecodeRow(def.feature_schema, entry.values, &decoded).ok()) {
      return Internal("feature view '" + def.name + "': undecodable online value");  // written by the operator
    }
    out->append(",\"found\":true,\"features\":");
    AppendRowJson(def.feature_schema, decoded.row(0), out);
    out->push_back('}');
    feature_lookups_[0].fetch_add(1, std::memory_order_relaxed);
    ++hits;
  }
  if (found != nullptr) *found = hits;
  return Status::OK();
}

Result<FeatureRows> EngineImpl::LookupFeatureRows(std::string_view view,
                                                  const std::vector<std::string_view>& entities) const {
  ASSIGN_OR_RETURN(const plan::OnlineStore* store, LookupStore(*this, view, entities.size()));
  const plan::FeatureViewDef& def = store->view();
  const int64_t now_ms = clock_->NowMs();
  FeatureRows result;
  result.schema = def.feature_schema;
  result.rows.Reset(def.feature_schema.size());
  result.states.reserve(entities.size());
  std::string key, why;
  plan::OnlineStore::Entry entry;
  for (std::string_view entity : entities) {
    const auto miss = [&](FeatureLookupState state, size_t counter, int64_t as_of_ms) {
      feature_lookups_[counter].fetch_add(1, std::memory_order_relaxed);
      result.rows.AppendRow();
      result.rows.meta(result.rows.size() - 1).event_time_ms = as_of_ms;
      result.states.push_back(state);
    };
    if (!store->KeyFromText(entity, &key, &why)) {
      miss(FeatureLookupState::kInvalidKey, 1, 0);
      continue;
    }
    if (!store->Get(key, &entry)) {
      miss(FeatureLookupState::kUnknownEntity, 1, 0);
      continue;
    }
    if (def.ttl_ms > 0 && now_ms - entry.as_of_ms > def.ttl_ms) {
      miss(FeatureLookupState::kExpired, 2, entry.as_of_ms);
      continue;
    }
    if (!DecodeRow(def.feature_schema, entry.values, &result.rows).ok()) {
      return Internal("feature view '" + def.name + "': undecodable online value");  // written by the operator
    }
    result.rows.meta(result.rows.size() - 1).event_time_ms = entry.as_of_ms;
    result.states.push_back(FeatureLookupState::kFound);
    feature_lookups_[0].fetch_add(1, std::memory_order_relaxed);
  }
  return result;
}

}  // namespace impulse::runtime
