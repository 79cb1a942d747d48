// The spec a data directory was created with, recorded in DATA_DIR/SPEC: a hash and a canonical
// summary of its streams (fields, types, partitions) and pipelines (steps, sink). A restart
// with another spec is refused naming what differs, since it would otherwise take the
// directory over silently (a renamed pipeline replays its source from the start and re-fires
// its actions) unless the operator accepts the change (EngineOptions::accept_spec_change).
#pragma once

#include <string>
#include <vector>

#include "impulse/status.h"
#include "plan/logical_plan.h"

namespace impulse {
class Env;
}

namespace impulse::runtime {

// One line per fact, sorted within a stream or pipeline as the spec orders them:
//   stream NAME partitions N / stream NAME field F TYPE [nullable] / pipeline NAME <rendering>.
std::string SpecSummary(const plan::LogicalPlan& plan);

// What changed from `stored` to `current` (two SpecSummary texts), one phrase each:
// "stream tx: field amount type changed double -> int64", "pipeline score added". Empty when
// equal.
std::vector<std::string> SpecDifferences(const std::string& stored, const std::string& current);

// A stream's STREAM file (fields "name type [nullable]" one a line, then "partitions N", after a
// format line) as SpecSummary lines of stream `name`, to name what differs from the spec.
std::string StreamFileToSummary(const std::string& name, const std::string& stream_file);

// Compares `plan` with DATA_DIR/SPEC. A different spec is kFailedPrecondition naming the
// differences, unless `accept_change` (each difference is then logged, event spec_change). *record is set
// when DATA_DIR/SPEC is to be (re)written: RecordSpecFingerprint, once the engine has started,
// so that a refused or failed start changes nothing.
Status CheckSpecFingerprint(Env* env, const std::string& data_dir, const plan::LogicalPlan& plan, bool accept_change,
                            bool* record);
Status RecordSpecFingerprint(Env* env, const std::string& data_dir, const plan::LogicalPlan& plan);

}  // namespace impulse::runtime
