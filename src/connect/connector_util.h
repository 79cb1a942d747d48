// Pieces every connector (Kafka, NATS) uses: the wall clock, secrets from the environment,
// rate-limited notes, a source batch appended with retries, and the set of sources and sinks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "connect/host.h"
#include "impulse/status.h"

namespace impulse::connect {

int64_t WallMs();
void SleepMs(int64_t ms);

// "${env:NAME}" -> the variable's value; other values as written. An unset variable is an error
// naming `what`, or, with `unset` (validation, where the variable need not be set), its name is
// added to *unset and "" returned.
Result<std::string> ResolveEnv(const std::string& what, const std::string& value, std::string* unset);

// Appends one broker message's value to `ndjson` as one line: a null, empty or blank value as
// "null" (no event: the parser rejects it with its reason); a value over max_line_bytes cut to
// max_line_bytes + 1 bytes (the parser refuses it as too long without the rest being held); a
// newline outside strings as a space (pretty-printed JSON), inside a string as a control
// character (a raw newline there is invalid JSON and stays invalid).
void AppendValueLine(const char* value, size_t len, size_t max_line_bytes, std::string* ndjson);

// Counts every note and logs at most one a second (event `connector`, warn: "<prefix>: what",
// with `suppressed` the notes not logged since the previous line): an outage must not flood the
// log. One thread.
class Notes {
 public:
  explicit Notes(std::string prefix) : prefix_(std::move(prefix)) {}
  void Say(const std::string& what, std::atomic<uint64_t>* counter);

 private:
  std::string prefix_;
  int64_t last_ms_ = 0;
  uint64_t suppressed_ = 0;
};

// Appends a source batch (Host::AppendSourceBatch) until it is durable: backpressure is retried
// up to 50 ms apart, other errors are given to on_error and retried up to 1 s apart. False when
// `stop` is set or the engine is stopping: the batch is not appended (its position did not
// advance, so the broker gives it again at the next start).
bool AppendWithRetry(Host* host, uint32_t stream, uint32_t partition, const RowBatch& rows, std::vector<BadLine>* bad,
                     std::string_view trailer, uint64_t* end, const std::atomic<bool>& stop,
                     const std::function<void(const Status&)>& on_error);

// The sources and sinks of one broker, stopped and measured together.
template <typename SourceT, typename SinkT>
class ConnectorGroup : public Connectors {
 public:
  void StopSources() override {
    for (auto& s : sources_) s->Stop();
  }
  void StopSinks() override {
    for (auto& s : sinks_) s->Stop();
  }
  std::vector<MetricSample> Metrics() const override {
    std::vector<MetricSample> out;
    for (const auto& s : sources_) s->Metrics(&out);
    for (const auto& s : sinks_) s->Metrics(&out);
    AddMetrics(&out);
    return out;
  }

 protected:
  // Metrics of the connection itself, if any.
  virtual void AddMetrics(std::vector<MetricSample>* /*out*/) const {}

  // For each definition: its stream, then make(index, stream def, definition) -> a started one.
  template <typename T, typename Def, typename Make>
  static Status StartEach(Host* host, const std::vector<Def>& defs, const char* what, Make make,
                          std::vector<std::unique_ptr<T>>* out) {
    for (const Def& d : defs) {
      uint32_t index = 0;
      const StreamDef* sdef = host->FindStream(d.stream, &index);
      if (sdef == nullptr) return Internal(std::string(what) + " of an unknown stream " + d.stream);
      out->push_back(make(index, *sdef, d));
      RETURN_IF_ERROR(out->back()->Start());
    }
    return Status::OK();
  }

  std::vector<std::unique_ptr<SourceT>> sources_;
  std::vector<std::unique_ptr<SinkT>> sinks_;
};

}  // namespace impulse::connect
