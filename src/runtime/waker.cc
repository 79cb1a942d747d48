#include "runtime/waker.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

namespace impulse::runtime {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

void Waker::Wait(uint32_t token, int64_t timeout_ms) {
  if (seq_.load(std::memory_order_seq_cst) != token) return;
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout_ms >= 0) {
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (timeout_ms % 1000) * 1'000'000;
    tsp = &ts;
  }
  // FUTEX_WAIT returns at once if seq_ no longer equals token, so a Signal() between the check
  // above and this call is not lost.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&seq_), FUTEX_WAIT_PRIVATE, token, tsp, nullptr, 0);
  wakeups_.fetch_add(1, std::memory_order_relaxed);
}

void Waker::Wake() {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&seq_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace impulse::runtime
