// For allocation tests: a test binary that links src/common/counting_new.cc has the global
// operator new/delete replaced by counting ones; read the count around the measured calls.
#pragma once

namespace impulse::testing {

// Calls to any non-aligned operator new so far (relaxed; read on the measuring thread).
long AllocationCount();

}  // namespace impulse::testing
