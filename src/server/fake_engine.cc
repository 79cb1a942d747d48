#include "server/fake_engine.h"

#include <utility>

#include "common/json_string.h"

namespace impulse::server {
namespace {}  // namespace

FakeEngine::FakeEngine() {
  def_.name = "orders";
  def_.schema = Schema(
      {{"id", FieldType::kInt64, false}, {"amount", FieldType::kDouble, true}, {"ts", FieldType::kTimestamp, false}});
  def_.key_field = 0;
  def_.time_field = 2;
  def_.options.partitions = 2;
  thread_ = std::thread([this] { Run(); });
}

FakeEngine::~FakeEngine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
    for (auto& f : held_) queue_.push_back(std::move(f));
    held_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

void FakeEngine::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return quit_ || !queue_.empty(); });
    if (queue_.empty()) return;  // quit_ and drained
    auto f = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    f();
    lock.lock();
  }
}

void FakeEngine::FailNextIngest(Status status, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_ingest_ = std::move(status);
  fail_ingest_count_ = count;
}

void FakeEngine::FailNextCompletion(Status status, std::vector<uint32_t> stored_lines) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_completion_ = std::move(status);
  fail_stored_lines_ = std::move(stored_lines);
}

void FakeEngine::HoldCompletions() {
  std::lock_guard<std::mutex> lock(mu_);
  hold_ = true;
}

void FakeEngine::ReleaseCompletions() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    for (auto& f : held_) queue_.push_back(std::move(f));
    held_.clear();
  }
  cv_.notify_all();
}

size_t FakeEngine::held_completions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.size();
}

uint64_t FakeEngine::ingest_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ingest_calls_;
}

void FakeEngine::DiscardLines() {
  std::lock_guard<std::mutex> lock(mu_);
  keep_lines_ = false;
}

uint32_t FakeEngine::last_producer() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_producer_;
}

Status FakeEngine::Ingest(std::string_view stream, std::string_view ndjson, uint32_t producer, IngestCallback done) {
  std::unique_lock<std::mutex> lock(mu_);
  ++ingest_calls_;
  last_producer_ = producer;
  if (fail_ingest_count_ > 0) {
    --fail_ingest_count_;
    return fail_ingest_;
  }
  if (stream != def_.name) return NotFound("unknown stream '" + std::string(stream) + "'");
  IngestResult result;
  uint32_t line_no = 0;
  size_t start = 0;
  while (start < ndjson.size()) {
    size_t end = ndjson.find('\n', start);
    if (end == std::string_view::npos) end = ndjson.size();
    const std::string_view line = ndjson.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.empty()) continue;
    if (line.find("bad") != std::string_view::npos) {
      ++result.rejected;
      if (result.errors.size() < 3) {
        result.errors.push_back({line_no, "bad line"});
      } else {
        result.errors_truncated = true;
      }
    } else {
      ++result.accepted;
      if (keep_lines_) {
        partition0_.emplace_back(line);
      } else {
        ++discarded_;
      }
    }
  }
  Status completion = std::exchange(fail_completion_, Status::OK());
  IngestResult failed;
  failed.stored_lines = std::exchange(fail_stored_lines_, {});
  auto f = [done = std::move(done), completion, result = std::move(result), failed = std::move(failed)]() mutable {
    done(completion, completion.ok() ? std::move(result) : std::move(failed));
  };
  if (hold_) {
    held_.push_back(std::move(f));
  } else {
    queue_.push_back(std::move(f));
    lock.unlock();
    cv_.notify_all();
  }
  return Status::OK();
}

std::vector<StreamInfo> FakeEngine::ListStreams() const {
  std::lock_guard<std::mutex> lock(mu_);
  StreamInfo info;
  info.name = def_.name;
  info.def = def_;
  info.partitions = {{0, 0, partition0_.size()}, {1, 0, 0}};
  return {info};
}

Status FakeEngine::ReadEvents(std::string_view stream, uint32_t partition, uint64_t from, uint32_t limit,
                              std::string* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (stream != def_.name) return NotFound("unknown stream");
  if (partition >= 2) return OutOfRange("partition out of range");
  if (partition == 1) return Status::OK();
  for (uint64_t i = from; i < partition0_.size() && i < from + limit; ++i) {
    out->append("{\"_offset\":").append(std::to_string(i)).append(",\"_partition\":0,\"raw\":");
    out->append(partition0_[i]).append("}\n");
  }
  return Status::OK();
}

std::string FakeEngine::MetricsText() const {
  std::lock_guard<std::mutex> lock(mu_);
  return "# TYPE impulse_fake_events_total counter\nimpulse_fake_events_total " + std::to_string(partition0_.size()) +
         "\n";
}

Status FakeEngine::Stop() { return Status::OK(); }

void FakeEngine::AddFeatureView(const std::string& view) {
  std::lock_guard<std::mutex> lock(mu_);
  if (views_.try_emplace(view).second) view_names_.push_back(view);
}

void FakeEngine::SetFeatures(const std::string& view, const std::string& entity, std::string features_json,
                             int64_t as_of_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = views_.try_emplace(view);
  if (inserted) view_names_.push_back(view);
  it->second[entity] = FeatureValues{std::move(features_json), as_of_ms};
}

uint64_t FakeEngine::lookup_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lookup_calls_;
}

std::vector<std::string> FakeEngine::FeatureViews() const {
  std::lock_guard<std::mutex> lock(mu_);
  return view_names_;
}

Status FakeEngine::LookupFeatures(std::string_view view, const std::vector<std::string_view>& entities,
                                  std::string* out, size_t* found) const {
  std::lock_guard<std::mutex> lock(mu_);
  ++lookup_calls_;
  const auto v = views_.find(std::string(view));
  if (v == views_.end()) return NotFound("unknown feature view '" + std::string(view) + "'");
  if (entities.size() > kFeatureLookupBatchMax) {
    return InvalidArgument("more than " + std::to_string(kFeatureLookupBatchMax) + " entities");
  }
  size_t n_found = 0;
  for (size_t i = 0; i < entities.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append("{\"entity\":");
    AppendJsonString(entities[i], out);
    out->push_back(',');
    const auto e = v->second.find(std::string(entities[i]));
    if (e == v->second.end()) {
      out->append("\"found\":false,\"features\":null,\"reason\":\"unknown entity\"}");
      continue;
    }
    ++n_found;
    out->append("\"found\":true,\"as_of_ms\":").append(std::to_string(e->second.as_of_ms));
    out->append(",\"age_ms\":0,\"features\":").append(e->second.json).append("}");
  }
  if (found != nullptr) *found = n_found;
  return Status::OK();
}

}  // namespace impulse::server
