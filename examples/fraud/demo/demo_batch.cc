#include <chrono>
#include <cstdio>
#include <fstream>

#include "examples/fraud/demo/demo_internal.h"
#include "features/backfill.h"

namespace impulse::examples::fraud_demo {

void BatchJob::Start() {
  thread_ = std::thread([this] { status_ = Run(); });
}

Status BatchJob::Join() {
  thread_.join();
  return status_;
}

Status BatchJob::Run() {
  const int64_t interval = static_cast<int64_t>(o_.interval_s * 1e9);
  const std::string input = o_.dir + "/accumulated.csv";
  int64_t next = NowNs() + interval;
  std::string csv;
  while (true) {
    while (NowNs() < next) {
      if (cancel_) return Status::OK();
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(next - NowNs(), 100'000'000)));
    }
    BatchRun run;
    run.started_ns = NowNs();
    // The transactions sent by now, in id (= time) order.
    csv.assign(tx_.csv, 0, tx_.csv_header_end);
    for (uint64_t i = 0; i < sent_.size(); ++i) {
      const int64_t t = sent_.Get(i);
      if (t == kNotSeen || t > run.started_ns) continue;
      const uint64_t b = i == 0 ? tx_.csv_header_end : tx_.csv_end[i - 1];
      csv.append(tx_.csv, b, tx_.csv_end[i] - b);
      ++run.events;
    }
    if (run.events == 0) {
      next = run.started_ns + interval;
      continue;
    }
    {
      std::ofstream f(input, std::ios::trunc | std::ios::binary);
      f.write(csv.data(), static_cast<std::streamsize>(csv.size()));
      if (!f) return IOError("cannot write " + input);
    }
    features::BackfillOptions bo;
    bo.spec_path = o_.spec;
    bo.input_path = input;
    bo.input_stream = "transactions";  // alerts is written by the trigger, not by a sink
    bo.output_stream = "tx_scored";
    bo.out_path = o_.dir + "/scored.csv";
    bo.models_dir = o_.models;
    auto st = features::RunBackfill(bo);
    if (!st.ok()) return st.status();
    run.finished_ns = NowNs();
    runs_.push_back(run);
    std::printf("    batch run %zu: %llu transactions in %.2f s\n", runs_.size(),
                static_cast<unsigned long long>(run.events),
                static_cast<double>(run.finished_ns - run.started_ns) / 1e9);
    std::fflush(stdout);
    if (run.events == sent_.size()) return Status::OK();
    next = NextBatchStartNs(run, interval);
  }
}

}  // namespace impulse::examples::fraud_demo
